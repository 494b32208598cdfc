package file

import (
	"bufio"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"shipper/internal/checkpoint"
	"shipper/internal/pipeline"
)

// Rotation schemes of the stress tests.
const (
	rotRename       = "rename"       // logrotate "create": rename to .N, create the name
	rotKubelet      = "kubelet"      // rename to .<timestamp>, gzip the previous rotated file
	rotCopyTruncate = "copytruncate" // copy to .1, truncate in place
	rotDelete       = "delete"       // delete and create again
)

// stressFile is one file written by one writer: numbered JSON lines
// {"file":name,"seq":n,...}, wrapped in the file's format, rotated by its
// scheme every rotateEvery lines.
type stressFile struct {
	name   string // the "file" field of its lines
	scheme string
	format string // plain, cri, docker
	path   string
	lines  int // how many to write
	// written counts the lines written so far; rotations how often the
	// file was rotated.
	written, rotations atomic.Int64
}

// stressFiles returns n files over the four schemes and three formats under
// dir, and the glob patterns that cover them.
func stressFiles(dir string, n, linesEach int) ([]*stressFile, []string) {
	schemes := []string{rotRename, rotKubelet, rotCopyTruncate, rotDelete}
	var files []*stressFile
	for i := 0; i < n; i++ {
		sch := schemes[i%len(schemes)]
		f := &stressFile{name: fmt.Sprintf("%s-%02d", sch, i), scheme: sch, lines: linesEach}
		switch sch {
		case rotKubelet:
			// The kubelet layout: /var/log/pods/<ns>_<pod>_<uid>/<container>/0.log, CRI.
			f.format = "cri"
			f.path = filepath.Join(dir, "pods", fmt.Sprintf("stress_pod-%02d_uid-%02d", i, i), "app", "0.log")
		case rotDelete:
			f.format = "docker"
			f.path = filepath.Join(dir, "logs", f.name+"-json.log")
		case rotRename:
			if i%2 == 0 {
				f.format = "cri"
			} else {
				f.format = "plain"
			}
			f.path = filepath.Join(dir, "logs", f.name+".log")
		default:
			f.format = "plain"
			f.path = filepath.Join(dir, "logs", f.name+".log")
		}
		files = append(files, f)
	}
	return files, []string{filepath.Join(dir, "logs", "*.log"), filepath.Join(dir, "pods", "*", "*", "*.log")}
}

// line formats line seq of f (with its '\n'). CRI lines are split into P
// pieces now and then, to join across reads.
func (f *stressFile) line(b []byte, seq int, now time.Time) []byte {
	payload := fmt.Sprintf(`{"file":%q,"seq":%d,"msg":"stress line %d of %s with some padding to look like a log line"}`, f.name, seq, seq, f.name)
	ts := now.UTC().Format(time.RFC3339Nano)
	switch f.format {
	case "cri":
		if seq%97 == 0 {
			half := len(payload) / 2
			b = fmt.Appendf(b, "%s stdout P %s\n", ts, payload[:half])
			return fmt.Appendf(b, "%s stdout F %s\n", ts, payload[half:])
		}
		return fmt.Appendf(b, "%s stdout F %s\n", ts, payload)
	case "docker":
		log, _ := json.Marshal(payload + "\n")
		return fmt.Appendf(b, `{"log":%s,"stream":"stdout","time":%q}`+"\n", log, ts)
	}
	return append(append(b, payload...), '\n')
}

// stressWriter writes f's lines in bursts, rotating it every rotateEvery
// lines. Before a generation of the file is rotated away, it waits until
// ready(f) says the shipper has taken hold of it (see the test for why);
// pace is the pause between bursts.
type stressWriter struct {
	f           *stressFile
	rotateEvery int
	burst       int
	pace        time.Duration
	ready       func(f *stressFile, generationSize int64) bool
	w           *os.File
	gen         int
}

