package file

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"shipper/internal/checkpoint"
	"shipper/internal/pipeline"
)

// Regression tests of copytruncate generations that came and went while the
// harvester waited at the empty file a truncation left: nothing of them was
// ever read, so no fingerprint could tell the next content from a file that
// had merely grown.

// onceAtEmptyAfterTruncation makes do run once, in the harvester of path,
// when it finds the file at its end after its first truncation was handled
// (the file then followed from offset 0 as a new, empty content), between
// its look at the file's content and its look at the path.
func onceAtEmptyAfterTruncation(t *testing.T, r *run, path string, do func()) <-chan struct{} {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	key, _ := statKey(fi)
	var once sync.Once
	fired := make(chan struct{})
	hook := func(p string, cur fileKey) {
		if p != path || cur != key || r.src.Stats().Truncations != 1 {
			return
		}
		once.Do(func() {
			defer close(fired)
			do()
		})
	}
	beforeRotationCheck.Store(&hook)
	t.Cleanup(func() { beforeRotationCheck.Store(nil) })
	return fired
}

// waitFired waits for a hook to have run.
func waitFired(t *testing.T, fired <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-fired:
	case <-time.After(2 * time.Minute):
		t.Fatalf("timed out waiting for %s", what)
	}
}

func TestGenerationTruncatedBeforeItWasRead(t *testing.T) {
	// copytruncate: the harvester handles a truncation (the copy of the old
	// content read from where reading stopped) and follows the file from
	// offset 0 as a new content, empty: no first bytes to know it by. A
	// whole generation written, copied to .1 and truncated before the
	// harvester looks at the file again, then the next one written: the
	// reader at offset 0 read the next generation as if the file had just
	// grown, and the copy of the one in between, which nothing looked for,
	// was never read (a whole generation lost in the crash-and-rotate
	// test, with no kill involved).
	dir, state := t.TempDir(), t.TempDir()
	path := filepath.Join(dir, "app.log")
	r := startRun(t, testConfig(dir, state, "*.log"), pipeline.Config{})
	appendFile(t, path, numbered("x", 0, 10))
	r.waitDocs(10)
	fired := onceAtEmptyAfterTruncation(t, r, path, func() {
		appendFile(t, path, numbered("y", 0, 10))
		shiftNumberedNames(t, path)
		copyTruncate(t, path, path+".1")
		appendFile(t, path, numbered("z", 0, 10))
	})
	copyTruncate(t, path, path+".1")
	waitFired(t, fired, "the harvester to wait at the truncated file")
	r.waitDocs(30)
	waitFor(t, "the copies to be closed", func() bool { return r.src.Stats().OpenNow == 1 })
	r.stop()
	wantMessages(t, messages(r.sink.snapshot(), ""), numbered("x", 0, 10)+numbered("y", 0, 10)+numbered("z", 0, 10))
	if d := r.sink.dups(); d != 0 {
		t.Fatalf("%d records delivered twice", d)
	}
}

func TestGenerationTruncatedBeforeItWasReadFileLeftEmpty(t *testing.T) {
	// As above, but nothing is written after the second truncation: the
	// file stays empty, so no first bytes ever arrive to tell the harvester
	// that anything happened. Only the file's modification time moved.
	dir, state := t.TempDir(), t.TempDir()
	path := filepath.Join(dir, "app.log")
	r := startRun(t, testConfig(dir, state, "*.log"), pipeline.Config{})
	appendFile(t, path, numbered("x", 0, 10))
	r.waitDocs(10)
	fired := onceAtEmptyAfterTruncation(t, r, path, func() {
		// File times come from a coarse kernel clock: let it move past
		// the first truncation's, as it does for any generation that
		// lives longer than a clock tick.
		if fi, err := os.Stat(path); err != nil || !clockPast(dir, fi.ModTime()) {
			t.Errorf("the file clock did not move past the truncation (%v)", err)
		}
		appendFile(t, path, numbered("y", 0, 10))
		shiftNumberedNames(t, path)
		copyTruncate(t, path, path+".1")
	})
	copyTruncate(t, path, path+".1")
	waitFired(t, fired, "the harvester to wait at the truncated file")
	r.waitDocs(20)
	waitFor(t, "the copies to be closed", func() bool { return r.src.Stats().OpenNow == 1 })
	r.stop()
	wantMessages(t, messages(r.sink.snapshot(), ""), numbered("x", 0, 10)+numbered("y", 0, 10))
	if d := r.sink.dups(); d != 0 {
		t.Fatalf("%d records delivered twice", d)
	}
}

