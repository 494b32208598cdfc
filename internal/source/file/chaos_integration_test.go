//go:build integration

package file

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"shipper/internal/testutil/estest"
)

// chaosScale is the size of TestChaosCrashRotate: the full form under
// SHIPPER_CHAOS=full (`make chaos`), a short one inside `make test`.
type chaosScale struct {
	files, linesEach int
	kills            int
	burst            int           // lines per write: 1..burst
	pause            time.Duration // average pause between writes
	upMax            time.Duration
}

func chaosSize() (chaosScale, bool) {
	if os.Getenv("SHIPPER_CHAOS") == "full" {
		// About 35 lines/s per file: less than what Elasticsearch on a
		// small shared machine takes in, so that the shipper keeps up over
		// the run (a generation deleted before it is read is lost).
		return chaosScale{files: 12, linesEach: 17_000, kills: 24, burst: 2, pause: 45 * time.Millisecond, upMax: 12 * time.Second}, true
	}
	return chaosScale{files: 10, linesEach: 1_500, kills: 5, burst: 8, pause: 30 * time.Millisecond, upMax: 2500 * time.Millisecond}, false
}

// chaosKeep is how many rotated files each scheme keeps. A generation
// deleted before the shipper read it is lost to any reader (documented);
// the test keeps enough for the shipper's longest absence.
const chaosKeep = 100

// chaosFile is one file of the torture test: its writer, rotations and the
// lines written inside copytruncate's copy-to-truncate window.
type chaosFile struct {
	*stressFile
	rng *rand.Rand

	mu     sync.Mutex
	window map[int]bool // seq numbers written between copy and truncate
	w      *os.File
	gen    int

	// For the diagnosis of a failure, owned by the writer until it is
	// done: per seq, the generation it was written to and the shipper run
	// (1 = the first start) running at the time; per generation, the run
	// running when it was rotated away.
	life      *atomic.Int32
	genOf     []int32
	lifeOf    []int32
	rotLifeOf []int32
}

