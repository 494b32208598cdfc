package encode

import (
	"encoding/json"
	"math/rand/v2"
	"strings"
	"testing"

	"shipper/internal/event"
	"shipper/internal/parse"
)

// testIndex is the data stream the tests write to.
const testIndex = "logs-app-default"

// checkBatch checks that b.Body is valid bulk NDJSON whose items match
// b.Items, that exactly the action lines of items going elsewhere than
// b.Index name their _index, and returns each item's index (b.Index for
// the lines that name none), id and decoded document.
func checkBatch(t testing.TB, b *event.Batch) (indices, ids []string, docs []map[string]any) {
	t.Helper()
	if len(b.Items) > 0 && b.Index == "" {
		t.Fatalf("a batch of %d items without a default index", len(b.Items))
	}
	pos := 0
	for i, it := range b.Items {
		if int(it.Start) != pos || it.Start >= it.Doc || it.Doc >= it.End || int(it.End) > len(b.Body) {
			t.Fatalf("item %d: bad offsets %+v (previous end %d, body %d bytes)", i, it, pos, len(b.Body))
		}
		pos = int(it.End)
		action, doc := b.Action(i), b.Document(i)
		for _, line := range [][]byte{action, doc} {
			if strings.Count(string(line), "\n") != 1 || line[len(line)-1] != '\n' {
				t.Fatalf("item %d: %q is not one line ending with a newline", i, line)
			}
		}
		var a struct {
			Create *struct {
				Index string `json:"_index"`
				ID    string `json:"_id"`
			} `json:"create"`
		}
		if err := json.Unmarshal(action, &a); err != nil || a.Create == nil {
			t.Fatalf("item %d: action %q is not a create action: %v", i, action, err)
		}
		var d map[string]any
		if err := json.Unmarshal(doc, &d); err != nil {
			t.Fatalf("item %d: document does not decode: %v\n%s", i, err, doc)
		}
		index := a.Create.Index
		switch {
		case index == "":
			index = b.Index
		case index == b.Index:
			t.Fatalf("item %d: action %q names the batch's default index", i, action)
		}
		if pi, pid, ok := ParseCreate(action); !ok || string(pid) != a.Create.ID || string(pi) != a.Create.Index {
			t.Fatalf("item %d: ParseCreate(%q) = %q, %q, %v", i, action, pi, pid, ok)
		}
		indices = append(indices, index)
		ids = append(ids, a.Create.ID)
		docs = append(docs, d)
	}
	if pos != len(b.Body) {
		t.Fatalf("body has %d bytes after the last item: %q", len(b.Body)-pos, b.Body[pos:])
	}
	return indices, ids, docs
}

