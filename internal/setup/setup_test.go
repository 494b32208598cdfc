package setup

import (
	"bufio"
	"bytes"
	"context"
	"encoding/pem"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	assets "shipper/elasticsearch"
	"shipper/internal/testutil/logbuf"
	"shipper/kibana"
)

// recorded is one request the fake server received.
type recorded struct {
	Method, Path, RawQuery string
	Header                 http.Header
	Body                   []byte
}

// replay is an httptest server answering each request with the next
// recorded response of testdata (the last one repeats), and keeping the
// requests.
type replay struct {
	t     *testing.T
	srv   *httptest.Server
	mu    sync.Mutex
	files []string
	reqs  []recorded
}

func newReplay(t *testing.T, files ...string) *replay {
	t.Helper()
	r := &replay{t: t, files: files}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *replay) serve(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	n := len(r.reqs)
	r.reqs = append(r.reqs, recorded{req.Method, req.URL.Path, req.URL.RawQuery, req.Header.Clone(), body})
	file := r.files[min(n, len(r.files)-1)]
	r.mu.Unlock()

	res := readResponse(r.t, file)
	for k, vs := range res.header {
		if strings.EqualFold(k, "Content-Length") {
			continue
		}
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	w.WriteHeader(res.status)
	_, _ = w.Write(res.body)
}

func (r *replay) requests() []recorded {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slicesClone(r.reqs)
}

func slicesClone[T any](s []T) []T { return append([]T(nil), s...) }

// readResponse parses testdata/<name>, a raw HTTP/1.1 response.
func readResponse(t *testing.T, name string) response {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	res, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(b)), nil)
	if err != nil {
		t.Fatalf("testdata/%s: %v", name, err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("testdata/%s: %v", name, err)
	}
	return response{status: res.StatusCode, header: res.Header, body: body}
}

// logBuffer collects the log lines of Run.
type logBuffer struct{ logbuf.Buffer }

func kibanaOnly(url string) Config {
	return Config{KibanaURL: url, SkipElasticsearch: true, Username: "elastic", Password: "changeme", Timeout: 10 * time.Second}
}

// checkImportRequest checks one import request: method, path, query,
// kbn-xsrf, credentials and the multipart body.
func checkImportRequest(t *testing.T, r recorded, wantPath string) {
	t.Helper()
	if r.Method != http.MethodPost || r.Path != wantPath || r.RawQuery != "overwrite=true" {
		t.Errorf("request %s %s?%s, want POST %s?overwrite=true", r.Method, r.Path, r.RawQuery, wantPath)
	}
	if r.Header.Get("kbn-xsrf") == "" {
		t.Errorf("no kbn-xsrf header: Kibana refuses the request without it")
	}
	if u, p, ok := (&http.Request{Header: r.Header}).BasicAuth(); !ok || u != "elastic" || p != "changeme" {
		t.Errorf("basic auth = %q %q %v, want elastic changeme", u, p, ok)
	}
	mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/form-data" || params["boundary"] == "" {
		t.Fatalf("Content-Type %q, want multipart/form-data with a boundary (%v)", r.Header.Get("Content-Type"), err)
	}
	mr := multipart.NewReader(bytes.NewReader(r.Body), params["boundary"])
	var parts int
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("multipart body: %v", err)
		}
		parts++
		content, _ := io.ReadAll(p)
		if p.FormName() != "file" || p.FileName() != "shipper.ndjson" {
			t.Errorf("part name=%q filename=%q, want file / shipper.ndjson", p.FormName(), p.FileName())
		}
		if ct := p.Header.Get("Content-Type"); ct != "application/ndjson" {
			t.Errorf("part Content-Type %q, want application/ndjson", ct)
		}
		if !bytes.Equal(content, kibana.SavedObjects()) {
			t.Errorf("part content is not kibana.SavedObjects() (%d bytes, want %d)", len(content), len(kibana.SavedObjects()))
		}
	}
	if parts != 1 {
		t.Errorf("%d multipart parts, want 1", parts)
	}
}

func TestKibanaImportSuccess(t *testing.T) {
	kb := newReplay(t, "kibana-import-success.http")
	var logs logBuffer
	if err := Run(context.Background(), kibanaOnly(kb.srv.URL), zerolog.New(&logs)); err != nil {
		t.Fatalf("Run: %v", err)
	}
	reqs := kb.requests()
	if len(reqs) != 1 {
		t.Fatalf("%d requests, want 1", len(reqs))
	}
	checkImportRequest(t, reqs[0], "/api/saved_objects/_import")
	if !strings.Contains(logs.String(), "imported 9 Kibana saved objects into space default") {
		t.Errorf("log does not report the import:\n%s", logs.String())
	}
}

