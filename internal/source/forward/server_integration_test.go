//go:build integration

package forward

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fluent/fluent-logger-golang/fluent"
	"github.com/rs/zerolog"

	"shipper/internal/pipeline"
	es "shipper/internal/sink/elasticsearch"
	"shipper/internal/testutil/estest"
)

// esServer is a Server shipping into the real Elasticsearch through the real
// sink.
type esServer struct {
	srv    *Server
	sink   *es.Sink
	pipe   *pipeline.Pipeline
	stream string // logs-<dataset>-default
	logs   *syncBuffer
	stop   func()
}

// startESServer runs a Server whose sink writes to sinkURL (the real node, or
// a proxy in front of it), into a data stream of its own.
func startESServer(t *testing.T, sinkURL string, cfg ServerConfig) *esServer {
	t.Helper()
	esURL := estest.URL(t)
	logs := &syncBuffer{}
	log := zerolog.New(logs)
	// The shipper's templates make logs-*-* data streams with date_nanos
	// @timestamp; install them when missing, as 'shipper run' does.
	setup, err := es.New(es.Config{URLs: []string{esURL}}, log)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := setup.EnsureTemplates(ctx); err != nil {
		t.Fatalf("templates: %v", err)
	}
	sink, err := es.New(es.Config{URLs: []string{sinkURL}, Workers: 2, RetryInitial: 50 * time.Millisecond,
		RetryMax: 500 * time.Millisecond, RequestTimeout: 30 * time.Second, DeadLetterIndex: "logs-shipper.deadletter-fwdtest"}, log)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Address = "127.0.0.1:0"
	cfg.Dataset, cfg.Namespace = estest.Unique("fwd"), "default"
	cfg.Hostname = "shipper-it"
	pipe := pipeline.New(pipeline.Config{MaxBytes: 16 << 20, BatchBytes: 1 << 20, FlushInterval: 200 * time.Millisecond})
	srv, err := NewServer(cfg, pipe, log)
	if err != nil {
		t.Fatal(err)
	}
	e := &esServer{srv: srv, sink: sink, pipe: pipe, stream: "logs-" + cfg.Dataset + "-default", logs: logs}
	runCtx, stopRun := context.WithCancel(context.Background())
	sinkCtx, stopSink := context.WithCancel(context.Background())
	runDone, sinkDone := make(chan error, 1), make(chan error, 1)
	go func() { sinkDone <- sink.Run(sinkCtx, pipe.Batches()) }()
	go func() { runDone <- srv.Run(runCtx, context.Background()) }()
	var once sync.Once
	e.stop = func() {
		once.Do(func() {
			stopRun()
			<-runDone
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := srv.Drain(ctx); err != nil {
				t.Errorf("Drain: %v", err)
			}
			pipe.Close()
			select {
			case <-sinkDone:
			case <-time.After(30 * time.Second):
				t.Errorf("sink did not stop")
			}
			stopSink()
		})
	}
	t.Cleanup(e.stop)
	return e
}

func (e *esServer) port() int { return e.srv.Addr().(*net.TCPAddr).Port }

// esDoc is a document as Elasticsearch returns it: its _source, and
// @timestamp as Elasticsearch parsed it, with nanoseconds.
type esDoc struct {
	ID     string
	Source map[string]any
	Stamp  string
}

// search returns every document of the stream, refreshed, sorted by
// @timestamp then seq.
func (e *esServer) search(t *testing.T) []esDoc {
	t.Helper()
	estest.Refresh(t, e.stream)
	b := estest.MustDo(t, "POST", "/"+url.PathEscape(e.stream)+"/_search",
		`{"size":10000,"sort":[{"@timestamp":"asc"},{"seq":{"order":"asc","unmapped_type":"double"}}],`+
			`"docvalue_fields":[{"field":"@timestamp","format":"strict_date_optional_time_nanos"}]}`)
	var r struct {
		Hits struct {
			Hits []struct {
				ID     string              `json:"_id"`
				Source map[string]any      `json:"_source"`
				Fields map[string][]string `json:"fields"`
			} `json:"hits"`
		} `json:"hits"`
	}
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("search: %v", err)
	}
	out := make([]esDoc, 0, len(r.Hits.Hits))
	for _, h := range r.Hits.Hits {
		d := esDoc{ID: h.ID, Source: h.Source}
		if ts := h.Fields["@timestamp"]; len(ts) == 1 {
			d.Stamp = ts[0]
		}
		out = append(out, d)
	}
	return out
}

