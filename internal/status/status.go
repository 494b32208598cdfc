// Package status serves the shipper's own health and metrics over HTTP:
// /healthz (liveness: the process serves requests), /readyz (readiness: the
// checks passed to New succeed) and /metrics (Prometheus text format,
// written with github.com/VictoriaMetrics/metrics, plus its Go runtime and
// process metrics).
package status

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	vm "github.com/VictoriaMetrics/metrics"
)

// Metrics writes the current metrics in Prometheus text format.
type Metrics func(w *Writer)

// Writer writes Prometheus text exposition lines. The values are snapshots
// taken at scrape time: components count in their own atomics, off the
// per-line path, and nothing is registered, so a series whose object is gone
// (a file no longer followed) simply stops being written.
type Writer struct {
	w    io.Writer
	seen map[string]bool // families whose HELP and TYPE are written
}

// Counter writes a counter. name is a family name, optionally with labels
// (see Name); HELP and TYPE are written before the family's first series.
func (w *Writer) Counter(name, help string, v uint64) {
	w.meta(name, help, "counter")
	vm.WriteCounterUint64(w.w, name, v)
}

// Gauge writes a gauge, like Counter.
func (w *Writer) Gauge(name, help string, v float64) {
	w.meta(name, help, "gauge")
	vm.WriteGaugeFloat64(w.w, name, v)
}

func (w *Writer) meta(name, help, typ string) {
	family := name
	if i := strings.IndexByte(name, '{'); i >= 0 {
		family = name[:i]
	}
	if w.seen[family] {
		return
	}
	if w.seen == nil {
		w.seen = make(map[string]bool)
	}
	w.seen[family] = true
	fmt.Fprintf(w.w, "# HELP %s %s\n# TYPE %s %s\n", family, help, family, typ)
}

// Name returns a series name: family with the label pairs (name, value,
// name, value...), values escaped as the text format wants.
func Name(family string, labels ...string) string {
	if len(labels) < 2 {
		return family
	}
	var b strings.Builder
	b.WriteString(family)
	b.WriteByte('{')
	for i := 0; i+1 < len(labels); i += 2 {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(labels[i])
		b.WriteString(`="`)
		labelEscaper.WriteString(&b, labels[i+1])
		b.WriteByte('"')
	}
	b.WriteByte('}')
	return b.String()
}

var labelEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)

// Server is the status HTTP server.
type Server struct {
	srv *http.Server
	ln  net.Listener
}

// New listens on addr and serves until Close. ready returns nil when the
// shipper is ready, or the reason it is not.
func New(addr string, ready func() error, metrics Metrics) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("cannot listen for the status endpoint on %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if err := ready(); err != nil {
			http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "ready\n")
	})
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		metrics(&Writer{w: w})
		// The Go runtime and the process: memory, GC, goroutines, CPU,
		// file descriptors (go_*, process_*).
		vm.WriteProcessMetrics(w)
	})
	s := &Server{
		srv: &http.Server{
			Handler: mux,
			// A client that sends its request slowly (slowloris) holds a
			// connection for ReadHeaderTimeout at most, one that keeps it
			// idle for IdleTimeout; MaxConns bounds them together.
			ReadHeaderTimeout: 5 * time.Second,
			ReadTimeout:       10 * time.Second,
			WriteTimeout:      10 * time.Second,
			IdleTimeout:       30 * time.Second,
			MaxHeaderBytes:    8 << 10,
		},
		ln: &limitListener{Listener: ln, sem: make(chan struct{}, MaxConns), done: make(chan struct{})},
	}
	go func() { _ = s.srv.Serve(s.ln) }()
	return s, nil
}

// MaxConns bounds the connections the status server keeps open at once;
// more wait in the listen backlog until one closes. A slow client holds one
// for ReadHeaderTimeout at most: probes and a scraper get through.
const MaxConns = 64

// limitListener accepts a connection only while fewer than cap(sem) are
// open.
type limitListener struct {
	net.Listener
	sem       chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

func (l *limitListener) Accept() (net.Conn, error) {
	select {
	case l.sem <- struct{}{}:
	case <-l.done:
		return nil, net.ErrClosed
	}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.sem
		return nil, err
	}
	return &limitConn{Conn: c, release: func() { <-l.sem }}, nil
}

func (l *limitListener) Close() error {
	l.closeOnce.Do(func() { close(l.done) })
	return l.Listener.Close()
}

type limitConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}

// Addr is the address the server listens on.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Close stops the server, waiting at most a second for requests in progress.
func (s *Server) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := s.srv.Shutdown(ctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
