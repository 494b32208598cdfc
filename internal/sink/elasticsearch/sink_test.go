package elasticsearch

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"shipper/internal/encode"
	"shipper/internal/event"
	"shipper/internal/parse"
	"shipper/internal/pipeline"
)

func TestDeliverAllCreated(t *testing.T) {
	es := newFakeES(t, nil)
	s, _ := newTestSink(t, es.URL(), nil)
	b := newBatch(1, docs("ok", 5)...)
	runAll(t, s, b)

	checkDone(t, b)
	checkStats(t, s, Stats{Indexed: 5, Requests: 1})
	reqs := es.requests()
	if len(reqs) != 1 {
		t.Fatalf("requests: got %d, want 1", len(reqs))
	}
	r := reqs[0]
	if r.Method != http.MethodPost || r.Path != "/"+testIndex+"/_bulk" {
		t.Errorf("request: got %s %s, want POST /%s/_bulk", r.Method, r.Path, testIndex)
	}
	for i, it := range r.Items {
		if it.Named || it.Index != testIndex {
			t.Errorf("item %d: action %q, want one without _index for the request's %s", i, it.Action, testIndex)
		}
	}
	if got := r.Header.Get("Content-Type"); got != "application/x-ndjson" {
		t.Errorf("Content-Type: got %q, want application/x-ndjson", got)
	}
	if got := r.Header.Get("Content-Encoding"); got != "" {
		t.Errorf("Content-Encoding: got %q, want none (CompressionLevel 0)", got)
	}
	// Statuses only: the reasons are asked for when a document is rejected.
	if got, want := r.Query.Get("filter_path"), strings.Join(bulkFilterPathStatus, ","); got != want {
		t.Errorf("filter_path: got %q, want %q", got, want)
	}
	if !bytes.Equal(r.Body, b.Body) {
		t.Errorf("request body differs from the batch body:\ngot  %q\nwant %q", r.Body, b.Body)
	}
	if !slices.Equal(r.ids(), b.ids) {
		t.Errorf("ids: got %q, want %q", r.ids(), b.ids)
	}
	st := s.Stats()
	if st.BytesRaw != uint64(len(b.Body)) || st.BytesSent != uint64(len(b.Body)) {
		t.Errorf("bytes: got raw %d sent %d, want both %d", st.BytesRaw, st.BytesSent, len(b.Body))
	}
}

// The errors:false fast path must not need items at all, and the slow path
// must count the same.
func TestDeliverErrorsFalse(t *testing.T) {
	f := func(name, body string) {
		t.Helper()
		es := newFakeES(t, func(int, *bulkReq) answer { return answer{body: body} })
		s, _ := newTestSink(t, es.URL(), nil)
		b := newBatch(1, docs("ok", 3)...)
		runAll(t, s, b)
		checkDone(t, b)
		if got := s.Stats(); got.Indexed != 3 || got.Requests != 1 {
			t.Errorf("%s: got %+v, want 3 indexed in 1 request", name, got)
		}
	}
	f("no items", `{"errors":false}`)
	f("spaces", `{ "errors" : false , "items":[]}`)
	f("took first", `{"took":12,"errors":false,"items":[{"create":{"status":201}}]}`)
	f("full items", itemsResponse(201, 201, 201))
	f("errors true but all created", `{"errors":true,"items":[{"create":{"status":201}},{"index":{"status":200}},{"create":{"status":201}}]}`)
}

func TestDeliverEmptyBatch(t *testing.T) {
	es := newFakeES(t, nil)
	s, _ := newTestSink(t, es.URL(), nil)
	b := newBatch(1)
	b.Marks = append(b.Marks, 42) // a batch of marks only
	runAll(t, s, b)
	checkDone(t, b)
	if n := len(es.requests()); n != 0 {
		t.Errorf("requests for an empty batch: got %d, want 0", n)
	}
}

func TestPartialFailureRetriesOnlyFailedItems(t *testing.T) {
	for _, failed := range []int{429, 503, 500, 404, 408, 401, 403} {
		t.Run(fmt.Sprint(failed), func(t *testing.T) {
			t.Parallel()
			b := newBatch(7, docs("p", 5)...)
			es := newFakeES(t, statusByItem(func(n int, it bulkItem) int {
				if n == 0 && (it.ID == b.ids[1] || it.ID == b.ids[3]) {
					return failed
				}
				return 201
			}))
			s, _ := newTestSink(t, es.URL(), nil)
			// Taken before delivery: the sink owns the body until Done and
			// moves the items to retry to its front.
			want := string(b.Action(1)) + string(b.Document(1)) + string(b.Action(3)) + string(b.Document(3))
			runAll(t, s, b)

			checkDone(t, b)
			checkStats(t, s, Stats{Indexed: 5, Retried: 2, Requests: 2})
			reqs := es.requests()
			if len(reqs) != 2 {
				t.Fatalf("requests: got %d, want 2", len(reqs))
			}
			if got, want := reqs[1].ids(), []string{b.ids[1], b.ids[3]}; !slices.Equal(got, want) {
				t.Fatalf("second request ids: got %q, want %q", got, want)
			}
			// The retried items are byte for byte the ones of the batch.
			if string(reqs[1].Body) != want {
				t.Errorf("second request body:\ngot  %q\nwant %q", reqs[1].Body, want)
			}
		})
	}
}

func TestItemRetriedSeveralTimes(t *testing.T) {
	b := newBatch(3, docs("r", 3)...)
	es := newFakeES(t, statusByItem(func(n int, it bulkItem) int {
		if it.ID == b.ids[2] && n < 3 {
			return 429
		}
		return 201
	}))
	s, _ := newTestSink(t, es.URL(), nil)
	runAll(t, s, b)
	checkDone(t, b)
	checkStats(t, s, Stats{Indexed: 3, Retried: 3, Requests: 4})
	for i, r := range es.requests()[1:] {
		if !slices.Equal(r.ids(), b.ids[2:]) {
			t.Errorf("request %d ids: got %q, want %q", i+1, r.ids(), b.ids[2:])
		}
	}
}

func TestConflictCountsAsDuplicate(t *testing.T) {
	b := newBatch(2, docs("d", 3)...)
	es := newFakeES(t, statusByItem(func(n int, it bulkItem) int {
		if it.ID == b.ids[1] {
			return 409
		}
		return 201
	}))
	s, _ := newTestSink(t, es.URL(), nil)
	runAll(t, s, b)
	checkDone(t, b)
	checkStats(t, s, Stats{Indexed: 2, Duplicates: 1, Requests: 1})
}

