package main

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/rs/zerolog"
)

const (
	serviceName    = "demo-app"
	serviceVersion = "1.0.0"
	fluentTag      = "demo-app"
)

// app holds the handlers. Its knobs exist so that tests can make the
// randomness deterministic.
type app struct {
	log zerolog.Logger
	// random returns a number in [0, 1); it decides failures and latency.
	random func() float64
	// sleep waits d or until ctx is done.
	sleep func(ctx context.Context, d time.Duration)
	// slow is the duration above which a request is logged as a warning.
	slow time.Duration
	// failRate is the probability of a failed checkout (HTTP 500).
	failRate float64
	// slowRate is the probability of an artificially slow request.
	slowRate float64
}

func newApp(log zerolog.Logger) *app {
	return &app{
		log:      log,
		random:   rand.Float64,
		sleep:    sleepCtx,
		slow:     250 * time.Millisecond,
		failRate: 0.05,
		slowRate: 0.02,
	}
}

func sleepCtx(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// routes returns the service's handler, every request logged.
func (a *app) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/orders/{id}", a.getOrder)
	mux.HandleFunc("POST /api/checkout", a.checkout)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	return a.logRequests(mux)
}

// latency simulates work: a few milliseconds, and now and then (slowRate)
// more than the slow threshold.
func (a *app) latency(ctx context.Context) {
	d := time.Duration(a.random() * float64(15*time.Millisecond))
	if a.random() < a.slowRate {
		d = a.slow + 50*time.Millisecond
	}
	a.sleep(ctx, d)
}

func (a *app) getOrder(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseUint(r.PathValue("id"), 10, 32)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "order id must be a positive number"})
		return
	}
	a.latency(r.Context())
	if id%10 == 0 { // every tenth order "does not exist"
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "order not found"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"id": id, "status": "shipped", "items": id%5 + 1})
}

// paymentError is what a failed checkout reports.
type paymentError struct{ gateway string }

func (e *paymentError) Error() string {
	return "payment gateway " + e.gateway + " timed out after 2s"
}

func (a *app) checkout(w http.ResponseWriter, r *http.Request) {
	a.latency(r.Context())
	if a.random() < a.failRate {
		err := error(&paymentError{gateway: "acme-pay"})
		zerolog.Ctx(r.Context()).Error().
			Str("error.message", err.Error()).
			Str("error.type", fmt.Sprintf("%T", err)).
			Str("error.stack_trace", string(debug.Stack())).
			Msg("checkout failed")
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "checkout failed, try again"})
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"order_id": rand.Uint32N(1_000_000) + 1, "status": "created"})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// recorder captures the status and size of a response.
type recorder struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(p []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	n, err := r.ResponseWriter.Write(p)
	r.bytes += int64(n)
	return n, err
}

// logRequests logs one line per request once it is answered: error for 5xx,
// warn when slower than a.slow, debug for /healthz, info otherwise. The
// request's context carries a logger with trace.id and span.id
// (zerolog.Ctx), taken from a W3C traceparent header when there is a valid
// one, else new.
func (a *app) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		traceID, ok := traceFromHeader(r.Header.Get("traceparent"))
		if !ok {
			traceID = randomHex(16)
		}
		spanID := randomHex(8)
		l := a.log.With().Str("trace.id", traceID).Str("span.id", spanID).Logger()
		r = r.WithContext(l.WithContext(r.Context()))
		rec := &recorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		if rec.status == 0 {
			rec.status = http.StatusOK
		}
		took := time.Since(start)

		var ev *zerolog.Event
		switch {
		case rec.status >= 500:
			ev = l.Error()
		case took > a.slow:
			ev = l.Warn().Str("event.reason", "slow request")
		case r.URL.Path == "/healthz":
			ev = l.Debug()
		default:
			ev = l.Info()
		}
		ev.Str("http.request.method", r.Method).
			Str("url.path", r.URL.Path).
			Int("http.response.status_code", rec.status).
			Int64("http.response.bytes", rec.bytes).
			Int64("event.duration", took.Nanoseconds()).
			Str("client.ip", clientIP(r.RemoteAddr)).
			Str("user_agent.original", r.UserAgent()).
			Msgf("%s %s %d", r.Method, r.URL.Path, rec.status)
	})
}

// traceFromHeader returns the trace id of a W3C traceparent header
// ("00-<32 hex>-<16 hex>-<2 hex>").
func traceFromHeader(h string) (string, bool) {
	if len(h) != 55 || h[2] != '-' || h[35] != '-' || h[52] != '-' {
		return "", false
	}
	id := h[3:35]
	if _, err := hex.DecodeString(id); err != nil || id == "00000000000000000000000000000000" {
		return "", false
	}
	for _, c := range id {
		if c >= 'A' && c <= 'F' {
			return "", false // W3C requires lower case
		}
	}
	return id, true
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = crand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return hex.EncodeToString(b)
}

func clientIP(remoteAddr string) string {
	if host, _, err := net.SplitHostPort(remoteAddr); err == nil {
		return host
	}
	return remoteAddr
}