func TestKibanaImportIntoSpace(t *testing.T) {
	kb := newReplay(t, "kibana-import-success.http")
	cfg := kibanaOnly(kb.srv.URL + "/")
	cfg.KibanaSpace = "team-a"
	if err := Run(context.Background(), cfg, zerolog.Nop()); err != nil {
		t.Fatalf("Run: %v", err)
	}
	checkImportRequest(t, kb.requests()[0], "/s/team-a/api/saved_objects/_import")
}

func TestKibanaImportFailures(t *testing.T) {
	f := func(file string, wantKinds []string, wantInMsg ...string) {
		t.Helper()
		kb := newReplay(t, file)
		err := Run(context.Background(), kibanaOnly(kb.srv.URL), zerolog.Nop())
		var ie *ImportError
		if !errors.As(err, &ie) {
			t.Fatalf("%s: Run error = %v, want an *ImportError", file, err)
		}
		var kinds []string
		for _, f := range ie.Failures {
			kinds = append(kinds, f.Kind)
		}
		if strings.Join(kinds, ",") != strings.Join(wantKinds, ",") {
			t.Errorf("%s: failure kinds %v, want %v", file, kinds, wantKinds)
		}
		for _, w := range wantInMsg {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q does not mention %q", file, err, w)
			}
		}
		if n := len(kb.requests()); n != 1 {
			t.Errorf("%s: %d requests, want 1 (an import result is not retried)", file, n)
		}
	}
	f("kibana-import-missing-references.http", []string{"missing_references"},
		"imported 7 saved objects but refused 1", `dashboard shipper-overview ("Shipper: logs overview")`,
		"missing_references", "lens/shipper-error-rate")
	f("kibana-import-conflict.http", []string{"conflict"},
		"index-pattern shipper-logs", "conflict", "3b1c2f40-5a0e-11ef-9d4b-6f1c8a7e0b21", "--kibana-space")
	f("kibana-import-unsupported.http", []string{"unsupported_type", "unknown"},
		"lens shipper-volume-by-level", "unsupported_type", "lens shipper-top-services",
		"more recent version of Kibana", "(HTTP 400)")
}

func TestKibanaStartingIsRetried(t *testing.T) {
	t.Parallel()
	kb := newReplay(t, "kibana-starting-503.http", "kibana-starting-503.http", "kibana-import-success.http")
	var logs logBuffer
	start := time.Now()
	if err := Run(context.Background(), kibanaOnly(kb.srv.URL), zerolog.New(&logs)); err != nil {
		t.Fatalf("Run: %v", err)
	}
	reqs := kb.requests()
	if len(reqs) != 3 {
		t.Fatalf("%d requests, want 3 (503, 503, 200)", len(reqs))
	}
	for _, r := range reqs {
		checkImportRequest(t, r, "/api/saved_objects/_import") // the body is resent whole
	}
	// Retry-After: 1 is honoured.
	if took := time.Since(start); took < 2*time.Second {
		t.Errorf("retried after %v in all, want at least 2s (Retry-After: 1, twice)", took)
	}
	if !strings.Contains(logs.String(), "Kibana is not ready; retrying") || !strings.Contains(logs.String(), "Kibana server is not ready yet") {
		t.Errorf("log does not report the retries:\n%s", logs.String())
	}
}

func TestKibanaStillStartingAtTimeout(t *testing.T) {
	t.Parallel()
	kb := newReplay(t, "kibana-starting-503.http")
	cfg := kibanaOnly(kb.srv.URL)
	cfg.Timeout = 1500 * time.Millisecond
	err := Run(context.Background(), cfg, zerolog.Nop())
	if err == nil || !strings.Contains(err.Error(), "is not ready: it answered HTTP 503") || !strings.Contains(err.Error(), "gave up after") {
		t.Errorf("Run error = %v, want one saying Kibana was not ready and setup gave up", err)
	}
}

func TestKibanaStatusErrors(t *testing.T) {
	f := func(file string, cfg func(*Config), want ...string) {
		t.Helper()
		kb := newReplay(t, file)
		c := kibanaOnly(kb.srv.URL)
		if cfg != nil {
			cfg(&c)
		}
		err := Run(context.Background(), c, zerolog.Nop())
		if err == nil {
			t.Fatalf("%s: Run succeeded", file)
		}
		for _, w := range want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q does not mention %q", file, err, w)
			}
		}
		if n := len(kb.requests()); n != 1 {
			t.Errorf("%s: %d requests, want 1 (not retried)", file, n)
		}
	}
	f("kibana-401.http", nil, "refused the credentials", "HTTP 401", "unable to authenticate user [elastic]", "--elasticsearch-password")
	f("kibana-401.http", func(c *Config) { c.Username, c.Password = "", "" }, "requires credentials", "--elasticsearch-api-key")
	f("kibana-403.http", nil, "may not import saved objects", "HTTP 403", "kibana_admin")
	f("kibana-space-404.http", func(c *Config) { c.KibanaSpace = "nope" }, `space "nope" exist`, "--kibana-space")
	f("kibana-space-404.http", nil, "is "+"http://", "--kibana-url / KIBANA_URL")
	f("kibana-bad-request-400.http", nil, "refused the import", "HTTP 400", "expected value of type [Stream]")
}

