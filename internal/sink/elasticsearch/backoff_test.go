package elasticsearch

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"testing/synctest"
	"time"
)

// wantBackoff is the upper bound of the wait before attempt (from 0):
// initial doubled attempt times, at most max.
func wantBackoff(initial, max time.Duration, attempt int) time.Duration {
	d := initial
	for i := 0; i < attempt && d < max; i++ {
		d *= 2 // d < max, so this cannot overflow
	}
	return min(d, max)
}

func TestBackoffJitterAndCap(t *testing.T) {
	const initial, max = 100 * time.Millisecond, 3 * time.Second
	b := backoff{initial: initial, max: max}
	for attempt := 0; attempt < 80; attempt++ {
		want := wantBackoff(initial, max, attempt)
		d := b.next(0)
		if d < want/2 || d > want {
			t.Fatalf("attempt %d: wait %v, want within [%v, %v]", attempt, d, want/2, want)
		}
	}
	b.reset()
	if d := b.next(0); d < initial/2 || d > initial {
		t.Fatalf("after reset: wait %v, want within [%v, %v]", d, initial/2, initial)
	}
}

// The jitter spreads: many draws at one attempt are not all equal and
// cover both halves of the range.
func TestBackoffJitterSpreads(t *testing.T) {
	const d = time.Second
	low, high := 0, 0
	for i := 0; i < 200; i++ {
		b := backoff{initial: d, max: d}
		switch w := b.next(0); {
		case w < 3*d/4:
			low++
		default:
			high++
		}
	}
	if low == 0 || high == 0 {
		t.Fatalf("200 draws in [%v, %v]: %d in the lower half, %d in the upper half", d/2, d, low, high)
	}
}

// A large initial wait must not overflow into a short (or negative) one
// after many attempts: the cap holds at any attempt.
func TestBackoffNoOverflow(t *testing.T) {
	for _, initial := range []time.Duration{1<<34 + 1, time.Nanosecond, time.Second, 10 * time.Minute, 1 << 62} {
		max := max(time.Hour, initial)
		b := backoff{initial: initial, max: max}
		for attempt := 0; attempt < 200; attempt++ {
			want := wantBackoff(initial, max, attempt)
			d := b.next(0)
			if d < want/2 || d > want {
				t.Fatalf("initial %v attempt %d: wait %v, want within [%v, %v]", initial, attempt, d, want/2, want)
			}
		}
	}
}

func TestBackoffRetryAfter(t *testing.T) {
	b := backoff{initial: time.Millisecond, max: 10 * time.Millisecond}
	if d := b.next(5 * time.Second); d != 5*time.Second {
		t.Errorf("Retry-After 5s with a 10ms cap: wait %v, want 5s", d)
	}
	if d := b.next(time.Microsecond); d < time.Millisecond {
		t.Errorf("Retry-After 1µs below the backoff: wait %v, want the backoff (>= 1ms)", d)
	}
	if d := b.next(24 * time.Hour); d != maxRetryAfter {
		t.Errorf("Retry-After 24h: wait %v, want the %v cap", d, maxRetryAfter)
	}
	long := backoff{initial: time.Second, max: time.Hour}
	if d := long.next(2 * time.Hour); d != time.Hour {
		t.Errorf("Retry-After 2h with a 1h backoff cap: wait %v, want 1h", d)
	}
}

func TestRetryAfter(t *testing.T) {
	f := func(v string, want time.Duration) {
		t.Helper()
		if got := retryAfter(v); got != want {
			t.Errorf("retryAfter(%q): got %v, want %v", v, got, want)
		}
	}
	f("", 0)
	f("0", 0)
	f("1", time.Second)
	f("120", 2*time.Minute)
	f("-1", 0)
	f("1.5", 0)
	f("soon", 0)
	f(" 1", 0)
	f("99999999999999", 0)                // too large for a Duration: ignored
	f("9223372036854775807", 0)           // likewise
	f("99999999999999999999999", 0)       // not even an int
	f("Wed, 21 Oct 2015 07:28:00 GMT", 0) // in the past

	// HTTP dates in the future, in the three formats of RFC 9110.
	future := time.Now().Add(time.Hour).UTC()
	for _, layout := range []string{http.TimeFormat, time.RFC850, time.ANSIC} {
		v := future.Format(layout)
		if layout == time.RFC850 {
			v = future.Format("Monday, 02-Jan-06 15:04:05 GMT")
		}
		got := retryAfter(v)
		if got <= 58*time.Minute || got > time.Hour {
			t.Errorf("retryAfter(%q): got %v, want about 1h", v, got)
		}
	}
}

// sleep waits exactly d in a bubble of fake time, and returns at once with
// the context's error when it is cancelled.
func TestSleep(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		if err := sleep(context.Background(), 5*time.Second); err != nil {
			t.Fatalf("sleep: %v", err)
		}
		if got := time.Since(start); got != 5*time.Second {
			t.Fatalf("sleep(5s) took %v", got)
		}

		ctx, cancel := context.WithCancel(context.Background())
		go func() {
			time.Sleep(time.Second)
			cancel()
		}()
		start = time.Now()
		if err := sleep(ctx, time.Hour); !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled sleep: got %v, want context.Canceled", err)
		}
		if got := time.Since(start); got != time.Second {
			t.Fatalf("cancelled sleep returned after %v, want 1s (at the cancellation)", got)
		}
		if err := sleep(ctx, time.Hour); !errors.Is(err, context.Canceled) {
			t.Fatalf("sleep on a cancelled context: got %v, want context.Canceled", err)
		}
	})
}
