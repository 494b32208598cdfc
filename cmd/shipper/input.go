package main

import (
	"context"
	"fmt"

	"github.com/rs/zerolog"

	"shipper/internal/config"
	"shipper/internal/encode"
	"shipper/internal/pipeline"
	"shipper/internal/process"
	"shipper/internal/status"
)

// input is one enabled source of records, wired to the shared pipeline.
type input interface {
	// Run reads until ctx is cancelled or the input ends by itself (stdin at
	// EOF). Records read before ctx is cancelled are still queued; waits for
	// pipeline budget give up only when queueCtx is done (the shutdown
	// deadline). Run returns nil at a normal end and ctx.Err() on
	// cancellation.
	Run(ctx, queueCtx context.Context) error
	// Drain queues what is being filled and blocks until everything queued
	// so far is acknowledged or ctx is done; then it persists the input's
	// state (checkpoints). Called once, after Run returned.
	Drain(ctx context.Context) error
	// Summary adds the input's counters to the final log line.
	Summary(e *zerolog.Event)
	// Metrics writes the input's counters for /metrics. Safe to call
	// concurrently with Run.
	Metrics(w *status.Writer)
	// Records is the number of records read so far, for the per-input
	// series of /metrics. Safe to call concurrently with Run.
	Records() uint64
}

// inputEnv is what a constructor gets to build an input.
type inputEnv struct {
	cfg    *config.Config
	pipe   *pipeline.Pipeline
	static []byte // pre-encoded members of every document (agent, host)
	runID  uint64 // random per process start
	log    zerolog.Logger
	// streams limits the datasets records choose, for every input.
	streams *encode.Streams
	// chain is the processing stage; nil or empty: none.
	chain *process.Chain
}

// stage returns the processing stage of the input called name (its own
// Runner), or nil when there are no processors.
func (env *inputEnv) stage(name string) encode.Stage {
	if env.chain.Empty() {
		return nil
	}
	return env.chain.Runner(name)
}

// newInput builds the input called name (config.Input*); each is in its
// file input_<name>.go.
func newInput(name string, env *inputEnv) (input, error) {
	switch name {
	case config.InputStdin:
		return newStdinInput(env)
	case config.InputFile:
		return newFileInput(env)
	case config.InputForward:
		return newForwardInput(env)
	case config.InputKafka:
		return newKafkaInput(env)
	}
	return nil, fmt.Errorf("input %q is not available in this build", name)
}

// describeInput says, for 'shipper check', what the input called name
// would read.
func describeInput(name string, cfg *config.Config) string {
	switch name {
	case config.InputStdin:
		return describeStdin(cfg)
	case config.InputFile:
		return describeFileInput(cfg)
	case config.InputForward:
		return describeForward(cfg)
	case config.InputKafka:
		return describeKafkaInput(cfg)
	}
	return "(unknown input)"
}

// checkInput finds, for 'shipper check', what would stop the input called
// name from working: a Forward address already taken (fatal: it cannot
// start), no file matching the paths (not fatal: files may appear later).
func checkInput(name string, cfg *config.Config) (problem string, fatal bool) {
	switch name {
	case config.InputForward:
		if err := checkForward(cfg); err != nil {
			return err.Error(), true
		}
	case config.InputFile:
		if n := countFileMatches(cfg); n == 0 {
			return "no file matches the paths yet: nothing to read until one appears (check --file-paths, --file-mode, --file-exclude)", false
		}
	}
	return "", false
}

// buildInputs builds the inputs of env.cfg.Inputs, in that order.
func buildInputs(env *inputEnv) ([]input, error) {
	var out []input
	for _, name := range env.cfg.Inputs {
		e := *env
		e.log = env.log.With().Str("component", name).Logger()
		in, err := newInput(name, &e)
		if err != nil {
			return nil, fmt.Errorf("input %s: %w", name, err)
		}
		out = append(out, in)
	}
	return out, nil
}