func TestAPIKeyHeader(t *testing.T) {
	kb := newReplay(t, "kibana-import-success.http")
	cfg := kibanaOnly(kb.srv.URL)
	cfg.APIKey = "VnVhQ2ZHY0JDZGJrUW0tZTVhT3g6dWkybHAyYXhUTm1zeWFrdzl0dk5udw=="
	if err := Run(context.Background(), cfg, zerolog.Nop()); err != nil {
		t.Fatal(err)
	}
	if got := kb.requests()[0].Header.Get("Authorization"); got != "ApiKey "+cfg.APIKey {
		t.Errorf("Authorization %q, want ApiKey <key> (the API key wins over user/password)", got)
	}
}

// closedURL returns an http URL on which nothing listens.
func closedURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "http://" + addr
}

func TestUnreachable(t *testing.T) {
	t.Parallel()
	u := closedURL(t)
	cfg := kibanaOnly(u)
	cfg.Timeout = time.Second
	err := Run(context.Background(), cfg, zerolog.Nop())
	for _, w := range []string{"cannot reach Kibana at " + u, "connection refused", "is it running", "--kibana-url / KIBANA_URL", "run setup with --only=elasticsearch"} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("Run error = %v, want it to mention %q", err, w)
		}
	}
	cfg = Config{ElasticsearchURL: u, SkipKibana: true, Timeout: time.Second}
	err = Run(context.Background(), cfg, zerolog.Nop())
	for _, w := range []string{"cannot reach Elasticsearch at " + u, "--elasticsearch-url / ELASTICSEARCH_URL"} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("Run error = %v, want it to mention %q", err, w)
		}
	}
}

func TestHTTPSToPlainServerIsNotRetried(t *testing.T) {
	kb := newReplay(t, "kibana-import-success.http")
	cfg := kibanaOnly(strings.Replace(kb.srv.URL, "http://", "https://", 1))
	start := time.Now()
	err := Run(context.Background(), cfg, zerolog.Nop())
	if err == nil || !strings.Contains(err.Error(), "use http://") {
		t.Errorf("Run error = %v, want a hint to use http://", err)
	}
	if time.Since(start) > 3*time.Second {
		t.Errorf("took %v: a TLS mismatch must not be retried until the timeout", time.Since(start))
	}
}

func TestElasticsearchTemplates(t *testing.T) {
	es := newReplay(t, "es-template-ack.http")
	var logs logBuffer
	cfg := Config{ElasticsearchURL: es.srv.URL, SkipKibana: true, Timeout: 10 * time.Second}
	for run := 0; run < 2; run++ { // idempotent: the same requests twice
		if err := Run(context.Background(), cfg, zerolog.New(&logs)); err != nil {
			t.Fatalf("run %d: %v", run, err)
		}
	}
	tpls, err := assets.Templates()
	if err != nil {
		t.Fatal(err)
	}
	reqs := es.requests()
	if len(reqs) != 2*len(tpls) {
		t.Fatalf("%d requests, want %d (every template, twice)", len(reqs), 2*len(tpls))
	}
	for i, r := range reqs {
		tp := tpls[i%len(tpls)]
		if r.Method != http.MethodPut || r.Path != tp.Path() {
			t.Errorf("request %d: %s %s, want PUT %s", i, r.Method, r.Path, tp.Path())
		}
		if !bytes.Equal(r.Body, tp.Body) || r.Header.Get("Content-Type") != "application/json" {
			t.Errorf("request %d: body or content type differs from template %s", i, tp.Name)
		}
		if r.Header.Get("Authorization") != "" {
			t.Errorf("request %d: Authorization sent without credentials", i)
		}
	}
	if !strings.Contains(logs.String(), "installed index template shipper-logs (version 1)") {
		t.Errorf("log does not report the templates:\n%s", logs.String())
	}
}

