package elasticsearch

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"shipper/internal/encode"
	"shipper/internal/event"
	"shipper/internal/testutil/logbuf"
)

// Names used by the delivery tests.
const (
	testIndex = "logs-app-default"
	dlIndex   = "logs-shipper.deadletter-default"
)

// bulkItem is one item of a bulk request as the fake Elasticsearch read it.
type bulkItem struct {
	Index, ID   string // Index: the action's _index, or the request's default
	Named       bool   // the action line names its _index
	Action, Doc string // the lines, each with its '\n'
}

// bulkReq is one request received by the fake.
type bulkReq struct {
	At     time.Time
	Method string
	Path   string
	Query  url.Values
	Header http.Header
	Raw    []byte // the body as received
	Body   []byte // the body after gzip decoding
	Items  []bulkItem
}

// ids returns the _id of every item, in order.
func (r *bulkReq) ids() []string {
	out := make([]string, len(r.Items))
	for i, it := range r.Items {
		out[i] = it.ID
	}
	return out
}

// answer is what the fake replies to one request.
type answer struct {
	status int         // HTTP status; 0 means 200
	header http.Header // extra response headers
	body   string      // the response body; for a 2xx answer with no body, built from items
	items  []int       // per-item statuses for a 2xx answer; nil means 201 for all
	block  bool        // hold the request until the client gives up
}

// fakeES is an httptest server that speaks enough of the bulk API for the
// sink: it records every request and answers with what reply decides.
type fakeES struct {
	t   testing.TB
	srv *httptest.Server

	mu    sync.Mutex
	reqs  []*bulkReq
	reply func(n int, r *bulkReq) answer // n counts requests from 0; nil: all 201
	seen  chan struct{}                  // gets a value (without blocking) on every request
}

func newFakeES(t testing.TB, reply func(n int, r *bulkReq) answer) *fakeES {
	t.Helper()
	f := &fakeES{t: t, reply: reply, seen: make(chan struct{}, 1)}
	f.srv = httptest.NewServer(f)
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeES) URL() string { return f.srv.URL }

// requests returns a copy of the requests received so far.
func (f *fakeES) requests() []*bulkReq {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]*bulkReq(nil), f.reqs...)
}

func (f *fakeES) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	raw, err := io.ReadAll(r.Body)
	if err != nil {
		f.t.Errorf("fake Elasticsearch: cannot read request body: %v", err)
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	req := &bulkReq{At: time.Now(), Method: r.Method, Path: r.URL.Path, Query: r.URL.Query(), Header: r.Header.Clone(), Raw: raw, Body: raw}
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(bytes.NewReader(raw))
		if err == nil {
			req.Body, err = io.ReadAll(zr)
		}
		if err != nil {
			f.t.Errorf("fake Elasticsearch: request body is not gzip: %v", err)
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
	}
	if p, ok := strings.CutSuffix(r.URL.Path, "/_bulk"); ok {
		req.Items = f.splitItems(req.Body, strings.TrimPrefix(p, "/"))
	}
	f.mu.Lock()
	n := len(f.reqs)
	f.reqs = append(f.reqs, req)
	reply := f.reply
	f.mu.Unlock()
	select {
	case f.seen <- struct{}{}:
	default:
	}

	var a answer
	if reply != nil {
		a = reply(n, req)
	}
	if a.block {
		<-r.Context().Done()
		return
	}
	for k, vv := range a.header {
		for _, v := range vv {
			w.Header().Add(k, v)
		}
	}
	// go-elasticsearch refuses a 2xx answer without it.
	w.Header().Set("X-Elastic-Product", "Elasticsearch")
	w.Header().Set("Content-Type", "application/json")
	status := a.status
	if status == 0 {
		status = http.StatusOK
	}
	body := a.body
	if body == "" && status >= 200 && status < 300 && req.Items != nil {
		statuses := a.items
		if statuses == nil {
			statuses = make([]int, len(req.Items))
			for i := range statuses {
				statuses[i] = http.StatusCreated
			}
		}
		if len(statuses) != len(req.Items) {
			f.t.Errorf("fake Elasticsearch: test gave %d item statuses for %d items", len(statuses), len(req.Items))
		}
		body = itemsResponse(statuses...)
	}
	w.WriteHeader(status)
	io.WriteString(w, body)
}

