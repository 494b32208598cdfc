// Package elasticsearch is the sink: it sends batches to the bulk API,
// classifies every item of the answer, retries only what may succeed later,
// dead-letters what never can, and acknowledges a batch only when every item
// is settled.
package elasticsearch

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"
	"unsafe"

	"github.com/klauspost/compress/gzip"
	"github.com/rs/zerolog"

	"shipper/internal/backoff"
	"shipper/internal/encode"
	"shipper/internal/esclient"
	"shipper/internal/event"
	"shipper/internal/sink/reach"
)

// Config configures the sink.
type Config struct {
	URLs               []string
	Username, Password string
	APIKey             string
	CAFile             string
	InsecureSkipVerify bool
	// UserAgent is sent with every request; "" means "shipper".
	UserAgent string
	// CompressionLevel is the gzip level for request bodies; 0 sends them
	// uncompressed.
	CompressionLevel int
	// Workers is the number of bulk requests in flight at once.
	Workers int
	// RequestTimeout bounds one bulk request.
	RequestTimeout time.Duration
	// RetryInitial and RetryMax bound the exponential backoff, which
	// follows progress (see package backoff): a round in which
	// Elasticsearch accepted at least half of the items sends the rest at
	// once; only rounds that get nothing accepted make the wait grow.
	RetryInitial, RetryMax time.Duration
	// DeadLetterIndex receives documents Elasticsearch rejects.
	DeadLetterIndex string
}

// Stats are cumulative counters.
type Stats struct {
	Indexed      uint64 // items created
	Duplicates   uint64 // items already present (409 on create)
	DeadLettered uint64 // items written to the dead-letter stream
	Lost         uint64 // dead-letter writes rejected: logged with the document
	Retried      uint64 // item retries
	Requests     uint64 // bulk requests sent
	Failures     uint64 // requests that failed as a whole
	BytesSent    uint64 // request body bytes on the wire
	BytesRaw     uint64 // request body bytes before compression
	// BackoffWait is the time workers spent waiting before a retry, summed
	// over workers.
	BackoffWait time.Duration
}

// Health is what the sink knows of Elasticsearch from its own requests.
type Health struct {
	// LastSuccess is when Elasticsearch last answered a bulk request with
	// a success status (zero: never).
	LastSuccess time.Time
	// UnreachableSince is when the requests started failing on the wire
	// or with 502, 503 or 504, zero when the last one did not. LastError
	// says how the last one failed.
	UnreachableSince time.Time
	LastError        string
	// OldestRequest is when the oldest bulk request still waiting for its
	// answer was sent (zero: none waits).
	OldestRequest time.Time
}

// Sink writes batches into Elasticsearch.
type Sink struct {
	cfg    Config
	client *esclient.Client
	log    zerolog.Logger

	indexed, duplicates, deadLettered, lost, retried, requests, failures, bytesSent, bytesRaw atomic.Uint64
	backoffWait                                                                               atomic.Int64

	reach     reach.Tracker  // see Health
	sending   []atomic.Int64 // per worker: when its request was sent, 0 when none is
	workerSeq atomic.Int32
}

// New builds the client; it does not contact Elasticsearch.
func New(cfg Config, log zerolog.Logger) (*Sink, error) {
	if len(cfg.URLs) == 0 {
		return nil, errors.New("no Elasticsearch URL configured")
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 1
	}
	if cfg.RetryInitial <= 0 {
		cfg.RetryInitial = 250 * time.Millisecond
	}
	if cfg.RetryMax < cfg.RetryInitial {
		cfg.RetryMax = cfg.RetryInitial
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = time.Minute
	}
	client, err := esclient.New(esclient.Config{
		URLs: cfg.URLs, Username: cfg.Username, Password: cfg.Password, APIKey: cfg.APIKey,
		CAFile: cfg.CAFile, InsecureSkipVerify: cfg.InsecureSkipVerify, UserAgent: cfg.UserAgent,
		IdleConnsPerHost: cfg.Workers + 2, ResponseHeaderTimeout: cfg.RequestTimeout, Product: "Elasticsearch",
	})
	if err != nil {
		return nil, fmt.Errorf("cannot create the Elasticsearch client for %v: %w", cfg.URLs, err)
	}
	return &Sink{cfg: cfg, client: client, log: log, sending: make([]atomic.Int64, cfg.Workers)}, nil
}

// Client returns the underlying client, for start-up checks and setup.
func (s *Sink) Client() *esclient.Client { return s.client }

