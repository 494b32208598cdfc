package kafka

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"shipper/internal/encode"
	"shipper/internal/event"
	"shipper/internal/parse"
)

func newTestEncoder(streams *encode.Streams) *recordEncoder {
	enc := encode.New(parse.New([]byte(`"input.type":"kafka"`)), "logs-generic-default", "default")
	enc.Streams = streams
	return &recordEncoder{enc: enc, index: "logs-generic-default", namespace: "default", streams: streams}
}

// item decodes the single item of b: action and document.
func item(t *testing.T, b *event.Batch) (action map[string]map[string]string, doc map[string]any) {
	t.Helper()
	if b.Len() != 1 {
		t.Fatalf("items: got %d, want 1; body %q", b.Len(), b.Body)
	}
	if err := json.Unmarshal(b.Action(0), &action); err != nil {
		t.Fatalf("action %q: %v", b.Action(0), err)
	}
	if c := action["create"]; c != nil && c["_index"] == "" {
		c["_index"] = b.Index // the batch's default data stream
	}
	d := b.Document(0)
	if bytes.Count(d, []byte{'\n'}) != 1 || d[len(d)-1] != '\n' {
		t.Fatalf("document is not one line: %q", d)
	}
	if err := json.Unmarshal(d, &doc); err != nil {
		t.Fatalf("document %q: %v", d, err)
	}
	return action, doc
}

func TestRecordEncoding(t *testing.T) {
	shipperID := string(encode.AppendID(nil, 7, 9))
	f := func(name string, r record, streams *encode.Streams, wantIndex, wantID string, wantDocument bool, check func(doc map[string]any) string) {
		t.Helper()
		e := newTestEncoder(streams)
		var b event.Batch
		if r.Fields == nil {
			r.Fields = partFields("logs", 3)
		}
		res := e.append(&b, &r)
		if res.Document != wantDocument {
			t.Errorf("%s: document: got %v, want %v", name, res.Document, wantDocument)
		}
		action, doc := item(t, &b)
		c := action["create"]
		if c["_index"] != wantIndex || c["_id"] != wantID {
			t.Errorf("%s: action: got index %q id %q, want %q %q", name, c["_index"], c["_id"], wantIndex, wantID)
		}
		if check != nil {
			if msg := check(doc); msg != "" {
				t.Errorf("%s: %s; document %v", name, msg, doc)
			}
		}
	}
	derived := string(encode.AppendID(nil, partIDHi("logs", 3, [16]byte{}), 42))

	f("plain line", record{Value: []byte("hello world"), Offset: 42, IDHi: partIDHi("logs", 3, [16]byte{})}, nil,
		"logs-generic-default", derived, false, func(doc map[string]any) string {
			if doc["message"] != "hello world" || doc["kafka.topic"] != "logs" || doc["kafka.partition"] != 3.0 || doc["event.sequence"] != 42.0 {
				return "want message and kafka.* fields"
			}
			if doc["input.type"] != "kafka" {
				return "want input.type kafka"
			}
			return ""
		})
	f("JSON line chooses its dataset", record{Value: []byte(`{"msg":"x","data_stream.dataset":"app"}`), Offset: 42, IDHi: partIDHi("logs", 3, [16]byte{})}, nil,
		"logs-app-default", derived, false, nil)
	f("shipper document as it is", record{Value: []byte(`{"@timestamp":"2024-01-01T00:00:00Z","message":"m","input.type":"file"}`),
		Offset: 5, ID: []byte(shipperID), Index: []byte("logs-nginx.access-prod")}, nil,
		"logs-nginx.access-prod", shipperID, true, func(doc map[string]any) string {
			if doc["input.type"] != "file" || doc["message"] != "m" || doc["kafka.topic"] != nil {
				return "want the document unchanged"
			}
			return ""
		})
	f("shipper document, dataset refused", record{Value: []byte(`{"message":"m"}`), Offset: 5, ID: []byte(shipperID),
		Index: []byte("logs-other-default")}, encode.NewStreams([]string{"app*"}, 10),
		"logs-generic-default", shipperID, true, func(doc map[string]any) string {
			if doc["labels.dataset_rejected"] != "other" || doc["message"] != "m" {
				return "want labels.dataset_rejected=other"
			}
			return ""
		})
	f("shipper document, empty object refused", record{Value: []byte(`{}`), ID: []byte(shipperID),
		Index: []byte("logs-other-default")}, encode.NewStreams(nil, 0),
		"logs-generic-default", shipperID, true, func(doc map[string]any) string {
			if doc["labels.dataset_rejected"] != "other" {
				return "want labels.dataset_rejected=other"
			}
			return ""
		})
	f("invalid index header", record{Value: []byte(`{"message":"m"}`), Offset: 1, IDHi: 5, Index: []byte("metrics-x")}, nil,
		"logs-generic-default", string(encode.AppendID(nil, 5, 1)), true, nil)
	f("index header but not a one-line object: parsed", record{Value: []byte("{\"a\":\n1}"), Offset: 1, IDHi: 5, Index: []byte("logs-a-b")}, nil,
		"logs-generic-default", string(encode.AppendID(nil, 5, 1)), false, nil)
	f("index header, malformed JSON: parsed", record{Value: []byte(`{"a":}`), Offset: 1, IDHi: 5, Index: []byte("logs-a-b")}, nil,
		"logs-generic-default", string(encode.AppendID(nil, 5, 1)), false, func(doc map[string]any) string {
			if doc["message"] != `{"a":}` {
				return "want the raw value as message"
			}
			return ""
		})
	f("id header of another producer", record{Value: []byte(`{"m":1}`), Offset: 1, IDHi: 5, ID: []byte("order-17:a"), Index: []byte("logs-a-b")}, nil,
		"logs-a-b", "order-17:a", true, nil)
	f("unusable id header", record{Value: []byte(`{"m":1}`), Offset: 1, IDHi: 5, ID: []byte(`bad"id`), Index: []byte("logs-a-b")}, nil,
		"logs-a-b", string(encode.AppendID(nil, 5, 1)), true, nil)
	f("shipper id on a plain line", record{Value: []byte("x"), Offset: 1, IDHi: 5, ID: []byte(shipperID)}, nil,
		"logs-generic-default", shipperID, false, nil)
}

