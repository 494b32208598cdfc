package faultproxy

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// target is a fake bulk endpoint answering 201 for every item it gets.
func target(t *testing.T, items *atomic.Int64) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		n := bytes.Count(b, []byte("\n")) / 2
		items.Add(int64(n))
		w.Header().Set("X-Elastic-Product", "Elasticsearch")
		var out strings.Builder
		out.WriteString(`{"errors":false,"items":[`)
		for i := 0; i < n; i++ {
			if i > 0 {
				out.WriteByte(',')
			}
			fmt.Fprintf(&out, `{"create":{"status":201,"_id":"%d"}}`, i)
		}
		out.WriteString("]}")
		io.WriteString(w, out.String())
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func bulkBody(n int) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "{\"create\":{\"_id\":\"%d\"}}\n{\"message\":\"m%d\"}\n", i, i)
	}
	return b.String()
}

func post(p *Proxy, n int) (int, string, error) {
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	res, err := c.Post(p.URL()+"/_bulk", "application/x-ndjson", strings.NewReader(bulkBody(n)))
	if err != nil {
		return 0, "", err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return res.StatusCode, string(b), err
}

func TestFaults(t *testing.T) {
	var items atomic.Int64
	p, err := New(target(t, &items))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()

	if code, body, err := post(p, 3); err != nil || code != 200 || strings.Count(body, `"status":201`) != 3 {
		t.Fatalf("no fault: %d %q %v", code, body, err)
	}

	p.Set(Fault{RejectEvery: 3})
	before := items.Load()
	code, body, err := post(p, 9)
	if err != nil || code != 200 || strings.Count(body, `"status":429`) != 3 || strings.Count(body, `"status":201`) != 6 {
		t.Fatalf("RejectEvery 3: %d %q %v", code, body, err)
	}
	if got := items.Load() - before; got != 6 {
		t.Fatalf("RejectEvery 3: %d items forwarded, want 6", got)
	}
	if !strings.Contains(body, "es_rejected_execution_exception") {
		t.Fatalf("RejectEvery: no es_rejected_execution_exception in %q", body)
	}

	p.Set(Fault{Status: 503})
	if code, _, err := post(p, 1); err != nil || code != 503 {
		t.Fatalf("Status 503: %d %v", code, err)
	}

	p.Set(Fault{CutEvery: 1})
	if _, _, err := post(p, 50); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("CutEvery 1: got %v, want an unexpected EOF", err)
	}

	p.Set(Fault{Refuse: true})
	if _, _, err := post(p, 1); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("Refuse: got %v, want connection refused", err)
	}
	if err := p.Set(Fault{}); err != nil {
		t.Fatal(err)
	}
	if code, _, err := post(p, 1); err != nil || code != 200 {
		t.Fatalf("after Refuse cleared: %d %v", code, err)
	}

	p.Set(Fault{Hang: true})
	done := make(chan error, 1)
	go func() { _, _, err := post(p, 1); done <- err }()
	for p.Stats().Hung == 0 {
		time.Sleep(5 * time.Millisecond)
	}
	select {
	case err := <-done:
		t.Fatalf("Hang: answered (%v)", err)
	default:
	}
	p.Set(Fault{})
	if err := <-done; err != nil {
		t.Fatalf("Hang cleared: %v", err)
	}

	p.Set(Fault{Latency: 50 * time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	req, _ := http.NewRequestWithContext(ctx, "POST", p.URL()+"/_bulk", strings.NewReader(bulkBody(1)))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if d := time.Since(start); d < 50*time.Millisecond {
		t.Fatalf("Latency 50ms: answered after %v", d)
	}
}

// RejectEvery decodes the answer, so it must get one that is not
// compressed even when the client accepts gzip.
func TestRejectEveryWithGzipAnswers(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		n := bytes.Count(b, []byte("\n")) / 2
		var out strings.Builder
		out.WriteString(`{"errors":false,"items":[`)
		for i := 0; i < n; i++ {
			if i > 0 {
				out.WriteByte(',')
			}
			out.WriteString(`{"create":{"status":201}}`)
		}
		out.WriteString("]}")
		if strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
			w.Header().Set("Content-Encoding", "gzip")
			zw := gzip.NewWriter(w)
			io.WriteString(zw, out.String())
			zw.Close()
			return
		}
		io.WriteString(w, out.String())
	}))
	defer srv.Close()
	p, err := New(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	p.Set(Fault{RejectEvery: 2})
	req, _ := http.NewRequest("POST", p.URL()+"/_bulk", strings.NewReader(bulkBody(4)))
	req.Header.Set("Accept-Encoding", "gzip")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != 200 || strings.Count(string(b), `"status":429`) != 2 || strings.Count(string(b), `"status":201`) != 2 {
		t.Fatalf("got %d %q, want two 201 and two 429 items", res.StatusCode, b)
	}
}
