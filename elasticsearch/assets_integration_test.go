//go:build integration

package elasticsearch

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"shipper/internal/testutil/estest"
)

// installAll PUTs every template, twice: the second round must be accepted
// too (setup is idempotent).
func installAll(t *testing.T) {
	t.Helper()
	tpls, err := Templates()
	if err != nil {
		t.Fatal(err)
	}
	for round := 0; round < 2; round++ {
		for _, tp := range tpls {
			estest.MustDo(t, http.MethodPut, tp.Path(), string(tp.Body))
		}
	}
}

type bulkResult struct {
	Errors bool `json:"errors"`
	Items  []map[string]struct {
		Status int `json:"status"`
		Error  struct {
			Type   string `json:"type"`
			Reason string `json:"reason"`
		} `json:"error"`
	} `json:"items"`
}

// bulk creates docs in index and returns each item's status and error type.
func bulk(t *testing.T, index string, docs ...string) bulkResult {
	t.Helper()
	var b strings.Builder
	for _, d := range docs {
		fmt.Fprintf(&b, "{\"create\":{\"_index\":%q}}\n%s\n", index, d)
	}
	var r bulkResult
	if err := json.Unmarshal(estest.MustDo(t, http.MethodPost, "/_bulk", b.String()), &r); err != nil {
		t.Fatal(err)
	}
	if len(r.Items) != len(docs) {
		t.Fatalf("bulk: %d items for %d documents", len(r.Items), len(docs))
	}
	return r
}

func status(r bulkResult, i int) (int, string) {
	for _, it := range r.Items[i] {
		return it.Status, it.Error.Type + ": " + it.Error.Reason
	}
	return 0, ""
}

// fieldTypes returns dotted name -> mapped type for index (any backing index).
func fieldTypes(t *testing.T, index string) map[string]string {
	t.Helper()
	var r map[string]struct {
		Mappings map[string]struct {
			FullName string                    `json:"full_name"`
			Mapping  map[string]map[string]any `json:"mapping"`
		} `json:"mappings"`
	}
	if err := json.Unmarshal(estest.MustDo(t, http.MethodGet, "/"+index+"/_mapping/field/*", ""), &r); err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, idx := range r {
		for name, m := range idx.Mappings {
			for _, def := range m.Mapping {
				if typ, ok := def["type"].(string); ok {
					out[name] = typ
				}
			}
		}
	}
	return out
}

func TestIntegrationLogsTemplate(t *testing.T) {
	installAll(t)
	ds := "logs-" + estest.Unique("tpl") + "-default"
	r := bulk(t, ds,
		// 0: a demo-app request line as the shipper writes it.
		`{"@timestamp":"2026-11-23T10:00:00.123456789Z","log.level":"info","message":"GET /api/orders/7 200","service.name":"demo-app","http.request.method":"GET","url.path":"/api/orders/7","http.response.status_code":200,"event.duration":1234567,"trace.id":"0af7651916cd43dd8448eb211c80319c","span.id":"b7ad6b7169203331","client.ip":"10.1.2.3","user_agent.original":"shipper-demo","event.ingested":"2026-11-23T10:00:00.2Z","labels.app.kubernetes.io/name":"web","labels.app":"web","labels.n":5,"kubernetes.labels.app":"web","kubernetes.labels.app.kubernetes.io/name":"web","custom.count":1,"custom.when":"2026-01-01T00:00:00Z","error.stack_trace":"boom\n\tat main.go:1"}`,
		// 1: malformed values are ignored (ignore_malformed), not rejected.
		`{"@timestamp":"2026-11-23T10:00:01Z","message":"odd values","client.ip":"unknown","http.response.status_code":"abc","custom.count":1.5,"custom.when":"not a date"}`,
		// 2: date_nanos cannot hold times before 1970: rejected (dead-lettered by the sink).
		`{"@timestamp":"1969-12-31T23:59:59Z","message":"before the epoch"}`,
		// 3: @timestamp is never ignored even with ignore_malformed.
		`{"@timestamp":"yesterday","message":"bad time"}`,
		// 4: a very long keyword is ignored, not rejected.
		`{"@timestamp":"2026-11-23T10:00:02Z","message":"long url","url.original":"/`+strings.Repeat("x", 40000)+`"}`,
	)
	want := []int{201, 201, 400, 400, 201}
	for i, w := range want {
		if st, reason := status(r, i); st != w {
			t.Errorf("document %d: status %d (%s), want %d", i, st, reason, w)
		}
	}

	types := fieldTypes(t, ds)
	for name, wantType := range logsFields {
		if wantType == "object" {
			continue // the field API lists leaves only
		}
		if types[name] != wantType {
			t.Errorf("%s: %q mapped as %q, want %q", ds, name, types[name], wantType)
		}
	}
	for name, wantType := range map[string]string{
		"custom.count":                  "double",
		"custom.when":                   "keyword",
		"labels.app":                    "keyword",
		"labels.app.kubernetes.io/name": "keyword",
		"labels.n":                      "keyword",
		"kubernetes.labels.app.kubernetes.io/name": "keyword",
	} {
		if types[name] != wantType {
			t.Errorf("%s: dynamic field %q mapped as %q, want %q", ds, name, types[name], wantType)
		}
	}

	estest.Refresh(t, ds)
	if n := estest.Count(t, ds, `{"exists":{"field":"_ignored"}}`); n != 2 {
		t.Errorf("%s: %d documents with _ignored fields, want 2 (odd values, long url)", ds, n)
	}
	if n := estest.Count(t, ds, `{"match":{"error.stack_trace":"boom"}}`); n != 1 {
		t.Errorf("%s: error.stack_trace not searchable by word: %d hits", ds, n)
	}

	// Documents do not carry ecs.version by default: the data stream's
	// mapping says which ECS version its fields follow.
	var mapping map[string]struct {
		Mappings struct {
			Meta map[string]any `json:"_meta"`
		} `json:"mappings"`
	}
	if err := json.Unmarshal(estest.MustDo(t, http.MethodGet, "/"+ds+"/_mapping", ""), &mapping); err != nil {
		t.Fatal(err)
	}
	if len(mapping) == 0 {
		t.Errorf("%s: no mapping", ds)
	}
	for index, m := range mapping {
		if m.Mappings.Meta["ecs_version"] != "8.11.0" {
			t.Errorf("%s: mapping _meta %v, want ecs_version 8.11.0", index, m.Mappings.Meta)
		}
	}

	// The resolved template carries the lifecycle (not executed on the
	// integ-test-zip: no data-streams module).
	var sim struct {
		Template struct {
			Lifecycle map[string]any `json:"lifecycle"`
		} `json:"template"`
	}
	if err := json.Unmarshal(estest.MustDo(t, http.MethodPost, "/_index_template/_simulate_index/"+ds, ""), &sim); err != nil {
		t.Fatal(err)
	}
	if sim.Template.Lifecycle["data_retention"] != "30d" {
		t.Errorf("simulated lifecycle of %s = %v, want data_retention 30d", ds, sim.Template.Lifecycle)
	}
}

