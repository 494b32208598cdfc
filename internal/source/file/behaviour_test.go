package file

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"shipper/internal/checkpoint"
	"shipper/internal/pipeline"
)

func TestKubernetesMetadata(t *testing.T) {
	dir, state := t.TempDir(), t.TempDir()
	id := strings.Repeat("ab", 32)
	pods := filepath.Join(dir, "var/log/pods/shop_web-7d4_6f1c-uid/nginx")
	links := filepath.Join(dir, "var/log/containers")
	os.MkdirAll(pods, 0o755)
	os.MkdirAll(links, 0o755)
	target := filepath.Join(pods, "0.log")
	appendFile(t, target, `2024-01-02T03:04:05.123456789+01:00 stderr F {"msg":"hello","level":"warn","stream":"app's own"}`+"\n")
	link := filepath.Join(links, "web-7d4_shop_nginx-"+id+".log")
	if err := os.Symlink("../pods/shop_web-7d4_6f1c-uid/nginx/0.log", link); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(dir, state, "var/log/containers/*.log")
	cfg.NodeName = "node-1"
	cfg.Labels = []Label{{"team", "a\"b"}, {"env", "prod"}}
	r := startRun(t, cfg, pipeline.Config{})
	docs := r.waitDocs(1)
	r.stop()
	d := docs[0].M
	want := map[string]any{
		"input.type": "file", "stream": "stderr",
		"kubernetes.namespace": "shop", "kubernetes.pod.name": "web-7d4", "kubernetes.pod.uid": "6f1c-uid",
		"kubernetes.container.name": "nginx", "container.id": id, "kubernetes.node.name": "node-1",
		"labels.team": `a"b`, "labels.env": "prod",
		"message": "hello", "log.level": "warn", "@timestamp": "2024-01-02T02:04:05.123456789Z",
		// The line's own "stream" member is kept apart from ours.
		"stream_original": "app's own",
	}
	for k, v := range want {
		if d[k] != v {
			t.Errorf("%s = %v, want %v", k, d[k], v)
		}
	}
	// The link's name is the pod, namespace, container and container ID
	// above: the path itself would only repeat them.
	if p, ok := d["log.file.path"]; ok {
		t.Errorf("log.file.path = %v, want none for a /var/log/containers link", p)
	}
	if t.Failed() {
		t.Logf("document: %s", docs[0].Raw)
	}
}

func TestSidecarPodPaths(t *testing.T) {
	dir, state := t.TempDir(), t.TempDir()
	for _, c := range []string{"app", "proxy"} {
		p := filepath.Join(dir, "var/log/pods/ns_pod_uid-1", c)
		os.MkdirAll(p, 0o755)
		appendFile(t, filepath.Join(p, "0.log"), criLines("stdout", 0, 3))
	}
	r := startRun(t, testConfig(dir, state, "var/log/pods/ns_pod_uid-1/*/*.log"), pipeline.Config{})
	docs := r.waitDocs(6)
	r.stop()
	seen := map[any]int{}
	for _, d := range docs {
		seen[d.M["kubernetes.container.name"]]++
		if d.M["kubernetes.pod.uid"] != "uid-1" || d.M["container.id"] != nil {
			t.Fatalf("document %s", d.Raw)
		}
	}
	if seen["app"] != 3 || seen["proxy"] != 3 {
		t.Fatalf("containers %v", seen)
	}
}

// longCRIFile writes records of the given sizes split into P pieces of piece
// bytes, interleaved with short stderr lines.
func longCRIFile(t *testing.T, path string, sizes []int, piece int) []string {
	var b strings.Builder
	var contents []string
	for k, n := range sizes {
		content := make([]byte, n)
		for i := range content {
			content[i] = 'a' + byte((i+k)%26)
		}
		contents = append(contents, string(content))
		for i := 0; i < n; i += piece {
			tag := "P"
			if i+piece >= n {
				tag = "F"
			}
			fmt.Fprintf(&b, "2024-01-02T03:04:05Z stdout %s %s\n", tag, content[i:min(i+piece, n)])
			if (i/piece)%5 == 0 {
				b.WriteString("2024-01-02T03:04:05Z stderr F between\n")
			}
		}
	}
	appendFile(t, path, b.String())
	return contents
}