func TestRecordBlank(t *testing.T) {
	e := newTestEncoder(nil)
	var b event.Batch
	res := e.append(&b, &record{Value: []byte("  "), Fields: partFields("t", 0)})
	if res.Flags&parse.Blank == 0 || b.Len() != 0 {
		t.Fatalf("blank record: got flags %v and %d items, want Blank and none", res.Flags, b.Len())
	}
}

func TestDerivedIDsDiffer(t *testing.T) {
	seen := map[uint64]string{}
	for _, topic := range []string{"a", "b", "logs", "logs.1"} {
		for p := int32(0); p < 64; p++ {
			for _, id := range [][16]byte{{}, {1}, {2}} {
				h := partIDHi(topic, p, id)
				if prev, ok := seen[h]; ok {
					t.Fatalf("%s/%d (topic id %x) and %s share the id prefix %x", topic, p, id, prev, h)
				}
				seen[h] = topic
			}
		}
	}
}

func TestSplitIndex(t *testing.T) {
	f := func(name, ds, ns string, ok bool) {
		t.Helper()
		gds, gns, gok := splitIndex(name)
		if gds != ds || gns != ns || gok != ok {
			t.Errorf("splitIndex(%q): got %q %q %v, want %q %q %v", name, gds, gns, gok, ds, ns, ok)
		}
	}
	f("logs-app-default", "app", "default", true)
	f("logs-nginx.access-prod", "nginx.access", "prod", true)
	f("logs-a-b-c", "", "", false) // dataset "a-b" has a '-'
	f("metrics-a-b", "", "", false)
	f("logs-a", "", "", false)
	f("logs--b", "", "", false)
	f("logs-A-b", "", "", false)
}

