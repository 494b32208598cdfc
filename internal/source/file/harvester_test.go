package file

import (
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

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
