// Package elasticsearch embeds the Elasticsearch templates the shipper
// installs: component templates first, then the composable index templates
// that compose them. The JSON files in this directory are the source of truth
// (README.md explains them and the choices behind them); `shipper setup` and
// the sink's start-up check install them in Templates order.
package elasticsearch

import (
	"embed"
	"fmt"
	"sort"
	"strings"
)

//go:embed component/*.json index/*.json
var files embed.FS

// Kind says which API installs a template.
type Kind string

const (
	Component Kind = "component" // PUT _component_template/<name>
	Index     Kind = "index"     // PUT _index_template/<name>
)

// Template is one template file.
type Template struct {
	Kind Kind
	Name string // file name without .json
	Body []byte
}

// Path returns the REST path that installs the template.
func (t Template) Path() string {
	if t.Kind == Component {
		return "/_component_template/" + t.Name
	}
	return "/_index_template/" + t.Name
}

// Templates returns every template in install order: component templates
// (sorted by name) before index templates (sorted by name).
func Templates() ([]Template, error) {
	var out []Template
	for _, k := range []Kind{Component, Index} {
		entries, err := files.ReadDir(string(k))
		if err != nil {
			return nil, fmt.Errorf("cannot list embedded %s templates: %w", k, err)
		}
		names := make([]string, 0, len(entries))
		for _, e := range entries {
			names = append(names, e.Name())
		}
		sort.Strings(names)
		for _, n := range names {
			b, err := files.ReadFile(string(k) + "/" + n)
			if err != nil {
				return nil, fmt.Errorf("cannot read embedded template %s/%s: %w", k, n, err)
			}
			out = append(out, Template{Kind: k, Name: strings.TrimSuffix(n, ".json"), Body: b})
		}
	}
	return out, nil
}
