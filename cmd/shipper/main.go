// Command shipper reads log lines and writes them into Elasticsearch data
// streams. This file only wires: config -> source -> pipeline -> sink, run,
// then stop in reverse order.
package main

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"shipper/internal/config"
	"shipper/internal/datastream"
	"shipper/internal/parse"
	"shipper/internal/pipeline"
	es "shipper/internal/sink/elasticsearch"
	"shipper/internal/source/stdin"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

const usage = `shipper ships log lines into Elasticsearch data streams.

Usage:
  shipper [run] [options]   read lines from standard input and ship them (the default)
  shipper check [options]   validate the configuration, contact Elasticsearch, say what would happen
  shipper version           print the version
  shipper help              this text; 'shipper run --help' lists every option

Every option is also an environment variable (see 'shipper run --help').
Example:
  my-app | ELASTICSEARCH_URL=http://localhost:9200 shipper --dataset=myapp
`

func main() {
	os.Exit(dispatch(os.Args[1:]))
}

func dispatch(args []string) int {
	cmd := "run"
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "run":
		return runCmd(args)
	case "check":
		return checkCmd(args)
	case "version":
		fmt.Println(versionString())
		return 0
	case "help":
		fmt.Print(usage)
		return 0
	}
	fmt.Fprintf(os.Stderr, "shipper: unknown command %q\n\n%s", cmd, usage)
	return 2
}

func versionString() string {
	s := "shipper " + version
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, kv := range bi.Settings {
			if kv.Key == "vcs.revision" && len(kv.Value) >= 12 {
				s += " (" + kv.Value[:12] + ")"
			}
		}
		s += " " + bi.GoVersion
	}
	return s
}

func loadConfig(name string, args []string) (config.Config, int) {
	cfg, err := config.Load(name, args, os.Getenv, os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return cfg, 0
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "shipper: invalid configuration:\n%v\n", err)
		return cfg, 2
	}
	return cfg, -1
}

func newLogger(level string) zerolog.Logger {
	zerolog.TimeFieldFormat = time.RFC3339Nano
	lvl, err := zerolog.ParseLevel(level)
	if err != nil {
		lvl = zerolog.InfoLevel
	}
	return zerolog.New(os.Stderr).Level(lvl).With().Timestamp().Str("service.name", "shipper").Logger()
}

func sinkConfig(cfg *config.Config) (es.Config, error) {
	dlq, err := datastream.IndexName(cfg.DeadLetterDataset, cfg.Namespace)
	if err != nil {
		return es.Config{}, err
	}
	level := 0
	if cfg.Compression == "gzip" {
		level = cfg.CompressionLevel
	}
	return es.Config{
		URLs: cfg.ElasticsearchURLs, Username: cfg.Username, Password: cfg.Password, APIKey: cfg.APIKey,
		CAFile: cfg.CAFile, InsecureSkipVerify: cfg.InsecureSkipVerify, CompressionLevel: level,
		Workers: cfg.Workers, RequestTimeout: cfg.RequestTimeout, RetryInitial: cfg.RetryInitial,
		RetryMax: cfg.RetryMax, DeadLetterIndex: dlq,
	}, nil
}

// staticFields are the members every document carries: who shipped it, from where.
func staticFields(cfg *config.Config, runID uint64) []byte {
	var b []byte
	b = append(b, `"agent.type":"shipper","agent.version":`...)
	b, _ = parse.AppendString(b, []byte(version))
	b = append(b, `,"agent.ephemeral_id":"`...)
	b = fmt.Appendf(b, "%016x", runID)
	b = append(b, `","host.name":`...)
	b, _ = parse.AppendString(b, []byte(cfg.HostName))
	b = append(b, `,"ecs.version":"8.11.0"`...)
	return b
}

func newRunID() uint64 {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return uint64(time.Now().UnixNano())
	}
	return binary.BigEndian.Uint64(b[:])
}

