package config

import (
	"fmt"
	"net"
	"strings"
	"time"
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
		Key:             "source",
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
	if err := checkTopic(k.Topic, true); err != nil {
		bad("--kafka-topic: %v", err)
	}
	switch k.Key {
	case "source", "stream", "none":
	default:
		bad("--kafka-key %q: want source, stream or none", k.Key)
	}
	if err := checkTopic(k.DeadLetterTopic, false); err != nil {
		bad("--kafka-dead-letter-topic: %v", err)
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

// checkTopic checks a topic name, or with placeholders a template of one
// ({dataset}, {namespace}, {index}); the Kafka sink parses it the same way
// (kafka.ParseTopic).
func checkTopic(s string, placeholders bool) error {
	if s == "" {
		return fmt.Errorf("empty topic")
	}
	if s == "." || s == ".." || len(s) > 249 {
		return fmt.Errorf("topic %q: not a valid name (at most 249 bytes, not . or ..)", s)
	}
	for rest := s; rest != ""; {
		i := strings.IndexByte(rest, '{')
		lit := rest
		if i >= 0 {
			lit = rest[:i]
		}
		for j := 0; j < len(lit); j++ {
			c := lit[j]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
				return fmt.Errorf("topic %q: %q is not allowed in a topic name (allowed: letters, digits, '.', '_', '-')", s, c)
			}
		}
		if i < 0 {
			break
		}
		if !placeholders {
			return fmt.Errorf("topic %q: no placeholders here", s)
		}
		j := strings.IndexByte(rest[i:], '}')
		if j < 0 {
			return fmt.Errorf("topic %q: '{' without '}'", s)
		}
		switch name := rest[i+1 : i+j]; name {
		case "dataset", "namespace", "index":
		default:
			return fmt.Errorf("topic %q: unknown placeholder {%s} (want {dataset}, {namespace} or {index})", s, name)
		}
		rest = rest[i+j+1:]
	}
	return nil
}