func TestElasticsearchRefuses(t *testing.T) {
	f := func(file string, want ...string) {
		t.Helper()
		es := newReplay(t, file)
		err := Run(context.Background(), Config{ElasticsearchURL: es.srv.URL, KibanaURL: "http://kibana.invalid:5601", Timeout: 5 * time.Second}, zerolog.Nop())
		if err == nil {
			t.Fatalf("%s: Run succeeded", file)
		}
		for _, w := range want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q does not mention %q", file, err, w)
			}
		}
		if n := len(es.requests()); n != 1 {
			t.Errorf("%s: %d requests, want 1: setup stops at the first refused template (and never reaches Kibana)", file, n)
		}
	}
	f("es-template-400.http", "refused component template shipper-deadletter-mappings", "HTTP 400",
		"mapper_parsing_exception", "match_only_text",
		"templates installed before the failure: none; not installed: component/shipper-deadletter-mappings, component/shipper-logs-mappings")
	f("es-401.http", "requires credentials", "missing authentication credentials", "--elasticsearch-username")
}

func TestBothServices(t *testing.T) {
	es := newReplay(t, "es-template-ack.http")
	kb := newReplay(t, "kibana-import-success.http")
	cfg := Config{ElasticsearchURL: es.srv.URL, KibanaURL: kb.srv.URL, Timeout: 10 * time.Second}
	if err := Run(context.Background(), cfg, zerolog.Nop()); err != nil {
		t.Fatal(err)
	}
	if len(es.requests()) == 0 || len(kb.requests()) != 1 {
		t.Errorf("%d Elasticsearch and %d Kibana requests", len(es.requests()), len(kb.requests()))
	}
}

func TestValidate(t *testing.T) {
	f := func(c Config, want string) {
		t.Helper()
		err := c.validate()
		if want == "" {
			if err != nil {
				t.Errorf("validate(%+v) = %v, want nil", c, err)
			}
			return
		}
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("validate(%+v) = %v, want an error mentioning %q", c, err, want)
		}
	}
	f(Config{ElasticsearchURL: "http://es:9200", KibanaURL: "https://kb:5601/base"}, "")
	f(Config{KibanaURL: "http://kb:5601"}, "--elasticsearch-url / ELASTICSEARCH_URL, or use --only=kibana")
	f(Config{ElasticsearchURL: "http://es:9200"}, "--kibana-url / KIBANA_URL, or use --only=elasticsearch")
	f(Config{ElasticsearchURL: "es:9200", SkipKibana: true}, "not an http:// or https:// URL")
	f(Config{SkipElasticsearch: true, SkipKibana: true}, "nothing to do")
	f(Config{KibanaURL: "http://kb", SkipElasticsearch: true, KibanaSpace: "a/b"}, "space")
	f(Config{KibanaURL: "http://kb", SkipElasticsearch: true, Password: "x"}, "--elasticsearch-username")
	f(Config{KibanaURL: "http://kb?x=1", SkipElasticsearch: true}, "query")
}

func TestCAFile(t *testing.T) {
	_, err := newClient(Config{CAFile: filepath.Join(t.TempDir(), "missing.pem")}, "https://es:9200", "")
	if err == nil || !strings.Contains(err.Error(), "--elasticsearch-ca-file") {
		t.Errorf("missing CA file: %v", err)
	}
	bad := filepath.Join(t.TempDir(), "bad.pem")
	os.WriteFile(bad, []byte("not a certificate"), 0o600)
	_, err = newClient(Config{CAFile: bad}, "https://es:9200", "")
	if err == nil || !strings.Contains(err.Error(), "no PEM certificate") {
		t.Errorf("bad CA file: %v", err)
	}
}

// TestTLSWithCAFile talks to an httptest TLS server trusted through CAFile.
func TestTLSWithCAFile(t *testing.T) {
	res := readResponse(t, "kibana-import-success.http")
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(res.body)
	}))
	defer srv.Close()
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	writeCertPEM(t, srv, caFile)

	cfg := kibanaOnly(srv.URL)
	cfg.Timeout = 2 * time.Second
	err := Run(context.Background(), cfg, zerolog.Nop())
	if err == nil || !strings.Contains(err.Error(), "--elasticsearch-ca-file") {
		t.Errorf("unknown CA: Run error = %v, want a hint at --elasticsearch-ca-file", err)
	}
	cfg.CAFile = caFile
	if err := Run(context.Background(), cfg, zerolog.Nop()); err != nil {
		t.Errorf("with CAFile: %v", err)
	}
	cfg.CAFile, cfg.InsecureSkipVerify = "", true
	if err := Run(context.Background(), cfg, zerolog.Nop()); err != nil {
		t.Errorf("with InsecureSkipVerify: %v", err)
	}
}

func writeCertPEM(t *testing.T, srv *httptest.Server, path string) {
	t.Helper()
	var buf bytes.Buffer
	if err := pem.Encode(&buf, &pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
}
