package forward

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"shipper/internal/event"
	"shipper/internal/pipeline"
	"shipper/internal/testutil/logbuf"
)

// doc is one bulk item the fake sink received.
type doc struct {
	index, id string
	fields    map[string]any
	raw       string
}

// fakeSink consumes the pipeline like the real sink: it decodes every item
// and calls Done, or holds the batches while hold is set.
type fakeSink struct {
	t     *testing.T
	mu    sync.Mutex
	docs  []doc
	hold  bool
	held  []*event.Batch
	marks int // batches carrying marks
	seen  chan struct{}
	done  chan struct{}
}

func newFakeSink(t *testing.T, pipe *pipeline.Pipeline) *fakeSink {
	f := &fakeSink{t: t, seen: make(chan struct{}, 1), done: make(chan struct{})}
	go func() {
		defer close(f.done)
		for b := range pipe.Batches() {
			f.take(b)
		}
	}()
	return f
}

func (f *fakeSink) take(b *event.Batch) {
	f.mu.Lock()
	for i := range b.Items {
		var action struct {
			Create struct {
				Index string `json:"_index"`
				ID    string `json:"_id"`
			} `json:"create"`
		}
		if err := json.Unmarshal(b.Action(i), &action); err != nil {
			f.t.Errorf("action %q: %v", b.Action(i), err)
		}
		if action.Create.Index == "" {
			action.Create.Index = b.Index // the batch's default data stream
		}
		d := doc{index: action.Create.Index, id: action.Create.ID, raw: string(b.Document(i))}
		if err := json.Unmarshal(b.Document(i), &d.fields); err != nil {
			f.t.Errorf("document %q: %v", b.Document(i), err)
		}
		f.docs = append(f.docs, d)
	}
	if len(b.Marks) > 0 {
		f.marks++
	}
	hold := f.hold
	if hold {
		f.held = append(f.held, b)
	}
	f.mu.Unlock()
	select {
	case f.seen <- struct{}{}:
	default:
	}
	if !hold {
		b.Done()
	}
}

// setHold holds the batches that come next (true), or releases the held ones
// and stops holding (false).
func (f *fakeSink) setHold(hold bool) {
	f.mu.Lock()
	f.hold = hold
	var release []*event.Batch
	if !hold {
		release, f.held = f.held, nil
	}
	f.mu.Unlock()
	for _, b := range release {
		b.Done()
	}
}

func (f *fakeSink) heldBatches() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.held)
}

func (f *fakeSink) all() []doc {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]doc(nil), f.docs...)
}

// waitDocs waits until at least n documents arrived and returns them all.
func (f *fakeSink) waitDocs(t *testing.T, n int) []doc {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		if d := f.all(); len(d) >= n {
			return d
		}
		select {
		case <-f.seen:
		case <-time.After(5 * time.Millisecond):
		case <-deadline:
			d := f.all()
			t.Fatalf("got %d documents within 10s, want %d: %v", len(d), n, d)
		}
	}
}

// syncBuffer collects log output from many goroutines.
type syncBuffer struct{ logbuf.Buffer }

// waitLog waits for a log line containing every one of subs.
func (s *syncBuffer) waitLog(t *testing.T, subs ...string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		for _, line := range strings.Split(s.String(), "\n") {
			ok := true
			for _, sub := range subs {
				ok = ok && strings.Contains(line, sub)
			}
			if ok {
				return
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("no log line with %q; log:\n%s", subs, s.String())
}

type harness struct {
	srv    *Server
	pipe   *pipeline.Pipeline
	sink   *fakeSink
	logs   *syncBuffer
	cancel context.CancelFunc
	runErr chan error
	once   sync.Once
}

var testPipeline = pipeline.Config{MaxBytes: 8 << 20, BatchBytes: 256 << 10, FlushInterval: 10 * time.Millisecond}

// startServer runs a Server on 127.0.0.1 with a fake sink; it is stopped at
// the end of the test.
func startServer(t *testing.T, cfg ServerConfig, pcfg pipeline.Config) *harness {
	t.Helper()
	if cfg.Address == "" && cfg.SocketPath == "" {
		cfg.Address = "127.0.0.1:0"
	}
	if cfg.Dataset == "" {
		cfg.Dataset, cfg.Namespace = "test", "default"
	}
	if cfg.RunID == 0 {
		cfg.RunID = 42
	}
	h := &harness{pipe: pipeline.New(pcfg), logs: &syncBuffer{}, runErr: make(chan error, 1)}
	srv, err := NewServer(cfg, h.pipe, zerolog.New(h.logs))
	if err != nil {
		t.Fatal(err)
	}
	h.srv = srv
	h.sink = newFakeSink(t, h.pipe)
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	go func() { h.runErr <- srv.Run(ctx, context.Background()) }()
	t.Cleanup(func() { h.stop(t) })
	return h
}

// stop cancels Run, drains and closes the pipeline.
func (h *harness) stop(t *testing.T) error {
	var err error
	h.once.Do(func() {
		h.cancel()
		if rerr := <-h.runErr; !errors.Is(rerr, context.Canceled) {
			t.Errorf("Run: got %v, want context.Canceled", rerr)
		}
		h.sink.setHold(false)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		err = h.srv.Drain(ctx)
		h.pipe.Close()
		<-h.sink.done
	})
	return err
}

func (h *harness) addr() string { return h.srv.Addr().String() }

func (h *harness) dial(t *testing.T) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", h.addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func write(t *testing.T, c net.Conn, b []byte) {
	t.Helper()
	_ = c.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write(b); err != nil {
		t.Fatalf("write: %v", err)
	}
}

// readAck reads the ack of chunk within d, failing when something else or
// nothing comes.
func readAck(t *testing.T, c net.Conn, chunk string, d time.Duration) {
	t.Helper()
	want := AppendAck(nil, []byte(chunk))
	got := make([]byte, len(want))
	_ = c.SetReadDeadline(time.Now().Add(d))
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatalf("ack of %q: %v", chunk, err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("ack: got %q, want %q", got, want)
	}
}

// noAck checks that nothing arrives on c within d.
func noAck(t *testing.T, c net.Conn, d time.Duration) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(d))
	var b [64]byte
	n, err := c.Read(b[:])
	if n > 0 {
		t.Fatalf("got %q, want nothing yet", b[:n])
	}
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("read: got %v, want a timeout", err)
	}
}