// deadLetterDoc is the dead-letter document as Elasticsearch would see it.
type deadLetterDoc struct {
	Timestamp   string   `json:"@timestamp"`
	Original    string   `json:"event.original"`
	ErrorType   string   `json:"error.type"`
	ErrorMsg    string   `json:"error.message"`
	TargetIndex string   `json:"labels.target_index"`
	Tags        []string `json:"tags"`
}

// decodeDeadLetter decodes a dead-letter document strictly: valid JSON,
// only the fields the dead-letter mapping knows.
func decodeDeadLetter(t testing.TB, doc string) deadLetterDoc {
	t.Helper()
	if !strings.HasSuffix(doc, "\n") || strings.Count(doc, "\n") != 1 {
		t.Fatalf("dead-letter document is not one NDJSON line: %q", doc)
	}
	dec := json.NewDecoder(strings.NewReader(doc))
	dec.DisallowUnknownFields()
	var d deadLetterDoc
	if err := dec.Decode(&d); err != nil {
		t.Fatalf("dead-letter document does not decode: %v\n%s", err, doc)
	}
	if dec.More() {
		t.Fatalf("dead-letter document has data after the object: %q", doc)
	}
	return d
}

func TestMappingErrorDeadLetters(t *testing.T) {
	b := newBatch(9,
		`{"@timestamp":"2026-11-23T10:00:00.5Z","message":"fine"}`,
		`{"@timestamp":"2026-11-23T10:00:01Z","message":"bad \"quoted\" <tag> é","status":"ok"}`,
		`{"@timestamp":"2026-11-23T10:00:02Z","message":"also fine"}`,
		`{"@timestamp":"2026-11-23T10:00:03Z","obj":{"a":1}}`,
		`{"@timestamp":"2026-11-23T10:00:04Z","message":"retry me"}`,
	)
	mapperErr := `{"type":"mapper_parsing_exception","reason":"object mapping for [obj] tried to parse field [obj] as object, but found a concrete value"}`
	es := newFakeES(t, func(n int, r *bulkReq) answer {
		if n > 0 {
			return answer{}
		}
		return answer{body: `{"errors":true,"items":[` +
			`{"create":{"status":201}},` +
			`{"create":{"status":400,"error":` + itemError(400) + `}},` +
			`{"create":{"status":201}},` +
			`{"create":{"status":400,"error":` + mapperErr + `}},` +
			`{"create":{"status":429,"error":` + itemError(429) + `}}]}`}
	})
	s, logs := newTestSink(t, es.URL(), nil)
	runAll(t, s, b)

	checkDone(t, b)
	checkStats(t, s, Stats{Indexed: 3, DeadLettered: 2, Retried: 1, Requests: 2})
	reqs := es.requests()
	if len(reqs) != 2 {
		t.Fatalf("requests: got %d, want 2", len(reqs))
	}
	// The transient item is retried as it was, the rejected ones go to the
	// dead-letter stream with the same ids.
	if got, want := reqs[1].ids(), []string{b.ids[4], b.ids[1], b.ids[3]}; !slices.Equal(got, want) {
		t.Fatalf("second request ids: got %q, want %q", got, want)
	}
	if got, want := reqs[1].Items[0].Action+reqs[1].Items[0].Doc, string(b.Action(4))+string(b.Document(4)); got != want {
		t.Errorf("retried item: got %q, want %q", got, want)
	}
	want := []deadLetterDoc{{
		Timestamp:   "2026-11-23T10:00:01Z",
		Original:    b.docs[1],
		ErrorType:   "document_parsing_exception",
		ErrorMsg:    `[1:58] failed to parse field [status] of type [long] in document with id 'x'. Preview of field's value: 'ok': For input string: "ok"`,
		TargetIndex: testIndex,
		Tags:        []string{"dead_letter"},
	}, {
		Timestamp:   "2026-11-23T10:00:03Z",
		Original:    b.docs[3],
		ErrorType:   "mapper_parsing_exception",
		ErrorMsg:    "object mapping for [obj] tried to parse field [obj] as object, but found a concrete value",
		TargetIndex: testIndex,
		Tags:        []string{"dead_letter"},
	}}
	for i, it := range reqs[1].Items[1:] {
		if it.Index != dlIndex {
			t.Errorf("dead-letter item %d: index %q, want %q", i, it.Index, dlIndex)
		}
		wantAction := `{"create":{"_index":"` + dlIndex + `","_id":"` + b.ids[2*i+1] + `"}}` + "\n"
		if it.Action != wantAction {
			t.Errorf("dead-letter action %d:\ngot  %q\nwant %q", i, it.Action, wantAction)
		}
		got := decodeDeadLetter(t, it.Doc)
		if !reflect.DeepEqual(got, want[i]) {
			t.Errorf("dead-letter document %d:\ngot  %+v\nwant %+v", i, got, want[i])
		}
	}
	if !strings.Contains(logs.String(), "dead-letter stream") {
		t.Errorf("no log line about the dead-letter stream:\n%s", logs)
	}
}

// A document without a leading @timestamp (or with one that is not a
// clean date) gets the current time in its dead-letter document, which must
// stay valid JSON.
func TestDeadLetterTimestamp(t *testing.T) {
	f := func(doc string, keep bool) {
		t.Helper()
		it := pend{action: encode.AppendCreate(nil, testIndex, []byte("id1")), doc: []byte(doc + "\n")}
		before := time.Now().UTC().Truncate(time.Second)
		action, dl := deadLetterItem(dlIndex, testIndex, it, "t", "r")
		if string(action) != `{"create":{"_index":"`+dlIndex+`","_id":"id1"}}`+"\n" {
			t.Errorf("action: got %q", action)
		}
		d := decodeDeadLetter(t, string(dl))
		if d.Original != doc {
			t.Errorf("event.original: got %q, want %q", d.Original, doc)
		}
		ts, err := time.Parse(time.RFC3339Nano, d.Timestamp)
		if err != nil {
			t.Fatalf("doc %q: dead-letter @timestamp %q: %v", doc, d.Timestamp, err)
		}
		if keep {
			if !strings.HasPrefix(doc, `{"@timestamp":"`+d.Timestamp+`"`) {
				t.Errorf("doc %q: @timestamp %q is not the original one", doc, d.Timestamp)
			}
		} else if ts.Before(before) {
			t.Errorf("doc %q: @timestamp %v, want the current time (after %v)", doc, ts, before)
		}
	}
	f(`{"@timestamp":"2026-11-23T10:00:00.123456789Z","a":1}`, true)
	f(`{"@timestamp":"1677-09-21T00:12:43.145224192Z"}`, true)
	f(`{"message":"no time","@timestamp":"2026-11-23T10:00:00Z"}`, false)
	f(`{"message":"no time at all"}`, false)
	f(`not json at all`, false)
	f(``, false)
	f(`{"@timestamp":"a\"b","x":1}`, false)
	f(`{"@timestamp":"2026\\","x":"\""}`, false)
	f(`{"@timestamp":"yesterday"}`, false)
	f(`{"@timestamp":""}`, false)
	f(`{"@timestamp":"`, false)
}

