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
// [d/2, d] where d doubles from initial up to max, and at least retryAfter
// (a server's Retry-After, honoured above max but not beyond
// maxRetryAfter, so that a broken answer cannot park a worker for hours).
func (b *backoff) next(retryAfter time.Duration) time.Duration {
	// Compare before shifting: initial<<attempt can wrap around to a small
	// positive value once it passes 1<<63.
	d := b.max
	if b.attempt < 63 && b.initial <= b.max>>b.attempt {
		d = b.initial << b.attempt
	}
	if d <= 0 {
		d = b.max
	}
	b.attempt++
	d = d/2 + rand.N(d/2+1)
	if ra := min(retryAfter, max(b.max, maxRetryAfter)); ra > d {
		d = ra
	}
	return d
}

// maxRetryAfter caps the wait a server's Retry-After can impose.
const maxRetryAfter = 5 * time.Minute

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