// splitItems checks that body is well-formed NDJSON of create actions and
// documents, each with an index (its own or def, the request's default),
// and returns its items.
func (f *fakeES) splitItems(body []byte, def string) []bulkItem {
	if len(body) == 0 || body[len(body)-1] != '\n' {
		f.t.Errorf("fake Elasticsearch: bulk body does not end with a newline: %q", body)
		return nil
	}
	lines := strings.SplitAfter(string(body), "\n")
	lines = lines[:len(lines)-1] // the empty string after the last '\n'
	if len(lines)%2 != 0 {
		f.t.Errorf("fake Elasticsearch: bulk body has %d lines, want pairs", len(lines))
		return nil
	}
	items := make([]bulkItem, 0, len(lines)/2)
	for i := 0; i < len(lines); i += 2 {
		var act struct {
			Create *struct {
				Index string `json:"_index"`
				ID    string `json:"_id"`
			} `json:"create"`
		}
		if err := json.Unmarshal([]byte(lines[i]), &act); err != nil || act.Create == nil {
			f.t.Errorf("fake Elasticsearch: line %d is not a create action (%v): %q", i+1, err, lines[i])
			return nil
		}
		if !json.Valid([]byte(lines[i+1])) {
			f.t.Errorf("fake Elasticsearch: line %d is not a JSON document: %q", i+2, lines[i+1])
		}
		item := bulkItem{Index: act.Create.Index, ID: act.Create.ID, Named: act.Create.Index != "", Action: lines[i], Doc: lines[i+1]}
		if !item.Named {
			if def == "" {
				f.t.Errorf("fake Elasticsearch: line %d names no index, and the request has no default: %q", i+1, lines[i])
			}
			item.Index = def
		}
		items = append(items, item)
	}
	return items
}

// itemError is the error Elasticsearch gives an item with status.
func itemError(status int) string {
	switch status {
	case 400:
		return `{"type":"document_parsing_exception","reason":"[1:58] failed to parse field [status] of type [long] in document with id 'x'. Preview of field's value: 'ok'","caused_by":{"type":"illegal_argument_exception","reason":"For input string: \"ok\""}}`
	case 404:
		return `{"type":"index_not_found_exception","reason":"no such index [logs-app-default]"}`
	case 409:
		return `{"type":"version_conflict_engine_exception","reason":"[x]: version conflict, document already exists (current version [1])"}`
	case 429:
		return `{"type":"es_rejected_execution_exception","reason":"rejected execution of primary operation [coordinating_and_primary_bytes=0, replica_bytes=0, all_bytes=0, primary_operation_bytes=512, max_coordinating_and_primary_bytes=0]"}`
	case 503:
		return `{"type":"unavailable_shards_exception","reason":"[.ds-logs-app-default-2026.11.23-000001][0] primary shard is not active Timeout: [1m]"}`
	}
	return fmt.Sprintf(`{"type":"exception_%d","reason":"status %d"}`, status, status)
}