// TestChaosCrashRotate is the crash-and-rotate torture test of the real
// binary against the real Elasticsearch: writers append numbered lines to
// files rotated by rename (logrotate "create", rotated names shifted
// .1 -> .2 ...), by kubelet (rename to .<timestamp>, gzip of the previous
// rotated files, the oldest deleted) and by copytruncate (copy to .1, older
// copies shifted, truncate), each at random sub-second intervals; meanwhile
// the shipper is killed with SIGKILL at random moments (some within the first
// second after its start) and restarted, twice in a row pointed at a closed
// port (Elasticsearch unreachable): the first of those runs is killed, the
// second stopped by SIGTERM (its shutdown deadline expires with nothing
// delivered). At the end every line must be in Elasticsearch exactly once, except
// lines written inside copytruncate's copy-to-truncate window (in neither
// file; counted apart). docs/file-input.md, "What is guaranteed", states what
// this proves.
func TestChaosCrashRotate(t *testing.T) {
	esURL := estest.URL(t)
	sc, full := chaosSize()
	bin := filepath.Join(t.TempDir(), "shipper")
	if out, err := exec.Command("go", "build", "-o", bin, "shipper/cmd/shipper").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	dataset := estest.Unique("chaos")
	index := "logs-" + dataset + "-default"
	t.Cleanup(func() { estest.DeleteDataStream(t, index) })

	// A port nothing listens on: Elasticsearch unreachable.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedURL := "http://" + l.Addr().String()
	l.Close()

	seed := uint64(time.Now().UnixNano())
	t.Logf("random seed %d (full=%v: %d files x %d lines, %d kills)", seed, full, sc.files, sc.linesEach, sc.kills)
	rng := rand.New(rand.NewPCG(seed, 1))

	// Kept for inspection when the test fails.
	work, err := os.MkdirTemp("", "shipper-chaos-")
	if err != nil {
		t.Fatal(err)
	}
	dir, state := filepath.Join(work, "files"), filepath.Join(work, "state")
	defer func() {
		if !t.Failed() {
			os.RemoveAll(work)
		} else {
			t.Logf("files, checkpoints and shipper logs kept in %s", work)
		}
	}()
	schemes := []string{rotRename, rotKubelet, rotCopyTruncate}
	var life atomic.Int32 // the shipper run going on: 1, 2, ...
	var files []*chaosFile
	for i := 0; i < sc.files; i++ {
		sch := schemes[i%len(schemes)]
		f := &stressFile{name: fmt.Sprintf("%s-%02d", sch, i), scheme: sch, lines: sc.linesEach, format: "plain"}
		switch {
		case sch == rotKubelet:
			f.format = "cri"
			f.path = filepath.Join(dir, "pods", fmt.Sprintf("chaos_pod-%02d_uid-%02d", i, i), "app", "0.log")
		case i%2 == 0:
			f.format = "cri"
			f.path = filepath.Join(dir, "logs", f.name+".log")
		default:
			f.path = filepath.Join(dir, "logs", f.name+".log")
		}
		files = append(files, &chaosFile{stressFile: f, rng: rand.New(rand.NewPCG(seed, uint64(i+2))), window: make(map[int]bool), life: &life})
	}
	globs := filepath.Join(dir, "logs", "*.log") + "," + filepath.Join(dir, "pods", "*", "*", "*.log")

	var (
		mu   sync.Mutex
		cmd  *exec.Cmd
		logs []*syncBuf
		runs []chaosRun
	)
	start := func(target string) {
		c := exec.Command(bin, "run", "--input=file", "--file-paths="+globs,
			"--state-dir="+state, "--elasticsearch-url="+target, "--dataset="+dataset,
			"--file-rotate-wait=1s", "--flush-interval=200ms", "--batch-bytes=1MiB", "--buffer-bytes=8MiB",
			"--compression=none", "--shutdown-timeout=2s", "--retry-max=1s")
		buf := &syncBuf{}
		c.Stdout, c.Stderr = buf, buf
		c.Env = append(os.Environ(), "SHIPPER_LOG_LEVEL=info")
		if err := c.Start(); err != nil {
			t.Fatalf("start shipper: %v", err)
		}
		mu.Lock()
		cmd = c
		logs = append(logs, buf)
		runs = append(runs, chaosRun{start: time.Now(), unreachable: target != esURL})
		life.Store(int32(len(runs)))
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

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	start(esURL)
	var wg sync.WaitGroup
	for _, f := range files {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f.run(ctx, t, sc.burst, sc.pause)
		}()
	}
	writersDone := make(chan struct{})
	go func() { wg.Wait(); close(writersDone) }()

	// The kills: every fourth within the first second after the start.
	// The restarts after kills unreachable-1 and unreachable point at the
	// closed port.
	unreachable := sc.kills / 2
	kills, early := 0, 0
	target := esURL
	for kills < sc.kills {
		var up time.Duration
		if kills%4 == 1 {
			up = time.Duration(50+rng.IntN(900)) * time.Millisecond
			early++
		} else {
			up = 200*time.Millisecond + time.Duration(rng.Int64N(int64(sc.upMax)))
		}
		if target == closedURL {
			up = min(up, 3*time.Second)
		}
		select {
		case <-time.After(up):
		case <-ctx.Done():
			t.Fatal("timed out")
		}
		mu.Lock()
		c := cmd
		mu.Unlock()
		how := "SIGKILL"
		if target == closedURL && kills == unreachable {
			how = "SIGTERM"
			c.Process.Signal(syscall.SIGTERM)
		} else if err := c.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatalf("kill: %v", err)
		}
		c.Wait()
		mu.Lock()
		runs[len(runs)-1].end, runs[len(runs)-1].how = time.Now(), how
		mu.Unlock()
		kills++
		var progress int64
		for _, f := range files {
			progress += f.written.Load()
		}
		t.Logf("%s %d after %v up (Elasticsearch %s), %d lines written", how, kills, up,
			map[bool]string{true: "unreachable", false: "reachable"}[target == closedURL], progress)
		time.Sleep(time.Duration(rng.IntN(800)) * time.Millisecond) // down: writers go on
		target = esURL
		if kills == unreachable-1 || kills == unreachable {
			target = closedURL
		}
		start(target)
	}
	select {
	case <-writersDone:
	case <-ctx.Done():
		t.Fatal("writers did not finish")
	}
	total, windowed := 0, 0
	for _, f := range files {
		total += int(f.written.Load())
		windowed += len(f.window)
	}
	t.Logf("writers done: %d lines in %d files, %d of them in copytruncate windows", total, len(files), windowed)

	// Wait until Elasticsearch holds every line (but those of the windows),
	// then stop the last shipper cleanly.
	deadline := time.Now().Add(5 * time.Minute)
	last := -1
	for {
		estest.Refresh(t, index)
		n := estest.Count(t, index, "")
		if n >= total-windowed || time.Now().After(deadline) {
			break
		}
		if n != last {
			t.Logf("waiting: %d documents of %d", n, total-windowed)
			last = n
		}
		time.Sleep(2 * time.Second)
	}
	time.Sleep(3 * time.Second) // anything more (duplicates) shows now
	mu.Lock()
	c := cmd
	mu.Unlock()
	c.Process.Signal(syscall.SIGTERM)
	if err := c.Wait(); err != nil {
		t.Errorf("last shipper exited with %v", err)
	}

	runs[len(runs)-1].end, runs[len(runs)-1].how = time.Now(), "SIGTERM"
	found := chaosCounts(t, index)
	var missing, dups, windowLost, windowGot, docs, rotations int
	for _, f := range files {
		got := found[f.name]
		var m, d, wl, wg int
		var firstMissing []int
		for s := 1; s <= int(f.written.Load()); s++ {
			n := got[s]
			docs += n
			if n > 1 {
				if d == 0 {
					chaosShowDocs(t, index, f.name, s)
				}
				d += n - 1
			}
			switch {
			case n == 0 && f.window[s]:
				wl++
			case n == 0:
				m++
				if len(firstMissing) < 8 {
					firstMissing = append(firstMissing, s)
				}
			case f.window[s]:
				wg++
			}
		}
		for s, n := range got {
			if s < 1 || s > int(f.written.Load()) {
				d += n
				docs += n
			}
		}
		if m > 0 || d > 0 {
			f.diagnose(t, index, got, runs)
		}
		missing += m
		dups += d
		windowLost += wl
		windowGot += wg
		rotations += int(f.rotations.Load())
		t.Logf("%-16s %-12s written %6d rotations %4d missing %4d duplicated %4d window %d (%d delivered) %v",
			f.name, f.scheme, f.written.Load(), f.rotations.Load(), m, d, len(f.window), wg, firstMissing)
	}
	for i, l := range logs {
		for _, line := range strings.Split(l.String(), "\n") {
			if strings.Contains(line, `"message":"shipper stopped"`) {
				t.Logf("run %d: %s", i+1, line)
			}
		}
	}
	t.Logf("CHAOS: %d lines written to %d files, %d rotations, %d kills (%d within 1 s of start, 2 restarts with Elasticsearch unreachable); "+
		"%d documents found; %d missing, %d duplicated; copytruncate window: %d lines written, %d lost, %d delivered",
		total, len(files), rotations, kills, early, docs, missing, dups, windowed, windowLost, windowGot)
	if missing != 0 || dups != 0 {
		for i, l := range logs {
			t.Logf("shipper run %d:\n%s", i+1, tail(l.String(), 2000))
			os.WriteFile(filepath.Join(work, fmt.Sprintf("shipper-%02d.log", i+1)), []byte(l.String()), 0o644)
		}
		t.Fatalf("want every line exactly once (but copytruncate windows): %d missing, %d duplicated", missing, dups)
	}
}

