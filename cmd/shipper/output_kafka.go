package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/rs/zerolog"

	"shipper/internal/backoff"
	"shipper/internal/config"
	"shipper/internal/event"
	"shipper/internal/pipeline"
	es "shipper/internal/sink/elasticsearch"
	"shipper/internal/sink/kafka"
	"shipper/internal/status"
)

// output is what run needs of the sink: *es.Sink, or the Kafka sink through
// kafkaOutput. Health and Stats keep the Elasticsearch sink's types, so
// readiness, progress and the summary read both alike.
type output interface {
	Run(ctx context.Context, in <-chan *event.Batch) error
	Health() es.Health
	Stats() es.Stats
}

// outputMemory is what the output holds beside the byte budget, for the
// garbage collector's limit (setMemoryLimit). The Kafka client keeps a
// record (about 240 bytes of pointers and headers) per document in flight,
// outside the batch bodies the budget counts: about a third more than the
// documents themselves at 630 bytes a document. Below that the collector
// runs without pause and the Kafka output took twice the CPU per line
// (docs/kafka.md, Cost).
func outputMemory(cfg *config.Config) int64 {
	if cfg.Output == config.OutputKafka {
		return int64(cfg.BufferBytes) / 2
	}
	return 0
}

// kafkaOutput is the Kafka sink as an output.
type kafkaOutput struct {
	*kafka.Sink
}

func newKafkaOutput(cfg *config.Config, log zerolog.Logger) (*kafkaOutput, error) {
	k := &cfg.KafkaOut
	topic, err := kafka.ParseTopic(k.Topic)
	if err != nil {
		return nil, err
	}
	key, err := kafka.ParseKeyMode(k.Key)
	if err != nil {
		return nil, err
	}
	s, err := kafka.New(kafka.Config{
		Brokers: k.Brokers, Topic: topic, Key: key, DeadLetterTopic: k.DeadLetterTopic,
		ClientID: k.ClientID, MaxRecordBytes: int(k.MaxRecordBytes), Compression: k.Compression,
		RequestTimeout: k.RequestTimeout, RetryInitial: cfg.RetryInitial, RetryMax: cfg.RetryMax,
	}, log)
	if err != nil {
		return nil, err
	}
	log.Info().Strs("brokers", k.Brokers).Str("topic", k.Topic).Str("key", k.Key).Str("dead_letter_topic", k.DeadLetterTopic).
		Msg("output: Kafka (acks=all, idempotent producer)")
	return &kafkaOutput{Sink: s}, nil
}

// Health maps the brokers' health onto the fields readiness reads:
// OldestRequest is the oldest batch Kafka has not acknowledged.
func (k *kafkaOutput) Health() es.Health {
	h := k.Sink.Health()
	return es.Health{LastSuccess: h.LastSuccess, UnreachableSince: h.UnreachableSince, LastError: h.LastError, OldestRequest: h.OldestBatch}
}

// Stats maps the Kafka counters onto the summary's: Indexed counts the
// records Kafka acknowledged (logged as "produced", see settledFields),
// Requests the record batches written.
func (k *kafkaOutput) Stats() es.Stats {
	s := k.Sink.Stats()
	return es.Stats{
		Indexed: s.Produced, DeadLettered: s.DeadLettered, Lost: s.Lost, Retried: s.Retried,
		Requests: s.Batches, Failures: s.Failures, BytesSent: s.BytesSent, BytesRaw: s.BytesRaw, BackoffWait: s.BackoffWait,
	}
}

