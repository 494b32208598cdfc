package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	assets "shipper/elasticsearch"
)

// recordedServer answers every request with the next recorded HTTP
// response of internal/setup/testdata (the last one repeats) and keeps the
// requests it got.
type recordedServer struct {
	URL   string
	mu    sync.Mutex
	files []string
	reqs  []*http.Request
}

func newRecordedServer(t *testing.T, files ...string) *recordedServer {
	t.Helper()
	s := &recordedServer{files: files}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		s.mu.Lock()
		name := s.files[min(len(s.reqs), len(s.files)-1)]
		s.reqs = append(s.reqs, r.Clone(context.Background()))
		s.mu.Unlock()
		b, err := os.ReadFile(filepath.Join("..", "..", "internal", "setup", "testdata", name))
		if err != nil {
			t.Error(err)
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		res, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(b)), nil)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			return
		}
		defer res.Body.Close()
		for k, vs := range res.Header {
			if !strings.EqualFold(k, "Content-Length") {
				w.Header()[k] = vs
			}
		}
		w.WriteHeader(res.StatusCode)
		io.Copy(w, res.Body)
	}))
	t.Cleanup(srv.Close)
	s.URL = srv.URL
	return s
}

func (s *recordedServer) requests() []*http.Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*http.Request(nil), s.reqs...)
}

// env returns a getenv over vars.
func env(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

// freeURL returns an http URL on which nothing listens.
func freeURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := "http://" + ln.Addr().String()
	ln.Close()
	return u
}