// count returns the documents of the stream matching query (refreshed).
func (e *esServer) count(t *testing.T, query string) int {
	t.Helper()
	estest.Refresh(t, e.stream)
	return estest.Count(t, e.stream, query)
}

// countSoFar is count for waitCount: a 503 (the shard of a data stream
// just created not started yet, on a busy machine) counts as none so far.
func (e *esServer) countSoFar(t *testing.T) int {
	t.Helper()
	path := "/" + url.PathEscape(e.stream)
	if st, b := estest.Do(t, "POST", path+"/_refresh?ignore_unavailable=true&allow_no_indices=true", ""); st == 503 {
		return 0
	} else if st/100 != 2 {
		t.Fatalf("refresh %s: HTTP %d: %s", e.stream, st, b)
	}
	st, b := estest.Do(t, "POST", path+"/_count?ignore_unavailable=true&allow_no_indices=true", "")
	if st == 503 {
		return 0
	}
	var r struct {
		Count *int `json:"count"`
	}
	if err := json.Unmarshal(b, &r); st/100 != 2 || err != nil || r.Count == nil {
		t.Fatalf("_count on %s: HTTP %d: %s (%v)", e.stream, st, b, err)
	}
	return *r.Count
}

// waitCount waits until the stream holds n documents.
func (e *esServer) waitCount(t *testing.T, n int) {
	t.Helper()
	// Up to 10 minutes, saying every 30s how far it got: a busy machine
	// makes this slower, not red.
	start, last := time.Now(), time.Now()
	deadline := start.Add(10 * time.Minute)
	got := 0
	for time.Now().Before(deadline) {
		if got = e.countSoFar(t); got >= n {
			return
		}
		if time.Since(last) >= 30*time.Second {
			t.Logf("%s holds %d of %d documents after %s; waiting", e.stream, got, n, time.Since(start).Round(time.Second))
			last = time.Now()
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("%s holds %d documents after %s, want %d", e.stream, got, time.Since(start).Round(time.Second), n)
}

// sameTime reports whether stamp, a date_nanos as Elasticsearch prints it
// with strict_date_optional_time_nanos, is tm to the nanosecond.
func sameTime(stamp string, tm time.Time) bool {
	got, err := time.Parse(time.RFC3339Nano, stamp)
	return err == nil && got.Equal(tm)
}

// TestIntegrationFluentLoggerGolang: fluent-logger-golang configured as
// Docker's fluentd driver (sync and async, with and without RequestAck,
// SubSecondPrecision) → every record in Elasticsearch with its nanosecond
// @timestamp and its fields.
func TestIntegrationFluentLoggerGolang(t *testing.T) {
	for _, mode := range []struct {
		name       string
		async, ack bool
	}{{"sync", false, false}, {"sync+ack", false, true}, {"async", true, false}, {"async+ack", true, true}} {
		t.Run(mode.name, func(t *testing.T) {
			e := startESServer(t, estest.URL(t), ServerConfig{})
			cfg := dockerLoggerConfig(e.port(), mode.async, mode.ack)
			var ok atomic.Int64
			cfg.AsyncResultCallback = func(_ []byte, err error) {
				if err == nil {
					ok.Add(1)
				}
			}
			logger, err := fluent.New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			const n = 300
			base := time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)
			stamp := func(i int) time.Time { return base.Add(time.Duration(i)*time.Millisecond + time.Duration(i)*7 + 1) }
			for i := 0; i < n; i++ {
				rec := map[string]string{
					"container_id": containerID, "container_name": "/orders-1", "source": []string{"stdout", "stderr"}[i%2],
					"com.example.team": "payments",
				}
				if i%3 == 0 {
					rec["log"] = fmt.Sprintf("plain line %d\r", i)
				} else {
					rec["log"] = fmt.Sprintf(`{"level":"WARN","msg":"json line %d","seq":%d,"http":{"request":{"method":"GET"}}}`, i, i)
				}
				if err := logger.PostWithTime("docker.orders", stamp(i), rec); err != nil {
					t.Fatalf("post %d: %v", i, err)
				}
			}
			e.waitCount(t, n)
			if mode.async {
				deadline := time.Now().Add(5 * time.Minute)
				for ok.Load() < n && time.Now().Before(deadline) {
					time.Sleep(10 * time.Millisecond)
				}
				if ok.Load() != n {
					t.Errorf("async writes acknowledged: %d, want %d", ok.Load(), n)
				}
			}
			logger.Close()
			docs := e.search(t)
			if len(docs) != n {
				t.Fatalf("got %d documents, want %d", len(docs), n)
			}
			for i, d := range docs {
				s := d.Source
				want := map[string]any{
					"container.id": containerID, "container.name": "orders-1", "stream": []string{"stdout", "stderr"}[i%2],
					"fluent.tag": "docker.orders", "labels.com.example.team": "payments", "input.type": "forward",
				}
				if i%3 == 0 {
					want["message"] = fmt.Sprintf("plain line %d", i)
				} else {
					want["message"], want["log.level"], want["seq"] = fmt.Sprintf("json line %d", i), "warn", float64(i)
				}
				for k, v := range want {
					if s[k] != v {
						t.Errorf("doc %d: %s = %v, want %v", i, k, s[k], v)
					}
				}
				if !sameTime(d.Stamp, stamp(i)) || s["@timestamp"] != stamp(i).Format(time.RFC3339Nano) {
					t.Errorf("doc %d: @timestamp %s (source %v), want %s", i, d.Stamp, s["@timestamp"], stamp(i).Format(time.RFC3339Nano))
				}
				if i%3 != 0 && fmt.Sprint(s["http"]) != "map[request:map[method:GET]]" {
					t.Errorf("doc %d: http %v", i, s["http"])
				}
			}
			if st := e.srv.Stats(); mode.ack && st.Acks != n {
				t.Errorf("acks: got %d, want %d", st.Acks, n)
			}
		})
	}
}

// TestIntegrationPythonFluentLogger: python3-fluent-logger's sender →
// every record with its sub-second time.
func TestIntegrationPythonFluentLogger(t *testing.T) {
	py, err := pythonWithFluent()
	if err != nil {
		msg := "python3 with the fluent module (Debian python3-fluent-logger) not available: " + err.Error()
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	e := startESServer(t, estest.URL(t), ServerConfig{})
	// Floats as the sender's users pass them (EventTime keeps their
	// nanoseconds as well as a float can), and one exact EventTime.
	script := fmt.Sprintf(`
import sys, struct, msgpack
from fluent import sender
s = sender.FluentSender('py', host='127.0.0.1', port=%d, nanosecond_precision=True)
for i in range(100):
    if not s.emit_with_time('app', 1700000000 + i * 0.001000003, {'message': 'py %%d' %% i, 'seq': i, 'level': 'info', 'nested': {'k': ['x', 'a'], 'n': 1}}):
        print(s.last_error, file=sys.stderr); sys.exit(1)
exact = msgpack.ExtType(0, struct.pack('>II', 1700000050, 123456789))
if not s.emit_with_time('exact', exact, {'message': 'py exact', 'seq': 100}):
    print(s.last_error, file=sys.stderr); sys.exit(1)
s.close()
s = sender.FluentSender('py', host='127.0.0.1', port=%d)
if not s.emit_with_time('sec', 1700000100, {'message': 'py whole seconds', 'seq': 101}):
    print(s.last_error, file=sys.stderr); sys.exit(1)
s.close()
`, e.port(), e.port())
	if out, err := exec.Command(py, "-c", script).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v: %s", py, err, out)
	}
	e.waitCount(t, 102)
	docs := e.search(t)
	if len(docs) != 102 {
		t.Fatalf("got %d documents", len(docs))
	}
	for i, d := range docs[:100] {
		s := d.Source
		// EventTime packs float seconds as (int, int(frac*1e9)): allow
		// the float's rounding.
		got, err := time.Parse(time.RFC3339Nano, d.Stamp)
		want := time.Unix(0, 1700000000*1e9+int64(i)*1000003)
		if err != nil || got.Sub(want).Abs() > time.Microsecond || s["message"] != fmt.Sprintf("py %d", i) ||
			s["seq"] != float64(i) || s["log.level"] != "info" || s["fluent.tag"] != "py.app" ||
			fmt.Sprint(s["nested"]) != "map[k:[x a] n:1]" {
			t.Errorf("doc %d: %v @timestamp %s, want %s", i, s, d.Stamp, want.UTC().Format(time.RFC3339Nano))
		}
		if prev, _ := time.Parse(time.RFC3339Nano, docs[max(i-1, 0)].Stamp); i > 0 && !got.After(prev) {
			t.Errorf("doc %d: @timestamp %s not after %s: sub-second precision lost", i, d.Stamp, docs[i-1].Stamp)
		}
	}
	if d := docs[100]; !sameTime(d.Stamp, time.Unix(1700000050, 123456789)) || d.Source["fluent.tag"] != "py.exact" {
		t.Errorf("exact EventTime: %v %s", d.Source, d.Stamp)
	}
	if d := docs[101]; !sameTime(d.Stamp, time.Unix(1700000100, 0)) || d.Source["fluent.tag"] != "py.sec" {
		t.Errorf("whole seconds: %v %s", d.Source, d.Stamp)
	}
}

// TestIntegrationAckAfterSearchable: fluent-logger-golang in sync RequestAck
// mode gets each ack only once its document is in Elasticsearch: right after
// Post returns, the document is found.
func TestIntegrationAckAfterSearchable(t *testing.T) {
	e := startESServer(t, estest.URL(t), ServerConfig{})
	logger, err := fluent.New(dockerLoggerConfig(e.port(), false, true))
	if err != nil {
		t.Fatal(err)
	}
	defer logger.Close()
	for i := 0; i < 10; i++ {
		start := time.Now()
		if err := logger.Post("app", map[string]any{"msg": "acked", "seq": i}); err != nil {
			t.Fatal(err)
		}
		took := time.Since(start)
		if got := e.count(t, fmt.Sprintf(`{"term":{"seq":%d}}`, i)); got != 1 {
			t.Fatalf("record %d: acknowledged after %s but %d documents found", i, took, got)
		}
	}
}

// toggleProxy forwards TCP connections to target while up; while down it
// closes them at once, as a stopped Elasticsearch would refuse them.
type toggleProxy struct {
	ln     net.Listener
	target string
	up     atomic.Bool
	mu     sync.Mutex
	conns  map[net.Conn]bool
}

func newToggleProxy(t *testing.T, target string) *toggleProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &toggleProxy{ln: ln, target: target, conns: map[net.Conn]bool{}}
	t.Cleanup(func() { ln.Close(); p.set(false) })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			if !p.up.Load() {
				c.Close()
				continue
			}
			go p.pipe(c)
		}
	}()
	return p
}

