package file

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"shipper/internal/checkpoint"
	"shipper/internal/pipeline"
)

// Regression tests of crashes combined with rotation: each one is a way the
// file input lost or duplicated lines before (docs/file-input.md, "What is
// guaranteed").

// diskEntry is a checkpoint entry as written to disk.
type diskEntry struct {
	Path           string `json:"path"`
	Ino            uint64 `json:"ino"`
	Fingerprint    string `json:"fingerprint"`
	FingerprintLen int    `json:"fingerprint_len"`
	Offset         int64  `json:"offset"`
}

// onDisk returns the checkpoints in the checkpoint file of state as they are
// on disk (what a SIGKILL leaves), without opening a Store (which would tidy
// the directory under a running source).
func onDisk(t testing.TB, state string) []diskEntry {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(state, checkpoint.FileName))
	if err != nil {
		return nil
	}
	var f struct {
		Entries []diskEntry `json:"entries"`
	}
	if err := json.Unmarshal(data, &f); err != nil {
		t.Fatalf("checkpoint file: %v", err)
	}
	return f.Entries
}

// inodeOf returns the inode of the file at path.
func inodeOf(t testing.TB, path string) uint64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return inode(fi)
}

// idsByMessage maps the message of each document to its id.
func idsByMessage(docs []doc) map[string]string {
	out := make(map[string]string)
	for _, d := range docs {
		m, _ := d.M["message"].(string)
		out[m] = d.ID
	}
	return out
}

// A file's checkpoint is on disk before any of its records is shipped: killed
// before the first periodic checkpoint write, with the file renamed away
// while down, the restart still finds the file and reads it.
func TestCrashBeforeFirstCheckpointWrite(t *testing.T) {
	dir, state := t.TempDir(), t.TempDir()
	path := filepath.Join(dir, "app.log")
	cfg := testConfig(dir, state, "*.log")
	cfg.CheckpointInterval = time.Hour // no periodic write during the test
	r := startRun(t, cfg, pipeline.Config{})
	r.sink.hold() // Elasticsearch slow: nothing delivered before the kill
	appendFile(t, path, numbered("a", 0, 200))
	waitFor(t, "the lines to be read", func() bool { return r.src.Stats().Records >= 200 })
	r.kill(state)
	// While down: renamed away, a new file at the path.
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	appendFile(t, path, numbered("b", 0, 10))
	r2 := startRun(t, cfg, pipeline.Config{})
	r2.waitDocs(210)
	time.Sleep(50 * time.Millisecond)
	r2.stop()
	wantMessages(t, messages(r2.sink.snapshot(), ""), numbered("a", 0, 200)+numbered("b", 0, 10))
}

// Inode numbers are a hint: a rotated file on an inode that a checkpoint of
// another content (a generation compressed and deleted since) still names
// is not taken for that content and skipped.
func TestRotatedFileOnReusedInode(t *testing.T) {
	dir, state := t.TempDir(), t.TempDir()
	path := filepath.Join(dir, "0.log")
	appendFile(t, path, criLines("stdout", 0, 50))
	cfg := testConfig(dir, state, "*.log")
	r := startRun(t, cfg, pipeline.Config{})
	r.waitDocs(50)
	r.stop()
	// While down: more lines, kubelet rotates, and the rotated file turns
	// out to be on the inode of an older generation, compressed and deleted
	// long ago, whose checkpoint was kept.
	appendFile(t, path, criLines("stdout", 50, 100))
	kubeletRotate(t, path, 1)
	appendFile(t, path, criLines("stdout", 100, 150))
	kubeletRotate(t, path, 2)
	appendFile(t, path, criLines("stdout", 150, 160))
	// The first generation was compressed and deleted; pretend its inode
	// number went to the second generation (now 0.log.20240102-030402).
	st, err := checkpoint.Open(state, testLogger())
	if err != nil {
		t.Fatal(err)
	}
	es := st.All()
	if len(es) != 1 {
		t.Fatalf("checkpoints %+v, want the first generation's", es)
	}
	st.Delete(es[0].ID)
	moved := es[0]
	moved.ID.Ino = inodeOf(t, path+".20240102-030402")
	st.Set(moved)
	if err := st.Flush(); err != nil {
		t.Fatal(err)
	}
	r2 := startRun(t, cfg, pipeline.Config{})
	r2.waitDocs(110)
	time.Sleep(50 * time.Millisecond)
	r2.stop()
	var want strings.Builder
	for i := 50; i < 160; i++ {
		want.WriteString("line " + itoa(i) + "\n")
	}
	wantMessages(t, messages(r2.sink.snapshot(), ""), want.String())
}

func itoa(i int) string { return strings.TrimSpace(numbered("", i, i+1)) }

