package setup

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	assets "shipper/elasticsearch"
)

// installTemplates PUTs every embedded template, components first, and
// logs each one. A template identical to the installed one leaves the
// cluster state unchanged, so a second run is a no-op; a changed one
// replaces it (setup always overwrites, unlike the sink's start-up check).
// It stops at the first template Elasticsearch refuses.
func installTemplates(ctx context.Context, es *service) error {
	tpls, err := assets.Templates()
	if err != nil {
		return err
	}
	for _, t := range tpls {
		var meta struct {
			Version int `json:"version"`
		}
		_ = json.Unmarshal(t.Body, &meta) // validated by the elasticsearch package's tests
		res, err := es.do(ctx, http.MethodPut, t.Path(), "application/json", t.Body, nil)
		if err != nil {
			return fmt.Errorf("cannot install %s template %s: %w", t.Kind, t.Name, err)
		}
		switch {
		case res.status >= 200 && res.status < 300:
			es.log.Info().Str("template.kind", string(t.Kind)).Str("template.name", t.Name).Int("template.version", meta.Version).
				Msgf("installed %s template %s (version %d)", t.Kind, t.Name, meta.Version)
		case res.status == http.StatusUnauthorized || res.status == http.StatusForbidden:
			return es.authError(res, "install the index templates")
		default:
			return fmt.Errorf("Elasticsearch at %s refused %s template %s (PUT %s): HTTP %d: %s",
				es.base, t.Kind, t.Name, t.Path(), res.status, es.reason(res.body))
		}
	}
	es.log.Info().Int("templates", len(tpls)).Msgf("Elasticsearch templates installed at %s", es.base)
	return nil
}