// chaosCounts returns, per file, how many documents hold each seq: a
// composite aggregation over (file, seq), paged.
func chaosCounts(t *testing.T, index string) map[string]map[int]int {
	t.Helper()
	estest.Refresh(t, index)
	out := make(map[string]map[int]int)
	var after json.RawMessage
	for {
		afterClause := ""
		if after != nil {
			afterClause = fmt.Sprintf(`,"after":%s`, after)
		}
		body := fmt.Sprintf(`{"size":0,"aggs":{"c":{"composite":{"size":10000%s,"sources":[
			{"f":{"terms":{"field":"file"}}},{"s":{"terms":{"field":"seq"}}}]}}}}`, afterClause)
		b := estest.MustDo(t, http.MethodPost, "/"+url.PathEscape(index)+"/_search", body)
		var r struct {
			Aggregations struct {
				C struct {
					AfterKey json.RawMessage `json:"after_key"`
					Buckets  []struct {
						Key struct {
							F string  `json:"f"`
							S float64 `json:"s"`
						} `json:"key"`
						DocCount int `json:"doc_count"`
					} `json:"buckets"`
				} `json:"c"`
			} `json:"aggregations"`
		}
		if err := json.Unmarshal(b, &r); err != nil {
			t.Fatalf("composite aggregation: %v: %.500s", err, b)
		}
		for _, bk := range r.Aggregations.C.Buckets {
			m := out[bk.Key.F]
			if m == nil {
				m = make(map[int]int)
				out[bk.Key.F] = m
			}
			m[int(bk.Key.S)] += bk.DocCount
		}
		if len(r.Aggregations.C.Buckets) == 0 || r.Aggregations.C.AfterKey == nil {
			return out
		}
		after = r.Aggregations.C.AfterKey
	}
}