func TestDeadLetterRejectedIsLost(t *testing.T) {
	b := newBatch(4, docs("x", 3)...)
	es := newFakeES(t, statusByItem(func(n int, it bulkItem) int {
		switch {
		case it.Index == dlIndex:
			return 400 // the dead-letter template is broken too
		case it.ID == b.ids[0]:
			return 400
		}
		return 201
	}))
	s, logs := newTestSink(t, es.URL(), nil)
	runAll(t, s, b)
	checkDone(t, b)
	checkStats(t, s, Stats{Indexed: 2, Lost: 1, Requests: 2})
	if n := len(es.requests()); n != 2 {
		t.Errorf("requests: got %d, want 2 (a rejected dead letter is not sent again)", n)
	}
	l := logs.String()
	if !strings.Contains(l, "it is lost") || !strings.Contains(l, `"error_type":"document_parsing_exception"`) || !strings.Contains(l, "x 0") {
		t.Errorf("the lost document is not logged with its reason and content:\n%s", l)
	}
}

func TestDeadLetterRetriedAndDuplicate(t *testing.T) {
	b := newBatch(5, docs("y", 2)...)
	var dlTries atomic.Int32
	es := newFakeES(t, statusByItem(func(n int, it bulkItem) int {
		switch {
		case it.Index == dlIndex && it.ID == b.ids[0]:
			if dlTries.Add(1) == 1 {
				return 429
			}
			return 201
		case it.Index == dlIndex:
			return 409 // written by an earlier attempt
		}
		return 400
	}))
	s, _ := newTestSink(t, es.URL(), nil)
	runAll(t, s, b)
	checkDone(t, b)
	checkStats(t, s, Stats{DeadLettered: 2, Retried: 1, Requests: 3})
	reqs := es.requests()
	if got, want := reqs[2].ids(), b.ids[:1]; !slices.Equal(got, want) || reqs[2].Items[0].Index != dlIndex {
		t.Errorf("third request: got %q into %q, want %q into %q", got, reqs[2].Items[0].Index, want, dlIndex)
	}
}

func TestWholeRequestRetried(t *testing.T) {
	for _, c := range []struct {
		status     int
		retryAfter string
		wait       time.Duration
	}{
		{429, "1", time.Second},
		{503, "1", time.Second},
		{401, "", 0},
		{403, "", 0},
		{500, "", 0},
		{502, "", 0},
		{504, "", 0},
		{404, "", 0},
		{429, "", 0},
	} {
		t.Run(fmt.Sprintf("%d_%s", c.status, c.retryAfter), func(t *testing.T) {
			t.Parallel()
			es := newFakeES(t, func(n int, r *bulkReq) answer {
				if n > 0 {
					return answer{}
				}
				a := answer{status: c.status, body: `{"error":{"type":"x","reason":"refused"},"status":` + fmt.Sprint(c.status) + `}`}
				if c.retryAfter != "" {
					a.header = http.Header{"Retry-After": {c.retryAfter}}
				}
				return a
			})
			s, logs := newTestSink(t, es.URL(), nil)
			b := newBatch(1, docs("w", 4)...)
			runAll(t, s, b)
			checkDone(t, b)
			checkStats(t, s, Stats{Indexed: 4, Requests: 2, Failures: 1})
			reqs := es.requests()
			if len(reqs) != 2 {
				t.Fatalf("requests: got %d, want 2", len(reqs))
			}
			if !bytes.Equal(reqs[0].Body, reqs[1].Body) {
				t.Errorf("the retry is not the same request:\nfirst %q\nretry %q", reqs[0].Body, reqs[1].Body)
			}
			if gap := reqs[1].At.Sub(reqs[0].At); gap < c.wait {
				t.Errorf("retried after %v, want at least %v (Retry-After %q)", gap, c.wait, c.retryAfter)
			}
			if !strings.Contains(logs.String(), "will retry") {
				t.Errorf("no log line about the retry:\n%s", logs)
			}
		})
	}
}

// A response that cannot be read is sent again as a whole.
func TestUnreadableResponseResent(t *testing.T) {
	for _, body := range []string{" ", "not json", `{"errors":true,"items":[{"create":{"status":201}}]}`, `{"errors":true,"items":[{},{},{}]}`} {
		es := newFakeES(t, func(n int, r *bulkReq) answer {
			if n == 0 {
				return answer{body: body}
			}
			return answer{}
		})
		s, _ := newTestSink(t, es.URL(), nil)
		b := newBatch(1, docs("u", 3)...)
		runAll(t, s, b)
		checkDone(t, b)
		if got := s.Stats(); got.Indexed != 3 || got.Requests != 2 {
			t.Errorf("answer %q: got %+v, want 3 indexed in 2 requests", body, got)
		}
	}
}

// A server that answers 2xx without the product header is not trusted: the
// request fails and is retried, never counted as delivered.
func TestNotElasticsearchRetried(t *testing.T) {
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		if n.Add(1) > 2 {
			w.Header().Set("X-Elastic-Product", "Elasticsearch")
		}
		io.WriteString(w, `{"errors":false}`)
	}))
	defer srv.Close()
	s, logs := newTestSink(t, srv.URL, nil)
	b := newBatch(1, docs("n", 2)...)
	runAll(t, s, b)
	checkDone(t, b)
	checkStats(t, s, Stats{Indexed: 2, Requests: 3, Failures: 2})
	if !strings.Contains(logs.String(), "not Elasticsearch") {
		t.Errorf("the product check failure is not logged:\n%s", logs)
	}
}

