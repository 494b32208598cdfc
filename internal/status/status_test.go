package status

import (
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestEndpoints(t *testing.T) {
	var notReady atomic.Bool
	notReady.Store(true)
	s, err := New("127.0.0.1:0", func() error {
		if notReady.Load() {
			return errors.New("Elasticsearch not reached yet")
		}
		return nil
	}, func(w *Writer) {
		w.Counter("shipper_lines_total", "Lines read.", 42)
		w.Gauge("shipper_buffer_bytes", "Budget in use.", 1.5)
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	base := "http://" + s.Addr()

	if code, body := get(t, base+"/healthz"); code != 200 || body != "ok\n" {
		t.Fatalf("/healthz: %d %q", code, body)
	}
	if code, body := get(t, base+"/readyz"); code != 503 || !strings.Contains(body, "Elasticsearch not reached yet") {
		t.Fatalf("/readyz before ready: %d %q", code, body)
	}
	notReady.Store(false)
	if code, _ := get(t, base+"/readyz"); code != 200 {
		t.Fatalf("/readyz when ready: %d", code)
	}
	code, body := get(t, base+"/metrics")
	want := "# HELP shipper_lines_total Lines read.\n# TYPE shipper_lines_total counter\nshipper_lines_total 42\n" +
		"# HELP shipper_buffer_bytes Budget in use.\n# TYPE shipper_buffer_bytes gauge\nshipper_buffer_bytes 1.5\n"
	if code != 200 || !strings.HasPrefix(body, want) {
		t.Fatalf("/metrics: %d\n%s\nwant it to start with\n%s", code, body, want)
	}
	for _, m := range []string{"\ngo_goroutines ", "\nprocess_resident_memory_bytes "} {
		if !strings.Contains(body, m) {
			t.Errorf("/metrics lacks the runtime metric %q", m)
		}
	}
}

// Labelled series of one family share one HELP and TYPE; label values are
// escaped.
func TestLabels(t *testing.T) {
	var b strings.Builder
	w := &Writer{w: &b}
	w.Counter(Name("shipper_input_records_total", "input", "file"), "Records read.", 3)
	w.Counter(Name("shipper_input_records_total", "input", "stdin"), "Records read.", 4)
	w.Gauge(Name("shipper_file_acked_offset_bytes", "path", `/var/log/a "b"\c`+"\n", "inode", "12"), "Offset.", 100)
	w.Counter(Name("shipper_plain_total"), "No labels.", 1)
	want := "# HELP shipper_input_records_total Records read.\n# TYPE shipper_input_records_total counter\n" +
		"shipper_input_records_total{input=\"file\"} 3\n" +
		"shipper_input_records_total{input=\"stdin\"} 4\n" +
		"# HELP shipper_file_acked_offset_bytes Offset.\n# TYPE shipper_file_acked_offset_bytes gauge\n" +
		`shipper_file_acked_offset_bytes{path="/var/log/a \"b\"\\c\n",inode="12"} 100` + "\n" +
		"# HELP shipper_plain_total No labels.\n# TYPE shipper_plain_total counter\nshipper_plain_total 1\n"
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
}

func TestListenError(t *testing.T) {
	s, err := New("127.0.0.1:0", func() error { return nil }, func(*Writer) {})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := New(s.Addr(), func() error { return nil }, func(*Writer) {}); err == nil || !strings.Contains(err.Error(), s.Addr()) {
		t.Fatalf("second listen on %s: got %v, want an error naming the address", s.Addr(), err)
	}
}

// TestSlowloris: clients that open connections and send their request
// slowly never hold more than MaxConns connections, and a probe sent
// meanwhile is answered once the slow ones time out.
func TestSlowloris(t *testing.T) {
	s, err := New("127.0.0.1:0", func() error { return nil }, func(*Writer) {})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range 2 * MaxConns {
		c, err := net.Dial("tcp", s.Addr())
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		_, _ = c.Write([]byte("GET /healthz HTTP/1.1\r\nX-Slow: "))
	}
	ll := s.ln.(*limitListener)
	if n := len(ll.sem); n > MaxConns {
		t.Fatalf("open connections: got %d, want at most %d", n, MaxConns)
	}
	client := &http.Client{Timeout: 60 * time.Second}
	resp, err := client.Get("http://" + s.Addr() + "/healthz")
	if err != nil {
		t.Fatalf("/healthz during the attack: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("/healthz during the attack: %d", resp.StatusCode)
	}
}
