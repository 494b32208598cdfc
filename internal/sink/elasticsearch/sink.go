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
	"math"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/klauspost/compress/gzip"
	"github.com/rs/zerolog"

	"shipper/internal/encode"
	"shipper/internal/esclient"
	"shipper/internal/event"
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
	// RetryInitial and RetryMax bound the exponential backoff.
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
}

// Sink writes batches into Elasticsearch.
type Sink struct {
	cfg    Config
	client *esclient.Client
	log    zerolog.Logger

	indexed, duplicates, deadLettered, lost, retried, requests, failures, bytesSent, bytesRaw atomic.Uint64
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
	return &Sink{cfg: cfg, client: client, log: log}, nil
}

// Client returns the underlying client, for start-up checks and setup.
func (s *Sink) Client() *esclient.Client { return s.client }

// Stats returns a snapshot of the counters.
func (s *Sink) Stats() Stats {
	return Stats{
		Indexed: s.indexed.Load(), Duplicates: s.duplicates.Load(), DeadLettered: s.deadLettered.Load(),
		Lost: s.lost.Load(), Retried: s.retried.Load(), Requests: s.requests.Load(), Failures: s.failures.Load(),
		BytesSent: s.bytesSent.Load(), BytesRaw: s.bytesRaw.Load(),
	}
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
	gz    *gzip.Writer
	zbuf  bytes.Buffer
	resp  bytes.Buffer
	bo    backoff
	items []pend // scratch of deliverBatch, reused
}

func (s *Sink) newWorker() *worker {
	w := &worker{s: s, bo: backoff{initial: s.cfg.RetryInitial, max: s.cfg.RetryMax}}
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
}

func (w *worker) deliverBatch(ctx context.Context, b *event.Batch) error {
	items := w.items[:0]
	for i := range b.Items {
		items = append(items, pend{action: b.Action(i), doc: b.Document(i)})
	}
	defer func() {
		clear(items) // drop the views into the body before it is reused
		w.items = items[:0]
	}()
	w.bo.reset()
	if err := w.deliver(ctx, b.Body, items); err != nil {
		return err
	}
	b.Done()
	return nil
}

// deliver sends items (whose concatenation is body, when body is not nil)
// until each one is settled. It returns only ctx's error.
func (w *worker) deliver(ctx context.Context, body []byte, items []pend) error {
	for len(items) > 0 {
		if body == nil {
			body = joinItems(items)
		}
		status, retryAfter, err := w.send(ctx, body)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			w.s.failures.Add(1)
			d := w.bo.next(0)
			w.s.log.Warn().Err(err).Int("items", len(items)).Dur("retry_in", d).Msg("bulk request failed; will retry")
			if err := sleep(ctx, d); err != nil {
				return err
			}
			continue
		}
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
			half := len(items) / 2
			if err := w.deliver(ctx, nil, items[:half]); err != nil {
				return err
			}
			if err := w.deliver(ctx, nil, items[half:]); err != nil {
				return err
			}
			return nil
		case status < 200 || status >= 300:
			w.s.failures.Add(1)
			d := w.bo.next(retryAfter)
			w.s.log.Warn().Int("status", status).Str("response", excerpt(w.resp.Bytes())).Int("items", len(items)).
				Dur("retry_in", d).Msg("bulk request rejected; will retry")
			if err := sleep(ctx, d); err != nil {
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
			return nil
		}
		results, err := parseItems(w.resp.Bytes(), len(items))
		if err != nil {
			// Without per-item verdicts nothing can be told apart: send
			// everything again (ids make that safe).
			d := w.bo.next(0)
			w.s.log.Error().Err(err).Dur("retry_in", d).Msg("unreadable bulk response; will resend the request")
			if err := sleep(ctx, d); err != nil {
				return err
			}
			continue
		}
		var again []pend
		var dead []pend
		var deadTypes, deadReasons []string
		transient := false
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
				transient = true
				w.s.retried.Add(1)
				again = append(again, items[i])
			case deadLetter:
				if items[i].dead {
					w.s.lost.Add(1)
					w.s.log.Error().Int("status", r.Status).Str("error_type", r.errorType()).Str("reason", r.reason()).
						Str("document", excerpt(items[i].doc)).Msg("dead-letter document rejected; it is lost (check the dead-letter template)")
					continue
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
		items, body = again, nil
		if transient {
			d := w.bo.next(0)
			w.s.log.Warn().Int("items", len(items)).Dur("retry_in", d).Msg("some bulk items failed transiently; will retry them")
			if err := sleep(ctx, d); err != nil {
				return err
			}
		}
	}
	return nil
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
		action, doc := deadLetterItem(w.s.cfg.DeadLetterIndex, it, types[i], reasons[i])
		out = append(out, pend{action: action, doc: doc, dead: true})
	}
	return out
}

// deadLetterItem builds the dead-letter action and document for a rejected
// item: the same _id (so a retry answers 409), the original @timestamp when
// it is a valid RFC 3339 time (else the current time), the document as
// shipped in event.original (unindexed), and Elasticsearch's error type and
// reason.
func deadLetterItem(index string, it pend, errType, reason string) (action, doc []byte) {
	id := field(it.action, `"_id":"`)
	target := field(it.action, `"_index":"`)
	action = encode.AppendCreate(nil, index, id)
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

func joinItems(items []pend) []byte {
	n := 0
	for _, it := range items {
		n += len(it.action) + len(it.doc)
	}
	body := make([]byte, 0, n)
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
	var rd *bytes.Reader
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
		rd = bytes.NewReader(w.zbuf.Bytes())
	} else {
		rd = bytes.NewReader(body)
	}
	sent := rd.Len()
	rctx, cancel := context.WithTimeout(ctx, w.s.cfg.RequestTimeout)
	defer cancel()
	w.s.requests.Add(1)
	req, err := http.NewRequestWithContext(rctx, http.MethodPost, bulkPath, rd)
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
	return res.StatusCode, retryAfter(res.Header.Get("Retry-After")), nil
}

func retryAfter(v string) time.Duration {
	if v == "" {
		return 0
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil && n >= 0 && n <= math.MaxInt64/int64(time.Second) {
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := time.Until(t); d > 0 {
			return d
		}
	}
	return 0
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
