package checkpoint

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"shipper/internal/testutil/logbuf"
)

// logBuf collects a Store's log lines.
type logBuf struct{ logbuf.Buffer }

// lines returns the logged lines at level.
func (l *logBuf) lines(t *testing.T, level string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range bytes.Split(bytes.TrimSpace([]byte(l.String())), []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal(line, &m); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if m["level"] == level {
			out = append(out, m)
		}
	}
	return out
}

func open(t *testing.T, dir string) (*Store, *logBuf) {
	t.Helper()
	lb := &logBuf{}
	s, err := Open(dir, zerolog.New(lb))
	if err != nil {
		t.Fatal(err)
	}
	return s, lb
}

func entry(dev, ino uint64, path string, off int64) Entry {
	return Entry{
		ID:      FileID{Dev: dev, Ino: ino, Fingerprint: fingerprint([]byte(path)), FingerprintLen: len(path)},
		Path:    path,
		Offset:  off,
		Updated: time.Date(2024, 5, 1, 10, 0, 0, 123456789, time.UTC),
	}
}

func sameEntry(a, b Entry) bool {
	return a.ID == b.ID && a.Path == b.Path && a.Offset == b.Offset && a.Updated.Equal(b.Updated)
}

func TestRoundTrip(t *testing.T) {
	dir := t.TempDir()
	s, lb := open(t, dir)
	want := []Entry{
		entry(1, 10, "/var/log/pods/a/0.log", 100),
		entry(1, 11, "/var/log/pods/b/0.log", 0),
		entry(1<<40, 1<<62, "/var/log/pods/c/0.log", 1<<40),
		{ID: FileID{Dev: 2, Ino: 3}, Path: "/empty.log", Offset: 0, Updated: time.Unix(0, 0).UTC()},
	}
	for _, e := range want {
		s.Set(e)
	}
	s.Set(entry(1, 12, "/gone.log", 5))
	s.Delete(entry(1, 12, "/gone.log", 5).ID)
	s.Delete(entry(1, 10, "/other-fingerprint", 0).ID) // not the stored file: kept
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	if errs := lb.lines(t, "error"); len(errs) != 0 {
		t.Fatalf("errors logged: %v", errs)
	}

	s2, _ := open(t, dir)
	got := s2.All()
	if len(got) != len(want) {
		t.Fatalf("got %d entries, want %d: %+v", len(got), len(want), got)
	}
	for _, w := range want {
		e, ok := s2.Get(w.ID)
		if !ok || !sameEntry(e, w) {
			t.Fatalf("Get(%+v) = %+v, %v; want %+v", w.ID, e, ok, w)
		}
	}
	// The file is readable JSON with a version.
	data, _ := os.ReadFile(filepath.Join(dir, FileName))
	var ff struct {
		Version int
		Entries []map[string]any
	}
	if err := json.Unmarshal(data, &ff); err != nil || ff.Version != formatVersion || len(ff.Entries) != 4 {
		t.Fatalf("file: %v, version %d, %d entries:\n%s", err, ff.Version, len(ff.Entries), data)
	}
}

func TestSetUpdatedAndFlushOnlyWhenChanged(t *testing.T) {
	dir := t.TempDir()
	s, _ := open(t, dir)
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, FileName)); !os.IsNotExist(err) {
		t.Fatalf("Flush with nothing to save wrote a file: %v", err)
	}
	before := time.Now()
	s.Set(Entry{ID: FileID{Dev: 1, Ino: 1}, Path: "/x", Offset: 1})
	if e, _ := s.Get(FileID{Dev: 1, Ino: 1}); e.Updated.Before(before) {
		t.Fatalf("Updated = %v, want set to now", e.Updated)
	}
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	fi1, _ := os.Stat(filepath.Join(dir, FileName))
	time.Sleep(10 * time.Millisecond)
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	fi2, _ := os.Stat(filepath.Join(dir, FileName))
	if !fi1.ModTime().Equal(fi2.ModTime()) {
		t.Fatal("unchanged store was written again")
	}
}

