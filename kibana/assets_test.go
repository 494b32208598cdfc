package kibana

import (
	"bytes"
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"testing"
)

// importable are the saved object types the file may hold: all of them
// import into Kibana 8.x without extra plugins.
var importable = map[string]bool{"index-pattern": true, "search": true, "lens": true, "dashboard": true}

func objects(t *testing.T) []savedObject {
	t.Helper()
	objs, err := parseObjects(SavedObjects())
	if err != nil {
		t.Fatalf("%s: %v", FileName, err)
	}
	return objs
}

func TestEveryLineIsAnObject(t *testing.T) {
	b := SavedObjects()
	if !bytes.HasSuffix(b, []byte("\n")) {
		t.Errorf("%s does not end with a newline", FileName)
	}
	for i, line := range bytes.Split(bytes.TrimSuffix(b, []byte("\n")), []byte("\n")) {
		var m map[string]json.RawMessage
		if err := json.Unmarshal(line, &m); err != nil {
			t.Errorf("line %d is not a JSON object: %v", i+1, err)
			continue
		}
		for _, k := range []string{"type", "id", "attributes", "references", "coreMigrationVersion", "typeMigrationVersion"} {
			if _, ok := m[k]; !ok {
				t.Errorf("line %d has no %q", i+1, k)
			}
		}
	}
}

func TestIDsAndTypes(t *testing.T) {
	seen := map[string]bool{}
	for _, o := range objects(t) {
		if !importable[o.Type] {
			t.Errorf("%s/%s: type %q is not one Kibana 8.x imports without plugins", o.Type, o.ID, o.Type)
		}
		k := o.Type + "/" + o.ID
		if seen[k] {
			t.Errorf("%s appears twice", k)
		}
		seen[k] = true
	}
	for _, want := range []string{"index-pattern/shipper-logs", "index-pattern/shipper-deadletter",
		"search/shipper-errors", "search/shipper-by-service", "search/shipper-dead-letters", "dashboard/shipper-overview"} {
		if !seen[want] {
			t.Errorf("%s is missing", want)
		}
	}
}

func TestDataViews(t *testing.T) {
	want := map[string][2]string{
		"shipper-logs":       {"logs-*", "Shipper logs"},
		"shipper-deadletter": {"logs-shipper.deadletter-*", ""},
	}
	for _, o := range objects(t) {
		if o.Type != "index-pattern" {
			continue
		}
		var a struct {
			Title, TimeFieldName, Name string
		}
		if err := json.Unmarshal(o.Attributes, &a); err != nil {
			t.Fatal(err)
		}
		w, ok := want[o.ID]
		if !ok {
			t.Errorf("unexpected data view %q", o.ID)
			continue
		}
		if a.Title != w[0] || a.TimeFieldName != "@timestamp" || (w[1] != "" && a.Name != w[1]) || a.Name == "" {
			t.Errorf("data view %s: title=%q timeFieldName=%q name=%q, want %q, @timestamp, %q", o.ID, a.Title, a.TimeFieldName, a.Name, w[0], w[1])
		}
	}
}

// TestReferencesResolve checks every reference names an object of the file,
// and that the names the attributes use (indexRefName, the Lens layer
// references, the dashboard's panelRefName) each have their reference.
func TestReferencesResolve(t *testing.T) {
	objs := objects(t)
	have := map[string]bool{}
	for _, o := range objs {
		have[o.Type+"/"+o.ID] = true
	}
	for _, o := range objs {
		where := o.Type + "/" + o.ID
		refs := map[string]string{} // name -> type/id
		for _, r := range o.References {
			if !have[r.Type+"/"+r.ID] {
				t.Errorf("%s: reference %q -> %s/%s does not resolve to an object in %s", where, r.Name, r.Type, r.ID, FileName)
			}
			if _, dup := refs[r.Name]; dup {
				t.Errorf("%s: reference name %q used twice", where, r.Name)
			}
			refs[r.Name] = r.Type + "/" + r.ID
		}
		switch o.Type {
		case "search":
			var a struct {
				Meta struct{ SearchSourceJSON string } `json:"kibanaSavedObjectMeta"`
			}
			mustUnmarshal(t, where, o.Attributes, &a)
			var ss struct {
				IndexRefName string `json:"indexRefName"`
				Query        struct{ Query, Language string }
			}
			mustUnmarshal(t, where+" searchSourceJSON", []byte(a.Meta.SearchSourceJSON), &ss)
			if !strings.HasPrefix(refs[ss.IndexRefName], "index-pattern/") {
				t.Errorf("%s: indexRefName %q has no index-pattern reference", where, ss.IndexRefName)
			}
			if ss.Query.Language != "kuery" {
				t.Errorf("%s: query language %q, want kuery", where, ss.Query.Language)
			}
		case "lens":
			checkLens(t, where, o.Attributes, refs)
		case "dashboard":
			var a struct {
				PanelsJSON string `json:"panelsJSON"`
			}
			mustUnmarshal(t, where, o.Attributes, &a)
			var panels []struct {
				Type         string `json:"type"`
				PanelIndex   string `json:"panelIndex"`
				PanelRefName string `json:"panelRefName"`
				GridData     struct {
					X, Y, W, H int
					I          string
				} `json:"gridData"`
			}
			mustUnmarshal(t, where+" panelsJSON", []byte(a.PanelsJSON), &panels)
			if len(panels) < 4 {
				t.Errorf("%s: %d panels, want volume, top services, error rate and latest errors", where, len(panels))
			}
			for _, p := range panels {
				// Kibana 8.x names a panel's reference "<panelIndex>:<panelRefName>".
				ref, ok := refs[p.PanelIndex+":"+p.PanelRefName]
				if !ok {
					t.Errorf("%s: panel %s: no reference named %q", where, p.PanelIndex, p.PanelIndex+":"+p.PanelRefName)
				} else if !strings.HasPrefix(ref, p.Type+"/") {
					t.Errorf("%s: panel %s of type %s refers to %s", where, p.PanelIndex, p.Type, ref)
				}
				if p.GridData.I != p.PanelIndex || p.GridData.W <= 0 || p.GridData.H <= 0 || p.GridData.X+p.GridData.W > 48 {
					t.Errorf("%s: panel %s: bad gridData %+v (48 columns wide, i = panelIndex)", where, p.PanelIndex, p.GridData)
				}
			}
		}
	}
}

