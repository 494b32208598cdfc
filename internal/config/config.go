// Package config holds the shipper's typed configuration: defaults in one
// place, every option settable by a command-line flag and by an environment
// variable (twelve-factor), and Validate with messages an operator can act on.
//
// Precedence: flag, then environment, then default.
package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"shipper/internal/datastream"
	"shipper/internal/esclient"
	"shipper/internal/process"
	"shipper/internal/redact"
)

// Config is everything the shipper needs to run.
type Config struct {
	// Inputs: which to run, and their settings.
	Inputs       []string
	MaxLineBytes ByteSize
	File         File
	Forward      Forward
	KafkaIn      KafkaInput

	// Destination: Output is "elasticsearch" (the default) or "kafka".
	Output             string
	KafkaOut           KafkaOutput
	ElasticsearchURLs  []string
	Username, Password string
	APIKey             string
	CAFile             string
	InsecureSkipVerify bool
	Compression        string // "gzip" or "none"
	CompressionLevel   int
	Workers            int
	RequestTimeout     time.Duration
	RetryInitial       time.Duration
	RetryMax           time.Duration
	Dataset            string
	Namespace          string
	DeadLetterDataset  string
	Templates          string // "auto" (install when missing) or "skip"
	// AgentDetails adds agent.version, agent.ephemeral_id and ecs.version
	// to every document (off: about 85 bytes a document that rarely serve
	// a query).
	AgentDetails bool

	// DatasetsAllowed and MaxDatasets limit the datasets records may name
	// with data_stream.dataset (see encode.Streams).
	DatasetsAllowed []string
	MaxDatasets     int

	// Pipeline.
	BufferBytes      ByteSize
	BufferFullPolicy string
	BatchBytes       ByteSize
	FlushInterval    time.Duration

	// Process.
	HTTPAddress string // health and metrics endpoint; empty: off
	// ProgressInterval is the period of the progress line; 0: off.
	ProgressInterval time.Duration
	ShutdownTimeout  time.Duration
	LogLevel         string
	HostName         string

	// Notes say how Load adjusted values given (such as a dataset with
	// '-'), for the start-up log and 'shipper check'.
	Notes []string

	// ReadyStallTimeout: /readyz fails when records wait and none was
	// delivered for this long.
	ReadyStallTimeout time.Duration

	// ConfigFile is the configuration file read (--config), if any, and
	// Processing its processing section (see configfile.go).
	ConfigFile  string
	Processing  process.Config
	fileSecrets []string
}

// Default returns the defaults.
func Default() Config {
	host, _ := os.Hostname()
	return Config{
		Inputs:            []string{"stdin"},
		File:              defaultFile(),
		Forward:           defaultForward(),
		KafkaIn:           defaultKafkaInput(),
		Output:            OutputElasticsearch,
		KafkaOut:          defaultKafkaOutput(),
		MaxLineBytes:      1 << 20,
		ElasticsearchURLs: []string{"http://localhost:9200"},
		Compression:       "none", // see docs/benchmarks.md: in a cluster, CPU is dearer than bytes
		CompressionLevel:  1,
		Workers:           2,
		RequestTimeout:    time.Minute,
		RetryInitial:      250 * time.Millisecond,
		RetryMax:          30 * time.Second,
		Dataset:           "generic",
		Namespace:         "default",
		DeadLetterDataset: "shipper.deadletter",
		MaxDatasets:       50,
		Templates:         "auto",
		BufferBytes:       24 << 20,
		BufferFullPolicy:  "block",
		BatchBytes:        4 << 20,
		FlushInterval:     time.Second,
		ShutdownTimeout:   30 * time.Second,
		ReadyStallTimeout: time.Minute,
		ProgressInterval:  30 * time.Second,
		LogLevel:          "info",
		HostName:          host,
	}
}

