package setup

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	assets "shipper/elasticsearch"
	"shipper/internal/redact"
)

// installTemplates PUTs every embedded template, components first, and
// logs each one. A template identical to the installed one leaves the
// cluster state unchanged, so a second run is a no-op; a changed one
// replaces it (setup always overwrites, unlike the sink's start-up check).
// It stops at the first template Elasticsearch refuses, and its error then
// lists exactly which templates it installed before and which it did not.
func installTemplates(ctx context.Context, es *service) (err error) {
	tpls, err := assets.Templates()
	if err != nil {
		return err
	}
	done := 0
	defer func() {
		if err == nil {
			return
		}
		name := func(t assets.Template) string { return string(t.Kind) + "/" + t.Name }
		var left, notDone []string
		for i, t := range tpls {
			if i < done {
				left = append(left, name(t))
			} else {
				notDone = append(notDone, name(t))
			}
		}
		if len(left) == 0 {
			left = []string{"none"}
		}
		err = fmt.Errorf("%w (templates installed before the failure: %s; not installed: %s; setup is safe to run again)",
			err, strings.Join(left, ", "), strings.Join(notDone, ", "))
	}()
	for i, t := range tpls {
		done = i
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
				redact.URL(es.base), t.Kind, t.Name, t.Path(), res.status, es.reason(res.body))
		}
	}
	done = len(tpls)
	es.log.Info().Int("templates", len(tpls)).Msgf("Elasticsearch templates installed at %s", es.base)
	return nil
}
