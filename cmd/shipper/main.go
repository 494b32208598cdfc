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
	"runtime/debug"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"shipper/internal/config"
	"shipper/internal/datastream"
	"shipper/internal/esclient"
	"shipper/internal/parse"
	"shipper/internal/redact"
	es "shipper/internal/sink/elasticsearch"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

const usage = `shipper ships log lines into Elasticsearch data streams.

Usage:
  shipper [run] [options]   ship until the inputs end (stdin at EOF) or SIGTERM/SIGINT (the default)
  shipper setup [options]   install the index templates and import the Kibana objects, once
  shipper check [options]   validate the configuration, contact Elasticsearch, say what would happen
                            (--sample LINE|-: show what lines become after processing; nothing is sent)
  shipper version           print the version (also --version)
  shipper help              this text

'shipper run --help', 'shipper setup --help' and 'shipper check --help' list every option.

Inputs (--input, comma-separated; default stdin):
  stdin     newline-delimited lines from standard input, until EOF
  file      Kubernetes CRI and Docker json-file container logs, followed across rotations
  forward   Fluent Forward server (Docker's fluentd log driver, fluent-logger clients)

Common options (each also an environment variable):
  --elasticsearch-url   ELASTICSEARCH_URL   where to ship (default http://localhost:9200)
  --dataset             SHIPPER_DATASET     documents go to logs-<dataset>-default ('-' becomes '_')
  --input               SHIPPER_INPUT       stdin, file, forward
  --http-address        SHIPPER_HTTP_ADDRESS  serve /metrics, /healthz, /readyz (e.g. :8686)

Examples:
  my-app | ELASTICSEARCH_URL=http://localhost:9200 shipper --dataset=my-app
  SHIPPER_INPUT=forward ELASTICSEARCH_URL=http://es:9200 shipper
`

func main() {
	stop := startCPUProfile()
	code := dispatch(os.Args[1:])
	stop()
	os.Exit(code)
}

func dispatch(args []string) int {
	cmd := "run"
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		cmd, args = args[0], args[1:]
	} else if len(args) > 0 {
		// Without a command, --help is the overview and --version the
		// version; 'shipper run --help' is the reference of every option.
		switch args[0] {
		case "-h", "-help", "--help":
			cmd = "help"
		case "-version", "--version":
			cmd = "version"
		}
	}
	switch cmd {
	case "run":
		return runCmd(args)
	case "setup":
		return setupCmd(args)
	case "check":
		return checkCmd(args)
	case "version":
		fmt.Println(versionString())
		return 0
	case "help":
		fmt.Print(usage)
		return 0
	}
	fmt.Fprintf(os.Stderr, "shipper: unknown command %q (commands: run, setup, check, version, help; see 'shipper --help')\n", cmd)
	return 2
}

// userAgent is the User-Agent of the requests to Elasticsearch and Kibana.
func userAgent() string { return "shipper/" + version }

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
	cfg, err := config.Load(name, args, os.Getenv, os.Stdout)
	if errors.Is(err, flag.ErrHelp) {
		return cfg, 0
	}
	if err != nil {
		printConfigError(os.Stderr, name, err)
		return cfg, 2
	}
	return cfg, -1
}

// printConfigError writes what is wrong with the options, one line a
// problem, and where the reference is.
func printConfigError(w io.Writer, name string, err error) {
	if msg := err.Error(); !strings.Contains(msg, "\n") {
		fmt.Fprintf(w, "%s: %s\n", name, msg)
	} else {
		fmt.Fprintf(w, "%s: invalid configuration:\n  %s\n", name, strings.ReplaceAll(msg, "\n", "\n  "))
	}
	fmt.Fprintf(w, "Run '%s --help' for every option.\n", name)
}

func newLogger(level string) zerolog.Logger {
	setLogFormat()
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
		RetryMax: cfg.RetryMax, DeadLetterIndex: dlq, UserAgent: userAgent(),
	}, nil
}

