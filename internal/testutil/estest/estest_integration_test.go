//go:build integration

package estest_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"shipper/internal/testutil/estest"
)

func TestHealth(t *testing.T) {
	b := estest.MustDo(t, http.MethodGet, "/_cluster/health", "")
	var h struct {
		Status string `json:"status"`
	}
	if err := json.Unmarshal(b, &h); err != nil {
		t.Fatal(err)
	}
	if h.Status != "green" && h.Status != "yellow" {
		t.Fatalf("cluster health %q: %s", h.Status, b)
	}
}

// TestDataStreamViaBulkCreate checks what the shipper relies on: a composable
// template with "data_stream":{} makes a bulk create auto-create the stream.
func TestDataStreamViaBulkCreate(t *testing.T) {
	dataset := estest.Unique("estest")
	ds := "logs-" + dataset + "-default"
	tmpl := estest.Unique("estest-tmpl-")
	estest.MustDo(t, http.MethodPut, "/_index_template/"+tmpl, fmt.Sprintf(`{
		"index_patterns": ["logs-%s-*"],
		"data_stream": {},
		"priority": 1000,
		"template": {
			"settings": {"number_of_replicas": 0},
			"mappings": {"properties": {
				"@timestamp": {"type": "date_nanos"},
				"message": {"type": "text"},
				"log": {"properties": {"level": {"type": "keyword"}}}
			}}
		}
	}`, dataset))
	t.Cleanup(func() {
		// Refused while the data stream exists (always, on the integ-test-zip).
		estest.Do(t, http.MethodDelete, "/_index_template/"+tmpl, "")
	})

	var bulk strings.Builder
	for i, lvl := range []string{"info", "info", "error"} {
		fmt.Fprintf(&bulk, "{\"create\":{}}\n{\"@timestamp\":\"2026-11-23T10:00:0%d.123456789Z\",\"message\":\"m%d\",\"log\":{\"level\":%q}}\n", i, i, lvl)
	}
	b := estest.MustDo(t, http.MethodPost, "/"+ds+"/_bulk", bulk.String())
	var br struct {
		Errors bool `json:"errors"`
		Items  []map[string]struct {
			Index  string `json:"_index"`
			Status int    `json:"status"`
		} `json:"items"`
	}
	if err := json.Unmarshal(b, &br); err != nil {
		t.Fatal(err)
	}
	if br.Errors || len(br.Items) != 3 {
		t.Fatalf("bulk: %s", b)
	}
	if idx := br.Items[0]["create"].Index; !strings.HasPrefix(idx, ".ds-"+ds+"-") {
		t.Fatalf("document went to %q, not to a backing index of %s", idx, ds)
	}
	if !estest.DataStreamExists(t, ds) {
		t.Fatalf("%s is not a data stream", ds)
	}

	estest.Refresh(t, ds)
	if n := estest.Count(t, ds, ""); n != 3 {
		t.Fatalf("count = %d, want 3", n)
	}
	if n := estest.Count(t, ds, `{"term":{"log.level":"error"}}`); n != 1 {
		t.Fatalf("error count = %d, want 1", n)
	}
	if n := estest.Count(t, "logs-"+dataset+"-*", ""); n != 3 {
		t.Fatalf("pattern count = %d, want 3", n)
	}

	estest.DeleteDataStream(t, ds)
	estest.Refresh(t, ds)
	if n := estest.Count(t, ds, ""); n != 0 {
		t.Fatalf("count after DeleteDataStream = %d, want 0", n)
	}
	// Deleting again, or something that does not exist, is fine.
	estest.DeleteDataStream(t, ds)
	estest.DeleteDataStream(t, "logs-"+estest.Unique("nothere")+"-default")
}

func TestIndexHelpers(t *testing.T) {
	idx := estest.Unique("estest-idx-")
	estest.MustDo(t, http.MethodPut, "/"+idx, `{"settings":{"number_of_replicas":0}}`)
	estest.MustDo(t, http.MethodPost, "/"+idx+"/_bulk", "{\"index\":{}}\n{\"a\":1}\n{\"index\":{}}\n{\"a\":2}\n")
	estest.Refresh(t, idx)
	if n := estest.Count(t, idx, `{"range":{"a":{"gte":2}}}`); n != 1 {
		t.Fatalf("count = %d, want 1", n)
	}
	estest.DeleteIndex(t, idx)
	if st, _ := estest.Do(t, http.MethodGet, "/"+idx, ""); st != http.StatusNotFound {
		t.Fatalf("GET after DeleteIndex: HTTP %d, want 404", st)
	}
	estest.DeleteIndex(t, idx) // missing: fine
	if n := estest.Count(t, idx, ""); n != 0 {
		t.Fatalf("count of a missing index = %d, want 0", n)
	}
}
