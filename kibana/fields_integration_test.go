//go:build integration

package kibana

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"shipper/elasticsearch"
	"shipper/internal/testutil/estest"
)

// TestIntegrationFieldsMapped installs the shipper's templates, creates a
// logs stream and a dead-letter stream (the two data views' patterns), and
// checks with _field_caps that every field the saved objects use is mapped
// as they need: Lens cannot bucket a text field by terms, nor draw a date
// histogram on a keyword.
func TestIntegrationFieldsMapped(t *testing.T) {
	tpls, err := elasticsearch.Templates()
	if err != nil {
		t.Fatal(err)
	}
	for _, tp := range tpls {
		estest.MustDo(t, http.MethodPut, tp.Path(), string(tp.Body))
	}
	logs := "logs-" + estest.Unique("kbn") + "-default"
	dead := "logs-shipper.deadletter-" + estest.Unique("kbn")
	for _, ds := range []string{logs, dead} {
		estest.MustDo(t, http.MethodPost, "/"+ds+"/_doc?refresh=true", `{"@timestamp":"2026-11-23T10:00:00Z"}`)
	}

	var caps struct {
		Fields map[string]map[string]struct {
			Searchable   bool `json:"searchable"`
			Aggregatable bool `json:"aggregatable"`
		} `json:"fields"`
	}
	b := estest.MustDo(t, http.MethodGet, "/"+logs+","+dead+"/_field_caps?fields=*", "")
	if err := json.Unmarshal(b, &caps); err != nil {
		t.Fatal(err)
	}
	numeric := map[string]bool{"long": true, "integer": true, "short": true, "byte": true, "double": true, "float": true}
	for field, kind := range FieldsUsed() {
		types, ok := caps.Fields[field]
		if !ok {
			t.Errorf("%s (%s) is not mapped in %s or %s", field, kind, logs, dead)
			continue
		}
		for typ, c := range types {
			var good bool
			switch kind {
			case FieldDate:
				good = (typ == "date" || typ == "date_nanos") && c.Aggregatable
			case FieldKeyword:
				good = typ == "keyword" && c.Aggregatable
			case FieldNumber:
				good = numeric[typ] && c.Aggregatable
			default:
				good = true
			}
			if !good {
				t.Errorf("%s is mapped as %s (aggregatable %v), the saved objects need %s", field, typ, c.Aggregatable, kind)
			}
		}
	}
	if t.Failed() {
		t.Logf("field caps: %s", strings.TrimSpace(string(b))[:min(len(b), 3000)])
	}
}