func runSetupT(t *testing.T, vars map[string]string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = runSetup(context.Background(), args, env(vars), &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestSetupHelpListsEveryOption(t *testing.T) {
	code, help, _ := runSetupT(t, nil, "--help")
	if code != 0 {
		t.Fatalf("--help: exit %d, want 0", code)
	}
	for _, want := range []string{
		"--only=VALUE", "SHIPPER_SETUP_ONLY", "elasticsearch", "kibana",
		"--elasticsearch-url=VALUE", "ELASTICSEARCH_URL", "default http://localhost:9200",
		"--elasticsearch-username=VALUE", "ELASTICSEARCH_USERNAME",
		"--elasticsearch-password=VALUE", "ELASTICSEARCH_PASSWORD",
		"--elasticsearch-api-key=VALUE", "ELASTICSEARCH_API_KEY",
		"--elasticsearch-ca-file=VALUE", "ELASTICSEARCH_CA_FILE",
		"--elasticsearch-insecure-skip-verify", "SHIPPER_ELASTICSEARCH_INSECURE_SKIP_VERIFY",
		"--kibana-url=VALUE", "KIBANA_URL", "default http://localhost:5601",
		"--kibana-space=VALUE", "KIBANA_SPACE",
		"--timeout=VALUE", "SHIPPER_SETUP_TIMEOUT", "default 2m0s",
		"--log-level=VALUE",
		"Exit status: 0 done; 1", "2 invalid options; 3 Kibana imported only some",
		"_import?overwrite=true", "changes nothing",
	} {
		if !strings.Contains(help, want) {
			t.Errorf("--help does not mention %q:\n%s", want, help)
		}
	}
	if code := dispatch([]string{"setup", "--help"}); code != 0 {
		t.Errorf("dispatch setup --help: exit %d, want 0", code)
	}
}

func TestSetupInvalidOptions(t *testing.T) {
	f := func(vars map[string]string, args []string, want string) {
		t.Helper()
		code, _, stderr := runSetupT(t, vars, args...)
		if code != 2 || !strings.Contains(stderr, want) {
			t.Errorf("setup %v with %v: exit %d, stderr %q; want exit 2 and %q", args, vars, code, stderr, want)
		}
	}
	f(nil, []string{"--only=both"}, `--only "both": want elasticsearch or kibana`)
	f(nil, []string{"--elasticsearch-url=es:9200"}, "must be an http:// or https:// URL")
	f(map[string]string{"KIBANA_URL": "kibana:5601"}, nil, "check --kibana-url / KIBANA_URL")
	f(nil, []string{"--kibana-url="}, "use --only=elasticsearch")
	f(nil, []string{"--elasticsearch-username=elastic"}, "needs both --elasticsearch-username and --elasticsearch-password")
	f(map[string]string{"ELASTICSEARCH_API_KEY": "k", "ELASTICSEARCH_USERNAME": "u", "ELASTICSEARCH_PASSWORD": "p"}, nil, "keep one")
	f(nil, []string{"--timeout=0s"}, "--timeout must be positive")
	f(map[string]string{"SHIPPER_SETUP_TIMEOUT": "soon"}, nil, `invalid SHIPPER_SETUP_TIMEOUT="soon"`)
	f(nil, []string{"now"}, `unexpected argument "now"`)
	f(nil, []string{"--no-such-flag"}, "flag provided but not defined")
}

// TestSetupRecordedKibanaImport runs the command against recorded answers
// of Kibana's import API: success, partial failure (a missing reference),
// conflict, and refusals.
func TestSetupRecordedKibanaImport(t *testing.T) {
	f := func(file string, wantCode int, wantOut, wantErr []string) {
		t.Helper()
		kb := newRecordedServer(t, file)
		code, stdout, stderr := runSetupT(t, map[string]string{
			"KIBANA_URL": kb.URL, "ELASTICSEARCH_USERNAME": "elastic", "ELASTICSEARCH_PASSWORD": "changeme",
			"SHIPPER_SETUP_TIMEOUT": "10s",
		}, "--only=kibana")
		if code != wantCode {
			t.Errorf("%s: exit %d, want %d\nstdout: %s\nstderr: %s", file, code, wantCode, stdout, stderr)
		}
		for _, w := range wantOut {
			if !strings.Contains(stdout, w) {
				t.Errorf("%s: stdout %q does not say %q", file, stdout, w)
			}
		}
		for _, w := range wantErr {
			if !strings.Contains(stderr, w) {
				t.Errorf("%s: stderr does not say %q:\n%s", file, w, stderr)
			}
		}
		reqs := kb.requests()
		if len(reqs) != 1 {
			t.Fatalf("%s: %d requests, want 1", file, len(reqs))
		}
		r := reqs[0]
		if r.Method != http.MethodPost || r.URL.Path != "/api/saved_objects/_import" || r.URL.RawQuery != "overwrite=true" {
			t.Errorf("%s: request %s %s, want POST /api/saved_objects/_import?overwrite=true", file, r.Method, r.URL)
		}
		if r.Header.Get("kbn-xsrf") == "" || !strings.HasPrefix(r.Header.Get("Content-Type"), "multipart/form-data; boundary=") {
			t.Errorf("%s: headers %v: want kbn-xsrf and a multipart body", file, r.Header)
		}
		if u, p, ok := r.BasicAuth(); !ok || u != "elastic" || p != "changeme" {
			t.Errorf("%s: basic auth %q %q %v, want the credentials of the environment", file, u, p, ok)
		}
	}
	f("kibana-import-success.http", 0,
		[]string{"Kibana saved objects imported into space default at http://"}, []string{`"imported 9 Kibana saved objects into space default`})
	f("kibana-import-missing-references.http", 3, nil,
		[]string{"FAILED", "imported 7 saved objects but refused 1", `dashboard shipper-overview ("Shipper: logs overview")`,
			"missing_references", "lens/shipper-error-rate", "run setup again"})
	f("kibana-import-conflict.http", 3, nil,
		[]string{"FAILED", "refused 1", "index-pattern shipper-logs", "conflict", "3b1c2f40-5a0e-11ef-9d4b-6f1c8a7e0b21", "--kibana-space"})
	f("kibana-import-unsupported.http", 3, nil,
		[]string{"unsupported_type", "lens shipper-volume-by-level", "(HTTP 400)"})
	f("kibana-401.http", 1, nil, []string{"FAILED", "refused the credentials", "HTTP 401"})
	f("kibana-403.http", 1, nil, []string{"FAILED", "HTTP 403", "kibana_admin"})
}

func TestSetupBothSides(t *testing.T) {
	es := newRecordedServer(t, "es-template-ack.http")
	kb := newRecordedServer(t, "kibana-import-success.http")
	vars := map[string]string{"ELASTICSEARCH_URL": es.URL + "," + freeURL(t), "KIBANA_URL": kb.URL}
	tpls, err := assets.Templates()
	if err != nil {
		t.Fatal(err)
	}
	for run := 1; run <= 2; run++ { // twice: the second run sends the same requests
		code, stdout, stderr := runSetupT(t, vars)
		if code != 0 {
			t.Fatalf("run %d: exit %d\n%s", run, code, stderr)
		}
		for _, w := range []string{"Elasticsearch templates installed at " + es.URL + "\n", "Kibana saved objects imported into space default at " + kb.URL} {
			if !strings.Contains(stdout, w) {
				t.Errorf("run %d: stdout %q does not say %q", run, stdout, w)
			}
		}
		if n := len(es.requests()); n != run*len(tpls) {
			t.Errorf("run %d: %d Elasticsearch requests in all, want %d", run, n, run*len(tpls))
		}
		if n := len(kb.requests()); n != run {
			t.Errorf("run %d: %d Kibana requests in all, want %d", run, n, run)
		}
	}
	for i, r := range es.requests() {
		if tp := tpls[i%len(tpls)]; r.Method != http.MethodPut || r.URL.Path != tp.Path() {
			t.Errorf("Elasticsearch request %d: %s %s, want PUT %s", i, r.Method, r.URL.Path, tp.Path())
		}
	}
}

func TestSetupOnlyOneSide(t *testing.T) {
	es := newRecordedServer(t, "es-template-ack.http")
	// Kibana is not running: --only=elasticsearch never asks it.
	code, stdout, stderr := runSetupT(t, map[string]string{"ELASTICSEARCH_URL": es.URL, "KIBANA_URL": freeURL(t)}, "--only=elasticsearch")
	if code != 0 || strings.Contains(stdout, "Kibana") || !strings.Contains(stderr, "skipping the Kibana saved objects (--only=elasticsearch)") {
		t.Errorf("--only=elasticsearch: exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	kb := newRecordedServer(t, "kibana-import-success.http")
	code, stdout, stderr = runSetupT(t, map[string]string{"ELASTICSEARCH_URL": freeURL(t), "KIBANA_URL": kb.URL}, "--only=kibana")
	if code != 0 || strings.Contains(stdout, "Elasticsearch") || len(kb.requests()) != 1 {
		t.Errorf("--only=kibana: exit %d, %d Kibana requests\nstdout: %s\nstderr: %s", code, len(kb.requests()), stdout, stderr)
	}
}

func TestSetupUnreachableOrRefused(t *testing.T) {
	f := func(vars map[string]string, args []string, wantCode int, want ...string) {
		t.Helper()
		code, _, stderr := runSetupT(t, vars, args...)
		if code != wantCode {
			t.Errorf("setup %v: exit %d, want %d\n%s", args, code, wantCode, stderr)
		}
		for _, w := range want {
			if !strings.Contains(stderr, w) {
				t.Errorf("setup %v: stderr does not say %q:\n%s", args, w, stderr)
			}
		}
	}
	down := freeURL(t)
	f(map[string]string{"ELASTICSEARCH_URL": down}, []string{"--only=elasticsearch", "--timeout=1s"}, 1,
		"FAILED: cannot install", "cannot reach Elasticsearch at "+down, "connection refused", "--elasticsearch-url / ELASTICSEARCH_URL")
	f(map[string]string{"KIBANA_URL": down}, []string{"--only=kibana", "--timeout=1s"}, 1,
		"cannot reach Kibana at "+down, "--kibana-url / KIBANA_URL")
	es := newRecordedServer(t, "es-template-400.http")
	f(map[string]string{"ELASTICSEARCH_URL": es.URL, "KIBANA_URL": down}, nil, 1,
		"refused component template", "HTTP 400", "match_only_text")
	es401 := newRecordedServer(t, "es-401.http")
	f(map[string]string{"ELASTICSEARCH_URL": es401.URL}, []string{"--only=elasticsearch"}, 1,
		"requires credentials", "--elasticsearch-username")
	starting := newRecordedServer(t, "kibana-starting-503.http")
	f(map[string]string{"KIBANA_URL": starting.URL}, []string{"--only=kibana", "--timeout=1500ms"}, 1,
		"Kibana is not ready; retrying", "is not ready: it answered HTTP 503", "gave up after")
}

func TestSetupFlagsWinOverEnvironment(t *testing.T) {
	kb := newRecordedServer(t, "kibana-import-success.http")
	code, _, stderr := runSetupT(t, map[string]string{
		"KIBANA_URL": freeURL(t), "KIBANA_SPACE": "ops", "ELASTICSEARCH_API_KEY": "from-env",
	}, "--only=kibana", "--kibana-url="+kb.URL+"/", "--kibana-space=team-a", "--elasticsearch-api-key=from-flag")
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	r := kb.requests()[0]
	if r.URL.Path != "/s/team-a/api/saved_objects/_import" || r.Header.Get("Authorization") != "ApiKey from-flag" {
		t.Errorf("request %s with Authorization %q: want the space and API key of the flags", r.URL, r.Header.Get("Authorization"))
	}
}