// option binds one setting to a flag name and environment variables.
type option struct {
	flag  string
	env   []string // the first is the canonical name shown in --help
	usage string
	value flag.Value
}

// stringList is a comma-separated list.
type stringList []string

func (l *stringList) String() string { return strings.Join(*l, ",") }
func (l *stringList) Set(s string) error {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	*l = out
	return nil
}

type boolValue struct{ p *bool }

func (b boolValue) String() string {
	if b.p == nil {
		return "false"
	}
	return fmt.Sprint(*b.p)
}
func (b boolValue) Set(s string) error {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "1", "t", "true", "yes", "on":
		*b.p = true
	case "0", "f", "false", "no", "off":
		*b.p = false
	default:
		return fmt.Errorf("invalid boolean %q", s)
	}
	return nil
}
func (b boolValue) IsBoolFlag() bool { return true }

type durationValue struct{ p *time.Duration }

func (d durationValue) String() string {
	if d.p == nil {
		return "0s"
	}
	return d.p.String()
}
func (d durationValue) Set(s string) error {
	v, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil {
		return fmt.Errorf("invalid duration %q: want e.g. 500ms, 30s, 2m", s)
	}
	*d.p = v
	return nil
}

type intValue struct{ p *int }

func (v intValue) String() string {
	if v.p == nil {
		return "0"
	}
	return fmt.Sprint(*v.p)
}
func (v intValue) Set(s string) error {
	var n int
	if _, err := fmt.Sscan(strings.TrimSpace(s), &n); err != nil {
		return fmt.Errorf("invalid number %q", s)
	}
	*v.p = n
	return nil
}

type stringValue struct{ p *string }

func (v stringValue) String() string {
	if v.p == nil {
		return ""
	}
	return *v.p
}
func (v stringValue) Set(s string) error { *v.p = s; return nil }

// Input names.
const (
	InputStdin   = "stdin"
	InputFile    = "file"
	InputForward = "forward"
)

// InputBufferBytes is what the buffer budgets of the inputs in use take out
// of BufferBytes: --file-buffer-bytes with the file input,
// --forward-buffer-bytes with the Forward input.
func (c *Config) InputBufferBytes() ByteSize {
	var n ByteSize
	if c.Has(InputFile) {
		n += c.File.BufferBytes
	}
	if c.Has(InputForward) {
		n += c.Forward.BufferBytes
	}
	if c.Has(InputKafka) {
		// The Kafka client holds at most two fetch responses, each of at
		// most FetchMaxBytes once decoded.
		n += 2 * c.KafkaIn.FetchMaxBytes
	}
	return n
}

// PipelineBytes is the pipeline's byte budget (batches being filled, queued
// or sent): what the input budgets leave of BufferBytes, and at least twice
// BatchBytes. With the defaults BufferBytes therefore bounds the batches and
// the inputs' buffers together, whichever inputs run; budgets set larger
// than BufferBytes can hold add their excess (see MemoryBytes).
func (c *Config) PipelineBytes() ByteSize {
	return max(c.BufferBytes-c.InputBufferBytes(), 2*c.BatchBytes)
}

// MemoryBytes is what the pipeline's budget and the inputs' budgets hold
// together at most: BufferBytes unless they do not fit in it.
func (c *Config) MemoryBytes() ByteSize {
	return c.PipelineBytes() + c.InputBufferBytes()
}

// Has reports whether the named input is enabled.
func (c *Config) Has(input string) bool {
	for _, in := range c.Inputs {
		if in == input {
			return true
		}
	}
	return false
}

