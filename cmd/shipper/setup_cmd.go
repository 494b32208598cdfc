package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/rs/zerolog"

	"shipper/internal/config"
	"shipper/internal/redact"
	"shipper/internal/setup"
)

// Exit codes of 'shipper setup' (its --help lists them).
const (
	setupOK      = 0
	setupFailed  = 1 // unreachable, refused, timed out
	setupUsage   = 2 // invalid options
	setupPartial = 3 // Kibana refused some saved objects
)

// setupCmd is 'shipper setup': install the Elasticsearch templates and
// import the Kibana saved objects, once, then exit. SIGINT/SIGTERM cancel it.
func setupCmd(args []string) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return runSetup(ctx, args, os.Getenv, os.Stdout, os.Stderr)
}

// runSetup is setupCmd without the process: options from args and getenv,
// progress (zerolog JSON) and the final verdict on stderr, the one-line
// summary of a success on stdout. It returns the exit code.
func runSetup(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	cfg, err := config.LoadSetup("shipper setup", args, getenv, stdout)
	if errors.Is(err, flag.ErrHelp) {
		return setupOK
	}
	if err != nil {
		printConfigError(stderr, "shipper setup", err)
		return setupUsage
	}
	secrets := setupSecrets(&cfg)
	stdout, stderr = redact.NewWriter(stdout, secrets), redact.NewWriter(stderr, secrets)
	log := setupLogger(stderr, cfg.LogLevel)
	err = setup.Run(ctx, setup.Config{
		ElasticsearchURL:   cfg.ElasticsearchURL(),
		KibanaURL:          cfg.KibanaURL,
		Username:           cfg.Username,
		Password:           cfg.Password,
		APIKey:             cfg.APIKey,
		CAFile:             cfg.CAFile,
		InsecureSkipVerify: cfg.InsecureSkipVerify,
		SkipElasticsearch:  cfg.Only == config.SetupKibana,
		SkipKibana:         cfg.Only == config.SetupElasticsearch,
		KibanaSpace:        cfg.KibanaSpace,
		Timeout:            cfg.Timeout,
		UserAgent:          userAgent(),
	}, log)
	if err != nil {
		log.Error().Str("error.message", err.Error()).Msg("setup failed")
		fmt.Fprintf(stderr, "shipper setup: FAILED: %v\n", err)
		var partial *setup.ImportError
		if errors.As(err, &partial) {
			fmt.Fprintln(stderr, "shipper setup: the other objects were imported; fix the ones listed and run setup again (it is safe to repeat)")
			return setupPartial
		}
		return setupFailed
	}
	var done []string
	if cfg.Only != config.SetupKibana {
		done = append(done, "Elasticsearch templates installed at "+redact.URL(cfg.ElasticsearchURL()))
	}
	if cfg.Only != config.SetupElasticsearch {
		done = append(done, "Kibana saved objects imported into space "+cfg.KibanaSpace+" at "+redact.URL(cfg.KibanaURL))
	}
	for _, d := range done {
		fmt.Fprintln(stdout, "shipper setup: "+d)
	}
	return setupOK
}

// setupLogger is newLogger writing to w.
func setupLogger(w io.Writer, level string) zerolog.Logger {
	setLogFormat()
	lvl, err := zerolog.ParseLevel(level)
	if err != nil {
		lvl = zerolog.InfoLevel
	}
	return zerolog.New(w).Level(lvl).With().Timestamp().Str("service.name", "shipper").Str("component", "setup").Logger()
}