func TestEncoderAppend(t *testing.T) {
	p := parse.New([]byte(`"agent.type":"shipper"`))
	p.SetIngested(1795428005000000000)
	enc := New(p, testIndex, "default")
	var b event.Batch
	lines := []string{
		`{"level":"info","msg":"hello \"world\"","time":"2026-11-23T10:00:00Z","n":1}`,
		`plain text with "quotes" and \ backslash`,
		`{"broken json`,
		"bad utf-8 \xff\xfe here",
		`{}`,
	}
	for i, l := range lines {
		info := enc.Append(&b, &parse.Line{Data: []byte(l), Time: 1795428000000000000}, 3, uint64(i))
		if info.Dataset != nil {
			t.Errorf("line %q: Dataset %q, want none", l, info.Dataset)
		}
		if info.Flags&parse.Blank != 0 {
			t.Errorf("line %q: flagged blank", l)
		}
	}
	// Blank lines add no item, they are only reported.
	for _, l := range []string{``, ` `, " \t\r"} {
		n := len(b.Body)
		if info := enc.Append(&b, &parse.Line{Data: []byte(l)}, 3, 99); info.Flags != parse.Blank || len(b.Body) != n {
			t.Errorf("blank line %q: flags %b, body grew by %d bytes", l, info.Flags, len(b.Body)-n)
		}
	}
	if b.Len() != len(lines) {
		t.Fatalf("items: got %d, want %d", b.Len(), len(lines))
	}
	// A line cut to nothing (or to spaces) is not blank: it is shipped,
	// flagged truncated.
	for _, l := range []string{``, `  `} {
		cut := enc.Append(&event.Batch{}, &parse.Line{Data: []byte(l), Size: 2 << 20}, 3, 100)
		if cut.Flags&parse.Blank != 0 || cut.Flags&parse.Truncated == 0 {
			t.Errorf("line of 2 MiB cut to %q: flags %b, want truncated and not blank", l, cut.Flags)
		}
	}
	indices, ids, docs := checkBatch(t, &b)
	for i := range lines {
		if indices[i] != testIndex {
			t.Errorf("line %d: index %q, want %q", i, indices[i], testIndex)
		}
		if want := string(AppendID(nil, 3, uint64(i))); ids[i] != want {
			t.Errorf("line %d: id %q, want %q", i, ids[i], want)
		}
		if want := `{"create":{"_id":"` + ids[i] + `"}}` + "\n"; string(b.Action(i)) != want {
			t.Errorf("line %d: action\ngot  %q\nwant %q", i, b.Action(i), want)
		}
		if docs[i]["agent.type"] != "shipper" || docs[i]["@timestamp"] == nil {
			t.Errorf("line %d: document lacks the static fields or @timestamp: %v", i, docs[i])
		}
	}
	if docs[0]["message"] != `hello "world"` || docs[0]["log.level"] != "info" || docs[0]["@timestamp"] != "2026-11-23T10:00:00Z" {
		t.Errorf("JSON line: got %v", docs[0])
	}
	if docs[1]["message"] != lines[1] {
		t.Errorf("text line: message %q, want %q", docs[1]["message"], lines[1])
	}
	if docs[2]["message"] != lines[2] || docs[2]["error.message"] == nil {
		t.Errorf("malformed line: got %v", docs[2])
	}
	if docs[3]["message"] != "bad utf-8 \ufffd\ufffd here" {
		t.Errorf("invalid UTF-8 line: message %q", docs[3]["message"])
	}
}

func TestEncoderDatasetRetargets(t *testing.T) {
	enc := New(parse.New(nil), testIndex, "prod")
	var b event.Batch
	f := func(dataset, wantIndex string) {
		t.Helper()
		i := b.Len()
		line := `{"message":"m","data_stream.dataset":` + dataset + `}`
		enc.Append(&b, &parse.Line{Data: []byte(line)}, 1, uint64(i))
		indices, ids, docs := checkBatch(t, &b)
		if indices[i] != wantIndex {
			t.Errorf("dataset %s: index %q, want %q", dataset, indices[i], wantIndex)
		}
		if want := string(AppendID(nil, 1, uint64(i))); ids[i] != want {
			t.Errorf("dataset %s: id %q, want %q", dataset, ids[i], want)
		}
		if docs[i]["message"] != "m" {
			t.Errorf("dataset %s: document changed: %v", dataset, docs[i])
		}
		// Earlier items are untouched.
		for j := 0; j < i; j++ {
			if ids[j] != string(AppendID(nil, 1, uint64(j))) {
				t.Errorf("dataset %s: item %d changed to id %q", dataset, j, ids[j])
			}
		}
	}
	f(`"nginx.access"`, "logs-nginx.access-prod")
	f(`"nginx.access"`, "logs-nginx.access-prod") // cached
	f(`"MyApp"`, "logs-myapp-prod")
	f(`"my-app"`, "logs-my_app-prod")
	f(`"a"`, "logs-a-prod") // shorter action than the default: the document moves left
	f(`"`+strings.Repeat("x", 150)+`"`, "logs-"+strings.Repeat("x", 100)+"-prod")
	f(`"app"`, "logs-app-prod")
	// Not usable: the default index stays.
	f(`"___"`, testIndex)
	f(`"..."`, testIndex)
	f(`""`, testIndex)
	f(`42`, testIndex)
	f(`null`, testIndex)
	f(`"app"`, "logs-app-prod") // after an unusable one, the cache is right again
}

