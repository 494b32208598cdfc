package main

import (
	"context"
	"fmt"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/rs/zerolog"

	"shipper/internal/config"
	"shipper/internal/source/file"
	"shipper/internal/status"
)

type fileInput struct {
	src *file.Source
}

// fileConfig maps the configuration onto the source's.
func fileConfig(cfg *config.Config, static []byte) (file.Config, error) {
	fc := &cfg.File
	format, err := file.ParseFormat(fc.Format)
	if err != nil {
		return file.Config{}, err
	}
	out := file.Config{
		Paths:              fc.Globs(),
		Exclude:            fc.Exclude,
		Format:             format,
		StartAtEnd:         fc.StartAt == "end",
		MaxRecordBytes:     int(cfg.MaxLineBytes),
		StateDir:           fc.StateDir,
		CheckpointInterval: fc.CheckpointInterval,
		PollInterval:       fc.PollInterval,
		RescanInterval:     fc.RescanInterval,
		MaxOpenFiles:       fc.MaxOpenFiles,
		BufferBytes:        int64(fc.BufferBytes),
		CloseInactive:      fc.CloseInactive,
		RotateWait:         fc.RotateWait,
		Dataset:            cfg.Dataset,
		Namespace:          cfg.Namespace,
		Static:             static,
		NodeName:           fc.NodeName,
	}
	if fc.Mode == config.FileModeSidecar {
		out.Pod = file.PodIdentity{Namespace: fc.PodNamespace, Name: fc.PodName, UID: fc.PodUID}
	}
	for _, l := range fc.Labels {
		out.Labels = append(out.Labels, file.Label{Key: l.Key, Value: l.Value})
	}
	if fc.Multiline {
		ml := &file.MultilineConfig{MaxLines: fc.MultilineMaxLines, MaxBytes: int(cfg.MaxLineBytes), Timeout: fc.MultilineTimeout}
		if fc.MultilineStart != "" {
			if ml.Start, err = regexp.Compile(fc.MultilineStart); err != nil {
				return file.Config{}, fmt.Errorf("--file-multiline-start: %w", err)
			}
		}
		out.Multiline = ml
	}
	return out, nil
}

func newFileInput(env *inputEnv) (input, error) {
	fc, err := fileConfig(env.cfg, env.static)
	if err != nil {
		return nil, err
	}
	fc.Streams = env.streams
	fc.Stage = env.stage(config.InputFile)
	src, err := file.New(fc, env.pipe, env.log)
	if err != nil {
		return nil, err
	}
	return &fileInput{src: src}, nil
}

func (in *fileInput) Run(ctx, queueCtx context.Context) error { return in.src.Run(ctx, queueCtx) }

func (in *fileInput) Drain(ctx context.Context) error { return in.src.Drain(ctx) }

// Fate says what becomes of undelivered records.
func (in *fileInput) Fate() string {
	return "file records are read again from the last checkpoint at the next start"
}

func (in *fileInput) Summary(e *zerolog.Event) {
	st := in.src.Stats()
	e.Dict("file", zerolog.Dict().
		Uint64("records", st.Records).Uint64("lines", st.Lines).Uint64("bytes", st.Bytes).
		Uint64("acked", st.Acked).Uint64("json", st.JSON).Uint64("malformed_json", st.MalformedJSON).
		Uint64("invalid_utf8", st.InvalidUTF8).Uint64("truncated", st.Truncated).
		Uint64("blank", st.Blank).Uint64("changed", st.Changed).
		Uint64("malformed_lines", st.Malformed).Uint64("incomplete", st.Incomplete).
		Uint64("files_opened", st.Opened).Uint64("rotated", st.Rotated).Uint64("deleted", st.Deleted).
		Uint64("truncations", st.Truncations).Uint64("truncations_without_copy", st.TruncatedNoCopy).
		Uint64("copies_read", st.CopiesRead).Uint64("recovered", st.Recovered).Uint64("read_errors", st.ReadErrors).
		Int64("buffer_peak_bytes", st.BufferPeak).Uint64("buffer_waits", st.BudgetWaits))
}

func (in *fileInput) Records() uint64 { return in.src.Stats().Records }

func (in *fileInput) Metrics(w *status.Writer) {
	st := in.src.Stats()
	w.Counter("shipper_file_records_total", "Records read from files (after joining pieces and multiline groups).", st.Records)
	w.Counter("shipper_file_lines_total", "Lines read from files.", st.Lines)
	w.Counter("shipper_file_bytes_total", "Bytes read from files.", st.Bytes)
	w.Counter("shipper_file_records_acked_total", "Records delivered and checkpointed.", st.Acked)
	w.Counter("shipper_file_malformed_json_total", "Records that looked like JSON but were malformed (indexed raw).", st.MalformedJSON)
	w.Counter("shipper_file_truncated_total", "Records longer than --max-line-bytes (truncated).", st.Truncated)
	w.Counter("shipper_file_blank_total", "Empty or whitespace-only records (counted, not shipped).", st.Blank)
	w.Counter("shipper_file_changed_total", "Records whose document names a change in log.flags other than invalid UTF-8 or truncation.", st.Changed)
	w.Counter("shipper_file_opened_total", "Files opened.", st.Opened)
	w.Counter("shipper_file_rotated_total", "Rotations followed.", st.Rotated)
	w.Counter("shipper_file_truncations_total", "Files truncated in place (copytruncate).", st.Truncations)
	w.Counter("shipper_file_truncations_without_copy_total", "Truncations whose unread end could not be found in a copy.", st.TruncatedNoCopy)
	w.Counter("shipper_file_read_errors_total", "Read errors.", st.ReadErrors)
	w.Counter("shipper_file_buffer_waits_total", "Reads put off because --file-buffer-bytes was spent.", st.BudgetWaits)
	for _, f := range in.src.Files() {
		w.Gauge(status.Name("shipper_file_acked_offset_bytes", "path", f.Path, "inode", strconv.FormatUint(f.Inode, 10)),
			"Offset up to which a followed file's records are delivered (-1: none yet); a file no longer followed is not listed.", float64(f.Acked))
	}
}

// countFileMatches counts the files the paths match now, exclusions
// aside (an approximation good enough for 'shipper check').
func countFileMatches(cfg *config.Config) int {
	n := 0
	for _, p := range cfg.File.Globs() {
		m, _ := filepath.Glob(p)
		n += len(m)
	}
	return n
}

func describeFileInput(cfg *config.Config) string {
	fc := &cfg.File
	var b strings.Builder
	fmt.Fprintf(&b, "files matching %s", strings.Join(fc.Globs(), ", "))
	if len(fc.Exclude) > 0 {
		fmt.Fprintf(&b, " except %s", strings.Join(fc.Exclude, ", "))
	}
	fmt.Fprintf(&b, " (format %s, rescanned every %s, at most %d open); files without a checkpoint found at start read from their %s; "+
		"checkpoints in %s every %s", fc.Format, fc.RescanInterval, fc.MaxOpenFiles, fc.StartAt, fc.StateDir, fc.CheckpointInterval)
	if fc.Multiline {
		fmt.Fprintf(&b, "; multiline records joined")
	}
	return b.String()
}