// waitClosed checks that the server closes c within d.
func waitClosed(t *testing.T, c net.Conn, d time.Duration) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(d))
	_, err := io.Copy(io.Discard, c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("connection still open after %s", d)
	}
}

// msg is a 4-element Message request.
func msg(tag string, sec int64, rec menc, opt menc) menc {
	if opt == nil {
		return mp().arr(3).str(tag).int(sec).bytes(rec)
	}
	return mp().arr(4).str(tag).int(sec).bytes(rec).bytes(opt)
}

const containerID = "3f4e5d6c3f4e5d6c3f4e5d6c3f4e5d6c3f4e5d6c3f4e5d6c3f4e5d6c3f4e5d6c"

// TestServerRequests sends every request shape through a real connection and
// checks the documents.
func TestServerRequests(t *testing.T) {
	iso := func(sec, nsec int64) string { return time.Unix(sec, nsec).UTC().Format(time.RFC3339Nano) }
	type check map[string]any // field -> value; nil means absent
	f := func(name string, in menc, cfg ServerConfig, want ...check) {
		t.Helper()
		t.Run(name, func(t *testing.T) {
			h := startServer(t, cfg, testPipeline)
			c := h.dial(t)
			write(t, c, in)
			// A second request proves the connection is still usable.
			write(t, c, msg("end", t0, mp().mapStr("msg", "end"), mp().mapH(0)))
			docs := h.sink.waitDocs(t, len(want)+1)
			if len(docs) != len(want)+1 {
				t.Fatalf("got %d documents, want %d: %v", len(docs), len(want)+1, docs)
			}
			for i, w := range want {
				for k, v := range w {
					got, ok := docs[i].fields[k]
					if v == nil && ok {
						t.Errorf("doc %d: %s: got %v, want it absent\n%s", i, k, got, docs[i].raw)
					} else if v != nil && fmt.Sprint(got) != fmt.Sprint(v) {
						t.Errorf("doc %d: %s: got %v, want %v\n%s", i, k, got, v, docs[i].raw)
					}
				}
			}
		})
	}
	rec := mp().mapStr("msg", "hello", "level", "WARN")
	base := check{"@timestamp": iso(t0, 0), "message": "hello", "log.level": "warn", "fluent.tag": "app", "input.type": "forward"}
	with := func(c check, kv ...any) check {
		out := check{}
		for k, v := range c {
			out[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			out[kv[i].(string)] = kv[i+1]
		}
		return out
	}
	var none ServerConfig

	f("message 3 elements", msg("app", t0, rec, nil), none, base)
	f("message 4 elements", msg("app", t0, rec, mp().mapH(0)), none, base)
	f("message nil option", mp().arr(4).str("app").int(t0).bytes(rec).nil(), none, base)
	f("message map32 option and str8 tag", mp().arr(4).str8("app").int(t0).bytes(rec).map32(1).str("size").int(1), none, base)
	f("event time fixext8", mp().arr(3).str("app").eventTime(t0, 123456789).bytes(rec), none,
		with(base, "@timestamp", iso(t0, 123456789)))
	f("event time ext8", mp().arr(3).str("app").eventTimeExt8(t0, 5).bytes(rec), none,
		with(base, "@timestamp", iso(t0, 5)))
	f("fluent bit [time, metadata]", mp().arr(2).str("app").arr(1).arr(2).arr(2).eventTime(t0, 7).mapStr("m", "x").bytes(rec), none,
		with(base, "@timestamp", iso(t0, 7)))
	f("forward", mp().arr(3).str("app").arr(2).arr(2).int(t0).bytes(rec).arr(2).int(t0+1).mapStr("msg", "two").mapH(0), none,
		base, with(base, "@timestamp", iso(t0+1, 0), "message", "two", "log.level", nil))
	entries := mp().arr(2).int(t0).bytes(rec).arr(2).eventTime(t0, 1).mapStr("msg", "two")
	f("packed forward bin", mp().arr(3).str("app").bin(entries).mapStr("size", "2"), none,
		base, with(base, "@timestamp", iso(t0, 1), "message", "two", "log.level", nil))
	f("packed forward str", mp().arr(2).str("app").str(string(entries)), none,
		base, with(base, "@timestamp", iso(t0, 1), "message", "two", "log.level", nil))
	twoMembers := append(gzipBytes(entries[:len(rec)+3]), gzipBytes(entries[len(rec)+3:])...)
	f("compressed packed forward, two gzip members", mp().arr(3).str("app").bin(twoMembers).mapStr("compressed", "gzip"), none,
		base, with(base, "@timestamp", iso(t0, 1), "message", "two", "log.level", nil))
	f("unknown ext in record", msg("app", t0, mp().mapH(2).str("msg").str("x").str("e").ext(42, []byte{1, 2, 3}), nil), none,
		with(base, "message", "x", "log.level", nil, "e", map[string]any{"ext_type": 42.0, "data": "AQID"}))
	f("nil record skipped", mp().arr(3).str("app").arr(2).arr(2).int(t0).nil().arr(2).int(t0).bytes(rec).mapH(0), none, base)
	f("time 0 is now", msg("app", 0, mp().mapStr("msg", "now"), nil), none, check{"message": "now"})

	dockerRec := mp().mapStr("container_id", containerID, "container_name", "/web-1", "source", "stderr",
		"log", `{"level":"error","msg":"boom","status":500,"time":"2024-05-06T07:08:09.123456Z"}`+"\r",
		"com.docker.compose.project", "shop", "com.docker.compose.project.working_dir", "/srv")
	f("docker record", msg("docker.web", t0, dockerRec, mp().mapH(0)), none, check{
		"@timestamp": "2024-05-06T07:08:09.123456Z", "message": "boom", "log.level": "error", "status": 500.0,
		"container.id": containerID, "container.name": "web-1", "stream": "stderr", "fluent.tag": "docker.web",
		"labels.com.docker.compose.project": "shop", "labels.com.docker.compose.project.working_dir": "/srv",
		"log": nil, "source": nil, "container_id": nil,
	})
	f("docker plain text log", msg("docker.web", t0, mp().mapStr("container_id", containerID, "source", "stdout", "log", "plain text"), nil), none,
		check{"message": "plain text", "@timestamp": iso(t0, 0), "stream": "stdout", "container.name": nil})
	f("dataset from tag", msg("My.App/x", t0, rec, nil), ServerConfig{DatasetFromTag: true}, with(base, "fluent.tag", "My.App/x"))

	// The fields of a Docker record are remembered for the next ones of
	// the connection: any change of tag, container or stream, a member
	// missing or empty, or labels, must show.
	d := func(kv ...string) menc { return mp().mapStr(append(kv, "log", "x")...) }
	docker := func(tag string, recs ...menc) menc {
		e := mp().arr(3).str(tag).arr(len(recs))
		for _, r := range recs {
			e = e.arr(2).int(t0).bytes(r)
		}
		return e.mapH(0)
	}
	dc := func(tag, id, name, stream string) check {
		return check{"fluent.tag": tag, "container.id": id, "container.name": name, "stream": stream, "labels.team": nil}
	}
	f("docker fields of successive records", append(docker("docker.a",
		d("container_id", "c1", "container_name", "/web", "source", "stdout"),
		d("container_id", "c1", "container_name", "/web", "source", "stdout"),
		d("container_id", "c1", "container_name", "/web", "source", "stderr"),
		d("container_id", "c2", "container_name", "/web", "source", "stderr"),
		d("container_id", "c2", "container_name", "/api", "source", "stderr"),
		d("container_id", "c2", "source", "stderr"),
		d("container_id", "c2", "container_name", "", "source", "stderr"),
		d("container_id", "c2", "container_name", "/api", "source", "stderr", "team", "pay"),
		d("container_id", "c2", "container_name", "/api", "source", "stderr"),
	), docker("docker.b", d("container_id", "c2", "container_name", "/api", "source", "stderr"))...), none,
		dc("docker.a", "c1", "web", "stdout"), dc("docker.a", "c1", "web", "stdout"), dc("docker.a", "c1", "web", "stderr"),
		dc("docker.a", "c2", "web", "stderr"), dc("docker.a", "c2", "api", "stderr"), with(dc("docker.a", "c2", "", "stderr"), "container.name", nil),
		dc("docker.a", "c2", "", "stderr"), with(dc("docker.a", "c2", "api", "stderr"), "labels.team", "pay"),
		dc("docker.a", "c2", "api", "stderr"), dc("docker.b", "c2", "api", "stderr"))
}

// TestServerSignalSkipped: a Fluent Bit metrics request is skipped with a
// clear error, not acknowledged, and the connection goes on.
func TestServerSignalSkipped(t *testing.T) {
	h := startServer(t, ServerConfig{}, testPipeline)
	c := h.dial(t)
	entries := mp().arr(2).int(t0).mapStr("msg", "metric")
	write(t, c, mp().arr(3).str("m").bin(entries).mapH(2).str("fluent_signal").int(1).str("chunk").str("sig"))
	write(t, c, msg("app", t0, mp().mapStr("msg", "log"), mp().mapStr("chunk", "log")))
	readAck(t, c, "log", 10*time.Second) // not "sig"
	docs := h.sink.waitDocs(t, 1)
	if len(docs) != 1 || docs[0].fields["message"] != "log" {
		t.Fatalf("got %v, want only the log record", docs)
	}
	h.logs.waitLog(t, "fluent_signal=1", "only log signals")
	if st := h.srv.Stats(); st.Unsupported != 1 {
		t.Errorf("Unsupported: got %d, want 1", st.Unsupported)
	}
}

// TestServerDatasetFromTag checks the target data streams.
func TestServerDatasetFromTag(t *testing.T) {
	h := startServer(t, ServerConfig{DatasetFromTag: true}, testPipeline)
	c := h.dial(t)
	write(t, c, msg("My.App/x", t0, mp().mapStr("msg", "a"), nil))
	write(t, c, msg("_", t0, mp().mapStr("msg", "b"), nil))
	write(t, c, msg("web", t0, mp().mapStr("msg", "c", "data_stream.dataset", "own"), nil))
	docs := h.sink.waitDocs(t, 3)
	for i, want := range []string{"logs-my.app_x-default", "logs-test-default", "logs-own-default"} {
		if docs[i].index != want {
			t.Errorf("doc %d: index %q, want %q", i, docs[i].index, want)
		}
	}
}

// TestServerDockerFieldsPerTag: the fields a connection remembers for the
// records of one container are rendered again when the tag changes, also
// back to an earlier tag.
func TestServerDockerFieldsPerTag(t *testing.T) {
	h := startServer(t, ServerConfig{}, testPipeline)
	c := h.dial(t)
	tags := []string{"docker.a", "docker.a", "docker.b", "docker.b", "docker.a"}
	for i, tag := range tags {
		write(t, c, msg(tag, t0, mp().mapStr("container_id", containerID, "container_name", "/web-1",
			"source", "stdout", "log", fmt.Sprint("line ", i)), nil))
	}
	docs := h.sink.waitDocs(t, len(tags))
	for i, want := range tags {
		if d := docs[i]; d.fields["fluent.tag"] != want || d.fields["container.name"] != "web-1" {
			t.Errorf("doc %d: %s, want tag %s", i, d.raw, want)
		}
	}
}

// TestServerJSONConnection: a connection starting with '[' is JSON, acked in
// JSON (fluent-logger-golang MarshalAsJSON).
func TestServerJSONConnection(t *testing.T) {
	h := startServer(t, ServerConfig{}, testPipeline)
	c := h.dial(t)
	write(t, c, []byte(`["app",1700000000,{"msg":"json","n":1},{"chunk":"abc"}]`+"\n"+`["app",1700000001,{"msg":"two"}]  `))
	want := `{"ack":"abc"}`
	got := make([]byte, len(want))
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadFull(c, got); err != nil || string(got) != want {
		t.Fatalf("ack: got %q, %v; want %s", got, err, want)
	}
	docs := h.sink.waitDocs(t, 2)
	if docs[0].fields["message"] != "json" || docs[0].fields["n"] != 1.0 || docs[1].fields["message"] != "two" {
		t.Fatalf("got %v", docs)
	}
}

// TestServerAckAfterDone: the ack is written only once the sink reports the
// batch holding the request's records delivered.
func TestServerAckAfterDone(t *testing.T) {
	h := startServer(t, ServerConfig{}, testPipeline)
	h.sink.setHold(true)
	c := h.dial(t)
	write(t, c, msg("app", t0, mp().mapStr("msg", "a"), mp().mapStr("chunk", "c1")))
	h.sink.waitDocs(t, 1)
	noAck(t, c, 300*time.Millisecond)
	h.sink.setHold(false)
	readAck(t, c, "c1", 10*time.Second)
	// Without a chunk: nothing, ever.
	write(t, c, msg("app", t0, mp().mapStr("msg", "b"), mp().mapH(0)))
	h.sink.waitDocs(t, 2)
	noAck(t, c, 200*time.Millisecond)
	if st := h.srv.Stats(); st.Acks != 1 || st.Records != 2 || st.Requests != 2 {
		t.Errorf("stats: %+v", st)
	}
}

// TestServerAckSpansBatches: a request larger than a batch is split; only its
// last batch carries the mark, and the ack waits for every batch.
func TestServerAckSpansBatches(t *testing.T) {
	pcfg := testPipeline
	pcfg.BatchBytes = 4 << 10
	h := startServer(t, ServerConfig{}, pcfg)
	h.sink.setHold(true)
	c := h.dial(t)
	entries := mp()
	const n = 100
	for i := 0; i < n; i++ {
		entries = entries.arr(2).int(t0).mapStr("msg", fmt.Sprintf("record %d %s", i, strings.Repeat("x", 100)))
	}
	write(t, c, mp().arr(3).str("app").bin(entries).mapStr("chunk", "big"))
	h.sink.waitDocs(t, n)
	h.sink.mu.Lock()
	batches, marked := len(h.sink.held), h.sink.marks
	h.sink.mu.Unlock()
	if batches < 3 || marked != 1 {
		t.Fatalf("got %d batches, %d with marks; want several, one", batches, marked)
	}
	// Deliver all but the first: nothing may be acked (acks are in order).
	h.sink.mu.Lock()
	first, rest := h.sink.held[0], h.sink.held[1:]
	h.sink.held = nil
	h.sink.hold = false
	h.sink.mu.Unlock()
	for _, b := range rest {
		b.Done()
	}
	noAck(t, c, 300*time.Millisecond)
	first.Done()
	readAck(t, c, "big", 10*time.Second)
}

// TestServerAckOrder: acks go out in request order even when a later request
// had nothing to deliver.
func TestServerAckOrder(t *testing.T) {
	h := startServer(t, ServerConfig{}, testPipeline)
	h.sink.setHold(true)
	c := h.dial(t)
	write(t, c, msg("app", t0, mp().mapStr("msg", "a"), mp().mapStr("chunk", "first")))
	// Only a nil record: nothing to deliver, but it waits for "first".
	write(t, c, mp().arr(3).str("app").arr(1).arr(2).int(t0).nil().mapStr("chunk", "second"))
	h.sink.waitDocs(t, 1)
	noAck(t, c, 300*time.Millisecond)
	h.sink.setHold(false)
	readAck(t, c, "first", 10*time.Second)
	readAck(t, c, "second", 10*time.Second)
}

// TestServerChunkIDs: a request sent again with the same chunk gets the same
// document ids (Elasticsearch answers 409); other requests get other ids.
func TestServerChunkIDs(t *testing.T) {
	h := startServer(t, ServerConfig{}, testPipeline)
	req := mp().arr(3).str("app").arr(2).arr(2).int(t0).mapStr("msg", "a").arr(2).int(t0).mapStr("msg", "b").mapStr("chunk", "same")
	c := h.dial(t)
	write(t, c, req)
	readAck(t, c, "same", 10*time.Second)
	c2 := h.dial(t) // a re-send after a lost ack comes on a new connection
	write(t, c2, req)
	readAck(t, c2, "same", 10*time.Second)
	write(t, c2, msg("app", t0, mp().mapStr("msg", "a"), mp().mapStr("chunk", "other")))
	write(t, c2, msg("app", t0, mp().mapStr("msg", "a"), nil))
	write(t, c2, msg("app", t0, mp().mapStr("msg", "a"), nil))
	docs := h.sink.waitDocs(t, 7)
	ids := make([]string, len(docs))
	for i, d := range docs {
		ids[i] = d.id
	}
	if ids[0] != ids[2] || ids[1] != ids[3] || ids[0] == ids[1] {
		t.Errorf("re-sent request: ids %v, want [a b a b ...]", ids[:4])
	}
	seen := map[string]bool{}
	for _, id := range append(ids[:2:2], ids[4:]...) {
		if seen[id] || len(id) != 22 {
			t.Errorf("id %q repeated or malformed in %v", id, ids)
		}
		seen[id] = true
	}
}

// TestServerGarbageClient: a client sending garbage is disconnected with a
// logged reason while another keeps shipping.
func TestServerGarbageClient(t *testing.T) {
	h := startServer(t, ServerConfig{}, testPipeline)
	good := h.dial(t)
	const n = 200
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < n; i++ {
			write(t, good, msg("good", t0, mp().mapStr("msg", fmt.Sprint(i)), mp().mapH(0)))
			if i%50 == 0 {
				time.Sleep(10 * time.Millisecond)
			}
		}
	}()
	for _, garbage := range [][]byte{
		{0xc1, 0x00}, // never-used byte
		mp().arr(7).str("x").int(1).int(1).int(1).int(1).int(1).int(1), // array of 7
		mp().arr(3).int(5).int(t0).nil(),                               // tag is not a string
		append(bytes.Repeat([]byte{0x91}, 20000), 0xc0),                // hostile nesting
	} {
		bad := h.dial(t)
		write(t, bad, garbage)
		waitClosed(t, bad, 10*time.Second)
	}
	<-done
	docs := h.sink.waitDocs(t, n)
	for i, d := range docs {
		if d.fields["message"] != fmt.Sprint(i) {
			t.Fatalf("doc %d: %v", i, d.fields["message"])
		}
	}
	h.logs.waitLog(t, "closing Fluent Forward connection", `"reason":"malformed"`)
	if st := h.srv.Stats(); st.Closed[ReasonMalformed] != 4 {
		t.Errorf("closed as malformed: got %d, want 4", st.Closed[ReasonMalformed])
	}
}

