package file

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"shipper/internal/checkpoint"
	"shipper/internal/pipeline"
)

func TestFollowAppendAndResume(t *testing.T) {
	dir, state := t.TempDir(), t.TempDir()
	path := filepath.Join(dir, "app.log")
	appendFile(t, path, numbered("a", 0, 100))
	cfg := testConfig(dir, state, "*.log")
	r := startRun(t, cfg, pipeline.Config{})
	r.waitDocs(100)
	appendFile(t, path, numbered("a", 100, 150)+"partial")
	docs := r.waitDocs(150)
	time.Sleep(50 * time.Millisecond) // the unterminated line must not be shipped
	wantMessages(t, messages(r.sink.snapshot(), "app.log"), numbered("a", 0, 150))
	d := docs[0].M
	if d["log.file.path"] != path || d["input.type"] != "file" || d["@timestamp"] == nil || d["event.ingested"] == nil {
		t.Fatalf("document %s lacks fields", docs[0].Raw)
	}
	r.stop()

	// The checkpoint is at the end of the last complete line.
	size := int64(len(numbered("a", 0, 150)))
	st, err := checkpoint.Open(state, r.src.log)
	if err != nil {
		t.Fatal(err)
	}
	if es := st.All(); len(es) != 1 || es[0].Offset != size || es[0].Path != path {
		t.Fatalf("checkpoints %+v, want one at %d", es, size)
	}

	// A restart resumes there: the partial line, now complete, and what
	// follows, exactly once.
	appendFile(t, path, " line\n"+numbered("a", 150, 160))
	r2 := startRun(t, cfg, pipeline.Config{})
	r2.waitDocs(11)
	time.Sleep(50 * time.Millisecond)
	wantMessages(t, messages(r2.sink.snapshot(), "app.log"), "partial line\n"+numbered("a", 150, 160))
	if id := r2.sink.snapshot()[0].ID; id == docs[0].ID {
		t.Fatalf("different records share id %s", id)
	}
	r2.stop()
}

func TestRecordIDsAreStable(t *testing.T) {
	dir, state := t.TempDir(), t.TempDir()
	path := filepath.Join(dir, "app.log")
	appendFile(t, path, numbered("a", 0, 20))
	cfg := testConfig(dir, state, "*.log")
	r := startRun(t, cfg, pipeline.Config{})
	first := r.waitDocs(20)
	r.stop()
	// Without a checkpoint the file is read again: same records, same ids.
	if err := os.Remove(filepath.Join(state, checkpoint.FileName)); err != nil {
		t.Fatal(err)
	}
	r2 := startRun(t, cfg, pipeline.Config{})
	second := r2.waitDocs(20)
	r2.stop()
	for i := range first {
		if first[i].ID != second[i].ID {
			t.Fatalf("record %d: id %s then %s", i, first[i].ID, second[i].ID)
		}
	}
}

func TestRotateRename(t *testing.T) {
	dir, state := t.TempDir(), t.TempDir()
	path := filepath.Join(dir, "app.log")
	w, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	w.WriteString(numbered("a", 0, 100))
	r := startRun(t, testConfig(dir, state, "*.log"), pipeline.Config{})
	r.waitDocs(100)
	// Rename, then the writer goes on writing to the renamed file for a
	// while before it reopens the name: those lines are still read.
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	w.WriteString(numbered("a", 100, 110))
	time.Sleep(30 * time.Millisecond)
	w.WriteString(numbered("a", 110, 120))
	w.Close()
	appendFile(t, path, numbered("a", 120, 200))
	r.waitDocs(200)
	wantMessages(t, messages(r.sink.snapshot(), "app.log"), numbered("a", 0, 200))
	waitFor(t, "the rotated file to be closed", func() bool { return r.src.Stats().OpenNow == 1 })
	r.stop()
	st := r.src.Stats()
	if st.Rotated != 1 {
		t.Fatalf("stats %+v: want 1 rotation", st)
	}
	// The rotated file keeps its checkpoint, at its end, while it exists:
	// a restart must not take it for a file it never read.
	es := r.src.store.All()
	if len(es) != 2 {
		t.Fatalf("checkpoints %+v, want 2", es)
	}
	for _, e := range es {
		if fi, _ := os.Stat(path); e.ID.Ino != inode(fi) && e.Offset != int64(len(numbered("a", 0, 120))) {
			t.Fatalf("checkpoint of the rotated file %+v, want it at its end", e)
		}
	}
	os.Remove(path + ".1")
	r.src.prune()
	if es := r.src.store.All(); len(es) != 2 {
		t.Fatalf("after one prune that missed the rotated file: checkpoints %+v, want both kept", es)
	}
	r.src.prune()
	if es := r.src.store.All(); len(es) != 1 {
		t.Fatalf("after the rotated file is gone: checkpoints %+v", es)
	}
}

