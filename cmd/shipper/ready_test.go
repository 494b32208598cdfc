package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"shipper/internal/pipeline"
	es "shipper/internal/sink/elasticsearch"
)

// ready tells the truth: not before Elasticsearch answered, not while it is
// unreachable, not while records wait with nothing delivered for the stall
// timeout; ready again once deliveries resume.
func TestReady(t *testing.T) {
	const stall = time.Minute
	p := pipeline.New(pipeline.Config{MaxBytes: 1 << 20, BatchBytes: 1 << 10, FlushInterval: time.Hour})
	pr := p.NewProducer(nil)
	now := time.Now()
	f := func(what string, now time.Time, reached bool, h es.Health, want string) {
		t.Helper()
		err := ready(now, reached, p, h, stall)
		switch {
		case want == "" && err != nil:
			t.Errorf("%s: not ready (%v), want ready", what, err)
		case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
			t.Errorf("%s: got %v, want not ready with %q", what, err, want)
		}
	}
	f("never reached", now, false, es.Health{}, "not reached yet")
	f("idle", now, true, es.Health{}, "")
	f("idle, far later", now.Add(time.Hour), true, es.Health{}, "")
	f("unreachable", now, true, es.Health{UnreachableSince: now.Add(-time.Second), LastError: "connection refused"}, "connection refused")

	b, err := pr.Begin(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	start := len(b.Body)
	b.Body = append(b.Body, "{}\n{}\n"...)
	b.AddItem(start, start+3)
	pr.End()
	f("one record waiting", time.Now(), true, es.Health{}, "")
	f("one record waiting past the stall timeout", time.Now().Add(stall+time.Second), true, es.Health{}, "1 records wait and none was delivered")
	if err := pr.Flush(); err != nil {
		t.Fatal(err)
	}
	(<-p.Batches()).Done()
	f("delivered", time.Now().Add(stall+time.Second), true, es.Health{}, "")
}
