package parse

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/sirupsen/logrus"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// loggerLines returns what zerolog, zap, logrus and log/slog write in their
// JSON configurations for messages and fields that put escapes, multi-byte
// UTF-8, control characters and long values at every offset of the 64-byte
// blocks of the structural index.
func loggerLines(t *testing.T) [][]byte {
	var buf bytes.Buffer
	zl := zerolog.New(&buf).With().Timestamp().Str("service", "checkout").Logger()
	zp := zap.New(zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()), zapcore.AddSync(&buf), zap.DebugLevel))
	lr := logrus.New()
	lr.SetOutput(&buf)
	lr.SetFormatter(&logrus.JSONFormatter{})
	sl := slog.New(slog.NewJSONHandler(&buf, nil))
	values := []string{
		"plain", `quote " and backslash \ inside`, "tab\tnewline\nreturn\r", "ünïcödé ✓ 日本語 🚀",
		"ctl \x01\x1f end", "html <b>&amp;</b>", strings.Repeat("a", 63), strings.Repeat("é", 40),
	}
	for pad := 0; pad < 70; pad += 7 {
		for _, v := range values {
			msg := strings.Repeat("m", pad) + v
			err := errors.New("open /etc/x: " + v)
			zl.Info().Str("trace_id", "4bf92f3577b34da6a3ce929d0e0e4736").Int("status", 200+pad).Msg(msg)
			zl.Error().Err(err).Dur("took", time.Duration(pad)*time.Millisecond).Msg(v)
			zp.Info(msg, zap.String("user", v), zap.Int("attempt", pad), zap.Float64("ratio", 0.25))
			zp.Error(v, zap.Error(err), zap.Strings("tags", []string{v, "x"}))
			lr.WithField("request", map[string]any{"path": "/" + v, "bytes": pad}).Warn(msg)
			sl.Info(msg, "k", v, slog.Group("http", "method", "GET", "status", 404))
		}
	}
	zp.Sync()
	var lines [][]byte
	for _, l := range bytes.Split(bytes.TrimSuffix(buf.Bytes(), []byte("\n")), []byte("\n")) {
		lines = append(lines, bytes.Clone(l))
	}
	if len(lines) < 400 {
		t.Fatalf("only %d lines", len(lines))
	}
	return lines
}

// TestLoggerLinesIndexedPlainGeneral parses the lines of real logging
// libraries, whole and cut, with the structural index, without it and on the
// general path: the same documents, every line a JSON document.
func TestLoggerLinesIndexedPlainGeneral(t *testing.T) {
	indexed, plain, general := newTestParser(benchStatic), newTestParser(benchStatic), newTestParser(benchStatic)
	plain.noIndex = true
	general.general = true
	for _, line := range loggerLines(t) {
		for _, cut := range []int{len(line), len(line) - 2, len(line) / 2, 64, 100} {
			if cut <= 0 || cut > len(line) {
				continue
			}
			l := &Line{Data: line[:cut], Time: lineTime}
			if cut < len(line) {
				l.Size = len(line)
			}
			got, gi := indexed.Append(nil, l)
			if cut == len(line) && gi.Flags&JSON == 0 {
				t.Fatalf("a logger's line is not parsed as JSON (flags %b): %s", gi.Flags, line)
			}
			if want, wi := plain.Append(nil, l); !bytes.Equal(got, want) || gi.Flags != wi.Flags {
				t.Fatalf("in: %q\nindex:    %s\nno index: %s", l.Data, got, want)
			}
			if want, wi := general.Append(nil, l); !sameJSON(got, want) || gi.Flags != wi.Flags {
				t.Fatalf("in: %q\nfast:    %s\ngeneral: %s", l.Data, got, want)
			}
		}
	}
}
