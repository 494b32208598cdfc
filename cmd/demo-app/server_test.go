package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"shipper/internal/testutil/logbuf"
)

func TestMain(m *testing.M) {
	configureZerolog()
	os.Exit(m.Run())
}

// syncBuffer is a bytes.Buffer safe for the server's goroutines.
type syncBuffer struct{ logbuf.Buffer }

// testApp returns an app without randomness: no latency, checkouts fail
// when fail is true.
func testApp(out *syncBuffer, fail bool) *app {
	a := newApp(newLogger(out))
	a.random = func() float64 { return 0.5 }
	a.sleep = func(context.Context, time.Duration) {}
	a.slowRate = 0
	a.failRate = 0
	if fail {
		a.failRate = 1
	}
	return a
}

// lines parses every line of out as a JSON object.
func lines(t *testing.T, out string) []map[string]any {
	t.Helper()
	var recs []map[string]any
	for _, l := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line is not a JSON object: %v\n%s", err, l)
		}
		recs = append(recs, m)
	}
	return recs
}

func TestHandlers(t *testing.T) {
	f := func(method, path string, fail bool, wantStatus int, wantBody string) {
		t.Helper()
		var out syncBuffer
		h := testApp(&out, fail).routes()
		var body *strings.Reader
		if method == http.MethodPost {
			body = strings.NewReader(`{"items":1}`)
		} else {
			body = strings.NewReader("")
		}
		req := httptest.NewRequest(method, path, body)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != wantStatus {
			t.Errorf("%s %s: status %d, want %d (body %s)", method, path, rec.Code, wantStatus, rec.Body)
		}
		if !strings.Contains(rec.Body.String(), wantBody) {
			t.Errorf("%s %s: body %q, want it to contain %q", method, path, rec.Body, wantBody)
		}
	}
	f("GET", "/api/orders/7", false, 200, `"status":"shipped"`)
	f("GET", "/api/orders/20", false, 404, "order not found")
	f("GET", "/api/orders/abc", false, 400, "positive number")
	f("GET", "/api/orders/-1", false, 400, "positive number")
	f("POST", "/api/checkout", false, 201, `"status":"created"`)
	f("POST", "/api/checkout", true, 500, "checkout failed")
	f("GET", "/api/checkout", false, 405, "")
	f("GET", "/healthz", false, 200, "ok")
	f("GET", "/nope", false, 404, "")
}

var (
	hex32 = regexp.MustCompile(`^[0-9a-f]{32}$`)
	hex16 = regexp.MustCompile(`^[0-9a-f]{16}$`)
)

func TestRequestLogLine(t *testing.T) {
	var out syncBuffer
	h := testApp(&out, false).routes()
	req := httptest.NewRequest("GET", "/api/orders/7", nil)
	req.RemoteAddr = "10.1.2.3:5555"
	req.Header.Set("User-Agent", "test-agent/1")
	h.ServeHTTP(httptest.NewRecorder(), req)

	recs := lines(t, out.String())
	if len(recs) != 1 {
		t.Fatalf("got %d log lines, want 1:\n%s", len(recs), out.String())
	}
	r := recs[0]
	wantStr := map[string]string{
		"level":               "info",
		"message":             "GET /api/orders/7 200",
		"service.name":        "demo-app",
		"http.request.method": "GET",
		"url.path":            "/api/orders/7",
		"client.ip":           "10.1.2.3",
		"user_agent.original": "test-agent/1",
	}
	for k, want := range wantStr {
		if got, _ := r[k].(string); got != want {
			t.Errorf("%s = %v, want %q", k, r[k], want)
		}
	}
	for _, k := range []string{"http.response.status_code", "event.duration", "http.response.bytes"} {
		if _, ok := r[k].(float64); !ok {
			t.Errorf("%s = %#v, want a JSON number", k, r[k])
		}
	}
	if r["http.response.status_code"] != 200.0 {
		t.Errorf("http.response.status_code = %v, want 200", r["http.response.status_code"])
	}
	if s, _ := r["trace.id"].(string); !hex32.MatchString(s) {
		t.Errorf("trace.id = %q, want 32 lower-case hex digits", s)
	}
	if s, _ := r["span.id"].(string); !hex16.MatchString(s) {
		t.Errorf("span.id = %q, want 16 lower-case hex digits", s)
	}
	ts, _ := r["time"].(string)
	tm, err := time.Parse(time.RFC3339Nano, ts)
	if err != nil || !strings.HasSuffix(ts, "Z") {
		t.Errorf("time = %q, want RFC 3339 in UTC (err %v)", ts, err)
	}
	if time.Since(tm) > time.Minute || time.Since(tm) < 0 {
		t.Errorf("time = %q, not now", ts)
	}
}

