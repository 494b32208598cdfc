package elasticsearch

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"shipper/internal/encode"
)

func TestClassify(t *testing.T) {
	f := func(status int, want verdict) {
		t.Helper()
		if got := classify(status); got != want {
			t.Errorf("classify(%d): got %d, want %d", status, got, want)
		}
	}
	for _, s := range []int{200, 201, 202, 299, 409} {
		f(s, delivered)
	}
	for _, s := range []int{429, 500, 502, 503, 504, 599, 401, 403, 404, 408} {
		f(s, retry)
	}
	for _, s := range []int{0, -1, 100, 199, 300, 400, 405, 410, 413, 422} {
		f(s, deadLetter)
	}
}

func TestErrorsFalse(t *testing.T) {
	f := func(body string, want bool) {
		t.Helper()
		if got := errorsFalse([]byte(body)); got != want {
			t.Errorf("errorsFalse(%q): got %v, want %v", body, got, want)
		}
	}
	f(`{"errors":false,"items":[{"create":{"status":201}}]}`, true)
	f(`{"took":12,"errors":false,"items":[]}`, true)
	f("{\n  \"errors\" :\n\tfalse}", true)
	f(`{"errors":true,"items":[]}`, false)
	f(`{"errors":null}`, false)
	f(`{"items":[],"errors":false}`, true)
	f(`{}`, false)
	f(``, false)
	f(`{"errors"`, false)
	f(`"errors"`, false)
	// Too far from the start to be looked at: the slow path decides.
	f(`{"took":1,"padding":"`+strings.Repeat("x", 64)+`","errors":false}`, false)
}

type itemSummary struct {
	Status int
	Type   string
	Reason string
}

func summarize(rs []itemResult) []itemSummary {
	out := make([]itemSummary, len(rs))
	for i := range rs {
		out[i] = itemSummary{rs[i].Status, rs[i].errorType(), rs[i].reason()}
	}
	return out
}

// Recorded Elasticsearch 8.19 bulk responses, whole and as filter_path
// leaves them.
func TestParseItemsGolden(t *testing.T) {
	partial := []itemSummary{
		{201, "", "status 201"},
		{429, "es_rejected_execution_exception", "rejected execution of primary operation [coordinating_and_primary_bytes=0, replica_bytes=0, all_bytes=0, primary_operation_bytes=1186, max_coordinating_and_primary_bytes=53687091]"},
		{400, "document_parsing_exception", `[1:74] failed to parse field [http.response.status_code] of type [long] in document with id 'AAAAAAAAAAEAAAAAAAAAAg'. Preview of field's value: 'OK': For input string: "OK"`},
		{409, "version_conflict_engine_exception", "[AAAAAAAAAAEAAAAAAAAAAw]: version conflict, document already exists (current version [1])"},
		{503, "unavailable_shards_exception", "[.ds-logs-app-default-2026.11.23-000001][0] primary shard is not active Timeout: [1m], request: [BulkShardRequest [[.ds-logs-app-default-2026.11.23-000001][0]] containing [5] requests]"},
		{400, "mapper_parsing_exception", "failed to parse: data stream timestamp field [@timestamp] is missing"},
	}
	for _, c := range []struct {
		file        string
		errorsFalse bool
		want        []itemSummary
		verdicts    []verdict
	}{
		{"bulk_ok.json", true, []itemSummary{{201, "", "status 201"}, {201, "", "status 201"}}, []verdict{delivered, delivered}},
		{"bulk_partial.json", false, partial, []verdict{delivered, retry, deadLetter, delivered, retry, deadLetter}},
		{"bulk_partial_filtered.json", false, partial, []verdict{delivered, retry, deadLetter, delivered, retry, deadLetter}},
		{"bulk_index_action.json", false, []itemSummary{{200, "", "status 200"}, {404, "index_not_found_exception", "no such index [plain-index]"}}, []verdict{delivered, retry}},
	} {
		body, err := os.ReadFile(filepath.Join("testdata", c.file))
		if err != nil {
			t.Fatal(err)
		}
		if got := errorsFalse(body); got != c.errorsFalse {
			t.Errorf("%s: errorsFalse got %v, want %v", c.file, got, c.errorsFalse)
		}
		rs, err := parseItems(body, len(c.want))
		if err != nil {
			t.Fatalf("%s: parseItems: %v", c.file, err)
		}
		if got := summarize(rs); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s:\ngot  %+v\nwant %+v", c.file, got, c.want)
		}
		for i := range rs {
			if got := classify(rs[i].Status); got != c.verdicts[i] {
				t.Errorf("%s item %d: verdict %d, want %d", c.file, i, got, c.verdicts[i])
			}
		}
		if _, err := parseItems(body, len(c.want)+1); err == nil {
			t.Errorf("%s: parseItems with one action too many: got nil error", c.file)
		}
	}
}

func TestParseItemsErrors(t *testing.T) {
	f := func(body string, n int, wantErr string) {
		t.Helper()
		_, err := parseItems([]byte(body), n)
		if err == nil || !strings.Contains(err.Error(), wantErr) {
			t.Errorf("parseItems(%q, %d): got %v, want an error with %q", body, n, err, wantErr)
		}
	}
	f(``, 0, "cannot decode bulk response")
	f(`<html>502 Bad Gateway</html>`, 1, "cannot decode bulk response")
	f(`{"errors":true,"items":[{"create":{"status":"201"}}]}`, 1, "cannot decode bulk response")
	f(`{"errors":true,"items":[]}`, 1, "0 items for 1 actions")
	f(`{"errors":true}`, 2, "0 items for 2 actions")
	f(`{"errors":true,"items":[{"create":{"status":201}},{"delete":{"status":200}}]}`, 2, "item 1 has no create result")
	f(`{"errors":true,"items":[{"create":null}]}`, 1, "item 0 has no create result")

	rs, err := parseItems([]byte(`{"errors":true,"items":[{"create":{"status":400,"error":{"type":"t","reason":"same","caused_by":{"reason":"same"}}}},{"create":{"status":400,"error":{"type":"t","reason":"r","caused_by":{}}}}]}`), 2)
	if err != nil {
		t.Fatal(err)
	}
	if got := rs[0].reason(); got != "same" {
		t.Errorf("reason with caused_by equal to it: got %q, want %q", got, "same")
	}
	if got := rs[1].reason(); got != "r" {
		t.Errorf("reason with an empty caused_by: got %q, want %q", got, "r")
	}
}

