package stdin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"math/rand"
	"os"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/rs/zerolog"

	"shipper/internal/event"
	"shipper/internal/pipeline"
)

// run reads r through a Source and returns the decoded documents in order.
func run(t *testing.T, r io.Reader, cfg Config) []map[string]any {
	t.Helper()
	p := pipeline.New(pipeline.Config{MaxBytes: 64 << 20, BatchBytes: 64 << 10, FlushInterval: time.Hour})
	pr := p.NewProducer(nil)
	if cfg.Dataset == "" {
		cfg.Dataset, cfg.Namespace = "test", "default"
	}
	s, err := New(cfg, r, pr, 1, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	var docs []map[string]any
	done := make(chan struct{})
	go func() {
		defer close(done)
		for b := range p.Batches() {
			docs = append(docs, decode(t, b)...)
			b.Done()
		}
	}()
	ctx := context.Background()
	if err := s.Run(ctx, ctx); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if err := pr.Close(); err != nil {
		t.Fatal(err)
	}
	if err := pr.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	p.Close()
	<-done
	if st := s.Stats(); st.Lines != uint64(len(docs))+st.Blank {
		t.Fatalf("stats: %d lines, %d blank, %d documents", st.Lines, st.Blank, len(docs))
	}
	return docs
}

func decode(t *testing.T, b *event.Batch) []map[string]any {
	t.Helper()
	var out []map[string]any
	for i := 0; i < b.Len(); i++ {
		var action map[string]map[string]string
		err := json.Unmarshal(b.Action(i), &action)
		if c := action["create"]; c != nil && c["_index"] == "" {
			c["_index"] = b.Index // the batch's default data stream
		}
		if err != nil || action["create"]["_index"] != "logs-test-default" || len(action["create"]["_id"]) != 22 {
			t.Fatalf("action %q: %v", b.Action(i), err)
		}
		var doc map[string]any
		if err := json.Unmarshal(b.Document(i), &doc); err != nil {
			t.Fatalf("document %q: %v", b.Document(i), err)
		}
		out = append(out, doc)
	}
	return out
}

func messages(docs []map[string]any) []string {
	var out []string
	for _, d := range docs {
		m, _ := d["message"].(string)
		out = append(out, m)
	}
	return out
}

func TestFraming(t *testing.T) {
	tests := []struct {
		name, in string
		want     []string
	}{
		{"lines", "a\nb\nc\n", []string{"a", "b", "c"}},
		{"last line without newline", "a\nb", []string{"a", "b"}},
		{"crlf", "a\r\nb\r\n", []string{"a", "b"}},
		{"empty input", "", nil},
		{"json", `{"msg":"hello","level":"INFO"}` + "\n", []string{"hello"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, r := range map[string]io.Reader{
				"whole":   strings.NewReader(tt.in),
				"bytes":   iotest.OneByteReader(strings.NewReader(tt.in)),
				"halves":  iotest.HalfReader(strings.NewReader(tt.in)),
				"eofdata": iotest.DataErrReader(strings.NewReader(tt.in)),
			} {
				got := messages(run(t, r, Config{}))
				if strings.Join(got, "|") != strings.Join(tt.want, "|") {
					t.Fatalf("got %q, want %q", got, tt.want)
				}
			}
		})
	}
}

func TestLongLines(t *testing.T) {
	const max = 1024
	long := strings.Repeat("x", 5000)
	in := "short\n" + long + "\nafter\n" + strings.Repeat("y", 3000)
	for name, r := range map[string]io.Reader{
		"whole": strings.NewReader(in),
		"small": iotest.HalfReader(strings.NewReader(in)),
	} {
		t.Run(name, func(t *testing.T) {
			docs := run(t, r, Config{MaxLineBytes: max, ReadBytes: 512})
			got := messages(docs)
			if len(got) != 4 || got[0] != "short" || got[1] != long[:max] || got[2] != "after" || got[3] != strings.Repeat("y", max) {
				t.Fatalf("got %d messages: %.60q", len(got), got)
			}
			for i, size := range map[int]float64{1: 5000, 3: 3000} {
				if docs[i]["log.original_size"] != size || !strings.Contains(strings.Join(flags(docs[i]), ","), "truncated") {
					t.Fatalf("document %d: original size %v, flags %v; want %v, truncated", i, docs[i]["log.original_size"], docs[i]["log.flags"], size)
				}
			}
		})
	}
}

func flags(d map[string]any) []string {
	var out []string
	l, _ := d["log.flags"].([]any)
	for _, f := range l {
		s, _ := f.(string)
		out = append(out, s)
	}
	return out
}

// TestRandomChunks compares what arrives with what was written for random
// lines read in random pieces.
func TestRandomChunks(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	var in bytes.Buffer
	var want []string
	for i := 0; i < 3000; i++ {
		n := rng.Intn(200)
		if rng.Intn(50) == 0 {
			n = 1500 + rng.Intn(3000) // over the limit
		}
		line := strings.Repeat(string(rune('a'+i%26)), n)
		in.WriteString(line + "\n")
		if len(line) > 1024 {
			line = line[:1024]
		}
		if n > 0 { // blank lines are counted, not shipped
			want = append(want, line)
		}
	}
	got := messages(run(t, &randomReader{r: &in, rng: rng}, Config{MaxLineBytes: 1024, ReadBytes: 700}))
	if len(got) != len(want) {
		t.Fatalf("got %d lines, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("line %d: got %d bytes %.20q, want %d bytes", i, len(got[i]), got[i], len(want[i]))
		}
	}
}

type randomReader struct {
	r   io.Reader
	rng *rand.Rand
}

func (r *randomReader) Read(p []byte) (int, error) {
	if len(p) > 1 {
		p = p[:1+r.rng.Intn(len(p))]
	}
	return r.r.Read(p)
}

// TestCancelWhileWaitingForInput stops a read blocked on a pipe.
func TestCancelWhileWaitingForInput(t *testing.T) {
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	defer pw.Close()
	p := pipeline.New(pipeline.Config{MaxBytes: 1 << 20, BatchBytes: 64 << 10})
	prod := p.NewProducer(nil)
	defer prod.Close()
	s, err := New(Config{Dataset: "test", Namespace: "default"}, pr, prod, 1, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx, context.Background()) }()
	io.WriteString(pw, "one\n")
	time.Sleep(50 * time.Millisecond)
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Run: %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after cancel while blocked on read")
	}
	if n := s.Stats().Lines; n != 1 {
		t.Fatalf("lines read before cancel: %d, want 1", n)
	}
}

