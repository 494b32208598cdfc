package elasticsearch

import (
	"bytes"
	"encoding/json"
	"slices"
	"sort"
	"strings"
	"testing"
)

// allowedTypes are the field types the integ-test-zip distribution (server
// and x-pack-core/security only) knows. Anything from mapper-extras or the
// x-pack stack plugin (match_only_text, constant_keyword, wildcard,
// flattened, scaled_float...) would make the template fail to install there.
var allowedTypes = map[string]bool{
	"keyword": true, "text": true, "date": true, "date_nanos": true,
	"long": true, "integer": true, "short": true, "byte": true,
	"double": true, "float": true, "boolean": true, "ip": true,
	"object": true, "nested": true,
}

// logsFields is every field the shipper (or the demo app) writes into
// logs-*-*, with the type it must be mapped as. Keep in sync with
// elasticsearch/README.md.
var logsFields = map[string]string{
	"@timestamp":                "date_nanos",
	"message":                   "text",
	"tags":                      "keyword",
	"stream":                    "keyword",
	"labels":                    "object",
	"log.level":                 "keyword",
	"log.flags":                 "keyword",
	"log.file.path":             "keyword",
	"log.offset":                "long",
	"log.original_size":         "long",
	"error.message":             "text",
	"error.type":                "keyword",
	"error.stack_trace":         "text",
	"event.ingested":            "date_nanos",
	"event.sequence":            "long",
	"event.action":              "keyword",
	"@timestamp_original":       "keyword",
	"client.address":            "keyword",
	"event.original":            "keyword",
	"event.duration":            "long",
	"event.dataset":             "keyword",
	"agent.type":                "keyword",
	"agent.name":                "keyword",
	"agent.version":             "keyword",
	"agent.id":                  "keyword",
	"agent.ephemeral_id":        "keyword",
	"host.name":                 "keyword",
	"input.type":                "keyword",
	"service.name":              "keyword",
	"service.version":           "keyword",
	"trace.id":                  "keyword",
	"span.id":                   "keyword",
	"transaction.id":            "keyword",
	"http.request.method":       "keyword",
	"http.request.bytes":        "long",
	"http.response.status_code": "long",
	"http.response.bytes":       "long",
	"url.path":                  "keyword",
	"url.original":              "keyword",
	"url.domain":                "keyword",
	"client.ip":                 "ip",
	"user_agent.original":       "keyword",
	"kubernetes.namespace":      "keyword",
	"kubernetes.pod.name":       "keyword",
	"kubernetes.pod.uid":        "keyword",
	"kubernetes.container.name": "keyword",
	"kubernetes.node.name":      "keyword",
	"kubernetes.labels":         "object",
	"container.id":              "keyword",
	"container.name":            "keyword",
	"container.image.name":      "keyword",
	"container.runtime":         "keyword",
	"fluent.tag":                "keyword",
	"data_stream.type":          "keyword",
	"data_stream.dataset":       "keyword",
	"data_stream.namespace":     "keyword",
	"ecs.version":               "keyword",
}

// deadLetterFields is what the sink writes into logs-shipper.deadletter-*
// (internal/sink/elasticsearch deadLetterItem) plus the common identity
// fields. @timestamp is date, not date_nanos: see README.md.
var deadLetterFields = map[string]string{
	"@timestamp":            "date",
	"event.original":        "keyword",
	"error.type":            "keyword",
	"error.message":         "text",
	"labels.target_index":   "keyword",
	"tags":                  "keyword",
	"data_stream.type":      "keyword",
	"data_stream.dataset":   "keyword",
	"data_stream.namespace": "keyword",
	"agent.type":            "keyword",
	"agent.version":         "keyword",
	"agent.ephemeral_id":    "keyword",
	"host.name":             "keyword",
}

type templateBody struct {
	Version       *int             `json:"version"`
	Meta          map[string]any   `json:"_meta"`
	IndexPatterns []string         `json:"index_patterns"`
	DataStream    *struct{}        `json:"data_stream"`
	Priority      *int             `json:"priority"`
	ComposedOf    []string         `json:"composed_of"`
	Template      *templateSection `json:"template"`
	raw           map[string]any   // the whole document, for key checks
}

type templateSection struct {
	Settings  map[string]any `json:"settings"`
	Mappings  map[string]any `json:"mappings"`
	Lifecycle map[string]any `json:"lifecycle"`
}

