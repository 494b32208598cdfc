package kafka

import (
	"context"
	"testing"
	"time"
)

func TestTrackerCommitsOnlyDelivered(t *testing.T) {
	tr := newTracker()
	tr.assign(map[string][]int32{"t": {0, 1}})
	p0, p1 := tr.lookup("t", 0), tr.lookup("t", 1)
	m1 := tr.mark([]ackEntry{{st: p0, next: 10}, {st: p1, next: 4}})
	m2 := tr.mark([]ackEntry{{st: p0, next: 20}})
	if got := tr.toCommit(); len(got) != 0 {
		t.Fatalf("before any ack: got %d commit points, want none", len(got))
	}
	tr.acked([]uint64{m1}, 0)
	points := tr.toCommit()
	want := map[int32]int64{0: 10, 1: 4}
	if len(points) != 2 {
		t.Fatalf("after the first mark: got %d points, want 2", len(points))
	}
	for _, c := range points {
		if c.offset != want[c.st.tp.partition] {
			t.Errorf("partition %d: got offset %d, want %d", c.st.tp.partition, c.offset, want[c.st.tp.partition])
		}
	}
	tr.committed(points)
	if got := tr.toCommit(); len(got) != 0 {
		t.Fatalf("after committing: got %d points, want none", len(got))
	}
	tr.acked([]uint64{m2}, 0)
	points = tr.toCommit()
	if len(points) != 1 || points[0].offset != 20 || points[0].st != p0 {
		t.Fatalf("after the second mark: got %+v, want partition 0 at 20", points)
	}
}

func TestTrackerReleasedPartitionIgnoresLateAcks(t *testing.T) {
	tr := newTracker()
	tr.assign(map[string][]int32{"t": {0}})
	old := tr.lookup("t", 0)
	m := tr.mark([]ackEntry{{st: old, next: 50}})
	if final := tr.release([]*partState{old}); len(final) != 0 {
		t.Fatalf("nothing delivered: got final points %+v, want none", final)
	}
	// Assigned again: a new state, starting from the group's offset.
	tr.assign(map[string][]int32{"t": {0}})
	tr.acked([]uint64{m}, 0)
	if got := tr.toCommit(); len(got) != 0 {
		t.Fatalf("an ack of the earlier assignment moved the new one: %+v", got)
	}
	if old.delivered != -1 {
		t.Fatalf("released state moved to %d", old.delivered)
	}
}

func TestTrackerWaitDelivered(t *testing.T) {
	tr := newTracker()
	tr.assign(map[string][]int32{"t": {0}})
	st := tr.lookup("t", 0)
	m := tr.mark([]ackEntry{{st: st, next: 5}})
	ctx := context.Background()
	if tr.waitDelivered(ctx, nil, time.Millisecond, []*partState{st}) {
		t.Fatal("waitDelivered: got true before the ack")
	}
	done := make(chan bool)
	go func() { done <- tr.waitDelivered(ctx, nil, time.Minute, []*partState{st}) }()
	tr.acked([]uint64{m}, 0)
	select {
	case ok := <-done:
		if !ok {
			t.Fatal("waitDelivered: got false after the ack")
		}
	case <-time.After(time.Minute):
		t.Fatal("waitDelivered did not return within a minute of the ack")
	}
	stop := make(chan struct{})
	tr.mark([]ackEntry{{st: st, next: 9}})
	close(stop)
	if tr.waitDelivered(ctx, stop, time.Minute, []*partState{st}) {
		t.Fatal("waitDelivered: got true with records in flight and stop closed")
	}
}