func TestLongCRIRecords(t *testing.T) {
	dir, state := t.TempDir(), t.TempDir()
	sizes := []int{100 << 10, 1 << 20, 5 << 20}
	contents := longCRIFile(t, filepath.Join(dir, "c.log"), sizes, 16<<10)
	cfg := testConfig(dir, state, "*.log")
	cfg.MaxRecordBytes = 1 << 20
	r := startRun(t, cfg, pipeline.Config{BatchBytes: 1 << 20, MaxBytes: 16 << 20})
	waitFor(t, "all lines", func() bool { return r.src.Stats().Acked > 3 && r.src.Stats().Bytes > 6<<20 })
	time.Sleep(100 * time.Millisecond)
	r.stop()
	var got []doc
	for _, d := range r.sink.snapshot() {
		if d.M["stream"] == "stdout" {
			got = append(got, d)
		}
	}
	if len(got) != 3 {
		t.Fatalf("%d stdout records, want 3", len(got))
	}
	for i, d := range got {
		msg, _ := d.M["message"].(string)
		trunc := sizes[i] > cfg.MaxRecordBytes
		wantLen := min(sizes[i], cfg.MaxRecordBytes)
		if len(msg) != wantLen || msg != contents[i][:wantLen] {
			t.Fatalf("record %d: %d bytes, want %d", i, len(msg), wantLen)
		}
		flags := fmt.Sprint(d.M["log.flags"])
		if trunc != strings.Contains(flags, "truncated") {
			t.Fatalf("record %d of %d bytes: log.flags %s", i, sizes[i], flags)
		}
		if trunc && d.M["log.original_size"] != float64(sizes[i]) {
			t.Fatalf("record %d: log.original_size %v, want %d", i, d.M["log.original_size"], sizes[i])
		}
	}
}

func TestLongDockerRecords(t *testing.T) {
	dir, state := t.TempDir(), t.TempDir()
	sizes := []int{100 << 10, 1 << 20, 5 << 20}
	var b strings.Builder
	for k, n := range sizes {
		content := strings.Repeat(string(rune('a'+k)), n)
		for i := 0; i < n; i += 16 << 10 {
			piece := content[i:min(i+16<<10, n)]
			if i+16<<10 >= n {
				piece += "\n"
			}
			line, _ := json.Marshal(map[string]string{"log": piece, "stream": "stdout", "time": "2024-01-02T03:04:05.5Z"})
			b.Write(line)
			b.WriteByte('\n')
		}
	}
	appendFile(t, filepath.Join(dir, "d-json.log"), b.String())
	cfg := testConfig(dir, state, "*.log")
	cfg.MaxRecordBytes = 1 << 20
	r := startRun(t, cfg, pipeline.Config{BatchBytes: 1 << 20, MaxBytes: 16 << 20})
	docs := r.waitDocs(3)
	r.stop()
	for i, d := range docs {
		msg, _ := d.M["message"].(string)
		wantLen := min(sizes[i], cfg.MaxRecordBytes)
		if len(msg) != wantLen || msg != strings.Repeat(string(rune('a'+i)), wantLen) {
			t.Fatalf("record %d: %d bytes, want %d", i, len(msg), wantLen)
		}
		if trunc := sizes[i] > cfg.MaxRecordBytes; trunc != strings.Contains(fmt.Sprint(d.M["log.flags"]), "truncated") {
			t.Fatalf("record %d: log.flags %v", i, d.M["log.flags"])
		}
		if d.M["@timestamp"] != "2024-01-02T03:04:05.5Z" {
			t.Fatalf("record %d: @timestamp %v", i, d.M["@timestamp"])
		}
	}
}

func TestMultilineFlushTimeout(t *testing.T) {
	dir, state := t.TempDir(), t.TempDir()
	path := filepath.Join(dir, "app.log")
	appendFile(t, path, "2024-01-02 boom\n\tat a.b(C.java:1)\n\tat d.e(F.java:2)\n2024-01-02 next\nsingle\n")
	cfg := testConfig(dir, state, "*.log")
	cfg.Multiline = &MultilineConfig{Start: regexp.MustCompile(`^\d{4}-`), Timeout: 100 * time.Millisecond}
	r := startRun(t, cfg, pipeline.Config{})
	// "2024-01-02 next" and "single" are one group, shipped after the timeout.
	docs := r.waitDocs(2)
	r.stop()
	if got := messages(docs, ""); len(got) != 2 || got[0] != "2024-01-02 boom\n\tat a.b(C.java:1)\n\tat d.e(F.java:2)" || got[1] != "2024-01-02 next\nsingle" {
		t.Fatalf("records %q", got)
	}
	// Everything is committed once the last group went out.
	if es := r.src.store.All(); len(es) != 1 || es[0].Offset != int64(len("2024-01-02 boom\n\tat a.b(C.java:1)\n\tat d.e(F.java:2)\n2024-01-02 next\nsingle\n")) {
		t.Fatalf("checkpoints %+v", es)
	}
}