func loadAll(t *testing.T) ([]Template, map[string]templateBody) {
	t.Helper()
	tpls, err := Templates()
	if err != nil {
		t.Fatal(err)
	}
	bodies := map[string]templateBody{}
	for _, tp := range tpls {
		var b templateBody
		dec := json.NewDecoder(bytes.NewReader(tp.Body))
		if err := dec.Decode(&b); err != nil {
			t.Fatalf("%s/%s.json: invalid JSON: %v", tp.Kind, tp.Name, err)
		}
		if err := json.Unmarshal(tp.Body, &b.raw); err != nil {
			t.Fatalf("%s/%s.json: %v", tp.Kind, tp.Name, err)
		}
		bodies[string(tp.Kind)+"/"+tp.Name] = b
	}
	return tpls, bodies
}

func TestTemplatesOrderAndNames(t *testing.T) {
	tpls, bodies := loadAll(t)
	if len(tpls) == 0 {
		t.Fatal("no templates embedded")
	}
	var kinds []Kind
	seen := map[string]bool{}
	for _, tp := range tpls {
		kinds = append(kinds, tp.Kind)
		if strings.Contains(tp.Name, "@") {
			t.Errorf("%s template %q: '@' is reserved for Elasticsearch's built-in templates", tp.Kind, tp.Name)
		}
		if tp.Name != strings.ToLower(tp.Name) || strings.ContainsAny(tp.Name, " /\\*?\"<>|,#:") {
			t.Errorf("%s template %q: not a valid template name", tp.Kind, tp.Name)
		}
		if seen[tp.Name] {
			t.Errorf("template name %q used twice (a component and an index template may share a name, but it confuses operators)", tp.Name)
		}
		seen[tp.Name] = true
		b := bodies[string(tp.Kind)+"/"+tp.Name]
		if b.Version == nil || *b.Version < 1 {
			t.Errorf("%s template %q: wants a positive \"version\" (setup and operators compare it)", tp.Kind, tp.Name)
		}
		if b.Meta["managed_by"] != "shipper" {
			t.Errorf("%s template %q: _meta.managed_by = %v, want \"shipper\"", tp.Kind, tp.Name, b.Meta["managed_by"])
		}
		if want := "/_" + string(tp.Kind) + "_template/" + tp.Name; tp.Path() != want {
			t.Errorf("Path() = %q, want %q", tp.Path(), want)
		}
	}
	// Components first, each group sorted by name.
	if !slices.IsSortedFunc(kinds, func(a, b Kind) int {
		return strings.Compare(rank(a), rank(b))
	}) {
		t.Errorf("install order %v: component templates must come before index templates", kinds)
	}
	for _, k := range []Kind{Component, Index} {
		var names []string
		for _, tp := range tpls {
			if tp.Kind == k {
				names = append(names, tp.Name)
			}
		}
		if !sort.StringsAreSorted(names) {
			t.Errorf("%s templates not sorted by name: %v", k, names)
		}
	}
}

func rank(k Kind) string {
	if k == Component {
		return "0"
	}
	return "1"
}

func TestIndexTemplates(t *testing.T) {
	tpls, bodies := loadAll(t)
	components := map[string]bool{}
	for _, tp := range tpls {
		if tp.Kind == Component {
			components[tp.Name] = true
			b := bodies["component/"+tp.Name]
			for _, k := range []string{"index_patterns", "composed_of", "priority", "data_stream"} {
				if _, ok := b.raw[k]; ok {
					t.Errorf("component template %q has %q, which only index templates take", tp.Name, k)
				}
			}
		}
	}
	for _, tp := range tpls {
		if tp.Kind != Index {
			continue
		}
		b := bodies["index/"+tp.Name]
		if len(b.IndexPatterns) == 0 {
			t.Errorf("index template %q: no index_patterns", tp.Name)
		}
		if b.DataStream == nil {
			t.Errorf("index template %q: no \"data_stream\":{}; the writes would create plain indices", tp.Name)
		}
		if b.Priority == nil || *b.Priority <= 100 || *b.Priority >= 500 {
			t.Errorf("index template %q: priority %v, want above 100 (the built-in logs template) and below 500 (left to users)", tp.Name, b.Priority)
		}
		for _, c := range b.ComposedOf {
			if !components[c] {
				t.Errorf("index template %q: composed_of %q has no file component/%s.json", tp.Name, c, c)
			}
		}
		if b.Template != nil && b.Template.Lifecycle != nil {
			for k := range b.Template.Lifecycle {
				if k != "data_retention" && k != "enabled" {
					t.Errorf("index template %q: lifecycle.%s is not a data stream lifecycle option (ILM is absent)", tp.Name, k)
				}
			}
			r, _ := b.Template.Lifecycle["data_retention"].(string)
			if r == "" || !strings.HasSuffix(r, "d") {
				t.Errorf("index template %q: lifecycle.data_retention = %q, want a number of days like \"30d\"", tp.Name, r)
			}
		}
	}
	// The dead-letter stream matches logs-*-* too: its own template must win.
	logs, dead := bodies["index/shipper-logs"], bodies["index/shipper-deadletter"]
	if logs.Priority == nil || dead.Priority == nil || *dead.Priority <= *logs.Priority {
		t.Errorf("shipper-deadletter priority %v must be above shipper-logs %v", dead.Priority, logs.Priority)
	}
	if !slices.Equal(logs.IndexPatterns, []string{"logs-*-*"}) {
		t.Errorf("shipper-logs index_patterns = %v, want [logs-*-*]", logs.IndexPatterns)
	}
	if !slices.Equal(dead.IndexPatterns, []string{"logs-shipper.deadletter-*"}) {
		t.Errorf("shipper-deadletter index_patterns = %v, want [logs-shipper.deadletter-*]", dead.IndexPatterns)
	}
}