func TestEncoderDatasetInvalidNamespace(t *testing.T) {
	enc := New(parse.New(nil), testIndex, "Bad-NS")
	var b event.Batch
	enc.Append(&b, &parse.Line{Data: []byte(`{"data_stream.dataset":"app"}`)}, 1, 1)
	if indices, _, _ := checkBatch(t, &b); indices[0] != testIndex {
		t.Errorf("with an invalid namespace: index %q, want the default %q", indices[0], testIndex)
	}
}

func TestEncoderDatasetSameAsDefault(t *testing.T) {
	enc := New(parse.New(nil), "logs-app-default", "default")
	var b event.Batch
	enc.Append(&b, &parse.Line{Data: []byte(`{"data_stream.dataset":"app"}`)}, 1, 1)
	if indices, _, _ := checkBatch(t, &b); indices[0] != "logs-app-default" {
		t.Errorf("index %q, want logs-app-default", indices[0])
	}
}

// TestEncoderStreamsLimit: with a Streams, records reach only allowed
// datasets, at most max distinct ones; the others stay in the default data
// stream, flagged with the dataset they asked for.
func TestEncoderStreamsLimit(t *testing.T) {
	enc := New(parse.New(nil), testIndex, "prod")
	enc.Streams = NewStreams([]string{"app", "nginx.*"}, 3)
	var b event.Batch
	f := func(dataset, wantIndex, wantFlag string) {
		t.Helper()
		i := b.Len()
		enc.Append(&b, &parse.Line{Data: []byte(`{"message":"m","data_stream.dataset":"` + dataset + `"}`)}, 1, uint64(i))
		indices, _, docs := checkBatch(t, &b)
		if indices[i] != wantIndex {
			t.Errorf("dataset %s: index %q, want %q", dataset, indices[i], wantIndex)
		}
		got, _ := docs[i]["labels.dataset_rejected"].(string)
		if got != wantFlag || docs[i]["message"] != "m" {
			t.Errorf("dataset %s: document %v, want labels.dataset_rejected %q", dataset, docs[i], wantFlag)
		}
	}
	f("app", "logs-app-prod", "")
	f("nginx.access", "logs-nginx.access-prod", "")
	f("evil", testIndex, "evil") // not allowed
	f("evil", testIndex, "evil") // cached refusal
	f("nginx.error", "logs-nginx.error-prod", "")
	f("nginx.debug", testIndex, "nginx.debug") // a fourth distinct one: over the cap
	f("app", "logs-app-prod", "")              // admitted ones stay admitted
	f("Evil Twin", testIndex, "evil_twin")
	if got := enc.Streams.Rejected(); got != 4 {
		t.Errorf("Rejected: got %d, want 4", got)
	}
	if got := enc.Streams.Datasets(); got != 3 {
		t.Errorf("Datasets: got %d, want 3", got)
	}
}

// stageFunc is a Stage for tests.
type stageFunc func(body []byte, doc int) ([]byte, Outcome)

func (f stageFunc) Process(body []byte, doc int, _ *parse.Line, _ parse.Info) ([]byte, Outcome) {
	return f(body, doc)
}