// reach pings the brokers until one answers (true) or ctx ends (false).
// Records are produced meanwhile: the client holds them until a broker
// takes them.
func (k *kafkaOutput) reach(ctx context.Context, log zerolog.Logger) bool {
	bo := backoff.Backoff{Initial: 500 * time.Millisecond, Max: 30 * time.Second}
	for {
		pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := k.Ping(pctx)
		cancel()
		if err == nil {
			log.Info().Msg("Kafka reached")
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		wait := bo.Failed(0)
		log.Warn().Err(err).Dur("retry_in_ms", wait).Msg("Kafka unreachable; will retry")
		if backoff.Sleep(ctx, wait) != nil {
			return false
		}
	}
}

func (k *kafkaOutput) writeMetrics(w *status.Writer) {
	s := k.Sink.Stats()
	const docs = "Records settled by Kafka, by status: produced (acknowledged with acks=all), dead_lettered (written to the dead-letter topic), lost (neither; logged)."
	w.Counter(status.Name("shipper_kafka_records_total", "status", "produced"), docs, s.Produced)
	w.Counter(status.Name("shipper_kafka_records_total", "status", "dead_lettered"), docs, s.DeadLettered)
	w.Counter(status.Name("shipper_kafka_records_total", "status", "lost"), docs, s.Lost)
	w.Counter("shipper_kafka_record_retries_total", "Records produced again after the client failed them (topic missing, not authorized).", s.Retried)
	w.Counter("shipper_kafka_record_failures_total", "Records the client failed (each retried or dead-lettered).", s.Failures)
	w.Counter("shipper_kafka_batches_total", "Record batches (one partition each) acknowledged.", s.Batches)
	w.Counter("shipper_kafka_sent_bytes_total", "Record batch bytes acknowledged (after compression).", s.BytesSent)
	w.Gauge("shipper_kafka_buffered_records", "Records handed to the Kafka client and not acknowledged yet.", float64(k.Buffered()))
}

// checkKafka is the end of 'shipper check' with --output=kafka: where
// records would go, and whether a broker answers.
func checkKafka(ctx context.Context, out io.Writer, cfg *config.Config, code int) int {
	k := &cfg.KafkaOut
	fmt.Fprintf(out, "would produce: Kafka topic %s (key %s, acks=all, idempotent); refused records to %s\n", k.Topic, k.Key, k.DeadLetterTopic)
	sink, err := newKafkaOutput(cfg, zerolog.New(io.Discard))
	if err != nil {
		fmt.Fprintf(out, "check: %v\n", err)
		return 1
	}
	defer sink.Close()
	if err := sink.Ping(ctx); err != nil {
		fmt.Fprintf(out, "\nKafka: NOT reachable: %v (check --kafka-brokers / KAFKA_BROKERS)\n", err)
		return 1
	}
	fmt.Fprintf(out, "\nKafka: reachable at %v\n", k.Brokers)
	return code
}

// kafkaUndeliveredCause tells why records were left undelivered at shutdown
// with the Kafka output, and what to do about it.
func kafkaUndeliveredCause(now time.Time, reached bool, h es.Health, shutdownTimeout time.Duration) (cause, advice string) {
	switch {
	case !reached && h.LastSuccess.IsZero():
		return "kafka_unreachable", "no Kafka broker could be reached at all (check --kafka-brokers / KAFKA_BROKERS and the network)"
	case !h.UnreachableSince.IsZero():
		return "kafka_unreachable", fmt.Sprintf("Kafka has been failing since %s (%s ago): %s",
			h.UnreachableSince.UTC().Format(time.RFC3339), now.Sub(h.UnreachableSince).Round(time.Second), h.LastError)
	default:
		return "kafka_slow", "Kafka did not acknowledge everything within --shutdown-timeout=" + shutdownTimeout.String() +
			" (slow brokers, or too few in-sync replicas for acks=all); raise --shutdown-timeout, or lower --buffer-bytes so that less waits"
	}
}

// ready is the readiness check with the Kafka output: not before a broker
// answered, not while connecting or producing fails, and not while records
// wait with nothing acknowledged for the stall timeout (see ready).
func (k *kafkaOutput) ready(now time.Time, reached bool, pipe *pipeline.Pipeline, stall time.Duration) error {
	if !reached {
		return errors.New("Kafka not reached yet")
	}
	h := k.Sink.Health()
	if !h.UnreachableSince.IsZero() {
		return fmt.Errorf("Kafka failing since %s: %s", h.UnreachableSince.UTC().Format(time.RFC3339), h.LastError)
	}
	return ready(now, true, pipe, es.Health{}, stall)
}

// settledFields adds to a progress or summary line what the output settled,
// in its own words: "indexed" and "duplicates" (already present) for
// Elasticsearch, "produced" (acknowledged by Kafka) for the Kafka output,
// where nothing is found already present.
func settledFields(e *zerolog.Event, sink output, s es.Stats) {
	if _, ok := sink.(*kafkaOutput); ok {
		e.Uint64("produced", s.Indexed)
		return
	}
	e.Uint64("indexed", s.Indexed).Uint64("duplicates", s.Duplicates)
}
