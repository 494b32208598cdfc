package main

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
)

// loadWorkers bounds the requests in flight. A tick that finds every worker
// busy is dropped and counted, so a slow server lowers the rate instead of
// piling up goroutines.
const loadWorkers = 16

// loadGen sends requests to the demo app itself at a fixed rate.
type loadGen struct {
	base   string // http://host:port
	rate   float64
	client *http.Client
	log    zerolog.Logger

	sent, failed, dropped atomic.Int64
}

func newLoadGen(base string, rate float64, log zerolog.Logger) *loadGen {
	return &loadGen{
		base: base,
		rate: rate,
		client: &http.Client{
			Timeout:   5 * time.Second,
			Transport: &http.Transport{MaxIdleConnsPerHost: loadWorkers},
		},
		log: log,
	}
}

// run sends requests until ctx is done, waits for the ones in flight, and
// logs one summary line. It blocks until then.
func (g *loadGen) run(ctx context.Context) {
	interval := time.Duration(float64(time.Second) / g.rate)
	if interval <= 0 {
		interval = time.Microsecond
	}
	jobs := make(chan struct{}, loadWorkers)
	var wg sync.WaitGroup
	for range loadWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range jobs {
				g.one(ctx)
			}
		}()
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case <-tick.C:
			select {
			case jobs <- struct{}{}:
			default:
				g.dropped.Add(1)
			}
		}
	}
	close(jobs)
	wg.Wait()
	g.client.CloseIdleConnections()
	g.log.Info().
		Int64("load.sent", g.sent.Load()).
		Int64("load.failed", g.failed.Load()).
		Int64("load.dropped", g.dropped.Load()).
		Msgf("load generator stopped after %d requests", g.sent.Load())
}

// one sends one request, picked at random: mostly order look-ups, some
// checkouts (a few fail with 500), health checks and unknown paths.
func (g *loadGen) one(ctx context.Context) {
	var method, path string
	var body io.Reader
	switch p := rand.Float64(); {
	case p < 0.60:
		method, path = http.MethodGet, fmt.Sprintf("/api/orders/%d", rand.IntN(500)+1)
	case p < 0.62:
		method, path = http.MethodGet, "/api/orders/not-a-number"
	case p < 0.87:
		method, path = http.MethodPost, "/api/checkout"
		body = strings.NewReader(fmt.Sprintf(`{"items":%d}`, rand.IntN(5)+1))
	case p < 0.97:
		method, path = http.MethodGet, "/healthz"
	default:
		method, path = http.MethodGet, "/api/unknown"
	}
	req, err := http.NewRequestWithContext(ctx, method, g.base+path, body)
	if err != nil {
		g.failed.Add(1)
		return
	}
	req.Header.Set("User-Agent", "demo-app-loadgen/"+serviceVersion)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if rand.IntN(2) == 0 { // half of the requests arrive with a trace context
		req.Header.Set("traceparent", "00-"+randomHex(16)+"-"+randomHex(8)+"-01")
	}
	g.sent.Add(1)
	resp, err := g.client.Do(req)
	if err != nil {
		if ctx.Err() == nil {
			g.failed.Add(1)
		}
		return
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
}