// A copytruncate copy read after a restart gets the ids of the original
// file's records, whichever checkpoint led to it: records delivered from the
// original before the crash are answered 409, not indexed twice.
func TestCopyReadAfterRestartKeepsIDs(t *testing.T) {
	dir, state := t.TempDir(), t.TempDir()
	path := filepath.Join(dir, "app.log")
	appendFile(t, path, numbered("a", 0, 100))
	cfg := testConfig(dir, state, "*.log")
	r := startRun(t, cfg, pipeline.Config{})
	first := idsByMessage(r.waitDocs(100))
	waitFor(t, "a checkpoint on disk", func() bool { return len(onDisk(t, state)) == 1 })
	cfg.CheckpointInterval = time.Hour
	r.kill(state)
	// The checkpoint on disk is behind what was delivered: rewind it, as a
	// kill between two checkpoint writes leaves it.
	st, _ := checkpoint.Open(state, testLogger())
	for _, e := range st.All() {
		e.Offset = 0
		st.Set(e)
	}
	if err := st.Flush(); err != nil {
		t.Fatal(err)
	}
	copyTruncate(t, path, path+".1")
	appendFile(t, path, numbered("b", 0, 5))
	// Second run: finds the copy by content, reads it under held delivery,
	// and is killed after it wrote the copy's checkpoint.
	r2 := startRun(t, cfg, pipeline.Config{})
	r2.sink.hold()
	copyIno := inodeOf(t, path+".1")
	waitFor(t, "the copy's checkpoint on disk", func() bool {
		for _, e := range onDisk(t, state) {
			if e.Ino == copyIno {
				return true
			}
		}
		return false
	})
	r2.kill(state)
	// Third run: reads the copy from the copy's own checkpoint.
	r3 := startRun(t, cfg, pipeline.Config{})
	docs := r3.waitDocs(105)
	time.Sleep(50 * time.Millisecond)
	r3.stop()
	wantMessages(t, messages(docs, ""), numbered("a", 0, 100)+numbered("b", 0, 5))
	again := idsByMessage(docs)
	for m, id := range first {
		if again[m] != id {
			t.Fatalf("%q: id %s read from the original, %s from its copy after a restart: indexed twice", m, id, again[m])
		}
	}
}

// A truncation noticed while Elasticsearch is unreachable: the copy's
// checkpoint is the delivered offset of the original, not how far it was
// read, so a restart reads the undelivered records from the copy.
func TestCopyTruncateCheckpointIsDeliveredOffset(t *testing.T) {
	dir, state := t.TempDir(), t.TempDir()
	path := filepath.Join(dir, "app.log")
	cfg := testConfig(dir, state, "*.log")
	r := startRun(t, cfg, pipeline.Config{})
	r.sink.hold()
	appendFile(t, path, numbered("a", 0, 100))
	waitFor(t, "the lines to be read", func() bool { return r.src.Stats().Records >= 100 })
	copyTruncate(t, path, path+".1")
	appendFile(t, path, numbered("b", 0, 5))
	waitFor(t, "the truncation to be noticed", func() bool { return r.src.Stats().Truncations >= 1 })
	copyIno := inodeOf(t, path+".1")
	waitFor(t, "the copy's checkpoint on disk", func() bool {
		for _, e := range onDisk(t, state) {
			if e.Ino == copyIno {
				return true
			}
		}
		return false
	})
	r.kill(state)
	r2 := startRun(t, cfg, pipeline.Config{})
	docs := r2.waitDocs(105)
	time.Sleep(50 * time.Millisecond)
	r2.stop()
	wantMessages(t, messages(docs, ""), numbered("a", 0, 100)+numbered("b", 0, 5))
}

// After copytruncate the file keeps its inode; new content that starts with
// the same first line as the old (a start-up banner) must not get the old
// records' ids (Elasticsearch would answer 409 and drop them).
func TestCopyTruncateSameFirstLineNewIDs(t *testing.T) {
	dir, state := t.TempDir(), t.TempDir()
	path := filepath.Join(dir, "app.log")
	banner := "service starting\n"
	appendFile(t, path, banner+numbered("a", 0, 50))
	cfg := testConfig(dir, state, "*.log")
	r := startRun(t, cfg, pipeline.Config{})
	r.waitDocs(51)
	copyTruncate(t, path, path+".1")
	appendFile(t, path, banner+numbered("b", 0, 10))
	waitFor(t, "the new content to be delivered", func() bool { return r.src.Stats().Acked >= 62 })
	time.Sleep(50 * time.Millisecond)
	r.stop()
	wantMessages(t, messages(r.sink.snapshot(), ""), banner+numbered("a", 0, 50)+banner+numbered("b", 0, 10))
	if d := r.sink.dups(); d != 0 {
		t.Fatalf("%d records delivered under an id already used", d)
	}
}

// A file created at a watched path and renamed away between two scans, with
// a new file at the path, is read: it is a rotated sibling of the path
// written since the last scan.
func TestCreatedAndRenamedBetweenScans(t *testing.T) {
	dir, state := t.TempDir(), t.TempDir()
	cfg := testConfig(dir, state, "*.log")
	cfg.RescanInterval = 300 * time.Millisecond
	appendFile(t, filepath.Join(dir, "other.log"), numbered("o", 0, 1))
	r := startRun(t, cfg, pipeline.Config{})
	r.waitDocs(1)
	path := filepath.Join(dir, "app.log")
	appendFile(t, path, numbered("a", 0, 500))
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	appendFile(t, path, numbered("b", 0, 10))
	r.waitDocs(511)
	time.Sleep(50 * time.Millisecond)
	r.stop()
	wantMessages(t, messages(r.sink.snapshot(), "app.log"), numbered("a", 0, 500)+numbered("b", 0, 10))
}

// kill is crash as a SIGKILL leaves it: the checkpoint file on disk is what
// it was at the moment of the kill, without the write a cancelled source
// does on its way out.
func (r *run) kill(state string) {
	r.t.Helper()
	p := filepath.Join(state, checkpoint.FileName)
	data, err := os.ReadFile(p)
	r.crash()
	if err != nil {
		os.Remove(p)
		return
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		r.t.Fatal(err)
	}
}

func TestRotatedSuffix(t *testing.T) {
	f := func(suffix string, gz, ok bool) {
		t.Helper()
		if g, o := rotatedSuffix(suffix); g != gz || o != ok {
			t.Errorf("rotatedSuffix(%q) = %v, %v; want %v, %v", suffix, g, o, gz, ok)
		}
	}
	f(".1", false, true)
	f(".12", false, true)
	f(".1.gz", true, true)
	f("-20260101", false, true)
	f("-20260101.gz", true, true)
	f(".20260101-120000", false, true)
	f(".20260101-120000.gz", true, true)
	f(".gz", true, true)
	f("", false, false)
	f(".tmp", false, false)
	f(".20260101-120000.tmp", false, false)
	f(".1.gz.tmp", false, false)
	f(".bak", false, false)
	f("ger.log", false, false)
	f(".", false, false)
	f(".1-", false, false)
	f("-", false, false)
}