// run writes f's lines in random bursts, rotating it by its scheme at random
// sub-second intervals, without waiting for the shipper.
func (f *chaosFile) run(ctx context.Context, t *testing.T, burst int, pause time.Duration) {
	if err := os.MkdirAll(filepath.Dir(f.path), 0o755); err != nil {
		t.Error(err)
		return
	}
	f.open(t)
	defer func() {
		if f.w != nil {
			f.w.Close()
		}
	}()
	var buf []byte
	seq := 1
	nextRotation := time.Now().Add(time.Duration(50+f.rng.IntN(900)) * time.Millisecond)
	for seq <= f.lines && ctx.Err() == nil && f.w != nil {
		n := min(1+f.rng.IntN(burst), f.lines-seq+1)
		buf = buf[:0]
		now := time.Now()
		for i := 0; i < n; i++ {
			buf = f.line(buf, seq+i, now)
			f.note(seq + i)
		}
		if _, err := f.w.Write(buf); err != nil {
			t.Errorf("write %s: %v", f.path, err)
			return
		}
		seq += n
		f.written.Store(int64(seq - 1))
		if now.After(nextRotation) && seq <= f.lines {
			seq = f.rotate(t, seq)
			nextRotation = time.Now().Add(time.Duration(50+f.rng.IntN(900)) * time.Millisecond)
		}
		time.Sleep(pause/3 + time.Duration(f.rng.Int64N(int64(pause)*4/3)))
	}
}

func (f *chaosFile) open(t *testing.T) {
	w, err := os.OpenFile(f.path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Error(err)
		f.w = nil
		return
	}
	f.w = w
}

// shift renames p.1 .. p.<chaosKeep-1> to the next number, dropping the
// last, as logrotate does with "rotate N".
func shift(p string) {
	os.Remove(fmt.Sprintf("%s.%d", p, chaosKeep))
	for i := chaosKeep - 1; i >= 1; i-- {
		os.Rename(fmt.Sprintf("%s.%d", p, i), fmt.Sprintf("%s.%d", p, i+1))
	}
}