func (sw *stressWriter) open(t testing.TB) {
	if err := os.MkdirAll(filepath.Dir(sw.f.path), 0o755); err != nil {
		t.Error(err)
		return
	}
	w, err := os.OpenFile(sw.f.path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Error(err)
		return
	}
	sw.w = w
}

func (sw *stressWriter) run(ctx context.Context, t testing.TB) {
	sw.open(t)
	defer func() {
		if sw.w != nil {
			sw.w.Close()
		}
	}()
	var buf []byte
	seq := 1
	sinceRotation := 0
	for seq <= sw.f.lines && ctx.Err() == nil {
		buf = buf[:0]
		now := time.Now()
		n := min(sw.burst, sw.f.lines-seq+1, sw.rotateEvery-sinceRotation)
		for i := 0; i < n; i++ {
			buf = sw.f.line(buf, seq+i, now)
		}
		if _, err := sw.w.Write(buf); err != nil {
			t.Errorf("write %s: %v", sw.f.path, err)
			return
		}
		seq += n
		sinceRotation += n
		sw.f.written.Store(int64(seq - 1))
		if sinceRotation >= sw.rotateEvery && seq <= sw.f.lines {
			if !sw.rotate(ctx, t) {
				return
			}
			sinceRotation = 0
		}
		if sw.pace > 0 {
			select {
			case <-ctx.Done():
			case <-time.After(sw.pace):
			}
		}
	}
}

// rotate rotates the file by its scheme.
func (sw *stressWriter) rotate(ctx context.Context, t testing.TB) bool {
	fi, err := sw.w.Stat()
	if err != nil {
		t.Error(err)
		return false
	}
	for !sw.ready(sw.f, fi.Size()) {
		select {
		case <-ctx.Done():
			return false
		case <-time.After(5 * time.Millisecond):
		}
	}
	sw.gen++
	p := sw.f.path
	switch sw.f.scheme {
	case rotRename:
		sw.w.Close()
		if err := os.Rename(p, p+".1"); err != nil {
			t.Error(err)
			return false
		}
		sw.open(t)
	case rotKubelet:
		// kubelet: gzip the uncompressed rotated files, keep at most 3
		// rotated files, rename the live one; the runtime reopens the name.
		// Lines written between the rename and the reopen land in the
		// renamed file, as with containerd.
		rotated, _ := filepath.Glob(p + ".*")
		sort.Strings(rotated)
		for len(rotated) > 3 {
			os.Remove(rotated[0])
			rotated = rotated[1:]
		}
		for _, r := range rotated {
			if !strings.HasSuffix(r, ".gz") && !strings.HasSuffix(r, ".tmp") {
				if err := gzipInPlace(r); err != nil {
					t.Error(err)
					return false
				}
			}
		}
		if err := os.Rename(p, fmt.Sprintf("%s.20240102-%06d", p, sw.gen)); err != nil {
			t.Error(err)
			return false
		}
		sw.w.Close()
		sw.open(t)
	case rotCopyTruncate:
		data, err := os.ReadFile(p)
		if err == nil {
			err = os.WriteFile(p+".1", data, 0o644)
		}
		if err == nil {
			err = sw.w.Truncate(0)
		}
		if err != nil {
			t.Error(err)
			return false
		}
	case rotDelete:
		sw.w.Close()
		if err := os.Remove(p); err != nil {
			t.Error(err)
			return false
		}
		sw.open(t)
	}
	sw.f.rotations.Add(1)
	return sw.w != nil
}

func gzipInPlace(p string) error {
	in, err := os.Open(p)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(p + ".tmp")
	if err != nil {
		return err
	}
	zw := gzip.NewWriter(out)
	bw := bufio.NewWriter(zw)
	if _, err := io.Copy(bw, in); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	if err := out.Close(); err != nil {
		return err
	}
	if err := os.Rename(p+".tmp", p+".gz"); err != nil {
		return err
	}
	return os.Remove(p)
}