func TestConnectionRefusedRetriedUntilBack(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens: connections are refused

	s, logs := newTestSink(t, "http://"+addr, nil)
	b := newBatch(1, docs("c", 3)...)
	in := make(chan *event.Batch, 1)
	in <- b.Batch
	close(in)
	ctx, cancel := context.WithTimeout(context.Background(), hangGuard)
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- s.Run(ctx, in) }()

	for s.Stats().Failures < 3 {
		select {
		case err := <-errc:
			t.Fatalf("Run returned %v while Elasticsearch was down", err)
		case <-time.After(5 * time.Millisecond):
		}
	}
	if n := b.done.Load(); n != 0 {
		t.Fatalf("batch Done %d times while Elasticsearch was down", n)
	}
	es := &fakeES{t: t, seen: make(chan struct{}, 1)}
	srv := httptest.NewUnstartedServer(es)
	srv.Listener = listenAgain(t, addr)
	srv.Start()
	defer srv.Close()

	if err := <-errc; err != nil {
		t.Fatalf("Run: %v", err)
	}
	checkDone(t, b)
	st := s.Stats()
	if st.Indexed != 3 || st.Failures < 3 || st.Requests != st.Failures+1 {
		t.Errorf("stats: got %+v, want 3 indexed after >= 3 failures and one good request", st)
	}
	if reqs := es.requests(); len(reqs) != 1 || !bytes.Equal(reqs[0].Body, b.Body) {
		t.Errorf("requests after the restart: got %d, want 1 with the batch body", len(reqs))
	}
	if !strings.Contains(logs.String(), "connection refused") {
		t.Errorf("the refused connection is not logged:\n%s", logs)
	}
}

func TestRequestTooLargeSplits(t *testing.T) {
	b := newBatch(6, docs("s", 7)...)
	limit := 2*(len(b.Action(0))+len(b.Document(0))) + 2 // two items fit, three do not
	var mu sync.Mutex
	created := map[string]int{}
	es := newFakeES(t, func(n int, r *bulkReq) answer {
		if len(r.Body) > limit {
			return answer{status: http.StatusRequestEntityTooLarge}
		}
		mu.Lock()
		defer mu.Unlock()
		for _, it := range r.Items {
			created[it.ID]++
		}
		return answer{}
	})
	s, _ := newTestSink(t, es.URL(), nil)
	runAll(t, s, b)
	checkDone(t, b)
	st := s.Stats()
	if st.Indexed != 7 || st.DeadLettered != 0 || st.Lost != 0 {
		t.Errorf("stats: got %+v, want 7 indexed, nothing dead-lettered", st)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, id := range b.ids {
		if created[id] != 1 {
			t.Errorf("item %s created %d times, want 1", id, created[id])
		}
	}
	if len(created) != 7 {
		t.Errorf("created %d distinct ids, want 7", len(created))
	}
	// 7 -> 3+4 -> (1+2) + (2+2): 3 refused requests, 4 good ones.
	if got := len(es.requests()); got != 7 {
		t.Errorf("requests: got %d, want 7", got)
	}
}

func TestSingleItemTooLargeDeadLettered(t *testing.T) {
	huge := `{"@timestamp":"2026-11-23T10:00:00Z","message":"` + strings.Repeat(`é\"`, 100<<10) + `"}`
	b := newBatch(8, docs("a", 1)[0], huge, docs("b", 1)[0])
	const limit = 256 << 10 // below the huge item, above its dead letter
	var mu sync.Mutex
	var dead []bulkItem
	es := newFakeES(t, func(n int, r *bulkReq) answer {
		if len(r.Body) > limit {
			return answer{status: http.StatusRequestEntityTooLarge}
		}
		mu.Lock()
		defer mu.Unlock()
		for _, it := range r.Items {
			if it.Index == dlIndex {
				dead = append(dead, it)
			}
		}
		return answer{}
	})
	s, _ := newTestSink(t, es.URL(), nil)
	runAll(t, s, b)
	checkDone(t, b)
	checkStats(t, s, Stats{Indexed: 2, DeadLettered: 1, Requests: 6, Failures: 3})
	mu.Lock()
	defer mu.Unlock()
	if len(dead) != 1 {
		t.Fatalf("dead letters: got %d, want 1", len(dead))
	}
	if dead[0].ID != b.ids[1] {
		t.Errorf("dead letter id: got %s, want %s", dead[0].ID, b.ids[1])
	}
	d := decodeDeadLetter(t, dead[0].Doc)
	if d.ErrorType != "request_refused" || !strings.Contains(d.ErrorMsg, "413") {
		t.Errorf("dead letter error: got %q %q, want request_refused with the status", d.ErrorType, d.ErrorMsg)
	}
	if d.Original == "" || !strings.HasPrefix(huge, d.Original) {
		t.Errorf("event.original (%d bytes) is not a prefix of the document", len(d.Original))
	}
	if d.TargetIndex != testIndex || d.Timestamp != "2026-11-23T10:00:00Z" {
		t.Errorf("dead letter: got target %q @timestamp %q", d.TargetIndex, d.Timestamp)
	}
}

// A request refused as a whole with 400 (one item breaks the NDJSON) is
// split until the item at fault is alone and dead-lettered whole.
func TestBadRequestSplitsAndDeadLetters(t *testing.T) {
	b := newBatch(10, docs("g", 4)...)
	es := newFakeES(t, func(n int, r *bulkReq) answer {
		for _, it := range r.Items {
			if it.ID == b.ids[2] && it.Index == testIndex {
				return answer{status: 400, body: `{"error":{"type":"x_content_parse_exception","reason":"[1:2] Unexpected character"},"status":400}`}
			}
		}
		return answer{}
	})
	s, _ := newTestSink(t, es.URL(), nil)
	runAll(t, s, b)
	checkDone(t, b)
	st := s.Stats()
	if st.Indexed != 3 || st.DeadLettered != 1 || st.Lost != 0 {
		t.Fatalf("stats: got %+v, want 3 indexed, 1 dead-lettered", st)
	}
	reqs := es.requests()
	last := reqs[len(reqs)-1]
	var dl *bulkItem
	for _, r := range reqs {
		for i := range r.Items {
			if r.Items[i].Index == dlIndex {
				dl = &r.Items[i]
			}
		}
	}
	if dl == nil {
		t.Fatalf("no dead letter sent; last request %q", last.Body)
	}
	d := decodeDeadLetter(t, dl.Doc)
	if d.Original != b.docs[2] || d.ErrorType != "request_refused" || !strings.Contains(d.ErrorMsg, "Unexpected character") {
		t.Errorf("dead letter: got %+v", d)
	}
}

func TestCompressionAndAuth(t *testing.T) {
	for _, c := range []struct {
		name     string
		level    int
		user     string
		pass     string
		apiKey   string
		wantAuth string
	}{
		{"plain", 0, "", "", "", ""},
		{"gzip1 basic", 1, "elastic", "s3cret:x", "", "Basic " + base64.StdEncoding.EncodeToString([]byte("elastic:s3cret:x"))},
		{"gzip9 apikey", 9, "", "", "a2V5OnNlY3JldA==", "ApiKey a2V5OnNlY3JldA=="},
		{"gzip default", -1, "", "", "", ""},
		{"gzip bad level", 42, "", "", "", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			es := newFakeES(t, nil)
			s, _ := newTestSink(t, es.URL(), func(cfg *Config) {
				cfg.CompressionLevel = c.level
				cfg.Username, cfg.Password, cfg.APIKey = c.user, c.pass, c.apiKey
			})
			b := newBatch(1, docs(strings.Repeat("compressible ", 20), 20)...)
			runAll(t, s, b)
			checkDone(t, b)
			r := es.requests()[0]
			gz := r.Header.Get("Content-Encoding") == "gzip"
			if gz != (c.level != 0) {
				t.Errorf("Content-Encoding: got %q with level %d", r.Header.Get("Content-Encoding"), c.level)
			}
			if !bytes.Equal(r.Body, b.Body) {
				t.Errorf("body after decoding differs from the batch body:\ngot  %q\nwant %q", r.Body, b.Body)
			}
			st := s.Stats()
			if st.BytesRaw != uint64(len(b.Body)) || st.BytesSent != uint64(len(r.Raw)) {
				t.Errorf("bytes: got raw %d sent %d, want raw %d sent %d", st.BytesRaw, st.BytesSent, len(b.Body), len(r.Raw))
			}
			if gz && len(r.Raw) >= len(r.Body) {
				t.Errorf("gzip did not shrink a repetitive body: %d -> %d bytes", len(r.Body), len(r.Raw))
			}
			if got := r.Header.Get("Authorization"); got != c.wantAuth {
				t.Errorf("Authorization: got %q, want %q", got, c.wantAuth)
			}
		})
	}
}

