//go:build integration

package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/fluent/fluent-logger-golang/fluent"
	"github.com/twmb/franz-go/pkg/kgo"

	"shipper/internal/sink/kafka"
	"shipper/internal/testutil/kafkatest"
)

// The Kafka output on a real broker (scripts/kafka.sh, KAFKA_BROKERS): every
// numbered line arrives exactly once as a record, or, after a crash of the
// shipper, again with the same document id, which the consumer side
// deduplicates (a create under that id).

var klineRE = regexp.MustCompile(`kline (\d{7})`)

func kline(i int) string { return fmt.Sprintf("kline %07d", i) }

// kafkaRecords sums up the records of a run.
type kafkaRecords struct {
	total    int
	byNumber map[int][]string // line number -> the ids of its records
	ids      map[string]int   // id -> line number
	indexes  map[string]int
	other    []string // values without a line number
}

func collectRecords(recs []*kgo.Record) kafkaRecords {
	k := kafkaRecords{total: len(recs), byNumber: map[int][]string{}, ids: map[string]int{}, indexes: map[string]int{}}
	for _, r := range recs {
		m := klineRE.FindSubmatch(r.Value)
		if m == nil {
			k.other = append(k.other, string(r.Value))
			continue
		}
		n, _ := strconv.Atoi(string(m[1]))
		id := string(kafkatest.Header(r, kafka.HeaderID))
		k.byNumber[n] = append(k.byNumber[n], id)
		k.ids[id] = n
		k.indexes[string(kafkatest.Header(r, kafka.HeaderIndex))]++
	}
	return k
}

// check asserts that every line of 0..n-1 is there, that a line seen twice
// carries the same id each time, and that no two lines share an id. It
// returns the number of duplicate records.
func (k kafkaRecords) check(t *testing.T, n int) (dups int) {
	t.Helper()
	missing := 0
	for i := 0; i < n; i++ {
		ids := k.byNumber[i]
		if len(ids) == 0 {
			if missing++; missing <= 5 {
				t.Errorf("line %d: no record", i)
			}
			continue
		}
		for _, id := range ids[1:] {
			if id != ids[0] {
				t.Errorf("line %d: records with ids %q and %q: the consumer cannot deduplicate them", i, ids[0], id)
			}
		}
		dups += len(ids) - 1
	}
	if missing > 0 {
		t.Errorf("%d of %d lines missing", missing, n)
	}
	if len(k.byNumber) != n || len(k.ids) != n {
		t.Errorf("%d distinct lines and %d distinct ids, want %d each", len(k.byNumber), len(k.ids), n)
	}
	if len(k.other) > 0 {
		t.Errorf("%d records without a line number, e.g. %.200s", len(k.other), k.other[0])
	}
	return dups
}

// waitRecords reads topic until it holds every line of 0..n-1 (or the
// generous deadline passes) and returns what it read last.
func waitRecords(t *testing.T, brokers []string, topic string, n int, deadline time.Duration) kafkaRecords {
	t.Helper()
	end := time.Now().Add(deadline)
	last := time.Now()
	for {
		k := collectRecords(kafkatest.ReadAll(t, brokers, topic))
		if len(k.byNumber) >= n {
			return k
		}
		if time.Now().After(end) {
			t.Fatalf("topic %s holds %d of %d lines after %v", topic, len(k.byNumber), n, deadline)
		}
		if time.Since(last) > 20*time.Second {
			t.Logf("waiting for Kafka: %d of %d lines in %s", len(k.byNumber), n, topic)
			last = time.Now()
		}
		time.Sleep(500 * time.Millisecond)
	}
}

func kafkaArgs(brokers []string, topic string, extra ...string) []string {
	return append([]string{"run", "--output=kafka", "--kafka-brokers=" + strings.Join(brokers, ","),
		"--kafka-topic=" + topic, "--flush-interval=200ms", "--shutdown-timeout=5m"}, extra...)
}

// startKafkaShipper starts the shipper (race build) with stdin a pipe; the
// environment names no Elasticsearch: the Kafka output must not need one.
func startKafkaShipper(t *testing.T, args ...string) (*exec.Cmd, io.WriteCloser, *logLines) {
	t.Helper()
	cmd := exec.Command(shipperBinary(t, true), args...)
	cmd.Env = append(os.Environ(), "ELASTICSEARCH_URL=http://127.0.0.1:1")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr := logsOf(cmd)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	return cmd, stdin, stderr
}

func waitExit(t *testing.T, cmd *exec.Cmd, logs *logLines) int {
	t.Helper()
	err := cmd.Wait()
	<-logs.done
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatal(err)
	}
	return cmd.ProcessState.ExitCode()
}

