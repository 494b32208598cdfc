package kibana

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
)

// FieldKind is what a saved object needs from a field's Elasticsearch
// mapping.
type FieldKind string

const (
	// FieldDate: mapped as date or date_nanos (time field, date histogram).
	FieldDate FieldKind = "date"
	// FieldKeyword: an aggregatable string, i.e. keyword (terms buckets).
	FieldKeyword FieldKind = "keyword"
	// FieldNumber: an aggregatable number (long, double...).
	FieldNumber FieldKind = "number"
	// FieldAny: mapped with any type (a Discover column, a KQL term, a sort).
	FieldAny FieldKind = "any"
)

// strength orders the kinds: a field used in several ways needs the most
// specific one.
func (k FieldKind) strength() int {
	switch k {
	case FieldDate, FieldKeyword, FieldNumber:
		return 1
	}
	return 0
}

// FieldsUsed returns every field the embedded saved objects refer to, with
// what each needs from the mapping of logs-* (the dead-letter fields are
// mapped there too). An integration test compares it with the field
// capabilities of a data stream created from the shipper's templates. It
// panics if the embedded file cannot be parsed, which the package's tests
// rule out.
func FieldsUsed() map[string]FieldKind {
	m, err := fieldsUsed(savedObjects)
	if err != nil {
		panic("kibana: embedded " + FileName + " is broken: " + err.Error())
	}
	return m
}

// savedObject is the part of an NDJSON line FieldsUsed and the tests read.
type savedObject struct {
	Type       string          `json:"type"`
	ID         string          `json:"id"`
	Attributes json.RawMessage `json:"attributes"`
	References []struct {
		Type string `json:"type"`
		ID   string `json:"id"`
		Name string `json:"name"`
	} `json:"references"`
}

// parseObjects splits NDJSON into objects; empty lines are skipped.
func parseObjects(ndjson []byte) ([]savedObject, error) {
	var out []savedObject
	sc := bufio.NewScanner(bytes.NewReader(ndjson))
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	for n := 1; sc.Scan(); n++ {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		var o savedObject
		if err := json.Unmarshal(line, &o); err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		if o.Type == "" || o.ID == "" {
			return nil, fmt.Errorf("line %d: object without type or id", n)
		}
		out = append(out, o)
	}
	return out, sc.Err()
}

type searchSource struct {
	Query struct {
		Query    string `json:"query"`
		Language string `json:"language"`
	} `json:"query"`
}

type lensColumn struct {
	OperationType string `json:"operationType"`
	SourceField   string `json:"sourceField"`
	DataType      string `json:"dataType"`
	Filter        *struct {
		Query string `json:"query"`
	} `json:"filter"`
	Params struct {
		Formula string `json:"formula"`
	} `json:"params"`
}

func fieldsUsed(ndjson []byte) (map[string]FieldKind, error) {
	objs, err := parseObjects(ndjson)
	if err != nil {
		return nil, err
	}
	out := map[string]FieldKind{}
	var conflict error
	add := func(field string, k FieldKind) {
		old, ok := out[field]
		switch {
		case !ok || k.strength() > old.strength():
			out[field] = k
		case k.strength() == old.strength() && k != old && k != FieldAny:
			conflict = fmt.Errorf("field %q is used both as %s and as %s", field, old, k)
		}
	}
	addKQL := func(q string) {
		for _, f := range kqlFields(q) {
			add(f, FieldAny)
		}
	}
	for _, o := range objs {
		where := o.Type + "/" + o.ID
		switch o.Type {
		case "index-pattern":
			var a struct {
				TimeFieldName string `json:"timeFieldName"`
			}
			if err := json.Unmarshal(o.Attributes, &a); err != nil {
				return nil, fmt.Errorf("%s: %w", where, err)
			}
			if a.TimeFieldName != "" {
				add(a.TimeFieldName, FieldDate)
			}
		case "search", "dashboard":
			var a struct {
				Columns []string   `json:"columns"`
				Sort    [][]string `json:"sort"`
				Meta    struct {
					SearchSourceJSON string `json:"searchSourceJSON"`
				} `json:"kibanaSavedObjectMeta"`
			}
			if err := json.Unmarshal(o.Attributes, &a); err != nil {
				return nil, fmt.Errorf("%s: %w", where, err)
			}
			for _, c := range a.Columns {
				add(c, FieldAny)
			}
			for _, s := range a.Sort {
				if len(s) > 0 {
					add(s[0], FieldAny)
				}
			}
			if a.Meta.SearchSourceJSON != "" {
				var ss searchSource
				if err := json.Unmarshal([]byte(a.Meta.SearchSourceJSON), &ss); err != nil {
					return nil, fmt.Errorf("%s: searchSourceJSON: %w", where, err)
				}
				addKQL(ss.Query.Query)
			}
		case "lens":
			var a struct {
				State struct {
					DatasourceStates struct {
						FormBased struct {
							Layers map[string]struct {
								Columns map[string]lensColumn `json:"columns"`
							} `json:"layers"`
						} `json:"formBased"`
					} `json:"datasourceStates"`
					Q struct {
						Query string `json:"query"`
					} `json:"query"`
				} `json:"state"`
			}
			if err := json.Unmarshal(o.Attributes, &a); err != nil {
				return nil, fmt.Errorf("%s: %w", where, err)
			}
			addKQL(a.State.Q.Query)
			for _, l := range a.State.DatasourceStates.FormBased.Layers {
				for _, c := range l.Columns {
					if c.Filter != nil {
						addKQL(c.Filter.Query)
					}
					for _, m := range formulaKQL.FindAllStringSubmatch(c.Params.Formula, -1) {
						addKQL(m[1])
					}
					if c.SourceField == "" || c.SourceField == "___records___" {
						continue
					}
					switch c.OperationType {
					case "date_histogram":
						add(c.SourceField, FieldDate)
					case "terms":
						if c.DataType == "number" {
							add(c.SourceField, FieldNumber)
						} else {
							add(c.SourceField, FieldKeyword)
						}
					case "sum", "average", "median", "percentile", "percentile_rank", "standard_deviation", "range":
						add(c.SourceField, FieldNumber)
					default:
						add(c.SourceField, FieldAny)
					}
				}
			}
		}
	}
	return out, conflict
}

var (
	// kqlField matches "name:" in a KQL query (a field name before a colon).
	kqlField = regexp.MustCompile(`(?:^|[\s(])([A-Za-z@_][A-Za-z0-9_.@]*)\s*:`)
	// kqlString removes quoted values so that a colon inside one is no field.
	kqlString = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)
	// formulaKQL finds kql='...' in a Lens formula.
	formulaKQL = regexp.MustCompile(`kql='((?:[^'\\]|\\.)*)'`)
)

// kqlFields returns the field names a KQL query tests.
func kqlFields(q string) []string {
	q = kqlString.ReplaceAllString(q, `""`)
	var out []string
	for _, m := range kqlField.FindAllStringSubmatch(q, -1) {
		out = append(out, m[1])
	}
	return out
}
