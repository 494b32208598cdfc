// Package faultproxy is an HTTP proxy for tests that stands between the
// shipper and a real Elasticsearch on loopback and injects the faults a busy
// or failing cluster shows: refused connections, requests that hang, 429 or
// 503 for whole requests, a share of bulk items answered 429
// es_rejected_execution_exception, responses cut in the middle of the body,
// and latency.
//
// Faults change at any time with Set; requests in progress keep the fault
// they started with, except Hang, which ends for them too. The proxy only
// listens on 127.0.0.1.
package faultproxy

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Fault is what the proxy does to the requests it receives. The zero Fault
// forwards everything untouched.
type Fault struct {
	// Refuse closes the listening socket: connections are refused, and
	// connections already open are closed.
	Refuse bool
	// Hang reads requests and answers none until the fault changes.
	Hang bool
	// Status, when not 0, answers every request with this status (429,
	// 503...) and an Elasticsearch error body, without forwarding it.
	Status int
	// RejectEvery, when n > 0, answers every n-th bulk item (counted over
	// all requests, so a retried item passes the next time) with 429
	// es_rejected_execution_exception; those items are not forwarded.
	RejectEvery int
	// CutEvery, when n > 0, forwards every bulk request but cuts the
	// response of every n-th one in the middle of its body.
	CutEvery int
	// Latency delays every request before it is forwarded.
	Latency time.Duration
}

// Stats counts what the proxy did.
type Stats struct {
	Requests      uint64 // requests received
	Forwarded     uint64 // requests forwarded to Elasticsearch
	StatusAnswers uint64 // requests answered with Fault.Status
	ItemsRejected uint64 // bulk items answered 429
	Cut           uint64 // responses cut mid-body
	Hung          uint64 // requests held by Hang
	Closed        uint64 // connections closed by Refuse
}

// Proxy forwards HTTP requests to one target with faults.
type Proxy struct {
	target *url.URL
	addr   string
	client *http.Client
	srv    *http.Server

	mu      sync.Mutex
	fault   Fault
	changed chan struct{} // closed and replaced by Set
	ln      net.Listener  // nil while refusing
	conns   map[net.Conn]struct{}

	items, bulks                                                    atomic.Uint64
	requests, forwarded, statusAnswers, rejected, cut, hung, closed atomic.Uint64
}

// New starts a proxy on a free loopback port forwarding to target (an
// http:// URL).
func New(target string) (*Proxy, error) {
	u, err := url.Parse(target)
	if err != nil || u.Scheme != "http" || u.Host == "" {
		return nil, fmt.Errorf("faultproxy: target %q is not an http:// URL", target)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("faultproxy: cannot listen on loopback: %w", err)
	}
	p := &Proxy{
		target:  u,
		addr:    ln.Addr().String(),
		client:  &http.Client{Transport: &http.Transport{DisableCompression: true, MaxIdleConnsPerHost: 16}},
		changed: make(chan struct{}),
		ln:      ln,
		conns:   map[net.Conn]struct{}{},
	}
	p.srv = &http.Server{Handler: http.HandlerFunc(p.serve), ReadHeaderTimeout: time.Minute, ConnState: p.track}
	go func() { _ = p.srv.Serve(ln) }()
	return p, nil
}

// URL is the proxy's address for the shipper's --elasticsearch-url.
func (p *Proxy) URL() string { return "http://" + p.addr }