// TestServerMaxConnections: connections over the limit are closed at once;
// a slot frees when a connection ends.
func TestServerMaxConnections(t *testing.T) {
	h := startServer(t, ServerConfig{MaxConnections: 2}, testPipeline)
	c1, c2 := h.dial(t), h.dial(t)
	write(t, c1, msg("a", t0, mp().mapStr("msg", "1"), nil))
	write(t, c2, msg("a", t0, mp().mapStr("msg", "2"), nil))
	h.sink.waitDocs(t, 2)
	// Half a request each: not idle, so the third is refused rather than
	// taking an idle one's place (see Server.evictIdle).
	write(t, c1, []byte{0x93})
	write(t, c2, []byte{0x93})
	c3 := h.dial(t)
	waitClosed(t, c3, 10*time.Second)
	h.logs.waitLog(t, "too many connections", "forward-max-connections")
	c1.Close()
	deadline := time.Now().Add(10 * time.Second)
	for h.srv.Stats().Active != 1 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	c4 := h.dial(t)
	write(t, c4, msg("a", t0, mp().mapStr("msg", "4"), mp().mapStr("chunk", "x")))
	readAck(t, c4, "x", 10*time.Second)
	if st := h.srv.Stats(); st.Refused != 1 {
		t.Errorf("Refused: got %d, want 1", st.Refused)
	}
}

