//go:build integration

package setup

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/rs/zerolog"

	assets "shipper/elasticsearch"
	"shipper/internal/testutil/estest"
)

// TestIntegrationInstallTemplates runs the Elasticsearch half of setup
// twice against a real node and checks every template is there with the
// embedded version.
func TestIntegrationInstallTemplates(t *testing.T) {
	url := estest.URL(t)
	cfg := Config{ElasticsearchURL: url, SkipKibana: true, Timeout: time.Minute}
	for run := 0; run < 2; run++ {
		if err := Run(context.Background(), cfg, zerolog.Nop()); err != nil {
			t.Fatalf("run %d: %v", run, err)
		}
	}
	tpls, err := assets.Templates()
	if err != nil {
		t.Fatal(err)
	}
	for _, tp := range tpls {
		var want struct {
			Version int `json:"version"`
		}
		if err := json.Unmarshal(tp.Body, &want); err != nil {
			t.Fatal(err)
		}
		b := estest.MustDo(t, http.MethodGet, tp.Path(), "")
		var got struct {
			IndexTemplates []struct {
				IndexTemplate struct {
					Version int `json:"version"`
				} `json:"index_template"`
			} `json:"index_templates"`
			ComponentTemplates []struct {
				ComponentTemplate struct {
					Version int `json:"version"`
				} `json:"component_template"`
			} `json:"component_templates"`
		}
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatal(err)
		}
		v := -1
		if len(got.IndexTemplates) == 1 {
			v = got.IndexTemplates[0].IndexTemplate.Version
		}
		if len(got.ComponentTemplates) == 1 {
			v = got.ComponentTemplates[0].ComponentTemplate.Version
		}
		if v != want.Version {
			t.Errorf("%s: installed version %d, want %d", tp.Path(), v, want.Version)
		}
	}
}
