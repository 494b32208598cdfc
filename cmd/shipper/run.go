package main

import (
	"context"
	"errors"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"shipper/internal/esclient"
	"shipper/internal/pipeline"
	es "shipper/internal/sink/elasticsearch"
	"shipper/internal/status"
)

func runCmd(args []string) int {
	cfg, code := loadConfig("shipper run", args)
	if code >= 0 {
		return code
	}
	log := newLogger(cfg.LogLevel)
	runID := newRunID()
	for _, n := range cfg.Notes {
		log.Info().Msg(n)
	}

	sinkCfg, err := sinkConfig(&cfg)
	if err != nil {
		log.Error().Err(err).Msg("invalid configuration")
		return 2
	}
	sink, err := es.New(sinkCfg, log.With().Str("component", "sink").Logger())
	if err != nil {
		log.Error().Err(err).Msg("cannot create the Elasticsearch sink")
		return 2
	}
	policy, _ := pipeline.ParseFullPolicy(cfg.BufferFullPolicy)
	pipe := pipeline.New(pipeline.Config{
		MaxBytes: int64(cfg.BufferBytes), FullPolicy: policy,
		BatchBytes: int(cfg.BatchBytes), FlushInterval: cfg.FlushInterval,
	})
	ins, err := buildInputs(&inputEnv{cfg: &cfg, pipe: pipe, static: staticFields(&cfg, runID), runID: runID, log: log})
	if err != nil {
		log.Error().Err(err).Msg("cannot start")
		return 2
	}

	// Readiness: Elasticsearch answered at least once.
	var esReached atomic.Bool
	if cfg.HTTPAddress != "" {
		srv, err := status.New(cfg.HTTPAddress, func() error {
			if !esReached.Load() {
				return errors.New("Elasticsearch not reached yet")
			}
			return nil
		}, func(w *status.Writer) {
			writeMetrics(w, pipe, sink)
			for _, in := range ins {
				in.Metrics(w)
			}
			for i, in := range ins {
				w.Counter(status.Name("shipper_input_records_total", "input", cfg.Inputs[i]), "Records read, by input.", in.Records())
			}
		})
		if err != nil {
			log.Error().Err(err).Msg("cannot start")
			return 2
		}
		defer srv.Close()
		log.Info().Str("address", srv.Addr()).Msg("serving /healthz, /readyz and /metrics")
	}

	// Signals: the first stops reading and starts the shutdown deadline,
	// the second exits at once.
	readCtx, stopReading := context.WithCancel(context.Background())
	defer stopReading()
	sinkCtx, abortSink := context.WithCancel(context.Background())
	defer abortSink()
	// queueCtx ends at the shutdown deadline (or when everything is done):
	// until then, what was read is queued and delivered.
	queueCtx, pastDeadline := context.WithCancel(context.Background())
	defer pastDeadline()
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		var sig os.Signal
		select {
		case sig = <-sigs:
		case <-queueCtx.Done():
			return
		}
		log.Info().Str("signal", sig.String()).Dur("shutdown_timeout", cfg.ShutdownTimeout).
			Msg("stopping: no more reading; delivering what was read")
		stopReading()
		t := time.NewTimer(cfg.ShutdownTimeout)
		defer t.Stop()
		select {
		case sig = <-sigs:
		case <-t.C:
			pastDeadline()
			// Stopping may still hang (a disk that does not answer a
			// checkpoint write): a second signal still ends it.
			sig = <-sigs
		}
		log.Warn().Str("signal", sig.String()).Msg("second signal: exiting now")
		os.Exit(1)
	}()

	log.Info().Str("version", version).Strs("inputs", cfg.Inputs).Strs("elasticsearch", cfg.ElasticsearchURLs).
		Str("data_stream", "logs-"+cfg.Dataset+"-"+cfg.Namespace).Msg("shipper starting")
	if cfg.ProgressInterval > 0 {
		go logProgress(queueCtx, log, cfg.ProgressInterval, pipe, sink)
	}

	sinkDone := make(chan error, 1)
	go func() {
		if cfg.Templates == "auto" {
			if ensureTemplates(sinkCtx, sink, log) {
				esReached.Store(true)
			}
		} else if _, err := sink.Ping(sinkCtx); err == nil {
			esReached.Store(true)
		}
		sinkDone <- sink.Run(sinkCtx, pipe.Batches())
	}()

	// Run every input until it ends (stdin at EOF) or the first signal.
	var wg sync.WaitGroup
	failed := atomic.Bool{}
	for i, in := range ins {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := in.Run(readCtx, queueCtx)
			if err != nil && !errors.Is(err, context.Canceled) {
				failed.Store(true)
				log.Error().Err(err).Str("input", cfg.Inputs[i]).Msg("input failed; delivering what it read")
			}
		}()
	}
	wg.Wait()

	// Deliver everything read, until the deadline that a signal starts.
	exit := 0
	for i, in := range ins {
		if err := in.Drain(queueCtx); err != nil {
			st := pipe.Stats()
			log.Error().Err(err).Str("input", cfg.Inputs[i]).Uint64("records_undelivered", st.Items-st.Acked).
				Msg("shutdown deadline passed before everything was delivered; raise --shutdown-timeout")
			exit = 1
		}
	}
	if exit != 0 {
		abortSink()
	}
	pipe.Close()
	select {
	case <-sinkDone:
	case <-queueCtx.Done():
		// Past the deadline with the queue delivered, the sink may still be
		// retrying its start-up checks against an unreachable Elasticsearch.
		abortSink()
		<-sinkDone
	}
	pastDeadline()
	logSummary(log, ins, sink.Stats())
	if failed.Load() && exit == 0 {
		exit = 1
	}
	return exit
}

