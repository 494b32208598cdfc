package config

import (
	"net"
	"strings"
	"time"

	"shipper/internal/sink/kafka"
)

// Output names.
const (
	OutputElasticsearch = "elasticsearch"
	OutputKafka         = "kafka"
)

// KafkaOutput configures --output=kafka: the documents go to Kafka topics
// instead of Elasticsearch (see docs/kafka.md).
type KafkaOutput struct {
	Brokers []string
	// Topic is a topic name or a template with {dataset}, {namespace} or
	// {index} (the data stream name).
	Topic           string
	Key             string // kafka.KeyMode
	DeadLetterTopic string
	Compression     string
	ClientID        string
	MaxRecordBytes  ByteSize
	RequestTimeout  time.Duration
}

func defaultKafkaOutput() KafkaOutput {
	return KafkaOutput{
		Brokers:         []string{"localhost:9092"},
		Topic:           "logs",
		Key:             string(kafka.KeySource),
		DeadLetterTopic: "shipper-deadletter",
		Compression:     "none",
		ClientID:        "shipper",
		MaxRecordBytes:  1_000_000,
		RequestTimeout:  30 * time.Second,
	}
}

func (k *KafkaOutput) options() []option {
	return []option{
		{"kafka-brokers", []string{"SHIPPER_KAFKA_BROKERS", "KAFKA_BROKERS"}, "Kafka seed brokers host:port, comma-separated (the Kafka output and the Kafka input)", (*stringList)(&k.Brokers)},
		{"kafka-topic", []string{"SHIPPER_KAFKA_TOPIC"}, "Kafka output: topic, or a template with {dataset}, {namespace} or {index} (the data stream name), e.g. logs-{dataset}", stringValue{&k.Topic}},
		{"kafka-key", []string{"SHIPPER_KAFKA_KEY"}, "Kafka output: record key, which decides the partition and so the order kept: source (per file, per stdin run, per Forward chunk), stream (per data stream; with --forward-dataset-from-tag per Forward tag) or none", stringValue{&k.Key}},
		{"kafka-dead-letter-topic", []string{"SHIPPER_KAFKA_DEAD_LETTER_TOPIC"}, "Kafka output: topic of records Kafka refuses for good (too large, invalid), with the reason in a header", stringValue{&k.DeadLetterTopic}},
		{"kafka-compression", []string{"SHIPPER_KAFKA_COMPRESSION"}, "Kafka output: record batch compression: none, gzip, snappy, lz4 or zstd", stringValue{&k.Compression}},
		{"kafka-client-id", []string{"SHIPPER_KAFKA_CLIENT_ID"}, "Kafka output: client id sent to the brokers", stringValue{&k.ClientID}},
		{"kafka-max-record-bytes", []string{"SHIPPER_KAFKA_MAX_RECORD_BYTES"}, "Kafka output: largest record batch sent; a larger record goes to the dead-letter topic. At most the broker's message.max.bytes", &k.MaxRecordBytes},
		{"kafka-request-timeout", []string{"SHIPPER_KAFKA_REQUEST_TIMEOUT"}, "Kafka output: time a broker may take to acknowledge a produce request (acks=all)", durationValue{&k.RequestTimeout}},
	}
}

func (k *KafkaOutput) validate(bad func(format string, a ...any)) {
	if len(k.Brokers) == 0 {
		bad("Kafka output: no broker: set --kafka-brokers or KAFKA_BROKERS")
	}
	for _, b := range k.Brokers {
		if _, _, err := net.SplitHostPort(b); err != nil {
			bad("--kafka-brokers %q: want host:port", b)
		}
	}
	if _, err := kafka.ParseTopic(k.Topic); err != nil {
		bad("--kafka-topic: %v", err)
	}
	if _, err := kafka.ParseKeyMode(k.Key); err != nil {
		bad("--kafka-key: %v", err)
	}
	if t, err := kafka.ParseTopic(k.DeadLetterTopic); err != nil || !t.Static() {
		bad("--kafka-dead-letter-topic %q: want a topic name (letters, digits, '.', '_', '-')", k.DeadLetterTopic)
	}
	switch k.Compression {
	case "none", "gzip", "snappy", "lz4", "zstd":
	default:
		bad("--kafka-compression %q: want none, gzip, snappy, lz4 or zstd", k.Compression)
	}
	if k.MaxRecordBytes < 1024 || k.MaxRecordBytes > 1<<30 {
		bad("--kafka-max-record-bytes %s is out of range 1KiB..1GiB", k.MaxRecordBytes)
	}
	if k.RequestTimeout <= 0 {
		bad("--kafka-request-timeout must be positive")
	}
	if strings.TrimSpace(k.ClientID) == "" {
		bad("--kafka-client-id must not be empty")
	}
}
