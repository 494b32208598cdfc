package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"runtime/debug"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"shipper/internal/backoff"
	"shipper/internal/config"
	"shipper/internal/encode"
	"shipper/internal/esclient"
	"shipper/internal/pipeline"
	"shipper/internal/process"
	"shipper/internal/redact"
	es "shipper/internal/sink/elasticsearch"
	"shipper/internal/status"
)

// Exit codes of 'shipper run' (documented in the README, Delivery).
const (
	exitDelivered   = 0 // everything read was delivered
	exitFailed      = 1 // an input failed; what it read was delivered
	exitConfig      = 2 // invalid configuration or cannot start
	exitUndelivered = 3 // records read were left undelivered (counted in the summary)
)

func runCmd(args []string) int {
	cfg, code := loadConfig("shipper run", args)
	if code >= 0 {
		return code
	}
	log := newLogger(cfg.LogLevel).Output(redact.NewWriter(os.Stderr, runSecrets(&cfg)))
	runID := newRunID()
	setMemoryLimit(budgetedMemory(&cfg))
	for _, n := range cfg.Notes {
		log.Info().Msg(n)
	}

	sinkCfg, err := sinkConfig(&cfg)
	if err != nil {
		log.Error().Err(err).Msg("invalid configuration")
		return 2
	}
	var sink output
	if cfg.Output == config.OutputKafka {
		sink, err = newKafkaOutput(&cfg, log.With().Str("component", "sink").Logger())
	} else {
		sink, err = es.New(sinkCfg, log.With().Str("component", "sink").Logger())
	}
	if err != nil {
		log.Error().Err(err).Str("output", cfg.Output).Msg("cannot create the output")
		return 2
	}
	policy, _ := pipeline.ParseFullPolicy(cfg.BufferFullPolicy)
	pipe := pipeline.New(pipeline.Config{
		MaxBytes: int64(cfg.PipelineBytes()), FullPolicy: policy,
		BatchBytes: int(cfg.BatchBytes), FlushInterval: cfg.FlushInterval,
		SealWhenIdle: true,
	})
	streams := encode.NewStreams(cfg.DatasetsAllowed, cfg.MaxDatasets)
	chain, err := process.Compile(&cfg.Processing) // checked by Load: cannot fail here
	if err != nil {
		log.Error().Err(err).Msg("invalid processors")
		return 2
	}
	ins, err := buildInputs(&inputEnv{cfg: &cfg, pipe: pipe, static: staticFields(&cfg, runID), runID: runID, log: log, streams: streams, chain: chain})
	if err != nil {
		log.Error().Err(err).Msg("cannot start")
		return 2
	}

	// Readiness: Elasticsearch answered, answers still, and records do not
	// wait without anything being delivered.
	var esReached atomic.Bool
	if cfg.HTTPAddress != "" {
		srv, err := status.New(cfg.HTTPAddress, func() error {
			if k, ok := sink.(*kafkaOutput); ok {
				return k.ready(time.Now(), esReached.Load(), pipe, cfg.ReadyStallTimeout)
			}
			return ready(time.Now(), esReached.Load(), pipe, sink.Health(), cfg.ReadyStallTimeout)
		}, func(w *status.Writer) {
			writeMetrics(w, pipe, sink)
			w.Counter("shipper_dataset_rejected_total", "Records whose data_stream.dataset was refused (--datasets-allowed, --max-datasets): sent to the default data stream, flagged labels.dataset_rejected.", streams.Rejected())
			for _, in := range ins {
				in.Metrics(w)
			}
			if !chain.Empty() {
				writeProcessMetrics(w, chain)
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
		log.Info().Str("signal", sig.String()).Dur("shutdown_timeout_ms", cfg.ShutdownTimeout).
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
		n := undelivered(pipe, ins)
		log.Warn().Str("signal", sig.String()).Uint64("records_undelivered", n).Msg("second signal: exiting now")
		if n > 0 {
			os.Exit(exitUndelivered)
		}
		os.Exit(exitDelivered)
	}()

	log.Info().Str("version", version).Str("ephemeral_id", strconv.FormatUint(runID, 16)).Strs("inputs", cfg.Inputs).Strs("elasticsearch", redact.URLs(cfg.ElasticsearchURLs)).
		Str("data_stream", "logs-"+cfg.Dataset+"-"+cfg.Namespace).Msg("shipper starting")
	if cfg.ProgressInterval > 0 {
		go logProgress(queueCtx, log, cfg.ProgressInterval, pipe, sink)
	}

	sinkDone := make(chan error, 1)
	go func() {
		switch sink := sink.(type) {
		case *kafkaOutput:
			go func() { esReached.Store(sink.reach(sinkCtx, log)) }()
		case *es.Sink:
			if cfg.Templates == "auto" {
				if ensureTemplates(sinkCtx, sink, log) {
					esReached.Store(true)
				}
			} else if _, err := sink.Ping(sinkCtx); err == nil {
				esReached.Store(true)
			}
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
	drained := true
	for _, in := range ins {
		if err := in.Drain(queueCtx); err != nil {
			drained = false
		}
	}
	// What the sink knows now, before its requests are aborted, tells why
	// records are left (a request that hangs is still in flight).
	health, reached := sink.Health(), esReached.Load()
	// Everything read is delivered, or the deadline passed: either way the
	// sink has nothing left to do. It may still be installing templates
	// against an unreachable Elasticsearch ('true | shipper'): that must
	// not delay the exit.
	pipe.Close()
	abortSink()
	<-sinkDone
	pastDeadline()

	exit := exitDelivered
	if failed.Load() {
		exit = exitFailed
	}
	n := undelivered(pipe, ins)
	if !drained || n > 0 {
		exit = exitUndelivered
		cause, advice := undeliveredCause(time.Now(), reached, health, cfg.ShutdownTimeout, cfg.RequestTimeout)
		if cfg.Output == config.OutputKafka {
			cause, advice = kafkaUndeliveredCause(time.Now(), reached, health, cfg.ShutdownTimeout)
		}
		e := log.Error().Uint64("records_undelivered", n).Str("cause", cause)
		if health.LastError != "" {
			e = e.Str("last_error", health.LastError)
		}
		e.Msg("records left undelivered: " + advice + "; " + fates(ins))
	}
	logSummary(log, ins, pipe.Stats(), n, sink)
	return exit
}

// budgetedMemory is what the budgets hold at most together: the batches and
// the file and Forward inputs' buffers (cfg.MemoryBytes: --buffer-bytes
// unless budgets larger than it holds are set), the Kafka output's and the
// Kafka input's buffers.
func budgetedMemory(cfg *config.Config) int64 {
	return int64(cfg.MemoryBytes()) + outputMemory(cfg)
}

// setMemoryLimit sets a soft memory limit for the garbage collector unless
// GOMEMLIMIT does: the budgets (budgetedMemory) plus memoryHeadroom. Without
// it the heap may grow to twice what is live before a collection, which is
// what pushed the peak RSS past the budget while catching up after an
// outage. The limit must cover all that can be live at once: above it the
// collector gives up on the limit (it spends at most half the CPU) and the
// heap grows to twice what is live again; with the file and Forward
// budgets outside it, their worst cases peaked at 102 and 108 MiB.
func setMemoryLimit(budget int64) {
	if os.Getenv("GOMEMLIMIT") != "" {
		return
	}
	debug.SetMemoryLimit(budget + memoryHeadroom)
}

// memoryHeadroom is what the heap needs beside the byte budget: read
// buffers, per sink worker a compressed request, a response and the item
// list. Less costs CPU in the steady state, as the free batch buffers keep
// the live heap near the budget: at 8 MiB the whole path took 40% more CPU
// per line, at 12 MiB none (docs/reliability.md, Memory).
//
// The limit covers the Go runtime's memory only. The binary's own pages
// (code and data mapped from the file, about 9 MiB resident) come on top,
// and while catching up after an outage the live heap stays near the
// budget, so the heap does reach the limit: the peak RSS is then the
// limit plus those pages, plus the largest buffer allocated at once (the
// collector frees the one it replaces only afterwards). The default
// budgets are chosen so that this sum stays under 50 MiB whichever inputs
// run (see TestDefaultMemoryBound).
const memoryHeadroom = 12 << 20

// binaryResident bounds the resident pages that the memory limit does not
// cover: the binary's code and data (8.0 to 9.4 MiB measured at the peak of
// an Elasticsearch restart) and a margin.
const binaryResident = 10 << 20

// undelivered counts every record read and not delivered: in batches
// queued or being sent, in the batch being filled, abandoned at the
// deadline, and read by an input but never queued.
func undelivered(pipe *pipeline.Pipeline, ins []input) uint64 {
	n := pipe.Stats().Undelivered()
	for _, in := range ins {
		if u, ok := in.(interface{ Unqueued() uint64 }); ok {
			n += u.Unqueued()
		}
	}
	return n
}

// fates says what becomes of the undelivered records of each input.
func fates(ins []input) string {
	s := ""
	for _, in := range ins {
		f, ok := in.(interface{ Fate() string })
		if !ok {
			continue
		}
		if s != "" {
			s += "; "
		}
		s += f.Fate()
	}
	return s
}

// undeliveredCause tells why records were left undelivered at shutdown, and
// what to do about it.
func undeliveredCause(now time.Time, reached bool, h es.Health, shutdownTimeout, requestTimeout time.Duration) (cause, advice string) {
	switch {
	case !reached && h.LastSuccess.IsZero():
		return "elasticsearch_unreachable", "Elasticsearch could not be reached at all (check --elasticsearch-url, the network and credentials)"
	case !h.UnreachableSince.IsZero():
		return "elasticsearch_unreachable", fmt.Sprintf("Elasticsearch has been unreachable since %s (%s ago); "+
			"waiting longer would not have helped unless it came back", h.UnreachableSince.UTC().Format(time.RFC3339), now.Sub(h.UnreachableSince).Round(time.Second))
	case !h.OldestRequest.IsZero() && now.Sub(h.OldestRequest) >= shutdownTimeout/2:
		return "elasticsearch_not_answering", fmt.Sprintf("a bulk request has waited %s for an answer (--request-timeout=%s): Elasticsearch accepts connections but does not answer",
			now.Sub(h.OldestRequest).Round(time.Second), requestTimeout)
	default:
		return "elasticsearch_slow", "Elasticsearch did not take everything within --shutdown-timeout=" + shutdownTimeout.String() +
			" (it is slow or rejecting with 429); raise --shutdown-timeout, or lower --buffer-bytes so that less waits"
	}
}

// ready is the readiness check: nil when the shipper is ready.
func ready(now time.Time, reached bool, pipe *pipeline.Pipeline, h es.Health, stall time.Duration) error {
	if !reached {
		return errors.New("Elasticsearch not reached yet")
	}
	if !h.UnreachableSince.IsZero() {
		return fmt.Errorf("Elasticsearch unreachable since %s: %s", h.UnreachableSince.UTC().Format(time.RFC3339), h.LastError)
	}
	st := pipe.Stats()
	waiting := st.Items - st.Acked + st.Open
	if waiting == 0 {
		return nil
	}
	// The stall runs from the last delivery or, when the records came
	// later, from the oldest of them.
	since := pipe.LastDelivery()
	if o := pipe.Oldest(); o.After(since) {
		since = o
	}
	if !since.IsZero() && now.Sub(since) >= stall {
		return fmt.Errorf("%d records wait and none was delivered for %s (--ready-stall-timeout=%s)", waiting, now.Sub(since).Round(time.Second), stall)
	}
	return nil
}

// ensureTemplates installs the index templates when missing, retrying while
// Elasticsearch is unreachable. Refusals (such as missing privileges) are
// logged and shipping goes on: templates may be managed by 'shipper setup'.
// It reports whether Elasticsearch answered.
func ensureTemplates(ctx context.Context, sink *es.Sink, log zerolog.Logger) bool {
	bo := backoff.Backoff{Initial: 500 * time.Millisecond, Max: 30 * time.Second}
	for {
		state, err := sink.EnsureTemplates(ctx)
		if err == nil {
			log.Info().Str("templates", string(state)).Msg("index templates checked")
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		var foreign *es.ForeignTemplateError
		if errors.As(err, &foreign) {
			log.Error().Err(err).Strs("templates", foreign.Names).
				Msg("index templates of the same names but not the shipper's: shipping anyway, with their mappings")
			return true
		}
		wait := bo.Failed(0)
		if esclient.Permanent(err) {
			// Waiting will not fix it (TLS trust, https to a plain
			// node), but the operator may: keep trying, loudly.
			log.Error().Err(err).Str("hint", esclient.Hint(err, "--elasticsearch-url / ELASTICSEARCH_URL")).Dur("retry_in_ms", wait).
				Msg("cannot talk to Elasticsearch; will retry")
		} else if !es.IsUnreachable(err) {
			log.Error().Err(err).Msg("cannot install index templates; shipping anyway (run 'shipper setup' with enough privileges)")
			return true
		} else {
			log.Warn().Err(err).Str("hint", esclient.Hint(err, "--elasticsearch-url / ELASTICSEARCH_URL")).Dur("retry_in_ms", wait).
				Msg("Elasticsearch unreachable; will retry")
		}
		if backoff.Sleep(ctx, wait) != nil {
			return false
		}
	}
}

func logSummary(log zerolog.Logger, ins []input, p pipeline.Stats, undelivered uint64, sink output) {
	out := sink.Stats()
	e := log.Info()
	for _, in := range ins {
		in.Summary(e)
	}
	e.Uint64("records_queued", p.Items).Uint64("records_delivered", p.Acked).Uint64("records_undelivered", undelivered).
		Dur("backoff_wait", out.BackoffWait)
	settledFields(e, sink, out)
	e.Uint64("dead_lettered", out.DeadLettered).
		Uint64("lost", out.Lost).Uint64("item_retries", out.Retried).Uint64("requests", out.Requests).
		Uint64("request_failures", out.Failures).Uint64("bytes_sent", out.BytesSent).Uint64("bytes_uncompressed", out.BytesRaw).
		Msg("shipper stopped")
}

func writeMetrics(w *status.Writer, pipe *pipeline.Pipeline, sink output) {
	p := pipe.Stats()
	w.Gauge("shipper_buffer_used_bytes", "Byte budget held by batches being filled, queued or sent.", float64(p.UsedBytes))
	w.Gauge("shipper_buffer_max_bytes", "Byte budget of the pipeline.", float64(p.MaxBytes))
	w.Counter("shipper_buffer_waits_total", "Times a source waited for budget (backpressure).", p.Waits)
	w.Counter("shipper_batches_total", "Batches queued for delivery.", p.Batches)
	w.Counter("shipper_records_queued_total", "Records queued for delivery.", p.Items)
	w.Counter("shipper_records_acked_total", "Records delivered (indexed, already present or dead-lettered).", p.Acked)
	w.Gauge("shipper_records_undelivered", "Records taken into the pipeline and not delivered yet (being filled, queued or sent).", float64(p.Items-p.Acked+p.Open))
	age := 0.0
	if o := pipe.Oldest(); !o.IsZero() {
		age = time.Since(o).Seconds()
	}
	w.Gauge("shipper_oldest_undelivered_age_seconds", "Age of the oldest record not delivered yet; 0 when none waits.", age)
	if k, ok := sink.(*kafkaOutput); ok {
		k.writeMetrics(w)
		return
	}
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