// checkLens checks a Lens object's internal consistency: one reference per
// layer, column references and accessors that exist.
func checkLens(t *testing.T, where string, attrs json.RawMessage, refs map[string]string) {
	t.Helper()
	var a struct {
		VisualizationType string `json:"visualizationType"`
		State             struct {
			DatasourceStates struct {
				FormBased struct {
					Layers map[string]struct {
						ColumnOrder []string `json:"columnOrder"`
						Columns     map[string]struct {
							OperationType string   `json:"operationType"`
							References    []string `json:"references"`
						} `json:"columns"`
					} `json:"layers"`
				} `json:"formBased"`
			} `json:"datasourceStates"`
			Visualization struct {
				Layers []struct {
					LayerID       string   `json:"layerId"`
					XAccessor     string   `json:"xAccessor"`
					SplitAccessor string   `json:"splitAccessor"`
					Accessors     []string `json:"accessors"`
				} `json:"layers"`
			} `json:"visualization"`
		} `json:"state"`
	}
	mustUnmarshal(t, where, attrs, &a)
	if a.VisualizationType != "lnsXY" {
		t.Errorf("%s: visualizationType %q: only lnsXY is checked here", where, a.VisualizationType)
	}
	layers := a.State.DatasourceStates.FormBased.Layers
	if len(layers) == 0 {
		t.Errorf("%s: no formBased layers", where)
	}
	for id, l := range layers {
		if ref := refs["indexpattern-datasource-layer-"+id]; !strings.HasPrefix(ref, "index-pattern/") {
			t.Errorf("%s: layer %s has no indexpattern-datasource-layer-%s reference", where, id, id)
		}
		if got, want := slices.Sorted(slices.Values(l.ColumnOrder)), slices.Sorted(maps.Keys(l.Columns)); !slices.Equal(got, want) {
			t.Errorf("%s: layer %s: columnOrder %v does not list the columns %v", where, id, l.ColumnOrder, want)
		}
		for cid, c := range l.Columns {
			for _, r := range c.References {
				if _, ok := l.Columns[r]; !ok {
					t.Errorf("%s: column %s refers to missing column %s", where, cid, r)
				}
			}
		}
	}
	for _, vl := range a.State.Visualization.Layers {
		l, ok := layers[vl.LayerID]
		if !ok {
			t.Errorf("%s: visualization layer %q has no datasource layer", where, vl.LayerID)
			continue
		}
		for _, acc := range append([]string{vl.XAccessor, vl.SplitAccessor}, vl.Accessors...) {
			if _, ok := l.Columns[acc]; acc != "" && !ok {
				t.Errorf("%s: accessor %q is not a column of layer %s", where, acc, vl.LayerID)
			}
		}
	}
}

func mustUnmarshal(t *testing.T, where string, b []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", where, err)
	}
}

func TestFieldsUsed(t *testing.T) {
	got := FieldsUsed()
	want := map[string]FieldKind{
		"@timestamp":          FieldDate,
		"log.level":           FieldKeyword,
		"service.name":        FieldKeyword,
		"message":             FieldAny,
		"error.type":          FieldAny,
		"error.message":       FieldAny,
		"trace.id":            FieldAny,
		"labels.target_index": FieldAny,
		"event.original":      FieldAny,
		// Tiebreakers of the saved searches' sort.
		"log.offset":     FieldAny,
		"event.sequence": FieldAny,
	}
	if !maps.Equal(got, want) {
		t.Errorf("FieldsUsed() =\n%v\nwant\n%v", got, want)
	}
}

func TestKQLFields(t *testing.T) {
	f := func(q string, want ...string) {
		t.Helper()
		if got := kqlFields(q); !slices.Equal(got, want) {
			t.Errorf("kqlFields(%q) = %q, want %q", q, got, want)
		}
	}
	f("")
	f("log.level: (error or fatal)", "log.level")
	f("log.level: error or log.level: fatal", "log.level", "log.level")
	f(`message: "a: b" and not service.name:x`, "message", "service.name")
	f("(@timestamp < now and tags:dead_letter)", "tags")
}

func TestFieldsUsedConflict(t *testing.T) {
	nd := `{"type":"lens","id":"a","attributes":{"state":{"datasourceStates":{"formBased":{"layers":{"l":{"columns":{` +
		`"x":{"operationType":"terms","sourceField":"f","dataType":"string"},` +
		`"y":{"operationType":"sum","sourceField":"f","dataType":"number"}}}}}}}},"references":[]}` + "\n"
	if _, err := fieldsUsed([]byte(nd)); err == nil {
		t.Error("a field used as keyword and as number: no error")
	}
}
