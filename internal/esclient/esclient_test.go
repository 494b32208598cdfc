package esclient

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func TestParseURL(t *testing.T) {
	f := func(raw, wantErr string) {
		t.Helper()
		_, err := ParseURL(raw)
		switch {
		case wantErr == "" && err != nil:
			t.Errorf("ParseURL(%q): %v", raw, err)
		case wantErr != "" && (err == nil || !strings.Contains(err.Error(), wantErr)):
			t.Errorf("ParseURL(%q): got %v, want an error with %q", raw, err, wantErr)
		}
	}
	f("http://localhost:9200", "")
	f("https://es.example:9200/prefix/", "")
	f("http://", "no host name")
	f("https://:9200", "no host name")
	f("localhost:9200", "http:// or https://")
	f("ftp://es", "http:// or https://")
	f("http://es:9200?x=1", "query")
	f("http://es:9200#x", "fragment")
	f("http://user:secret@es:9200", "")
	for _, raw := range []string{"ftp://user:secret@es", "http://user:secret@es:9200?x=1", "http://user:secret@:9200", "http://user:secret@es:9200/%zz"} {
		if _, err := ParseURL(raw); err == nil || strings.Contains(err.Error(), "secret") {
			t.Errorf("ParseURL(%q): want an error without the password, got %v", raw, err)
		}
	}
}

// recorder is a server that records what it was sent.
type recorder struct {
	mu   sync.Mutex
	reqs []*http.Request
}

func (r *recorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	r.mu.Lock()
	r.reqs = append(r.reqs, req)
	r.mu.Unlock()
	w.Header().Set("X-Elastic-Product", "Elasticsearch")
	io.WriteString(w, "{}")
}

func (r *recorder) last(t *testing.T) *http.Request {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.reqs) == 0 {
		t.Fatal("no request arrived")
	}
	return r.reqs[len(r.reqs)-1]
}

func get(t *testing.T, c *Client, path string) (*http.Response, error) {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, path, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.Do(req)
	if err == nil {
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
	}
	return res, err
}

func TestAuthUserAgentAndPrefix(t *testing.T) {
	rec := &recorder{}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	f := func(cfg Config, wantAuth, wantUA string) {
		t.Helper()
		cfg.URLs = []string{srv.URL + "/es/"}
		c, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := get(t, c, "/_bulk?filter_path=errors"); err != nil {
			t.Fatal(err)
		}
		r := rec.last(t)
		if got := r.Header.Get("Authorization"); got != wantAuth {
			t.Errorf("Authorization: got %q, want %q", got, wantAuth)
		}
		if got := r.Header.Get("User-Agent"); got != wantUA {
			t.Errorf("User-Agent: got %q, want %q", got, wantUA)
		}
		if r.URL.Path != "/es/_bulk" || r.URL.RawQuery != "filter_path=errors" {
			t.Errorf("URL: got %s, want /es/_bulk?filter_path=errors", r.URL)
		}
	}
	f(Config{}, "", "shipper")
	f(Config{Username: "elastic", Password: "changeme", UserAgent: "shipper/1.2"}, "Basic ZWxhc3RpYzpjaGFuZ2VtZQ==", "shipper/1.2")
	f(Config{Username: "elastic", Password: "x", APIKey: "a2V5OnNlY3JldA=="}, "ApiKey a2V5OnNlY3JldA==", "shipper")
}

// User information in a node's URL becomes that node's basic auth when no
// other credentials are set; it never reaches the request line or URLs().
func TestURLCredentials(t *testing.T) {
	rec := &recorder{}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	withUser := strings.Replace(srv.URL, "http://", "http://elastic:changeme@", 1)
	f := func(cfg Config, wantAuth string) {
		t.Helper()
		cfg.URLs = []string{withUser}
		c, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := get(t, c, "/"); err != nil {
			t.Fatal(err)
		}
		r := rec.last(t)
		if got := r.Header.Get("Authorization"); got != wantAuth {
			t.Errorf("Authorization: got %q, want %q", got, wantAuth)
		}
		for _, u := range c.URLs() {
			if strings.Contains(u, "changeme") {
				t.Errorf("URLs() shows the password: %s", u)
			}
		}
	}
	f(Config{}, "Basic ZWxhc3RpYzpjaGFuZ2VtZQ==")
	f(Config{APIKey: "a2V5OnNlY3JldA=="}, "ApiKey a2V5OnNlY3JldA==")
	f(Config{Username: "other", Password: "pw"}, "Basic b3RoZXI6cHc=")
}

func TestRoundRobin(t *testing.T) {
	var recs [3]recorder
	var urls []string
	for i := range recs {
		srv := httptest.NewServer(&recs[i])
		defer srv.Close()
		urls = append(urls, srv.URL)
	}
	c, err := New(Config{URLs: urls})
	if err != nil {
		t.Fatal(err)
	}
	for range 6 {
		if _, err := get(t, c, "/"); err != nil {
			t.Fatal(err)
		}
	}
	for i := range recs {
		if n := len(recs[i].reqs); n != 2 {
			t.Errorf("node %d got %d requests, want 2", i, n)
		}
	}
}

