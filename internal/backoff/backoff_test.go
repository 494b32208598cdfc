package backoff

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
	b := Backoff{Initial: initial, Max: max}
	for attempt := 0; attempt < 80; attempt++ {
		want := wantBackoff(initial, max, attempt)
		d := b.Failed(0)
		if d < want/2 || d > want {
			t.Fatalf("attempt %d: wait %v, want within [%v, %v]", attempt, d, want/2, want)
		}
	}
	b.Reset()
	if d := b.Failed(0); d < initial/2 || d > initial {
		t.Fatalf("after reset: wait %v, want within [%v, %v]", d, initial/2, initial)
	}
}

// The jitter spreads: many draws at one attempt are not all equal and
// cover both halves of the range.
func TestBackoffJitterSpreads(t *testing.T) {
	const d = time.Second
	low, high := 0, 0
	for i := 0; i < 200; i++ {
		b := Backoff{Initial: d, Max: d}
		switch w := b.Failed(0); {
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
		b := Backoff{Initial: initial, Max: max}
		for attempt := 0; attempt < 200; attempt++ {
			want := wantBackoff(initial, max, attempt)
			d := b.Failed(0)
			if d < want/2 || d > want {
				t.Fatalf("initial %v attempt %d: wait %v, want within [%v, %v]", initial, attempt, d, want/2, want)
			}
		}
	}
}

func TestBackoffRetryAfter(t *testing.T) {
	b := Backoff{Initial: time.Millisecond, Max: 10 * time.Millisecond}
	if d := b.Failed(5 * time.Second); d != 5*time.Second {
		t.Errorf("Retry-After 5s with a 10ms cap: wait %v, want 5s", d)
	}
	if d := b.Failed(time.Microsecond); d < time.Millisecond {
		t.Errorf("Retry-After 1µs below the backoff: wait %v, want the backoff (>= 1ms)", d)
	}
	if d := b.Failed(24 * time.Hour); d != DefaultMaxRetryAfter {
		t.Errorf("Retry-After 24h: wait %v, want the %v cap", d, DefaultMaxRetryAfter)
	}
	long := Backoff{Initial: time.Second, Max: time.Hour}
	if d := long.Failed(2 * time.Hour); d != time.Hour {
		t.Errorf("Retry-After 2h with a 1h backoff cap: wait %v, want 1h", d)
	}
}

func TestParseRetryAfter(t *testing.T) {
	f := func(v string, want time.Duration) {
		t.Helper()
		if got := ParseRetryAfter(v); got != want {
			t.Errorf("ParseRetryAfter(%q): got %v, want %v", v, got, want)
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
		got := ParseRetryAfter(v)
		if got <= 58*time.Minute || got > time.Hour {
			t.Errorf("ParseRetryAfter(%q): got %v, want about 1h", v, got)
		}
	}
}

// Sleep waits exactly d in a bubble of fake time, and returns at once with
// the context's error when it is cancelled.
func TestSleep(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		if err := Sleep(context.Background(), 5*time.Second); err != nil {
			t.Fatalf("sleep: %v", err)
		}
		if got := time.Since(start); got != 5*time.Second {
			t.Fatalf("Sleep(5s) took %v", got)
		}

		ctx, cancel := context.WithCancel(context.Background())
		go func() {
			time.Sleep(time.Second)
			cancel()
		}()
		start = time.Now()
		if err := Sleep(ctx, time.Hour); !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled sleep: got %v, want context.Canceled", err)
		}
		if got := time.Since(start); got != time.Second {
			t.Fatalf("cancelled sleep returned after %v, want 1s (at the cancellation)", got)
		}
		if err := Sleep(ctx, time.Hour); !errors.Is(err, context.Canceled) {
			t.Fatalf("sleep on a cancelled context: got %v, want context.Canceled", err)
		}
	})
}