// Stats returns a snapshot of the counters.
func (s *Sink) Stats() Stats {
	return Stats{
		Indexed: s.indexed.Load(), Duplicates: s.duplicates.Load(), DeadLettered: s.deadLettered.Load(),
		Lost: s.lost.Load(), Retried: s.retried.Load(), Requests: s.requests.Load(), Failures: s.failures.Load(),
		BytesSent: s.bytesSent.Load(), BytesRaw: s.bytesRaw.Load(), BackoffWait: time.Duration(s.backoffWait.Load()),
	}
}

// Health returns what the sink knows of Elasticsearch now. Safe for
// concurrent use.
func (s *Sink) Health() Health {
	var h Health
	h.LastSuccess, h.UnreachableSince, h.LastError = s.reach.State()
	for i := range s.sending {
		if ns := s.sending[i].Load(); ns != 0 && (h.OldestRequest.IsZero() || ns < h.OldestRequest.UnixNano()) {
			h.OldestRequest = time.Unix(0, ns)
		}
	}
	return h
}

// answered records an HTTP answer: Elasticsearch is reachable unless it
// said it is not (502, 503, 504).
func (s *Sink) answered(status int, body []byte) {
	switch status {
	case http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		s.reach.Failed(fmt.Sprintf("Elasticsearch answered status %d: %s", status, excerpt(body)))
		return
	}
	s.reach.Reached(status >= 200 && status < 300)
}

// Run delivers batches from in with cfg.Workers concurrent requests until in
// is closed and drained. Every batch received is delivered and acknowledged
// (Batch.Done) unless ctx is cancelled first: that is the hard stop, and
// batches in flight are then left unacknowledged.
func (s *Sink) Run(ctx context.Context, in <-chan *event.Batch) error {
	var wg sync.WaitGroup
	for i := 0; i < s.cfg.Workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := s.newWorker()
			for {
				select {
				case b, ok := <-in:
					if !ok {
						return
					}
					if err := w.deliverBatch(ctx, b); err != nil {
						return // cancelled
					}
				case <-ctx.Done():
					return
				}
			}
		}()
	}
	wg.Wait()
	return ctx.Err()
}

// worker holds one request's reusable buffers.
type worker struct {
	s     *Sink
	id    int // index into s.sending
	gz    *gzip.Writer
	zbuf  bytes.Buffer
	resp  bytes.Buffer
	bo    backoff.Backoff
	items []pend // scratch of deliverBatch, reused
	// inPlace is the body buffer of the batch being delivered: a retry
	// moves the items still to send to its front (see compact), so that a
	// partial retry needs no memory beyond the batch's own share of the
	// budget. Nil while a split request is delivered in halves.
	inPlace []byte
	// reasons asks for the error reasons of the items (bulkFilterPath);
	// set for the rest of a batch once a document is to be dead-lettered.
	reasons bool
	// first is the answer to the batch's first request (see deliverBatch).
	first firstAnswer
	// again is the body of a retry when inPlace cannot hold it. It is
	// reused from round to round and batch to batch (items never point
	// into it).
	again []byte
	// index is the default target of the batch being delivered
	// (event.Batch.Index): every request of the batch, retries and
	// halves included, goes to its bulk path, so that its action lines
	// without _index keep their stream. pathStatus and pathReasons are
	// bulkPathStatus and bulkPathReasons under it.
	index                   string
	pathStatus, pathReasons string
}

// setIndex makes index the default target of the requests that follow.
func (w *worker) setIndex(index string) {
	if index == w.index && w.pathStatus != "" {
		return
	}
	w.index = index
	w.pathStatus, w.pathReasons = bulkPaths(index)
}

func (s *Sink) newWorker() *worker {
	id := int(s.workerSeq.Add(1)-1) % len(s.sending)
	w := &worker{s: s, id: id, bo: backoff.Backoff{Initial: s.cfg.RetryInitial, Max: s.cfg.RetryMax}}
	w.setIndex("")
	if s.cfg.CompressionLevel != 0 {
		gz, err := gzip.NewWriterLevel(io.Discard, s.cfg.CompressionLevel)
		if err != nil {
			gz = gzip.NewWriter(io.Discard)
		}
		w.gz = gz
	}
	return w
}

// pend is one item still to deliver: views into a body that outlives it.
type pend struct {
	action, doc []byte
	dead        bool // a dead-letter document
	rewritten   bool // already rewritten once by conflictRetry
}