// The CA file is added to the system's roots: a private CA is trusted with
// it and refused without it, with a hint at the setting.
func TestCAFile(t *testing.T) {
	srv := httptest.NewTLSServer(&recorder{})
	defer srv.Close()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := New(Config{URLs: []string{srv.URL}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = get(t, c, "/")
	if err == nil || !Permanent(err) || !strings.Contains(Hint(err, "--elasticsearch-url"), "--elasticsearch-ca-file") {
		t.Errorf("without the CA: got %v, want a permanent error hinting at --elasticsearch-ca-file", err)
	}
	c, err = New(Config{URLs: []string{srv.URL}, CAFile: ca})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := get(t, c, "/"); err != nil {
		t.Errorf("with the CA file: %v", err)
	}
	tc, err := TLSConfig(ca, false)
	if err != nil {
		t.Fatal(err)
	}
	if sys, err := x509.SystemCertPool(); err == nil {
		//nolint:staticcheck // Subjects is enough to count roots
		if n, want := len(tc.RootCAs.Subjects()), len(sys.Subjects())+1; n != want {
			t.Errorf("trusted roots with the CA file: %d, want the system's plus the file's (%d)", n, want)
		}
	}
	c, err = New(Config{URLs: []string{srv.URL}, InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := get(t, c, "/"); err != nil {
		t.Errorf("with InsecureSkipVerify: %v", err)
	}

	bad := filepath.Join(t.TempDir(), "bad.pem")
	os.WriteFile(bad, []byte("not a certificate"), 0o600)
	for file, want := range map[string]string{bad: "no PEM certificate", filepath.Join(t.TempDir(), "missing.pem"): "cannot read"} {
		if _, err := New(Config{URLs: []string{srv.URL}, CAFile: file}); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("CA file %s: got %v, want %q", file, err, want)
		}
	}
}

func TestHTTPSToPlainServer(t *testing.T) {
	srv := httptest.NewServer(&recorder{})
	defer srv.Close()
	c, err := New(Config{URLs: []string{strings.Replace(srv.URL, "http://", "https://", 1)}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = get(t, c, "/")
	if err == nil || !Permanent(err) || !strings.Contains(Hint(err, "ELASTICSEARCH_URL"), "use http:// in ELASTICSEARCH_URL") {
		t.Errorf("https to a plain server: got %v (hint %q), want a permanent error saying to use http://", err, Hint(err, "ELASTICSEARCH_URL"))
	}
}

func TestProductCheck(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/missing" {
			w.WriteHeader(http.StatusNotFound)
		}
		io.WriteString(w, `{"errors":false}`)
	}))
	defer srv.Close()
	c, err := New(Config{URLs: []string{srv.URL}, Product: "Elasticsearch"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = get(t, c, "/_bulk")
	var np *NotProductError
	if !errors.As(err, &np) || !strings.Contains(err.Error(), "not Elasticsearch") {
		t.Errorf("2xx without the product header: got %v, want a NotProductError", err)
	}
	// Error answers are the caller's to judge (a proxy's 502, a 404).
	if res, err := get(t, c, "/missing"); err != nil || res.StatusCode != http.StatusNotFound {
		t.Errorf("404 without the product header: got %v, %v", res, err)
	}
	c, err = New(Config{URLs: []string{srv.URL}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := get(t, c, "/_bulk"); err != nil {
		t.Errorf("without Product the header is not required: %v", err)
	}
}

func TestRetryable(t *testing.T) {
	for status, want := range map[int]bool{200: false, 400: false, 401: false, 404: false, 429: true, 500: false, 502: true, 503: true, 504: true} {
		if got := Retryable(status); got != want {
			t.Errorf("Retryable(%d) = %v, want %v", status, got, want)
		}
	}
}

// A node that refuses connections does not fail the request: the next node
// gets it, body included.
func TestFailoverOnRefusedNode(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + ln.Addr().String()
	ln.Close()
	var got []string
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, string(b))
		mu.Unlock()
		w.Header().Set("X-Elastic-Product", "Elasticsearch")
	}))
	defer srv.Close()
	c, err := New(Config{URLs: []string{dead, srv.URL}, Product: "Elasticsearch"})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 4 {
		body := fmt.Sprintf("body %d", i)
		req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, "/_bulk", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		res, err := c.Do(req)
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		res.Body.Close()
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 4 || got[0] != "body 0" || got[3] != "body 3" {
		t.Errorf("the live node got %q, want the 4 bodies", got)
	}
	// With every node down, the error is the caller's.
	c, err = New(Config{URLs: []string{dead, dead}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := get(t, c, "/"); err == nil {
		t.Error("all nodes down: no error")
	}
}
