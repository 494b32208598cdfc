package file

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"shipper/internal/event"
	"shipper/internal/pipeline"
	"shipper/internal/testutil/logbuf"
)

// memSink consumes a pipeline like the Elasticsearch sink does, keeping every
// document. While held, batches wait (a slow or unreachable Elasticsearch).
type memSink struct {
	mu    sync.Mutex
	docs  []doc
	ids   map[string]int // id -> times delivered
	held  bool
	cond  *sync.Cond
	done  chan struct{}
	stop  chan struct{} // closed: leave held batches unacknowledged and return
	batch int
}

type doc struct {
	ID  string
	Raw string
	M   map[string]any
}

func newMemSink(p *pipeline.Pipeline) *memSink {
	s := &memSink{ids: make(map[string]int), done: make(chan struct{}), stop: make(chan struct{})}
	s.cond = sync.NewCond(&s.mu)
	go func() {
		defer close(s.done)
		for b := range p.Batches() {
			if !s.deliver(b) {
				return
			}
		}
	}()
	return s
}

func (s *memSink) deliver(b *event.Batch) bool {
	s.mu.Lock()
	for s.held {
		select {
		case <-s.stop:
			s.mu.Unlock()
			return false
		default:
		}
		s.cond.Wait()
	}
	for i := range b.Items {
		action := b.Action(i)
		var a struct {
			Create struct {
				ID string `json:"_id"`
			} `json:"create"`
		}
		if err := json.Unmarshal(action, &a); err != nil {
			panic(fmt.Sprintf("bad action %q: %v", action, err))
		}
		raw := string(bytes.TrimSpace(b.Document(i)))
		var m map[string]any
		if err := json.Unmarshal([]byte(raw), &m); err != nil {
			panic(fmt.Sprintf("bad document %q: %v", raw, err))
		}
		s.ids[a.Create.ID]++
		if s.ids[a.Create.ID] == 1 {
			s.docs = append(s.docs, doc{ID: a.Create.ID, Raw: raw, M: m})
		}
	}
	s.batch++
	s.mu.Unlock()
	b.Done()
	return true
}

// hold makes batches wait until release.
func (s *memSink) hold() {
	s.mu.Lock()
	s.held = true
	s.mu.Unlock()
}

func (s *memSink) release() {
	s.mu.Lock()
	s.held = false
	s.cond.Broadcast()
	s.mu.Unlock()
}

// abandon makes a held sink return without acknowledging (a crash).
func (s *memSink) abandon() {
	close(s.stop)
	s.mu.Lock()
	s.cond.Broadcast()
	s.mu.Unlock()
}

// dups returns how many deliveries repeated an id already delivered.
func (s *memSink) dups() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.ids {
		n += c - 1
	}
	return n
}

// snapshot returns the unique documents delivered so far, in delivery order.
func (s *memSink) snapshot() []doc {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]doc(nil), s.docs...)
}

// messages returns the message field of the documents whose log.file.path
// ends with suffix ("" for all).
func messages(docs []doc, suffix string) []string {
	var out []string
	for _, d := range docs {
		if p, _ := d.M["log.file.path"].(string); strings.HasSuffix(p, suffix) {
			m, _ := d.M["message"].(string)
			out = append(out, m)
		}
	}
	return out
}

// syncBuf is a concurrency-safe log buffer.
type syncBuf struct{ logbuf.Buffer }

// run is one run of a Source over a pipeline and a memSink.
type run struct {
	t      testing.TB
	src    *Source
	pipe   *pipeline.Pipeline
	sink   *memSink
	logs   *syncBuf
	cancel context.CancelFunc
	qstop  context.CancelFunc // the shutdown deadline: waits for budget give up
	done   chan error
}

// testConfig returns a config with fast timings for files under dir.
func testConfig(dir, state string, paths ...string) Config {
	for i, p := range paths {
		paths[i] = filepath.Join(dir, p)
	}
	return Config{
		Paths:              paths,
		StateDir:           state,
		Dataset:            "test",
		Namespace:          "default",
		PollInterval:       10 * time.Millisecond,
		RescanInterval:     50 * time.Millisecond,
		RotateWait:         200 * time.Millisecond,
		CheckpointInterval: 100 * time.Millisecond,
	}
}

// startRun starts a source with its own pipeline and sink.
func startRun(t testing.TB, cfg Config, pcfg pipeline.Config) *run {
	t.Helper()
	if pcfg.BatchBytes == 0 {
		pcfg.BatchBytes = 64 << 10
	}
	if pcfg.FlushInterval == 0 {
		pcfg.FlushInterval = 20 * time.Millisecond
	}
	pipe := pipeline.New(pcfg)
	logs := &syncBuf{}
	src, err := New(cfg, pipe, zerolog.New(logs))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	r := &run{t: t, src: src, pipe: pipe, sink: newMemSink(pipe), logs: logs, done: make(chan error, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	qctx, qstop := context.WithCancel(context.Background())
	r.cancel, r.qstop = cancel, qstop
	go func() { r.done <- src.Run(ctx, qctx) }()
	return r
}

// stop stops reading, delivers what was read, and writes the checkpoints.
func (r *run) stop() {
	r.t.Helper()
	r.cancel()
	select {
	case <-r.done:
	case <-time.After(20 * time.Second):
		r.t.Fatalf("Run did not return after cancel; logs:\n%s", r.logs)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := r.src.Drain(ctx); err != nil {
		r.t.Fatalf("Drain: %v", err)
	}
	r.qstop()
	r.pipe.Close()
	<-r.sink.done
}

// crash stops the source without delivering what the sink holds and without
// the final checkpoint write: what a SIGKILL leaves behind (the periodic
// checkpoint writes done before stay).
func (r *run) crash() {
	r.t.Helper()
	r.sink.abandon()
	r.qstop()
	r.cancel()
	<-r.done
}

// waitDocs waits until the sink has n unique documents.
func (r *run) waitDocs(n int) []doc {
	r.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		docs := r.sink.snapshot()
		if len(docs) >= n {
			return docs
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("got %d documents, want %d; stats %+v; logs:\n%s", len(docs), n, r.src.Stats(), r.logs)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitFor polls cond.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// appendFile appends to path, creating it.
func appendFile(t testing.TB, path, s string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// numbered returns lines "<prefix> <i>" for i in [from, to).
func numbered(prefix string, from, to int) string {
	var b strings.Builder
	for i := from; i < to; i++ {
		fmt.Fprintf(&b, "%s %d\n", prefix, i)
	}
	return b.String()
}

// wantMessages checks that got is exactly want, in order.
func wantMessages(t testing.TB, got []string, want string) {
	t.Helper()
	w := strings.Split(strings.TrimSuffix(want, "\n"), "\n")
	if want == "" {
		w = nil
	}
	if len(got) != len(w) {
		t.Fatalf("got %d messages, want %d:\ngot  %q\nwant %q", len(got), len(w), head(got), head(w))
	}
	for i := range w {
		if got[i] != w[i] {
			t.Fatalf("message %d = %q, want %q (got %q)", i, got[i], w[i], head(got))
		}
	}
}

func head(s []string) []string {
	if len(s) > 12 {
		return append(append([]string(nil), s[:6]...), append([]string{"..."}, s[len(s)-6:]...)...)
	}
	return s
}

// sortedKeys returns the keys of m, sorted.
func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func testLogger() zerolog.Logger { return zerolog.New(io.Discard) }

// inode returns the inode of fi.
func inode(fi os.FileInfo) uint64 {
	if fi == nil {
		return 0
	}
	k, _ := statKey(fi)
	return k.ino
}