func (c *Config) options() []option {
	opts := []option{
		{"input", []string{"SHIPPER_INPUT"}, "inputs to run, comma-separated: stdin (lines until EOF), file (tail container log files), forward (Fluent Forward server), kafka (consume Kafka topics in a group)", (*stringList)(&c.Inputs)},
		{"max-line-bytes", []string{"SHIPPER_MAX_LINE_BYTES"}, "longer lines (records) are truncated to this size and flagged log.flags=truncated", &c.MaxLineBytes},

		{"elasticsearch-url", []string{"ELASTICSEARCH_URL", "SHIPPER_ELASTICSEARCH_URL"}, "Elasticsearch URL(s), comma-separated", (*stringList)(&c.ElasticsearchURLs)},
		{"elasticsearch-username", []string{"ELASTICSEARCH_USERNAME", "SHIPPER_ELASTICSEARCH_USERNAME"}, "basic-auth user name", stringValue{&c.Username}},
		{"elasticsearch-password", []string{"ELASTICSEARCH_PASSWORD", "SHIPPER_ELASTICSEARCH_PASSWORD"}, "basic-auth password (prefer the environment variable)", stringValue{&c.Password}},
		{"elasticsearch-api-key", []string{"ELASTICSEARCH_API_KEY", "SHIPPER_ELASTICSEARCH_API_KEY"}, "API key, base64 'id:key' as Elasticsearch returns it (prefer the environment variable)", stringValue{&c.APIKey}},
		{"elasticsearch-ca-file", []string{"ELASTICSEARCH_CA_FILE", "SHIPPER_ELASTICSEARCH_CA_FILE"}, "PEM file of the CA that signed Elasticsearch's certificate", stringValue{&c.CAFile}},
		{"elasticsearch-insecure-skip-verify", []string{"SHIPPER_ELASTICSEARCH_INSECURE_SKIP_VERIFY"}, "do not verify Elasticsearch's TLS certificate (testing only)", boolValue{&c.InsecureSkipVerify}},
		{"compression", []string{"SHIPPER_COMPRESSION"}, "request body compression: none (default: inside a cluster) or gzip (over a WAN or a billed link: 5x fewer bytes for about 3x the CPU per line)", stringValue{&c.Compression}},
		{"compression-level", []string{"SHIPPER_COMPRESSION_LEVEL"}, "gzip level 1 (fastest) to 9 (smallest)", intValue{&c.CompressionLevel}},
		{"workers", []string{"SHIPPER_WORKERS"}, "bulk requests in flight at once", intValue{&c.Workers}},
		{"request-timeout", []string{"SHIPPER_REQUEST_TIMEOUT"}, "time limit of one bulk request", durationValue{&c.RequestTimeout}},
		{"retry-initial", []string{"SHIPPER_RETRY_INITIAL"}, "first retry backoff; doubles up to --retry-max, jittered", durationValue{&c.RetryInitial}},
		{"retry-max", []string{"SHIPPER_RETRY_MAX"}, "longest retry backoff", durationValue{&c.RetryMax}},
		{"dataset", []string{"SHIPPER_DATASET"}, "data stream dataset: documents go to logs-<dataset>-<namespace> unless a record names its own data_stream.dataset", stringValue{&c.Dataset}},
		{"namespace", []string{"SHIPPER_NAMESPACE"}, "data stream namespace", stringValue{&c.Namespace}},
		{"datasets-allowed", []string{"SHIPPER_DATASETS_ALLOWED"}, "datasets records may choose with data_stream.dataset, comma-separated; 'name*' matches a prefix; empty: any (others go to --dataset, flagged labels.dataset_rejected)", (*stringList)(&c.DatasetsAllowed)},
		{"max-datasets", []string{"SHIPPER_MAX_DATASETS"}, "distinct datasets records may choose with data_stream.dataset, each a data stream; later ones go to --dataset, flagged labels.dataset_rejected; 0: records never choose", intValue{&c.MaxDatasets}},
		{"dead-letter-dataset", []string{"SHIPPER_DEAD_LETTER_DATASET"}, "dataset of the stream that receives documents Elasticsearch rejects", stringValue{&c.DeadLetterDataset}},
		{"templates", []string{"SHIPPER_TEMPLATES"}, "index templates at start: auto (install when missing) or skip", stringValue{&c.Templates}},
		{"agent-details", []string{"SHIPPER_AGENT_DETAILS"}, "also write agent.version, agent.ephemeral_id and ecs.version into every document (the shipper logs the first two at start; the template records the ECS version)", boolValue{&c.AgentDetails}},

		{"buffer-bytes", []string{"SHIPPER_BUFFER_BYTES"}, "memory budget of all batches being filled, queued or sent and of the file and Forward inputs' buffers (--file-buffer-bytes, --forward-buffer-bytes): the batches get what those inputs leave, at least twice --batch-bytes", &c.BufferBytes},
		{"buffer-full-policy", []string{"SHIPPER_BUFFER_FULL_POLICY"}, "when the budget is spent: block (slow reading down) or drop_newest (discard and count)", stringValue{&c.BufferFullPolicy}},
		{"batch-bytes", []string{"SHIPPER_BATCH_BYTES"}, "bulk request size at which a batch is sent", &c.BatchBytes},
		{"flush-interval", []string{"SHIPPER_FLUSH_INTERVAL"}, "longest time a line waits before its batch is sent", durationValue{&c.FlushInterval}},

		{"http-address", []string{"SHIPPER_HTTP_ADDRESS"}, "serve /healthz, /readyz and /metrics (Prometheus text) on this address, e.g. :8686; empty: off", stringValue{&c.HTTPAddress}},
		{"progress-interval", []string{"SHIPPER_PROGRESS_INTERVAL"}, "log a one-line progress summary (rates, delivered, waiting, errors) this often; 0: off", durationValue{&c.ProgressInterval}},
		{"shutdown-timeout", []string{"SHIPPER_SHUTDOWN_TIMEOUT"}, "on SIGTERM/SIGINT, time to deliver what was read before giving up", durationValue{&c.ShutdownTimeout}},
		{"ready-stall-timeout", []string{"SHIPPER_READY_STALL_TIMEOUT"}, "/readyz fails when records wait and none was delivered for this long", durationValue{&c.ReadyStallTimeout}},
		{"log-level", []string{"SHIPPER_LOG_LEVEL"}, "the shipper's own log level: debug, info, warn, error", stringValue{&c.LogLevel}},
		{"host-name", []string{"SHIPPER_HOST_NAME", "NODE_NAME"}, "host.name written into every document", stringValue{&c.HostName}},
	}
	opts = append(opts, option{"config", []string{"SHIPPER_CONFIG"}, "YAML configuration file: options by flag name, processors and pipelines (see docs/processing.md); flags and environment variables win over it", stringValue{&c.ConfigFile}})
	opts = append(opts, c.File.options()...)
	opts = append(opts, c.Forward.options()...)
	opts = append(opts, option{"output", []string{"SHIPPER_OUTPUT"}, "where documents go: elasticsearch, or kafka (records for a consumer to index; see the --kafka-* options)", stringValue{&c.Output}})
	opts = append(opts, c.KafkaOut.options()...)
	return append(opts, c.KafkaIn.options()...)
}