func TestIntegrationDeadLetterTemplate(t *testing.T) {
	installAll(t)
	ds := "logs-shipper.deadletter-" + estest.Unique("t")
	r := bulk(t, ds,
		`{"@timestamp":"1969-12-31T23:59:59.123456789Z","event.original":"{\"@timestamp\":\"1969-12-31T23:59:59.123456789Z\",\"client\":\"x\"}","error.type":"document_parsing_exception","error.message":"failed to parse field [@timestamp]","labels.target_index":"logs-x-default","tags":["dead_letter"]}`,
		// Unknown fields of any shape are kept, not mapped.
		`{"@timestamp":"2026-11-23T10:00:00Z","event.original":"`+strings.Repeat("y", 40000)+`","error.type":"x","error.message":"y","client":{"ip":"not an ip"},"n":1,"m":"a"}`,
	)
	for i := range r.Items {
		if st, reason := status(r, i); st != 201 {
			t.Errorf("dead letter %d: status %d (%s), want 201", i, st, reason)
		}
	}
	types := fieldTypes(t, ds)
	for _, name := range []string{"client.ip", "n", "m"} {
		if typ, ok := types[name]; ok {
			t.Errorf("%s: %q was mapped (%s): dynamic must be false", ds, name, typ)
		}
	}
	for name, wantType := range deadLetterFields {
		if types[name] != wantType {
			t.Errorf("%s: %q mapped as %q, want %q", ds, name, types[name], wantType)
		}
	}
}

// TestIntegrationFieldLimit checks ignore_dynamic_beyond_limit with a small
// limit: an index template of higher priority, for this test's streams only,
// composes our components and lowers the limit.
func TestIntegrationFieldLimit(t *testing.T) {
	installAll(t)
	dataset := estest.Unique("limit")
	estest.MustDo(t, http.MethodPut, "/_index_template/"+dataset, `{
		"index_patterns":["logs-`+dataset+`-*"],"data_stream":{},"priority":450,
		"composed_of":["shipper-logs-settings","shipper-logs-mappings"],
		"template":{"settings":{"index.mapping.total_fields.limit":160}}}`)
	ds := "logs-" + dataset + "-default"
	var b strings.Builder
	b.WriteString(`{"@timestamp":"2026-11-23T10:00:00Z","message":"many fields"`)
	for i := 0; i < 200; i++ {
		fmt.Fprintf(&b, `,"f%d":"v"`, i)
	}
	b.WriteString("}")
	r := bulk(t, ds, b.String())
	if st, reason := status(r, 0); st != 201 {
		t.Fatalf("document with fields beyond the limit: status %d (%s), want 201", st, reason)
	}
}
