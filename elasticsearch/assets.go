// Package elasticsearch embeds the Elasticsearch templates the shipper
// installs: component templates first, then the composable index templates
// that compose them. The JSON files in this directory are the source of truth
// (README.md explains them and the choices behind them); `shipper setup` and
// the sink's start-up check install them in Templates order.
package elasticsearch

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
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
	// Body is the file with "hash": Hash added as the first member of its
	// _meta, so that an installed template tells which content it has.
	Body []byte
	// Hash identifies the file's content: "sha256:" and the hex SHA-256 of
	// the file. The start-up check compares it with the _meta.hash of the
	// installed template.
	Hash string
}

// metaOpen is how every template file opens its _meta object (checked by
// the tests).
const metaOpen = `"_meta": {`

// withHash returns the file b with "hash" as the first member of its _meta
// and that hash.
func withHash(b []byte) ([]byte, string, error) {
	sum := sha256.Sum256(b)
	hash := "sha256:" + hex.EncodeToString(sum[:])
	i := bytes.Index(b, []byte(metaOpen))
	if i < 0 {
		return nil, "", fmt.Errorf("no %s in the template", metaOpen)
	}
	i += len(metaOpen)
	out := make([]byte, 0, len(b)+len(hash)+16)
	out = append(out, b[:i]...)
	out = append(out, `"hash": "`+hash+`", `...)
	out = append(out, b[i:]...)
	return out, hash, nil
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
			body, hash, err := withHash(b)
			if err != nil {
				return nil, fmt.Errorf("embedded template %s/%s: %w", k, n, err)
			}
			out = append(out, Template{Kind: k, Name: strings.TrimSuffix(n, ".json"), Body: body, Hash: hash})
		}
	}
	return out, nil
}