// itemsResponse builds the answer Elasticsearch gives with the sink's
// filter_path, for items with the given statuses.
func itemsResponse(statuses ...int) string {
	var b strings.Builder
	errs := false
	for _, s := range statuses {
		errs = errs || s >= 300
	}
	b.WriteString(`{"errors":` + strconv.FormatBool(errs) + `,"items":[`)
	for i, s := range statuses {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"create":{"status":%d`, s)
		if s >= 300 {
			b.WriteString(`,"error":` + itemError(s))
		}
		b.WriteString(`}}`)
	}
	b.WriteString(`]}`)
	return b.String()
}

// statusByItem answers 200 with the status decide gives each item.
func statusByItem(decide func(n int, it bulkItem) int) func(int, *bulkReq) answer {
	return func(n int, r *bulkReq) answer {
		st := make([]int, len(r.Items))
		for i, it := range r.Items {
			st[i] = decide(n, it)
		}
		return answer{items: st}
	}
}

// testBatch is a batch with its Done calls counted.
type testBatch struct {
	*event.Batch
	docs []string // the documents, without '\n'
	ids  []string
	done *atomic.Int32
}

// newBatch builds a batch of create items for testIndex; the ids are
// encode.AppendID(seed, i).
func newBatch(seed uint64, docs ...string) testBatch {
	return newBatchTo(seed, nil, docs...)
}

// newBatchTo is newBatch with the data stream of each document: testIndex
// for those beyond targets or given as "". The batch's default target is
// testIndex, so only the action lines for other streams name theirs.
func newBatchTo(seed uint64, targets []string, docs ...string) testBatch {
	b := &event.Batch{Index: testIndex}
	tb := testBatch{Batch: b, docs: docs, done: new(atomic.Int32)}
	for i, d := range docs {
		start := len(b.Body)
		id := encode.AppendID(nil, seed, uint64(i))
		tb.ids = append(tb.ids, string(id))
		target := testIndex
		if i < len(targets) && targets[i] != "" {
			target = targets[i]
		}
		b.Body = encode.AppendCreateIn(b.Body, target, b.Index, id)
		doc := len(b.Body)
		b.Body = append(b.Body, d...)
		b.Body = append(b.Body, '\n')
		b.AddItem(start, doc)
	}
	b.SetDone(func(*event.Batch) { tb.done.Add(1) })
	return tb
}

// docs returns n small documents tagged with tag.
func docs(tag string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf(`{"@timestamp":"2026-11-23T10:00:%02dZ","message":"%s %d"}`, i%60, tag, i)
	}
	return out
}

// logBuf collects the sink's log lines; safe for concurrent use.
type logBuf struct{ logbuf.Buffer }

// newTestSink returns a sink for url with fast retries; mod may change the
// configuration first.
func newTestSink(t testing.TB, url string, mod func(*Config)) (*Sink, *logBuf) {
	t.Helper()
	cfg := Config{
		URLs:            []string{url},
		Workers:         1,
		RequestTimeout:  10 * time.Second,
		RetryInitial:    time.Millisecond,
		RetryMax:        10 * time.Millisecond,
		DeadLetterIndex: dlIndex,
	}
	if mod != nil {
		mod(&cfg)
	}
	logs := &logBuf{}
	s, err := New(cfg, zerolog.New(logs))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return s, logs
}

// hangGuard bounds a whole delivery so that a hang fails the test instead of
// the test binary; it is not a timing assertion.
const hangGuard = 15 * time.Second

// runAll sends the batches to s.Run, closes the queue and waits for Run to
// return; it fails the test unless Run returns nil.
func runAll(t testing.TB, s *Sink, batches ...testBatch) {
	t.Helper()
	in := make(chan *event.Batch, len(batches))
	for _, b := range batches {
		in <- b.Batch
	}
	close(in)
	ctx, cancel := context.WithTimeout(context.Background(), hangGuard)
	defer cancel()
	if err := s.Run(ctx, in); err != nil {
		t.Fatalf("Run: got %v, want nil (every batch delivered before the %v guard)", err, hangGuard)
	}
}

// checkDone fails unless every batch was reported Done exactly once.
func checkDone(t testing.TB, batches ...testBatch) {
	t.Helper()
	for i, b := range batches {
		if n := b.done.Load(); n != 1 {
			t.Errorf("batch %d: Done called %d times, want 1", i, n)
		}
	}
}

// checkStats compares the counters that matter to the test: the fields
// that are zero in want and not listed in ignore must be zero.
func checkStats(t testing.TB, s *Sink, want Stats) {
	t.Helper()
	got := s.Stats()
	type pair struct {
		name      string
		got, want uint64
	}
	for _, p := range []pair{
		{"Indexed", got.Indexed, want.Indexed},
		{"Duplicates", got.Duplicates, want.Duplicates},
		{"DeadLettered", got.DeadLettered, want.DeadLettered},
		{"Lost", got.Lost, want.Lost},
		{"Retried", got.Retried, want.Retried},
		{"Requests", got.Requests, want.Requests},
		{"Failures", got.Failures, want.Failures},
	} {
		if p.got != p.want {
			t.Errorf("Stats.%s: got %d, want %d (all stats %+v)", p.name, p.got, p.want, got)
		}
	}
}

// listenAgain listens on addr again, for a server coming back after a
// restart; it skips the test if another process took the port meanwhile.
func listenAgain(t testing.TB, addr string) net.Listener {
	t.Helper()
	var err error
	for i := 0; i < 50; i++ {
		var ln net.Listener
		if ln, err = net.Listen("tcp", addr); err == nil {
			return ln
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Skipf("cannot listen on %s again (the port was taken meanwhile?): %v", addr, err)
	return nil
}