// TestEncoderStage: a Stage rewrites the document, drops the line, sets the
// id, or chooses the dataset and namespace (under the Streams limits).
func TestEncoderStage(t *testing.T) {
	enc := New(parse.New(nil), testIndex, "default")
	enc.Streams = NewStreams([]string{"shop"}, 5)
	var out Outcome
	rewrite := false
	enc.Stage = stageFunc(func(body []byte, doc int) ([]byte, Outcome) {
		if rewrite {
			body = append(body[:doc], `{"rewritten":true}`...)
		}
		return body, out
	})
	var b event.Batch
	enc.Append(&b, &parse.Line{Data: []byte(`{"message":"a"}`)}, 1, 1)
	out = Outcome{Drop: true}
	enc.Append(&b, &parse.Line{Data: []byte(`{"message":"dropped"}`)}, 1, 2)
	out = Outcome{ID: true, Hi: 7, Lo: 8}
	rewrite = true
	enc.Append(&b, &parse.Line{Data: []byte(`{"message":"b"}`)}, 1, 3)
	rewrite = false
	out = Outcome{DatasetSet: true, Dataset: []byte("shop"), Namespace: "prod"}
	enc.Append(&b, &parse.Line{Data: []byte(`{"message":"c"}`)}, 1, 4)
	out = Outcome{Namespace: "prod"}
	enc.Append(&b, &parse.Line{Data: []byte(`{"message":"d"}`)}, 1, 5)
	out = Outcome{DatasetSet: true, Dataset: []byte("evil")}
	enc.Append(&b, &parse.Line{Data: []byte(`{"message":"e"}`)}, 1, 6)
	indices, ids, docs := checkBatch(t, &b)
	if len(docs) != 5 {
		t.Fatalf("%d documents, want 5 (one dropped)", len(docs))
	}
	want7 := string(AppendID(nil, 7, 8))
	if ids[1] != want7 || docs[1]["rewritten"] != true {
		t.Errorf("item 1: id %s doc %v, want id %s and the rewritten document", ids[1], docs[1], want7)
	}
	if ids[0] != string(AppendID(nil, 1, 1)) {
		t.Errorf("item 0: id %s changed", ids[0])
	}
	for i, want := range []string{testIndex, testIndex, "logs-shop-prod", "logs-app-prod", testIndex} {
		if indices[i] != want {
			t.Errorf("item %d: index %s, want %s", i, indices[i], want)
		}
	}
	if docs[4]["labels.dataset_rejected"] != "evil" {
		t.Errorf("refused dataset not flagged: %v", docs[4])
	}
}

// TestEncoderBatchDefault: a batch's default index is the encoder's Index
// unless most items of its previous batch went to one other data stream;
// only the action lines of items going elsewhere name their _index, and a
// batch already holding lines that name theirs (the Kafka input's) gets a
// default too.
func TestEncoderBatchDefault(t *testing.T) {
	enc := New(parse.New(nil), testIndex, "prod")
	batch := func(datasets ...string) (*event.Batch, []string) {
		t.Helper()
		b := &event.Batch{}
		for i, ds := range datasets {
			line := `{"message":"m"}`
			if ds != "" {
				line = `{"message":"m","data_stream.dataset":"` + ds + `"}`
			}
			enc.Append(b, &parse.Line{Data: []byte(line)}, 1, uint64(i))
		}
		indices, _, _ := checkBatch(t, b)
		return b, indices
	}
	f := func(wantDefault string, wantIndices []string, datasets ...string) {
		t.Helper()
		b, indices := batch(datasets...)
		if b.Index != wantDefault {
			t.Errorf("batch %v: default %q, want %q", datasets, b.Index, wantDefault)
		}
		if strings.Join(indices, " ") != strings.Join(wantIndices, " ") {
			t.Errorf("batch %v: indices\ngot  %v\nwant %v", datasets, indices, wantIndices)
		}
		for i := range b.Items {
			short := !strings.Contains(string(b.Action(i)), `"_index"`)
			if short != (indices[i] == b.Index) || short && len(b.Action(i)) != len(`{"create":{"_id":""}}`+"\n")+IDLen {
				t.Errorf("batch %v: item %d action %q with default %q", datasets, i, b.Action(i), b.Index)
			}
		}
	}
	const shop, web = "logs-shop-prod", "logs-web-prod"
	d := testIndex
	// The first batch goes to Index; most of its items go to shop.
	f(d, []string{shop, d, shop, shop}, "shop", "", "shop", "shop")
	// So the next batch's default is shop, with the item for Index named.
	f(shop, []string{shop, d, shop}, "shop", "", "shop")
	// Half for Index: back to Index.
	f(shop, []string{d, web, d, shop}, "", "web", "", "shop")
	f(d, []string{d}, "")
	// No majority for any other stream, Index has the most: Index.
	f(d, []string{web, shop, d, d, shop}, "web", "shop", "", "", "shop")
	f(d, []string{d, d}, "", "")
	// Every item elsewhere: the next batch leaves out web's name.
	f(d, []string{web, web, web}, "web", "web", "web")
	f(web, []string{web, web}, "web", "web")

	// A batch whose first lines name their index, as the Kafka input's
	// documents do: the encoder's items still get a default.
	b := &event.Batch{}
	b.Body = AppendCreate(b.Body, "logs-kafka-prod", []byte("k1"))
	n := len(b.Body)
	b.Body = append(b.Body, "{}\n"...)
	b.AddItem(0, n)
	enc2 := New(parse.New(nil), testIndex, "prod")
	enc2.Append(b, &parse.Line{Data: []byte(`{"message":"m"}`)}, 1, 1)
	indices, _, _ := checkBatch(t, b)
	if b.Index != testIndex || indices[0] != "logs-kafka-prod" || indices[1] != testIndex {
		t.Errorf("mixed batch: default %q, indices %v", b.Index, indices)
	}
}