// TestKafkaOutputStdin: numbered lines on stdin, each once as a record in
// the topic of its dataset, with its id and data stream in headers and the
// stdin run as key; exit 0 once Kafka acknowledged everything.
func TestKafkaOutputStdin(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	prefix := kafkatest.Unique("ko-stdin-")
	const n = 20_000
	cmd, stdin, logs := startKafkaShipper(t, kafkaArgs(brokers, prefix+"-{dataset}", "--dataset=kostdin")...)
	defer func() {
		if t.Failed() {
			t.Logf("shipper log:\n%s", logs)
		}
	}()
	w := bufio.NewWriter(stdin)
	for i := 0; i < n; i++ {
		fmt.Fprintln(w, kline(i))
	}
	w.Flush()
	stdin.Close()
	if code := waitExit(t, cmd, logs); code != 0 {
		t.Fatalf("exit code %d, want 0", code)
	}
	recs := kafkatest.ReadAll(t, brokers, prefix+"-kostdin")
	k := collectRecords(recs)
	if dups := k.check(t, n); dups != 0 || k.total != n {
		t.Errorf("%d records for %d lines (%d duplicates): want each once", k.total, n, dups)
	}
	if k.indexes["logs-kostdin-default"] != n {
		t.Errorf("index headers %v, want logs-kostdin-default on every record", k.indexes)
	}
	keys := map[string]bool{}
	for _, r := range recs {
		keys[string(r.Key)] = true
	}
	if len(keys) != 1 {
		t.Errorf("%d distinct keys, want 1 (one stdin run)", len(keys))
	}
	sum := logs.find("shipper stopped")
	if num(sum, "produced") != n || sum["indexed"] != nil || num(sum, "records_delivered") != n {
		t.Errorf("summary %v: want %d records acknowledged by Kafka as \"produced\", no \"indexed\"", sum, n)
	}
}