func TestLeftoverTempFileIgnored(t *testing.T) {
	// A crash after the temp file was written but before the rename leaves
	// the temp file beside the old checkpoint file: the old one is used.
	dir := t.TempDir()
	s, _ := open(t, dir)
	want := entry(1, 10, "/a.log", 42)
	s.Set(want)
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(dir, FileName+".tmp-123456")
	if err := os.WriteFile(tmp, []byte(`{"version":1,"entries":[{"path":"/half`), 0o600); err != nil {
		t.Fatal(err)
	}
	s2, lb := open(t, dir)
	if e, ok := s2.Get(want.ID); !ok || !sameEntry(e, want) {
		t.Fatalf("after crash: Get = %+v, %v; want %+v", e, ok, want)
	}
	if _, err := os.Stat(tmp); !os.IsNotExist(err) {
		t.Fatalf("leftover temp file not removed: %v", err)
	}
	if w := lb.lines(t, "warn"); len(w) != 1 || w[0]["path"] != tmp {
		t.Fatalf("warnings: %v", w)
	}
	if errs := lb.lines(t, "error"); len(errs) != 0 {
		t.Fatalf("errors logged: %v", errs)
	}
	// Flushing leaves no temp file behind.
	s2.Set(entry(1, 11, "/b.log", 1))
	if err := s2.Flush(); err != nil {
		t.Fatal(err)
	}
	if m, _ := filepath.Glob(filepath.Join(dir, "*.tmp-*")); len(m) != 0 {
		t.Fatalf("temp files after Flush: %v", m)
	}
}

func TestCorruptFile(t *testing.T) {
	valid := string(encode([]Entry{entry(1, 10, "/a.log", 42)}))
	for _, tc := range []struct {
		name    string
		content string // written as the checkpoint file
		dir     bool   // a directory in place of the file
		reason  string // in the logged error
	}{
		{"garbage", "\x00\x01garbage", false, "cannot parse"},
		{"empty", "", false, "cannot parse"},
		{"truncated JSON", valid[:len(valid)/2], false, "cannot parse"},
		{"trailing data", valid + "{}", false, "data after"},
		{"wrong version", strings.Replace(valid, `"version": 2`, `"version": 3`, 1), false, "version 3"},
		{"no version", `{"entries":[]}`, false, "version 0"},
		{"unknown field", strings.Replace(valid, `"offset"`, `"offsett"`, 1), false, "unknown field"},
		{"negative offset", strings.Replace(valid, `"offset": 42`, `"offset": -1`, 1), false, "negative offset"},
		{"bad fingerprint", strings.Replace(valid, `"fingerprint": "`, `"fingerprint": "zz`, 1), false, "bad fingerprint"},
		{"duplicate inode", strings.Replace(valid, `"entries": [`, `"entries": [{"path":"/b","dev":1,"ino":10,"fingerprint":"0000000000000000","fingerprint_len":0,"offset":0,"updated":"2024-01-01T00:00:00Z"},`, 1), false, "listed twice"},
		{"directory instead of file", "", true, "cannot read"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, FileName)
			if tc.dir {
				if err := os.Mkdir(path, 0o755); err != nil {
					t.Fatal(err)
				}
			} else if err := os.WriteFile(path, []byte(tc.content), 0o644); err != nil {
				t.Fatal(err)
			}
			s, lb := open(t, dir)
			if n := len(s.All()); n != 0 {
				t.Fatalf("store has %d entries, want an empty store", n)
			}
			errs := lb.lines(t, "error")
			if len(errs) != 1 || errs[0]["path"] != path || !strings.Contains(fmt.Sprint(errs[0]["error"]), tc.reason) {
				t.Fatalf("logged errors %v; want one naming %s and %q", errs, path, tc.reason)
			}
			aside, _ := errs[0]["moved_to"].(string)
			if !strings.HasPrefix(aside, path+".corrupt-") {
				t.Fatalf("moved_to = %q", aside)
			}
			if fi, err := os.Stat(aside); err != nil || fi.IsDir() != tc.dir {
				t.Fatalf("set-aside file: %v", err)
			}
			if _, err := os.Stat(path); !os.IsNotExist(err) {
				t.Fatalf("corrupt file still in place: %v", err)
			}
			// The store works: a flush writes a fresh, loadable file.
			want := entry(7, 8, "/new.log", 9)
			s.Set(want)
			if err := s.Flush(); err != nil {
				t.Fatal(err)
			}
			s2, lb2 := open(t, dir)
			if e, ok := s2.Get(want.ID); !ok || !sameEntry(e, want) || len(lb2.lines(t, "error")) != 0 {
				t.Fatalf("after recovery: %+v, %v", e, ok)
			}
		})
	}
}