// Load builds a Config from defaults, the environment (getenv) and args
// (flags, without the program or subcommand name).
func Load(name string, args []string, getenv func(string) string, usageOut io.Writer) (Config, error) {
	c := Default()
	if path := configPath(args, getenv); path != "" {
		if err := c.loadFile(path, getenv); err != nil {
			return c, err
		}
	}
	if err := parseOptions(name, args, getenv, c.options(), func() { PrintUsage(usageOut, name) }); err != nil {
		return c, err
	}
	c.mapDashes()
	return c, c.Validate()
}

// parseOptions sets opts from the environment, then from args, so that
// flags win. usage is what --help prints.
func parseOptions(name string, args []string, getenv func(string) string, opts []option, usage func()) error {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	// A wrong flag is one line of error (returned), not the error followed
	// by the whole reference: that is what --help is for.
	fs.SetOutput(io.Discard)
	for _, o := range opts {
		fs.Var(o.value, o.flag, o.usage)
	}
	fs.Usage = func() {}
	for _, o := range opts {
		for _, e := range o.env {
			if v := getenv(e); v != "" {
				if err := o.value.Set(v); err != nil {
					return fmt.Errorf("invalid %s=%q: %w", e, v, err)
				}
				break
			}
		}
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			usage()
		}
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q (options are --name=value; see --help)", fs.Arg(0))
	}
	return nil
}

