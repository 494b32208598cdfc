package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/rs/zerolog"

	"shipper/internal/config"
	"shipper/internal/source/kafka"
	"shipper/internal/status"
)

func describeKafkaInput(cfg *config.Config) string {
	k := &cfg.KafkaIn
	what := "Kafka topics"
	if k.TopicsRegex {
		what = "Kafka topics matching"
	}
	return fmt.Sprintf(what+" %s from brokers %s in consumer group %q; offsets committed once delivered (every %s, on rebalances and at shutdown)",
		strings.Join(k.Topics, ","), strings.Join(cfg.KafkaOut.Brokers, ","), k.Group, k.CommitInterval)
}

type kafkaInput struct {
	src *kafka.Source
}

func newKafkaInput(env *inputEnv) (input, error) {
	k := &env.cfg.KafkaIn
	src, err := kafka.New(kafka.Config{
		Brokers: env.cfg.KafkaOut.Brokers, Topics: k.Topics, TopicsRegex: k.TopicsRegex, Group: k.Group,
		CommitInterval: k.CommitInterval, RevokeTimeout: k.RevokeTimeout, RebalanceTimeout: k.RebalanceTimeout, SessionTimeout: k.SessionTimeout,
		FetchMaxBytes: int(k.FetchMaxBytes), LagInterval: k.LagInterval,
		Dataset: env.cfg.Dataset, Namespace: env.cfg.Namespace, Streams: env.streams, Static: env.static,
		Stage: env.stage(config.InputKafka),
	}, env.pipe, env.log)
	if err != nil {
		return nil, err
	}
	return &kafkaInput{src: src}, nil
}

func (in *kafkaInput) Run(ctx, queueCtx context.Context) error { return in.src.Run(ctx, queueCtx) }

func (in *kafkaInput) Drain(ctx context.Context) error { return in.src.Drain(ctx) }

func (in *kafkaInput) Records() uint64 { return in.src.Stats().Records }

// Unqueued counts records taken from Kafka and never queued (the shutdown
// deadline passed while they waited for budget).
func (in *kafkaInput) Unqueued() uint64 { return in.src.Stats().Unqueued }

// Fate says what becomes of undelivered records.
func (in *kafkaInput) Fate() string {
	return "Kafka keeps undelivered records: their offsets were not committed, so the consumer group reads them again (Elasticsearch answers 409 for those already indexed)"
}

func (in *kafkaInput) Metrics(w *status.Writer) {
	st := in.src.Stats()
	w.Counter("shipper_kafka_records_total", "Records consumed from Kafka.", st.Records)
	w.Counter("shipper_kafka_bytes_total", "Bytes of record values consumed from Kafka.", st.Bytes)
	w.Counter("shipper_kafka_documents_total", "Records that were a shipper's documents (Kafka output), sent as they were; the others are parsed as log lines.", st.Documents)
	w.Counter("shipper_kafka_malformed_json_total", "Records parsed as log lines that looked like JSON but were malformed (indexed raw).", st.Malformed)
	w.Counter("shipper_kafka_invalid_utf8_total", "Records with invalid UTF-8 (replaced).", st.InvalidUTF8)
	w.Counter("shipper_kafka_blank_total", "Empty or whitespace-only records (counted, not shipped; their offsets are committed).", st.Blank)
	w.Counter("shipper_kafka_invalid_index_total", "Records whose data stream header was not a valid logs-<dataset>-<namespace> name (sent to the default data stream).", st.InvalidIndex)
	w.Counter("shipper_kafka_invalid_id_total", "Records whose document id header could not be used (id derived from topic, partition and offset instead).", st.InvalidID)
	w.Counter("shipper_kafka_commits_total", "Offset commits that succeeded.", st.Commits)
	w.Counter("shipper_kafka_commit_failures_total", "Offset commits that failed (retried with the next one).", st.CommitFailures)
	w.Counter("shipper_kafka_partitions_assigned_total", "Partitions assigned to this consumer.", st.Assigned)
	w.Counter("shipper_kafka_partitions_revoked_total", "Partitions revoked from this consumer (handed over after their records were delivered).", st.Revoked)
	w.Counter("shipper_kafka_partitions_lost_total", "Partitions lost without a revoke (this consumer was dropped from the group).", st.Lost)
	w.Counter("shipper_kafka_revoke_timeouts_total", "Revokes that handed partitions over before their records in flight were delivered (--kafka-revoke-timeout).", st.RevokeTimeouts)
	w.Counter("shipper_kafka_fetch_errors_total", "Fetch errors reported by the Kafka client (it retries).", st.FetchErrors)
	w.Counter("shipper_kafka_fetch_pauses_total", "Times fetching was paused because the pipeline's budget was spent (backpressure).", st.Paused)
	w.Gauge("shipper_kafka_fetch_request_bytes", "Fetch size asked of Kafka now: --kafka-fetch-max-bytes divided by what a byte fetched takes once decoded.", float64(st.FetchBytes))
	w.Gauge("shipper_kafka_fetch_decoded_bytes_max", "Most memory one fetch response took once decoded (at most two are held; within --kafka-fetch-max-bytes but for a single larger batch).", float64(st.FetchDecodedMax))
	var total int64
	for _, l := range in.src.Lag() {
		total += l.Lag
		w.Gauge(status.Name("shipper_kafka_consumer_lag", "topic", l.Topic, "partition", strconv.Itoa(int(l.Partition))),
			"Records of the partition past the group's committed offset, for the partitions this consumer owns (read every --kafka-lag-interval).", float64(l.Lag))
	}
	w.Gauge("shipper_kafka_consumer_lag_sum", "Sum of shipper_kafka_consumer_lag over the partitions this consumer owns.", float64(total))
}

func (in *kafkaInput) Summary(e *zerolog.Event) {
	st := in.src.Stats()
	e.Dict("kafka", zerolog.Dict().
		Uint64("records", st.Records).Uint64("bytes", st.Bytes).Uint64("documents", st.Documents).
		Uint64("json", st.JSON).Uint64("malformed_json", st.Malformed).Uint64("invalid_utf8", st.InvalidUTF8).
		Uint64("blank", st.Blank).Uint64("changed", st.Changed).Uint64("dataset_rejected", st.DatasetRejected).
		Uint64("invalid_index", st.InvalidIndex).Uint64("invalid_id", st.InvalidID).
		Uint64("commits", st.Commits).Uint64("commit_failures", st.CommitFailures).
		Uint64("partitions_assigned", st.Assigned).Uint64("partitions_revoked", st.Revoked).Uint64("partitions_lost", st.Lost).
		Uint64("revoke_timeouts", st.RevokeTimeouts).Uint64("fetch_errors", st.FetchErrors).Uint64("fetch_pauses", st.Paused).
		Uint64("unqueued", st.Unqueued))
}