func TestFlushError(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cp")
	s, _ := open(t, dir)
	s.Set(entry(1, 1, "/a", 1))
	os.RemoveAll(dir)
	err := s.Flush()
	if err == nil || !strings.Contains(err.Error(), filepath.Join(dir, FileName)) {
		t.Fatalf("Flush into a removed directory: %v; want an error naming the file", err)
	}
	// Still dirty: the next successful Flush writes.
	os.MkdirAll(dir, 0o755)
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, FileName)); err != nil {
		t.Fatalf("retry did not write: %v", err)
	}
}

func writeFile(t *testing.T, path, content string) *os.File {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func TestIdentify(t *testing.T) {
	dir := t.TempDir()
	long := strings.Repeat("2024-05-01T10:00:00Z stdout F line\n", 100)
	f := writeFile(t, filepath.Join(dir, "a.log"), long)
	if _, err := f.Seek(5, 0); err != nil {
		t.Fatal(err)
	}
	id, err := Identify(f)
	if err != nil {
		t.Fatal(err)
	}
	if id.Ino == 0 || id.FingerprintLen != FingerprintBytes || id.Fingerprint != fingerprint([]byte(long[:FingerprintBytes])) {
		t.Fatalf("Identify = %+v", id)
	}
	if pos, _ := f.Seek(0, 1); pos != 5 {
		t.Fatalf("Identify moved the offset to %d", pos)
	}
	short := writeFile(t, filepath.Join(dir, "short.log"), "abc")
	if id, _ := Identify(short); id.FingerprintLen != 3 || id.Fingerprint != fingerprint([]byte("abc")) {
		t.Fatalf("short file: %+v", id)
	}
	empty := writeFile(t, filepath.Join(dir, "empty.log"), "")
	if id, _ := Identify(empty); id.FingerprintLen != 0 || id.Fingerprint != 0 || id.Ino == 0 {
		t.Fatalf("empty file: %+v", id)
	}
}

func TestRenameAndCopy(t *testing.T) {
	dir := t.TempDir()
	cpDir := filepath.Join(dir, "cp")
	content := strings.Repeat("2024-05-01T10:00:00Z stdout F hello\n", 50)
	path := filepath.Join(dir, "0.log")
	f := writeFile(t, path, content)
	id, _ := Identify(f)
	s, _ := open(t, cpDir)
	s.Set(Entry{ID: id, Path: path, Offset: 360})
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}

	// Renamed while the shipper was down (kubelet rotation): same inode.
	rotated := path + ".20240501-100000"
	if err := os.Rename(path, rotated); err != nil {
		t.Fatal(err)
	}
	s2, _ := open(t, cpDir)
	rf, _ := os.Open(rotated)
	defer rf.Close()
	rid, _ := Identify(rf)
	e, ok := s2.Get(rid)
	if !ok || e.Offset != 360 || e.Path != path {
		t.Fatalf("renamed file: Get = %+v, %v", e, ok)
	}
	if m := s2.FindByFingerprint(rid.Fingerprint, rid.FingerprintLen); len(m) != 1 || m[0].Offset != 360 {
		t.Fatalf("FindByFingerprint = %+v", m)
	}

	// Copied (copytruncate): another inode, same fingerprint.
	cf := writeFile(t, filepath.Join(dir, "copy.log"), content)
	cid, _ := Identify(cf)
	if _, ok := s2.Get(cid); ok {
		t.Fatal("Get matched a copy on another inode")
	}
	if m := s2.FindByFingerprint(cid.Fingerprint, cid.FingerprintLen); len(m) != 1 || m[0].ID.Ino != id.Ino {
		t.Fatalf("FindByFingerprint for the copy = %+v", m)
	}
	if m := s2.FindByFingerprint(0, 0); m != nil {
		t.Fatalf("FindByFingerprint(0, 0) = %+v", m)
	}
}