// clockPast waits until a file written in dir gets a modification time after
// t (file times come from the kernel's coarse clock), and reports whether it
// did within a minute. It may run outside the test's goroutine.
func clockPast(dir string, t time.Time) bool {
	p := filepath.Join(dir, "clock")
	defer os.Remove(p)
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
			return false
		}
		if fi, err := os.Stat(p); err == nil && fi.ModTime().After(t) {
			return true
		}
	}
	return false
}

func TestIDsOfContentTruncatedBeforeItsRecordsWereQueued(t *testing.T) {
	// The harvester read a content's lines and then waited for room in the
	// pipeline (Elasticsearch slow) before handing them over. Meanwhile the
	// file was copied, truncated and rewritten (copytruncate). The record
	// ids, derived from the content's first line, were computed when the
	// first record was handed over, from the file's first bytes as they
	// were then: the next content's. After a kill the copy was read again
	// from its checkpoint under the right ids: every record indexed twice
	// (a whole generation duplicated in the crash-and-rotate test).
	dir, state := t.TempDir(), t.TempDir()
	path := filepath.Join(dir, "app.log")
	cfg := testConfig(dir, state, "*.log")
	cfg.CheckpointInterval = time.Hour // only the writes at opens and truncations
	cfg.ReadBytes = 256 << 10          // the other file below is read whole by one read
	r := startRun(t, cfg, pipeline.Config{BatchBytes: 64 << 10, MaxBytes: 160 << 10})
	r.sink.hold()
	// Another file fills the pipeline: its harvester waits for room.
	pad := strings.Repeat("p", 200)
	var other strings.Builder
	for i := 0; i < 1000; i++ {
		fmt.Fprintf(&other, "o %d %s\n", i, pad)
	}
	waits := r.pipe.Stats().Waits
	appendFile(t, filepath.Join(dir, "other.log"), other.String())
	waitFor(t, "the other file to fill the pipeline", func() bool { return r.pipe.Stats().Waits > waits })
	// app.log's lines are read (and the file's first bytes checked after
	// the read); handing them over waits for the other harvester, which
	// holds the producer while it waits for room.
	appendFile(t, path, numbered("a", 0, 10))
	want := uint64(other.Len() + len(numbered("a", 0, 10)))
	waitFor(t, "app.log's lines to be read", func() bool { return r.src.Stats().Bytes == want })
	copyTruncate(t, path, path+".1")
	appendFile(t, path, numbered("b", 0, 10))
	r.sink.release()
	first := idsByMessage(r.waitDocs(1020))
	waitFor(t, "the truncation to be noticed", func() bool { return r.src.Stats().Truncations == 1 })
	r.kill(state)
	// The checkpoints on disk behind what was delivered, as a kill between
	// two checkpoint writes leaves them.
	st, err := checkpoint.Open(state, testLogger())
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range st.All() {
		e.Offset = 0
		st.Set(e)
	}
	if err := st.Flush(); err != nil {
		t.Fatal(err)
	}
	r2 := startRun(t, cfg, pipeline.Config{})
	docs := r2.waitDocs(1020)
	waitFor(t, "the copy to be closed", func() bool { return r2.src.Stats().OpenNow == 2 })
	r2.stop()
	wantMessages(t, messages(docs, "app.log"), numbered("a", 0, 10)+numbered("b", 0, 10))
	again := idsByMessage(docs)
	for m, id := range first {
		if again[m] != id {
			t.Fatalf("%q: id %s when first read, %s when read again after a restart: indexed twice", m, id, again[m])
		}
	}
}