// TestServerLimits: a gzip bomb and an oversized request each close their
// connection with reason over_limit.
func TestServerLimits(t *testing.T) {
	h := startServer(t, ServerConfig{Limits: Limits{MaxRequestBytes: 64 << 10, MaxDecompressedBytes: 1 << 20}}, testPipeline)
	bomb := mp().arr(3).str("app").bin(gzipBytes(make([]byte, 8<<20))).mapStr("compressed", "gzip")
	if len(bomb) > 64<<10 {
		t.Fatalf("bomb of %d bytes", len(bomb))
	}
	c := h.dial(t)
	write(t, c, bomb)
	waitClosed(t, c, 10*time.Second)
	h.logs.waitLog(t, `"reason":"over_limit"`, "decompressed entries size")

	c = h.dial(t)
	// The header announces 1 MiB: refused before it is buffered.
	write(t, c, mp().arr(3).str("app").raw(0xc6).be32(1<<20))
	waitClosed(t, c, 10*time.Second)
	h.logs.waitLog(t, `"reason":"over_limit"`, "request size")
	if st := h.srv.Stats(); st.Closed[ReasonLimit] != 2 || st.Records != 0 {
		t.Errorf("stats: %+v", st)
	}
}

// TestServerTimeouts: an unfinished request is cut after ReadTimeout, a
// silent connection after IdleTimeout.
func TestServerTimeouts(t *testing.T) {
	h := startServer(t, ServerConfig{ReadTimeout: 200 * time.Millisecond, IdleTimeout: 400 * time.Millisecond}, testPipeline)
	slow := h.dial(t)
	write(t, slow, msg("app", t0, mp().mapStr("msg", "x"), nil)[:5])
	start := time.Now()
	waitClosed(t, slow, 10*time.Second)
	if d := time.Since(start); d < 150*time.Millisecond {
		t.Errorf("closed after %s, want about 200ms", d)
	}
	h.logs.waitLog(t, `"reason":"read_timeout"`)
	idle := h.dial(t)
	write(t, idle, msg("app", t0, mp().mapStr("msg", "x"), nil))
	h.sink.waitDocs(t, 1)
	waitClosed(t, idle, 10*time.Second)
	h.logs.waitLog(t, `"reason":"idle_timeout"`)
}