// ensureTemplates installs the index templates when missing, retrying while
// Elasticsearch is unreachable. Refusals (such as missing privileges) are
// logged and shipping goes on: templates may be managed by 'shipper setup'.
// It reports whether Elasticsearch answered.
func ensureTemplates(ctx context.Context, sink *es.Sink, log zerolog.Logger) bool {
	wait := 500 * time.Millisecond
	for {
		state, err := sink.EnsureTemplates(ctx)
		if err == nil {
			log.Info().Str("templates", string(state)).Msg("index templates checked")
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		if esclient.Permanent(err) {
			// Waiting will not fix it (TLS trust, https to a plain
			// node), but the operator may: keep trying, loudly.
			log.Error().Err(err).Str("hint", esclient.Hint(err, "--elasticsearch-url / ELASTICSEARCH_URL")).Dur("retry_in", wait).
				Msg("cannot talk to Elasticsearch; will retry")
		} else if !es.IsUnreachable(err) {
			log.Error().Err(err).Msg("cannot install index templates; shipping anyway (run 'shipper setup' with enough privileges)")
			return true
		} else {
			log.Warn().Err(err).Str("hint", esclient.Hint(err, "--elasticsearch-url / ELASTICSEARCH_URL")).Dur("retry_in", wait).
				Msg("Elasticsearch unreachable; will retry")
		}
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return false
		}
		wait = min(2*wait, 30*time.Second)
	}
}

func logSummary(log zerolog.Logger, ins []input, out es.Stats) {
	e := log.Info()
	for _, in := range ins {
		in.Summary(e)
	}
	e.Uint64("indexed", out.Indexed).Uint64("duplicates", out.Duplicates).Uint64("dead_lettered", out.DeadLettered).
		Uint64("lost", out.Lost).Uint64("item_retries", out.Retried).Uint64("requests", out.Requests).
		Uint64("request_failures", out.Failures).Uint64("bytes_sent", out.BytesSent).Uint64("bytes_uncompressed", out.BytesRaw).
		Msg("shipper stopped")
}

func writeMetrics(w *status.Writer, pipe *pipeline.Pipeline, sink *es.Sink) {
	p := pipe.Stats()
	w.Gauge("shipper_buffer_used_bytes", "Byte budget held by batches being filled, queued or sent.", float64(p.UsedBytes))
	w.Gauge("shipper_buffer_max_bytes", "Byte budget of the pipeline.", float64(p.MaxBytes))
	w.Counter("shipper_buffer_waits_total", "Times a source waited for budget (backpressure).", p.Waits)
	w.Counter("shipper_batches_total", "Batches queued for delivery.", p.Batches)
	w.Counter("shipper_records_queued_total", "Records queued for delivery.", p.Items)
	w.Counter("shipper_records_acked_total", "Records delivered (indexed, already present or dead-lettered).", p.Acked)
	s := sink.Stats()
	const docs = "Documents settled by Elasticsearch, by status: indexed, duplicate (already present: 409 on create), dead_lettered (written to the dead-letter stream), lost (neither)."
	w.Counter(status.Name("shipper_es_documents_total", "status", "indexed"), docs, s.Indexed)
	w.Counter(status.Name("shipper_es_documents_total", "status", "duplicate"), docs, s.Duplicates)
	w.Counter(status.Name("shipper_es_documents_total", "status", "dead_lettered"), docs, s.DeadLettered)
	w.Counter(status.Name("shipper_es_documents_total", "status", "lost"), docs, s.Lost)
	w.Counter("shipper_es_item_retries_total", "Bulk items retried.", s.Retried)
	w.Counter("shipper_es_requests_total", "Bulk requests sent.", s.Requests)
	w.Counter("shipper_es_request_failures_total", "Bulk requests that failed as a whole.", s.Failures)
	w.Counter("shipper_es_sent_bytes_total", "Request bytes sent (compressed).", s.BytesSent)
}