func TestInvalidDataset(t *testing.T) {
	p := pipeline.New(pipeline.Config{})
	if _, err := New(Config{Dataset: "Bad Name", Namespace: "default"}, strings.NewReader(""), p.NewProducer(nil), 1, zerolog.Nop()); err == nil {
		t.Fatal("no error for an invalid dataset")
	}
}

// TestDropNewestCountsDiscardedLines: under drop_newest a full pipeline makes
// the source discard and count lines, not fail.
func TestDropNewestCountsDiscardedLines(t *testing.T) {
	p := pipeline.New(pipeline.Config{MaxBytes: 1, BatchBytes: 64 << 10, FullPolicy: pipeline.DropNewest, FlushInterval: time.Hour})
	pr := p.NewProducer(nil)
	defer pr.Close()
	s, err := New(Config{Dataset: "test", Namespace: "default", ReadBytes: 4096}, strings.NewReader(strings.Repeat(`{"msg":"a line of about eighty bytes, repeated until the batch fills up"}`+"\n", 5000)), pr, 1, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	// Nothing consumes: the budget admits exactly one batch.
	ctx := context.Background()
	if err := s.Run(ctx, ctx); err != nil {
		t.Fatalf("Run under drop_newest: %v", err)
	}
	st := s.Stats()
	if st.Lines != 5000 || st.Dropped == 0 || st.Dropped >= 5000 {
		t.Fatalf("stats: %+v; want 5000 lines read, some but not all dropped", st)
	}
	if err := pr.Flush(); err != nil {
		t.Fatal(err)
	}
	queued := 0
	for len(p.Batches()) > 0 {
		queued += (<-p.Batches()).Len()
	}
	if uint64(queued)+st.Dropped != 5000 {
		t.Fatalf("queued %d + dropped %d != 5000 lines read", queued, st.Dropped)
	}
}

// TestCancelShipsUnfinishedLine: the part of a line read before reading
// stops is shipped, not dropped.
func TestCancelShipsUnfinishedLine(t *testing.T) {
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	defer pw.Close()
	p := pipeline.New(pipeline.Config{MaxBytes: 1 << 20, BatchBytes: 64 << 10, FlushInterval: time.Hour})
	prod := p.NewProducer(nil)
	s, err := New(Config{Dataset: "test", Namespace: "default"}, pr, prod, 1, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx, context.Background()) }()
	io.WriteString(pw, "one\npart of tw")
	for s.Stats().Bytes < 14 {
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Run: %v", err)
	}
	if err := prod.Close(); err != nil {
		t.Fatal(err)
	}
	b := <-p.Batches()
	if got := messages(decode(t, b)); len(got) != 2 || got[0] != "one" || got[1] != "part of tw" {
		t.Fatalf("shipped %q, want [one, part of tw]", got)
	}
}

// TestBlankLinesAndOrder: blank lines are counted, not shipped; every
// document carries its sequence number, in read order.
func TestBlankLinesAndOrder(t *testing.T) {
	docs := run(t, strings.NewReader("a\n\n  \n\t\r\nb\r\n\nc"), Config{})
	if got := messages(docs); strings.Join(got, ",") != "a,b,c" {
		t.Fatalf("messages %q, want a, b, c", got)
	}
	var last float64
	for i, d := range docs {
		seq, ok := d["event.sequence"].(float64)
		if !ok || seq <= last {
			t.Fatalf("document %d: event.sequence %v after %v", i, d["event.sequence"], last)
		}
		last = seq
	}
}
