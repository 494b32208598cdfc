package main

import (
	"context"
	"time"

	"github.com/rs/zerolog"

	"shipper/internal/pipeline"
)

// logProgress logs, every period until ctx is done, one info line of how
// shipping goes: records read and delivered per second since the last line,
// delivered in all, waiting for delivery, buffer in use, and the problems
// counted so far. A period in which nothing moved and nothing waits is not
// logged.
func logProgress(ctx context.Context, log zerolog.Logger, every time.Duration, pipe *pipeline.Pipeline, sink output) {
	t := time.NewTicker(every)
	defer t.Stop()
	prevP, prevS, prevT := pipe.Stats(), sink.Stats(), time.Now()
	for {
		var now time.Time
		select {
		case <-ctx.Done():
			return
		case now = <-t.C:
		}
		p, s := pipe.Stats(), sink.Stats()
		waiting := p.Items - p.Acked
		if p.Items == prevP.Items && p.Acked == prevP.Acked && s.Requests == prevS.Requests && waiting == 0 {
			prevT = now
			continue
		}
		secs := now.Sub(prevT).Seconds()
		rate := func(n uint64) float64 { return float64(int64(float64(n)/secs*10)) / 10 }
		errs := s.DeadLettered + s.Lost + s.Failures + s.Retried
		log.Info().
			Float64("read_per_s", rate(p.Items-prevP.Items)).Float64("delivered_per_s", rate(p.Acked-prevP.Acked)).
			Uint64("delivered", p.Acked).Uint64("waiting", waiting).Int64("buffer_used_bytes", p.UsedBytes).
			Func(func(e *zerolog.Event) { settledFields(e, sink, s) }).Uint64("dead_lettered", s.DeadLettered).
			Uint64("lost", s.Lost).Uint64("request_failures", s.Failures).Uint64("item_retries", s.Retried).
			Msgf("progress: %.1f records/s read, %.1f/s delivered, %d delivered in all, %d waiting, %d errors and retries",
				rate(p.Items-prevP.Items), rate(p.Acked-prevP.Acked), p.Acked, waiting, errs)
		prevP, prevS, prevT = p, s, now
	}
}
