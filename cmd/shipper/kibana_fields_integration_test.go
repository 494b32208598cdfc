//go:build integration

package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"shipper/internal/testutil/estest"
	"shipper/kibana"
)

// checkKibanaFields checks what Kibana's data views would see of pattern,
// e.g. "logs-*-<namespace>" (logs-* narrowed to one test's namespace, so that
// other tests' streams on the shared node do not matter): every field in
// kibana.FieldsUsed is in _field_caps of pattern with the type the saved
// objects need, and some shipped document fills it.
//
// kibana.FieldsUsed covers both data views, logs-* and
// logs-shipper.deadletter-* (labels.target_index and event.original are
// dead-letter fields), so pattern must cover a logs stream and a dead-letter
// stream holding at least one document each; that is checked too.
func checkKibanaFields(t *testing.T, pattern string) {
	t.Helper()
	var caps struct {
		Indices []string `json:"indices"`
		Fields  map[string]map[string]struct {
			Searchable   bool `json:"searchable"`
			Aggregatable bool `json:"aggregatable"`
		} `json:"fields"`
	}
	b := estest.MustDo(t, http.MethodGet, "/"+pattern+"/_field_caps?fields=*", "")
	if err := json.Unmarshal(b, &caps); err != nil {
		t.Fatal(err)
	}
	var logs, dead bool
	for _, idx := range caps.Indices {
		if strings.HasPrefix(idx, ".ds-logs-shipper.deadletter-") {
			dead = true
		} else {
			logs = true
		}
	}
	if !logs || !dead {
		t.Errorf("_field_caps of %s covers %v, want the backing indices of a logs stream and of a dead-letter stream", pattern, caps.Indices)
	}
	numeric := map[string]bool{"long": true, "integer": true, "short": true, "byte": true, "double": true, "float": true, "half_float": true, "scaled_float": true, "unsigned_long": true}
	used := kibana.FieldsUsed()
	if len(used) == 0 {
		t.Fatal("kibana.FieldsUsed is empty")
	}
	for field, kind := range used {
		types, ok := caps.Fields[field]
		if !ok {
			t.Errorf("%s (needed as %s by the Kibana saved objects) is not in _field_caps of %s", field, kind, pattern)
			continue
		}
		for typ, c := range types {
			var good bool
			switch kind {
			case kibana.FieldDate:
				good = (typ == "date" || typ == "date_nanos") && c.Aggregatable
			case kibana.FieldKeyword:
				good = typ == "keyword" && c.Aggregatable
			case kibana.FieldNumber:
				good = numeric[typ] && c.Aggregatable
			default:
				good = typ != "unmapped"
			}
			if !good {
				t.Errorf("%s is mapped as %s (aggregatable %v) in %s; the Kibana saved objects need %s", field, typ, c.Aggregatable, pattern, kind)
			}
		}
		// And the shipped documents fill it: the views are not empty. The
		// sort tiebreakers depend on the input (log.offset for files,
		// event.sequence for stdin and Forward): one of them will do.
		if tiebreakers[field] {
			continue
		}
		if !someSourceHas(t, pattern, field) {
			t.Errorf("no document of %s has %s, which the Kibana saved objects use", pattern, field)
		}
	}
	if !someSourceHas(t, pattern, "log.offset") && !someSourceHas(t, pattern, "event.sequence") {
		t.Errorf("no document of %s has log.offset or event.sequence, by which the Kibana saved searches sort", pattern)
	}
	if t.Failed() {
		t.Logf("field caps: %.3000s", b)
	}
}

// tiebreakers are the fields the saved searches sort by after @timestamp.
var tiebreakers = map[string]bool{"log.offset": true, "event.sequence": true}

// someSourceHas reports whether a document of index has field in its
// _source. It reads the sources rather than asking an exists query, which
// cannot see fields kept only in _source (event.original of dead letters
// is neither indexed nor has doc values).
func someSourceHas(t *testing.T, index, field string) bool {
	t.Helper()
	for _, src := range estest.Sources(t, index, `{"size":5000,"_source":[`+jsonString(field)+`],"query":{"match_all":{}}}`) {
		if len(src) > 0 {
			return true
		}
	}
	return false
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
