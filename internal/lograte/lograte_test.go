package lograte

import (
	"bytes"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// clock is a test clock moved by hand.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func TestAllow(t *testing.T) {
	c := &clock{t: time.Unix(1000, 0)}
	l := New(10*time.Second, 2)
	l.now = c.now
	f := func(reason string, wantOK bool, wantHeld int) {
		t.Helper()
		ok, held := l.Allow(reason)
		if ok != wantOK || held != wantHeld {
			t.Errorf("Allow(%q) at %v: got %v, %d; want %v, %d", reason, c.t.Unix(), ok, held, wantOK, wantHeld)
		}
	}
	f("a", true, 0)
	f("a", true, 0)  // the burst
	f("a", false, 0) // over it
	f("a", false, 0)
	f("b", true, 0) // reasons have their own budget
	c.t = c.t.Add(9 * time.Second)
	f("a", false, 0)
	c.t = c.t.Add(time.Second) // a new period
	f("a", true, 3)            // says how many were held back
	f("a", true, 0)
	f("a", false, 0)
	if New(time.Second, 0).burst != 1 {
		t.Error("burst 0 is not 1")
	}
}

func TestWarnAndLogger(t *testing.T) {
	var buf bytes.Buffer
	log := zerolog.New(&buf)
	l := New(time.Hour, 1)
	l.Warn(log, "no_file").Str("path", "/x").Msg("first")
	l.Warn(log, "no_file").Str("path", "/x").Msg("held back") // nil event: a no-op
	l.reasons["no_file"].start = time.Time{}                  // the period is over
	l.Warn(log, "no_file").Msg("again")
	out := buf.String()
	for _, want := range []string{`"level":"warn","reason":"no_file","path":"/x","message":"first"`, `"reason":"no_file","suppressed":1,"message":"again"`} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %s:\n%s", want, out)
		}
	}
	if strings.Contains(out, "held back") {
		t.Errorf("a held-back line was written:\n%s", out)
	}

	buf.Reset()
	lg := NewLogger(log, time.Hour, 2)
	lg.Info().Msg("1")
	lg.Error().Msg("2")
	lg.Warn().Msg("3") // the levels share the budget
	if got := strings.Count(buf.String(), "\n"); got != 2 {
		t.Errorf("Logger wrote %d lines, want 2:\n%s", got, buf.String())
	}
	if !strings.Contains(buf.String(), `"level":"error"`) {
		t.Errorf("Error() is not at error level:\n%s", buf.String())
	}
}

func TestConcurrent(t *testing.T) {
	l := New(time.Hour, 5)
	var wg sync.WaitGroup
	var mu sync.Mutex
	allowed := 0
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 100 {
				if ok, _ := l.Allow("r"); ok {
					mu.Lock()
					allowed++
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	if allowed != 5 {
		t.Errorf("allowed %d lines, want the burst of 5", allowed)
	}
}