func (w *worker) deliverBatch(ctx context.Context, b *event.Batch) error {
	w.inPlace = b.Body[:0]
	w.reasons = false
	items := w.items[:0]
	defer func() {
		clear(items) // drop the views into the body before it is reused
		w.items = items[:0]
		w.inPlace = nil
		w.first = firstAnswer{}
		if w.resp.Cap() > maxKeptResponse {
			w.resp = bytes.Buffer{} // an answer full of item errors: do not keep its buffer
		}
	}()
	// The first round sends the body as the source built it. Most answers
	// say "errors":false: every item is indexed, and no per-item view of
	// the batch is needed. Any other answer is handed to deliver, which
	// acts on it as on the answer to its own first request.
	if len(b.Items) == 0 {
		b.Done()
		return nil
	}
	w.setIndex(b.Index)
	status, retryAfter, err := w.send(ctx, b.Body)
	if err == nil && status >= 200 && status < 300 && errorsFalse(w.resp.Bytes()) {
		w.s.answered(status, w.resp.Bytes())
		w.s.indexed.Add(uint64(len(b.Items)))
		w.bo.Reset()
		b.Done()
		return nil
	}
	w.first = firstAnswer{ok: true, status: status, retryAfter: retryAfter, err: err}
	for i := range b.Items {
		items = append(items, pend{action: b.Action(i), doc: b.Document(i)})
	}
	if err := w.deliver(ctx, b.Body, items); err != nil {
		return err
	}
	b.Done()
	return nil
}

// firstAnswer is the outcome of a batch's first request, sent by
// deliverBatch before deliver takes over.
type firstAnswer struct {
	ok         bool // deliver's first round uses this instead of sending
	status     int
	retryAfter time.Duration
	err        error
}