func TestTraceparentIsKept(t *testing.T) {
	var out syncBuffer
	h := testApp(&out, false).routes()
	req := httptest.NewRequest("GET", "/api/orders/1", nil)
	req.Header.Set("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
	h.ServeHTTP(httptest.NewRecorder(), req)
	r := lines(t, out.String())[0]
	if r["trace.id"] != "0af7651916cd43dd8448eb211c80319c" {
		t.Errorf("trace.id = %v, want the one of the traceparent header", r["trace.id"])
	}
	if r["span.id"] == "b7ad6b7169203331" {
		t.Errorf("span.id = parent's span id, want a new one")
	}
}

func TestLevels(t *testing.T) {
	// Failed checkout: an error line with error.* from the handler, then
	// the request line at error.
	var out syncBuffer
	h := testApp(&out, true).routes()
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("POST", "/api/checkout", strings.NewReader("{}")))
	recs := lines(t, out.String())
	if len(recs) != 2 {
		t.Fatalf("got %d lines, want 2:\n%s", len(recs), out.String())
	}
	e := recs[0]
	if e["level"] != "error" || e["message"] != "checkout failed" {
		t.Errorf("first line level=%v message=%v, want error / checkout failed", e["level"], e["message"])
	}
	if e["error.type"] != "*main.paymentError" || !strings.Contains(e["error.message"].(string), "timed out") {
		t.Errorf("error.type=%v error.message=%v", e["error.type"], e["error.message"])
	}
	st, _ := e["error.stack_trace"].(string)
	if strings.Count(st, "\n") < 3 || !strings.Contains(st, "checkout") {
		t.Errorf("error.stack_trace is not a multi-line stack: %q", st)
	}
	if e["trace.id"] != recs[1]["trace.id"] {
		t.Errorf("error line trace.id %v != request line trace.id %v", e["trace.id"], recs[1]["trace.id"])
	}
	if recs[1]["level"] != "error" || recs[1]["http.response.status_code"] != 500.0 {
		t.Errorf("request line level=%v status=%v, want error / 500", recs[1]["level"], recs[1]["http.response.status_code"])
	}

	// Slow request: warn.
	out = syncBuffer{}
	a := testApp(&out, false)
	a.slow = 0
	a.routes().ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/api/orders/3", nil))
	if r := lines(t, out.String())[0]; r["level"] != "warn" {
		t.Errorf("slow request logged at %v, want warn", r["level"])
	}

	// Health checks are debug, below the default level: no line.
	out = syncBuffer{}
	testApp(&out, false).routes().ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/healthz", nil))
	if out.String() != "" {
		t.Errorf("/healthz logged at the default level: %s", out.String())
	}
}

func TestTraceFromHeader(t *testing.T) {
	f := func(h string, want string, wantOK bool) {
		t.Helper()
		got, ok := traceFromHeader(h)
		if got != want || ok != wantOK {
			t.Errorf("traceFromHeader(%q) = %q, %v; want %q, %v", h, got, ok, want, wantOK)
		}
	}
	f("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", "0af7651916cd43dd8448eb211c80319c", true)
	f("00-00000000000000000000000000000000-b7ad6b7169203331-01", "", false)
	f("00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01", "", false)
	f("00-0af7651916cd43dd8448eb211c80319x-b7ad6b7169203331-01", "", false)
	f("garbage", "", false)
	f("", "", false)
}

func TestParseConfig(t *testing.T) {
	f := func(args []string, env map[string]string, want config, wantErr string) {
		t.Helper()
		got, err := parseConfig(args, func(k string) string { return env[k] }, &bytes.Buffer{})
		if wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), wantErr) {
				t.Errorf("parseConfig(%v, %v) error = %v, want one containing %q", args, env, err, wantErr)
			}
			return
		}
		if err != nil {
			t.Fatalf("parseConfig(%v, %v): %v", args, env, err)
		}
		if got != want {
			t.Errorf("parseConfig(%v, %v) = %+v, want %+v", args, env, got, want)
		}
	}
	f(nil, nil, config{Port: "8080", Rate: 200}, "")
	f([]string{"--load", "--duration", "5s"}, map[string]string{"PORT": "0"}, config{Port: "0", Load: true, Rate: 200, Duration: 5 * time.Second}, "")
	f(nil, map[string]string{"DEMO_LOAD": "true", "DEMO_RATE": "50", "DEMO_DURATION": "1m", "FLUENT_ADDRESS": "fluent:24224"},
		config{Port: "8080", Load: true, Rate: 50, Duration: time.Minute, FluentAddress: "fluent:24224"}, "")
	f([]string{"--rate", "10"}, map[string]string{"DEMO_RATE": "50"}, config{Port: "8080", Rate: 10}, "")
	f(nil, map[string]string{"PORT": "http"}, config{}, "PORT")
	f(nil, map[string]string{"DEMO_LOAD": "maybe"}, config{}, "DEMO_LOAD")
	f([]string{"--load", "--rate", "0"}, nil, config{}, "--rate")
	f([]string{"--duration", "-1s"}, nil, config{}, "--duration")
	f([]string{"extra"}, nil, config{}, "unexpected arguments")
}

// TestRunWithLoad runs the whole program for a moment, as `make run` does:
// it must exit 0 and print only JSON lines, among them requests and the
// load generator's summary.
func TestRunWithLoad(t *testing.T) {
	var stdout, stderr syncBuffer
	env := map[string]string{"PORT": "0"}
	code := run(context.Background(), []string{"--load", "--rate", "100", "--duration", "300ms"}, func(k string) string { return env[k] }, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit code %d, want 0; stderr: %s", code, stderr.String())
	}
	if stderr.String() != "" {
		t.Errorf("unexpected stderr: %s", stderr.String())
	}
	recs := lines(t, stdout.String())
	var requests, summary int
	for _, r := range recs {
		if _, ok := r["http.request.method"]; ok {
			requests++
		}
		if strings.HasPrefix(r["message"].(string), "load generator stopped") {
			summary++
		}
	}
	if requests == 0 || summary != 1 {
		t.Errorf("%d request lines and %d summaries, want some and 1:\n%s", requests, summary, stdout.String())
	}
	if last := recs[len(recs)-1]; last["message"] != "stopped" {
		t.Errorf("last line %v, want the shutdown line", last)
	}
}

// TestRunStopsOnSignal: cancelling the context (SIGTERM in main) shuts down
// gracefully with exit code 0.
func TestRunStopsOnSignal(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	var stdout, stderr syncBuffer
	go func() {
		done <- run(ctx, nil, func(k string) string { return map[string]string{"PORT": "0"}[k] }, &stdout, &stderr)
	}()
	time.Sleep(100 * time.Millisecond)
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("exit code %d, want 0; stderr %s", code, stderr.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatal("run did not return after the context was cancelled")
	}
}