// The same gzip writer serves request after request.
func TestCompressionReusedAcrossRetries(t *testing.T) {
	b := newBatch(11, docs("z", 6)...)
	es := newFakeES(t, statusByItem(func(n int, it bulkItem) int {
		if n == 0 && it.ID != b.ids[5] {
			return 429
		}
		return 201
	}))
	s, _ := newTestSink(t, es.URL(), func(c *Config) { c.CompressionLevel = 5 })
	runAll(t, s, b)
	checkDone(t, b)
	reqs := es.requests()
	if len(reqs) != 2 {
		t.Fatalf("requests: got %d, want 2", len(reqs))
	}
	if !bytes.Equal(reqs[0].Body, b.Body) || !slices.Equal(reqs[1].ids(), b.ids[:5]) {
		t.Errorf("gzip bodies: first %q, second ids %q", reqs[0].Body, reqs[1].ids())
	}
}

// runUntilCancelled starts Run with one batch, cancels it once the fake has
// seen a request and ready says so, and checks that Run returns the
// context's error and the batch is not Done.
func runUntilCancelled(t *testing.T, es *fakeES, s *Sink, ready func() bool) {
	t.Helper()
	b := newBatch(1, docs("k", 2)...)
	in := make(chan *event.Batch, 2)
	in <- b.Batch
	other := newBatch(2, docs("q", 1)...)
	in <- other.Batch // queued behind: never started
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- s.Run(ctx, in) }()
	select {
	case <-es.seen:
	case <-time.After(hangGuard):
		t.Fatal("no request reached the fake Elasticsearch")
	}
	for !ready() {
		time.Sleep(time.Millisecond)
	}
	cancel()
	select {
	case err := <-errc:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Run: got %v, want context.Canceled", err)
		}
	case <-time.After(hangGuard):
		t.Fatal("Run did not return after cancellation")
	}
	if n := b.done.Load() + other.done.Load(); n != 0 {
		t.Errorf("Done called %d times for undelivered batches", n)
	}
}

func TestCancelDuringRetryAfterSleep(t *testing.T) {
	es := newFakeES(t, func(int, *bulkReq) answer {
		return answer{status: 503, header: http.Header{"Retry-After": {"3600"}}}
	})
	s, _ := newTestSink(t, es.URL(), nil)
	runUntilCancelled(t, es, s, func() bool { return s.Stats().Failures == 1 })
	if n := len(es.requests()); n != 1 {
		t.Errorf("requests: got %d, want 1", n)
	}
}

func TestCancelDuringItemBackoff(t *testing.T) {
	es := newFakeES(t, statusByItem(func(int, bulkItem) int { return 429 }))
	s, _ := newTestSink(t, es.URL(), func(c *Config) { c.RetryInitial, c.RetryMax = time.Hour, time.Hour })
	runUntilCancelled(t, es, s, func() bool { return s.Stats().Retried == 2 })
}

func TestCancelDuringConnectionBackoff(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	s, _ := newTestSink(t, "http://"+addr, func(c *Config) { c.RetryInitial, c.RetryMax = time.Hour, time.Hour })
	seen := &fakeES{seen: make(chan struct{}, 1)}
	seen.seen <- struct{}{}
	runUntilCancelled(t, seen, s, func() bool { return s.Stats().Failures == 1 })
}

func TestCancelDuringRequest(t *testing.T) {
	es := newFakeES(t, func(int, *bulkReq) answer { return answer{block: true} })
	s, _ := newTestSink(t, es.URL(), nil)
	runUntilCancelled(t, es, s, func() bool { return true })
}

// Several workers deliver many batches with item retries; each batch is
// Done once and each item is created exactly once.
func TestWorkersDeliverEverything(t *testing.T) {
	var mu sync.Mutex
	created := map[string]int{}
	tries := map[string]int{}
	es := newFakeES(t, statusByItem(func(n int, it bulkItem) int {
		mu.Lock()
		defer mu.Unlock()
		tries[it.ID]++
		if tries[it.ID] == 1 && it.ID[encode.IDLen-1]%3 == 0 {
			return 429
		}
		created[it.ID]++
		return 201
	}))
	s, _ := newTestSink(t, es.URL(), func(c *Config) { c.Workers = 3; c.CompressionLevel = 1 })
	var batches []testBatch
	for i := 0; i < 12; i++ {
		batches = append(batches, newBatch(uint64(100+i), docs(fmt.Sprint("w", i), 10)...))
	}
	runAll(t, s, batches...)
	checkDone(t, batches...)
	mu.Lock()
	defer mu.Unlock()
	for _, b := range batches {
		for _, id := range b.ids {
			if created[id] != 1 {
				t.Errorf("item %s created %d times, want 1", id, created[id])
			}
		}
	}
	if st := s.Stats(); st.Indexed != 120 || st.Retried == 0 {
		t.Errorf("stats: got %+v, want 120 indexed with some retries", st)
	}
}

