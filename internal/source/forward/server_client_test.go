package forward

import (
	"fmt"
	"math"
	"net"
	"os"
	"os/exec"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fluent/fluent-logger-golang/fluent"

	"shipper/internal/testutil/nodefluent"
)

// dockerLoggerConfig is how Docker's fluentd driver configures
// fluent-logger-golang (moby daemon/logger/fluentd) with
// fluentd-async, fluentd-sub-second-precision and fluentd-request-ack.
func dockerLoggerConfig(port int, async, ack bool) fluent.Config {
	return fluent.Config{
		FluentNetwork: "tcp", FluentHost: "127.0.0.1", FluentPort: port,
		BufferLimit: 1048576, RetryWait: 1000, MaxRetry: math.MaxInt32,
		Async: async, ForceStopAsyncSend: async,
		SubSecondPrecision: true, RequestAck: ack,
		Timeout: 5 * time.Second, ReadTimeout: 30 * time.Second, WriteTimeout: 30 * time.Second,
	}
}

// dockerLine is what the driver posts for one line of a container.
func dockerLine(i int) map[string]string {
	return map[string]string{
		"container_id": containerID, "container_name": "/orders-1", "source": "stdout",
		"log": fmt.Sprintf(`{"level":"info","msg":"line %d","seq":%d}`, i, i),
	}
}

// TestServerFluentLoggerGolangDocker drives the real library as Docker does,
// in its sync and async modes, with and without acks, against the server and
// a fake sink.
func TestServerFluentLoggerGolangDocker(t *testing.T) {
	for _, mode := range []struct {
		name       string
		async, ack bool
	}{{"sync", false, false}, {"sync+ack", false, true}, {"async", true, false}, {"async+ack", true, true}} {
		t.Run(mode.name, func(t *testing.T) {
			h := startServer(t, ServerConfig{}, testPipeline)
			cfg := dockerLoggerConfig(h.srv.Addr().(*net.TCPAddr).Port, mode.async, mode.ack)
			var ok, failed atomic.Int64
			cfg.AsyncResultCallback = func(_ []byte, err error) {
				if err != nil {
					failed.Add(1)
				} else {
					ok.Add(1)
				}
			}
			logger, err := fluent.New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			const n = 200
			base := time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)
			for i := 0; i < n; i++ {
				if err := logger.PostWithTime("docker.orders", base.Add(time.Duration(i)*time.Microsecond+123), dockerLine(i)); err != nil {
					t.Fatalf("post %d: %v", i, err)
				}
			}
			docs := h.sink.waitDocs(t, n)
			if mode.async {
				deadline := time.Now().Add(10 * time.Second)
				for ok.Load()+failed.Load() < n && time.Now().Before(deadline) {
					time.Sleep(5 * time.Millisecond)
				}
				if ok.Load() != n {
					t.Errorf("async results: %d ok, %d failed, want %d ok", ok.Load(), failed.Load(), n)
				}
			}
			logger.Close()
			for i, d := range docs {
				want := base.Add(time.Duration(i)*time.Microsecond + 123).Format(time.RFC3339Nano)
				if d.fields["@timestamp"] != want || d.fields["message"] != fmt.Sprintf("line %d", i) ||
					d.fields["seq"] != float64(i) || d.fields["container.name"] != "orders-1" || d.fields["fluent.tag"] != "docker.orders" {
					t.Fatalf("doc %d: %s, want @timestamp %s", i, d.raw, want)
				}
			}
			// The ack writer counts an ack after its write returns, which
			// can be after the client read it.
			wantAcks := uint64(0)
			if mode.ack {
				wantAcks = n
			}
			deadline := time.Now().Add(10 * time.Second)
			for h.srv.Stats().Acks != wantAcks && time.Now().Before(deadline) {
				time.Sleep(time.Millisecond)
			}
			if st := h.srv.Stats(); st.Acks != wantAcks {
				t.Errorf("acks: got %d, want %d", st.Acks, wantAcks)
			}
		})
	}
}

