//go:build integration

package elasticsearch

import (
	"context"
	"testing"

	"shipper/internal/testutil/estest"
)

// TestEnsureTemplatesRealElasticsearch: against a real Elasticsearch, the
// start-up check installs the templates when needed and then finds every
// one with the shipper's content (the hash in _meta survives the round
// trip through GET).
func TestEnsureTemplatesRealElasticsearch(t *testing.T) {
	s, _ := newTestSink(t, estest.URL(t), nil)
	if _, err := s.EnsureTemplates(context.Background()); err != nil {
		t.Fatal(err)
	}
	state, err := s.EnsureTemplates(context.Background())
	if err != nil || state != TemplatesPresent {
		t.Fatalf("second check: got %q, %v; want %q", state, err, TemplatesPresent)
	}
}