// TestServerClientClosesMidRequest: the bytes of an unfinished request are
// dropped with a logged reason; the complete requests before it are shipped.
func TestServerClientClosesMidRequest(t *testing.T) {
	h := startServer(t, ServerConfig{}, testPipeline)
	c := h.dial(t)
	full := msg("app", t0, mp().mapStr("msg", "whole"), nil)
	write(t, c, append(full, full[:6]...))
	c.Close()
	docs := h.sink.waitDocs(t, 1)
	h.logs.waitLog(t, `"reason":"truncated"`)
	if len(docs) != 1 {
		t.Fatalf("got %v", docs)
	}
}

// TestServerDockerPartials: Docker's 16 KiB pieces are joined into one
// document, parsed like a stdin line; a line whose last piece never comes is
// shipped after PartialTimeout.
func TestServerDockerPartials(t *testing.T) {
	// Long enough for the pieces to come one after the other on a busy
	// machine (with 100 ms, a loaded CI run shipped the first piece alone).
	h := startServer(t, ServerConfig{PartialTimeout: time.Second}, testPipeline)
	c := h.dial(t)
	line := `{"msg":"` + strings.Repeat("a", 16384) + strings.Repeat("b", 16384) + `","level":"info"}`
	piece := func(log, ordinal, last string) menc {
		return msg("docker.web", t0, mp().mapStr("container_id", containerID, "container_name", "/web", "source", "stdout",
			"log", log, "partial_message", "true", "partial_id", "p1", "partial_ordinal", ordinal, "partial_last", last),
			mp().mapStr("chunk", "c"+ordinal))
	}
	write(t, c, piece(line[:16384], "1", "false"))
	// Docker with fluentd-request-ack waits for each piece's ack: held
	// pieces are acknowledged at once.
	readAck(t, c, "c1", 10*time.Second)
	write(t, c, piece(line[16384:32768], "2", "false"))
	readAck(t, c, "c2", 10*time.Second)
	write(t, c, piece(line[32768:], "3", "true"))
	readAck(t, c, "c3", 10*time.Second)
	docs := h.sink.waitDocs(t, 1)
	if m, _ := docs[0].fields["message"].(string); len(m) != 32768 || docs[0].fields["log.level"] != "info" ||
		docs[0].fields["container.name"] != "web" {
		t.Fatalf("joined: got %d bytes of message, fields %v", len(m), docs[0].fields["log.level"])
	}
	// The stream ends mid-line: no partial_last "true" ever comes.
	write(t, c, msg("docker.web", t0, mp().mapStr("container_id", containerID, "source", "stdout",
		"log", "cut", "partial_message", "true", "partial_id", "p2", "partial_ordinal", "1", "partial_last", "false"), nil))
	docs = h.sink.waitDocs(t, 2)
	if docs[1].fields["message"] != "cut" {
		t.Fatalf("incomplete line: got %v", docs[1].fields)
	}
	if st := h.srv.Stats(); st.Joined != 1 || st.Incomplete != 1 {
		t.Errorf("Joined, Incomplete: got %d, %d, want 1, 1", st.Joined, st.Incomplete)
	}
}