// deliver sends items (whose concatenation is body, when body is not nil)
// until each one is settled. It returns only ctx's error.
func (w *worker) deliver(ctx context.Context, body []byte, items []pend) error {
	for len(items) > 0 {
		if body == nil {
			var ok bool
			if body, ok = compact(w.inPlace, items); !ok {
				w.again = joinItems(w.again[:0], items)
				body = w.again
			}
		}
		var status int
		var retryAfter time.Duration
		var err error
		if w.first.ok {
			status, retryAfter, err = w.first.status, w.first.retryAfter, w.first.err
			w.first = firstAnswer{}
		} else {
			status, retryAfter, err = w.send(ctx, body)
		}
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			w.s.failures.Add(1)
			w.s.reach.Failed(err.Error())
			d := w.bo.Failed(0)
			w.s.log.Warn().Err(err).Int("items", len(items)).Dur("retry_in_ms", d).Msg("bulk request failed; will retry")
			if err := w.wait(ctx, d); err != nil {
				return err
			}
			continue
		}
		w.s.answered(status, w.resp.Bytes())
		switch {
		case status == http.StatusRequestEntityTooLarge || status == http.StatusBadRequest:
			// The request as a whole is refused: split it until the item
			// at fault stands alone, then dead-letter that one.
			w.s.failures.Add(1)
			if len(items) == 1 {
				it := items[0]
				reason := fmt.Sprintf("bulk request of one document refused with status %d: %s", status, excerpt(w.resp.Bytes()))
				if status == http.StatusRequestEntityTooLarge && len(it.doc) > maxRefusedOriginal {
					// A dead letter holding the whole document would be
					// refused for its size too, and lost: keep the start.
					size := len(it.doc)
					it.doc = cutUTF8(it.doc, maxRefusedOriginal)
					reason += fmt.Sprintf(" (event.original keeps the first %d of %d bytes)", len(it.doc), size)
				}
				items = w.settleDead([]pend{it}, []string{"request_refused"}, []string{reason})
				body = nil
				continue
			}
			w.s.log.Warn().Int("status", status).Int("items", len(items)).Msg("bulk request refused as a whole; splitting it")
			// The halves must not move each other's bytes: no compaction
			// from here on.
			w.inPlace = nil
			half := len(items) / 2
			if err := w.deliver(ctx, nil, items[:half]); err != nil {
				return err
			}
			if err := w.deliver(ctx, nil, items[half:]); err != nil {
				return err
			}
			return nil
		case status < 200 || status >= 300:
			// Refused as a whole (429, 5xx...): nothing was accepted.
			w.s.failures.Add(1)
			d := w.bo.Failed(retryAfter)
			w.s.log.Warn().Int("status", status).Str("response", excerpt(w.resp.Bytes())).Int("items", len(items)).
				Dur("retry_in_ms", d).Msg("bulk request rejected; will retry")
			if err := w.wait(ctx, d); err != nil {
				return err
			}
			continue
		}
		if errorsFalse(w.resp.Bytes()) {
			for i := range items {
				if items[i].dead {
					w.s.deadLettered.Add(1)
				} else {
					w.s.indexed.Add(1)
				}
			}
			w.bo.Reset()
			return nil
		}
		results, err := parseStatuses(w.resp.Bytes(), len(items))
		askReasons := false
		if err == nil && anyDeadLetter(results) {
			results, err = parseItems(w.resp.Bytes(), len(items))
			// Rejected documents without a reason (the request asked for
			// statuses only) go again, asking for the reasons their dead
			// letters must carry; they are refused again, or indexed.
			askReasons = err == nil && !w.reasons && missingReasons(results)
			w.reasons = w.reasons || askReasons
		}
		if err != nil {
			// Without per-item verdicts nothing can be told apart: send
			// everything again (ids make that safe).
			d := w.bo.Failed(0)
			w.s.log.Error().Err(err).Dur("retry_in_ms", d).Msg("unreadable bulk response; will resend the request")
			if err := w.wait(ctx, d); err != nil {
				return err
			}
			continue
		}
		var again []pend
		var dead []pend
		var deadTypes, deadReasons []string
		transient := 0
		for i := range items {
			r := &results[i]
			switch classify(r.Status) {
			case delivered:
				switch {
				case items[i].dead:
					w.s.deadLettered.Add(1)
				case r.Status == 409:
					w.s.duplicates.Add(1)
				default:
					w.s.indexed.Add(1)
				}
			case retry:
				transient++
				w.s.retried.Add(1)
				again = append(again, items[i])
			case deadLetter:
				if askReasons {
					again = append(again, items[i])
					continue
				}
				if items[i].dead {
					w.s.lost.Add(1)
					w.s.log.Error().Int("status", r.Status).Str("error_type", r.errorType()).Str("reason", r.reason()).
						Str("document", excerpt(items[i].doc)).Msg("dead-letter document rejected; it is lost (check the dead-letter template)")
					continue
				}
				if !items[i].rewritten {
					if doc, ok := conflictRetry(items[i].doc, r.reason()); ok {
						w.s.retried.Add(1)
						again = append(again, pend{action: items[i].action, doc: doc, rewritten: true})
						continue
					}
				}
				dead = append(dead, items[i])
				deadTypes = append(deadTypes, r.errorType())
				deadReasons = append(deadReasons, r.reason())
			}
		}
		if len(dead) > 0 {
			w.s.log.Warn().Int("documents", len(dead)).Str("error_type", deadTypes[0]).Str("reason", deadReasons[0]).
				Msg("documents rejected by Elasticsearch; writing them to the dead-letter stream")
			again = append(again, w.settleDead(dead, deadTypes, deadReasons)...)
		}
		sent := len(items)
		items, body = again, nil
		if transient == 0 {
			w.bo.Reset()
			continue
		}
		// Items answered 429 or 5xx go again, after a wait that follows
		// progress: none when most of the round was accepted.
		d := w.bo.Progress(sent-transient, sent, retryAfter)
		w.s.log.Debug().Int("items", transient).Int("of", sent).Dur("retry_in_ms", d).Msg("some bulk items failed transiently; will retry them")
		if err := w.wait(ctx, d); err != nil {
			return err
		}
	}
	return nil
}

// wait is a backoff wait, counted.
func (w *worker) wait(ctx context.Context, d time.Duration) error {
	start := time.Now()
	err := backoff.Sleep(ctx, d)
	w.s.backoffWait.Add(int64(time.Since(start)))
	return err
}

// maxKeptResponse is the largest response buffer a worker keeps between
// batches.
const maxKeptResponse = 1 << 20

// missingReasons reports whether an item to dead-letter has no error.
func missingReasons(results []itemResult) bool {
	for i := range results {
		if classify(results[i].Status) == deadLetter && results[i].Error == nil {
			return true
		}
	}
	return false
}

// anyDeadLetter reports whether some item is to be dead-lettered.
func anyDeadLetter(results []itemResult) bool {
	for i := range results {
		if classify(results[i].Status) == deadLetter {
			return true
		}
	}
	return false
}

