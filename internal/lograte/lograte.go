// Package lograte keeps repeated warnings from flooding the log: per reason,
// at most Burst lines every period, and the next line that gets through
// says how many were held back meanwhile.
package lograte

import (
	"sync"
	"time"

	"github.com/rs/zerolog"
)

// Limiter lets at most burst lines per reason through every period. Reasons
// come from a small fixed set (a remote address or a path is a field, not a
// reason): the limiter keeps one entry per reason for its lifetime. It is
// safe for concurrent use.
type Limiter struct {
	every time.Duration
	burst int
	now   func() time.Time // tests move the clock

	mu      sync.Mutex
	reasons map[string]*window
}

type window struct {
	start time.Time // of the current period
	sent  int       // lines let through in it
	held  int       // lines held back since the last one let through
}

// New returns a limiter of burst lines per reason every period (burst < 1
// means 1).
func New(every time.Duration, burst int) *Limiter {
	return &Limiter{every: every, burst: max(burst, 1), now: time.Now, reasons: make(map[string]*window)}
}

// Allow reports whether a line for reason may be logged now and, when it
// may, how many lines for reason were held back since the last one.
func (l *Limiter) Allow(reason string) (ok bool, held int) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	w := l.reasons[reason]
	if w == nil {
		w = &window{start: now}
		l.reasons[reason] = w
	}
	if now.Sub(w.start) >= l.every {
		w.start, w.sent = now, 0
	}
	if w.sent >= l.burst {
		w.held++
		return false, 0
	}
	w.sent++
	held, w.held = w.held, 0
	return true, held
}

// Warn returns a warning on log carrying reason (when not empty) and the
// number of lines held back ("suppressed"), or nil when this one is held
// back: zerolog ignores every call on a nil event, so
// l.Warn(log, "x").Str(...).Msg(...) is safe either way.
func (l *Limiter) Warn(log zerolog.Logger, reason string) *zerolog.Event {
	return l.event(log, zerolog.WarnLevel, reason)
}

func (l *Limiter) event(log zerolog.Logger, level zerolog.Level, reason string) *zerolog.Event {
	ok, held := l.Allow(reason)
	if !ok {
		return nil
	}
	e := log.WithLevel(level)
	if reason != "" {
		e = e.Str("reason", reason)
	}
	if held > 0 {
		e = e.Int("suppressed", held)
	}
	return e
}

// Logger is a logger whose lines, of every level, share one budget of a
// Limiter.
type Logger struct {
	log zerolog.Logger
	lim *Limiter
}

// NewLogger returns a Logger that lets burst lines through every period.
func NewLogger(log zerolog.Logger, every time.Duration, burst int) Logger {
	return Logger{log: log, lim: New(every, burst)}
}

// Info returns an info event, or nil (a no-op) when over the budget.
func (l Logger) Info() *zerolog.Event { return l.lim.event(l.log, zerolog.InfoLevel, "") }

// Warn returns a warning event, or nil (a no-op) when over the budget.
func (l Logger) Warn() *zerolog.Event { return l.lim.event(l.log, zerolog.WarnLevel, "") }

// Error returns an error event, or nil (a no-op) when over the budget.
func (l Logger) Error() *zerolog.Event { return l.lim.event(l.log, zerolog.ErrorLevel, "") }