// TestEncoderIndexChanges: an encoder whose Index changes within a batch
// (the Forward input's, one tag after another) names the new index in the
// action lines, the batch keeping its default; a record routed to the
// batch's default leaves its name out.
func TestEncoderIndexChanges(t *testing.T) {
	enc := New(parse.New(nil), testIndex, "default")
	b := &event.Batch{}
	enc.Append(b, &parse.Line{Data: []byte(`{"message":"a"}`)}, 1, 1)
	enc.Index = "logs-other-prod"
	enc.Append(b, &parse.Line{Data: []byte(`{"message":"b"}`)}, 1, 2)
	enc.Append(b, &parse.Line{Data: []byte(`{"message":"c","data_stream.dataset":"app"}`)}, 1, 3)
	indices, _, _ := checkBatch(t, b)
	if want := []string{testIndex, "logs-other-prod", testIndex}; b.Index != testIndex || strings.Join(indices, " ") != strings.Join(want, " ") {
		t.Errorf("default %q, indices %v, want %q and %v", b.Index, indices, testIndex, want)
	}
}

// TestEncoderIDMatchesAppendID checks the encoder's id writer, which keeps
// the characters of the last hi, against AppendID: with hi changing and
// coming back, and every bit of lo set and clear.
func TestEncoderIDMatchesAppendID(t *testing.T) {
	var e Encoder
	r := rand.New(rand.NewPCG(1, 2))
	his := []uint64{0, 1, ^uint64(0), r.Uint64(), r.Uint64()}
	for k := 0; k < 20000; k++ {
		hi := his[k%len(his)]
		if k%7 == 0 {
			hi = his[(k/7)%len(his)]
		}
		lo := r.Uint64()
		switch k % 5 {
		case 1:
			lo = uint64(k)
		case 2:
			lo = 1 << (k % 64)
		case 3:
			lo = ^uint64(0) >> (k % 64)
		}
		got := string(e.appendID([]byte("x"), hi, lo))
		want := string(AppendID([]byte("x"), hi, lo))
		if got != want {
			t.Fatalf("hi %x lo %x: got %s, want %s", hi, lo, got, want)
		}
	}
}

// TestActionLineBytes checks the action lines Append writes, in the
// batch's default data stream (written in fixed-size stores) and in
// another, against AppendCreateIn with AppendID, for ids of every kind.
func TestActionLineBytes(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for k := 0; k < 1000; k++ {
		hi, lo := r.Uint64(), r.Uint64()
		for _, def := range []string{testIndex, "logs-other-default"} {
			e := New(parse.New(nil), testIndex, "default")
			b := event.Batch{Index: def, Body: make([]byte, k%7, k%7+k%60)}
			e.Append(&b, &parse.Line{Data: []byte(`{"message":"m"}`), Time: 1}, hi, lo)
			want := AppendCreateIn(nil, testIndex, def, AppendID(nil, hi, lo))
			if got := b.Action(0); string(got) != string(want) {
				t.Fatalf("default %s: got %q, want %q", def, got, want)
			}
		}
	}
}