func TestExcludeAndMaxOpenFiles(t *testing.T) {
	dir, state := t.TempDir(), t.TempDir()
	for i := 0; i < 6; i++ {
		appendFile(t, filepath.Join(dir, fmt.Sprintf("f%d.log", i)), numbered(fmt.Sprintf("f%d", i), 0, 10))
	}
	appendFile(t, filepath.Join(dir, "skip-me.log"), "no\n")
	cfg := testConfig(dir, state, "*.log")
	cfg.Exclude = []string{"skip-*"}
	cfg.MaxOpenFiles = 2
	cfg.CloseInactive = 50 * time.Millisecond
	r := startRun(t, cfg, pipeline.Config{})
	maxOpen := int64(0)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for len(r.sink.snapshot()) < 60 {
			if n := r.src.Stats().OpenNow; n > maxOpen {
				maxOpen = n
			}
			time.Sleep(time.Millisecond)
		}
	}()
	r.waitDocs(60)
	<-done
	time.Sleep(50 * time.Millisecond)
	r.stop()
	if msgs := messages(r.sink.snapshot(), "skip-me.log"); len(msgs) != 0 {
		t.Fatalf("excluded file shipped: %q", msgs)
	}
	if maxOpen > 2 {
		t.Fatalf("%d files open at once, limit 2", maxOpen)
	}
}

func TestCloseInactiveAndReopen(t *testing.T) {
	dir, state := t.TempDir(), t.TempDir()
	path := filepath.Join(dir, "app.log")
	appendFile(t, path, numbered("a", 0, 10))
	cfg := testConfig(dir, state, "*.log")
	cfg.CloseInactive = 100 * time.Millisecond
	r := startRun(t, cfg, pipeline.Config{})
	r.waitDocs(10)
	waitFor(t, "the idle file to be closed", func() bool { return r.src.Stats().OpenNow == 0 })
	appendFile(t, path, numbered("a", 10, 20))
	r.waitDocs(20)
	waitFor(t, "the idle file to be closed again", func() bool { return r.src.Stats().OpenNow == 0 })
	// Rotated while closed: the lines written before the rename are read
	// from the renamed file.
	appendFile(t, path, numbered("a", 20, 30))
	os.Rename(path, path+".1")
	appendFile(t, path, numbered("a", 30, 40))
	r.waitDocs(40)
	time.Sleep(50 * time.Millisecond)
	r.stop()
	wantMessages(t, messages(r.sink.snapshot(), "app.log"), numbered("a", 0, 40))
}

func TestRotatedFileReadToEndUnderBackpressure(t *testing.T) {
	dir, state := t.TempDir(), t.TempDir()
	path := filepath.Join(dir, "app.log")
	cfg := testConfig(dir, state, "*.log")
	cfg.RotateWait = 10 * time.Millisecond
	r := startRun(t, cfg, pipeline.Config{BatchBytes: 64 << 10, MaxBytes: 200 << 10})
	time.Sleep(3 * cfg.RescanInterval) // the first scan found nothing
	r.sink.hold()
	body := strings.Repeat("y", 200)
	var want strings.Builder
	for i := 0; i < 5000; i++ { // ~1 MB, far more than the budget
		fmt.Fprintf(&want, "a %d %s\n", i, body)
	}
	appendFile(t, path, want.String())
	time.Sleep(200 * time.Millisecond)
	// Rotated and then deleted while the shipper cannot send: the open
	// descriptor keeps the content readable.
	os.Rename(path, path+".1")
	appendFile(t, path, "after\n")
	time.Sleep(50 * time.Millisecond)
	os.Remove(path + ".1")
	time.Sleep(100 * time.Millisecond)
	r.sink.release()
	want.WriteString("after\n")
	r.waitDocs(5001)
	r.stop()
	wantMessages(t, messages(r.sink.snapshot(), "app.log"), want.String())
}

