package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http/httptest"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// shutdownRun is one shipper process fed through a pipe.
type shutdownRun struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	logs  *logLines
	done  chan error
}

func startShutdownRun(t *testing.T, args ...string) *shutdownRun {
	t.Helper()
	bin := shipperBinary(t, true)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	cmd := exec.CommandContext(ctx, bin, args...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr := logsOf(cmd)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	r := &shutdownRun{cmd: cmd, stdin: stdin, logs: stderr, done: make(chan error, 1)}
	go func() { r.done <- cmd.Wait() }()
	t.Cleanup(func() {
		stdin.Close()
		select {
		case <-r.done:
		default:
			_ = cmd.Process.Kill()
		}
	})
	return r
}

// writeLines writes n numbered lines.
func (r *shutdownRun) writeLines(t *testing.T, n int) {
	t.Helper()
	var b strings.Builder
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, `{"message":"line %d"}`+"\n", i)
	}
	if _, err := io.WriteString(r.stdin, b.String()); err != nil {
		t.Fatal(err)
	}
}

// waitFor polls cond until it holds; the limit only guards against a hang.
func waitFor(t *testing.T, what string, r *shutdownRun, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(60 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after 60s\n%s", what, r.logs)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// exit waits for the process and returns its exit code and final summary.
func (r *shutdownRun) exit(t *testing.T) (int, map[string]any) {
	t.Helper()
	select {
	case err := <-r.done:
		<-r.logs.done
		code := 0
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatalf("shipper: %v", err)
		}
		sum := r.logs.find("shipper stopped")
		if sum == nil {
			t.Fatalf("no summary logged\n%s", r.logs)
		}
		return code, sum
	case <-time.After(60 * time.Second):
		t.Fatalf("shipper still running 60s after it was told to stop\n%s", r.logs)
	}
	return 0, nil
}

func checkExit(t *testing.T, r *shutdownRun, wantCode int, wantUndelivered int64, wantCause string) {
	t.Helper()
	code, sum := r.exit(t)
	if code != wantCode {
		t.Errorf("exit code %d, want %d\n%s", code, wantCode, r.logs)
	}
	if got := num(sum, "records_undelivered"); got != wantUndelivered {
		t.Errorf("summary records_undelivered %d, want %d\n%s", got, wantUndelivered, r.logs)
	}
	left := r.logs.findPrefix("records left undelivered: ")
	if wantCause == "" {
		if left != nil {
			t.Errorf("records reported undelivered although all were delivered\n%s", r.logs)
		}
		return
	}
	if left == nil || left["cause"] != wantCause || num(left, "records_undelivered") != wantUndelivered {
		t.Errorf("undelivered report %v, want cause %q and %d records\n%s", left, wantCause, wantUndelivered, r.logs)
	}
}

const shutdownLines = 1000

// Elasticsearch up: everything read is delivered, on EOF and on SIGTERM.
func TestShutdownElasticsearchUp(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	fake := &blockingES{release: make(chan struct{})}
	close(fake.release)
	srv := httptest.NewServer(fake)
	defer srv.Close()
	for _, sig := range []bool{false, true} {
		r := startShutdownRun(t, "--elasticsearch-url="+srv.URL, "--templates=skip", "--compression=none", "--flush-interval=50ms", "--dataset=up")
		before := fake.items.Load()
		r.writeLines(t, shutdownLines)
		if sig {
			waitFor(t, "lines delivered", r, func() bool { return fake.items.Load()-before == shutdownLines })
			if err := r.cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
		} else {
			r.stdin.Close()
		}
		checkExit(t, r, exitDelivered, 0, "")
		if got := fake.items.Load() - before; got != shutdownLines {
			t.Errorf("signal=%v: delivered %d, want %d", sig, got, shutdownLines)
		}
	}
}

// Elasticsearch down: SIGTERM, the deadline passes, every line read is
// counted undelivered, the cause is named and the exit code says so.
func TestShutdownElasticsearchDown(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	r := startShutdownRun(t, "--elasticsearch-url="+freeURL(t), "--templates=auto", "--shutdown-timeout=1s", "--flush-interval=50ms", "--dataset=down")
	r.writeLines(t, shutdownLines)
	waitFor(t, "Elasticsearch reported unreachable", r, func() bool { return r.logs.find("Elasticsearch unreachable; will retry") != nil })
	if err := r.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	checkExit(t, r, exitUndelivered, shutdownLines, "elasticsearch_unreachable")
	if sum := r.logs.find("shipper stopped"); num(sum, "stdin.lines") != shutdownLines {
		t.Errorf("summary: %d lines read, want %d", num(sum, "stdin.lines"), shutdownLines)
	}
}

// Elasticsearch hung: it accepts bulk requests and never answers. The
// lines in the request and those queued behind it are all undelivered.
func TestShutdownElasticsearchHung(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	fake := &blockingES{release: make(chan struct{})}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	defer close(fake.release)
	r := startShutdownRun(t, "--elasticsearch-url="+srv.URL, "--templates=skip", "--shutdown-timeout=2s", "--flush-interval=50ms", "--dataset=hung")
	r.writeLines(t, shutdownLines)
	waitFor(t, "a bulk request sent", r, func() bool { return fake.bulks.Load() > 0 })
	if err := r.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	checkExit(t, r, exitUndelivered, shutdownLines, "elasticsearch_not_answering")
}

// 'true | shipper' with Elasticsearch unreachable: nothing to deliver, so
// the template installation that keeps retrying must not hold the exit.
func TestEmptyInputExitsWhileElasticsearchUnreachable(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	r := startShutdownRun(t, "--elasticsearch-url="+freeURL(t), "--templates=auto", "--dataset=empty")
	r.stdin.Close()
	checkExit(t, r, exitDelivered, 0, "")
}