// Set changes the fault. Clearing Refuse listens again on the same port.
func (p *Proxy) Set(f Fault) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.fault = f
	close(p.changed)
	p.changed = make(chan struct{})
	switch {
	case f.Refuse && p.ln != nil:
		p.ln.Close()
		p.ln = nil
		for c := range p.conns {
			c.Close()
			p.closed.Add(1)
		}
	case !f.Refuse && p.ln == nil:
		var ln net.Listener
		var err error
		// The port was ours a moment ago; a bounded number of tries covers
		// a TIME_WAIT hiccup.
		for i := 0; i < 50; i++ {
			if ln, err = net.Listen("tcp", p.addr); err == nil {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		if err != nil {
			return fmt.Errorf("faultproxy: cannot listen on %s again: %w", p.addr, err)
		}
		p.ln = ln
		go func() { _ = p.srv.Serve(ln) }()
	}
	return nil
}

// Stats returns the counters.
func (p *Proxy) Stats() Stats {
	return Stats{Requests: p.requests.Load(), Forwarded: p.forwarded.Load(), StatusAnswers: p.statusAnswers.Load(),
		ItemsRejected: p.rejected.Load(), Cut: p.cut.Load(), Hung: p.hung.Load(), Closed: p.closed.Load()}
}

// Close stops the proxy and closes every connection.
func (p *Proxy) Close() {
	p.mu.Lock()
	close(p.changed)
	p.changed = make(chan struct{})
	p.mu.Unlock()
	_ = p.srv.Close()
}

func (p *Proxy) track(c net.Conn, st http.ConnState) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch st {
	case http.StateNew:
		if p.ln == nil { // accepted just before the listener closed
			c.Close()
			return
		}
		p.conns[c] = struct{}{}
	case http.StateClosed, http.StateHijacked:
		delete(p.conns, c)
	}
}

func (p *Proxy) current() (Fault, <-chan struct{}) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.fault, p.changed
}

func (p *Proxy) serve(w http.ResponseWriter, r *http.Request) {
	p.requests.Add(1)
	f, changed := p.current()
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	if f.Hang {
		p.hung.Add(1)
		select {
		case <-changed:
		case <-r.Context().Done():
			return
		}
		f, _ = p.current()
	}
	if f.Latency > 0 {
		t := time.NewTimer(f.Latency)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		}
	}
	if f.Status != 0 {
		p.statusAnswers.Add(1)
		w.Header().Set("X-Elastic-Product", "Elasticsearch")
		w.Header().Set("Content-Type", "application/json")
		if f.Status == http.StatusTooManyRequests || f.Status == http.StatusServiceUnavailable {
			w.Header().Set("Retry-After", "1")
		}
		w.WriteHeader(f.Status)
		fmt.Fprintf(w, `{"error":{"type":"fault_proxy","reason":"status %d injected by the fault proxy"},"status":%d}`, f.Status, f.Status)
		return
	}
	bulk := r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/_bulk")
	if bulk && f.RejectEvery > 0 {
		p.rejectItems(w, r, body, f.RejectEvery)
		return
	}
	res, resBody, err := p.forward(r.Context(), r, body, r.Header.Get("Content-Encoding"), false)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	if bulk && f.CutEvery > 0 && p.bulks.Add(1)%uint64(f.CutEvery) == 0 && len(resBody) > 1 {
		p.cutResponse(w, res, resBody)
		return
	}
	copyHeader(w.Header(), res.Header)
	w.WriteHeader(res.StatusCode)
	_, _ = w.Write(resBody)
}