// maxRefusedOriginal bounds event.original in the dead letter of a document
// refused for its size (413).
const maxRefusedOriginal = 64 << 10

// cutUTF8 returns at most the first n bytes of b, not splitting a UTF-8
// sequence.
func cutUTF8(b []byte, n int) []byte {
	if len(b) <= n {
		return b
	}
	for n > 0 && !utf8.RuneStart(b[n]) {
		n--
	}
	return b[:n]
}

// settleDead turns rejected items into dead-letter items.
func (w *worker) settleDead(items []pend, types, reasons []string) []pend {
	out := make([]pend, 0, len(items))
	for i, it := range items {
		if it.dead {
			w.s.lost.Add(1)
			w.s.log.Error().Str("reason", reasons[i]).Str("document", excerpt(it.doc)).Msg("dead-letter document refused; it is lost")
			continue
		}
		action, doc := deadLetterItem(w.s.cfg.DeadLetterIndex, w.index, it, types[i], reasons[i])
		out = append(out, pend{action: action, doc: doc, dead: true})
	}
	return out
}

// deadLetterItem builds the dead-letter action and document for a rejected
// item sent in a request whose default target is def: the same _id (so a
// retry answers 409; none when the item's action line has none), the
// original @timestamp when it is a valid RFC 3339 time (else the current
// time), the document as shipped in event.original (unindexed), the data
// stream it was meant for, and Elasticsearch's error type and reason.
func deadLetterItem(index, def string, it pend, errType, reason string) (action, doc []byte) {
	target, id, ok := encode.ParseCreate(it.action)
	if !ok {
		id, target = field(it.action, `"_id":"`), field(it.action, `"_index":"`)
	}
	if target == nil {
		target = []byte(def)
	}
	switch {
	case len(id) > 0:
		action = encode.AppendCreateIn(nil, index, def, id)
	case def != "" && index == def:
		// No id to keep (an action line not read): Elasticsearch gives
		// one, rather than refuse an empty one and the letter be lost.
		action = []byte("{\"create\":{}}\n")
	default:
		action = append(appendJSONString([]byte(`{"create":{"_index":`), []byte(index)), "}}\n"...)
	}
	orig := bytes.TrimRight(it.doc, "\n")
	var d []byte
	d = append(d, '{')
	// Only a timestamp that parses is copied: it holds no quote or
	// backslash that would break the JSON, and the dead-letter stream
	// (strict on @timestamp) accepts it.
	if ts := field(orig, `{"@timestamp":"`); ts != nil && bytes.HasPrefix(orig, []byte(`{"@timestamp":"`)) && validTime(ts) {
		d = append(d, `"@timestamp":"`...)
		d = append(d, ts...)
		d = append(d, `",`...)
	} else {
		d = append(d, `"@timestamp":"`...)
		d = time.Now().UTC().AppendFormat(d, time.RFC3339Nano)
		d = append(d, `",`...)
	}
	d = append(d, `"event.original":`...)
	d = appendJSONString(d, orig)
	d = append(d, `,"error.type":`...)
	d = appendJSONString(d, []byte(errType))
	d = append(d, `,"error.message":`...)
	d = appendJSONString(d, []byte(reason))
	d = append(d, `,"labels.target_index":`...)
	d = appendJSONString(d, target)
	d = append(d, `,"tags":["dead_letter"]}`...)
	d = append(d, '\n')
	return action, d
}

func validTime(ts []byte) bool {
	_, err := time.Parse(time.RFC3339Nano, string(ts))
	return err == nil
}

func appendJSONString(dst, s []byte) []byte {
	b, _ := json.Marshal(string(s)) // rare path; json.Marshal replaces invalid UTF-8
	return append(dst, b...)
}

// field returns the bytes after key up to the next '"' in b.
func field(b []byte, key string) []byte {
	i := bytes.Index(b, []byte(key))
	if i < 0 {
		return nil
	}
	rest := b[i+len(key):]
	j := bytes.IndexByte(rest, '"')
	if j < 0 {
		return nil
	}
	return rest[:j]
}

