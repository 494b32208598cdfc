package main

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// runBinary runs the shipper binary with args and the environment env and
// returns its exit code, standard output and standard error.
func runBinary(t *testing.T, env []string, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(shipperBinary(t, false), args...)
	cmd.Env = append([]string{"PATH=/usr/bin:/bin", "HOME=" + t.TempDir()}, env...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return code, out.String(), errOut.String()
}

// The first things a new user types: help is short, names the commands,
// and points at the full reference; errors are one line and a pointer.
func TestCommandLineFirstUse(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	for _, args := range [][]string{{"--help"}, {"-h"}, {"help"}} {
		code, out, errOut := runBinary(t, nil, args...)
		if code != 0 || errOut != "" {
			t.Errorf("%v: exit %d, stderr %q", args, code, errOut)
		}
		for _, want := range []string{"shipper setup", "shipper check", "shipper version", "shipper run --help", "--elasticsearch-url"} {
			if !strings.Contains(out, want) {
				t.Errorf("%v does not mention %q:\n%s", args, want, out)
			}
		}
		if n := strings.Count(out, "\n"); n > 40 {
			t.Errorf("%v: %d lines, want a short overview", args, n)
		}
	}
	code, out, _ := runBinary(t, nil, "run", "--help")
	if code != 0 || !strings.Contains(out, "--file-paths") || !strings.Contains(out, "--forward-address") {
		t.Errorf("run --help: exit %d, want every option on stdout:\n%s", code, out)
	}
	for _, args := range [][]string{{"version"}, {"--version"}} {
		code, out, _ := runBinary(t, nil, args...)
		if code != 0 || !strings.HasPrefix(out, "shipper ") {
			t.Errorf("%v: exit %d, output %q", args, code, out)
		}
	}
	f := func(env []string, args []string, want string) {
		t.Helper()
		code, out, errOut := runBinary(t, env, args...)
		if code != 2 || out != "" {
			t.Errorf("%v: exit %d stdout %q, want 2 and nothing on stdout", args, code, out)
		}
		if !strings.Contains(errOut, want) || !strings.Contains(errOut, "--help") {
			t.Errorf("%v: stderr %q, want %q and a pointer to --help", args, errOut, want)
		}
		if n := strings.Count(errOut, "\n"); n > 4 {
			t.Errorf("%v: %d lines of error, want the error and a pointer:\n%s", args, n, errOut)
		}
	}
	f(nil, []string{"--no-such-option"}, "no-such-option")
	f(nil, []string{"run", "--workers=lots"}, "workers")
	f(nil, []string{"setup", "--only=nothing"}, "only")
	f(nil, []string{"frobnicate"}, `unknown command "frobnicate"`)
	f([]string{"ELASTICSEARCH_URL=http://"}, []string{"check"}, "no host name")
}

// 'shipper check' notices a Forward port that another process holds.
func TestCheckForwardPortTaken(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	es := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Elastic-Product", "Elasticsearch")
		w.Write([]byte(`{"status":"green"}`))
	}))
	defer es.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	env := []string{"ELASTICSEARCH_URL=" + es.URL}
	code, out, _ := runBinary(t, env, "check", "--input=forward", "--forward-address="+ln.Addr().String())
	if code != 1 || !strings.Contains(out, "cannot listen on "+ln.Addr().String()) {
		t.Errorf("check with the Forward port taken: exit %d, want 1 and a line saying so:\n%s", code, out)
	}
	free := ln.Addr().String()
	ln.Close()
	code, out, _ = runBinary(t, env, "check", "--input=forward", "--forward-address="+free)
	if code != 0 || strings.Contains(out, "cannot listen") {
		t.Errorf("check with the Forward port free: exit %d:\n%s", code, out)
	}
	// A dataset with '-' is accepted, and check says what it becomes.
	code, out, _ = runBinary(t, env, "check", "--dataset=my-app")
	if code != 0 || !strings.Contains(out, "logs-my_app-default") || !strings.Contains(out, `"my-app" is used as "my_app"`) {
		t.Errorf("check --dataset=my-app: exit %d:\n%s", code, out)
	}
}