// FuzzParseItems feeds arbitrary bytes to the response classifier: it must
// never panic, and what it accepts must be consistent.
func FuzzParseItems(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "bulk_*.json"))
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, uint8(2))
		f.Add(b, uint8(6))
	}
	f.Add([]byte(itemsResponse(201, 409, 429, 400, 503)), uint8(5))
	f.Add([]byte(`{"errors":false}`), uint8(0))
	f.Add([]byte(`{"errors":true,"items":[{"index":{"status":-1,"error":{"caused_by":null}}}]}`), uint8(1))
	f.Add([]byte(`{"items":[{"create":{"status":1e400}}]}`), uint8(1))
	f.Add([]byte("\xff\x00{"), uint8(3))
	f.Fuzz(func(t *testing.T, body []byte, n uint8) {
		fast := errorsFalse(body)
		rs, err := parseItems(body, int(n))
		if err != nil {
			if rs != nil {
				t.Fatalf("parseItems returned results with error %v", err)
			}
			return
		}
		if len(rs) != int(n) {
			t.Fatalf("parseItems: %d results for %d actions", len(rs), n)
		}
		for i := range rs {
			v := classify(rs[i].Status)
			if v > deadLetter {
				t.Fatalf("classify(%d) = %d: not a verdict", rs[i].Status, v)
			}
			_ = rs[i].errorType()
			if r := rs[i].reason(); rs[i].Error == nil && r == "" {
				t.Fatalf("item %d: empty reason without an error", i)
			}
		}
		_ = fast
	})
}

// FuzzDeadLetterItem checks that a dead-letter document is valid JSON that
// keeps the original document, whatever the rejected document and the
// reason hold.
func FuzzDeadLetterItem(f *testing.F) {
	f.Add([]byte(`{"@timestamp":"2026-11-23T10:00:00Z","message":"m"}`), "document_parsing_exception", "failed to parse")
	f.Add([]byte(`{"@timestamp":"a\"b"}`), "t", "r")
	f.Add([]byte(`{"@timestamp":"\\"}`), "t\x00", "\xff")
	f.Add([]byte("\xff\xfe\n"), "", "")
	f.Fuzz(func(t *testing.T, doc []byte, errType, reason string) {
		// Half of the items were sent in a request whose default target
		// is theirs (no _index in the action line), half in one whose
		// default is another stream.
		def := "logs-other-default"
		if len(doc)%2 == 0 {
			def = testIndex
		}
		it := pend{action: encode.AppendCreateIn(nil, testIndex, def, encode.AppendID(nil, 1, 2)), doc: doc}
		action, dl := deadLetterItem(dlIndex, def, it, errType, reason)
		if want := encode.AppendCreate(nil, dlIndex, encode.AppendID(nil, 1, 2)); string(action) != string(want) {
			t.Fatalf("action: got %q, want %q", action, want)
		}
		if len(dl) == 0 || dl[len(dl)-1] != '\n' || strings.Count(string(dl), "\n") != 1 {
			t.Fatalf("dead-letter document is not one line: %q", dl)
		}
		var d map[string]any
		if err := json.Unmarshal(dl, &d); err != nil {
			t.Fatalf("dead-letter document for %q is not JSON: %v\n%s", doc, err, dl)
		}
		orig := strings.TrimRight(string(doc), "\n")
		if utf8.ValidString(orig) && d["event.original"] != orig {
			t.Fatalf("event.original: got %q, want %q", d["event.original"], orig)
		}
		if utf8.ValidString(reason) && d["error.message"] != reason {
			t.Fatalf("error.message: got %q, want %q", d["error.message"], reason)
		}
		if d["labels.target_index"] != testIndex {
			t.Fatalf("labels.target_index: got %v", d["labels.target_index"])
		}
	})
}

// parseStatuses agrees with parseItems on every status, and fails where it
// fails on the shape of the answer.
func TestParseStatuses(t *testing.T) {
	f := func(body string, n int) {
		t.Helper()
		full, ferr := parseItems([]byte(body), n)
		light, lerr := parseStatuses([]byte(body), n)
		if (ferr == nil) != (lerr == nil) {
			t.Fatalf("%s: parseItems error %v, parseStatuses error %v", body, ferr, lerr)
		}
		for i := range full {
			if full[i].Status != light[i].Status || light[i].Error != nil {
				t.Fatalf("%s: item %d: full %+v, light %+v", body, i, full[i], light[i])
			}
		}
	}
	f(itemsResponse(201, 429, 400, 503, 409), 5)
	f(`{"errors":true,"items":[{"index":{"status":201}},{"create":{"status":429,"error":{"type":"es_rejected_execution_exception","reason":"busy"}}}]}`, 2)
	f(`{"errors":true,"items":[{}]}`, 1)
	f(`{"errors":true,"items":[{"create":{"status":201}}]}`, 2)
	f(`not json`, 1)
}