func TestInodeReuse(t *testing.T) {
	s, _ := open(t, t.TempDir())
	old := entry(1, 10, "/var/log/pods/old/0.log", 5000)
	s.Set(old)
	// A new file on the same device and inode, with other first bytes.
	newID := FileID{Dev: 1, Ino: 10, Fingerprint: fingerprint([]byte("other")), FingerprintLen: 5}
	if e, ok := s.Get(newID); ok {
		t.Fatalf("new file on a reused inode got the old checkpoint %+v", e)
	}
	newID.FingerprintLen = len(old.Path) // same length, other hash
	if _, ok := s.Get(newID); ok {
		t.Fatal("matched on length alone")
	}
	// Deleting with the new ID leaves the old entry; Set replaces it.
	s.Delete(newID)
	if _, ok := s.Get(old.ID); !ok {
		t.Fatal("Delete with another fingerprint removed the entry")
	}
	s.Set(Entry{ID: newID, Path: "/var/log/pods/new/0.log"})
	if _, ok := s.Get(old.ID); ok {
		t.Fatal("old entry still there after the new file's Set")
	}
}

func TestLookupGrowingAndTruncatedFile(t *testing.T) {
	dir := t.TempDir()
	s, _ := open(t, filepath.Join(dir, "cp"))
	path := filepath.Join(dir, "0.log")
	head := "2024-05-01T10:00:00Z stdout F first line\n"
	f := writeFile(t, path, head)
	id, _ := Identify(f)
	s.Set(Entry{ID: id, Path: path, Offset: int64(len(head))})

	// The file grew past the fingerprint size: Get no longer matches the
	// new ID, Lookup re-hashes the old prefix and does.
	g, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	g.WriteString(strings.Repeat("2024-05-01T10:00:01Z stdout F more\n", 100))
	g.Close()
	grown, _ := Identify(f)
	if grown.FingerprintLen != FingerprintBytes || grown.Ino != id.Ino {
		t.Fatalf("grown: %+v", grown)
	}
	if _, ok := s.Get(grown); ok {
		t.Fatal("Get matched a different fingerprint length")
	}
	e, ok, err := s.Lookup(f, grown)
	if err != nil || !ok || e.Offset != int64(len(head)) {
		t.Fatalf("Lookup after growth = %+v, %v, %v", e, ok, err)
	}
	// Same ID: plain match.
	if _, ok, _ := s.Lookup(f, id); !ok {
		t.Fatal("Lookup with the recorded ID failed")
	}

	// Rewritten in place with other content (or a reused inode): no match.
	if err := os.WriteFile(path, []byte(strings.Repeat("x", 2000)), 0o644); err != nil {
		t.Fatal(err)
	}
	other, _ := Identify(f)
	if _, ok, _ := s.Lookup(f, other); ok {
		t.Fatal("Lookup matched rewritten content")
	}
	// Truncated below the recorded fingerprint: no match.
	s.Set(Entry{ID: other, Path: path, Offset: 2000})
	os.Truncate(path, 10)
	small, _ := Identify(f)
	if _, ok, _ := s.Lookup(f, small); ok {
		t.Fatal("Lookup matched a truncated file")
	}
}

func TestRun(t *testing.T) {
	dir := t.TempDir()
	s, _ := open(t, dir)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		s.Run(ctx, 10*time.Millisecond)
		close(done)
	}()
	s.Set(entry(1, 1, "/periodic", 1))
	deadline := time.Now().Add(5 * time.Second)
	for {
		if data, err := os.ReadFile(filepath.Join(dir, FileName)); err == nil && bytes.Contains(data, []byte("/periodic")) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no periodic flush within 5s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	s.Set(entry(1, 2, "/final", 2))
	cancel()
	<-done
	s2, _ := open(t, dir)
	if _, ok := s2.Get(entry(1, 2, "/final", 2).ID); !ok {
		t.Fatal("Run did not flush at stop")
	}
}

