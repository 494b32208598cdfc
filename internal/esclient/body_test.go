package esclient

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
)

// writeCounter counts the writes to a connection and the largest one.
type writeCounter struct {
	net.Conn
	writes, largest *atomic.Int64
}

func (c *writeCounter) Write(p []byte) (int, error) {
	c.writes.Add(1)
	for {
		l := c.largest.Load()
		if int64(len(p)) <= l || c.largest.CompareAndSwap(l, int64(len(p))) {
			break
		}
	}
	return c.Conn.Write(p)
}

// echoBodies is a server that records the bodies and Content-Lengths it
// was sent.
type echoBodies struct {
	mu      sync.Mutex
	bodies  [][]byte
	lengths []int64
}

func (e *echoBodies) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	e.mu.Lock()
	e.bodies = append(e.bodies, b)
	e.lengths = append(e.lengths, r.ContentLength)
	e.mu.Unlock()
	w.Header().Set("X-Elastic-Product", "Elasticsearch")
	io.WriteString(w, `{"errors":false}`)
}

func post(t *testing.T, c *Client, body []byte) {
	t.Helper()
	req, err := NewRequest(context.Background(), http.MethodPost, "/_bulk", body)
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.Do(req)
	if err != nil {
		t.Fatalf("POST of %d bytes: %v", len(body), err)
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
}

func testBody(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte('a' + i%26)
	}
	return b
}

// A request body made by NewRequest goes to a plain TCP connection in one
// write, straight from the caller's bytes, with its Content-Length; the
// server gets it intact.
func TestBodyWrittenInOnePiece(t *testing.T) {
	srv := &echoBodies{}
	hs := httptest.NewServer(srv)
	defer hs.Close()
	c, err := New(Config{URLs: []string{hs.URL}, Product: "Elasticsearch"})
	if err != nil {
		t.Fatal(err)
	}
	var writes, largest atomic.Int64
	d := &net.Dialer{}
	c.hc.Transport.(*http.Transport).DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return &bodyConn{Conn: &writeCounter{Conn: conn, writes: &writes, largest: &largest}}, nil
	}
	const size = 4 << 20
	for i := range 3 {
		body := testBody(size + i)
		writes.Store(0)
		largest.Store(0)
		post(t, c, body)
		// Headers, then the body: net/http writes a body through a 32 KiB
		// buffer otherwise (128 writes for 4 MiB).
		if w, l := writes.Load(), largest.Load(); w > 2 || l != int64(len(body)) {
			t.Errorf("request %d: %d writes, the largest %d bytes; want at most 2, one of the whole body (%d bytes)", i, w, l, len(body))
		}
	}
	srv.mu.Lock()
	defer srv.mu.Unlock()
	for i, b := range srv.bodies {
		if !bytes.Equal(b, testBody(size+i)) || srv.lengths[i] != int64(size+i) {
			t.Errorf("request %d: server got %d bytes with Content-Length %d, want the %d bytes sent", i, len(b), srv.lengths[i], size+i)
		}
	}
}

// Over TLS, and for empty bodies, bodies arrive intact too; a body is sent
// again on the next node when the first refuses the connection.
func TestBodyTLSEmptyAndFailover(t *testing.T) {
	srv := &echoBodies{}
	hs := httptest.NewTLSServer(srv)
	defer hs.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "https://" + ln.Addr().String()
	ln.Close()
	c, err := New(Config{URLs: []string{dead, hs.URL}, InsecureSkipVerify: true, Product: "Elasticsearch"})
	if err != nil {
		t.Fatal(err)
	}
	sizes := []int{1 << 20, 0, 100, 3 << 20}
	for _, n := range sizes {
		post(t, c, testBody(n))
	}
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if len(srv.bodies) != len(sizes) {
		t.Fatalf("server got %d requests, want %d", len(srv.bodies), len(sizes))
	}
	for i, n := range sizes {
		if !bytes.Equal(srv.bodies[i], testBody(n)) {
			t.Errorf("request %d: server got %d bytes, want the %d sent", i, len(srv.bodies[i]), n)
		}
	}
}

// Body reads like any reader when the connection cannot take it whole.
func TestBodyRead(t *testing.T) {
	b := testBody(100)
	got, err := io.ReadAll(io.LimitReader(&Body{b: b}, 60))
	if err != nil || !bytes.Equal(got, b[:60]) {
		t.Errorf("got %q, %v; want the first 60 bytes", got, err)
	}
}
