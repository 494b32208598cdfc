package file

import (
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"shipper/internal/checkpoint"
	"shipper/internal/pipeline"
)

// copyTruncate rotates like logrotate's copytruncate: copy, then truncate in
// place. The writer (w, opened O_APPEND) does not write in between.
func copyTruncate(t testing.TB, path, copyTo string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(copyTo, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
}

func TestCopyTruncateReadsTheCopy(t *testing.T) {
	dir, state := t.TempDir(), t.TempDir()
	path := filepath.Join(dir, "app.log")
	appendFile(t, path, numbered("a", 0, 100))
	r := startRun(t, testConfig(dir, state, "*.log"), pipeline.Config{})
	r.waitDocs(100)
	// The shipper is stopped at a full pipeline, so the lines written
	// before the truncation are not read from the file itself.
	r.sink.hold()
	big := strings.Repeat("x", 1000)
	for i := 0; i < 300; i++ { // > the pipeline budget
		appendFile(t, path, fmt.Sprintf("a %d %s\n", 100+i, big))
	}
	time.Sleep(100 * time.Millisecond)
	copyTruncate(t, path, path+".1")
	appendFile(t, path, numbered("b", 0, 10))
	r.sink.release()
	docs := r.waitDocs(410)
	r.stop()
	var want strings.Builder
	want.WriteString(numbered("a", 0, 100))
	for i := 0; i < 300; i++ {
		fmt.Fprintf(&want, "a %d %s\n", 100+i, big)
	}
	want.WriteString(numbered("b", 0, 10))
	wantMessages(t, messages(docs, "app.log"), want.String())
	if st := r.src.Stats(); st.Truncations != 1 || st.CopiesRead != 1 || r.sink.dups() != 0 {
		t.Fatalf("stats %+v, %d duplicates", st, r.sink.dups())
	}
}

func TestCopyTruncateWithoutCopy(t *testing.T) {
	dir, state := t.TempDir(), t.TempDir()
	path := filepath.Join(dir, "app.log")
	appendFile(t, path, numbered("a", 0, 100))
	r := startRun(t, testConfig(dir, state, "*.log"), pipeline.Config{})
	r.waitDocs(100)
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	appendFile(t, path, numbered("b", 0, 10))
	docs := r.waitDocs(110)
	r.stop()
	wantMessages(t, messages(docs, "app.log"), numbered("a", 0, 100)+numbered("b", 0, 10))
	if st := r.src.Stats(); st.Truncations != 1 || st.TruncatedNoCopy != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestTruncatedAndRegrownIsNoticed(t *testing.T) {
	// Truncated and rewritten past the read offset before the shipper looks
	// again: the size alone does not tell, the first bytes do.
	dir, state := t.TempDir(), t.TempDir()
	path := filepath.Join(dir, "app.log")
	appendFile(t, path, numbered("a", 0, 10))
	cfg := testConfig(dir, state, "*.log")
	r := startRun(t, cfg, pipeline.Config{})
	r.waitDocs(10)
	r.sink.hold()
	if err := os.WriteFile(path, []byte(numbered("new", 0, 40)), 0o644); err != nil {
		t.Fatal(err)
	}
	r.sink.release()
	docs := r.waitDocs(50)
	time.Sleep(50 * time.Millisecond)
	r.stop()
	wantMessages(t, messages(r.sink.snapshot(), "app.log"), numbered("a", 0, 10)+numbered("new", 0, 40))
	_ = docs
}

// kubeletRotate rotates like kubelet: gzip the uncompressed rotated files,
// then rename the current one to <name>.<timestamp>; the runtime then
// reopens (creates) the name.
func kubeletRotate(t testing.TB, path string, n int) {
	t.Helper()
	rotated, _ := filepath.Glob(path + ".*")
	for _, p := range rotated {
		if strings.HasSuffix(p, ".gz") || strings.HasSuffix(p, ".tmp") {
			continue
		}
		gzipFile(t, p)
	}
	if err := os.Rename(path, fmt.Sprintf("%s.20240102-0304%02d", path, n)); err != nil {
		t.Fatal(err)
	}
}

func gzipFile(t testing.TB, p string) {
	t.Helper()
	in, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	out, err := os.Create(p + ".tmp")
	if err != nil {
		t.Fatal(err)
	}
	zw := gzip.NewWriter(out)
	if _, err := io.Copy(zw, in); err != nil {
		t.Fatal(err)
	}
	zw.Close()
	out.Close()
	in.Close()
	if err := os.Rename(p+".tmp", p+".gz"); err != nil {
		t.Fatal(err)
	}
	os.Remove(p)
}

func criLines(stream string, from, to int) string {
	var b strings.Builder
	for i := from; i < to; i++ {
		fmt.Fprintf(&b, "2024-01-02T03:04:05.%09dZ %s F line %d\n", i, stream, i)
	}
	return b.String()
}

func TestRotateKubelet(t *testing.T) {
	dir, state := t.TempDir(), t.TempDir()
	cdir := filepath.Join(dir, "pods", "ns_pod_0000-1111", "app")
	os.MkdirAll(cdir, 0o755)
	path := filepath.Join(cdir, "0.log")
	appendFile(t, path, criLines("stdout", 0, 100))
	r := startRun(t, testConfig(dir, state, "pods/*/*/*.log"), pipeline.Config{})
	r.waitDocs(100)
	for k := 1; k <= 3; k++ {
		kubeletRotate(t, path, k)
		appendFile(t, path, criLines("stdout", 100*k, 100*k+100))
		r.waitDocs(100*k + 100)
	}
	docs := r.sink.snapshot()
	r.stop()
	var want strings.Builder
	for i := 0; i < 400; i++ {
		fmt.Fprintf(&want, "line %d\n", i)
	}
	wantMessages(t, messages(docs, "0.log"), want.String())
	d := docs[0].M
	if d["kubernetes.namespace"] != "ns" || d["kubernetes.pod.name"] != "pod" || d["kubernetes.pod.uid"] != "0000-1111" ||
		d["kubernetes.container.name"] != "app" || d["stream"] != "stdout" || d["@timestamp"] != "2024-01-02T03:04:05Z" {
		t.Fatalf("document %s", docs[0].Raw)
	}
}

func TestRotatedWhileDown(t *testing.T) {
	for _, mode := range []string{"rename", "kubelet-gzip", "copytruncate"} {
		t.Run(mode, func(t *testing.T) {
			dir, state := t.TempDir(), t.TempDir()
			path := filepath.Join(dir, "0.log")
			appendFile(t, path, criLines("stdout", 0, 100))
			cfg := testConfig(dir, state, "*.log")
			r := startRun(t, cfg, pipeline.Config{})
			r.waitDocs(100)
			r.stop()
			// While down: more lines, then rotation, then lines in the new file.
			appendFile(t, path, criLines("stdout", 100, 150))
			switch mode {
			case "rename":
				os.Rename(path, path+".1")
			case "kubelet-gzip":
				kubeletRotate(t, path, 1)
				appendFile(t, path, criLines("stdout", 150, 160))
				kubeletRotate(t, path, 2) // the first rotated file is compressed now
			case "copytruncate":
				copyTruncate(t, path, path+".1")
			}
			next := 150
			if mode == "kubelet-gzip" {
				next = 160
			}
			appendFile(t, path, criLines("stdout", next, next+20))
			r2 := startRun(t, cfg, pipeline.Config{})
			// Lines 150-159 of kubelet-gzip were in a file created and
			// rotated while down: found as written after the last checkpoint.
			docs := r2.waitDocs(next + 20 - 100)
			time.Sleep(50 * time.Millisecond)
			r2.stop()
			var w strings.Builder
			for i := 100; i < next+20; i++ {
				fmt.Fprintf(&w, "line %d\n", i)
			}
			wantMessages(t, messages(r2.sink.snapshot(), ".log"), w.String())
			wantRecovered := uint64(1)
			if mode == "kubelet-gzip" {
				wantRecovered = 2
			}
			if st := r2.src.Stats(); st.Recovered != wantRecovered {
				t.Fatalf("stats %+v; logs:\n%s", st, r2.logs)
			}
			_ = docs
		})
	}
}

func TestCrashResumesFromDeliveredOffset(t *testing.T) {
	dir, state := t.TempDir(), t.TempDir()
	path := filepath.Join(dir, "app.log")
	appendFile(t, path, numbered("a", 0, 100))
	cfg := testConfig(dir, state, "*.log")
	r := startRun(t, cfg, pipeline.Config{})
	r.waitDocs(100)
	time.Sleep(3 * cfg.CheckpointInterval) // checkpoint written
	r.sink.hold()
	appendFile(t, path, numbered("a", 100, 200))
	time.Sleep(100 * time.Millisecond) // read, not delivered
	r.crash()
	// The checkpoint did not move past the undelivered lines.
	st, _ := checkpoint.Open(state, r.src.log)
	want := int64(len(numbered("a", 0, 100)))
	if es := st.All(); len(es) != 1 || es[0].Offset != want {
		t.Fatalf("checkpoints %+v, want offset %d", es, want)
	}
	r2 := startRun(t, cfg, pipeline.Config{})
	docs := r2.waitDocs(100)
	r2.stop()
	wantMessages(t, messages(docs, "app.log"), numbered("a", 100, 200))
}

func TestCorruptCheckpointFile(t *testing.T) {
	dir, state := t.TempDir(), t.TempDir()
	appendFile(t, filepath.Join(dir, "app.log"), numbered("a", 0, 10))
	os.WriteFile(filepath.Join(state, checkpoint.FileName), []byte("{garbage"), 0o644)
	cfg := testConfig(dir, state, "*.log")
	cfg.StartAtEnd = true
	r := startRun(t, cfg, pipeline.Config{})
	waitFor(t, "the file to be opened", func() bool { return r.src.Stats().Opened == 1 })
	appendFile(t, filepath.Join(dir, "app.log"), numbered("b", 0, 5))
	docs := r.waitDocs(5)
	time.Sleep(50 * time.Millisecond)
	r.stop()
	// The configured start position applies: the end.
	wantMessages(t, messages(r.sink.snapshot(), ""), numbered("b", 0, 5))
	if !strings.Contains(r.logs.String(), `"level":"error"`) || !strings.Contains(r.logs.String(), "checkpoint file is unusable") {
		t.Fatalf("no loud report of the corrupt file:\n%s", r.logs)
	}
	_ = docs
}

func TestStartAtEnd(t *testing.T) {
	dir, state := t.TempDir(), t.TempDir()
	appendFile(t, filepath.Join(dir, "old.log"), numbered("old", 0, 10)+"unfinished")
	cfg := testConfig(dir, state, "*.log")
	cfg.StartAtEnd = true
	r := startRun(t, cfg, pipeline.Config{})
	waitFor(t, "the file to be opened", func() bool { return r.src.Stats().Opened == 1 })
	// A file created after start is read from its beginning.
	appendFile(t, filepath.Join(dir, "new.log"), numbered("new", 0, 5))
	appendFile(t, filepath.Join(dir, "old.log"), " line\n"+numbered("old", 10, 12))
	r.waitDocs(8)
	time.Sleep(50 * time.Millisecond)
	r.stop()
	docs := r.sink.snapshot()
	wantMessages(t, messages(docs, "new.log"), numbered("new", 0, 5))
	wantMessages(t, messages(docs, "old.log"), "unfinished line\n"+numbered("old", 10, 12))
}

func TestSeveralRotationsWhileBehind(t *testing.T) {
	// The sink is stuck while the file is rotated three times: the file
	// being read is kept open, and the generations created and rotated away
	// meanwhile, never opened, are found next to it and read in order.
	dir, state := t.TempDir(), t.TempDir()
	path := filepath.Join(dir, "app.log")
	cfg := testConfig(dir, state, "*.log")
	r := startRun(t, cfg, pipeline.Config{BatchBytes: 64 << 10, MaxBytes: 160 << 10})
	pad := strings.Repeat("p", 200)
	gen := func(g int) string {
		var b strings.Builder
		for i := 0; i < 1000; i++ {
			fmt.Fprintf(&b, "g%d %d %s\n", g, i, pad)
		}
		return b.String()
	}
	// The harvester must be blocked inside generation 0 before the
	// rotations begin: with the sink held only once the file was opened, it
	// could deliver all of generation 0 first, and the harvester, idle at
	// its end, then saw some of the rotations happen (a generation opened at
	// the path is not caught up: CaughtUp came out 0 or 1).
	r.sink.hold()
	waits := r.pipe.Stats().Waits
	appendFile(t, path, gen(0))
	waitFor(t, "the harvester to block on the full pipeline in generation 0", func() bool { return r.pipe.Stats().Waits > waits })
	for g := 1; g <= 3; g++ {
		os.Rename(path, fmt.Sprintf("%s.%d", path, g))
		appendFile(t, path, gen(g))
	}
	r.sink.release()
	r.waitDocs(4000)
	time.Sleep(50 * time.Millisecond)
	r.stop()
	wantMessages(t, messages(r.sink.snapshot(), ""), gen(0)+gen(1)+gen(2)+gen(3))
	if st := r.src.Stats(); st.CaughtUp != 2 {
		t.Fatalf("stats %+v: want 2 generations caught up", st)
	}
}