// FuzzRecordEncoding checks that any record becomes exactly one well-formed
// bulk item (or none for a blank line): an action line and a one-line JSON
// document, whatever the value and headers.
func FuzzRecordEncoding(f *testing.F) {
	f.Add([]byte("hello"), []byte(""), []byte(""))
	f.Add([]byte(`{"message":"m"}`), []byte("logs-a-b"), encode.AppendID(nil, 1, 2))
	f.Add([]byte(`{"a":"\u0000"}`), []byte("logs-a-b"), []byte("x"))
	f.Add([]byte("{\"a\":1}\n{\"b\":2}"), []byte("logs-x-y"), []byte(""))
	f.Add([]byte(`{ }`), []byte("logs-q-default"), []byte(""))
	f.Add([]byte("\xff{"), []byte("logs-"), []byte("_id"))
	streams := encode.NewStreams([]string{"a*"}, 3)
	f.Fuzz(func(t *testing.T, value, index, id []byte) {
		e := newTestEncoder(streams)
		var b event.Batch
		res := e.append(&b, &record{Value: value, Index: index, ID: id, Offset: 3, IDHi: 4, Fields: partFields("t", 1)})
		if res.Flags&parse.Blank != 0 {
			if b.Len() != 0 {
				t.Fatalf("blank record wrote %d items", b.Len())
			}
			return
		}
		action, _ := item(t, &b)
		c := action["create"]
		if !strings.HasPrefix(c["_index"], "logs-") || c["_id"] == "" {
			t.Fatalf("action %v", action)
		}
		if bytes.Count(b.Action(0), []byte{'\n'}) != 1 {
			t.Fatalf("action is not one line: %q", b.Action(0))
		}
	})
}

func TestDocumentValue(t *testing.T) {
	f := func(v string, want bool) {
		t.Helper()
		if _, got := documentValue([]byte(v)); got != want {
			t.Errorf("documentValue(%q): got %v, want %v", v, got, want)
		}
	}
	f(`{"a":1}`, true)
	f(`{}`, true)
	f(`{"a":[1,{"b":null}],"c":"\u00e9"}`, true)
	f(`{"a":1} `, false) // trailing space: not the shipper's output
	f(`{"a":1}{"b":2}`, false)
	f(`{"a":}`, false)
	f(`{"a":"x`+"\n"+`"}`, false)
	f("{\"a\":\"\xff\"}", false)
	f(`[1]`, false)
	f(`"x"`, false)
}

// TestDocumentActionInDefaultStream checks that a shipper's document going
// to its batch's default data stream has an action line without _index,
// like the other items (the request is POST /<default>/_bulk), and one
// going elsewhere names its stream.
func TestDocumentActionInDefaultStream(t *testing.T) {
	e := newTestEncoder(nil)
	var b event.Batch
	e.append(&b, &record{Value: []byte("a plain line"), Offset: 1, IDHi: 5, Fields: partFields("logs", 3)})
	if b.Index != "logs-generic-default" {
		t.Fatalf("batch default: got %q", b.Index)
	}
	e.append(&b, &record{Value: []byte(`{"message":"m"}`), Offset: 2, IDHi: 5, Index: []byte("logs-generic-default"), Fields: partFields("logs", 3)})
	e.append(&b, &record{Value: []byte(`{"message":"m"}`), Offset: 3, IDHi: 5, Index: []byte("logs-app-default"), Fields: partFields("logs", 3)})
	if b.Len() != 3 {
		t.Fatalf("items: got %d, want 3", b.Len())
	}
	for k, want := range []string{`{"create":{"_id":"`, `{"create":{"_id":"`, `{"create":{"_index":"logs-app-default","_id":"`} {
		if a := string(b.Action(k)); !strings.HasPrefix(a, want) {
			t.Errorf("item %d: action %q, want it to start with %q", k, a, want)
		}
	}
}