func runCmd(args []string) int {
	cfg, code := loadConfig("shipper run", args)
	if code >= 0 {
		return code
	}
	log := newLogger(cfg.LogLevel)
	runID := newRunID()

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
	producer := pipe.NewProducer(nil)
	src, err := stdin.New(stdin.Config{
		MaxLineBytes: int(cfg.MaxLineBytes), Dataset: cfg.Dataset, Namespace: cfg.Namespace,
		Static: staticFields(&cfg, runID),
	}, os.Stdin, producer, runID, log.With().Str("component", "stdin").Logger())
	if err != nil {
		log.Error().Err(err).Msg("invalid configuration")
		return 2
	}

	// Signals: the first stops reading and starts the shutdown deadline,
	// the second exits at once.
	readCtx, stopReading := context.WithCancel(context.Background())
	sinkCtx, abortSink := context.WithCancel(context.Background())
	defer abortSink()
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	deadline := make(chan struct{})
	go func() {
		sig := <-sigs
		log.Info().Str("signal", sig.String()).Dur("shutdown_timeout", cfg.ShutdownTimeout).
			Msg("stopping: no more reading; delivering what was read")
		stopReading()
		t := time.NewTimer(cfg.ShutdownTimeout)
		select {
		case sig = <-sigs:
			log.Warn().Str("signal", sig.String()).Msg("second signal: exiting now")
			os.Exit(1)
		case <-t.C:
			close(deadline)
		}
	}()

	log.Info().Str("version", version).Strs("elasticsearch", cfg.ElasticsearchURLs).
		Str("data_stream", "logs-"+cfg.Dataset+"-"+cfg.Namespace).Str("input", "stdin").Msg("shipper starting")

	sinkDone := make(chan error, 1)
	go func() {
		if cfg.Templates == "auto" {
			ensureTemplates(sinkCtx, sink, log)
		}
		sinkDone <- sink.Run(sinkCtx, pipe.Batches())
	}()

	// Read until EOF or the first signal. Lines read before it are queued
	// until the shutdown deadline.
	queueCtx, cancelQueue := context.WithCancel(context.Background())
	defer cancelQueue()
	go func() {
		select {
		case <-deadline:
			cancelQueue()
		case <-queueCtx.Done():
		}
	}()
	readErr := src.Run(readCtx, queueCtx)
	if readErr != nil && !errors.Is(readErr, context.Canceled) {
		log.Error().Err(readErr).Msg("input failed; delivering what was read")
	}
	if err := producer.Close(); err != nil {
		log.Error().Err(err).Msg("cannot queue the last batch")
	}

	// Deliver everything read, until the deadline that a signal starts.
	waitCtx, cancelWait := context.WithCancel(context.Background())
	go func() {
		select {
		case <-deadline:
			cancelWait()
		case <-waitCtx.Done():
		}
	}()
	waitErr := producer.Wait(waitCtx)
	cancelWait()
	exit := 0
	if waitErr != nil {
		st := pipe.Stats()
		log.Error().Uint64("lines_undelivered", st.Items-st.Acked).
			Msg("shutdown deadline passed before everything was delivered; raise --shutdown-timeout")
		abortSink()
		exit = 1
	}
	pipe.Close()
	<-sinkDone
	logSummary(log, src.Stats(), sink.Stats())
	if readErr != nil && !errors.Is(readErr, context.Canceled) && exit == 0 {
		exit = 1
	}
	return exit
}

// ensureTemplates installs the index templates when missing, retrying while
// Elasticsearch is unreachable. Refusals (such as missing privileges) are
// logged and shipping goes on: templates may be managed by 'shipper setup'.
func ensureTemplates(ctx context.Context, sink *es.Sink, log zerolog.Logger) {
	wait := 500 * time.Millisecond
	for {
		state, err := sink.EnsureTemplates(ctx)
		if err == nil {
			log.Info().Str("templates", string(state)).Msg("index templates checked")
			return
		}
		if ctx.Err() != nil {
			return
		}
		if !es.IsUnreachable(err) {
			log.Error().Err(err).Msg("cannot install index templates; shipping anyway (run 'shipper setup' with enough privileges)")
			return
		}
		log.Warn().Err(err).Dur("retry_in", wait).Msg("Elasticsearch unreachable; will retry")
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return
		}
		wait = min(2*wait, 30*time.Second)
	}
}

func logSummary(log zerolog.Logger, in stdin.Stats, out es.Stats) {
	log.Info().
		Uint64("lines", in.Lines).Uint64("bytes", in.Bytes).Uint64("json", in.JSON).
		Uint64("malformed_json", in.Malformed).Uint64("invalid_utf8", in.InvalidUTF8).Uint64("truncated", in.Truncated).
		Uint64("indexed", out.Indexed).Uint64("duplicates", out.Duplicates).Uint64("dead_lettered", out.DeadLettered).
		Uint64("lost", out.Lost).Uint64("item_retries", out.Retried).Uint64("requests", out.Requests).
		Uint64("request_failures", out.Failures).Uint64("bytes_sent", out.BytesSent).Uint64("bytes_uncompressed", out.BytesRaw).
		Msg("shipper stopped")
}

func checkCmd(args []string) int {
	cfg, code := loadConfig("shipper check", args)
	if code >= 0 {
		if code == 2 {
			fmt.Fprintln(os.Stderr, "check: configuration is NOT valid")
		}
		return code
	}
	out := os.Stdout
	fmt.Fprintln(out, "configuration is valid:")
	for _, l := range cfg.Describe() {
		fmt.Fprintln(out, "  "+l)
	}
	sinkCfg, err := sinkConfig(&cfg)
	if err != nil {
		fmt.Fprintf(out, "check: %v\n", err)
		return 2
	}
	fmt.Fprintf(out, "\nwould read: standard input, lines up to %s (longer ones truncated and flagged)\n", cfg.MaxLineBytes)
	fmt.Fprintf(out, "would write: data stream logs-%s-%s (records naming data_stream.dataset go to logs-<that>-%s); rejected documents to %s\n",
		cfg.Dataset, cfg.Namespace, cfg.Namespace, sinkCfg.DeadLetterIndex)
	fmt.Fprintf(out, "would buffer: at most %s in batches of %s, flushed after %s; when full: %s\n",
		cfg.BufferBytes, cfg.BatchBytes, cfg.FlushInterval, cfg.BufferFullPolicy)
	sink, err := es.New(sinkCfg, zerolog.New(io.Discard))
	if err != nil {
		fmt.Fprintf(out, "check: %v\n", err)
		return 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	health, err := sink.Ping(ctx)
	if err != nil {
		fmt.Fprintf(out, "\nElasticsearch: NOT reachable: %v\n", err)
		return 1
	}
	fmt.Fprintf(out, "\nElasticsearch: reachable at %v, cluster health %s\n", cfg.ElasticsearchURLs, health)
	return 0
}
