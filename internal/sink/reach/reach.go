// Package reach tracks whether an output (Elasticsearch, Kafka) can be
// reached, for readiness and the progress line: when it last took data, and
// since when and how it has been failing.
package reach

import (
	"sync"
	"sync/atomic"
	"time"
)

// Tracker records the outcome of each attempt to reach an output. The zero
// value is ready to use; every method is safe for concurrent use and never
// blocks for long (a short mutex).
type Tracker struct {
	lastSuccess atomic.Int64 // unix nanoseconds; 0: never

	mu        sync.Mutex
	since     time.Time // first failure of the current run of failures
	lastError string
}

// Reached records an attempt that reached the output. success tells that it
// also took the data (a 2xx answer, an acknowledged batch); an answer that
// refused it (a 4xx) still ends a run of failures.
func (t *Tracker) Reached(success bool) {
	if success {
		t.lastSuccess.Store(time.Now().UnixNano())
	}
	t.mu.Lock()
	t.since, t.lastError = time.Time{}, ""
	t.mu.Unlock()
}

// Failed records an attempt that did not reach the output, and msg, which
// says how. The first failure after a success starts the run reported by
// State.
func (t *Tracker) Failed(msg string) {
	t.mu.Lock()
	if t.since.IsZero() {
		t.since = time.Now()
	}
	t.lastError = msg
	t.mu.Unlock()
}

// State returns when the output last took data (zero: never), since when
// attempts have been failing (zero: the last one did not) and how the last
// one failed.
func (t *Tracker) State() (lastSuccess, unreachableSince time.Time, lastError string) {
	if ns := t.lastSuccess.Load(); ns != 0 {
		lastSuccess = time.Unix(0, ns)
	}
	t.mu.Lock()
	unreachableSince, lastError = t.since, t.lastError
	t.mu.Unlock()
	return lastSuccess, unreachableSince, lastError
}
