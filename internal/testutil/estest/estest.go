// Package estest is the harness of the integration tests that talk to a real
// Elasticsearch. Those tests carry the build tag `integration` and read the
// node's address from ELASTICSEARCH_URL; `make test-integration` starts a
// throw-away node with scripts/elasticsearch.sh and sets it.
//
// The node is the Maven Central "integ-test-zip" distribution of 8.19.x, which
// lacks most modules (see the findings at the top of scripts/elasticsearch.sh).
// What matters for tests:
//
//   - a bulk `create` into a name matching a composable template with
//     "data_stream":{} creates the data stream, but there is no _data_stream
//     REST API and a data stream can NOT be deleted. DeleteDataStream falls
//     back to emptying it. Use Unique for names so that tests (and packages
//     running in parallel against the same node) never share a data stream;
//   - no ingest processors, no painless, no _delete_by_query/_reindex, no
//     match_only_text/wildcard/constant_keyword/scaled_float/version fields;
//   - templates in use by a data stream cannot be deleted.
package estest

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// EnvURL is the environment variable holding the node's base URL.
const EnvURL = "ELASTICSEARCH_URL"

var client = &http.Client{Timeout: 2 * time.Minute}

var (
	pingOnce sync.Once
	pingErr  error
)

// inCI reports whether we run in CI, where a missing Elasticsearch is an error.
func inCI() bool {
	v := strings.ToLower(strings.TrimSpace(os.Getenv("CI")))
	return v != "" && v != "false" && v != "0"
}

// URL returns ELASTICSEARCH_URL without a trailing slash. When it is unset the
// test is skipped, or fails when CI is set (CI=true): there a missing node is a
// broken harness, not a reason to skip. The first call also checks that the
// node answers.
func URL(t testing.TB) string {
	t.Helper()
	u := strings.TrimRight(strings.TrimSpace(os.Getenv(EnvURL)), "/")
	if u == "" {
		msg := EnvURL + " is not set: run `make test-integration`, which starts a real Elasticsearch " +
			"(scripts/elasticsearch.sh run -- go test -tags integration ...)"
		if inCI() {
			t.Fatal(msg + " [CI is set: failing instead of skipping]")
		}
		t.Skip(msg)
	}
	pingOnce.Do(func() {
		resp, err := client.Get(u + "/_cluster/health?wait_for_status=yellow&timeout=30s")
		if err != nil {
			pingErr = err
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			pingErr = fmt.Errorf("GET /_cluster/health: HTTP %d: %s", resp.StatusCode, b)
		}
	})
	if pingErr != nil {
		t.Fatalf("%s=%s does not answer: %v", EnvURL, u, pingErr)
	}
	return u
}

// Do sends one request and returns the status and body. path starts with "/"
// and may carry a query string; body may be empty. Bodies of _bulk requests
// are sent as application/x-ndjson (they must end with "\n"), others as
// application/json. Only transport errors fail the test.
func Do(t testing.TB, method, path, body string) (status int, respBody []byte) {
	t.Helper()
	base := URL(t)
	if !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, base+path, rd)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	if body != "" {
		ct := "application/json"
		if p, _, _ := strings.Cut(path, "?"); strings.HasSuffix(p, "/_bulk") {
			ct = "application/x-ndjson"
		}
		req.Header.Set("Content-Type", ct)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading the response: %v", method, path, err)
	}
	return resp.StatusCode, b
}

// MustDo is Do that fails the test unless the status is 2xx.
func MustDo(t testing.TB, method, path, body string) []byte {
	t.Helper()
	st, b := Do(t, method, path, body)
	if st < 200 || st > 299 {
		t.Fatalf("%s %s: HTTP %d: %s", method, path, st, truncate(b))
	}
	return b
}

// Refresh makes everything written to index (a name, data stream or
// pattern such as "logs-*") visible to search. Missing indices are ignored.
func Refresh(t testing.TB, index string) {
	t.Helper()
	MustDo(t, http.MethodPost, "/"+url.PathEscape(index)+"/_refresh?ignore_unavailable=true&allow_no_indices=true", "")
}

// Count returns the number of documents in index that match query, the JSON
// of a query clause such as `{"term":{"log.level":"error"}}` ("" matches all).
// It does not refresh: call Refresh first. A missing index counts 0.
//
// The shard of an index created a moment before (a data stream's first
// backing index) answers 503 until it has started; Count asks again for up
// to 30 s before it fails the test.
func Count(t testing.TB, index, query string) int {
	t.Helper()
	body := ""
	if strings.TrimSpace(query) != "" {
		body = `{"query":` + query + `}`
	}
	path := "/" + url.PathEscape(index) + "/_count?ignore_unavailable=true&allow_no_indices=true"
	st, b := Do(t, http.MethodPost, path, body)
	for deadline := time.Now().Add(30 * time.Second); st == http.StatusServiceUnavailable && time.Now().Before(deadline); {
		time.Sleep(100 * time.Millisecond)
		st, b = Do(t, http.MethodPost, path, body)
	}
	if st < 200 || st > 299 {
		t.Fatalf("POST %s: HTTP %d: %s", path, st, truncate(b))
	}
	var r struct {
		Count *int `json:"count"`
	}
	if err := json.Unmarshal(b, &r); err != nil || r.Count == nil {
		t.Fatalf("_count on %s: unexpected response %s (%v)", index, truncate(b), err)
	}
	return *r.Count
}