// PrintUsage writes the option reference.
func PrintUsage(w io.Writer, name string) {
	c := Default()
	fmt.Fprintf(w, "Usage: %s [options]\n\nOptions (each also settable by the environment variable shown; flags win):\n", name)
	printOptions(w, c.options())
}

// printOptions writes one entry per option: flag, usage, environment
// variables and the default (never of a secret).
func printOptions(w io.Writer, opts []option) {
	for _, o := range opts {
		def := o.value.String()
		if _, ok := o.value.(boolValue); ok {
			fmt.Fprintf(w, "  --%s\n", o.flag)
		} else {
			fmt.Fprintf(w, "  --%s=VALUE\n", o.flag)
		}
		fmt.Fprintf(w, "        %s\n        env %s", o.usage, strings.Join(o.env, ", "))
		if def != "" && def != "false" && !strings.Contains(o.flag, "password") && !strings.Contains(o.flag, "api-key") {
			fmt.Fprintf(w, "; default %s", def)
		}
		fmt.Fprintln(w)
	}
}

// mapDashes replaces '-' with '_' in the dataset names:
// '-' separates the parts of a data stream name (logs-<dataset>-<namespace>),
// so Elastic's own datasets use '.' and '_' (nginx.access, my_app), and
// --dataset=my-app means logs-my_app-default.
func (c *Config) mapDashes() {
	for _, p := range []struct {
		flag string
		v    *string
	}{{"--dataset", &c.Dataset}, {"--dead-letter-dataset", &c.DeadLetterDataset}} {
		if strings.Contains(*p.v, "-") {
			m := strings.ReplaceAll(*p.v, "-", "_")
			c.Notes = append(c.Notes, fmt.Sprintf("%s %q is used as %q: '-' separates the parts of a data stream name", p.flag, *p.v, m))
			*p.v = m
		}
	}
}