func TestInodeReusedByAnotherFile(t *testing.T) {
	// A checkpoint whose device and inode now hold another content (the
	// file was deleted and its inode reused) must not be applied.
	dir, state := t.TempDir(), t.TempDir()
	path := filepath.Join(dir, "app.log")
	appendFile(t, path, numbered("new", 0, 10))
	f, _ := os.Open(path)
	id, err := checkpoint.Identify(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	st, _ := checkpoint.Open(state, testLogger())
	other := id
	other.Fingerprint ^= 1
	st.Set(checkpoint.Entry{ID: other, Path: path, Offset: 30})
	if err := st.Flush(); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(dir, state, "*.log")
	cfg.StartAtEnd = true // a replaced file is read from its beginning all the same
	r := startRun(t, cfg, pipeline.Config{})
	docs := r.waitDocs(10)
	r.stop()
	wantMessages(t, messages(docs, ""), numbered("new", 0, 10))
}

func TestDropNewestPolicyDoesNotDrop(t *testing.T) {
	dir, state := t.TempDir(), t.TempDir()
	path := filepath.Join(dir, "app.log")
	cfg := testConfig(dir, state, "*.log")
	r := startRun(t, cfg, pipeline.Config{BatchBytes: 64 << 10, MaxBytes: 160 << 10, FullPolicy: pipeline.DropNewest})
	r.sink.hold()
	var want strings.Builder
	for i := 0; i < 4000; i++ {
		fmt.Fprintf(&want, "a %d %s\n", i, strings.Repeat("z", 100))
	}
	appendFile(t, path, want.String())
	time.Sleep(200 * time.Millisecond)
	r.sink.release()
	r.waitDocs(4000)
	r.stop()
	wantMessages(t, messages(r.sink.snapshot(), ""), want.String())
	if st := r.src.Stats(); st.Backoffs == 0 {
		t.Fatalf("stats %+v: expected the full pipeline to be hit", st)
	}
}

// TestSidecarMountedPodDirectory: in sidecar mode the pod's directory is
// mounted at a path that does not name the pod (subPathExpr); the pod comes
// from the downward API and the container from the file's directory.
func TestSidecarMountedPodDirectory(t *testing.T) {
	dir, state := t.TempDir(), t.TempDir()
	p := filepath.Join(dir, "var/log/pod/web")
	os.MkdirAll(p, 0o755)
	appendFile(t, filepath.Join(p, "0.log"), criLines("stdout", 0, 2))
	cfg := testConfig(dir, state, "var/log/pod/*/*.log")
	cfg.Pod = PodIdentity{Namespace: "shop", Name: "web-7d4", UID: "6f1c-uid"}
	r := startRun(t, cfg, pipeline.Config{})
	docs := r.waitDocs(2)
	r.stop()
	for _, d := range docs {
		if d.M["kubernetes.namespace"] != "shop" || d.M["kubernetes.pod.name"] != "web-7d4" ||
			d.M["kubernetes.pod.uid"] != "6f1c-uid" || d.M["kubernetes.container.name"] != "web" {
			t.Fatalf("document %s", d.Raw)
		}
	}
}

// TestCRITimeAsTimestamp: the runtime's timestamp is the @timestamp of a CRI
// record whose content has no usable time of its own (plain text, JSON
// without a time, JSON with an unusable one), of the first piece for a joined
// record; a line whose runtime timestamp does not parse is shipped whole as
// the message, with the read time; a runtime time of 0 (1970) is not used.
func TestCRITimeAsTimestamp(t *testing.T) {
	dir, state := t.TempDir(), t.TempDir()
	appendFile(t, filepath.Join(dir, "c.log"), strings.Join([]string{
		`2024-01-02T03:04:05.25+01:00 stdout F plain text`,
		`2024-01-02T03:04:05.5+01:00 stdout F {"msg":"json without a time"}`,
		`2024-01-02T03:04:05.75+01:00 stdout F {"time":"2024-05-01T10:00:00Z","msg":"own time"}`,
		`2024-01-02T03:04:05.75+01:00 stderr F {"time":"yesterday","msg":"unusable own time"}`,
		`2024-01-02T02:04:06.000000001Z stdout P joined `,
		`2024-01-02T02:04:07Z stdout F record`,
		`2024-13-02T03:04:05.75+01:00 stdout F runtime time out of range`,
		`2024-01-02T03:04:05.75+01:00x stdout F runtime time with garbage`,
		`1970-01-01T00:00:00Z stdout F time zero`,
		`2024-01-02T02:04:08.1Z stdout F last`,
	}, "\n")+"\n")
	r := startRun(t, testConfig(dir, state, "c.log"), pipeline.Config{})
	docs := r.waitDocs(9)
	r.stop()
	read := func(ts any) bool {
		s, _ := ts.(string)
		return !strings.HasPrefix(s, "2024-01-02") && !strings.HasPrefix(s, "1970")
	}
	for i, w := range []struct {
		msg string
		ts  string // "" for the read time
	}{
		{"plain text", "2024-01-02T02:04:05.25Z"},
		{"json without a time", "2024-01-02T02:04:05.5Z"},
		{"own time", "2024-05-01T10:00:00Z"},
		{"unusable own time", "2024-01-02T02:04:05.75Z"},
		{"joined record", "2024-01-02T02:04:06.000000001Z"},
		{"2024-13-02T03:04:05.75+01:00 stdout F runtime time out of range", ""},
		{"2024-01-02T03:04:05.75+01:00x stdout F runtime time with garbage", ""},
		{"time zero", ""},
		{"last", "2024-01-02T02:04:08.1Z"},
	} {
		d := docs[i].M
		if d["message"] != w.msg || w.ts != "" && d["@timestamp"] != w.ts || w.ts == "" && !read(d["@timestamp"]) {
			t.Errorf("document %d: message %q @timestamp %v, want %q %q", i, d["message"], d["@timestamp"], w.msg, w.ts)
		}
	}
	if f := fmt.Sprint(docs[3].M["log.flags"]); !strings.Contains(f, "timestamp_unusable") {
		t.Errorf("log.flags %s, want timestamp_unusable", f)
	}
}

// TestDockerTimeAsTimestamp is TestCRITimeAsTimestamp for json-file, whose
// lines with an unparsable or missing "time" are not malformed: they get the
// read time.
func TestDockerTimeAsTimestamp(t *testing.T) {
	dir, state := t.TempDir(), t.TempDir()
	appendFile(t, filepath.Join(dir, "d.log"), strings.Join([]string{
		`{"log":"plain text\n","stream":"stdout","time":"2024-01-02T03:04:05.25+01:00"}`,
		`{"log":"{\"msg\":\"json without a time\"}\n","stream":"stdout","time":"2024-01-02T02:04:05.5Z"}`,
		`{"log":"{\"time\":\"2024-05-01T10:00:00Z\",\"msg\":\"own time\"}\n","stream":"stdout","time":"2024-01-02T02:04:05.75Z"}`,
		`{"log":"{\"time\":\"yesterday\",\"msg\":\"unusable own time\"}\n","stream":"stderr","time":"2024-01-02T02:04:05.75Z"}`,
		`{"log":"joined ","stream":"stdout","time":"2024-01-02T02:04:06.000000001Z"}`,
		`{"log":"record\n","stream":"stdout","time":"2024-01-02T02:04:07Z"}`,
		`{"log":"runtime time out of range\n","stream":"stdout","time":"2024-13-02T03:04:05.75Z"}`,
		`{"log":"runtime time with an escape\n","stream":"stdout","time":"2024-01-02T02:04:05.75\u005a"}`,
		`{"log":"no runtime time\n","stream":"stdout"}`,
		`{"log":"time zero\n","stream":"stdout","time":"1970-01-01T00:00:00Z"}`,
		`{"log":"general parser\n", "stream":"stdout","time":"2024-01-02T02:04:08.2Z"}`,
		`{"log":"last\n","stream":"stdout","time":"2024-01-02T02:04:08.1Z"}`,
	}, "\n")+"\n")
	r := startRun(t, testConfig(dir, state, "d.log"), pipeline.Config{})
	docs := r.waitDocs(11)
	r.stop()
	read := func(ts any) bool {
		s, _ := ts.(string)
		return !strings.HasPrefix(s, "2024-01-02") && !strings.HasPrefix(s, "1970")
	}
	for i, w := range []struct {
		msg string
		ts  string // "" for the read time
	}{
		{"plain text", "2024-01-02T02:04:05.25Z"},
		{"json without a time", "2024-01-02T02:04:05.5Z"},
		{"own time", "2024-05-01T10:00:00Z"},
		{"unusable own time", "2024-01-02T02:04:05.75Z"},
		{"joined record", "2024-01-02T02:04:06.000000001Z"},
		{"runtime time out of range", ""},
		{"runtime time with an escape", ""},
		{"no runtime time", ""},
		{"time zero", ""},
		{"general parser", "2024-01-02T02:04:08.2Z"},
		{"last", "2024-01-02T02:04:08.1Z"},
	} {
		d := docs[i].M
		if d["message"] != w.msg || w.ts != "" && d["@timestamp"] != w.ts || w.ts == "" && !read(d["@timestamp"]) {
			t.Errorf("document %d: message %q @timestamp %v, want %q %q", i, d["message"], d["@timestamp"], w.msg, w.ts)
		}
	}
	if f := fmt.Sprint(docs[3].M["log.flags"]); !strings.Contains(f, "timestamp_unusable") {
		t.Errorf("log.flags %s, want timestamp_unusable", f)
	}
}
