package forward

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"shipper/internal/pipeline"
)

// The server of TestForwardAttacks runs in a child process, so that its peak
// RSS is its own. attackCfg is its configuration; attackBound is the memory
// its documentation promises for it (see docs/security.md): the buffer
// budget, the pipeline, and per connection what it may hold outside the
// budget.
var (
	attackCfg = ServerConfig{
		Address:        "127.0.0.1:0",
		MaxConnections: 128,
		BufferBytes:    16 << 20,
		Limits:         Limits{MaxRequestBytes: 4 << 20, MaxDecompressedBytes: 8 << 20},
		ReadTimeout:    2 * time.Second,
		Dataset:        "attack", Namespace: "default", RunID: 1,
	}
	attackPipeline = pipeline.Config{MaxBytes: 8 << 20, BatchBytes: 1 << 20, FlushInterval: 10 * time.Millisecond}
)

// attackBound is the documented bound of the Forward input's memory, plus
// a baseline for the Go runtime and the test binary, times two for the
// garbage collector (GOGC=100 lets the heap reach twice what is live).
func attackBound() int64 {
	held := int64(attackCfg.BufferBytes) + attackPipeline.MaxBytes + int64(attackCfg.MaxConnections)*MaxConnectionBytes
	return 2*held + 48<<20
}

// TestAttackServerProcess is the child of TestForwardAttacks.
func TestAttackServerProcess(t *testing.T) {
	if os.Getenv("SHIPPER_FORWARD_ATTACK_CHILD") == "" {
		t.Skip("the server process of TestForwardAttacks")
	}
	pipe := pipeline.New(attackPipeline)
	srv, err := NewServer(attackCfg, pipe, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for b := range pipe.Batches() {
			b.Done()
		}
	}()
	ctx, cancel := context.WithCancel(context.Background())
	go func() { _ = srv.Run(ctx, context.Background()) }()
	fmt.Printf("addr=%s\n", srv.Addr())
	_, _ = io.Copy(io.Discard, os.Stdin) // until the parent is done
	st := srv.Stats()
	out, _ := json.Marshal(st)
	fmt.Printf("stats=%s\n", out)
	cancel()
	_ = srv.Close()
}

// TestForwardAttacks runs the attacks of a hostile network client against
// one server at once: clients that never read their acks, a flood of
// requests of many tiny entries, more idle connections than the connection
// limit. A well-behaved client beside them must be delivered, and the
// server's peak RSS stay within the documented bound.
func TestForwardAttacks(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a server process")
	}
	if _, err := os.Stat("/proc/self/status"); err != nil {
		t.Skip("needs /proc to read the peak RSS")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestAttackServerProcess$", "-test.v")
	cmd.Env = append(os.Environ(), "SHIPPER_FORWARD_ATTACK_CHILD=1")
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	lines := bufio.NewScanner(stdout)
	var addr string
	for addr == "" && lines.Scan() {
		if _, a, ok := strings.Cut(lines.Text(), "addr="); ok {
			addr = a
		}
	}
	if addr == "" {
		t.Fatal("the server process printed no address")
	}
	dial := func() net.Conn {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}

	// More idle connections than the limit, then time for them to count
	// as idle.
	for range attackCfg.MaxConnections + 50 {
		dial()
	}
	time.Sleep(minEvictIdle + 500*time.Millisecond) // idleness is the point here

	var wg sync.WaitGroup
	stop := make(chan struct{})
	// Clients that send requests asking for acks and never read them.
	chunk := strings.Repeat("c", maxChunkBytes-8)
	for i := range 8 {
		c := dial()
		_ = c.(*net.TCPConn).SetReadBuffer(4 << 10)
		wg.Go(func() {
			for n := 0; n < 200_000; n++ {
				select {
				case <-stop:
					return
				default:
				}
				req := mp().arr(3).str("ack").arr(0).mapStr("chunk", fmt.Sprintf("%s%04d%04d", chunk, i, n%10000))
				_ = c.SetWriteDeadline(time.Now().Add(time.Second))
				if _, err := c.Write(req); err != nil {
					return // stopped being read, or closed
				}
			}
		})
	}
	// Requests just under a pooled buffer, each of ~21,000 entries.
	var tiny menc
	for len(tiny) < 64<<10-32 {
		tiny = tiny.arr(2).int(0).mapH(0)
	}
	flood := mp().arr(2).str("flood").bin(tiny)
	for range 64 {
		c := dial()
		wg.Go(func() {
			for range 1 {
				_ = c.SetWriteDeadline(time.Now().Add(60 * time.Second))
				if _, err := c.Write(flood); err != nil {
					return
				}
			}
		})
	}
	// The well-behaved client: one record at a time, each acknowledged.
	good := dial()
	var goodErr error
	for i := range 20 {
		ch := "good" + strconv.Itoa(i)
		if goodErr = sendAcked(good, msg("good", t0, mp().mapStr("msg", ch), mp().mapStr("chunk", ch)), ch); goodErr != nil {
			break
		}
	}
	close(stop)
	wg.Wait()

	peak := vmHWM(t, cmd.Process.Pid)
	stdin.Close()
	var st ServerStats
	for lines.Scan() {
		if _, js, ok := strings.Cut(lines.Text(), "stats="); ok {
			if err := json.Unmarshal([]byte(js), &st); err != nil {
				t.Fatal(err)
			}
		}
	}
	t.Logf("peak RSS %d MiB (bound %d MiB); stats %+v", peak>>20, attackBound()>>20, st)
	if goodErr != nil {
		t.Errorf("the well-behaved client: %v", goodErr)
	}
	if raceEnabled {
		t.Logf("race detector on: peak RSS not checked")
	} else if peak > attackBound() {
		t.Errorf("peak RSS of the server: %d MiB, want at most %d MiB", peak>>20, attackBound()>>20)
	}
	if st.AckWaits == 0 {
		t.Errorf("AckWaits: got 0, want the clients that do not read their acks to have been stopped")
	}
	if st.Closed[ReasonEvicted] == 0 {
		t.Errorf("Closed[evicted]: got 0, want idle connections closed for new ones")
	}
}

