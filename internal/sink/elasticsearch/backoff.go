package elasticsearch

import (
	"context"
	"math/rand/v2"
	"time"
)

// backoff is a capped, jittered exponential backoff. Not safe for concurrent
// use: each delivery owns one.
type backoff struct {
	initial, max time.Duration
	attempt      int
}

// next returns the wait before the next attempt: a random duration in
// [d/2, d] where d doubles from initial up to max, and at least retryAfter.
func (b *backoff) next(retryAfter time.Duration) time.Duration {
	d := b.initial << min(b.attempt, 30)
	if d > b.max || d <= 0 {
		d = b.max
	}
	b.attempt++
	d = d/2 + rand.N(d/2+1)
	if retryAfter > d {
		d = retryAfter
	}
	return d
}

func (b *backoff) reset() { b.attempt = 0 }

// sleep waits d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