// compact writes items, in order, to the front of buf (within its
// capacity) and points their views there; it reports false, changing
// nothing, when they do not fit, buf is nil, or a write would run over
// bytes of buf not moved yet. Each view that lies in buf must lie at or
// after the place it moves to; copy handles the overlap. deliver keeps
// retried items in their order and puts new dead letters, built elsewhere,
// last, so that mostly holds; a document rewritten after a type conflict
// is longer than it was, and written in place it would run over the next
// item's action line: such rounds go through joinItems.
func compact(buf []byte, items []pend) ([]byte, bool) {
	if buf == nil {
		return nil, false
	}
	whole := buf[:cap(buf)]
	n := 0
	for _, it := range items {
		for _, v := range [2][]byte{it.action, it.doc} {
			if off, in := offsetIn(whole, v); in && off < n {
				return nil, false
			}
			n += len(v)
		}
	}
	if n > cap(buf) {
		return nil, false
	}
	body := buf[:0]
	for i := range items {
		it := &items[i]
		a := len(body)
		body = append(body, it.action...)
		d := len(body)
		body = append(body, it.doc...)
		it.action, it.doc = body[a:d:d], body[d:len(body):len(body)]
	}
	return body, true
}

// offsetIn returns where v starts in b's array, and whether it lies in b.
func offsetIn(b, v []byte) (int, bool) {
	if len(v) == 0 || len(b) == 0 {
		return 0, false
	}
	start := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	at := uintptr(unsafe.Pointer(unsafe.SliceData(v)))
	if at < start || at-start >= uintptr(len(b)) {
		return 0, false
	}
	return int(at - start), true
}

// joinItems appends the items, action and document each, to body.
func joinItems(body []byte, items []pend) []byte {
	for _, it := range items {
		body = append(body, it.action...)
		body = append(body, it.doc...)
	}
	return body
}

// send posts one bulk body and reads the whole response into w.resp. It
// returns the HTTP status and the Retry-After delay, or a transport error.
func (w *worker) send(ctx context.Context, body []byte) (int, time.Duration, error) {
	hdr := http.Header{"Content-Type": []string{"application/x-ndjson"}}
	wire := body
	if w.gz != nil {
		w.zbuf.Reset()
		w.gz.Reset(&w.zbuf)
		if _, err := w.gz.Write(body); err != nil {
			return 0, 0, fmt.Errorf("cannot compress bulk body: %w", err)
		}
		if err := w.gz.Close(); err != nil {
			return 0, 0, fmt.Errorf("cannot compress bulk body: %w", err)
		}
		hdr.Set("Content-Encoding", "gzip")
		wire = w.zbuf.Bytes()
	}
	sent := len(wire)
	rctx, cancel := context.WithTimeout(ctx, w.s.cfg.RequestTimeout)
	defer cancel()
	w.s.requests.Add(1)
	w.s.sending[w.id].Store(time.Now().UnixNano())
	defer w.s.sending[w.id].Store(0)
	path := w.pathStatus
	if w.reasons {
		path = w.pathReasons
	}
	req, err := esclient.NewRequest(rctx, http.MethodPost, path, wire)
	if err != nil {
		return 0, 0, fmt.Errorf("cannot build bulk request: %w", err)
	}
	req.Header = hdr
	res, err := w.s.client.Do(req)
	if err != nil {
		return 0, 0, fmt.Errorf("cannot send bulk request of %d bytes to %v: %w", sent, w.s.cfg.URLs, err)
	}
	defer res.Body.Close()
	w.resp.Reset()
	if _, err := w.resp.ReadFrom(res.Body); err != nil {
		return 0, 0, fmt.Errorf("cannot read bulk response (status %d): %w", res.StatusCode, err)
	}
	w.s.bytesSent.Add(uint64(sent))
	w.s.bytesRaw.Add(uint64(len(body)))
	return res.StatusCode, backoff.ParseRetryAfter(res.Header.Get("Retry-After")), nil
}

// excerpt shortens b for a log line.
func excerpt(b []byte) string {
	const max = 512
	b = bytes.TrimSpace(b)
	if len(b) > max {
		return string(b[:max]) + "…"
	}
	return string(b)
}

// StatusError is an HTTP answer that is not a success.
type StatusError struct {
	Op     string
	Status int
	Body   string
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("%s: status %d: %s", e.Op, e.Status, e.Body)
}

// IsUnreachable reports whether err means Elasticsearch could not be reached
// or is not ready yet (a transport error, 429 or 5xx): worth retrying, unlike
// a refusal.
func IsUnreachable(err error) bool {
	var se *StatusError
	if errors.As(err, &se) {
		return se.Status == 429 || se.Status >= 500
	}
	var op *net.OpError
	return errors.As(err, &op) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, context.DeadlineExceeded)
}
