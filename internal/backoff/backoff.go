// Package backoff is the one retry delay of the shipper: capped, jittered,
// exponential, honouring Retry-After, and following progress. The bulk sink,
// the template installation at start and 'shipper setup' all wait with it.
//
// The policy, for a caller that retries a set of items (the sink):
//
//   - A round that made no progress (the request failed on the wire, was
//     refused as a whole with 429 or 5xx, or every item failed transiently)
//     doubles the delay, from Initial up to Max.
//   - A round in which at least half of what was sent was accepted halves
//     the delay, down to zero: the rest goes again at once. The request is
//     then at most half as large as the one before, so the load on the
//     server falls by itself; doubling there is what turned one 429 in three
//     into minutes of waiting for the last items of a batch.
//   - A round in which some but fewer than half were accepted keeps the
//     delay (at least Initial) and waits it: the server is busy but not
//     refusing everything.
//
// Callers with a single request (setup, template installation) only ever
// call Failed and Reset.
package backoff

import (
	"context"
	"math"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// DefaultMaxRetryAfter caps the wait a server's Retry-After can impose when
// Backoff.MaxRetryAfter is zero.
const DefaultMaxRetryAfter = 5 * time.Minute

// Backoff is a retry delay. The zero delay is where it starts and where
// progress brings it back. Not safe for concurrent use: each retry loop owns
// one.
type Backoff struct {
	// Initial is the first delay after a failure; Max caps the delay. Both
	// must be positive, Max at least Initial.
	Initial, Max time.Duration
	// MaxRetryAfter caps a server's Retry-After, which is honoured above
	// Max but not beyond this, so that a broken answer cannot park a retry
	// loop for hours. Zero means DefaultMaxRetryAfter (or Max if larger).
	MaxRetryAfter time.Duration

	d time.Duration // the current delay, before jitter; 0 when healthy
}

// Failed records a round that made no progress and returns the wait before
// the next: the delay doubles (from Initial, at most Max) and is jittered in
// [d/2, d]; it is at least retryAfter (capped, see MaxRetryAfter).
func (b *Backoff) Failed(retryAfter time.Duration) time.Duration {
	switch {
	case b.d < b.Initial:
		b.d = b.Initial
	case b.d > b.Max/2:
		b.d = b.Max // compare before doubling: 2*d can overflow
	default:
		b.d *= 2
	}
	return b.wait(b.d, retryAfter)
}

// Progress records a round in which accepted of sent items were accepted
// (0 < accepted < sent: some items must go again) and returns the wait
// before the next round. With at least half accepted the delay halves, to
// zero once below Initial; with fewer it stays (at least Initial). accepted
// 0 is the same as Failed.
func (b *Backoff) Progress(accepted, sent int, retryAfter time.Duration) time.Duration {
	if accepted <= 0 {
		return b.Failed(retryAfter)
	}
	if 2*accepted >= sent {
		b.d /= 2
		if b.d < b.Initial {
			b.d = 0
		}
	} else if b.d < b.Initial {
		b.d = b.Initial
	}
	return b.wait(b.d, retryAfter)
}

// Reset records success: the next failure waits about Initial again.
func (b *Backoff) Reset() { b.d = 0 }

// Delay is the current delay before jitter (0 when healthy).
func (b *Backoff) Delay() time.Duration { return b.d }

func (b *Backoff) wait(d, retryAfter time.Duration) time.Duration {
	if d > 0 {
		d = d/2 + rand.N(d/2+1)
	}
	capRA := b.MaxRetryAfter
	if capRA <= 0 {
		capRA = max(b.Max, DefaultMaxRetryAfter)
	}
	if ra := min(retryAfter, capRA); ra > d {
		d = ra
	}
	return d
}

// Sleep waits d or until ctx is done, and then returns ctx's error. It
// returns at once for d <= 0 (nil unless ctx is already done).
func Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// ParseRetryAfter reads a Retry-After header value: delay seconds or an HTTP
// date. Anything else, a past date or a delay too large for a Duration is 0.
func ParseRetryAfter(v string) time.Duration {
	if v == "" {
		return 0
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil && n >= 0 && n <= math.MaxInt64/int64(time.Second) {
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(strings.TrimSpace(v)); err == nil {
		if d := time.Until(t); d > 0 {
			return d
		}
	}
	return 0
}