func TestDeleteRecreate(t *testing.T) {
	dir, state := t.TempDir(), t.TempDir()
	path := filepath.Join(dir, "app.log")
	appendFile(t, path, numbered("a", 0, 50))
	cfg := testConfig(dir, state, "*.log")
	cfg.RotateWait = time.Hour // a deleted file must not wait for it
	r := startRun(t, cfg, pipeline.Config{})
	r.waitDocs(50)
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the deleted file to be closed", func() bool { return r.src.Stats().OpenNow == 0 })
	appendFile(t, path, numbered("b", 0, 50))
	r.waitDocs(100)
	wantMessages(t, messages(r.sink.snapshot(), "app.log"), numbered("a", 0, 50)+numbered("b", 0, 50))
	r.stop()
	if st := r.src.Stats(); st.Deleted != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestNoUnterminatedLineUntilRelease(t *testing.T) {
	dir, state := t.TempDir(), t.TempDir()
	path := filepath.Join(dir, "app.log")
	appendFile(t, path, "one\ntwo")
	r := startRun(t, testConfig(dir, state, "*.log"), pipeline.Config{})
	r.waitDocs(1)
	os.Remove(path)
	docs := r.waitDocs(2)
	r.stop()
	if !strings.Contains(docs[1].Raw, `"message":"two"`) {
		t.Fatalf("last line of a deleted file: %s", docs[1].Raw)
	}
}

// A pattern that matches no file is reported at start (and every minute
// after), so that a mistyped --file-paths does not look like silence.
func TestNoFileMatchesIsReported(t *testing.T) {
	dir := t.TempDir()
	r := startRun(t, testConfig(dir, t.TempDir(), "*.log"), pipeline.Config{MaxBytes: 1 << 20})
	waitFor(t, "the no-match warning", func() bool { return strings.Contains(r.logs.String(), "no_file_matches") })
	if !strings.Contains(r.logs.String(), filepath.Join(dir, "*.log")) {
		t.Errorf("the warning does not name the pattern:\n%s", r.logs)
	}
	// Once a file appears it is read, and the warning is not repeated
	// within the minute.
	appendFile(t, filepath.Join(dir, "a.log"), "hello\n")
	r.waitDocs(1)
	r.stop()
	if n := strings.Count(r.logs.String(), "no_file_matches"); n != 1 {
		t.Errorf("warned %d times, want once:\n%s", n, r.logs)
	}
}

// Files lists the files followed, with their delivered offsets, and lets go
// of a file deleted and read to its end.
func TestFilesListsFollowedFiles(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.log"), filepath.Join(dir, "b.log")
	appendFile(t, a, "one\ntwo\n")
	appendFile(t, b, "three\n")
	r := startRun(t, testConfig(dir, t.TempDir(), "*.log"), pipeline.Config{MaxBytes: 1 << 20})
	defer r.stop()
	r.waitDocs(3)
	acked := func(path string) int64 {
		for _, f := range r.src.Files() {
			if f.Path == path {
				return f.Acked
			}
		}
		return -2 // not listed
	}
	waitFor(t, "both files listed with their delivered offsets", func() bool { return acked(a) == 8 && acked(b) == 6 })
	if err := os.Remove(b); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the deleted file no longer listed", func() bool { return acked(b) == -2 })
	if got := acked(a); got != 8 {
		t.Errorf("a.log: acked %d, want 8", got)
	}
}
