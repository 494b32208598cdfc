package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

// secretES plays Elasticsearch: it keeps every request body, refuses the
// first bulk request (so the shipper logs a retry), and otherwise indexes.
type secretES struct {
	mu     sync.Mutex
	bodies [][]byte
	bulks  int
}

func (f *secretES) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	f.bodies = append(f.bodies, body)
	if strings.HasSuffix(r.URL.Path, "/_bulk") {
		f.bulks++
	}
	first := f.bulks == 1
	f.mu.Unlock()
	w.Header().Set("X-Elastic-Product", "Elasticsearch")
	w.Header().Set("Content-Type", "application/json")
	switch {
	case r.URL.Path == "/_cluster/health":
		io.WriteString(w, `{"status":"green"}`)
	case strings.HasSuffix(r.URL.Path, "/_bulk") && first:
		http.Error(w, `{"error":"busy"}`, http.StatusServiceUnavailable)
	case strings.HasSuffix(r.URL.Path, "/_bulk"):
		n := bytes.Count(body, []byte{'\n'}) / 2
		items := strings.Repeat(`{"create":{"status":201}},`, n)
		io.WriteString(w, `{"errors":false,"items":[`+strings.TrimSuffix(items, ",")+`]}`)
	case r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/_index_template/"):
		http.NotFound(w, r)
	default:
		io.WriteString(w, `{"acknowledged":true}`)
	}
}

// TestSecretsNeverPrinted runs run, check and setup with credentials in the
// Elasticsearch URL, in the password and API key variables and as the
// Forward shared key, one Elasticsearch address refusing connections and
// one refusing the first bulk request: no secret may appear in any output
// line, nor in any document sent.
func TestSecretsNeverPrinted(t *testing.T) {
	const (
		urlPW    = "url-Pa55w0rd-secret"
		password = "env-Pa55w0rd-secret"
		apiKey   = "QXBpS2V5LXNlY3JldDp4eXo="
		fwdKey   = "forward-shared-key-secret"
	)
	secrets := []string{urlPW, password, apiKey, fwdKey,
		"ZWxhc3RpYzp1cmwtUGE1NXcwcmQtc2VjcmV0", // elastic:url-Pa55w0rd-secret, base64
		"ZWxhc3RpYzplbnYtUGE1NXcwcmQtc2VjcmV0", // elastic:env-Pa55w0rd-secret, base64
	}
	es := &secretES{}
	srv := httptest.NewServer(es)
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	dead := strings.TrimPrefix(freeURL(t), "http://")
	urls := "http://elastic:" + urlPW + "@" + dead + ",http://elastic:" + urlPW + "@" + host
	bin := shipperBinary(t, false)
	check := func(name string, out []byte) {
		t.Helper()
		for i, line := range strings.Split(string(out), "\n") {
			for _, s := range secrets {
				if strings.Contains(line, s) {
					t.Errorf("%s: line %d shows secret %q: %s", name, i+1, s, line)
				}
			}
		}
	}
	runCase := func(name string, env []string, stdin string, args ...string) []byte {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, bin, args...)
		cmd.Env = append(os.Environ(), env...)
		cmd.Stdin = strings.NewReader(stdin)
		out, _ := cmd.CombinedOutput() // failures are fine: their messages are checked too
		check(name, out)
		return out
	}
	lines := strings.Repeat(`{"message":"hello","level":"info"}`+"\n", 20)
	out := runCase("run", []string{"ELASTICSEARCH_URL=" + urls, "SHIPPER_FORWARD_SHARED_KEY=" + fwdKey,
		"SHIPPER_HTTP_ADDRESS=", "SHIPPER_LOG_LEVEL=debug"}, lines, "run", "--input=stdin", "--retry-initial=10ms")
	if !bytes.Contains(out, []byte("xxxxx")) {
		t.Errorf("run: the masked URL is not in the output:\n%s", out)
	}
	runCase("check with API key", []string{"ELASTICSEARCH_URL=" + urls, "ELASTICSEARCH_API_KEY=" + apiKey,
		"SHIPPER_FORWARD_SHARED_KEY=" + fwdKey}, "", "check")
	runCase("check with password", []string{"ELASTICSEARCH_URL=http://" + host, "ELASTICSEARCH_USERNAME=elastic",
		"ELASTICSEARCH_PASSWORD=" + password}, "", "check")
	runCase("check with an invalid URL", []string{"ELASTICSEARCH_URL=ftp://elastic:" + urlPW + "@" + host}, "", "check")
	runCase("setup", []string{"ELASTICSEARCH_URL=http://elastic:" + urlPW + "@" + host,
		"KIBANA_URL=http://elastic:" + urlPW + "@" + dead}, "", "setup", "--timeout=5s")
	runCase("setup with password", []string{"ELASTICSEARCH_URL=http://" + host, "ELASTICSEARCH_USERNAME=elastic",
		"ELASTICSEARCH_PASSWORD=" + password}, "", "setup", "--only=elasticsearch", "--timeout=5s")
	es.mu.Lock()
	defer es.mu.Unlock()
	if es.bulks < 2 {
		t.Errorf("got %d bulk requests, want the refused one and a retry", es.bulks)
	}
	for _, b := range es.bodies {
		check("a request body sent to Elasticsearch", b)
	}
}
