package main

import (
	"context"
	"os/exec"
	"syscall"
	"testing"
	"time"
)

// TestShutdownDeadlineWhileElasticsearchUnreachable: Elasticsearch cannot be
// reached from the start, so the sink never gets past its template check;
// nothing was read. SIGTERM must still end the process by
// --shutdown-timeout, not whenever Elasticsearch comes back.
func TestShutdownDeadlineWhileElasticsearchUnreachable(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := shipperBinary(t, true)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "--elasticsearch-url="+freeURL(t), "--templates=auto",
		"--shutdown-timeout=1s", "--dataset=unreachable")
	stdin, err := cmd.StdinPipe() // left open: standard input never ends
	if err != nil {
		t.Fatal(err)
	}
	defer stdin.Close()
	stderr := logsOf(cmd)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	logs := stderr
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()

	for deadline := time.Now().Add(30 * time.Second); logs.find("Elasticsearch unreachable; will retry") == nil; {
		if time.Now().After(deadline) {
			t.Fatalf("the shipper never reported Elasticsearch unreachable\n%s", logs)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("shipper after SIGTERM: %v\n%s", err, logs)
		}
		// 1s of deadline plus the race detector's start and exit.
		if d := time.Since(start); d > 10*time.Second {
			t.Fatalf("shipper exited %v after SIGTERM with --shutdown-timeout=1s", d)
		}
	case <-time.After(20 * time.Second):
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("shipper still running 20s after SIGTERM with --shutdown-timeout=1s\n%s", logs)
	}
	<-logs.done
	if logs.find("shipper stopped") == nil {
		t.Fatalf("no summary logged\n%s", logs)
	}
}