// TestNoXPackOrILM checks the settings use nothing the test distribution
// lacks: no ILM policy, no LogsDB/time-series index mode.
func TestNoXPackOrILM(t *testing.T) {
	tpls, _ := loadAll(t)
	for _, tp := range tpls {
		s := string(tp.Body)
		for _, bad := range []string{"index.lifecycle", `"lifecycle": {"name"`, "logsdb", "time_series", "default_pipeline", "final_pipeline"} {
			if strings.Contains(s, bad) {
				t.Errorf("%s template %q mentions %q, which the integ-test-zip does not have (no ILM, no ingest, no LogsDB)", tp.Kind, tp.Name, bad)
			}
		}
	}
}

// mappingsOf merges the mappings of an index template's components, in
// order, then its own (the index template wins), into dotted name -> type.
func mappingsOf(t *testing.T, bodies map[string]templateBody, index string) (fields map[string]map[string]any, root map[string]any) {
	t.Helper()
	fields = map[string]map[string]any{}
	root = map[string]any{}
	b := bodies["index/"+index]
	var sections []map[string]any
	for _, c := range b.ComposedOf {
		if cb := bodies["component/"+c].Template; cb != nil && cb.Mappings != nil {
			sections = append(sections, cb.Mappings)
		}
	}
	if b.Template != nil && b.Template.Mappings != nil {
		sections = append(sections, b.Template.Mappings)
	}
	for _, m := range sections {
		for k, v := range m {
			if k != "properties" {
				root[k] = v
			}
		}
		props, _ := m["properties"].(map[string]any)
		flatten("", props, fields)
	}
	return fields, root
}

func flatten(prefix string, props map[string]any, out map[string]map[string]any) {
	for name, v := range props {
		def, _ := v.(map[string]any)
		full := prefix + name
		out[full] = def
		if sub, ok := def["properties"].(map[string]any); ok {
			flatten(full+".", sub, out)
		}
	}
}

func typeOf(def map[string]any) string {
	if s, ok := def["type"].(string); ok {
		return s
	}
	return "object" // no type: an object (with or without properties)
}

func TestOnlyCoreFieldTypes(t *testing.T) {
	tpls, bodies := loadAll(t)
	for _, tp := range tpls {
		b := bodies[string(tp.Kind)+"/"+tp.Name]
		if b.Template == nil || b.Template.Mappings == nil {
			continue
		}
		fields := map[string]map[string]any{}
		props, _ := b.Template.Mappings["properties"].(map[string]any)
		flatten("", props, fields)
		for name, def := range fields {
			if typ := typeOf(def); !allowedTypes[typ] {
				t.Errorf("%s template %q: field %q has type %q, not a core type of the integ-test-zip", tp.Kind, tp.Name, name, typ)
			}
		}
		dts, _ := b.Template.Mappings["dynamic_templates"].([]any)
		for _, dt := range dts {
			for name, v := range dt.(map[string]any) {
				m, _ := v.(map[string]any)["mapping"].(map[string]any)
				if typ, ok := m["type"].(string); ok && !allowedTypes[typ] {
					t.Errorf("%s template %q: dynamic template %q maps to %q, not a core type", tp.Kind, tp.Name, name, typ)
				}
			}
		}
	}
}