func TestConcurrentUse(t *testing.T) {
	s, _ := open(t, t.TempDir())
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				e := entry(uint64(g), uint64(i%20), fmt.Sprintf("/f%d-%d", g, i%20), int64(i))
				s.Set(e)
				s.Get(e.ID)
				s.FindByFingerprint(e.ID.Fingerprint, e.ID.FingerprintLen)
				if i%50 == 0 {
					if err := s.Flush(); err != nil {
						t.Error(err)
					}
				}
			}
		}()
	}
	wg.Wait()
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	if n := len(s.All()); n != 80 {
		t.Fatalf("%d entries, want 80", n)
	}
}

func TestOpenUncreatableDir(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	os.WriteFile(file, nil, 0o644)
	if _, err := Open(filepath.Join(file, "sub"), zerolog.Nop()); err == nil || !strings.Contains(err.Error(), "cannot create checkpoint directory") {
		t.Fatalf("Open under a file: %v", err)
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(encode([]Entry{entry(1, 10, "/a.log", 42), {ID: FileID{Dev: 2, Ino: 3}, Path: "/e"}}))
	f.Add([]byte(`{"version":1,"entries":null}`))
	f.Add([]byte(`{"version":1}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		entries, err := decode(data)
		if err != nil {
			return
		}
		// Whatever is accepted survives a round trip unchanged.
		sortEntries(entries)
		again, err := decode(encode(entries))
		if err != nil {
			t.Fatalf("re-encoded file rejected: %v", err)
		}
		if len(again) != len(entries) {
			t.Fatalf("%d entries became %d", len(entries), len(again))
		}
		for i := range entries {
			if !sameEntry(entries[i], again[i]) {
				t.Fatalf("entry %+v became %+v", entries[i], again[i])
			}
		}
	})
}

func TestByInodeIgnoresFingerprint(t *testing.T) {
	s, _ := open(t, t.TempDir())
	e := entry(1, 2, "/a.log", 10)
	s.Set(e)
	if got, ok := s.ByInode(1, 2); !ok || !sameEntry(got, e) {
		t.Fatalf("ByInode = %+v, %v", got, ok)
	}
	other := e.ID
	other.Fingerprint++
	if _, ok := s.Get(other); ok {
		t.Fatal("Get matched another fingerprint")
	}
	if _, ok := s.ByInode(1, 3); ok {
		t.Fatal("ByInode found a missing inode")
	}
}

func TestFingerprintMatchesIdentify(t *testing.T) {
	dir := t.TempDir()
	content := strings.Repeat("0123456789abcdef", 100) // 1600 bytes
	f := writeFile(t, filepath.Join(dir, "x.log"), content)
	id, err := Identify(f)
	if err != nil {
		t.Fatal(err)
	}
	fp, n := Fingerprint([]byte(content))
	if fp != id.Fingerprint || n != id.FingerprintLen || n != FingerprintBytes {
		t.Fatalf("Fingerprint = %x over %d, Identify = %x over %d", fp, n, id.Fingerprint, id.FingerprintLen)
	}
	if fp, n := Fingerprint(nil); fp != 0 || n != 0 {
		t.Fatalf("Fingerprint(nil) = %x, %d", fp, n)
	}
}

func TestSeedKeptAndVersion1Read(t *testing.T) {
	e := entry(1, 10, "/a.log", 42)
	e.Seed = 77
	got, err := decode(encode([]Entry{e}))
	if err != nil || len(got) != 1 || got[0].Seed != 77 || got[0].IDSeed() != 77 {
		t.Fatalf("decode(encode) = %+v, %v; want seed 77", got, err)
	}
	// A version 1 file has no seeds: the inode is the seed.
	v1 := strings.Replace(string(encode([]Entry{entry(1, 10, "/a.log", 42)})), `"version": 2`, `"version": 1`, 1)
	got, err = decode([]byte(v1))
	if err != nil || len(got) != 1 || got[0].IDSeed() != 10 {
		t.Fatalf("version 1: %+v, %v; want seed = inode 10", got, err)
	}
}
