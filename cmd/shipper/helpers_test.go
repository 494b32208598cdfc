package main

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
)

type build struct {
	once sync.Once
	path string
	err  error
	out  []byte
}

var (
	builds   [3]build // shipper plain, shipper race, demo-app
	buildDir string
	dirOnce  sync.Once
)

// TestMain removes the binaries built by shipperBinary and demoAppBinary and
// the benchmark corpus files.
func TestMain(m *testing.M) {
	floorMain()
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	if corpusFiles.dir != "" && corpusFiles.kept == "" {
		os.RemoveAll(corpusFiles.dir)
	}
	os.Exit(code)
}

// shipperBinary builds the shipper command once per test run and returns its
// path: with the race detector when race is set (functional tests), without
// it for tests that measure memory.
func shipperBinary(t testing.TB, race bool) string {
	t.Helper()
	dirOnce.Do(func() { buildDir, _ = os.MkdirTemp("", "shipper-bin-") })
	i, name, args := 0, "shipper", []string{"build"}
	if race {
		i, name, args = 1, "shipper-race", []string{"build", "-race"}
	}
	b := &builds[i]
	b.once.Do(func() {
		b.path = filepath.Join(buildDir, name)
		b.out, b.err = exec.Command("go", append(args, "-o", b.path, ".")...).CombinedOutput()
	})
	if b.err != nil {
		t.Fatalf("cannot build the shipper binary: %v\n%s", b.err, b.out)
	}
	return b.path
}

// startShipper starts the shipper binary (built with the race detector)
// with args, its standard input a pipe, and collects its log lines.
func startShipper(t *testing.T, args ...string) (*exec.Cmd, io.WriteCloser, *logLines) {
	t.Helper()
	cmd := exec.Command(shipperBinary(t, true), args...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr := logsOf(cmd)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd, stdin, stderr
}

// demoAppBinary builds cmd/demo-app once per test run and returns its path.
func demoAppBinary(t testing.TB) string {
	t.Helper()
	dirOnce.Do(func() { buildDir, _ = os.MkdirTemp("", "shipper-bin-") })
	b := &builds[2]
	b.once.Do(func() {
		b.path = filepath.Join(buildDir, "demo-app")
		b.out, b.err = exec.Command("go", "build", "-o", b.path, "shipper/cmd/demo-app").CombinedOutput()
	})
	if b.err != nil {
		t.Fatalf("cannot build the demo app: %v\n%s", b.err, b.out)
	}
	return b.path
}

// logLines collects the shipper's own JSON log lines (stderr) and keeps them
// for assertions. It is the process's standard error itself (logsOf), not
// a reader of exec.Cmd.StderrPipe: Wait closes that pipe as soon as the
// process has exited, so lines not read by then (the final summary, often)
// were lost. exec copies into a Writer before Wait returns.
type logLines struct {
	mu      sync.Mutex
	lines   []map[string]any
	raw     bytes.Buffer
	partial []byte // the last line, until its newline arrives
	// done is closed from the start; it remains for callers written for a
	// reader that finished after the process: every line has been
	// written once cmd.Wait has returned.
	done chan struct{}
}

// logsOf makes cmd's standard error a logLines. Call it before cmd.Start.
func logsOf(cmd *exec.Cmd) *logLines {
	l := &logLines{done: make(chan struct{})}
	close(l.done)
	cmd.Stderr = l
	return l
}

// Write takes what the process wrote to standard error, keeping complete
// lines; it is called by exec's copying goroutine.
func (l *logLines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.partial = append(l.partial, p...)
	rest := l.partial
	for {
		i := bytes.IndexByte(rest, '\n')
		if i < 0 {
			break
		}
		l.raw.Write(rest[:i+1])
		var m map[string]any
		if json.Unmarshal(rest[:i], &m) == nil {
			l.lines = append(l.lines, m)
		}
		rest = rest[i+1:]
	}
	l.partial = l.partial[:copy(l.partial, rest)]
	return len(p), nil
}

// find returns the last log line whose message is msg.
func (l *logLines) find(msg string) map[string]any {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i := len(l.lines) - 1; i >= 0; i-- {
		if l.lines[i]["message"] == msg {
			return l.lines[i]
		}
	}
	return nil
}

// findPrefix returns the last log line whose message starts with prefix.
func (l *logLines) findPrefix(prefix string) map[string]any {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i := len(l.lines) - 1; i >= 0; i-- {
		if m, _ := l.lines[i]["message"].(string); strings.HasPrefix(m, prefix) {
			return l.lines[i]
		}
	}
	return nil
}

func (l *logLines) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.raw.String()
	if len(s) > 8000 {
		s = "...\n" + s[len(s)-8000:]
	}
	return s
}

// num reads a number at a dotted path of a decoded log line.
func num(m map[string]any, path string) int64 {
	var v any = m
	for _, k := range strings.Split(path, ".") {
		mm, ok := v.(map[string]any)
		if !ok {
			return -1
		}
		v = mm[k]
	}
	switch x := v.(type) {
	case float64:
		return int64(x)
	case string:
		n, _ := strconv.ParseInt(x, 10, 64)
		return n
	}
	return -1
}

// vmKiB reads a /proc/<pid>/status field (VmRSS, VmHWM) in KiB.
func vmKiB(pid int, field string) int64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, field+":") {
			f := strings.Fields(line[len(field)+1:])
			if len(f) > 0 {
				n, _ := strconv.ParseInt(f[0], 10, 64)
				return n
			}
		}
	}
	return -1
}
