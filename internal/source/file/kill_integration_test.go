//go:build integration

package file

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"shipper/internal/checkpoint"
	"shipper/internal/testutil/estest"
)

// TestKillRestartElasticsearch runs the shipper binary with --input=file
// while writers append numbered lines to six files (rotated by rename,
// kubelet-style rename with gzip, and copytruncate, also while the shipper is
// down), kills it with SIGKILL at random moments six times, restarts it each
// time, and finally checks that every line is in Elasticsearch exactly once:
// what was read but not delivered before a kill is read again from the
// checkpoint, and what was delivered twice is answered 409 thanks to the ids
// made of file identity and offset.
func TestKillRestartElasticsearch(t *testing.T) {
	esURL := estest.URL(t)
	bin := filepath.Join(t.TempDir(), "shipper")
	if out, err := exec.Command("go", "build", "-o", bin, "shipper/cmd/shipper").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	dataset := estest.Unique("filekill")
	index := "logs-" + dataset + "-default"
	t.Cleanup(func() { estest.DeleteDataStream(t, index) })

	dir, state := t.TempDir(), t.TempDir()
	all, globs := stressFiles(dir, 12, 0)
	var files []*stressFile
	for _, f := range all {
		// Deleted files cannot be read after a crash: only the schemes
		// that keep the old content somewhere.
		if f.scheme != rotDelete && len(files) < 6 {
			files = append(files, f)
		}
	}
	const linesEach = 30_000
	for _, f := range files {
		f.lines = linesEach
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("random seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, seed))

	var (
		mu   sync.Mutex
		cmd  *exec.Cmd
		logs []*syncBuf
	)
	start := func() {
		c := exec.Command(bin, "run", "--input=file", "--file-paths="+globs[0]+","+globs[1],
			"--state-dir="+state, "--elasticsearch-url="+esURL, "--dataset="+dataset,
			"--file-checkpoint-interval=300ms", "--file-poll-interval=50ms", "--file-rescan-interval=200ms",
			"--file-rotate-wait=500ms", "--flush-interval=200ms", "--batch-bytes=1MiB", "--buffer-bytes=8MiB",
			"--compression=none", "--shutdown-timeout=30s")
		buf := &syncBuf{}
		c.Stdout, c.Stderr = buf, buf
		c.Env = append(os.Environ(), "SHIPPER_LOG_LEVEL=info")
		if err := c.Start(); err != nil {
			t.Fatalf("start shipper: %v", err)
		}
		mu.Lock()
		cmd = c
		logs = append(logs, buf)
		mu.Unlock()
	}
	defer func() {
		mu.Lock()
		defer mu.Unlock()
		if cmd != nil && cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	}()

	// A generous bound, not a pass criterion: on a busy machine the
	// writers (which wait for checkpoints before rotating) and the shipper
	// are slower; progress is logged while it runs.
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	start()
	var wg sync.WaitGroup
	for _, f := range files {
		// About 20 s of writing: every kill lands while lines are written.
		sw := &stressWriter{f: f, rotateEvery: linesEach / 3, burst: 50, pace: 30 * time.Millisecond,
			ready: persistedReady(state)}
		wg.Add(1)
		go func() {
			defer wg.Done()
			sw.run(ctx, t)
		}()
	}
	writersDone := make(chan struct{})
	go func() { wg.Wait(); close(writersDone) }()

	kills := 0
	for kills < 6 {
		select {
		case <-time.After(time.Duration(500+rng.IntN(2000)) * time.Millisecond):
		case <-writersDone:
		}
		mu.Lock()
		c := cmd
		mu.Unlock()
		if err := c.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatalf("kill: %v", err)
		}
		c.Wait()
		kills++
		var progress int64
		for _, f := range files {
			progress += f.written.Load()
		}
		t.Logf("kill %d after %d lines written", kills, progress)
		time.Sleep(time.Duration(rng.IntN(800)) * time.Millisecond) // down: writers go on
		start()
	}
	written := func() (n int) {
		for _, f := range files {
			n += int(f.written.Load())
		}
		return n
	}
	for report := time.NewTicker(30 * time.Second); ; {
		select {
		case <-writersDone:
		case <-report.C:
			t.Logf("writing: %d of %d lines written", written(), len(files)*linesEach)
			continue
		}
		report.Stop()
		break
	}
	total := written()
	if total != len(files)*linesEach {
		t.Fatalf("only %d of %d lines written within 15 minutes: %v", total, len(files)*linesEach, ctx.Err())
	}
	// Wait until everything is in Elasticsearch, then stop the last
	// shipper cleanly.
	for last := time.Now(); ctx.Err() == nil; {
		estest.Refresh(t, index)
		n := estest.Count(t, index, "")
		if n >= total {
			break
		}
		if time.Since(last) > 30*time.Second {
			t.Logf("waiting for Elasticsearch: %d of %d documents", n, total)
			last = time.Now()
		}
		time.Sleep(time.Second)
	}
	time.Sleep(time.Second)
	mu.Lock()
	c := cmd
	mu.Unlock()
	c.Process.Signal(syscall.SIGTERM)
	if err := c.Wait(); err != nil {
		t.Errorf("last shipper exited with %v", err)
	}

	verdicts, missing, dups, _ := esVerdicts(t, index, files)
	count := estest.Count(t, index, "")
	rotations := int64(0)
	for _, v := range verdicts {
		t.Log(v)
		rotations += v.rotations
	}
	// Each run's final line (the killed ones have none): duplicates are the
	// re-reads after a kill that Elasticsearch answered 409.
	for i, l := range logs {
		for _, line := range strings.Split(l.String(), "\n") {
			if strings.Contains(line, `"message":"shipper stopped"`) {
				t.Logf("run %d: %s", i+1, line)
			}
		}
	}
	t.Logf("%d kills; Elasticsearch holds %d documents for %d lines written in %d files rotated %d times: %d missing, %d duplicated",
		kills, count, total, len(files), rotations, missing, dups)
	if missing != 0 || dups != 0 || count != total {
		for i, l := range logs {
			t.Logf("shipper run %d:\n%s", i+1, tail(l.String(), 3000))
		}
		t.Fatalf("want every line exactly once")
	}
}

// persistedReady says a generation may be rotated away once the shipper
// has written its checkpoint to disk (and, for copytruncate, once that
// checkpoint covers everything written): with the shipper killed at any
// moment, that is what a restart finds it by. It reads the checkpoint file
// directly: opening a checkpoint.Store would tidy the directory under the
// running shipper's feet.
func persistedReady(stateDir string) func(f *stressFile, size int64) bool {
	return func(f *stressFile, size int64) bool {
		data, err := os.ReadFile(filepath.Join(stateDir, checkpoint.FileName))
		if err != nil {
			return false
		}
		var cf struct {
			Entries []struct {
				Dev, Ino       uint64
				Fingerprint    string
				FingerprintLen int `json:"fingerprint_len"`
				Offset         int64
			}
		}
		if json.Unmarshal(data, &cf) != nil {
			return false
		}
		fh, err := os.Open(f.path)
		if err != nil {
			return false
		}
		defer fh.Close()
		id, err := checkpoint.Identify(fh)
		if err != nil {
			return false
		}
		head := make([]byte, checkpoint.FingerprintBytes)
		n, _ := fh.ReadAt(head, 0)
		for _, e := range cf.Entries {
			if e.Dev != id.Dev || e.Ino != id.Ino || e.FingerprintLen > n {
				continue
			}
			fp, _ := checkpoint.Fingerprint(head[:e.FingerprintLen])
			if strconv.FormatUint(fp, 16) != trimZeros(e.Fingerprint) {
				continue
			}
			return f.scheme != rotCopyTruncate || e.Offset >= size
		}
		return false
	}
}

func trimZeros(s string) string {
	for len(s) > 1 && s[0] == '0' {
		s = s[1:]
	}
	return s
}