// Sources runs the search body (e.g. `{"size":10,"query":{...}}`) on index
// and returns the _source of each hit, in the order of the hits. It does not
// refresh: call Refresh first.
func Sources(t testing.TB, index, body string) []map[string]any {
	t.Helper()
	b := MustDo(t, http.MethodPost, "/"+url.PathEscape(index)+"/_search", body)
	var r struct {
		Hits struct {
			Hits []struct {
				Source map[string]any `json:"_source"`
			} `json:"hits"`
		} `json:"hits"`
	}
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("_search on %s: unexpected response %s (%v)", index, truncate(b), err)
	}
	out := make([]map[string]any, len(r.Hits.Hits))
	for k, h := range r.Hits.Hits {
		out[k] = h.Source
	}
	return out
}

// DeleteIndex deletes an index (or a comma-separated list or pattern of
// them). A missing index is not an error. It does not touch data streams.
func DeleteIndex(t testing.TB, name string) {
	t.Helper()
	st, b := Do(t, http.MethodDelete, "/"+url.PathEscape(name)+"?ignore_unavailable=true&allow_no_indices=true", "")
	if st != http.StatusOK && st != http.StatusNotFound {
		t.Fatalf("DELETE %s: HTTP %d: %s", name, st, truncate(b))
	}
}

// DeleteDataStream removes the documents of a data stream (a name or
// pattern). On a full Elasticsearch it deletes the stream with
// DELETE /_data_stream/<name>. The integ-test-zip has no _data_stream API
// (HTTP 405) and refuses DELETE /<name> on a data stream, so there it empties
// the stream instead: roll it over, then delete every backing index but the
// new, empty write index (which gets the current template's mappings). The
// stream itself, and its template, stay until the node stops. A missing
// stream is not an error.
func DeleteDataStream(t testing.TB, name string) {
	t.Helper()
	st, b := Do(t, http.MethodDelete, "/_data_stream/"+url.PathEscape(name), "")
	switch {
	case st == http.StatusOK || st == http.StatusNotFound:
		return
	case st != http.StatusMethodNotAllowed:
		t.Fatalf("DELETE /_data_stream/%s: HTTP %d: %s", name, st, truncate(b))
	}
	for _, ds := range resolveDataStreams(t, name) {
		b := MustDo(t, http.MethodPost, "/"+url.PathEscape(ds.Name)+"/_rollover", "")
		var ro struct {
			NewIndex string `json:"new_index"`
		}
		if err := json.Unmarshal(b, &ro); err != nil || ro.NewIndex == "" {
			t.Fatalf("rollover of %s: unexpected response %s (%v)", ds.Name, truncate(b), err)
		}
		var old []string
		for _, idx := range ds.BackingIndices {
			if idx != ro.NewIndex {
				old = append(old, idx)
			}
		}
		if len(old) > 0 {
			MustDo(t, http.MethodDelete, "/"+strings.Join(old, ","), "")
		}
	}
}

type dataStream struct {
	Name           string   `json:"name"`
	BackingIndices []string `json:"backing_indices"`
}

// resolveDataStreams lists the data streams matching name, with
// GET /_resolve/index, which lives in server and works everywhere.
func resolveDataStreams(t testing.TB, name string) []dataStream {
	t.Helper()
	st, b := Do(t, http.MethodGet, "/_resolve/index/"+url.PathEscape(name)+"?expand_wildcards=all", "")
	if st == http.StatusNotFound {
		return nil
	}
	if st != http.StatusOK {
		t.Fatalf("GET /_resolve/index/%s: HTTP %d: %s", name, st, truncate(b))
	}
	var r struct {
		DataStreams []dataStream `json:"data_streams"`
	}
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("GET /_resolve/index/%s: %v", name, err)
	}
	return r.DataStreams
}

// DataStreamExists reports whether name is an existing data stream.
func DataStreamExists(t testing.TB, name string) bool {
	t.Helper()
	for _, ds := range resolveDataStreams(t, name) {
		if ds.Name == name {
			return true
		}
	}
	return false
}

// Unique returns prefix followed by 8 random lowercase hex digits, for data
// stream, index and template names that no other test uses (data streams
// cannot be deleted on the test node). Keep prefix lowercase and free of '-'
// when it is the dataset part of logs-<dataset>-<namespace>.
func Unique(prefix string) string {
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	return prefix + hex.EncodeToString(b[:])
}

func truncate(b []byte) string {
	b = bytes.TrimSpace(b)
	if len(b) > 2000 {
		return string(b[:2000]) + "…"
	}
	return string(b)
}