// forward sends the request to the target with body and returns the answer,
// read whole; plain asks for an answer that is not compressed, to decode it.
func (p *Proxy) forward(ctx context.Context, r *http.Request, body []byte, encoding string, plain bool) (*http.Response, []byte, error) {
	u := *p.target
	u.Path = r.URL.Path
	u.RawQuery = r.URL.RawQuery
	req, err := http.NewRequestWithContext(ctx, r.Method, u.String(), bytes.NewReader(body))
	if err != nil {
		return nil, nil, err
	}
	copyHeader(req.Header, r.Header)
	req.Header.Del("Content-Encoding")
	if plain {
		req.Header.Del("Accept-Encoding")
	}
	if encoding != "" {
		req.Header.Set("Content-Encoding", encoding)
	}
	req.ContentLength = int64(len(body))
	req.Header.Set("Content-Length", strconv.Itoa(len(body)))
	res, err := p.client.Do(req)
	if err != nil {
		return nil, nil, fmt.Errorf("faultproxy: %s %s: %w", r.Method, u.String(), err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return nil, nil, fmt.Errorf("faultproxy: reading the answer to %s %s: %w", r.Method, u.String(), err)
	}
	p.forwarded.Add(1)
	return res, b, nil
}

// rejectItems forwards the bulk items that are not rejected and answers
// with their results and a 429 for each rejected one, in request order.
func (p *Proxy) rejectItems(w http.ResponseWriter, r *http.Request, body []byte, every int) {
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(bytes.NewReader(body))
		if err != nil {
			http.Error(w, "faultproxy: "+err.Error(), http.StatusBadRequest)
			return
		}
		if body, err = io.ReadAll(zr); err != nil {
			http.Error(w, "faultproxy: "+err.Error(), http.StatusBadRequest)
			return
		}
	}
	// The shipper sends create actions, each followed by its document.
	lines := bytes.SplitAfter(body, []byte("\n"))
	if n := len(lines); n > 0 && len(lines[n-1]) == 0 {
		lines = lines[:n-1]
	}
	if len(lines)%2 != 0 {
		http.Error(w, "faultproxy: a bulk body of action and document pairs expected", http.StatusBadRequest)
		return
	}
	n := len(lines) / 2
	reject := make([]bool, n)
	var kept []byte
	for i := 0; i < n; i++ {
		if p.items.Add(1)%uint64(every) == 0 {
			reject[i] = true
			p.rejected.Add(1)
			continue
		}
		kept = append(kept, lines[2*i]...)
		kept = append(kept, lines[2*i+1]...)
	}
	var results []json.RawMessage
	hdr := http.Header{}
	if len(kept) > 0 {
		res, resBody, err := p.forward(r.Context(), r, kept, "", true)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		if res.StatusCode != http.StatusOK {
			copyHeader(w.Header(), res.Header)
			w.WriteHeader(res.StatusCode)
			_, _ = w.Write(resBody)
			return
		}
		var parsed struct {
			Items []json.RawMessage `json:"items"`
		}
		if err := json.Unmarshal(resBody, &parsed); err != nil {
			http.Error(w, "faultproxy: cannot decode the bulk answer: "+err.Error(), http.StatusBadGateway)
			return
		}
		results = parsed.Items
		hdr = res.Header
	}
	var out bytes.Buffer
	out.WriteString(`{"errors":true,"items":[`)
	j := 0
	for i := 0; i < n; i++ {
		if i > 0 {
			out.WriteByte(',')
		}
		if reject[i] {
			out.WriteString(`{"create":{"status":429,"error":{"type":"es_rejected_execution_exception","reason":"rejected execution of coordinating operation (injected by the fault proxy)"}}}`)
			continue
		}
		if j >= len(results) {
			http.Error(w, "faultproxy: the bulk answer has fewer items than were forwarded", http.StatusBadGateway)
			return
		}
		out.Write(results[j])
		j++
	}
	out.WriteString(`]}`)
	copyHeader(w.Header(), hdr)
	w.Header().Del("Content-Length")
	w.Header().Del("Content-Encoding")
	w.Header().Set("X-Elastic-Product", "Elasticsearch")
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(out.Bytes())
}

// cutResponse announces the whole body and sends half of it, then closes
// the connection.
func (p *Proxy) cutResponse(w http.ResponseWriter, res *http.Response, body []byte) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		http.Error(w, "faultproxy: cannot hijack", http.StatusInternalServerError)
		return
	}
	conn, buf, err := hj.Hijack()
	if err != nil {
		return
	}
	defer conn.Close()
	p.cut.Add(1)
	fmt.Fprintf(buf, "HTTP/1.1 %d %s\r\n", res.StatusCode, http.StatusText(res.StatusCode))
	for k, vs := range res.Header {
		if k == "Content-Length" || k == "Transfer-Encoding" {
			continue
		}
		for _, v := range vs {
			fmt.Fprintf(buf, "%s: %s\r\n", k, v)
		}
	}
	fmt.Fprintf(buf, "Content-Length: %d\r\n\r\n", len(body))
	buf.Write(body[:len(body)/2])
	_ = buf.Flush()
}

func copyHeader(dst, src http.Header) {
	for k, vs := range src {
		for _, v := range vs {
			dst.Add(k, v)
		}
	}
}