// TestServerMaxLineBytes: a long log line is truncated and flagged.
func TestServerMaxLineBytes(t *testing.T) {
	h := startServer(t, ServerConfig{MaxLineBytes: 1024}, testPipeline)
	c := h.dial(t)
	write(t, c, msg("docker", t0, mp().mapStr("container_id", containerID, "source", "stdout", "log", strings.Repeat("é", 1000)), nil))
	write(t, c, msg("app", t0, mp().mapStr("msg", strings.Repeat("x", 2000)), nil))
	docs := h.sink.waitDocs(t, 2)
	// The record's JSON, cut, is no longer JSON.
	for i, want := range []string{"[truncated]", "[truncated json_parse_failure]"} {
		if got := fmt.Sprint(docs[i].fields["log.flags"]); got != want {
			t.Errorf("doc %d: log.flags %v, want %s", i, got, want)
		}
	}
	if docs[0].fields["log.original_size"] != 2000.0 || docs[0].fields["message"] != strings.Repeat("é", 512) {
		t.Errorf("doc 0: %v", docs[0].raw[:200])
	}
}

// TestServerBackpressure: with the pipeline full the server stops reading, so
// the client's writes block (TCP flow control); nothing is lost once the
// sink resumes.
func TestServerBackpressure(t *testing.T) {
	pcfg := pipeline.Config{MaxBytes: 8 << 10, BatchBytes: 4 << 10, FlushInterval: 5 * time.Millisecond}
	h := startServer(t, ServerConfig{}, pcfg)
	h.sink.setHold(true)
	c := h.dial(t)
	one := msg("app", t0, mp().mapStr("msg", strings.Repeat("x", 1000)), nil)
	sent := 0
	blocked := false
	for i := 0; i < 100000; i++ {
		_ = c.SetWriteDeadline(time.Now().Add(300 * time.Millisecond))
		if _, err := c.Write(one); err != nil {
			var ne net.Error
			if !errors.As(err, &ne) || !ne.Timeout() {
				t.Fatal(err)
			}
			blocked = true
			break
		}
		sent++
	}
	if !blocked {
		t.Fatalf("wrote %d records without blocking", sent)
	}
	if got := len(h.sink.all()); got >= sent {
		t.Fatalf("all %d records queued while the sink was blocked", got)
	}
	if st := h.pipe.Stats(); st.Waits == 0 {
		t.Errorf("pipeline waits: 0, want some")
	}
	// The write that timed out may have been partly written: finish the
	// stream with a request the server can frame after it.
	h.sink.setHold(false)
	c.Close()
	deadline := time.Now().Add(20 * time.Second)
	for len(h.sink.all()) < sent && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if got := len(h.sink.all()); got < sent {
		t.Fatalf("got %d records, want at least the %d fully written", got, sent)
	}
}

