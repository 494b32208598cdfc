package elasticsearch

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"

	assets "shipper/elasticsearch"
)

// TemplateState says what EnsureTemplates did.
type TemplateState string

const (
	TemplatesPresent   TemplateState = "present"   // every index template was already there
	TemplatesInstalled TemplateState = "installed" // missing ones were installed
)

// EnsureTemplates installs the embedded templates when any index template is
// missing; templates already present are left alone (an operator may have
// tuned them; `shipper setup` overwrites). Errors name the template and
// carry Elasticsearch's answer.
func (s *Sink) EnsureTemplates(ctx context.Context) (TemplateState, error) {
	tpls, err := assets.Templates()
	if err != nil {
		return "", err
	}
	missing := false
	for _, t := range tpls {
		if t.Kind != assets.Index {
			continue
		}
		status, body, err := s.do(ctx, http.MethodGet, t.Path(), nil)
		if err != nil {
			return "", err
		}
		switch {
		case status == http.StatusNotFound:
			missing = true
		case status >= 300:
			return "", &StatusError{Op: "cannot check index template " + t.Name, Status: status, Body: excerpt(body)}
		}
	}
	if !missing {
		return TemplatesPresent, nil
	}
	for _, t := range tpls {
		status, body, err := s.do(ctx, http.MethodPut, t.Path(), t.Body)
		if err != nil {
			return "", err
		}
		if status >= 300 {
			return "", &StatusError{Op: fmt.Sprintf("cannot install %s template %s", t.Kind, t.Name), Status: status, Body: excerpt(body)}
		}
	}
	return TemplatesInstalled, nil
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
		return 0, nil, fmt.Errorf("cannot reach Elasticsearch at %v (%s %s): %w", s.cfg.URLs, method, path, err)
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
		return "", fmt.Errorf("Elasticsearch at %v answered %d to GET /_cluster/health: %s", s.cfg.URLs, status, excerpt(body))
	}
	if i := bytes.Index(body, []byte(`"status":"`)); i >= 0 {
		rest := body[i+len(`"status":"`):]
		if j := bytes.IndexByte(rest, '"'); j >= 0 {
			return string(rest[:j]), nil
		}
	}
	return "unknown", nil
}