// A file opened while still empty has a checkpoint with an empty fingerprint,
// which identifies nothing. Its fingerprint is on disk before its first
// record is shipped: compressed and deleted while the shipper was down, the
// file is found by content and read again under the same ids, from the
// checkpoint on disk (at 0, or past the records when a later write of the
// checkpoint, with a longer fingerprint, came after their delivery).
func TestOpenedEmptyThenCompressedWhileDown(t *testing.T) {
	dir, state := t.TempDir(), t.TempDir()
	path := filepath.Join(dir, "0.log")
	appendFile(t, path, "")
	cfg := testConfig(dir, state, "*.log")
	cfg.CheckpointInterval = time.Hour
	r := startRun(t, cfg, pipeline.Config{})
	waitFor(t, "the empty file to be opened", func() bool { return r.src.Stats().Opened == 1 })
	gen1 := criLines("stdout", 0, 100)
	appendFile(t, path, gen1)
	first := idsByMessage(r.waitDocs(100))
	r.kill(state)
	// The checkpoint on disk is the one written when the file's first
	// bytes came: at 0, or, when the 100 records were delivered before
	// that write (a busy machine), past them. The restart reads the first
	// generation again from there, then the 20 lines after it.
	st, err := checkpoint.Open(state, testLogger())
	if err != nil {
		t.Fatal(err)
	}
	es := st.All()
	if len(es) != 1 || es[0].Offset > int64(len(gen1)) {
		t.Fatalf("checkpoints %+v, want one for the first generation", es)
	}
	want := 20 + strings.Count(gen1[es[0].Offset:], "\n")
	kubeletRotate(t, path, 1)
	appendFile(t, path, criLines("stdout", 100, 110))
	kubeletRotate(t, path, 2) // the first generation is compressed and deleted
	appendFile(t, path, criLines("stdout", 110, 120))
	r2 := startRun(t, cfg, pipeline.Config{})
	docs := r2.waitDocs(want)
	time.Sleep(50 * time.Millisecond)
	r2.stop()
	if len(docs) != want {
		t.Fatalf("got %d documents after the restart, want %d (checkpoint at %d)", len(docs), want, es[0].Offset)
	}
	again := idsByMessage(docs)
	for m, id := range again {
		if old, ok := first[m]; ok && old != id {
			t.Fatalf("%q: id %s before the kill, %s read again from the compressed file: indexed twice", m, old, id)
		}
	}
}

// A line longer than the read buffer is assembled aside and shipped (cut to
// the record cap): the harvester used to wait for a '\n' that could not fit
// in its full buffer, and the file stalled there for good.
func TestLineLongerThanReadBuffer(t *testing.T) {
	dir, state := t.TempDir(), t.TempDir()
	long := strings.Repeat("y", 3*DefaultBufSize)
	appendFile(t, filepath.Join(dir, "app.log"), "before\n"+long+"\nafter\n")
	r := startRun(t, testConfig(dir, state, "*.log"), pipeline.Config{BatchBytes: 1 << 20, MaxBytes: 4 << 20})
	docs := r.waitDocs(3)
	r.stop()
	got := messages(docs, "")
	if len(got) != 3 || got[0] != "before" || got[1] != long || got[2] != "after" {
		t.Fatalf("got %d messages (sizes %v), want before, the %d-byte line, after", len(got), lens(got), len(long))
	}
}

func lens(s []string) []int {
	out := make([]int, len(s))
	for i, x := range s {
		out[i] = len(x)
	}
	return out
}

