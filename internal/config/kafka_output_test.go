package config

import (
	"strings"
	"testing"
)

func TestKafkaOutput(t *testing.T) {
	f := func(args []string, getenv func(string) string, wantErr string) Config {
		t.Helper()
		c, err := Load("test", args, getenv, nil)
		if wantErr == "" && err != nil {
			t.Fatalf("Load(%q): %v", args, err)
		}
		if wantErr != "" && (err == nil || !strings.Contains(err.Error(), wantErr)) {
			t.Fatalf("Load(%q): error %v, want it to contain %q", args, err, wantErr)
		}
		return c
	}
	c := f(nil, env(), "")
	if c.Output != OutputElasticsearch || c.KafkaOut.Topic != "logs" || c.KafkaOut.Key != "source" {
		t.Fatalf("defaults: output %q, topic %q, key %q", c.Output, c.KafkaOut.Topic, c.KafkaOut.Key)
	}
	c = f([]string{"--output=kafka", "--kafka-topic=logs-{dataset}", "--kafka-key=stream"}, env("KAFKA_BROKERS", "127.0.0.1:9092,k2:9092"), "")
	if len(c.KafkaOut.Brokers) != 2 || c.KafkaOut.Brokers[1] != "k2:9092" || c.KafkaOut.Topic != "logs-{dataset}" || c.KafkaOut.Key != "stream" {
		t.Fatalf("kafka settings: %+v", c.KafkaOut)
	}
	// Kafka settings are checked only with --output=kafka.
	f([]string{"--kafka-topic=a/b"}, env(), "")
	f([]string{"--output=kafka", "--kafka-topic=a/b"}, env(), "--kafka-topic")
	f([]string{"--output=kafka", "--kafka-topic=logs-{host}"}, env(), "unknown placeholder {host}")
	f([]string{"--output=kafka", "--kafka-topic=logs-{dataset"}, env(), "without '}'")
	f([]string{"--output=kafka", "--kafka-topic=" + strings.Repeat("a", 250)}, env(), "at most 249")
	f([]string{"--output=kafka", "--kafka-topic=.."}, env(), "--kafka-topic")
	f([]string{"--output=kafka", "--kafka-topic={index}.x_y-{namespace}"}, env(), "")
	f([]string{"--output=kafka", "--kafka-key=file"}, env(), "--kafka-key")
	f([]string{"--output=kafka", "--kafka-brokers=nohost"}, env(), "want host:port")
	f([]string{"--output=kafka", "--kafka-dead-letter-topic=dl-{dataset}"}, env(), "--kafka-dead-letter-topic")
	f([]string{"--output=kafka", "--kafka-compression=brotli"}, env(), "--kafka-compression")
	f([]string{"--output=kafka", "--kafka-max-record-bytes=10"}, env(), "--kafka-max-record-bytes")
	f([]string{"--output=redis"}, env(), "--output \"redis\"")
}