func TestMaxRetryAfter(t *testing.T) {
	b := Backoff{Initial: time.Millisecond, Max: 10 * time.Millisecond, MaxRetryAfter: 30 * time.Second}
	if d := b.Failed(time.Hour); d != 30*time.Second {
		t.Errorf("Retry-After 1h with MaxRetryAfter 30s: wait %v, want 30s", d)
	}
}

// Progress: a round with at least half accepted brings the delay down (to
// zero from Initial), one with fewer keeps it, one with none doubles it.
func TestProgress(t *testing.T) {
	const initial, max = 100 * time.Millisecond, 3 * time.Second
	b := Backoff{Initial: initial, Max: max}
	if d := b.Progress(2, 3, 0); d != 0 || b.Delay() != 0 {
		t.Fatalf("2 of 3 accepted while healthy: wait %v (delay %v), want 0", d, b.Delay())
	}
	for i := 0; i < 4; i++ {
		b.Failed(0)
	}
	if got, want := b.Delay(), 8*initial; got != want {
		t.Fatalf("after 4 failures: delay %v, want %v", got, want)
	}
	if d := b.Progress(1, 10, 0); b.Delay() != 8*initial || d < 4*initial || d > 8*initial {
		t.Fatalf("1 of 10 accepted: wait %v, delay %v; want the delay kept at %v", d, b.Delay(), 8*initial)
	}
	want := []time.Duration{4 * initial, 2 * initial, initial, 0, 0}
	for i, w := range want {
		d := b.Progress(5, 10, 0)
		if b.Delay() != w || d < w/2 || d > w {
			t.Fatalf("half accepted, round %d: wait %v, delay %v; want delay %v", i, d, b.Delay(), w)
		}
	}
	if d := b.Progress(1, 10, 0); b.Delay() != initial || d < initial/2 || d > initial {
		t.Fatalf("1 of 10 accepted while healthy: wait %v, delay %v; want about %v", d, b.Delay(), initial)
	}
	if d := b.Progress(0, 10, 0); b.Delay() != 2*initial || d < initial {
		t.Fatalf("none accepted: wait %v, delay %v; want the delay doubled to %v", d, b.Delay(), 2*initial)
	}
	if d := b.Progress(9, 10, 5*time.Second); d != 5*time.Second {
		t.Fatalf("progress with Retry-After 5s: wait %v, want 5s", d)
	}
}

// One item in three refused in every round, as a busy cluster answers: the
// rounds of a 20,000-item batch wait nothing at all while each round makes
// progress, and only the last single items (refused as a whole) wait. The
// doubling policy of old waited ~2^rounds * Initial here.
func TestProgressOneInThree(t *testing.T) {
	const initial, max = 250 * time.Millisecond, 30 * time.Second
	b := Backoff{Initial: initial, Max: max}
	left, rounds, refused := 20000, 0, 0
	var total time.Duration
	for left > 0 && rounds < 1000 {
		rounds++
		// Every third item overall is refused: refused counts across rounds.
		again := 0
		for i := 0; i < left; i++ {
			refused++
			if refused%3 == 0 {
				again++
			}
		}
		if again == 0 {
			b.Reset()
			left = 0
			break
		}
		total += b.Progress(left-again, left, 0)
		left = again
	}
	if left != 0 {
		t.Fatalf("%d items left after %d rounds", left, rounds)
	}
	if total > 2*initial {
		t.Fatalf("one in three refused, 20000 items: waited %v in %d rounds, want at most %v", total, rounds, 2*initial)
	}
	t.Logf("20000 items, one in three refused per round: %d rounds, %v waited", rounds, total)
}

// FuzzRetryAfter: any header value gives a wait that is not negative.
func FuzzRetryAfter(f *testing.F) {
	for _, s := range []string{"", "1", "120", "-1", "9223372036854775807", "Wed, 21 Oct 2015 07:28:00 GMT", "Fri, 31 Dec 9999 23:59:59 GMT"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		if d := ParseRetryAfter(v); d < 0 {
			t.Fatalf("ParseRetryAfter(%q) = %v", v, d)
		}
	})
}
