package config

import (
	"net"
	"regexp"
	"strings"
	"time"
)

// InputKafka names the Kafka input: records consumed from Kafka topics in a
// consumer group.
const InputKafka = "kafka"

// KafkaInput configures the Kafka input. Its brokers are the Kafka
// output's (--kafka-brokers, KafkaOutput.Brokers): one list for both.
type KafkaInput struct {
	// Topics are consumed in full by the group: names, or with
	// TopicsRegex regular expressions (topics created later included).
	Topics      []string
	TopicsRegex bool
	// Group is the consumer group: every shipper of the group shares the
	// partitions of Topics, and offsets are committed for it.
	Group string
	// CommitInterval is how often delivered offsets are committed (and
	// always on a rebalance and at shutdown).
	CommitInterval time.Duration
	// RevokeTimeout bounds how long a partition being handed to another
	// consumer waits for its records in flight to be delivered.
	RevokeTimeout time.Duration
	// RebalanceTimeout is the group's rebalance.timeout.ms: how long Kafka
	// waits for members to rejoin; it must exceed RevokeTimeout.
	RebalanceTimeout time.Duration
	// SessionTimeout is the group's session.timeout.ms: how long a consumer
	// that stopped heartbeating (killed) keeps its partitions.
	SessionTimeout time.Duration
	// FetchMaxBytes caps what one fetch response takes once decoded
	// (records decompressed, the client's record structs); the Kafka
	// client holds at most two beside the pipeline's budget.
	FetchMaxBytes ByteSize
	// LagInterval is how often the consumer lag is read for /metrics; 0
	// turns the lag series off.
	LagInterval time.Duration
}

func defaultKafkaInput() KafkaInput {
	return KafkaInput{
		Group:            "shipper",
		CommitInterval:   time.Second,
		RevokeTimeout:    20 * time.Second,
		RebalanceTimeout: 60 * time.Second,
		SessionTimeout:   45 * time.Second,
		FetchMaxBytes:    2 << 20,
		LagInterval:      15 * time.Second,
	}
}

func (k *KafkaInput) options() []option {
	return []option{
		{"kafka-topics", []string{"SHIPPER_KAFKA_TOPICS"}, "Kafka input: topics to consume, comma-separated", (*stringList)(&k.Topics)},
		{"kafka-topics-regex", []string{"SHIPPER_KAFKA_TOPICS_REGEX"}, "Kafka input: --kafka-topics are regular expressions matched against every topic's name, topics created later included (e.g. 'logs-.*' for the Kafka output's --kafka-topic='logs-{dataset}')", boolValue{&k.TopicsRegex}},
		{"kafka-group", []string{"SHIPPER_KAFKA_GROUP"}, "Kafka input: consumer group; shippers of one group share the topics' partitions", stringValue{&k.Group}},
		{"kafka-commit-interval", []string{"SHIPPER_KAFKA_COMMIT_INTERVAL"}, "Kafka input: how often the offsets of delivered records are committed (also on every rebalance and at shutdown)", durationValue{&k.CommitInterval}},
		{"kafka-revoke-timeout", []string{"SHIPPER_KAFKA_REVOKE_TIMEOUT"}, "Kafka input: how long a partition handed to another consumer waits for its records in flight to be delivered before it is let go (the new owner reads them again; Elasticsearch answers 409)", durationValue{&k.RevokeTimeout}},
		{"kafka-rebalance-timeout", []string{"SHIPPER_KAFKA_REBALANCE_TIMEOUT"}, "Kafka input: how long the group waits for its members during a rebalance (rebalance.timeout.ms); above --kafka-revoke-timeout", durationValue{&k.RebalanceTimeout}},
		{"kafka-session-timeout", []string{"SHIPPER_KAFKA_SESSION_TIMEOUT"}, "Kafka input: how long a consumer that stopped heartbeating (crashed) keeps its partitions (session.timeout.ms; within the broker's group.min/max.session.timeout.ms)", durationValue{&k.SessionTimeout}},
		{"kafka-fetch-max-bytes", []string{"SHIPPER_KAFKA_FETCH_MAX_BYTES"}, "Kafka input: memory one fetch response may take once decoded (the Kafka client holds at most two, counted in --buffer-bytes); the size asked of Kafka follows the records' compression", &k.FetchMaxBytes},
		{"kafka-lag-interval", []string{"SHIPPER_KAFKA_LAG_INTERVAL"}, "Kafka input: how often the consumer lag per partition is read for /metrics; 0: off", durationValue{&k.LagInterval}},
	}
}

func (k *KafkaInput) validate(brokers []string, bad func(format string, a ...any)) {
	if len(brokers) == 0 {
		bad("--input kafka needs --kafka-brokers (or KAFKA_BROKERS): host:port of at least one broker")
	}
	for _, b := range brokers {
		if _, _, err := net.SplitHostPort(b); err != nil {
			bad("Kafka broker %q: want host:port (check --kafka-brokers)", b)
		}
	}
	if len(k.Topics) == 0 {
		bad("--input kafka needs --kafka-topics: the topics to consume")
	}
	if k.TopicsRegex {
		for _, t := range k.Topics {
			if _, err := regexp.Compile(t); err != nil {
				bad("--kafka-topics %q is not a regular expression (--kafka-topics-regex): %v", t, err)
			}
		}
	}
	if strings.TrimSpace(k.Group) == "" {
		bad("--input kafka needs --kafka-group: the consumer group")
	}
	if k.CommitInterval <= 0 {
		bad("--kafka-commit-interval must be positive")
	}
	if k.RevokeTimeout <= 0 || k.RebalanceTimeout <= k.RevokeTimeout {
		bad("--kafka-revoke-timeout must be positive and below --kafka-rebalance-timeout (%s), so a rebalance can wait for it", k.RebalanceTimeout)
	}
	if k.SessionTimeout <= 0 {
		bad("--kafka-session-timeout must be positive")
	}
	if k.FetchMaxBytes < 64<<10 || k.FetchMaxBytes > 1<<30 {
		bad("--kafka-fetch-max-bytes %s is out of range 64KiB..1GiB", k.FetchMaxBytes)
	}
	if k.LagInterval < 0 {
		bad("--kafka-lag-interval must not be negative (0 turns the lag series off)")
	}
}
