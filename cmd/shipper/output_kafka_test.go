package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"shipper/internal/event"
	es "shipper/internal/sink/elasticsearch"
)

// esOutput stands for the Elasticsearch sink: an output that is not the
// Kafka one.
type esOutput struct{}

func (esOutput) Run(context.Context, <-chan *event.Batch) error { return nil }
func (esOutput) Health() es.Health                              { return es.Health{} }
func (esOutput) Stats() es.Stats                                { return es.Stats{} }

// TestSettledFieldsNameTheOutput: the progress and summary lines say
// "indexed" and "duplicates" for Elasticsearch, "produced" for records
// Kafka acknowledged.
func TestSettledFieldsNameTheOutput(t *testing.T) {
	f := func(sink output, want string, absent ...string) {
		t.Helper()
		var buf bytes.Buffer
		log := zerolog.New(&buf)
		e := log.Info()
		settledFields(e, sink, es.Stats{Indexed: 5, Duplicates: 2})
		e.Msg("shipper stopped")
		got := buf.String()
		if !strings.Contains(got, want) {
			t.Errorf("%T: got %s, want %s in it", sink, got, want)
		}
		for _, a := range absent {
			if strings.Contains(got, a) {
				t.Errorf("%T: got %s, want no %s in it", sink, got, a)
			}
		}
	}
	f(esOutput{}, `"indexed":5,"duplicates":2`, `"produced"`)
	f(&kafkaOutput{}, `"produced":5`, `"indexed"`, `"duplicates"`)
}