func TestLogsFieldsMapped(t *testing.T) {
	_, bodies := loadAll(t)
	fields, root := mappingsOf(t, bodies, "shipper-logs")
	for name, want := range logsFields {
		def, ok := fields[name]
		if !ok {
			t.Errorf("shipper-logs: %q is not mapped, want %s", name, want)
			continue
		}
		if got := typeOf(def); got != want {
			t.Errorf("shipper-logs: %q is mapped as %s, want %s", name, got, want)
		}
	}
	checkUnindexed(t, "shipper-logs", fields["event.original"])
	if root["date_detection"] != false {
		t.Errorf("shipper-logs: date_detection = %v, want false (a string that looks like a date must not fix the field's type)", root["date_detection"])
	}
	// Keys with dots (Kubernetes labels such as app.kubernetes.io/name next
	// to app) must not turn into conflicting objects.
	for _, name := range []string{"labels", "kubernetes.labels"} {
		if fields[name]["subobjects"] != false {
			t.Errorf("shipper-logs: %q wants subobjects:false, got %v", name, fields[name]["subobjects"])
		}
	}
	// Every explicit keyword has ignore_above: a value over 32766 bytes
	// would otherwise reject the whole document.
	for name, def := range fields {
		if typeOf(def) == "keyword" && def["index"] != false && def["ignore_above"] == nil {
			t.Errorf("shipper-logs: keyword %q has no ignore_above", name)
		}
	}
}

func TestDynamicTemplates(t *testing.T) {
	_, bodies := loadAll(t)
	m := bodies["component/shipper-logs-mappings"].Template.Mappings
	dts, _ := m["dynamic_templates"].([]any)
	byType := map[string]string{} // match_mapping_type -> mapped type, first match wins
	for _, dt := range dts {
		for _, v := range dt.(map[string]any) {
			d := v.(map[string]any)
			if d["path_match"] != nil || d["match"] != nil {
				continue
			}
			typ := d["mapping"].(map[string]any)["type"].(string)
			switch mt := d["match_mapping_type"].(type) {
			case string:
				if _, ok := byType[mt]; !ok {
					byType[mt] = typ
				}
			}
		}
	}
	want := map[string]string{"string": "keyword", "long": "double", "double": "double"}
	for k, v := range want {
		if byType[k] != v {
			t.Errorf("unknown %s values are mapped as %q, want %q (README.md explains why)", k, byType[k], v)
		}
	}
}

func TestDeadLetterMapping(t *testing.T) {
	_, bodies := loadAll(t)
	fields, root := mappingsOf(t, bodies, "shipper-deadletter")
	if root["dynamic"] != false && root["dynamic"] != "false" {
		t.Errorf("shipper-deadletter: dynamic = %v, want false: a dead letter must never be rejected again by mapping", root["dynamic"])
	}
	for name, want := range deadLetterFields {
		def, ok := fields[name]
		if !ok {
			t.Errorf("shipper-deadletter: %q is not mapped, want %s", name, want)
			continue
		}
		if got := typeOf(def); got != want {
			t.Errorf("shipper-deadletter: %q is mapped as %s, want %s", name, got, want)
		}
	}
	checkUnindexed(t, "shipper-deadletter", fields["event.original"])
	// Nothing but these fields: dynamic templates are pointless under
	// dynamic:false and a component shared with logs would bring fields
	// (ip, long) that could reject a document again.
	for name, def := range fields {
		if _, ok := deadLetterFields[name]; ok {
			continue
		}
		switch typeOf(def) {
		case "object", "keyword", "text":
		default:
			t.Errorf("shipper-deadletter: unexpected %s field %q: only strings may be mapped besides @timestamp", typeOf(def), name)
		}
	}
}

func checkUnindexed(t *testing.T, tpl string, def map[string]any) {
	t.Helper()
	if def["index"] != false || def["doc_values"] != false {
		t.Errorf("%s: event.original = %v, want index:false, doc_values:false (kept in _source only, any size)", tpl, def)
	}
}

// TestTemplateHash: every template's body is its file with "hash": Hash
// first in its _meta, and the hash changes with the content.
func TestTemplateHash(t *testing.T) {
	tpls, err := Templates()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, tp := range tpls {
		file, err := files.ReadFile(string(tp.Kind) + "/" + tp.Name + ".json")
		if err != nil {
			t.Fatal(err)
		}
		var b struct {
			Meta struct {
				Hash string `json:"hash"`
			} `json:"_meta"`
		}
		if err := json.Unmarshal(tp.Body, &b); err != nil {
			t.Fatalf("%s: %v", tp.Name, err)
		}
		if b.Meta.Hash != tp.Hash || !strings.HasPrefix(tp.Hash, "sha256:") || seen[tp.Hash] {
			t.Errorf("%s: _meta.hash %q, Hash %q: want equal, sha256:, distinct", tp.Name, b.Meta.Hash, tp.Hash)
		}
		seen[tp.Hash] = true
		if got := strings.Replace(string(tp.Body), `"hash": "`+tp.Hash+`", `, "", 1); got != string(file) {
			t.Errorf("%s: body is not the file plus the hash", tp.Name)
		}
	}
}