// The shipper logs a progress line while it runs, unless told not to.
func TestProgressLine(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	es := httptest.NewServer(&fakeES{})
	defer es.Close()
	f := func(interval string, want bool) {
		t.Helper()
		cmd, stdin, logs := startShipper(t, "--elasticsearch-url="+es.URL, "--templates=skip",
			"--flush-interval=50ms", "--progress-interval="+interval)
		// Lines keep coming until a progress line has counted some as
		// delivered, or for a bounded time when none is expected.
		var line map[string]any
		deadline := time.Now().Add(2 * time.Minute)
		if !want {
			deadline = time.Now().Add(3 * time.Second)
		}
		for i := 0; time.Now().Before(deadline); i++ {
			if _, err := fmt.Fprintf(stdin, `{"message":"line %d"}`+"\n", i); err != nil {
				t.Fatalf("writing to the shipper: %v\n%s", err, logs)
			}
			if line = logs.findPrefix("progress: "); line != nil && num(line, "delivered") > 0 {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		stdin.Close()
		if err := cmd.Wait(); err != nil {
			t.Errorf("shipper: %v\n%s", err, logs)
		}
		<-logs.done
		switch {
		case want && (line == nil || num(line, "delivered") == 0):
			t.Errorf("--progress-interval=%s: no progress line counting deliveries within 2 minutes:\n%s", interval, logs)
		case want:
			for _, k := range []string{"read_per_s", "delivered_per_s", "waiting", "request_failures", "dead_lettered"} {
				if _, ok := line[k]; !ok {
					t.Errorf("the progress line lacks %s: %v", k, line)
				}
			}
		case !want && logs.findPrefix("progress: ") != nil:
			t.Errorf("--progress-interval=%s: a progress line was logged:\n%s", interval, logs)
		}
	}
	f("100ms", true)
	f("0", false)
}

// /metrics labels the records per input, the documents per status and the
// delivered offset per followed file; a deleted file's series goes away.
func TestMetricsLabels(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	es := httptest.NewServer(&fakeES{})
	defer es.Close()
	dir := t.TempDir()
	logFile := filepath.Join(dir, "app.log")
	if err := os.WriteFile(logFile, []byte("one\ntwo\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd, stdin, logs := startShipper(t, "--elasticsearch-url="+es.URL, "--templates=skip", "--flush-interval=50ms",
		"--input=stdin,file", "--file-paths="+filepath.Join(dir, "*.log"), "--file-format=plain", "--state-dir="+t.TempDir(),
		"--file-rescan-interval=100ms", "--file-poll-interval=50ms", "--file-rotate-wait=100ms",
		"--http-address=127.0.0.1:0", "--progress-interval=0")
	defer func() {
		stdin.Close()
		cmd.Process.Signal(os.Interrupt)
		cmd.Wait()
	}()
	fmt.Fprintln(stdin, "from stdin")
	var url string
	m := map[string]float64{}
	series := `shipper_file_acked_offset_bytes{path="` + logFile + `",inode=`
	fileSeries := func() (string, bool) {
		for k := range m {
			if strings.HasPrefix(k, series) {
				return k, true
			}
		}
		return "", false
	}
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(50 * time.Millisecond) {
		if url == "" {
			if l := logs.find("serving /healthz, /readyz and /metrics"); l != nil {
				url = "http://" + l["address"].(string) + "/metrics"
			}
		}
		if url != "" {
			m = scrape(t, url)
			k, ok := fileSeries()
			if m[`shipper_input_records_total{input="stdin"}`] == 1 && m[`shipper_input_records_total{input="file"}`] == 2 &&
				m[`shipper_es_documents_total{status="indexed"}`] == 3 && ok && m[k] == 8 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("within 2 minutes, /metrics (%s) did not show 1 stdin record, 2 file records, 3 indexed documents and app.log delivered to offset 8:\n%v\n%s", url, m, logs)
		}
	}
	if _, ok := m[`shipper_es_documents_total{status="dead_lettered"}`]; !ok {
		t.Errorf("no dead_lettered series: %v", m)
	}
	if err := os.Remove(logFile); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(50 * time.Millisecond) {
		m = scrape(t, url)
		if _, ok := fileSeries(); !ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the series of the deleted file is still there after 2 minutes: %v", m)
		}
	}
}