// rotate rotates f by its scheme and returns the next seq (copytruncate
// writes the lines of its window).
func (f *chaosFile) rotate(t *testing.T, seq int) int {
	f.rotLifeOf = append(f.rotLifeOf, f.life.Load()) // of generation f.gen
	f.gen++
	p := f.path
	switch f.scheme {
	case rotRename:
		f.w.Close()
		shift(p)
		if err := os.Rename(p, p+".1"); err != nil {
			t.Error(err)
		}
		f.open(t)
	case rotKubelet:
		rotated, _ := filepath.Glob(p + ".*")
		sort.Strings(rotated)
		var kept []string
		for _, r := range rotated {
			if !strings.HasSuffix(r, ".tmp") {
				kept = append(kept, r)
			}
		}
		for len(kept) >= chaosKeep {
			os.Remove(kept[0])
			kept = kept[1:]
		}
		for _, r := range kept {
			if !strings.HasSuffix(r, ".gz") {
				if err := gzipInPlace(r); err != nil {
					t.Error(err)
				}
			}
		}
		if err := os.Rename(p, fmt.Sprintf("%s.20260101-%06d", p, f.gen)); err != nil {
			t.Error(err)
		}
		f.w.Close()
		f.open(t)
	case rotCopyTruncate:
		data, err := os.ReadFile(p)
		if err != nil {
			t.Error(err)
			return seq
		}
		shift(p)
		if err := os.WriteFile(p+".1", data, 0o644); err != nil {
			t.Error(err)
		}
		// The window: lines the application writes while the copy is
		// made; they end up in neither file.
		if n := min(f.rng.IntN(4), f.lines-seq+1); n > 0 {
			var buf []byte
			for i := 0; i < n; i++ {
				buf = f.line(buf, seq+i, time.Now())
				f.note(seq + i)
				f.mu.Lock()
				f.window[seq+i] = true
				f.mu.Unlock()
			}
			f.w.Write(buf)
			seq += n
			f.written.Store(int64(seq - 1))
		}
		if err := f.w.Truncate(0); err != nil {
			t.Error(err)
		}
	}
	f.rotations.Add(1)
	return seq
}

// chaosShowDocs logs the documents of one line of file: how a duplicate came
// to be (ids, file path, ingestion time).
func chaosShowDocs(t *testing.T, index, file string, seq int) {
	t.Helper()
	body := fmt.Sprintf(`{"size":10,"query":{"bool":{"filter":[{"term":{"file":%q}},{"term":{"seq":%d}}]}},"_source":["log.file.path","event.ingested","message"]}`, file, seq)
	b := estest.MustDo(t, http.MethodPost, "/"+url.PathEscape(index)+"/_search", body)
	t.Logf("documents of %s line %d: %.1500s", file, seq, b)
}

// note records, for the diagnosis, the generation and the shipper run of
// line seq.
func (f *chaosFile) note(seq int) {
	for len(f.genOf) <= seq {
		f.genOf = append(f.genOf, -1)
		f.lifeOf = append(f.lifeOf, -1)
	}
	f.genOf[seq], f.lifeOf[seq] = int32(f.gen), f.life.Load()
}

// chaosRun is one start of the shipper: when, against what, and how it
// ended (SIGKILL, SIGTERM).
type chaosRun struct {
	start, end  time.Time
	unreachable bool
	how         string
}

// runAt returns the run (1, 2, ...) that was going on at t, 0 before the
// first.
func runAt(runs []chaosRun, t time.Time) int {
	n := 0
	for i, r := range runs {
		if !r.start.After(t) {
			n = i + 1
		}
	}
	return n
}

