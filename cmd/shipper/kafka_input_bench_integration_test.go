//go:build integration

package main

import (
	"bufio"
	"bytes"
	"context"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"shipper/internal/testutil/corpus"
	"shipper/internal/testutil/kafkatest"
)

// BenchmarkKafkaInput measures the Kafka input on the realistic corpus
// against a real broker (KAFKA_BROKERS): the consuming shipper's CPU
// (user+system, pinned like BenchmarkWholePath) per line, from the first
// poll to the last document in the fake Elasticsearch. Two kinds of
// records:
//
//   - plain: the corpus lines as record values (another producer's logs),
//     parsed as log lines;
//
//   - documents: what a shipper's Kafka output wrote from the same lines
//     (headers with id and data stream), sent as they are.
//
//     go test -tags integration -run '^$' -bench KafkaInput -benchtime=1x ./cmd/shipper/
func BenchmarkKafkaInput(b *testing.B) {
	brokers := kafkatest.Brokers(b)
	lines := benchLines()
	bin := benchBinary(b)
	fake := &fakeES{}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	raw := corpusFile(b, corpus.Raw)

	plain := kafkatest.Unique("bench-plain-")
	produceFile(b, brokers, plain, raw)
	docs := kafkatest.Unique("bench-docs-")
	{
		// The documents a shipper's Kafka output makes of the corpus.
		in, _ := os.Open(raw)
		cmd := pinned(append([]string{bin, "--output=kafka", "--kafka-brokers=" + strings.Join(brokers, ","),
			"--kafka-topic=" + docs}, shipperArgs(srv.URL, "")...)...)
		cmd.Stdin = in
		out, err := cmd.CombinedOutput()
		in.Close()
		if err != nil {
			b.Fatalf("producing the documents: %v\n%s", err, out)
		}
	}
	for _, tc := range []struct{ name, topic string }{{"plain", plain}, {"documents", docs}} {
		b.Run(tc.name, func(b *testing.B) {
			var sum wholeResult
			for i := 0; i < b.N; i++ {
				args := append([]string{bin, "--input=kafka", "--kafka-brokers=" + strings.Join(brokers, ","),
					"--kafka-topics=" + tc.topic, "--kafka-group=" + kafkatest.Unique("bench-")}, shipperArgs(srv.URL, "")...)
				sum.add(runSampled(b, pinned(args...), fake, lines))
			}
			sum.report(b, lines*b.N, 0)
		})
	}
}

// runSampled is runProcess (until the fake has n items) with the peak RSS
// taken from the shipper's own high-water mark (VmHWM), sampled while it
// runs: the maxrss of wait4 also counts what the benchmark process held
// when it started the shipper (on Linux the child's high-water mark
// starts at the parent's), and this process holds a producer's buffers.
func runSampled(b *testing.B, cmd *exec.Cmd, fake *fakeES, n int) wholeResult {
	b.Helper()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	fake.reset()
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	var hwm atomic.Int64
	done := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		for {
			if kib := vmKiB(cmd.Process.Pid, "VmHWM"); kib > hwm.Load() {
				hwm.Store(kib)
			}
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	deadline := time.Now().Add(10 * time.Minute)
	for fake.items.Load() < int64(n) {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			cmd.Wait()
			b.Fatalf("after 10 minutes the fake has %d of %d documents\n%s", fake.items.Load(), n, stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	err := cmd.Wait()
	close(done)
	<-sampled
	if err != nil {
		b.Fatalf("%v: %v\n%s", cmd.Args, err, stderr.String())
	}
	if got := fake.items.Load(); got != int64(n) {
		b.Fatalf("delivered %d documents, want %d\n%s", got, n, stderr.String())
	}
	ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	b.ReportMetric(float64(ru.Maxrss)/1024, "wait4-maxrss-MiB")
	return wholeResult{
		cpu:    cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime(),
		rssKiB: hwm.Load(), items: fake.items.Load(), wire: fake.wire.Load(), raw: fake.raw.Load(),
	}
}

// produceFile writes every line of path as one record into a new topic of 4
// partitions.
func produceFile(b *testing.B, brokers []string, topic, path string) {
	b.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.DefaultProduceTopic(topic),
		kgo.RecordPartitioner(kgo.RoundRobinPartitioner()), kgo.AllowAutoTopicCreation())
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	f, err := os.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	recs := make([]*kgo.Record, 0, 10000)
	flush := func() {
		if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			b.Fatalf("produce: %v", err)
		}
		recs = recs[:0]
	}
	for sc.Scan() {
		recs = append(recs, &kgo.Record{Value: append([]byte(nil), sc.Bytes()...)})
		if len(recs) == cap(recs) {
			flush()
		}
	}
	flush()
}