// TestServerGracefulStop: requests read before the stop are delivered and
// acked before the connection closes; nothing more is read.
func TestServerGracefulStop(t *testing.T) {
	h := startServer(t, ServerConfig{}, testPipeline)
	h.sink.setHold(true)
	c := h.dial(t)
	write(t, c, msg("app", t0, mp().mapStr("msg", "before"), mp().mapStr("chunk", "k1")))
	h.sink.waitDocs(t, 1)
	h.cancel()
	if err := <-h.runErr; !errors.Is(err, context.Canceled) {
		t.Fatalf("Run: %v", err)
	}
	h.runErr <- context.Canceled // for the cleanup's stop
	// Not read any more.
	_, _ = c.Write(msg("app", t0, mp().mapStr("msg", "after"), mp().mapStr("chunk", "k2")))
	drained := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		drained <- h.srv.Drain(ctx)
	}()
	select {
	case err := <-drained:
		t.Fatalf("Drain returned %v with a batch unacknowledged", err)
	case <-time.After(200 * time.Millisecond):
	}
	h.sink.setHold(false)
	readAck(t, c, "k1", 10*time.Second)
	if err := <-drained; err != nil {
		t.Fatalf("Drain: %v", err)
	}
	waitClosed(t, c, 10*time.Second)
	if docs := h.sink.all(); len(docs) != 1 {
		t.Errorf("got %d documents, want 1", len(docs))
	}
}

// TestServerDrainDeadline: Drain gives up at its deadline and closes the
// connections.
func TestServerDrainDeadline(t *testing.T) {
	h := startServer(t, ServerConfig{}, testPipeline)
	h.sink.setHold(true)
	c := h.dial(t)
	write(t, c, msg("app", t0, mp().mapStr("msg", "x"), mp().mapStr("chunk", "k")))
	h.sink.waitDocs(t, 1)
	h.cancel()
	<-h.runErr
	h.runErr <- context.Canceled
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := h.srv.Drain(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Drain: got %v, want DeadlineExceeded", err)
	}
	waitClosed(t, c, 5*time.Second)
}

// TestServerUnixSocketAndHeartbeat: the unix socket serves requests; UDP
// heartbeats on the TCP port get 0x00 back; TCP nil heartbeats get nothing.
func TestServerUnixSocketAndHeartbeat(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "fluent.sock")
	h := startServer(t, ServerConfig{Address: "127.0.0.1:0", SocketPath: sock, UDPHeartbeat: true}, testPipeline)
	u, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	write(t, u, []byte{0xc0})
	write(t, u, msg("app", t0, mp().mapStr("msg", "unix"), mp().mapStr("chunk", "u")))
	readAck(t, u, "u", 10*time.Second)

	if got, want := h.srv.UDPAddr().(*net.UDPAddr).Port, h.srv.Addr().(*net.TCPAddr).Port; got != want {
		t.Fatalf("UDP port %d, TCP port %d", got, want)
	}
	pc, err := net.Dial("udp", h.srv.UDPAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	if _, err := pc.Write([]byte{0}); err != nil {
		t.Fatal(err)
	}
	_ = pc.SetReadDeadline(time.Now().Add(10 * time.Second))
	var b [8]byte
	if n, err := pc.Read(b[:]); err != nil || n != 1 || b[0] != 0 {
		t.Fatalf("heartbeat answer: %x, %v", b[:n], err)
	}
}

// TestServerOpenWarning: listening on every interface without shared key or
// TLS is logged.
func TestServerOpenWarning(t *testing.T) {
	for _, tc := range []struct {
		addr     string
		key      string
		insecure bool
		refused  bool
		warn     bool
	}{
		{"0.0.0.0:0", "", false, true, false},
		{":0", "", false, true, false},
		{"[::]:0", "", false, true, false},
		{"0.0.0.0:0", "", true, false, true},
		{"[::]:0", "", true, false, true},
		{"0.0.0.0:0", "secret", false, false, false},
		{"127.0.0.1:0", "", false, false, false},
		{"localhost:0", "", false, false, false},
	} {
		var logs syncBuffer
		pipe := pipeline.New(testPipeline)
		srv, err := NewServer(ServerConfig{Address: tc.addr, SharedKey: tc.key, Insecure: tc.insecure, Dataset: "x", Namespace: "y"}, pipe, zerolog.New(&logs))
		if tc.refused {
			if err == nil || !strings.Contains(err.Error(), "--forward-insecure") {
				t.Errorf("%s: got %v, want a refusal naming --forward-insecure", tc.addr, err)
			}
			if srv != nil {
				srv.Close()
			}
			continue
		}
		if err != nil {
			t.Logf("%s: %v (skipped)", tc.addr, err)
			continue
		}
		srv.Close()
		if got := strings.Contains(logs.String(), "neither a shared key nor TLS"); got != tc.warn {
			t.Errorf("%s key=%q: warning %v, want %v; log: %s", tc.addr, tc.key, got, tc.warn, logs.String())
		}
	}
}

// TestServerSmallReads: requests split over many reads and several per read
// decode the same.
func TestServerSmallReads(t *testing.T) {
	h := startServer(t, ServerConfig{}, testPipeline)
	c := h.dial(t)
	var stream []byte
	const n = 300
	for i := 0; i < n; i++ {
		stream = append(stream, msg("app", t0, mp().mapStr("msg", fmt.Sprint(i), "pad", strings.Repeat("p", i*37%5000)), nil)...)
	}
	for len(stream) > 0 {
		k := min(len(stream), 1+len(stream)%7919)
		write(t, c, stream[:k])
		stream = stream[k:]
	}
	docs := h.sink.waitDocs(t, n)
	for i, d := range docs {
		if d.fields["message"] != fmt.Sprint(i) {
			t.Fatalf("doc %d: %v", i, d.fields["message"])
		}
	}
}

func testLogger() zerolog.Logger { return zerolog.Nop() }