// TestKafkaOutputForward: Fluent Forward clients that ask for acks get them
// once Kafka acknowledged; with --forward-dataset-from-tag and
// --kafka-key=stream each tag is a topic and a key.
func TestKafkaOutputForward(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	prefix := kafkatest.Unique("ko-fwd-")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	cmd, _, logs := startKafkaShipper(t, kafkaArgs(brokers, prefix+"-{dataset}", "--input=forward",
		"--forward-address=127.0.0.1:"+strconv.Itoa(port), "--forward-dataset-from-tag", "--kafka-key=stream", "--flush-interval=50ms")...)
	defer func() {
		if t.Failed() {
			t.Logf("shipper log:\n%s", logs)
		}
	}()
	deadline := time.Now().Add(5 * time.Minute)
	for logs.find("Fluent Forward input listening") == nil {
		if time.Now().After(deadline) {
			t.Fatal("the forward input did not start listening")
		}
		time.Sleep(20 * time.Millisecond)
	}
	const n = 1000
	tags := []string{"alpha", "beta"}
	var wg sync.WaitGroup
	for ti, tag := range tags {
		wg.Add(1)
		go func() {
			defer wg.Done()
			logger, err := fluent.New(fluent.Config{FluentHost: "127.0.0.1", FluentPort: port, RequestAck: true,
				BufferLimit: 1 << 20, RetryWait: 500, MaxRetry: math.MaxInt32, ReadTimeout: time.Minute})
			if err != nil {
				t.Error(err)
				return
			}
			defer logger.Close()
			for i := ti; i < n; i += len(tags) {
				if err := logger.Post(tag, map[string]string{"message": kline(i)}); err != nil {
					t.Errorf("post %d: %v", i, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	all := kafkaRecords{byNumber: map[int][]string{}, ids: map[string]int{}, indexes: map[string]int{}}
	for _, tag := range tags {
		k := waitRecords(t, brokers, prefix+"-"+tag, n/len(tags), 3*time.Minute)
		for num, ids := range k.byNumber {
			all.byNumber[num] = append(all.byNumber[num], ids...)
		}
		for id, num := range k.ids {
			all.ids[id] = num
		}
		all.total += k.total
		all.other = append(all.other, k.other...)
		if k.indexes["logs-"+tag+"-default"] != k.total {
			t.Errorf("tag %s: index headers %v", tag, k.indexes)
		}
	}
	if dups := all.check(t, n); dups != 0 {
		t.Errorf("%d duplicate records without a crash", dups)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	if code := waitExit(t, cmd, logs); code != 0 {
		t.Fatalf("exit code %d, want 0", code)
	}
}

// TestKafkaOutputFileKillRestart: a file written while the shipper is
// SIGKILLed and restarted three times. The checkpoint moves only past what
// Kafka acknowledged, so nothing is missing; what was produced but not
// checkpointed before a kill is produced again, under the same id.
func TestKafkaOutputFileKillRestart(t *testing.T) {
	brokers := kafkatest.Brokers(t)
	topic := kafkatest.Unique("ko-file-")
	dir, state := t.TempDir(), t.TempDir()
	path := filepath.Join(dir, "app.log")
	n, kills := 30_000, 3
	if chaosFull() {
		n, kills = 200_000, 8
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("random seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, seed))

	var (
		mu   sync.Mutex
		cmd  *exec.Cmd
		logs []*logLines
	)
	start := func() {
		c, _, l := startKafkaShipper(t, kafkaArgs(brokers, topic, "--input=file", "--file-paths="+filepath.Join(dir, "*.log"),
			"--file-format=plain", "--state-dir="+state, "--file-checkpoint-interval=200ms", "--file-poll-interval=50ms",
			"--batch-bytes=256KiB", "--buffer-bytes=2MiB")...)
		mu.Lock()
		cmd = c
		logs = append(logs, l)
		mu.Unlock()
	}
	defer func() {
		if t.Failed() {
			for i, l := range logs {
				t.Logf("shipper run %d:\n%s", i+1, l)
			}
		}
	}()
	start()

	// The writer appends in bursts for a while, so that kills land
	// while lines are written and produced.
	var written atomic.Int64
	writerDone := make(chan error, 1)
	go func() {
		f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			writerDone <- err
			return
		}
		defer f.Close()
		w := bufio.NewWriter(f)
		for i := 0; i < n; i++ {
			fmt.Fprintln(w, kline(i))
			if i%500 == 499 {
				if err := w.Flush(); err != nil {
					writerDone <- err
					return
				}
				written.Store(int64(i + 1))
				time.Sleep(max(50*time.Millisecond, 8*time.Second*500/time.Duration(n))) // about 8 s of writing
			}
		}
		err = w.Flush()
		written.Store(int64(n))
		writerDone <- err
	}()

	for k := 0; k < kills; k++ {
		time.Sleep(time.Duration(300+rng.IntN(1500)) * time.Millisecond)
		mu.Lock()
		c := cmd
		mu.Unlock()
		if err := c.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatalf("kill: %v", err)
		}
		c.Wait()
		t.Logf("kill %d after %d lines written", k+1, written.Load())
		time.Sleep(time.Duration(rng.IntN(500)) * time.Millisecond)
		start()
	}
	if err := <-writerDone; err != nil {
		t.Fatalf("writer: %v", err)
	}
	k := waitRecords(t, brokers, topic, n, 5*time.Minute)
	mu.Lock()
	c, l := cmd, logs[len(logs)-1]
	mu.Unlock()
	c.Process.Signal(syscall.SIGTERM)
	if code := waitExit(t, c, l); code != 0 {
		t.Errorf("last shipper exited with %d", code)
	}
	k = collectRecords(kafkatest.ReadAll(t, brokers, topic))
	dups := k.check(t, n)
	t.Logf("%d kills: %d records for %d lines, %d duplicates (same id each: a consumer indexing with create keeps one)", kills, k.total, n, dups)
	keys := map[int32]bool{}
	for _, r := range kafkatest.ReadAll(t, brokers, topic) {
		keys[r.Partition] = true
	}
	if len(keys) != 1 {
		t.Errorf("records of one file in %d partitions, want 1 (key per file)", len(keys))
	}
}

// TestChaosKafkaBrokerRestart stops the broker (SIGKILL, then SIGTERM) while
// the shipper produces and starts it again (same port, same data). The
// producer waits and retries: nothing is lost, and the idempotent producer
// keeps retried batches from being written twice. Readiness fails while
// the broker is away. Full suite only: it runs a broker of its own, and a
// broker start takes 10-50 s on a busy machine.
func TestChaosKafkaBrokerRestart(t *testing.T) {
	if !chaosFull() {
		t.Skip("SHIPPER_CHAOS=full only (starts and restarts a Kafka broker)")
	}
	b := kafkatest.Start(t)
	topic := kafkatest.Unique("ko-restart-")
	const n, restarts = 100_000, 2
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cmd, stdin, logs := startKafkaShipper(t, kafkaArgs(b.Brokers, topic, "--http-address="+addr, "--batch-bytes=256KiB",
		"--buffer-bytes=2MiB", "--ready-stall-timeout=5s")...)
	defer func() {
		if t.Failed() {
			t.Logf("shipper log:\n%s", logs)
		}
	}()
	deadline := time.Now().Add(2 * time.Minute)
	for logs.find("Kafka reached") == nil {
		if time.Now().After(deadline) {
			t.Fatal("the shipper did not reach Kafka")
		}
		time.Sleep(20 * time.Millisecond)
	}
	var readyFailed, outage atomic.Bool
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		for ctx.Err() == nil {
			resp, err := http.Get("http://" + addr + "/readyz")
			if err == nil {
				if resp.StatusCode != http.StatusOK && outage.Load() {
					readyFailed.Store(true)
				}
				resp.Body.Close()
			}
			select {
			case <-ctx.Done():
			case <-time.After(200 * time.Millisecond):
			}
		}
	}()
	var written atomic.Int64
	writerDone := make(chan error, 1)
	go func() {
		w := bufio.NewWriter(stdin)
		for i := 0; i < n; i++ {
			fmt.Fprintln(w, kline(i))
			if i%500 == 499 {
				if err := w.Flush(); err != nil {
					writerDone <- err
					return
				}
				written.Store(int64(i + 1))
				time.Sleep(20 * time.Millisecond)
			}
		}
		err := w.Flush()
		written.Store(int64(n))
		stdin.Close()
		writerDone <- err
	}()
	for r := 0; r < restarts; r++ {
		for written.Load() < int64(n*(r+1)/(restarts+2)) {
			time.Sleep(50 * time.Millisecond)
		}
		t.Logf("restart %d after %d lines written", r+1, written.Load())
		outage.Store(true)
		b.Restart(r%2 == 0) // SIGKILL, then SIGTERM
		outage.Store(false)
	}
	if err := <-writerDone; err != nil {
		t.Fatalf("writer: %v", err)
	}
	if code := waitExit(t, cmd, logs); code != 0 {
		t.Fatalf("exit code %d, want 0", code)
	}
	cancel()
	k := collectRecords(kafkatest.ReadAll(t, b.Brokers, topic))
	dups := k.check(t, n)
	sum := logs.find("shipper stopped")
	t.Logf("%d restarts: %d records for %d lines, %d duplicates; summary %v", restarts, k.total, n, dups, sum)
	if dups != 0 {
		t.Errorf("%d duplicate records: the idempotent producer should have kept retried batches from being written twice", dups)
	}
	if !readyFailed.Load() {
		t.Errorf("/readyz never failed while the broker was down")
	}
}

// TestKafkaOutputBrokerDown: with no broker to talk to, nothing is
// acknowledged and nothing dropped: /readyz fails, the records wait, and at
// the shutdown deadline the shipper says they are undelivered (exit 3) and
// why. No broker is needed: the address is a closed port.
func TestKafkaOutputBrokerDown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	ln, err = net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	ln, err = net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fwdPort := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	cmd, stdin, logs := startKafkaShipper(t, "run", "--input=stdin,forward", "--forward-address=127.0.0.1:"+strconv.Itoa(fwdPort),
		"--output=kafka", "--kafka-brokers="+closed, "--kafka-topic=never",
		"--flush-interval=100ms", "--shutdown-timeout=3s", "--http-address="+addr)
	defer func() {
		if t.Failed() {
			t.Logf("shipper log:\n%s", logs)
		}
	}()
	const n = 1000
	w := bufio.NewWriter(stdin)
	for i := 0; i < n; i++ {
		fmt.Fprintln(w, kline(i))
	}
	w.Flush()
	// Ready fails with the connect error while the lines wait.
	deadline := time.Now().Add(2 * time.Minute)
	for {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusServiceUnavailable && strings.Contains(string(body), "Kafka") {
				t.Logf("/readyz: %d %s", resp.StatusCode, strings.TrimSpace(string(body)))
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("/readyz did not fail with the broker down")
		}
		time.Sleep(100 * time.Millisecond)
	}
	// A Forward client asking for an ack does not get one: the ack waits
	// for Kafka's.
	logger, err := fluent.New(fluent.Config{FluentHost: "127.0.0.1", FluentPort: fwdPort, RequestAck: true,
		MaxRetry: 1, RetryWait: 100, ReadTimeout: 3 * time.Second, WriteTimeout: 3 * time.Second}) // 0 would mean the default, 13
	if err != nil {
		t.Fatal(err)
	}
	err = logger.Post("app", map[string]string{"message": kline(n)})
	logger.Close()
	if err == nil {
		t.Fatal("the Forward client got its ack while no broker took the record")
	}
	t.Logf("Forward client without ack, as it should be: %v", err)
	// EOF: the shipper waits to deliver what it read; SIGTERM starts the
	// --shutdown-timeout deadline.
	stdin.Close()
	cmd.Process.Signal(syscall.SIGTERM)
	if code := waitExit(t, cmd, logs); code != 3 {
		t.Fatalf("exit code %d, want 3 (records undelivered)", code)
	}
	sum := logs.find("shipper stopped")
	if num(sum, "records_undelivered") < n || num(sum, "produced") != 0 {
		t.Errorf("summary %v: want all %d stdin records (and the Forward one) undelivered, none acknowledged", sum, n)
	}
	if l := logs.findPrefix("records left undelivered"); l == nil || l["cause"] != "kafka_unreachable" {
		t.Errorf("undelivered line %v: want cause kafka_unreachable", l)
	}
}