func (p *toggleProxy) url() string { return "http://" + p.ln.Addr().String() }

func (p *toggleProxy) pipe(c net.Conn) {
	up, err := net.Dial("tcp", p.target)
	if err != nil {
		c.Close()
		return
	}
	p.mu.Lock()
	p.conns[c], p.conns[up] = true, true
	p.mu.Unlock()
	go func() { _, _ = io.Copy(up, c); up.Close() }()
	_, _ = io.Copy(c, up)
	c.Close()
	p.mu.Lock()
	delete(p.conns, c)
	delete(p.conns, up)
	p.mu.Unlock()
}

// set brings the proxy up or down; going down cuts the open connections.
func (p *toggleProxy) set(up bool) {
	p.up.Store(up)
	if up {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		c.Close()
	}
}

// TestIntegrationElasticsearchDown: while Elasticsearch cannot be reached no
// ack is sent; once it is back, every record is indexed exactly once and
// every ack arrives, in order.
func TestIntegrationElasticsearchDown(t *testing.T) {
	u, err := url.Parse(estest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	proxy := newToggleProxy(t, u.Host)
	e := startESServer(t, proxy.url(), ServerConfig{})

	// A raw client that pipelines chunked requests, as Fluentd's
	// out_forward with require_ack_response does.
	c, err := net.Dial("tcp", e.srv.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	const n = 50
	for i := 0; i < n; i++ {
		write(t, c, msg("app", t0+int64(i), mp().mapH(2).str("msg").str("while down").str("seq").int(int64(i)),
			mp().mapStr("chunk", fmt.Sprintf("chunk-%03d", i))))
	}
	// And Docker's driver: async, RequestAck, no read timeout.
	logger, err := fluent.New(dockerLoggerConfig(e.port(), true, true))
	if err != nil {
		t.Fatal(err)
	}
	for i := n; i < 2*n; i++ {
		if err := logger.Post("docker", map[string]string{"container_id": containerID, "source": "stdout",
			"log": fmt.Sprintf(`{"msg":"docker while down","seq":%d}`, i)}); err != nil {
			t.Fatal(err)
		}
	}
	noAck(t, c, 3*time.Second)
	if got := estest.Count(t, e.stream, ""); got != 0 {
		t.Fatalf("%d documents indexed while Elasticsearch was unreachable", got)
	}
	if st := e.sink.Stats(); st.Failures == 0 {
		t.Errorf("sink failures: 0; was the proxy really down?")
	}
	proxy.set(true)
	for i := 0; i < n; i++ {
		readAck(t, c, fmt.Sprintf("chunk-%03d", i), 60*time.Second)
	}
	e.waitCount(t, 2*n)
	logger.Close()
	docs := e.search(t)
	seen := map[float64]int{}
	for _, d := range docs {
		seen[d.Source["seq"].(float64)]++
	}
	var missing, dup []int
	for i := 0; i < 2*n; i++ {
		switch seen[float64(i)] {
		case 0:
			missing = append(missing, i)
		case 1:
		default:
			dup = append(dup, i)
		}
	}
	if len(missing)+len(dup) > 0 || len(docs) != 2*n {
		t.Fatalf("%d documents; missing %v, duplicated %v", len(docs), missing, dup)
	}
}

// TestIntegrationResendAfterLostAck: a request sent again with its chunk (a
// client that lost the ack) is acknowledged again without duplicating its
// documents: their ids come from the chunk, Elasticsearch answers 409.
func TestIntegrationResendAfterLostAck(t *testing.T) {
	e := startESServer(t, estest.URL(t), ServerConfig{})
	entries := mp()
	const n = 20
	for i := 0; i < n; i++ {
		entries = entries.arr(2).eventTime(t0, uint32(i)).mapH(2).str("msg").str("packed").str("seq").int(int64(i))
	}
	req := mp().arr(3).str("fluentd").bin(gzipBytes(entries)).mapStr("compressed", "gzip", "chunk", "p8n9gmxTQVC8/nh2wlKKeQ==")
	for attempt := 0; attempt < 2; attempt++ {
		c, err := net.Dial("tcp", e.srv.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		write(t, c, req)
		readAck(t, c, "p8n9gmxTQVC8/nh2wlKKeQ==", 60*time.Second)
		c.Close()
	}
	if got := e.count(t, ""); got != n {
		t.Fatalf("got %d documents, want %d", got, n)
	}
	st := e.sink.Stats()
	if st.Indexed != n || st.Duplicates != n {
		t.Errorf("sink: indexed %d, duplicates %d; want %d and %d", st.Indexed, st.Duplicates, n, n)
	}
	docs := e.search(t)
	ids := make([]string, len(docs))
	for i, d := range docs {
		ids[i] = d.ID
		if !sameTime(d.Stamp, time.Unix(t0, int64(i))) {
			t.Errorf("doc %d: @timestamp %s", i, d.Stamp)
		}
	}
	sort.Strings(ids)
	for i := 1; i < len(ids); i++ {
		if ids[i] == ids[i-1] {
			t.Errorf("id %s twice", ids[i])
		}
	}
}

// TestIntegrationSharedKeyTLS: a client completing the handshake over TLS
// gets its records into Elasticsearch.
func TestIntegrationSharedKeyTLS(t *testing.T) {
	pki := newTestPKI(t)
	e := startESServer(t, estest.URL(t), ServerConfig{SharedKey: "k", Users: []User{{"fluent", "bit"}},
		TLSCertFile: pki.certFile, TLSKeyFile: pki.keyFile})
	c, err := tls.Dial("tcp", e.srv.Addr().String(), &tls.Config{RootCAs: pki.pool})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if ok, reason := clientHandshake(t, c, "k", "fluent", "bit"); !ok {
		t.Fatalf("handshake refused: %s", reason)
	}
	write(t, c, msg("secure", t0, mp().mapStr("msg", "over tls with a key"), mp().mapStr("chunk", "s1")))
	readAck(t, c, "s1", 60*time.Second)
	if got := e.count(t, `{"match_phrase":{"message":"over tls with a key"}}`); got != 1 {
		t.Fatalf("got %d documents", got)
	}
}