// checkpointReady is the writers' ready function for an in-process source:
// a generation may be rotated away once the shipper holds it, i.e. its
// checkpoint exists (written when it is opened) - or, for copytruncate, once
// everything written to it is delivered: copytruncate cannot keep the old
// content for a reader that has not caught up. These are the documented
// limits of rotation (docs/file-input.md), not shortcuts of the shipper.
func checkpointReady(src *Source) func(f *stressFile, size int64) bool {
	return func(f *stressFile, size int64) bool {
		e, ok := checkpointOf(src.store, f.path)
		if !ok {
			return false
		}
		if f.scheme == rotCopyTruncate {
			return e.Offset >= size
		}
		return true
	}
}

// checkpointOf returns the checkpoint of the file now at path: same device,
// inode and content (an inode reused by a new generation has the old one's
// checkpoint under another fingerprint).
func checkpointOf(store *checkpoint.Store, path string) (checkpoint.Entry, bool) {
	f, err := os.Open(path)
	if err != nil {
		return checkpoint.Entry{}, false
	}
	defer f.Close()
	id, err := checkpoint.Identify(f)
	if err != nil {
		return checkpoint.Entry{}, false
	}
	e, ok, err := store.Lookup(f, id)
	return e, ok && err == nil
}

// verdict is what a stress test found for one file.
type verdict struct {
	file                 string
	written, got         int
	missing, duplicated  int
	outOfOrder           int
	firstMissing         []int
	rotations            int64
	missingRanges, dupsX string
}

func (v verdict) String() string {
	return fmt.Sprintf("%-16s written %7d got %7d missing %5d duplicated %5d out-of-order %4d rotations %d %v",
		v.file, v.written, v.got, v.missing, v.duplicated, v.outOfOrder, v.rotations, v.firstMissing)
}

// judge compares the seq numbers delivered per file (in delivery order)
// with what was written.
func judge(files []*stressFile, got map[string][]int) (out []verdict, missing, dups int) {
	for _, f := range files {
		seqs := got[f.name]
		v := verdict{file: f.name, written: int(f.written.Load()), got: len(seqs), rotations: f.rotations.Load()}
		seen := make([]int, v.written+2)
		last := 0
		for _, s := range seqs {
			if s < 1 || s > v.written {
				v.duplicated++ // not a line that was written
				continue
			}
			seen[s]++
			if seen[s] > 1 {
				v.duplicated++
			}
			if s < last {
				v.outOfOrder++
			}
			last = s
		}
		for s := 1; s <= v.written; s++ {
			if seen[s] == 0 {
				v.missing++
				if len(v.firstMissing) < 5 {
					v.firstMissing = append(v.firstMissing, s)
				}
			}
		}
		missing += v.missing
		dups += v.duplicated
		out = append(out, v)
	}
	return out, missing, dups
}