// TestServerOneBatchPerRead: the requests that one read brings (Docker's
// driver sends a request per record) go into one batch, with one mark for
// their acks (the last one's: batches are acknowledged in order), and every
// ack is written once its records are delivered: with the pipeline idle, a
// batch sealed per request held one record.
func TestServerOneBatchPerRead(t *testing.T) {
	pipe := pipeline.New(pipeline.Config{MaxBytes: 64 << 20, BatchBytes: 5 << 20, FlushInterval: time.Minute, SealWhenIdle: true})
	sizes, marks := make(chan int, 100), make(chan int, 100)
	release := make(chan struct{})
	go func() {
		for bt := range pipe.Batches() {
			sizes <- len(bt.Items)
			marks <- len(bt.Marks)
			<-release
			bt.Done()
		}
	}()
	srv, err := NewServer(ServerConfig{Address: "127.0.0.1:0", Dataset: "t", Namespace: "default", RunID: 1}, pipe, testLogger())
	if err != nil {
		t.Fatal(err)
	}
	ours, theirs := net.Pipe()
	acks := make(chan []byte, 1)
	go func() { b, _ := io.ReadAll(theirs); acks <- b }()
	c := srv.newConn(ours)
	c.queueCtx = context.Background()
	srv.register(c)
	srv.serving.Add(1)
	const n = 100
	var stream, wantAcks []byte
	for i := 0; i < n; i++ {
		rec := mp().mapStr("container_id", containerID, "container_name", "/web-1", "source", "stdout", "log", fmt.Sprint("line ", i))
		opt := mp().mapH(0)
		if i%10 == 9 {
			opt = mp().mapStr("chunk", fmt.Sprint("c", i))
			wantAcks = AppendAck(wantAcks, []byte(fmt.Sprint("c", i)))
		}
		stream = append(stream, msg("docker.web", t0, rec, opt)...)
	}
	c.buf, c.r, c.w = stream, 0, len(stream)
	if err := c.process(); err != nil || c.r != c.w {
		t.Fatalf("process: %v, %d of %d bytes", err, c.r, c.w)
	}
	if got, m := <-sizes, <-marks; got != n || m != 1 {
		t.Fatalf("first batch: %d records, %d marks; want %d, 1 (the connection's last request)", got, m, n)
	}
	if _, ready := c.acks.full(); ready || !c.acks.empty() && c.acks.ring[c.acks.head].ready {
		t.Fatalf("an ack is ready before its records are delivered")
	}
	close(release)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.pr.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	c.buf = c.small[:]
	c.acks.finish()
	<-c.writerDone
	c.close()
	if got := <-acks; string(got) != string(wantAcks) {
		t.Fatalf("acks %q, want %q", got, wantAcks)
	}
	srv.serving.Done()
	srv.Close()
	pipe.Close()
}

// TestAckQueueResolve: resolving a request makes it and every request queued
// before it ready, whether those were pushed ready or not, and nothing after
// it; unknown numbers change nothing.
func TestAckQueueResolve(t *testing.T) {
	q := ackQueue{wake: make(chan struct{}, 1), room: make(chan struct{}, 1)}
	var seqs []uint32
	for i, ready := range []bool{false, true, false, false, false} {
		seq, err := q.push([]byte(fmt.Sprint("c", i)), ready)
		if err != nil {
			t.Fatal(err)
		}
		seqs = append(seqs, seq)
	}
	q.resolve(seqs[4] + 10)
	if out, n, _ := q.take(nil, false); n != 0 {
		t.Fatalf("unknown number: %d acks %q", n, out)
	}
	q.resolve(seqs[3])
	out, n, _ := q.take(nil, false)
	var want []byte
	for i := 0; i < 4; i++ {
		want = AppendAck(want, []byte(fmt.Sprint("c", i)))
	}
	if n != 4 || string(out) != string(want) {
		t.Fatalf("got %d acks %q, want 4 %q", n, out, want)
	}
	q.resolve(seqs[2]) // taken already
	if out, n, _ := q.take(nil, false); n != 0 {
		t.Fatalf("after resolving a taken one: %d acks %q", n, out)
	}
	q.resolve(seqs[4])
	if _, n, _ := q.take(nil, false); n != 1 {
		t.Fatalf("last: %d acks, want 1", n)
	}
}

// TestServerDockerFieldsAcrossConnections: two connections, each with a
// container of its own, take turns; each remembers its fields, and the
// parser they share must use each record's own: the record's own
// container.name is moved aside only where the fields have one.
func TestServerDockerFieldsAcrossConnections(t *testing.T) {
	h := startServer(t, ServerConfig{}, testPipeline)
	conns := []net.Conn{h.dial(t), h.dial(t)}
	const rounds = 20
	for i := 0; i < rounds; i++ {
		for k, c := range conns {
			id := fmt.Sprintf("container-%d", k)
			kv := []string{"container_id", id, "source", "stdout", "log", fmt.Sprintf(`{"msg":"%s %d","container.name":"own"}`, id, i)}
			if k == 0 {
				kv = append(kv, "container_name", "/"+id)
			}
			write(t, c, msg("docker.web", t0, mp().mapStr(kv...), nil))
			// The other connection's record is encoded before this
			// one's next.
			h.sink.waitDocs(t, 2*i+k+1)
		}
	}
	for _, d := range h.sink.waitDocs(t, 2*rounds) {
		m, _ := d.fields["message"].(string)
		name, moved := "own", any(nil)
		if strings.HasPrefix(m, "container-0 ") {
			name, moved = "container-0", "own"
		}
		if d.fields["container.name"] != name || d.fields["container.name_original"] != moved {
			t.Fatalf("record %q: container.name %v, container.name_original %v, want %v, %v\n%s",
				m, d.fields["container.name"], d.fields["container.name_original"], name, moved, d.raw)
		}
	}
}