// TestServerPythonFluentLogger: Python's fluent-logger (3-element Message,
// EventTime with nanosecond_precision).
func TestServerPythonFluentLogger(t *testing.T) {
	py, err := pythonWithFluent()
	if err != nil {
		msg := "python3 with the fluent module (Debian python3-fluent-logger) not available: " + err.Error()
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	h := startServer(t, ServerConfig{}, testPipeline)
	script := fmt.Sprintf(`
import sys
from fluent import sender
s = sender.FluentSender('py', host='127.0.0.1', port=%d, nanosecond_precision=True)
for i in range(50):
    if not s.emit_with_time('app', 1700000000.5 + i / 1000.0, {'msg': 'py %%d' %% i, 'level': 'debug', 'i': i}):
        print(s.last_error, file=sys.stderr); sys.exit(1)
s.close()
`, h.srv.Addr().(*net.TCPAddr).Port)
	if out, err := exec.Command(py, "-c", script).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v: %s", py, err, out)
	}
	docs := h.sink.waitDocs(t, 50)
	for i, d := range docs {
		// Python packs EventTime from a float: allow its rounding.
		ts, err := time.Parse(time.RFC3339Nano, fmt.Sprint(d.fields["@timestamp"]))
		want := time.Unix(t0, 500_000_000+int64(i)*1_000_000)
		if err != nil || ts.Sub(want).Abs() > time.Microsecond || d.fields["message"] != fmt.Sprintf("py %d", i) ||
			d.fields["log.level"] != "debug" || d.fields["fluent.tag"] != "py.app" {
			t.Fatalf("doc %d: %s (want @timestamp %s)", i, d.raw, want.UTC().Format(time.RFC3339Nano))
		}
	}
}

// TestServerFluentLoggerGolangJSON: the library's MarshalAsJSON mode, with
// acks, on a JSON connection.
func TestServerFluentLoggerGolangJSON(t *testing.T) {
	h := startServer(t, ServerConfig{}, testPipeline)
	logger, err := fluent.New(fluent.Config{FluentHost: "127.0.0.1", FluentPort: h.srv.Addr().(*net.TCPAddr).Port,
		MarshalAsJSON: true, RequestAck: true, MaxRetry: 1, ReadTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer logger.Close()
	for i := 0; i < 5; i++ {
		if err := logger.PostWithTime("app.json", time.Unix(t0+int64(i), 0), map[string]any{"msg": "json mode", "i": i}); err != nil {
			t.Fatalf("post %d: %v", i, err)
		}
	}
	docs := h.sink.waitDocs(t, 5)
	for i, d := range docs {
		if d.fields["message"] != "json mode" || d.fields["i"] != float64(i) || d.fields["fluent.tag"] != "app.json" ||
			d.fields["@timestamp"] != time.Unix(t0+int64(i), 0).UTC().Format(time.RFC3339Nano) {
			t.Fatalf("doc %d: %s", i, d.raw)
		}
	}
}

// TestServerNodeFluentLogger: Node's fluent-logger, the client that sends
// batched requests, in its PackedForward and CompressedPackedForward modes
// with acks; Docker-shaped records and others, times in seconds and
// EventTimes (nodefluent.Command).
func TestServerNodeFluentLogger(t *testing.T) {
	node, modules, err := nodefluent.Find()
	if err != nil {
		msg := "node with Node's fluent-logger not available: " + err.Error()
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	const n = 300
	for _, mode := range []string{"PackedForward", "CompressedPackedForward"} {
		t.Run(mode, func(t *testing.T) {
			h := startServer(t, ServerConfig{}, testPipeline)
			cmd := nodefluent.Command(node, modules, nodefluent.Send{Port: h.srv.Addr().(*net.TCPAddr).Port, Mode: mode, N: n, Tag: "node"})
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("node: %v: %s", err, out)
			}
			docs := h.sink.waitDocs(t, n)
			ids := map[string]int{}
			for i, d := range docs {
				if d.id == "" {
					t.Fatalf("doc %d: no _id: %s", i, d.raw)
				}
				if j, ok := ids[d.id]; ok {
					t.Fatalf("docs %d and %d: the same _id %s", j, i, d.id)
				}
				ids[d.id] = i
				want := time.Unix(1700000000+int64(i), 250000000)
				if i%3 == 0 {
					want = time.Unix(1700000000+int64(i), 0)
				}
				level, other := "info", "container.name"
				if i%2 == 1 {
					level, other = "warn", "nested"
				}
				if d.fields["@timestamp"] != want.UTC().Format(time.RFC3339Nano) || d.fields["message"] != fmt.Sprintf("line %d", i) ||
					d.fields["seq"] != float64(i) || d.fields["log.level"] != level || d.fields[other] == nil || d.fields["fluent.tag"] != "node.app" {
					t.Fatalf("doc %d: %s, want @timestamp %s", i, d.raw, want.UTC().Format(time.RFC3339Nano))
				}
			}
			if st := h.srv.Stats(); st.Acks == 0 || st.Acks > n {
				t.Errorf("acks: got %d for %d records in batched requests", st.Acks, n)
			}
		})
	}
}
