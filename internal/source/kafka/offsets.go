package kafka

import (
	"context"
	"sync"
	"time"

	"shipper/internal/parse"
)

// topicPartition names a partition.
type topicPartition struct {
	topic     string
	partition int32
}

// partState is the delivery state of one partition this consumer owns, for
// as long as it owns it: a new assignment of the same partition gets a new
// partState, so that acknowledgements of records read under an earlier
// assignment never move the offsets of a later one.
//
// Offsets are "next" offsets, as Kafka commits them: the offset of the first
// record not yet taken, delivered or committed. -1 means none yet.
type partState struct {
	tp       topicPartition
	fields   []byte // pre-encoded kafka.topic and kafka.partition members
	fieldsID uint64 // their parse.Line.FieldsID

	// idHi is the high half of derived document ids, fixed with the
	// topic's id at the first fetch (idSet). Used by the polling
	// goroutine only.
	idHi  uint64
	idSet bool

	// Guarded by tracker.mu.
	taken     int64 // after the last record queued into the pipeline
	delivered int64 // after the last record delivered
	epoch     int32 // leader epoch of the last record delivered
	committed int64 // what was last committed
	gone      bool  // revoked or lost: never committed again
}

// ackEntry says that once its mark is acknowledged, the partition's records
// before next are delivered.
type ackEntry struct {
	mark  uint64
	st    *partState
	next  int64
	epoch int32
}

// tracker follows, per owned partition, which records were taken, delivered
// and committed. Marks handed to the pipeline are sequence numbers; the
// pipeline acknowledges them in order, and every record of a producer sealed
// before a mark is delivered when the mark is, so the delivered offset of a
// partition only moves over contiguous delivered records. Safe for
// concurrent use.
type tracker struct {
	mu       sync.Mutex
	parts    map[topicPartition]*partState
	pending  []ackEntry // in mark order; consumed from the front
	nextMark uint64
	changed  chan struct{} // closed and replaced when delivered offsets move
}

func newTracker() *tracker {
	return &tracker{parts: make(map[topicPartition]*partState), changed: make(chan struct{})}
}

// assign starts tracking the partitions, replacing any state left of an
// earlier assignment.
func (t *tracker) assign(assigned map[string][]int32) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for topic, ps := range assigned {
		for _, p := range ps {
			tp := topicPartition{topic, p}
			if old := t.parts[tp]; old != nil {
				old.gone = true
			}
			t.parts[tp] = &partState{tp: tp, fields: partFields(topic, p), fieldsID: parse.NewFieldsID(),
				taken: -1, delivered: -1, committed: -1, epoch: -1}
		}
	}
}

// lookup returns the state of an owned partition, nil when not owned.
func (t *tracker) lookup(topic string, partition int32) *partState {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.parts[topicPartition{topic, partition}]
}

// states returns the states of the listed partitions that are owned.
func (t *tracker) states(ps map[string][]int32) []*partState {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []*partState
	for topic, list := range ps {
		for _, p := range list {
			if st := t.parts[topicPartition{topic, p}]; st != nil {
				out = append(out, st)
			}
		}
	}
	return out
}

// owned returns the partitions owned now.
func (t *tracker) owned() []topicPartition {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]topicPartition, 0, len(t.parts))
	for tp := range t.parts {
		out = append(out, tp)
	}
	return out
}

// mark registers entries (one per partition of a chunk of records queued
// together) and returns the mark to add to the chunk's last batch. The
// partitions' taken offsets move to the entries' next offsets.
func (t *tracker) mark(entries []ackEntry) uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	m := t.nextMark
	t.nextMark++
	for _, e := range entries {
		e.mark = m
		if e.next > e.st.taken {
			e.st.taken = e.next
		}
		t.pending = append(t.pending, e)
	}
	return m
}

// acked is the producer's acknowledgement callback: the marks are delivered,
// in order. It never blocks for long.
func (t *tracker) acked(marks []uint64, _ int) {
	if len(marks) == 0 {
		return
	}
	last := marks[len(marks)-1]
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for n < len(t.pending) && t.pending[n].mark <= last {
		e := t.pending[n]
		if !e.st.gone && e.next > e.st.delivered {
			e.st.delivered = e.next
			e.st.epoch = e.epoch
		}
		t.pending[n] = ackEntry{}
		n++
	}
	if n == 0 {
		return
	}
	t.pending = t.pending[n:]
	if len(t.pending) == 0 {
		t.pending = t.pending[:0:0] // let the array go rather than creep
	}
	close(t.changed)
	t.changed = make(chan struct{})
}

// commitPoint is an offset to commit for a partition.
type commitPoint struct {
	st     *partState
	offset int64
	epoch  int32
}

// toCommit returns the owned partitions whose delivered offset is past the
// committed one.
func (t *tracker) toCommit() []commitPoint {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []commitPoint
	for _, st := range t.parts {
		if !st.gone && st.delivered > st.committed {
			out = append(out, commitPoint{st, st.delivered, st.epoch})
		}
	}
	return out
}

// committed records a successful commit.
func (t *tracker) committed(points []commitPoint) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, c := range points {
		if c.offset > c.st.committed {
			c.st.committed = c.offset
		}
	}
}

// release stops tracking the partitions (revoked or lost): acknowledgements
// that arrive later no longer move anything, and nothing is committed for
// them again. It returns the final commit points of those with delivered
// records not committed yet.
func (t *tracker) release(states []*partState) []commitPoint {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []commitPoint
	for _, st := range states {
		if st.gone {
			continue
		}
		st.gone = true
		if t.parts[st.tp] == st {
			delete(t.parts, st.tp)
		}
		if st.delivered > st.committed {
			out = append(out, commitPoint{st, st.delivered, st.epoch})
		}
	}
	return out
}

// waitDelivered blocks until every record taken from the partitions is
// delivered, or ctx is done, or stop is closed. It reports whether they
// were all delivered.
func (t *tracker) waitDelivered(ctx context.Context, stop <-chan struct{}, timeout time.Duration, states []*partState) bool {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		t.mu.Lock()
		all := true
		for _, st := range states {
			if st.taken > st.delivered {
				all = false
				break
			}
		}
		ch := t.changed
		t.mu.Unlock()
		if all {
			return true
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return false
		case <-stop:
			return false
		case <-timer.C:
			return false
		}
	}
}

// undelivered returns how many partitions have records taken and not
// delivered.
func (t *tracker) undelivered() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for _, st := range t.parts {
		if st.taken > st.delivered {
			n++
		}
	}
	return n
}
