package elasticsearch

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"

	assets "shipper/elasticsearch"
	"shipper/internal/redact"
)

// TemplateState says what EnsureTemplates did.
type TemplateState string

const (
	TemplatesPresent   TemplateState = "present"   // every template was there, with our content
	TemplatesInstalled TemplateState = "installed" // missing ones were installed
	TemplatesUpdated   TemplateState = "updated"   // ones of an older shipper were replaced (missing ones installed)
)

// ForeignTemplateError reports installed templates that carry our names but
// not our content and were not made by the shipper (no _meta.managed_by
// "shipper"): documents go to data streams with their settings and
// mappings, not ours. EnsureTemplates leaves them alone.
type ForeignTemplateError struct {
	Names []string // kind/name
}

func (e *ForeignTemplateError) Error() string {
	return fmt.Sprintf("templates %s exist but were not installed by the shipper: documents are indexed with their mappings, not the shipper's (fields may be mapped wrongly or not at all); run 'shipper setup' to replace them, or delete them",
		strings.Join(e.Names, ", "))
}

// installedTemplate is what GET _index_template/<name> and
// _component_template/<name> say of one template.
type installedTemplate struct {
	Version int `json:"version"`
	Meta    struct {
		Hash      string `json:"hash"`
		ManagedBy string `json:"managed_by"`
	} `json:"_meta"`
}

// EnsureTemplates compares the installed templates with the embedded ones by
// content (the hash in their _meta): missing ones are installed, ones an
// older shipper installed are replaced, and ones someone else installed
// under our names are left alone and reported as a *ForeignTemplateError
// once ours are in place. Errors name the template and carry
// Elasticsearch's answer.
func (s *Sink) EnsureTemplates(ctx context.Context) (TemplateState, error) {
	tpls, err := assets.Templates()
	if err != nil {
		return "", err
	}
	state := TemplatesPresent
	var install []assets.Template
	var foreign []string
	for _, t := range tpls {
		status, body, err := s.do(ctx, http.MethodGet, t.Path(), nil)
		if err != nil {
			return "", err
		}
		switch {
		case status == http.StatusNotFound:
			install = append(install, t)
			if state == TemplatesPresent {
				state = TemplatesInstalled
			}
			continue
		case status >= 300:
			return "", &StatusError{Op: fmt.Sprintf("cannot check %s template %s", t.Kind, t.Name), Status: status, Body: excerpt(body)}
		}
		got, err := parseInstalled(t.Kind, body)
		if err != nil {
			return "", fmt.Errorf("cannot read %s template %s: %w: %s", t.Kind, t.Name, err, excerpt(body))
		}
		switch {
		case got == nil:
			install = append(install, t)
			if state == TemplatesPresent {
				state = TemplatesInstalled
			}
		case got.Meta.Hash == t.Hash:
		case got.Meta.ManagedBy != "shipper":
			foreign = append(foreign, string(t.Kind)+"/"+t.Name)
		default:
			s.log.Warn().Str("template", string(t.Kind)+"/"+t.Name).Int("installed_version", got.Version).
				Str("installed_hash", got.Meta.Hash).Str("hash", t.Hash).
				Msg("index template installed by another shipper version: replacing it with this version's")
			install = append(install, t)
			state = TemplatesUpdated
		}
	}
	for _, t := range install {
		status, body, err := s.do(ctx, http.MethodPut, t.Path(), t.Body)
		if err != nil {
			return "", err
		}
		if status >= 300 {
			return "", &StatusError{Op: fmt.Sprintf("cannot install %s template %s", t.Kind, t.Name), Status: status, Body: excerpt(body)}
		}
	}
	if len(foreign) > 0 {
		return state, &ForeignTemplateError{Names: foreign}
	}
	return state, nil
}

// parseInstalled reads the one template of a GET answer; nil when the
// answer lists none.
func parseInstalled(kind assets.Kind, body []byte) (*installedTemplate, error) {
	var ans struct {
		Index []struct {
			T installedTemplate `json:"index_template"`
		} `json:"index_templates"`
		Component []struct {
			T installedTemplate `json:"component_template"`
		} `json:"component_templates"`
	}
	if err := json.Unmarshal(body, &ans); err != nil {
		return nil, err
	}
	switch {
	case kind == assets.Index && len(ans.Index) > 0:
		return &ans.Index[0].T, nil
	case kind == assets.Component && len(ans.Component) > 0:
		return &ans.Component[0].T, nil
	}
	return nil, nil
}

// do performs a small JSON request through the client.
func (s *Sink) do(ctx context.Context, method, path string, body []byte) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, path, rd)
	if err != nil {
		return 0, nil, fmt.Errorf("cannot build request %s %s: %w", method, path, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := s.client.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("cannot reach Elasticsearch at %v (%s %s): %w", redact.URLs(s.cfg.URLs), method, path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return 0, nil, fmt.Errorf("cannot read answer to %s %s: %w", method, path, err)
	}
	return res.StatusCode, b, nil
}

// Ping checks that Elasticsearch answers and returns its cluster health status.
func (s *Sink) Ping(ctx context.Context) (string, error) {
	status, body, err := s.do(ctx, http.MethodGet, "/_cluster/health", nil)
	if err != nil {
		return "", err
	}
	if status >= 300 {
		return "", fmt.Errorf("Elasticsearch at %v answered %d to GET /_cluster/health: %s", redact.URLs(s.cfg.URLs), status, excerpt(body))
	}
	if i := bytes.Index(body, []byte(`"status":"`)); i >= 0 {
		rest := body[i+len(`"status":"`):]
		if j := bytes.IndexByte(rest, '"'); j >= 0 {
			return string(rest[:j]), nil
		}
	}
	return "unknown", nil
}
