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
	"time"

	"github.com/rs/zerolog"

	"shipper/internal/config"
	"shipper/internal/datastream"
	"shipper/internal/parse"
	es "shipper/internal/sink/elasticsearch"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

const usage = `shipper ships log lines into Elasticsearch data streams.

Usage:
  shipper [run] [options]   ship until the inputs end (stdin at EOF) or SIGTERM/SIGINT (the default)
  shipper setup [options]   install the index templates and import the Kibana objects, once
  shipper check [options]   validate the configuration, contact Elasticsearch, say what would happen
  shipper version           print the version
  shipper help              this text; 'shipper run --help' lists every option

Inputs (--input, comma-separated; default stdin):
  stdin     newline-delimited lines from standard input, until EOF
  file      Kubernetes CRI and Docker json-file container logs, followed across rotations
  forward   Fluent Forward server (Docker's fluentd log driver, fluent-logger clients)

Every option is also an environment variable (see 'shipper run --help').
Examples:
  my-app | ELASTICSEARCH_URL=http://localhost:9200 shipper --dataset=myapp
  SHIPPER_INPUT=forward ELASTICSEARCH_URL=http://es:9200 shipper
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
	fmt.Fprintf(os.Stderr, "shipper: unknown command %q\n\n%s", cmd, usage)
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
		RetryMax: cfg.RetryMax, DeadLetterIndex: dlq, UserAgent: userAgent(),
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
	fmt.Fprintln(out)
	for _, name := range cfg.Inputs {
		fmt.Fprintf(out, "would read (%s): %s\n", name, describeInput(name, &cfg))
	}
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