func TestGenerationRotatedBeforeNextOpen(t *testing.T) {
	// The current file is renamed away with no file at the path yet; the
	// harvester notices, then blocks on the full pipeline while reading the
	// late writes to the renamed file. Meanwhile a new file is created at
	// the path, written, renamed away in turn, and a third one created. The
	// harvester opens the third as its current file: the second, which it
	// never saw at the path, must still be found next to it and read, also
	// when no rotation follows.
	dir, state := t.TempDir(), t.TempDir()
	path := filepath.Join(dir, "app.log")
	cfg := testConfig(dir, state, "*.log")
	cfg.RotateWait = time.Minute // the renamed file stays followed for its late writes
	r := startRun(t, cfg, pipeline.Config{BatchBytes: 64 << 10, MaxBytes: 160 << 10})
	pad := strings.Repeat("p", 200)
	gen := func(g, from, to int) string {
		var b strings.Builder
		for i := from; i < to; i++ {
			fmt.Fprintf(&b, "g%d %d %s\n", g, i, pad)
		}
		return b.String()
	}
	appendFile(t, path, gen(0, 0, 10))
	r.waitDocs(10)
	r.sink.hold()
	if err := os.Rename(path, path+".20260101-000001"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the rename to be noticed", func() bool { return r.src.Stats().Rotated == 1 })
	waits := r.pipe.Stats().Waits
	appendFile(t, path+".20260101-000001", gen(0, 10, 1000))
	waitFor(t, "the harvester to block on the full pipeline", func() bool { return r.pipe.Stats().Waits > waits })
	appendFile(t, path, gen(1, 0, 100))
	if err := os.Rename(path, path+".20260101-000002"); err != nil {
		t.Fatal(err)
	}
	appendFile(t, path, gen(2, 0, 100))
	r.sink.release()
	r.waitDocs(1200)
	time.Sleep(50 * time.Millisecond)
	r.stop()
	wantMessages(t, messages(r.sink.snapshot(), ""), gen(0, 0, 1000)+gen(1, 0, 100)+gen(2, 0, 100))
}

func TestNewContentOnInodeGetsUnusedSeed(t *testing.T) {
	// An inode held content x, then content y (the next generation's id
	// seed); y was rotated away, compressed and fully delivered. x's
	// checkpoint was written last (a reader of an older content's
	// compressed copy acknowledges after the newer content's last write).
	// A new file z on that inode must get a seed no content of the inode
	// has: taking "the newest checkpoint's next seed" gave z y's seed, z's
	// checkpoint replaced y's, and y's compressed copy was then read again
	// as an unknown file under other ids.
	dir, state := t.TempDir(), t.TempDir()
	path := filepath.Join(dir, "app.log")
	y := numbered("y", 0, 20)
	appendFile(t, path+".1", y)
	if err := gzipInPlace(path + ".1"); err != nil {
		t.Fatal(err)
	}
	appendFile(t, path, numbered("z", 0, 5))
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	zid, err := checkpoint.Identify(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	ino := inode(fi)
	store, err := checkpoint.Open(state, testLogger())
	if err != nil {
		t.Fatal(err)
	}
	xid := checkpoint.FileID{Dev: zid.Dev, Ino: ino}
	xid.Fingerprint, xid.FingerprintLen = checkpoint.Fingerprint([]byte(numbered("x", 0, 3)))
	yid := checkpoint.FileID{Dev: zid.Dev, Ino: ino}
	yid.Fingerprint, yid.FingerprintLen = checkpoint.Fingerprint([]byte(y))
	now := time.Now()
	store.Set(checkpoint.Entry{ID: yid, Path: path, Offset: int64(len(y)), Seed: nextSeed(ino), Updated: now.Add(-2 * time.Minute)})
	store.Set(checkpoint.Entry{ID: xid, Path: path, Offset: 30, Seed: ino, Updated: now.Add(-time.Minute)})
	if err := store.Flush(); err != nil {
		t.Fatal(err)
	}

	cfg := testConfig(dir, state, "*.log")
	for i := 0; i < 2; i++ { // the second start reads what the first one left
		r := startRun(t, cfg, pipeline.Config{})
		if i == 0 {
			r.waitDocs(5)
		}
		time.Sleep(300 * time.Millisecond) // several polls and scans: a re-read of y would show
		r.stop()
		if i == 0 {
			// y's checkpoint is still there, under y's seed.
			st, err := checkpoint.Open(state, testLogger())
			if err != nil {
				t.Fatal(err)
			}
			found := false
			for _, e := range st.All() {
				if e.ID.Fingerprint == yid.Fingerprint && e.ID.FingerprintLen == yid.FingerprintLen {
					found = e.IDSeed() == nextSeed(ino) && e.Offset == int64(len(y))
				}
			}
			if !found {
				t.Fatalf("checkpoint of y lost or changed: %+v", st.All())
			}
		}
		if got := messages(r.sink.snapshot(), ""); i == 0 {
			wantMessages(t, got, numbered("z", 0, 5))
		} else if len(got) != 0 {
			t.Fatalf("start %d: read again: %q", i+1, head(got))
		}
	}
}

func TestPruneKeepsCheckpointMissedByOneListing(t *testing.T) {
	// A rotated file, read and delivered, is not seen by one prune (a
	// listing taken while logrotate shifts .1 -> .2 ... may miss a file
	// that is on disk all along; here it is away under a name that is not
	// a rotated one while the prune lists). Its checkpoint must survive:
	// dropped, the next catch-up takes the file for one never read and
	// ships it again.
	dir, state := t.TempDir(), t.TempDir()
	path := filepath.Join(dir, "app.log")
	cfg := testConfig(dir, state, "*.log")
	r := startRun(t, cfg, pipeline.Config{})
	appendFile(t, path, numbered("a", 0, 100))
	r.waitDocs(100)
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	appendFile(t, path, numbered("b", 0, 10))
	r.waitDocs(110)
	waitFor(t, "the rotated file to be closed", func() bool { return r.src.Stats().OpenNow == 1 })
	if err := os.Rename(path+".1", path+".1.moving"); err != nil {
		t.Fatal(err)
	}
	r.src.prune()
	if err := os.Rename(path+".1.moving", path+".1"); err != nil {
		t.Fatal(err)
	}
	// The next rotation looks next to the path for generations never read.
	opened := r.src.Stats().Opened
	if err := os.Rename(path, path+".2"); err != nil {
		t.Fatal(err)
	}
	appendFile(t, path, numbered("c", 0, 10))
	waitFor(t, "the new file to be opened", func() bool { return r.src.Stats().Opened > opened })
	r.waitDocs(120)
	waitFor(t, "the rotated files to be closed", func() bool { return r.src.Stats().OpenNow == 1 })
	r.stop()
	wantMessages(t, messages(r.sink.snapshot(), ""), numbered("a", 0, 100)+numbered("b", 0, 10)+numbered("c", 0, 10))
	if d := r.sink.dups(); d != 0 {
		t.Fatalf("%d records delivered twice; stats %+v", d, r.src.Stats())
	}
	if st := r.src.Stats(); st.CaughtUp != 0 {
		t.Fatalf("stats %+v: a rotated file already read was read again", st)
	}
}

func TestStartListsRotatedFilesOncePerPath(t *testing.T) {
	// Every rotated file on disk keeps its checkpoint, and a start matches
	// them all against the files next to their path. Listing the directory
	// (and reading the first bytes of every compressed file in it) once per
	// checkpoint made a start with hundreds of them take seconds before the
	// first line was read: a shipper killed and restarted often, while the
	// writers went on rotating, fell behind until generations were deleted
	// unread.
	dir, state := t.TempDir(), t.TempDir()
	path := filepath.Join(dir, "app.log")
	store, err := checkpoint.Open(state, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	const n = 40
	for g := 1; g <= n; g++ {
		p := fmt.Sprintf("%s.%d", path, g)
		data := numbered(fmt.Sprintf("g%d", g), 0, 10)
		appendFile(t, p, data)
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		id, err := checkpoint.Identify(f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		// Delivered. Inodes are reused here (a compressed file's is
		// freed): a seed per content, as the source gives them.
		store.Set(checkpoint.Entry{ID: id, Path: path, Offset: int64(len(data)), Seed: id.Ino ^ uint64(g)<<40})
		if g%2 == 0 {
			if err := gzipInPlace(p); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := store.Flush(); err != nil {
		t.Fatal(err)
	}
	appendFile(t, path, numbered("cur", 0, 10))
	before := listings.Load()
	r := startRun(t, testConfig(dir, state, "*.log"), pipeline.Config{})
	r.waitDocs(10)
	waitFor(t, "the rotated files to be found", func() bool { return r.src.Stats().Recovered == n })
	r.stop()
	wantMessages(t, messages(r.sink.snapshot(), ""), numbered("cur", 0, 10))
	if got := listings.Load() - before; got > 3 {
		t.Fatalf("the rotated files next to the one path were listed %d times at start, want at most 3", got)
	}
}

func TestRotatedFilesAtTheirEndHoldNoBuffer(t *testing.T) {
	// After a start, every rotated file with a checkpoint is opened and
	// kept open for late writes (RotateWait). One read buffer each, held
	// until the harvester's next idle wait (which does not come while the
	// current file has lines), spent the buffer budget on files with
	// nothing to read and made the current one wait for it.
	dir, state := t.TempDir(), t.TempDir()
	path := filepath.Join(dir, "app.log")
	store, err := checkpoint.Open(state, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	const n = 20
	for g := 1; g <= n; g++ {
		p := fmt.Sprintf("%s.%d", path, g)
		data := numbered(fmt.Sprintf("g%d", g), 0, 10)
		appendFile(t, p, data)
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		id, err := checkpoint.Identify(f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		store.Set(checkpoint.Entry{ID: id, Path: path, Offset: int64(len(data))})
	}
	if err := store.Flush(); err != nil {
		t.Fatal(err)
	}
	appendFile(t, path, numbered("cur", 0, 10))
	cfg := testConfig(dir, state, "*.log")
	cfg.RotateWait = time.Hour
	cfg.BufferBytes = 4 * DefaultBufSize
	r := startRun(t, cfg, pipeline.Config{})
	waitFor(t, "the rotated files to be opened", func() bool { return r.src.Stats().Recovered == n })
	// The current file keeps getting lines: the harvester never idles.
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		w, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			return
		}
		defer w.Close()
		for i := 10; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(2 * time.Millisecond):
			}
			w.WriteString(numbered("cur", i, i+1))
		}
	}()
	defer func() { close(stop); <-done }()
	// Before: the current file got no buffer at all (BudgetWaits
	// thousands, no document).
	r.waitDocs(10)
	waitFor(t, "the rotated files' read buffers to be given back", func() bool {
		st := r.src.Stats()
		return st.BufferBytes <= 2*DefaultBufSize && st.OpenNow == n+1
	})
	r.stop()
}

func TestRotationDoesNotReadKnownRotatedFilesAgain(t *testing.T) {
	// At every rotation the harvester looks next to the path for rotated
	// files it never read. It judged each one again by its first bytes,
	// decompressing every .gz, also those it had found known at the
	// previous rotation and that have not changed since: with 100 rotated
	// files kept and rotations every second this cost more than reading
	// the lines.
	dir, state := t.TempDir(), t.TempDir()
	path := filepath.Join(dir, "app.log")
	store, err := checkpoint.Open(state, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	const n = 20
	for g := 1; g <= n; g++ {
		p := fmt.Sprintf("%s.20260101-%06d", path, g)
		data := numbered(fmt.Sprintf("g%d", g), 0, 10)
		appendFile(t, p, data)
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		id, err := checkpoint.Identify(f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		store.Set(checkpoint.Entry{ID: id, Path: path, Offset: int64(len(data)), Seed: id.Ino ^ uint64(g)<<40})
		if err := gzipInPlace(p); err != nil {
			t.Fatal(err)
		}
	}
	if err := store.Flush(); err != nil {
		t.Fatal(err)
	}
	appendFile(t, path, numbered("cur0", 0, 10))
	r := startRun(t, testConfig(dir, state, "*.log"), pipeline.Config{})
	r.waitDocs(10)
	waitFor(t, "the compressed files to be found", func() bool { return r.src.Stats().Recovered == n })
	before := gzHeads.Load()
	const rotations = 5
	want := numbered("cur0", 0, 10)
	for i := 1; i <= rotations; i++ {
		if err := os.Rename(path, fmt.Sprintf("%s.20260102-%06d", path, i)); err != nil {
			t.Fatal(err)
		}
		data := numbered(fmt.Sprintf("cur%d", i), 0, 10)
		appendFile(t, path, data)
		want += data
		waitFor(t, "the rotation to be noticed", func() bool { return r.src.Stats().Rotated == uint64(i) })
		r.waitDocs(10 * (i + 1))
	}
	r.stop()
	wantMessages(t, messages(r.sink.snapshot(), ""), want)
	// The first look reads them once; later ones not at all.
	if got := gzHeads.Load() - before; got > n {
		t.Fatalf("%d rotations read the first bytes of compressed files %d times, want at most %d", rotations, got, n)
	}
}

func TestCatchUpOpensShiftedNameOfCurrentFile(t *testing.T) {
	// The harvester opens a new current file while it is still empty and
	// looks next to the path for generations it never read. Between that
	// listing and the opening of each file listed, logrotate shifts the
	// names: the new current file, written meanwhile, is renamed to .1,
	// the name the listing had for the previous generation. The file
	// opened as ".1" is then the current file, whose state has no first
	// bytes yet; judged by the listing's device and inode (the previous
	// generation's) it passed for an unknown file and was read a second
	// time, under another id seed.
	dir, state := t.TempDir(), t.TempDir()
	path := filepath.Join(dir, "app.log")
	cfg := testConfig(dir, state, "*.log")
	cfg.RotateWait = time.Minute
	r := startRun(t, cfg, pipeline.Config{})
	appendFile(t, path, numbered("x", 0, 10))
	r.waitDocs(10)
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	appendFile(t, path, "") // y, empty
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	y, _ := statKey(fi)
	var once sync.Once
	fired := make(chan struct{})
	listingHook := func(p string, current fileKey) {
		if p != path || current != y {
			return
		}
		once.Do(func() {
			defer close(fired)
			appendFile(t, path, numbered("y", 0, 10))
			if err := os.Rename(path+".1", path+".2"); err != nil {
				t.Error(err)
			}
			if err := os.Rename(path, path+".1"); err != nil {
				t.Error(err)
			}
			appendFile(t, path, numbered("z", 0, 10))
		})
	}
	afterListing.Store(&listingHook)
	t.Cleanup(func() { afterListing.Store(nil) })
	select {
	case <-fired:
	case <-time.After(2 * time.Minute):
		t.Fatal("the harvester did not look for rotated files after opening the new file")
	}
	r.waitDocs(30)
	waitFor(t, "z to be read", func() bool { return r.src.Stats().Rotated >= 2 })
	r.waitDocs(30)
	time.Sleep(100 * time.Millisecond) // a second reading of y would show now
	r.stop()
	wantMessages(t, messages(r.sink.snapshot(), ""), numbered("x", 0, 10)+numbered("y", 0, 10)+numbered("z", 0, 10))
	if d := r.sink.dups(); d != 0 {
		t.Fatalf("%d records delivered twice", d)
	}
}

func TestCatchUpKnowsCompressedCopyOfFileOpenedEmpty(t *testing.T) {
	// The current file was opened empty. The harvester finds it at its end
	// (still empty), and before it looks at the path the writer fills it,
	// kubelet renames it away and compresses it (the original deleted).
	// The harvester keeps reading the file it holds open, and looks for
	// generations it never read: the .gz, whose first bytes no state knew
	// (the open file's state had none yet), was read a second time under
	// another id seed.
	dir, state := t.TempDir(), t.TempDir()
	path := filepath.Join(dir, "0.log")
	cfg := testConfig(dir, state, "*.log")
	r := startRun(t, cfg, pipeline.Config{})
	appendFile(t, path, numbered("x", 0, 10))
	r.waitDocs(10)
	if err := os.Rename(path, path+".20260101-000001"); err != nil {
		t.Fatal(err)
	}
	appendFile(t, path, "") // y, empty
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	y, _ := statKey(fi)
	waitFor(t, "the empty file to be opened", func() bool { return r.src.Stats().Opened == 2 })
	var once sync.Once
	fired := make(chan struct{})
	checkHook := func(p string, cur fileKey) {
		if p != path || cur != y {
			return
		}
		once.Do(func() {
			defer close(fired)
			appendFile(t, path, numbered("y", 0, 10))
			if err := os.Rename(path, path+".20260101-000002"); err != nil {
				t.Error(err)
			}
			if err := gzipInPlace(path + ".20260101-000002"); err != nil {
				t.Error(err)
			}
			appendFile(t, path, numbered("z", 0, 10))
		})
	}
	beforeRotationCheck.Store(&checkHook)
	t.Cleanup(func() { beforeRotationCheck.Store(nil) })
	select {
	case <-fired:
	case <-time.After(2 * time.Minute):
		t.Fatal("the harvester did not check the empty file")
	}
	r.waitDocs(30)
	waitFor(t, "the rotated files to be closed", func() bool { return r.src.Stats().OpenNow == 1 })
	r.stop()
	wantMessages(t, messages(r.sink.snapshot(), ""), numbered("x", 0, 10)+numbered("y", 0, 10)+numbered("z", 0, 10))
	if d := r.sink.dups(); d != 0 {
		t.Fatalf("%d records delivered twice", d)
	}
}

func TestStopDuringStartScan(t *testing.T) {
	// A stop (SIGTERM) while the first scan still looks for the files
	// rotated while the shipper was down must not wait for that look to
	// finish: with hundreds of checkpoints it took tens of seconds, past
	// any shutdown deadline. It stops at the next path.
	dir, state := t.TempDir(), t.TempDir()
	store, err := checkpoint.Open(state, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	const paths = 10
	for i := 0; i < paths; i++ {
		path := filepath.Join(dir, fmt.Sprintf("app-%02d.log", i))
		appendFile(t, path, numbered(fmt.Sprintf("cur%d", i), 0, 10))
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		id, err := checkpoint.Identify(f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		store.Set(checkpoint.Entry{ID: id, Path: path, Offset: 0, Updated: time.Now().Add(-time.Minute)})
		appendFile(t, path+".1", numbered(fmt.Sprintf("rot%d", i), 0, 10)) // unknown: written after the checkpoint
	}
	if err := store.Flush(); err != nil {
		t.Fatal(err)
	}
	var r *run
	var looks atomic.Int32
	ready, stopped := make(chan struct{}), make(chan struct{})
	listingHook := func(string, fileKey) {
		<-ready
		if looks.Add(1) == 1 {
			r.cancel()
			close(stopped)
		}
	}
	afterListing.Store(&listingHook)
	t.Cleanup(func() { afterListing.Store(nil) })
	r = startRun(t, testConfig(dir, state, "*.log"), pipeline.Config{})
	close(ready)
	select {
	case <-stopped:
	case <-time.After(2 * time.Minute):
		t.Fatal("the start-up look for rotated files did not begin")
	}
	r.stop()
	if n := looks.Load(); n != 1 {
		t.Fatalf("the start-up look for rotated files went on over %d paths after the stop, want 1", n)
	}
}

func TestUnknownGenerationOlderThanEveryCheckpoint(t *testing.T) {
	// The reader was behind: generation a was read and delivered after
	// generation b had been written (and rotated) but before b was ever
	// opened, then the shipper was killed. Every checkpoint of the path
	// is then newer than b. The restart took "written after the path's
	// oldest checkpoint" as the mark of files never read and skipped b:
	// lost, although on disk and matched by no checkpoint.
	dir, state := t.TempDir(), t.TempDir()
	path := filepath.Join(dir, "app.log")
	a, b := numbered("a", 0, 10), numbered("b", 0, 10)
	appendFile(t, path+".2", a)
	appendFile(t, path+".1", b)
	appendFile(t, path, numbered("c", 0, 10))
	now := time.Now()
	for p, mtime := range map[string]time.Time{path + ".2": now.Add(-30 * time.Second), path + ".1": now.Add(-20 * time.Second)} {
		if err := os.Chtimes(p, mtime, mtime); err != nil {
			t.Fatal(err)
		}
	}
	store, err := checkpoint.Open(state, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	for p, off := range map[string]int64{path + ".2": int64(len(a)), path: 0} {
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		id, err := checkpoint.Identify(f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		store.Set(checkpoint.Entry{ID: id, Path: path, Offset: off, Updated: now.Add(-10 * time.Second)})
	}
	if err := store.Flush(); err != nil {
		t.Fatal(err)
	}
	r := startRun(t, testConfig(dir, state, "*.log"), pipeline.Config{})
	r.waitDocs(20)
	waitFor(t, "the rotated files to be closed", func() bool { return r.src.Stats().OpenNow == 1 })
	r.stop()
	wantMessages(t, messages(r.sink.snapshot(), ""), b+numbered("c", 0, 10))
}

func TestStartKnowsCompressedCopyOfFileOpenedEmpty(t *testing.T) {
	// At a start the first scan opens the file at the path while it is
	// empty (kubelet just created it), then looks for the files rotated
	// while the shipper was down, which takes a while. Meanwhile the file
	// is filled, renamed away and compressed. The look found its .gz, whose
	// first bytes the opened file's state did not have yet, unknown and
	// read it as well as the open file: twice, under two id seeds.
	dir, state := t.TempDir(), t.TempDir()
	a, b := filepath.Join(dir, "a.log"), filepath.Join(dir, "b.log")
	store, err := checkpoint.Open(state, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	for p, data := range map[string]string{a: numbered("a", 0, 10), b + ".20260101-000001": numbered("x", 0, 10)} {
		appendFile(t, p, data)
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		id, err := checkpoint.Identify(f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		path := p
		if p != a {
			path = b
		}
		store.Set(checkpoint.Entry{ID: id, Path: path, Offset: int64(len(data)), Updated: time.Now().Add(-time.Minute)})
	}
	if err := store.Flush(); err != nil {
		t.Fatal(err)
	}
	appendFile(t, b, "") // opened empty by the first scan
	var once sync.Once
	listingHook := func(p string, current fileKey) {
		if p != a {
			return
		}
		once.Do(func() { // while a is looked at, before b is
			appendFile(t, b, numbered("y", 0, 10))
			if err := os.Rename(b, b+".20260101-000002"); err != nil {
				t.Error(err)
			}
			if err := gzipInPlace(b + ".20260101-000002"); err != nil {
				t.Error(err)
			}
			appendFile(t, b, numbered("z", 0, 10))
		})
	}
	afterListing.Store(&listingHook)
	t.Cleanup(func() { afterListing.Store(nil) })
	r := startRun(t, testConfig(dir, state, "*.log"), pipeline.Config{})
	r.waitDocs(20)
	waitFor(t, "the rotated files to be closed", func() bool { return r.src.Stats().OpenNow == 2 })
	r.stop()
	wantMessages(t, messages(r.sink.snapshot(), "b.log"), numbered("y", 0, 10)+numbered("z", 0, 10))
	if d := r.sink.dups(); d != 0 {
		t.Fatalf("%d records delivered twice", d)
	}
}

func TestCopyWaitingForBufferIsNotReleasedUnread(t *testing.T) {
	// The buffer budget is spent (another file, blocked on the full
	// pipeline, holds it) when a file is truncated by copytruncate. The
	// copy, queued to be read from where reading stopped, found no buffer:
	// "nothing read" was taken for "at its end", and a copy (like a deleted
	// file) is released at its end. The rest of the old content was lost.
	dir, state := t.TempDir(), t.TempDir()
	a, b := filepath.Join(dir, "a.log"), filepath.Join(dir, "b.log")
	cfg := testConfig(dir, state, "*.log")
	cfg.ReadBytes = 64 << 10
	cfg.BufferBytes = 96 << 10 // one read buffer
	r := startRun(t, cfg, pipeline.Config{BatchBytes: 32 << 10, MaxBytes: 96 << 10})
	appendFile(t, b, numbered("b", 0, 10))
	r.waitDocs(10)
	waitFor(t, "b's read buffer to be given back", func() bool { return r.src.Stats().BufferBytes == 0 })
	r.sink.hold()
	waits := r.pipe.Stats().Waits
	pad := strings.Repeat("p", 200)
	var big strings.Builder
	for i := 0; i < 3000; i++ {
		fmt.Fprintf(&big, "a %d %s\n", i, pad)
	}
	appendFile(t, a, big.String())
	waitFor(t, "a to block on the full pipeline with the buffer", func() bool { return r.pipe.Stats().Waits > waits })
	budgetWaits := r.src.Stats().BudgetWaits
	// copytruncate of b: the copy holds lines the reader never saw.
	appendFile(t, b, numbered("b", 10, 20))
	data, err := os.ReadFile(b)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(b+".1", data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(b, 0); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the truncation to be noticed", func() bool { return r.src.Stats().Truncations == 1 })
	waitFor(t, "b to wait for a buffer", func() bool { return r.src.Stats().BudgetWaits > budgetWaits+5 })
	r.sink.release()
	r.waitDocs(3020)
	r.stop()
	wantMessages(t, messages(r.sink.snapshot(), "b.log"), numbered("b", 0, 20))
}

// shiftNumberedNames renames path.N to path.N+1 for every numbered rotated
// file next to path, highest first, as logrotate does at a rotation.
func shiftNumberedNames(t testing.TB, path string) {
	for i := 100; i >= 1; i-- {
		err := os.Rename(fmt.Sprintf("%s.%d", path, i), fmt.Sprintf("%s.%d", path, i+1))
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			t.Error(err)
		}
	}
}

// shiftAfterListings makes logrotate shift path's numbered names right after
// each of the first n listings of its rotated files, before any file listed
// is matched or opened.
func shiftAfterListings(t testing.TB, path string, n int32) *atomic.Int32 {
	var shifts atomic.Int32
	hook := func(p string) {
		if p != path || shifts.Load() >= n {
			return
		}
		shifts.Add(1)
		shiftNumberedNames(t, path)
	}
	afterRotatedListing.Store(&hook)
	t.Cleanup(func() { afterRotatedListing.Store(nil) })
	return &shifts
}

func TestStartFindsCheckpointedFilesWhoseNamesShift(t *testing.T) {
	// At a start, each checkpoint of a rotated file is matched against a
	// listing of the path's rotated files. logrotate shifting the numbered
	// names (.1 -> .2 ...) between that listing and the opening of the
	// files found by their listed names made the checkpoints pass for those
	// of deleted files: dropped, and the files read again from their
	// beginning as unknown ones, under other record ids.
	dir, state := t.TempDir(), t.TempDir()
	path := filepath.Join(dir, "app.log")
	a, b, c := numbered("a", 0, 20), numbered("b", 0, 20), numbered("c", 0, 10)
	appendFile(t, path+".2", a)
	appendFile(t, path+".1", b)
	appendFile(t, path, c)
	now := time.Now()
	for p, mtime := range map[string]time.Time{path + ".2": now.Add(-30 * time.Second), path + ".1": now.Add(-20 * time.Second)} {
		if err := os.Chtimes(p, mtime, mtime); err != nil {
			t.Fatal(err)
		}
	}
	store, err := checkpoint.Open(state, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	half := func(s string) int64 { return int64(len(numbered(s[:1], 0, 10))) }
	// Checkpoint times in the order the files were written (the order
	// they are read in).
	for i, p := range []string{path + ".2", path + ".1", path} {
		off := map[int]int64{0: half(a), 1: half(b)}[i]
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		id, err := checkpoint.Identify(f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		store.Set(checkpoint.Entry{ID: id, Path: path, Offset: off, Updated: now.Add(time.Duration(i-12) * time.Second)})
	}
	if err := store.Flush(); err != nil {
		t.Fatal(err)
	}
	shifts := shiftAfterListings(t, path, 30)
	r := startRun(t, testConfig(dir, state, "*.log"), pipeline.Config{})
	r.waitDocs(30)
	waitFor(t, "the rotated files to be closed", func() bool { return r.src.Stats().OpenNow == 1 })
	r.stop()
	if shifts.Load() == 0 {
		t.Fatal("the names were never shifted: the test tests nothing")
	}
	wantMessages(t, messages(r.sink.snapshot(), ""), numbered("a", 10, 20)+numbered("b", 10, 20)+c)
	if d := r.sink.dups(); d != 0 {
		t.Fatalf("%d records delivered twice", d)
	}
}

func TestTruncationFindsCopyWhoseNameShifts(t *testing.T) {
	// copytruncate: the harvester notices the truncation and looks for the
	// copy of the old content next to the file. logrotate shifting the
	// numbered names between that listing and the opening of the copy by
	// its listed name made the copy "not found": the lines written after
	// the last read were lost.
	dir, state := t.TempDir(), t.TempDir()
	path := filepath.Join(dir, "app.log")
	r := startRun(t, testConfig(dir, state, "*.log"), pipeline.Config{})
	appendFile(t, path, numbered("x", 0, 10))
	r.waitDocs(10)
	shifts := shiftAfterListings(t, path, 4)
	appendFile(t, path, numbered("x", 10, 20))
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path+".1", data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	appendFile(t, path, numbered("y", 0, 10))
	waitFor(t, "the truncation to be noticed", func() bool { return r.src.Stats().Truncations == 1 })
	r.waitDocs(30)
	waitFor(t, "the copy to be closed", func() bool { return r.src.Stats().OpenNow == 1 })
	r.stop()
	if shifts.Load() == 0 {
		t.Fatal("the names were never shifted: the test tests nothing")
	}
	if st := r.src.Stats(); st.TruncatedNoCopy != 0 || st.CopiesRead != 1 {
		t.Fatalf("truncations without copy %d, copies read %d; want 0 and 1", st.TruncatedNoCopy, st.CopiesRead)
	}
	wantMessages(t, messages(r.sink.snapshot(), ""), numbered("x", 0, 20)+numbered("y", 0, 10))
	if d := r.sink.dups(); d != 0 {
		t.Fatalf("%d records delivered twice", d)
	}
}