// sendAcked sends req and reads the ack of chunk, waiting up to a minute.
func sendAcked(c net.Conn, req []byte, chunk string) error {
	_ = c.SetDeadline(time.Now().Add(time.Minute))
	if _, err := c.Write(req); err != nil {
		return fmt.Errorf("write %s: %w", chunk, err)
	}
	want := AppendAck(nil, []byte(chunk))
	got := make([]byte, len(want))
	if _, err := io.ReadFull(c, got); err != nil {
		return fmt.Errorf("ack of %s: %w", chunk, err)
	}
	if string(got) != string(want) {
		return fmt.Errorf("ack: got %q, want %q", got, want)
	}
	return nil
}

// vmHWM returns the peak resident set size of process pid.
func vmHWM(t *testing.T, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatal(errors.New("no VmHWM in /proc/pid/status"))
	return 0
}

// TestServerAckClientNotReading: a client that asks for acks and never
// reads them is first no longer read (its pending acks stay within
// maxAckBytes), then disconnected once writing its acks has blocked for
// ReadTimeout.
func TestServerAckClientNotReading(t *testing.T) {
	h := startServer(t, ServerConfig{ReadTimeout: 500 * time.Millisecond}, testPipeline)
	c := h.dial(t)
	_ = c.(*net.TCPConn).SetReadBuffer(4 << 10)
	chunk := strings.Repeat("c", maxChunkBytes-8)
	stopped := false
	for n := 0; n < 200_000; n++ {
		req := mp().arr(3).str("ack").arr(0).mapStr("chunk", fmt.Sprintf("%s%08d", chunk, n))
		_ = c.SetWriteDeadline(time.Now().Add(2 * time.Second))
		if _, err := c.Write(req); err != nil {
			stopped = true // the server stopped reading, or closed
			break
		}
	}
	if !stopped {
		t.Fatal("the server read 200,000 requests whose acks were never read")
	}
	st := waitStats(t, h, "connection closed for its unread acks", func(st ServerStats) bool {
		return st.Closed[ReasonAckWrite] == 1
	})
	if st.AckWaits == 0 {
		t.Errorf("AckWaits: got 0, want the connection to have stopped being read first")
	}
	waitStats(t, h, "connection gone", func(st ServerStats) bool { return st.Active == 0 })
}
