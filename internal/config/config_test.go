package config

import (
	"bytes"
	"errors"
	"flag"
	"io"
	"strings"
	"testing"
	"time"
)

func env(kv ...string) func(string) string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) string { return m[k] }
}

func TestLoadPrecedence(t *testing.T) {
	tests := []struct {
		name  string
		args  []string
		env   func(string) string
		check func(t *testing.T, c Config)
	}{
		{"defaults", nil, env(), func(t *testing.T, c Config) {
			if c.ElasticsearchURLs[0] != "http://localhost:9200" || c.Dataset != "generic" || c.Namespace != "default" ||
				c.BufferBytes != 24<<20 || c.BatchBytes != 4<<20 || c.FlushInterval != time.Second ||
				c.ShutdownTimeout != 30*time.Second || c.BufferFullPolicy != "block" || c.Compression != "none" || c.CompressionLevel != 1 ||
				c.MaxLineBytes != 1<<20 || !c.Has(InputStdin) || c.Has(InputFile) {
				t.Fatalf("unexpected defaults: %+v", c)
			}
		}},
		{"env", nil, env("ELASTICSEARCH_URL", "http://es1:9200, http://es2:9200", "SHIPPER_DATASET", "app",
			"SHIPPER_BUFFER_BYTES", "128MiB", "SHIPPER_FLUSH_INTERVAL", "250ms", "SHIPPER_COMPRESSION", "none"),
			func(t *testing.T, c Config) {
				if len(c.ElasticsearchURLs) != 2 || c.ElasticsearchURLs[1] != "http://es2:9200" || c.Dataset != "app" ||
					c.BufferBytes != 128<<20 || c.FlushInterval != 250*time.Millisecond || c.Compression != "none" {
					t.Fatalf("env not applied: %+v", c)
				}
			}},
		{"flag beats env", []string{"--dataset=fromflag", "--workers", "4"}, env("SHIPPER_DATASET", "fromenv", "SHIPPER_WORKERS", "8"),
			func(t *testing.T, c Config) {
				if c.Dataset != "fromflag" || c.Workers != 4 {
					t.Fatalf("flags must win: dataset %q workers %d", c.Dataset, c.Workers)
				}
			}},
		{"alias env", nil, env("SHIPPER_ELASTICSEARCH_URL", "https://alias:9200", "NODE_NAME", "node-7"),
			func(t *testing.T, c Config) {
				if c.ElasticsearchURLs[0] != "https://alias:9200" || c.HostName != "node-7" {
					t.Fatalf("aliases not applied: %v %q", c.ElasticsearchURLs, c.HostName)
				}
			}},
		{"canonical env wins over alias", nil, env("ELASTICSEARCH_URL", "http://canonical:9200", "SHIPPER_ELASTICSEARCH_URL", "http://alias:9200"),
			func(t *testing.T, c Config) {
				if c.ElasticsearchURLs[0] != "http://canonical:9200" {
					t.Fatalf("got %v", c.ElasticsearchURLs)
				}
			}},
		{"bool flag", []string{"--elasticsearch-insecure-skip-verify"}, env(), func(t *testing.T, c Config) {
			if !c.InsecureSkipVerify {
				t.Fatal("bool flag without value not set")
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load("shipper", tt.args, tt.env, &bytes.Buffer{})
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, c)
		})
	}
}

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		args []string
		env  func(string) string
		want string // in the error
	}{
		{[]string{"--buffer-bytes=lots"}, env(), "invalid byte size"},
		{nil, env("SHIPPER_FLUSH_INTERVAL", "soon"), "SHIPPER_FLUSH_INTERVAL"},
		{[]string{"--compression=zstd"}, env(), "--compression"},
		{[]string{"--compression=gzip", "--compression-level=12"}, env(), "--compression-level"},
		{[]string{"--elasticsearch-url=es:9200"}, env(), "must start with http"},
		{[]string{}, env("ELASTICSEARCH_URL", "http://"), "no host name"},
		{[]string{"--elasticsearch-url=https://:9200"}, env(), "no host name"},
		{[]string{"--elasticsearch-username=u"}, env(), "both --elasticsearch-username and --elasticsearch-password"},
		{[]string{"--elasticsearch-api-key=k", "--elasticsearch-username=u", "--elasticsearch-password=p"}, env(), "keep one"},
		{[]string{"--buffer-bytes=8MiB", "--batch-bytes=5MiB"}, env(), "at least twice"},
		{[]string{"--buffer-full-policy=drop_oldest"}, env(), "--buffer-full-policy"},
		{[]string{"--dataset=My-App"}, env(), "dataset"},
		{[]string{"--namespace=a-b"}, env(), "namespace"},
		{[]string{"--input=syslog"}, env(), `--input "syslog"`},
		{[]string{"--input=kafka", "--kafka-brokers="}, env(), "--kafka-brokers"},
		{[]string{"--input=kafka", "--kafka-brokers=k:9092"}, env(), "--kafka-topics"},
		{[]string{"--input=kafka", "--kafka-brokers=k"}, env(), "host:port"},
		{[]string{"--input=kafka", "--kafka-brokers=k:9092", "--kafka-topics=t", "--kafka-group="}, env(), "--kafka-group"},
		{[]string{"--input=kafka", "--kafka-brokers=k:9092", "--kafka-topics=t", "--kafka-revoke-timeout=2m"}, env(), "--kafka-revoke-timeout"},
		{[]string{"--input=kafka", "--kafka-brokers=k:9092", "--kafka-topics=logs-(", "--kafka-topics-regex"}, env(), "not a regular expression"},
		{[]string{"--input="}, env(), "no input enabled"},
		{[]string{"--templates=always"}, env(), "--templates"},
		{[]string{"--max-line-bytes=10"}, env(), "--max-line-bytes"},
		{[]string{"extra"}, env(), "unexpected argument"},
		{[]string{"--no-such-flag"}, env(), "flag provided but not defined"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			_, err := Load("shipper", tt.args, tt.env, &bytes.Buffer{})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got error %v, want one containing %q", err, tt.want)
			}
		})
	}
}

