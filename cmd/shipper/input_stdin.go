package main

import (
	"context"
	"fmt"
	"os"

	"github.com/rs/zerolog"

	"shipper/internal/config"
	"shipper/internal/pipeline"
	"shipper/internal/source/stdin"
	"shipper/internal/status"
)

func describeStdin(cfg *config.Config) string {
	return fmt.Sprintf("standard input until EOF, lines up to %s (longer ones truncated and flagged)", cfg.MaxLineBytes)
}

type stdinInput struct {
	src *stdin.Source
	pr  *pipeline.Producer
}

func newStdinInput(env *inputEnv) (input, error) {
	pr := env.pipe.NewProducer(nil)
	src, err := stdin.New(stdin.Config{
		MaxLineBytes: int(env.cfg.MaxLineBytes), Dataset: env.cfg.Dataset, Namespace: env.cfg.Namespace,
		Static: env.static, Streams: env.streams, Stage: env.stage(config.InputStdin),
	}, os.Stdin, pr, env.runID, env.log)
	if err != nil {
		pr.Close()
		return nil, err
	}
	return &stdinInput{src: src, pr: pr}, nil
}

func (in *stdinInput) Run(ctx, queueCtx context.Context) error { return in.src.Run(ctx, queueCtx) }

func (in *stdinInput) Drain(ctx context.Context) error {
	if err := in.pr.Close(); err != nil {
		return err
	}
	return in.pr.Wait(ctx)
}

// Unqueued counts lines read and never queued (the shutdown deadline passed
// while they waited for budget).
func (in *stdinInput) Unqueued() uint64 { return in.src.Stats().Unqueued }

// Fate says what becomes of undelivered lines.
func (in *stdinInput) Fate() string {
	return "standard input cannot be read again: undelivered lines are lost"
}

func (in *stdinInput) Summary(e *zerolog.Event) {
	st := in.src.Stats()
	e.Dict("stdin", zerolog.Dict().
		Uint64("lines", st.Lines).Uint64("bytes", st.Bytes).Uint64("json", st.JSON).
		Uint64("malformed_json", st.Malformed).Uint64("invalid_utf8", st.InvalidUTF8).Uint64("truncated", st.Truncated).Uint64("dropped", st.Dropped).Uint64("unqueued", st.Unqueued).
		Uint64("blank", st.Blank).Uint64("changed", st.Changed))
}

func (in *stdinInput) Records() uint64 { return in.src.Stats().Lines }

func (in *stdinInput) Metrics(w *status.Writer) {
	st := in.src.Stats()
	w.Counter("shipper_stdin_lines_total", "Lines read from standard input.", st.Lines)
	w.Counter("shipper_stdin_bytes_total", "Bytes read from standard input.", st.Bytes)
	w.Counter("shipper_stdin_malformed_json_total", "Lines that looked like JSON but were malformed (indexed raw).", st.Malformed)
	w.Counter("shipper_stdin_invalid_utf8_total", "Lines with invalid UTF-8 (replaced).", st.InvalidUTF8)
	w.Counter("shipper_stdin_truncated_total", "Lines longer than --max-line-bytes (truncated).", st.Truncated)
	w.Counter("shipper_stdin_blank_total", "Empty or whitespace-only lines (counted, not shipped).", st.Blank)
	w.Counter("shipper_stdin_changed_total", "Lines whose document names a change in log.flags other than invalid UTF-8 or truncation.", st.Changed)
	w.Counter("shipper_stdin_dropped_total", "Lines discarded under --buffer-full-policy=drop_newest.", st.Dropped)
}