// Validate checks the values and says what to change.
func (c *Config) Validate() error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if len(c.ElasticsearchURLs) == 0 {
		bad("no Elasticsearch URL: set --elasticsearch-url or ELASTICSEARCH_URL")
	}
	for _, u := range c.ElasticsearchURLs {
		if _, err := esclient.ParseURL(u); err != nil {
			bad("Elasticsearch %v: check --elasticsearch-url / ELASTICSEARCH_URL", err)
		}
	}
	if c.APIKey != "" && (c.Username != "" || c.Password != "") {
		bad("both an API key and a user name/password are set: keep one")
	}
	if (c.Username == "") != (c.Password == "") {
		bad("basic auth needs both --elasticsearch-username and --elasticsearch-password")
	}
	switch c.Compression {
	case "gzip":
		if c.CompressionLevel < 1 || c.CompressionLevel > 9 {
			bad("--compression-level %d is out of range 1..9", c.CompressionLevel)
		}
	case "none":
	default:
		bad("--compression %q: want gzip or none", c.Compression)
	}
	if c.Workers < 1 || c.Workers > 64 {
		bad("--workers %d is out of range 1..64", c.Workers)
	}
	if c.MaxLineBytes < 1024 {
		bad("--max-line-bytes %s is below 1KiB", c.MaxLineBytes)
	}
	if c.BatchBytes < 64<<10 {
		bad("--batch-bytes %s is below 64KiB", c.BatchBytes)
	}
	if c.BatchBytes > 64<<20 {
		bad("--batch-bytes %s is above 64MiB; Elasticsearch handles a few MiB per request best", c.BatchBytes)
	}
	if c.BufferBytes < 2*c.BatchBytes {
		bad("--buffer-bytes %s must be at least twice --batch-bytes %s", c.BufferBytes, c.BatchBytes)
	}
	if c.BufferFullPolicy != "block" && c.BufferFullPolicy != "drop_newest" {
		bad("--buffer-full-policy %q: want block or drop_newest", c.BufferFullPolicy)
	}
	if c.FlushInterval <= 0 {
		bad("--flush-interval must be positive")
	}
	if c.RequestTimeout <= 0 || c.RetryInitial <= 0 || c.RetryMax < c.RetryInitial {
		bad("--request-timeout and --retry-initial must be positive and --retry-max at least --retry-initial")
	}
	if c.ShutdownTimeout <= 0 {
		bad("--shutdown-timeout must be positive")
	}
	if c.ReadyStallTimeout <= 0 {
		bad("--ready-stall-timeout must be positive")
	}
	if c.ProgressInterval < 0 {
		bad("--progress-interval must not be negative (0 turns the progress line off)")
	}
	if c.Templates != "auto" && c.Templates != "skip" {
		bad("--templates %q: want auto or skip", c.Templates)
	}
	for _, p := range []struct{ what, v string }{{"dataset (--dataset)", c.Dataset}, {"namespace (--namespace)", c.Namespace}, {"dataset (--dead-letter-dataset)", c.DeadLetterDataset}} {
		if err := datastream.CheckPart(p.what, p.v); err != nil {
			bad("%v", err)
		}
	}
	if c.MaxDatasets < 0 {
		bad("--max-datasets %d must not be negative (0: records never choose their dataset)", c.MaxDatasets)
	}
	for _, a := range c.DatasetsAllowed {
		if err := datastream.CheckPart("dataset (--datasets-allowed)", strings.TrimSuffix(a, "*")); err != nil {
			bad("%v", err)
		}
	}
	switch c.LogLevel {
	case "trace", "debug", "info", "warn", "error":
	default:
		bad("--log-level %q: want debug, info, warn or error", c.LogLevel)
	}
	if len(c.Inputs) == 0 {
		bad("no input enabled: set --input to stdin, file or forward")
	}
	for _, in := range c.Inputs {
		switch in {
		case InputStdin, InputFile, InputForward, InputKafka:
		default:
			bad("--input %q: want stdin, file, forward or kafka (comma-separated)", in)
		}
	}
	if c.Has(InputFile) {
		c.File.validate(bad)
	}
	if c.Has(InputForward) {
		c.Forward.validate(bad)
	}
	if c.Has(InputKafka) {
		c.KafkaIn.validate(c.KafkaOut.Brokers, bad)
	}
	switch c.Output {
	case OutputElasticsearch:
	case OutputKafka:
		c.KafkaOut.validate(bad)
	default:
		bad("--output %q: want elasticsearch or kafka", c.Output)
	}
	if _, err := process.Compile(&c.Processing); err != nil {
		bad("%v", err)
	}
	return errors.Join(errs...)
}

// FileSecrets are the values the configuration file read with ${file:...}:
// secrets, masked in any output.
func (c *Config) FileSecrets() []string { return c.fileSecrets }

// Describe lists the effective settings, secrets masked, sorted by name.
func (c *Config) Describe() []string {
	var out []string
	for _, o := range c.options() {
		v := o.value.String()
		if (strings.Contains(o.flag, "password") || strings.Contains(o.flag, "api-key")) && v != "" {
			v = "(set)"
		}
		if strings.HasSuffix(o.flag, "-url") {
			v = strings.Join(redact.URLs(strings.Split(v, ",")), ",")
		}
		out = append(out, fmt.Sprintf("%s=%s", o.flag, v))
	}
	sort.Strings(out)
	return out
}