// The README's --dataset=my-app works: '-' separates the parts of a data
// stream name, so it becomes '_', and the note says so.
// TestPipelineBytes: the file and Forward budgets of the inputs in use are
// taken out of --buffer-bytes, the batches keep at least twice
// --batch-bytes, and budgets larger than --buffer-bytes can hold add up.
func TestPipelineBytes(t *testing.T) {
	f := func(args []string, pipeline, inputs, memory ByteSize) {
		t.Helper()
		c, err := Load("test", args, env(), io.Discard)
		if err != nil {
			t.Fatalf("%q: %v", args, err)
		}
		if c.PipelineBytes() != pipeline || c.InputBufferBytes() != inputs || c.MemoryBytes() != memory {
			t.Errorf("%q: batches %s, inputs %s, together %s; want %s, %s, %s",
				args, c.PipelineBytes(), c.InputBufferBytes(), c.MemoryBytes(), pipeline, inputs, memory)
		}
	}
	f(nil, 24<<20, 0, 24<<20)
	f([]string{"--input=file"}, 16<<20, 8<<20, 24<<20)
	f([]string{"--input=forward"}, 16<<20, 8<<20, 24<<20)
	f([]string{"--input=stdin,file,forward"}, 8<<20, 16<<20, 24<<20)
	f([]string{"--input=file", "--file-buffer-bytes=4MiB"}, 20<<20, 4<<20, 24<<20)
	f([]string{"--input=file", "--buffer-bytes=64MiB"}, 56<<20, 8<<20, 64<<20)
	// Budgets that leave less than two batches: the batches keep two.
	f([]string{"--input=forward", "--forward-max-request-bytes=8MiB", "--forward-buffer-bytes=12MiB"}, 12<<20, 12<<20, 24<<20)
	f([]string{"--input=forward", "--forward-buffer-bytes=24MiB"}, 8<<20, 24<<20, 32<<20)
	f([]string{"--input=file", "--batch-bytes=10MiB"}, 20<<20, 8<<20, 28<<20)
	f([]string{"--input=file", "--buffer-bytes=2MiB", "--batch-bytes=256KiB"}, 512<<10, 8<<20, 8<<20+512<<10)
}