// diagnose logs, for every run of missing or duplicated lines of f (a run
// being consecutive lines of one generation with the same fault), the
// generation, the rotation kind, the shipper runs during which they were
// written and during which the generation was rotated away; for duplicates
// also the documents (id, path, run that ingested them) of the run's first
// line. At most 40 runs of each fault per file.
func (f *chaosFile) diagnose(t *testing.T, index string, got map[int]int, runs []chaosRun) {
	t.Helper()
	desc := func(r int) string {
		if r <= 0 || r > len(runs) {
			return "none"
		}
		x := runs[r-1]
		es := "es-up"
		if x.unreachable {
			es = "es-down"
		}
		return fmt.Sprintf("%d(%s,up %.1fs,%s)", r, es, x.end.Sub(x.start).Seconds(), x.how)
	}
	written := int(f.written.Load())
	type span struct {
		from, to, gen int
		kind          string
	}
	var spans []span
	for s := 1; s <= written && s < len(f.genOf); s++ {
		kind := ""
		switch n := got[s]; {
		case n == 0 && !f.window[s]:
			kind = "missing"
		case n > 1:
			kind = "duplicated"
		}
		if kind == "" {
			continue
		}
		g := int(f.genOf[s])
		if k := len(spans) - 1; k >= 0 && spans[k].kind == kind && spans[k].gen == g && spans[k].to == s-1 {
			spans[k].to = s
			continue
		}
		spans = append(spans, span{from: s, to: s, gen: g, kind: kind})
	}
	shown := map[string]int{}
	for _, sp := range spans {
		shown[sp.kind]++
		if shown[sp.kind] > 40 {
			continue
		}
		rot := "not rotated (last generation)"
		if sp.gen < len(f.rotLifeOf) {
			rot = "rotated during run " + desc(int(f.rotLifeOf[sp.gen]))
		}
		// The generation's extent, to tell a whole generation from a part.
		first, last := 0, 0
		for s := 1; s < len(f.genOf); s++ {
			if int(f.genOf[s]) == sp.gen {
				if first == 0 || s < first {
					first = s
				}
				last = s
			}
		}
		t.Logf("DIAG %s %s %-10s lines %d-%d (%d) of generation %d (lines %d-%d), written during runs %s .. %s; generation %s",
			f.name, f.scheme, sp.kind, sp.from, sp.to, sp.to-sp.from+1, sp.gen, first, last,
			desc(int(f.lifeOf[sp.from])), desc(int(f.lifeOf[sp.to])), rot)
		if sp.kind == "duplicated" {
			body := fmt.Sprintf(`{"size":10,"query":{"bool":{"filter":[{"term":{"file":%q}},{"term":{"seq":%d}}]}},"_source":["log.file.path","log.offset","event.ingested"]}`, f.name, sp.from)
			b := estest.MustDo(t, http.MethodPost, "/"+url.PathEscape(index)+"/_search", body)
			var r struct {
				Hits struct {
					Hits []struct {
						ID     string          `json:"_id"`
						Source json.RawMessage `json:"_source"`
					} `json:"hits"`
				} `json:"hits"`
			}
			if err := json.Unmarshal(b, &r); err != nil {
				continue
			}
			for _, h := range r.Hits.Hits {
				var src struct {
					Ingested time.Time `json:"event.ingested"`
				}
				json.Unmarshal(h.Source, &src)
				idBase, idOff := "?", "?"
				if raw, err := base64.RawURLEncoding.DecodeString(h.ID); err == nil && len(raw) == 16 {
					idBase, idOff = fmt.Sprintf("%016x", binary.BigEndian.Uint64(raw[:8])), fmt.Sprint(binary.BigEndian.Uint64(raw[8:]))
				}
				t.Logf("DIAG   doc id base %s offset %s ingested in run %s: %s", idBase, idOff, desc(runAt(runs, src.Ingested)), h.Source)
			}
		}
	}
	for k, n := range shown {
		if n > 40 {
			t.Logf("DIAG %s: %d more %s spans not shown", f.name, n-40, k)
		}
	}
}
