//go:build integration

package elasticsearch

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"shipper/internal/encode"
	"shipper/internal/event"
	"shipper/internal/parse"
	"shipper/internal/testutil/estest"
	"shipper/internal/testutil/faultproxy"
)

// TestStreamsRealElasticsearch: against a real Elasticsearch, through a
// proxy that answers every third item 429, batches built by the encoder for
// several data streams each go to their default stream's bulk path, with
// _index only in the action lines of items going elsewhere, and every
// document lands once in its own stream: the first items of streams that do
// not exist yet (the default one included), the retried items of every
// stream, and the documents Elasticsearch rejects, in the dead-letter stream
// with the stream each was meant for. A batch whose default stream gets no
// document leaves that stream uncreated.
func TestStreamsRealElasticsearch(t *testing.T) {
	ns := estest.Unique("mix")
	app, other, third, fourth, never := "logs-app-"+ns, "logs-other-"+ns, "logs-third-"+ns, "logs-fourth-"+ns, "logs-never-"+ns
	dl := "logs-shipper.deadletter-" + ns
	proxy, err := faultproxy.New(estest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer proxy.Close()
	s, logs := newTestSink(t, proxy.URL(), func(c *Config) { c.DeadLetterIndex = dl })
	if _, err := s.EnsureTemplates(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := proxy.Set(faultproxy.Fault{RejectEvery: 3}); err != nil {
		t.Fatal(err)
	}

	want := map[string]int{}       // documents per stream
	wantDead := map[string]int{}   // dead letters per stream they were meant for
	lines := map[string][]string{} // stream -> messages
	seq := 0
	line := func(dataset string, rejected bool) string {
		seq++
		msg := fmt.Sprintf("m%04d", seq)
		l := `{"message":"` + msg + `"`
		if dataset != "" {
			l += `,"data_stream.dataset":"` + dataset + `"`
		}
		if rejected {
			// A repeated name in a nested object: Elasticsearch
			// refuses the document whatever its mapping.
			l += `,"a":{"b":1,"b":2}`
		}
		return l + "}"
	}
	batch := func(enc *encode.Encoder, specs ...string) testBatch {
		b := &event.Batch{}
		for _, spec := range specs {
			ds, rejected := strings.CutSuffix(spec, "!")
			target := enc.Index
			if ds != "" {
				target = "logs-" + ds + "-" + ns
			}
			l := line(ds, rejected)
			if rejected {
				wantDead[target]++
			} else {
				want[target]++
			}
			lines[target] = append(lines[target], l)
			enc.Append(b, &parse.Line{Data: []byte(l)}, 9, uint64(seq))
		}
		tb := testBatch{Batch: b, done: new(atomic.Int32)}
		b.SetDone(func(*event.Batch) { tb.done.Add(1) })
		return tb
	}
	named := func(b testBatch) (n int) {
		for i := range b.Items {
			if idx, _, _ := encode.ParseCreate(b.Action(i)); idx != nil {
				n++
			}
		}
		return n
	}

	enc := encode.New(parse.New(nil), app, ns)
	// Mixed: most to app (which does not exist yet, the default), some to
	// other and third; a rejected document for app and one for other.
	var specs []string
	for i := 0; i < 30; i++ {
		switch {
		case i == 7:
			specs = append(specs, "!")
		case i == 11:
			specs = append(specs, "other!")
		case i%3 == 1:
			specs = append(specs, "other")
		case i%5 == 2:
			specs = append(specs, "third")
		default:
			specs = append(specs, "")
		}
	}
	b1 := batch(enc, specs...)
	// Every document named elsewhere than the encoder's own stream: the
	// batch's default (never) gets none, and is not created.
	enc2 := encode.New(parse.New(nil), never, ns)
	b2 := batch(enc2, "fourth", "fourth", "fourth", "fourth", "fourth")
	// The next batch of that encoder defaults to fourth, and names never
	// in the lines for it: now it is created.
	b3 := batch(enc2, "fourth", "", "fourth", "fourth!", "fourth", "")
	if b1.Index != app || b2.Index != never || b3.Index != fourth {
		t.Fatalf("batch defaults %q, %q, %q; want %q, %q, %q", b1.Index, b2.Index, b3.Index, app, never, fourth)
	}
	if n := named(b1); n != 30-want[app]-wantDead[app] {
		t.Fatalf("first batch: %d action lines name their index, want %d", n, 30-want[app]-wantDead[app])
	}
	if n := named(b2); n != 5 {
		t.Fatalf("second batch: %d action lines name their index, want 5", n)
	}
	if n := named(b3); n != 2 {
		t.Fatalf("third batch: %d action lines name their index, want 2", n)
	}

	runAll(t, s, b1)
	if estest.DataStreamExists(t, never) {
		t.Fatalf("%s exists before any document went there", never)
	}
	runAll(t, s, b2)
	if estest.DataStreamExists(t, never) {
		t.Errorf("%s was created by requests whose items all went elsewhere", never)
	}
	runAll(t, s, b3)
	checkDone(t, b1, b2, b3)

	st := s.Stats()
	ps := proxy.Stats()
	if ps.ItemsRejected == 0 || st.Retried < ps.ItemsRejected {
		t.Errorf("proxy rejected %d items, the sink retried %d: want some, each retried", ps.ItemsRejected, st.Retried)
	}
	total, dead := 0, 0
	for _, n := range want {
		total += n
	}
	for _, n := range wantDead {
		dead += n
	}
	if st.Indexed != uint64(total) || st.DeadLettered != uint64(dead) || st.Lost != 0 {
		t.Errorf("stats %+v, want %d indexed and %d dead-lettered\n%s", st, total, dead, logs)
	}

	estest.Refresh(t, "logs-*-"+ns)
	for _, idx := range []string{app, other, third, fourth, never} {
		if n := estest.Count(t, idx, ""); n != want[idx] {
			t.Errorf("%s: %d documents, want %d", idx, n, want[idx])
		}
		// Each message once, in its stream.
		for _, l := range lines[idx] {
			var d struct {
				Message string `json:"message"`
			}
			json.Unmarshal([]byte(l), &d)
			q := `{"term":{"message":"` + d.Message + `"}}`
			wantN := 1
			if strings.Contains(l, `"b":2`) {
				wantN = 0
			}
			if n := estest.Count(t, idx, q); n != wantN {
				t.Errorf("%s: %d documents %s, want %d", idx, n, d.Message, wantN)
			}
		}
	}
	for idx, n := range wantDead {
		q := `{"term":{"labels.target_index":"` + idx + `"}}`
		if got := estest.Count(t, dl, q); got != n {
			t.Errorf("dead letters meant for %s: %d, want %d", idx, got, n)
		}
	}
	if n := estest.Count(t, dl, ""); n != dead {
		t.Errorf("dead letters: %d, want %d", n, dead)
	}
}