func TestDatasetDashMapped(t *testing.T) {
	c, err := Load("shipper run", []string{"--dataset=my-app", "--dead-letter-dataset=dead-letters"}, env(), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.Dataset != "my_app" || c.DeadLetterDataset != "dead_letters" {
		t.Errorf("datasets: got %q and %q, want my_app and dead_letters", c.Dataset, c.DeadLetterDataset)
	}
	if len(c.Notes) != 2 || !strings.Contains(c.Notes[0], `"my-app" is used as "my_app"`) {
		t.Errorf("notes: got %q, want one per mapped dataset", c.Notes)
	}
	if c, _ := Load("shipper run", []string{"--dataset=myapp"}, env(), io.Discard); len(c.Notes) != 0 {
		t.Errorf("notes without a '-': %q", c.Notes)
	}
}

// A wrong flag is an error of one line; the reference is printed only when
// asked for.
func TestFlagErrorIsOneLine(t *testing.T) {
	var out bytes.Buffer
	_, err := Load("shipper run", []string{"--no-such-flag"}, env(), &out)
	if err == nil || strings.Contains(err.Error(), "\n") {
		t.Errorf("error: got %q, want one line", err)
	}
	if out.Len() != 0 {
		t.Errorf("a wrong flag printed the reference (%d bytes)", out.Len())
	}
}

func TestHelpListsEveryOption(t *testing.T) {
	var out bytes.Buffer
	_, err := Load("shipper run", []string{"--help"}, env(), &out)
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("--help: got %v", err)
	}
	c := Default()
	for _, o := range c.options() {
		if !strings.Contains(out.String(), "--"+o.flag) || !strings.Contains(out.String(), o.env[0]) || o.usage == "" {
			t.Errorf("--help does not document --%s / %s", o.flag, o.env[0])
		}
	}
}

func TestDescribeMasksSecrets(t *testing.T) {
	c, err := Load("shipper", []string{"--elasticsearch-username=elastic", "--elasticsearch-password=hunter2"}, env(), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	all := strings.Join(c.Describe(), "\n")
	if strings.Contains(all, "hunter2") || !strings.Contains(all, "elasticsearch-password=(set)") || !strings.Contains(all, "elasticsearch-username=elastic") {
		t.Fatalf("Describe:\n%s", all)
	}
}

func TestByteSize(t *testing.T) {
	for in, want := range map[string]ByteSize{
		"1024": 1024, "64MiB": 64 << 20, "5MB": 5 << 20, "1m": 1 << 20, "512 KiB": 512 << 10, "1.5k": 1536, "2G": 2 << 30,
	} {
		got, err := ParseByteSize(in)
		if err != nil || got != want {
			t.Errorf("ParseByteSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "-1", "MiB", "ten"} {
		if _, err := ParseByteSize(in); err == nil {
			t.Errorf("ParseByteSize(%q): no error", in)
		}
	}
	for v, want := range map[ByteSize]string{64 << 20: "64MiB", 1536: "1536", 2 << 30: "2GiB", 512 << 10: "512KiB"} {
		if v.String() != want {
			t.Errorf("%d.String() = %q, want %q", int64(v), v.String(), want)
		}
	}
}

func TestKafkaInputFromEnvironment(t *testing.T) {
	env := map[string]string{"SHIPPER_INPUT": "kafka", "KAFKA_BROKERS": "a:9092,b:9092", "SHIPPER_KAFKA_TOPICS": "logs", "SHIPPER_KAFKA_GROUP": "edge"}
	c, err := Load("shipper", nil, func(k string) string { return env[k] }, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	k := c.KafkaIn
	if b := c.KafkaOut.Brokers; len(b) != 2 || b[1] != "b:9092" || len(k.Topics) != 1 || k.Topics[0] != "logs" || k.Group != "edge" {
		t.Fatalf("got %+v, want brokers a:9092,b:9092, topic logs, group edge", k)
	}
}