// Batches made by a pipeline producer with the Encoder are delivered and
// acknowledged in order.
func TestPipelineEndToEnd(t *testing.T) {
	es := newFakeES(t, statusByItem(func(n int, it bulkItem) int {
		if n%2 == 0 && it.ID[encode.IDLen-1]%2 == 0 {
			return 503
		}
		return 201
	}))
	s, _ := newTestSink(t, es.URL(), func(c *Config) { c.Workers = 2 })
	p := pipeline.New(pipeline.Config{BatchBytes: 2 << 10, MaxBytes: 64 << 10, FlushInterval: time.Hour})
	var mu sync.Mutex
	var acked []uint64
	items := 0
	pr := p.NewProducer(func(marks []uint64, n int) {
		mu.Lock()
		defer mu.Unlock()
		acked = append(acked, marks...)
		items += n
	})
	enc := encode.New(parse.New([]byte(`"agent.type":"shipper"`)), testIndex, "default")
	ctx, cancel := context.WithTimeout(context.Background(), hangGuard)
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- s.Run(ctx, p.Batches()) }()

	const lines = 200
	for i := 0; i < lines; i++ {
		b, err := pr.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if pr.Full(b) {
			if b, err = pr.Next(ctx); err != nil {
				pr.End()
				t.Fatal(err)
			}
		}
		line := fmt.Sprintf(`{"level":"info","msg":"line %d","ts":%d}`, i, 1700000000+i)
		enc.Append(b, &parse.Line{Data: []byte(line)}, 7, uint64(i))
		b.Marks = append(b.Marks, uint64(i))
		pr.End()
	}
	if err := pr.Close(); err != nil {
		t.Fatal(err)
	}
	if err := pr.Wait(ctx); err != nil {
		t.Fatalf("Wait: %v", err)
	}
	p.Close()
	if err := <-errc; err != nil {
		t.Fatalf("Run: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if items != lines || len(acked) != lines {
		t.Fatalf("acknowledged %d items, %d marks; want %d", items, len(acked), lines)
	}
	for i, m := range acked {
		if m != uint64(i) {
			t.Fatalf("mark %d: got %d, want marks in order", i, m)
		}
	}
	if st := s.Stats(); st.Indexed != lines {
		t.Errorf("Stats.Indexed: got %d, want %d", st.Indexed, lines)
	}
}

