package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"shipper/internal/testutil/corpus"
	"shipper/internal/testutil/kafkatest"
)

// BenchmarkKafkaOutput runs the built shipper over the realistic corpus with
// --output=kafka against the broker in KAFKA_BROKERS (scripts/kafka.sh: a
// single node on loopback) and reports the shipper's CPU per line, as
// BenchmarkWholePath does for Elasticsearch. The broker's CPU is not counted.
// Skipped when KAFKA_BROKERS is unset:
//
//	eval "$(scripts/kafka.sh start)"; go test -run '^$' -bench KafkaOutput -benchtime=1x ./cmd/shipper/
func BenchmarkKafkaOutput(b *testing.B) {
	brokers := os.Getenv("KAFKA_BROKERS")
	if brokers == "" {
		b.Skip("KAFKA_BROKERS is not set: start a broker with scripts/kafka.sh")
	}
	lines := benchLines()
	bin := shipperBinary(b, false)
	raw := corpusFile(b, corpus.Raw)
	cri := corpusFile(b, corpus.CRI)
	cases := []struct {
		name string
		args []string
		file string // "": stdin
	}{
		{"stdin/default", nil, ""},
		{"stdin/lz4", []string{"--kafka-compression=lz4"}, ""},
		{"stdin/key-stream", []string{"--kafka-key=stream"}, ""},
		{"file-cri/default", nil, cri},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			var sum wholeResult
			for i := 0; i < b.N; i++ {
				topic := kafkatest.Unique("bench-")
				args := []string{bin, "--output=kafka", "--kafka-brokers=" + brokers, "--kafka-topic=" + topic,
					"--log-level=warn", "--elasticsearch-url=http://127.0.0.1:1"}
				args = append(args, tc.args...)
				if e := os.Getenv("SHIPPER_BENCH_ARGS"); e != "" {
					args = append(args, splitArgs(e)...)
				}
				var in *os.File
				if tc.file != "" {
					dir := filepath.Join(b.TempDir(), "pods", "shop_checkout-7d9f8b6c5d-x2k4q_0b5c1d2e-3f4a-5b6c-7d8e-9f0a1b2c3d4e", "checkout")
					os.MkdirAll(dir, 0o755)
					path := filepath.Join(dir, "0.log")
					if err := os.Symlink(tc.file, path); err != nil {
						b.Fatal(err)
					}
					args = append(args, "--input=file", "--file-paths="+path, "--file-start-at=beginning", "--state-dir="+b.TempDir())
				} else {
					in, _ = os.Open(raw)
				}
				cmd := pinned(args...)
				cmd.Stdin = in
				var stderr bytes.Buffer
				cmd.Stderr = &stderr
				if err := cmd.Start(); err != nil {
					b.Fatal(err)
				}
				if tc.file != "" {
					// The file input follows the file: stop it once Kafka
					// holds every line.
					deadline := time.Now().Add(10 * time.Minute)
					for kafkatest.Count(b, strings.Split(brokers, ","), topic) < int64(lines) {
						if time.Now().After(deadline) {
							cmd.Process.Kill()
							b.Fatalf("Kafka holds %d of %d records after 10 minutes", kafkatest.Count(b, strings.Split(brokers, ","), topic), lines)
						}
						time.Sleep(200 * time.Millisecond)
					}
					cmd.Process.Signal(syscall.SIGTERM)
				}
				if err := cmd.Wait(); err != nil {
					b.Fatalf("%v: %v\n%s", cmd.Args, err, stderr.String())
				}
				if in != nil {
					in.Close()
				}
				if got := kafkatest.Count(b, strings.Split(brokers, ","), topic); got != int64(lines) {
					b.Fatalf("Kafka holds %d records, want %d\n%s", got, lines, stderr.String())
				}
				ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
				sum.add(wholeResult{cpu: cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime(), rssKiB: ru.Maxrss,
					items: int64(lines), raw: 1, wire: 1})
			}
			perLine := sum.cpu.Seconds() / float64(lines*b.N)
			b.ReportMetric(perLine*1e6, "cpu-s/1M-lines")
			b.ReportMetric(1/perLine, "lines/cpu-s")
			b.ReportMetric(float64(sum.rssKiB)/1024, "peak-rss-MiB")
		})
	}
}