// staticFields are the members every document carries: who shipped it, from where.
func staticFields(cfg *config.Config, runID uint64) []byte {
	var b []byte
	b = append(b, `"agent.type":"shipper"`...)
	if cfg.AgentDetails {
		b = append(b, `,"agent.version":`...)
		b, _ = parse.AppendString(b, []byte(version))
		b = append(b, `,"agent.ephemeral_id":"`...)
		b = fmt.Appendf(b, "%016x", runID)
		b = append(b, '"')
	}
	// host.name is a default the line's own host wins over (see parse.New);
	// agent.name always names the shipper's host.
	b = append(b, `,"agent.name":`...)
	b, _ = parse.AppendString(b, []byte(cfg.HostName))
	b = append(b, `,"host.name":`...)
	b, _ = parse.AppendString(b, []byte(cfg.HostName))
	if cfg.AgentDetails {
		// The template's mapping says which ECS version it follows
		// (_meta.ecs_version); an application's own ecs.version is kept
		// as it is without this one.
		b = append(b, `,"ecs.version":"8.11.0"`...)
	}
	return b
}

// setLogFormat makes the shipper's own log lines follow the mapping of the
// documents it writes: the error of .Err() in error.message (not "error",
// which ECS uses for an object), nanosecond times, and durations as
// milliseconds under names ending in _ms.
func setLogFormat() {
	zerolog.TimeFieldFormat = time.RFC3339Nano
	zerolog.ErrorFieldName = "error.message"
	zerolog.DurationFieldUnit = time.Millisecond
}

func newRunID() uint64 {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return uint64(time.Now().UnixNano())
	}
	return binary.BigEndian.Uint64(b[:])
}

func checkCmd(args []string) int {
	args, sample, err := splitSample(args)
	if err != nil {
		printConfigError(os.Stderr, "shipper check", err)
		return 2
	}
	cfg, code := loadConfig("shipper check", args)
	if code >= 0 {
		if code == 2 {
			fmt.Fprintln(os.Stderr, "check: configuration is NOT valid")
		}
		return code
	}
	out := redact.NewWriter(os.Stdout, runSecrets(&cfg))
	fmt.Fprintln(out, "configuration is valid:")
	for _, l := range cfg.Describe() {
		fmt.Fprintln(out, "  "+l)
	}
	sinkCfg, err := sinkConfig(&cfg)
	if err != nil {
		fmt.Fprintf(out, "check: %v\n", err)
		return 2
	}
	for _, n := range cfg.Notes {
		fmt.Fprintln(out, "note: "+n)
	}
	describeProcessing(out, &cfg)
	if sample.on {
		if err := runSample(out, &cfg, sample); err != nil {
			fmt.Fprintf(out, "check: %v\n", err)
			return 2
		}
		return 0
	}
	fmt.Fprintln(out)
	code = 0
	for _, name := range cfg.Inputs {
		fmt.Fprintf(out, "would read (%s): %s\n", name, describeInput(name, &cfg))
		if problem, fatal := checkInput(name, &cfg); fatal {
			fmt.Fprintf(out, "check: input %s: %s\n", name, problem)
			code = 1
		} else if problem != "" {
			fmt.Fprintf(out, "warning: input %s: %s\n", name, problem)
		}
	}
	fmt.Fprintf(out, "would write: data stream logs-%s-%s (records naming data_stream.dataset go to logs-<that>-%s, at most %d datasets); rejected documents to %s\n",
		cfg.Dataset, cfg.Namespace, cfg.Namespace, cfg.MaxDatasets, sinkCfg.DeadLetterIndex)
	fmt.Fprintf(out, "would buffer: at most %s in batches of %s, flushed after %s; when full: %s; the inputs' buffers at most %s\n",
		cfg.PipelineBytes(), cfg.BatchBytes, cfg.FlushInterval, cfg.BufferFullPolicy, cfg.InputBufferBytes())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if cfg.Output == config.OutputKafka {
		return checkKafka(ctx, out, &cfg, code)
	}
	sink, err := es.New(sinkCfg, zerolog.New(io.Discard))
	if err != nil {
		fmt.Fprintf(out, "check: %v\n", err)
		return 1
	}
	health, err := sink.Ping(ctx)
	if err != nil {
		fmt.Fprintf(out, "\nElasticsearch: NOT reachable: %v: %s\n", err, esclient.Hint(err, "--elasticsearch-url / ELASTICSEARCH_URL"))
		return 1
	}
	fmt.Fprintf(out, "\nElasticsearch: reachable at %v, cluster health %s\n", redact.URLs(cfg.ElasticsearchURLs), health)
	return code
}