func TestNewConfig(t *testing.T) {
	if _, err := New(Config{}, zerolog.Nop()); err == nil {
		t.Error("New without URLs: got nil error")
	}
	if _, err := New(Config{URLs: []string{"http://x"}, CAFile: "/nonexistent/ca.pem"}, zerolog.Nop()); err == nil || !strings.Contains(err.Error(), "/nonexistent/ca.pem") {
		t.Errorf("New with a missing CA file: got %v, want an error naming it", err)
	}
	s, err := New(Config{URLs: []string{"http://x"}}, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	if s.cfg.Workers != 1 || s.cfg.RetryInitial <= 0 || s.cfg.RetryMax < s.cfg.RetryInitial || s.cfg.RequestTimeout <= 0 {
		t.Errorf("defaults: got %+v", s.cfg)
	}
	if s.Client() == nil {
		t.Error("Client: got nil")
	}
}

func TestIsUnreachable(t *testing.T) {
	f := func(err error, want bool) {
		t.Helper()
		if got := IsUnreachable(err); got != want {
			t.Errorf("IsUnreachable(%v): got %v, want %v", err, got, want)
		}
	}
	f(&StatusError{Op: "x", Status: 429}, true)
	f(&StatusError{Op: "x", Status: 503}, true)
	f(fmt.Errorf("wrapped: %w", &StatusError{Op: "x", Status: 500}), true)
	f(&StatusError{Op: "x", Status: 400}, false)
	f(&StatusError{Op: "x", Status: 401}, false)
	f(&net.OpError{Op: "dial", Err: errors.New("connection refused")}, true)
	f(fmt.Errorf("read: %w", io.ErrUnexpectedEOF), true)
	f(context.DeadlineExceeded, true)
	f(errors.New("something else"), false)
	if got := (&StatusError{Op: "cannot put", Status: 400, Body: "bad"}).Error(); got != "cannot put: status 400: bad" {
		t.Errorf("StatusError.Error: got %q", got)
	}
}

func TestExcerpt(t *testing.T) {
	if got := excerpt([]byte("  short \n")); got != "short" {
		t.Errorf("excerpt: got %q, want %q", got, "short")
	}
	long := strings.Repeat("x", 600)
	if got := excerpt([]byte(long)); got != long[:512]+"…" {
		t.Errorf("excerpt of 600 bytes: got %d bytes", len(got))
	}
}

func TestCutUTF8(t *testing.T) {
	f := func(in string, n int, want string) {
		t.Helper()
		if got := string(cutUTF8([]byte(in), n)); got != want {
			t.Errorf("cutUTF8(%q, %d): got %q, want %q", in, n, got, want)
		}
	}
	f("abc", 5, "abc")
	f("abc", 3, "abc")
	f("abc", 2, "ab")
	f("aé", 2, "a") // é is 2 bytes
	f("aé", 3, "aé")
	f("a€b", 3, "a") // € is 3 bytes
	f("a€b", 4, "a€")
	f("€", 0, "")
	f("\x80\x80\x80", 2, "") // no rune start at all
}

// One item in three answered 429 in every request, as a busy cluster does:
// each round gets two thirds accepted, so the rest goes again at once. With
// a retry delay of an hour, the old policy (doubling per round) parked the
// batch past the hang guard; progress-following delivers it without a wait.
func TestPartialRejectionFollowsProgress(t *testing.T) {
	es := newFakeES(t, func(n int, r *bulkReq) answer {
		st := make([]int, len(r.Items))
		for i := range st {
			st[i] = 201
			if i%3 == 2 {
				st[i] = 429
			}
		}
		return answer{items: st}
	})
	s, _ := newTestSink(t, es.URL(), func(c *Config) { c.RetryInitial, c.RetryMax = time.Hour, time.Hour })
	b := newBatch(3, docs("third", 90)...)
	runAll(t, s, b)
	checkDone(t, b)
	// 90 -> 30 -> 10 -> 3 -> 1 items: every round accepted two thirds.
	checkStats(t, s, Stats{Indexed: 90, Retried: 30 + 10 + 3 + 1, Requests: 5})
	if st := s.Stats(); st.BackoffWait > time.Second {
		t.Errorf("waited %v in backoff although every round made progress", st.BackoffWait)
	}
}

// Whole-request and per-item refusals are the same to the backoff: a round
// with nothing accepted (every item 429) waits and grows the delay, as a 429
// for the request does.
func TestNothingAcceptedWaits(t *testing.T) {
	for _, whole := range []bool{true, false} {
		es := newFakeES(t, func(n int, r *bulkReq) answer {
			if n >= 3 {
				return answer{}
			}
			if whole {
				return answer{status: 429, body: `{"error":{"type":"es_rejected_execution_exception","reason":"busy"},"status":429}`}
			}
			st := make([]int, len(r.Items))
			for i := range st {
				st[i] = 429
			}
			return answer{items: st}
		})
		s, _ := newTestSink(t, es.URL(), func(c *Config) { c.RetryInitial, c.RetryMax = 20*time.Millisecond, time.Second })
		b := newBatch(4, docs("none", 4)...)
		runAll(t, s, b)
		checkDone(t, b)
		reqs := es.requests()
		if len(reqs) != 4 {
			t.Fatalf("whole=%v: requests: got %d, want 4", whole, len(reqs))
		}
		// Waits of [10,20], [20,40] and [40,80] ms: the third gap is at
		// least the first delay doubled twice, halved by jitter.
		if gap := reqs[3].At.Sub(reqs[2].At); gap < 40*time.Millisecond {
			t.Errorf("whole=%v: third retry after %v, want at least 40ms (the delay grows when nothing is accepted)", whole, gap)
		}
	}
}

// Health follows the requests: unreachable while connections are refused
// or 503 comes back, reachable again at the first answer.
func TestHealth(t *testing.T) {
	es := newFakeES(t, func(n int, r *bulkReq) answer {
		if n < 2 {
			return answer{status: 503, body: `{"error":"unavailable"}`}
		}
		return answer{}
	})
	s, _ := newTestSink(t, es.URL(), nil)
	if h := s.Health(); !h.LastSuccess.IsZero() || !h.UnreachableSince.IsZero() {
		t.Fatalf("before any request: %+v", h)
	}
	s.answered(503, []byte("down"))
	h := s.Health()
	if h.UnreachableSince.IsZero() || !strings.Contains(h.LastError, "503") {
		t.Fatalf("after a 503: %+v, want unreachable with the status in the error", h)
	}
	b := newBatch(5, docs("h", 2)...)
	runAll(t, s, b)
	checkDone(t, b)
	if h := s.Health(); h.LastSuccess.IsZero() || !h.UnreachableSince.IsZero() || !h.OldestRequest.IsZero() {
		t.Fatalf("after delivery: %+v, want a success, reachable, no request waiting", h)
	}
}

// compact moves the items to retry, then the dead letters built elsewhere,
// to the front of the batch body, and their views follow; it refuses what
// does not fit.
func TestCompact(t *testing.T) {
	b := newBatch(9, docs("c", 4)...)
	want := string(b.Action(1)) + string(b.Document(1)) + string(b.Action(3)) + string(b.Document(3)) + "DLA\nDLD\n"
	items := []pend{
		{action: b.Action(1), doc: b.Document(1)},
		{action: b.Action(3), doc: b.Document(3)},
		{action: []byte("DLA\n"), doc: []byte("DLD\n"), dead: true},
	}
	body, ok := compact(b.Body[:0], items)
	if !ok || string(body) != want {
		t.Fatalf("compact: ok %v, body\n%q\nwant\n%q", ok, body, want)
	}
	if &body[0] != &b.Body[:1][0] {
		t.Fatal("compact did not write into the batch body")
	}
	if got := string(joinItems(nil, items)); got != want || !items[2].dead {
		t.Fatalf("views after compact: %q (dead %v), want %q", got, items[2].dead, want)
	}
	// Again, as a second round does: the views now point into the body.
	body, ok = compact(b.Body[:0], items[1:])
	if want2 := want[len(items[0].action)+len(items[0].doc):]; !ok || string(body) != want2 {
		t.Fatalf("second compact: ok %v, body %q, want %q", ok, body, want2)
	}
	if _, ok := compact(make([]byte, 0, 4), items); ok {
		t.Fatal("compact into a buffer too small: ok")
	}
	if _, ok := compact(nil, items); ok {
		t.Fatal("compact into nil: ok")
	}
	// A document rewritten longer (a type conflict) before an item still
	// in the body: written in place, it would run over that item's action.
	b3 := newBatch(9, docs("c", 3)...)
	b3.Body = append(make([]byte, 0, 4096), b3.Body...)
	longer := append(bytes.TrimSuffix(b3.Document(0), []byte("}\n")), `,"log.flags":["field_renamed"]}`+"\n"...)
	items3 := []pend{{action: b3.Action(0), doc: longer, rewritten: true}, {action: b3.Action(1), doc: b3.Document(1)}}
	want3 := string(joinItems(nil, items3))
	if _, ok := compact(b3.Body[:0], items3); ok {
		t.Fatal("compact of a longer rewritten document before an item in the body: ok")
	}
	if got := string(joinItems(nil, items3)); got != want3 {
		t.Fatalf("items after a refused compact: %q, want %q", got, want3)
	}
	// Shorter, it moves in place.
	shorter := []byte(`{"m":1}` + "\n")
	items3[0].doc = shorter
	want3 = string(joinItems(nil, items3))
	if body, ok := compact(b3.Body[:0], items3); !ok || string(body) != want3 {
		t.Fatalf("compact of a shorter rewritten document: ok %v, body %q, want %q", ok, body, want3)
	}
}

// A rejected document in an answer without reasons (the request asked for
// statuses only, as Elasticsearch then answers) is sent once more, asking
// for the reasons, and its dead letter carries them.
func TestRejectedDocumentAsksForReasons(t *testing.T) {
	b := newBatch(11, docs("r", 2)...)
	es := newFakeES(t, func(n int, r *bulkReq) answer {
		switch n {
		case 0:
			return answer{body: `{"errors":true,"items":[{"create":{"status":201}},{"create":{"status":400}}]}`}
		case 1:
			return answer{items: []int{400}}
		}
		return answer{}
	})
	s, _ := newTestSink(t, es.URL(), nil)
	runAll(t, s, b)
	checkDone(t, b)
	checkStats(t, s, Stats{Indexed: 1, DeadLettered: 1, Requests: 3})
	reqs := es.requests()
	if len(reqs) != 3 {
		t.Fatalf("requests: got %d, want 3", len(reqs))
	}
	for i, want := range []string{strings.Join(bulkFilterPathStatus, ","), strings.Join(bulkFilterPath, ","), strings.Join(bulkFilterPath, ",")} {
		if got := reqs[i].Query.Get("filter_path"); got != want {
			t.Errorf("request %d filter_path: got %q, want %q", i, got, want)
		}
	}
	if got, want := reqs[1].ids(), []string{b.ids[1]}; !slices.Equal(got, want) {
		t.Errorf("second request ids: got %q, want %q (only the rejected document)", got, want)
	}
	dl := decodeDeadLetter(t, strings.SplitAfterN(string(reqs[2].Body), "\n", 3)[1])
	if dl.ErrorMsg == "" || strings.HasPrefix(dl.ErrorMsg, "status ") {
		t.Errorf("dead letter error.message %q, want the reason Elasticsearch gave", dl.ErrorMsg)
	}
}

// TestDeliverMixedStreams: a batch for several data streams goes, in every
// request (the first, the retries of a subset, the halves of a split), to
// the batch's default target; each item keeps its stream: a retried item is
// sent byte for byte as it was, and a dead letter names the stream it was
// meant for whether its action named it or left it to the default.
func TestDeliverMixedStreams(t *testing.T) {
	const other, third = "logs-other-default", "logs-third-default"
	targets := []string{"", other, "", third, other, ""}
	b := newBatchTo(7, targets, docs("mixed", 6)...)
	es := newFakeES(t, func(n int, r *bulkReq) answer {
		switch n {
		case 0:
			// 1 (other) and 2 (default) transient, 3 (third) and 5
			// (default) rejected.
			return answer{items: []int{201, 429, 503, 400, 201, 400}}
		case 1:
			// The retried items and the dead letters, refused as a
			// whole: split in halves.
			return answer{status: http.StatusRequestEntityTooLarge}
		case 2:
			return answer{items: []int{201, 429}}
		}
		return answer{}
	})
	s, _ := newTestSink(t, es.URL(), nil)
	runAll(t, s, b)
	checkDone(t, b)
	reqs := es.requests()
	if len(reqs) != 5 {
		t.Fatalf("requests: got %d, want 5", len(reqs))
	}
	want := func(i int) string {
		if targets[i] == "" {
			return testIndex
		}
		return targets[i]
	}
	for n, r := range reqs {
		if r.Path != "/"+testIndex+"/_bulk" {
			t.Errorf("request %d: path %s, want /%s/_bulk", n, r.Path, testIndex)
		}
		for _, it := range r.Items {
			if it.Named == (it.Index == testIndex) {
				t.Errorf("request %d: action %q with the default %s", n, it.Action, testIndex)
			}
			j := slices.Index(b.ids, it.ID)
			switch {
			case j < 0:
				t.Errorf("request %d: unknown id %q", n, it.ID)
			case it.Index == dlIndex:
				if d := decodeDeadLetter(t, it.Doc); d.TargetIndex != want(j) || d.Original != b.docs[j] {
					t.Errorf("request %d: dead letter of item %d: target %q, original %q; want %q, %q", n, j, d.TargetIndex, d.Original, want(j), b.docs[j])
				}
			case it.Action+it.Doc != string(b.Action(j))+string(b.Document(j)):
				t.Errorf("request %d: item %d sent as %q, want as it was, %q", n, j, it.Action+it.Doc, string(b.Action(j))+string(b.Document(j)))
			}
		}
	}
	// The transient items then the dead letters, split: the first half,
	// its transient item again, the second half.
	for n, want := range [][]int{{0, 1, 2, 3, 4, 5}, {1, 2, 3, 5}, {1, 2}, {2}, {3, 5}} {
		var ids []string
		for _, j := range want {
			ids = append(ids, b.ids[j])
		}
		if got := reqs[n].ids(); !slices.Equal(got, ids) {
			t.Errorf("request %d: ids %q, want %q", n, got, ids)
		}
	}
	for _, it := range reqs[4].Items {
		if it.Index != dlIndex {
			t.Errorf("last request: item %q to %s, want the dead-letter stream", it.ID, it.Index)
		}
	}
	checkStats(t, s, Stats{Indexed: 4, DeadLettered: 2, Retried: 3, Requests: 5, Failures: 1})
}

// TestDeliverNoDefault: a batch without a default target (its action lines
// all name their index, as the Kafka input's documents do) goes to /_bulk.
func TestDeliverNoDefault(t *testing.T) {
	b := newBatch(1, docs("k", 2)...)
	b.Body, b.Items = b.Body[:0], b.Items[:0]
	b.Index = ""
	for i, d := range b.docs {
		start := len(b.Body)
		b.Body = encode.AppendCreate(b.Body, testIndex, []byte(b.ids[i]))
		doc := len(b.Body)
		b.Body = append(append(b.Body, d...), '\n')
		b.AddItem(start, doc)
	}
	es := newFakeES(t, func(n int, r *bulkReq) answer {
		if n == 0 {
			return answer{items: []int{400, 201}}
		}
		return answer{}
	})
	s, _ := newTestSink(t, es.URL(), nil)
	runAll(t, s, b)
	checkDone(t, b)
	for n, r := range es.requests() {
		if r.Path != "/_bulk" {
			t.Errorf("request %d: path %s, want /_bulk", n, r.Path)
		}
		for _, it := range r.Items {
			if !it.Named {
				t.Errorf("request %d: action %q names no index", n, it.Action)
			}
		}
	}
	checkStats(t, s, Stats{Indexed: 1, DeadLettered: 1, Requests: 2})
}

// A dead letter of an item whose action line holds no id to keep gets no
// _id (Elasticsearch gives one): an empty one is refused, and the letter
// was lost.
func TestDeadLetterWithoutID(t *testing.T) {
	it := pend{action: []byte(`{"create":{}}` + "\n"), doc: []byte(`{"@timestamp":"2026-11-23T10:00:00Z","message":"m"}` + "\n")}
	for _, tc := range []struct{ index, def, want string }{
		{"logs-dlq-default", "logs-dlq-default", `{"create":{}}` + "\n"},
		{"logs-dlq-default", "logs-app-default", `{"create":{"_index":"logs-dlq-default"}}` + "\n"},
		{"logs-dlq-default", "", `{"create":{"_index":"logs-dlq-default"}}` + "\n"},
	} {
		action, doc := deadLetterItem(tc.index, tc.def, it, "request_refused", "bad")
		if string(action) != tc.want {
			t.Errorf("dead letter to %s (default %q): action %q, want %q", tc.index, tc.def, action, tc.want)
		}
		if !json.Valid(doc) {
			t.Errorf("dead letter document %q", doc)
		}
	}
}
