// Command demo-app is a small twelve-factor web service whose only purpose is
// to produce realistic logs for the shipper: one zerolog JSON object per line
// on stdout, with ECS-style dotted keys.
//
// Usage:
//
//	demo-app                                  serve on $PORT (default 8080) until SIGINT/SIGTERM
//	demo-app --load [--rate 200]              also send requests to itself at that rate
//	demo-app --load --duration 5s | shipper   5 s of traffic, graceful shutdown, exit 0 (make run)
//
// Configuration (flags win over the environment):
//
//	PORT            listen port; 0 picks a free one (the load generator follows it)
//	--load          DEMO_LOAD=true       run the built-in load generator
//	--rate N        DEMO_RATE=N          requests per second of the load generator (default 200)
//	--duration D    DEMO_DURATION=D      stop after D (e.g. 5s); 0 = run until a signal
//	FLUENT_ADDRESS=host:port             send the log records to a Fluent Forward server
//	                                     (e.g. the shipper's forward input) INSTEAD of stdout
//
// Log lines carry zerolog's default keys time (RFC 3339 with nanoseconds,
// UTC), level and message, plus service.name and, for requests,
// http.request.method, url.path, http.response.status_code,
// http.response.bytes, event.duration (nanoseconds), trace.id, span.id,
// client.ip and user_agent.original. Failed checkouts add error.message,
// error.type and a multi-line error.stack_trace.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/rs/zerolog"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
}

// config is the whole configuration of the demo app.
type config struct {
	Port          string        // PORT
	Load          bool          // run the load generator
	Rate          float64       // load generator requests per second
	Duration      time.Duration // 0: until ctx is done
	FluentAddress string        // host:port of a Fluent Forward server, "" for stdout
}

// parseConfig reads the environment through getenv, then the flags in args
// (flags win). Errors name the flag or variable at fault.
func parseConfig(args []string, getenv func(string) string, stderr io.Writer) (config, error) {
	cfg := config{Port: "8080", Rate: 200}
	if v := getenv("PORT"); v != "" {
		cfg.Port = v
	}
	if v := getenv("DEMO_LOAD"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return cfg, fmt.Errorf("DEMO_LOAD=%q: want true or false", v)
		}
		cfg.Load = b
	}
	if v := getenv("DEMO_RATE"); v != "" {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return cfg, fmt.Errorf("DEMO_RATE=%q: want a number of requests per second", v)
		}
		cfg.Rate = f
	}
	if v := getenv("DEMO_DURATION"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			return cfg, fmt.Errorf("DEMO_DURATION=%q: want a duration such as 5s", v)
		}
		cfg.Duration = d
	}
	cfg.FluentAddress = getenv("FLUENT_ADDRESS")

	fs := flag.NewFlagSet("demo-app", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.BoolVar(&cfg.Load, "load", cfg.Load, "run the built-in load generator against this server (env DEMO_LOAD)")
	fs.Float64Var(&cfg.Rate, "rate", cfg.Rate, "load generator requests per second (env DEMO_RATE)")
	fs.DurationVar(&cfg.Duration, "duration", cfg.Duration, "stop gracefully after this long, e.g. 5s; 0 runs until SIGINT/SIGTERM (env DEMO_DURATION)")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if p, err := strconv.Atoi(cfg.Port); err != nil || p < 0 || p > 65535 {
		return cfg, fmt.Errorf("PORT=%q: want a port number (0 picks a free one)", cfg.Port)
	}
	if cfg.Load && (cfg.Rate <= 0 || cfg.Rate > 100000) {
		return cfg, fmt.Errorf("--rate %v: want more than 0 and at most 100000 requests per second", cfg.Rate)
	}
	if cfg.Duration < 0 {
		return cfg, fmt.Errorf("--duration %v: must not be negative", cfg.Duration)
	}
	return cfg, nil
}

// configureZerolog sets zerolog's globals: RFC 3339 timestamps with
// nanoseconds, in UTC, so that lines within one millisecond keep their order.
func configureZerolog() {
	zerolog.TimeFieldFormat = time.RFC3339Nano
	zerolog.TimestampFunc = func() time.Time { return time.Now().UTC() }
	zerolog.SetGlobalLevel(zerolog.InfoLevel)
}

// newLogger returns the service's logger writing one JSON object per Write to w.
func newLogger(w io.Writer) zerolog.Logger {
	return zerolog.New(w).With().Timestamp().Str("service.name", serviceName).Str("service.version", serviceVersion).Logger()
}

// run is main without the process: it serves until ctx is done or the
// duration has passed, then shuts down gracefully. It returns the exit code.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	cfg, err := parseConfig(args, getenv, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "demo-app: %v\n", err)
		return 2
	}
	configureZerolog()

	out := stdout
	var fw *fluentWriter
	if cfg.FluentAddress != "" {
		fw, err = newFluentWriter(cfg.FluentAddress, fluentTag, stderr)
		if err != nil {
			fmt.Fprintf(stderr, "demo-app: %v\n", err)
			return 2
		}
		out = fw
	}
	log := newLogger(out)

	ln, err := net.Listen("tcp", ":"+cfg.Port)
	if err != nil {
		log.Error().Str("error.message", err.Error()).Msgf("cannot listen on port %s: is another process using it? set PORT (0 picks a free port)", cfg.Port)
		fmt.Fprintf(stderr, "demo-app: cannot listen on port %s: %v\n", cfg.Port, err)
		closeFluent(fw, stderr)
		return 1
	}
	a := newApp(log)
	srv := &http.Server{Handler: a.routes(), ReadHeaderTimeout: 5 * time.Second}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	base := "http://" + loopback(ln.Addr())
	log.Info().Str("url.full", base).Msgf("listening on %s", ln.Addr())

	runCtx := ctx
	if cfg.Duration > 0 {
		var cancel context.CancelFunc
		runCtx, cancel = context.WithTimeout(ctx, cfg.Duration)
		defer cancel()
	}
	loadDone := make(chan struct{})
	if cfg.Load {
		g := newLoadGen(base, cfg.Rate, log)
		go func() {
			defer close(loadDone)
			g.run(runCtx)
		}()
	} else {
		close(loadDone)
	}

	code := 0
	select {
	case <-runCtx.Done():
	case err := <-serveErr:
		log.Error().Str("error.message", err.Error()).Msg("HTTP server stopped")
		code = 1
	}
	<-loadDone // the generator stops with runCtx; after a serve error its requests fail fast

	shutCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutCtx); err != nil {
		log.Warn().Str("error.message", err.Error()).Msg("graceful shutdown did not finish in 10s; closing connections")
		srv.Close()
	}
	log.Info().Msg("stopped")
	closeFluent(fw, stderr)
	return code
}

// loopback turns a listen address such as [::]:8080 into one the load
// generator can dial.
func loopback(a net.Addr) string {
	tcp, ok := a.(*net.TCPAddr)
	if !ok || tcp.IP == nil || tcp.IP.IsUnspecified() {
		_, port, _ := net.SplitHostPort(a.String())
		return net.JoinHostPort("127.0.0.1", port)
	}
	return strings.TrimPrefix(a.String(), "tcp://")
}