// TestRotationStressLocal is the rotation stress test without Elasticsearch:
// the shipper's pipeline is drained by an in-memory sink, which also sees the
// delivery order (out-of-order lines are counted per file). The version with
// a million lines through the real sink and Elasticsearch is
// TestRotationStressElasticsearch (tag integration).
func TestRotationStressLocal(t *testing.T) {
	lines := 12_000
	if testing.Short() {
		lines = 3000
	}
	dir, state := t.TempDir(), t.TempDir()
	files, globs := stressFiles(dir, 12, lines)
	cfg := Config{
		Paths: globs, StateDir: state, Dataset: "stress", Namespace: "default",
		PollInterval: 20 * time.Millisecond, RescanInterval: 100 * time.Millisecond,
		RotateWait: 300 * time.Millisecond, CheckpointInterval: 200 * time.Millisecond,
	}
	r := startRun(t, cfg, pipeline.Config{BatchBytes: 256 << 10, MaxBytes: 4 << 20})
	// No time limit on the run as a whole: under -race on a loaded machine
	// it takes minutes, not seconds, and a copytruncate writer waits for
	// each generation to be delivered in full. The writers stop only when
	// the shipper makes no progress at all for stressStall (see watchStress).
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stalled := watchStress(ctx, t, r, files, cancel)
	var wg sync.WaitGroup
	for _, f := range files {
		sw := &stressWriter{f: f, rotateEvery: lines / 4, burst: 50, pace: 2 * time.Millisecond, ready: checkpointReady(r.src)}
		wg.Add(1)
		go func() {
			defer wg.Done()
			sw.run(ctx, t)
		}()
	}
	wg.Wait()
	total := 0
	for _, f := range files {
		total += int(f.written.Load())
	}
	for ctx.Err() == nil && r.sink.delivered() < total {
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if err := <-stalled; err != nil {
		t.Error(err)
	}
	time.Sleep(2 * cfg.RotateWait) // anything extra would show now
	r.stop()

	got := make(map[string][]int)
	for _, d := range r.sink.snapshot() {
		name, _ := d.M["file"].(string)
		seq, _ := d.M["seq"].(float64)
		got[name] = append(got[name], int(seq))
	}
	verdicts, missing, dups := judge(files, got)
	ooo := 0
	for _, v := range verdicts {
		t.Log(v)
		ooo += v.outOfOrder
	}
	st := r.src.Stats()
	t.Logf("%d lines written, %d delivered once, %d deliveries of an id already delivered (re-reads answered 409 by Elasticsearch); stats %+v",
		total, len(r.sink.snapshot()), r.sink.dups(), st)
	if missing != 0 || dups != 0 || ooo != 0 {
		t.Fatalf("%d missing, %d duplicated, %d out of order", missing, dups, ooo)
	}
	for _, f := range files {
		if f.rotations.Load() < 3 {
			t.Fatalf("%s rotated %d times, want 3", f.name, f.rotations.Load())
		}
	}
}

// stressStall is how long the stress test waits while the shipper makes no
// progress at all (no line written, delivered or checkpointed, no rotation)
// before it gives up: long enough for the slowest machine, short of the
// package's test timeout.
const stressStall = 2 * time.Minute

// watchStress reports the progress of a stress run every 10 s (lines
// delivered, and for each file not written in full or not checkpointed to its
// end, its lines written, rotations, and checkpoint against its size) and
// cancels the run when nothing moved for stressStall. Once ctx ends, it sends
// the stall (or nil) on the channel.
func watchStress(ctx context.Context, t testing.TB, r *run, files []*stressFile, cancel context.CancelFunc) <-chan error {
	out := make(chan error, 1)
	// written counts lines written and rotations done.
	progress := func() (written, delivered int, ckpt int64, report string) {
		var b strings.Builder
		for _, f := range files {
			written += int(f.written.Load()) + int(f.rotations.Load())
			fi, err := os.Stat(f.path)
			e, ok := checkpointOf(r.src.store, f.path)
			if ok {
				ckpt += e.Offset
			}
			if err == nil && (!ok || e.Offset < fi.Size() || f.written.Load() < int64(f.lines)) {
				fmt.Fprintf(&b, " %s: written %d, rotated %d, checkpoint %d (found %v) of %d bytes;",
					f.name, f.written.Load(), f.rotations.Load(), e.Offset, ok, fi.Size())
			}
		}
		return written, r.sink.delivered(), ckpt, b.String()
	}
	go func() {
		w0, d0, c0, _ := progress()
		last := time.Now()
		tick := time.NewTicker(10 * time.Second)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				out <- nil
				return
			case <-tick.C:
			}
			w, d, c, report := progress()
			t.Logf("stress progress: %d lines delivered;%s", d, report)
			if w != w0 || d != d0 || c != c0 {
				w0, d0, c0, last = w, d, c, time.Now()
				continue
			}
			if time.Since(last) >= stressStall {
				out <- fmt.Errorf("no progress for %v (no line written, delivered or checkpointed, no rotation): %d lines delivered;%s",
					stressStall, d, report)
				cancel()
				return
			}
		}
	}()
	return out
}

// delivered returns how many unique documents the sink has delivered.
func (s *memSink) delivered() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.docs)
}
