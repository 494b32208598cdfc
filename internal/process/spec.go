package process

// Config is the processing section of the configuration file: a global
// chain for every line, then pipelines, each for one input (or all) and the
// lines whose source matches its when.
type Config struct {
	Processors []Spec
	Pipelines  []Pipeline
}

// Empty reports whether c has no processor at all.
func (c *Config) Empty() bool {
	if c == nil {
		return true
	}
	if len(c.Processors) > 0 {
		return false
	}
	for _, p := range c.Pipelines {
		if len(p.Processors) > 0 {
			return false
		}
	}
	return true
}

// Pipeline is a chain of processors for some lines.
type Pipeline struct {
	// Name is used in error messages and metrics; default "pipeline<N>".
	Name string
	// Input limits the pipeline to one input (stdin, file, forward);
	// empty: every input.
	Input string
	// When selects lines by the metadata their source adds (see
	// docs/processing.md): kubernetes.*, container.*, fluent.tag,
	// log.file.path. It is evaluated once per source (file or Forward
	// tag), not per line.
	When string
	// Processors run in order, after the global ones.
	Processors []Spec
	// Line and Column locate the pipeline in the configuration file.
	Line, Column int
}

// Pair is a from -> to entry of an ordered mapping option.
type Pair struct {
	Key   string
	Value string
	// Raw is the value as written in YAML when it was not a string
	// (add: 5, true), as JSON; nil for strings.
	Raw []byte
}

// Spec configures one processor. Which options apply depends on Type; the
// configuration file decoder refuses the others (see Options).
type Spec struct {
	Type string
	// ID names the processor in failure flags' reasons and metrics;
	// default "<type>#<position>".
	ID            string
	When          string
	IgnoreFailure bool

	// fields: a mapping for rename, copy, add, convert; a list for
	// remove, keep_only, lowercase, uppercase, fingerprint, redact.
	Pairs []Pair
	Names []string

	Field   string // source field: parse_json, dissect, grok, kv, date, redact
	Target  string // where results go: parse_json, dissect, grok, kv, date
	Pattern string // dissect
	// AppendSeparator joins dissect's %{+key} parts.
	AppendSeparator string
	// grok
	Patterns           []string
	PatternDefinitions []Pair
	LegacyNames        bool // the library's pre-ECS field names
	// kv
	FieldSplit, ValueSplit string
	Prefix                 string
	// date
	Formats  []string
	Timezone string
	// sample
	Rate         int
	Key          string
	SampleErrors bool
	// route
	Dataset, Namespace, DatasetFrom string
	// redact
	Redact      []string // named patterns
	Custom      []Pair   // name -> regular expression
	Replacement string
	HashKey     string
	// drop, sample, parse_json
	Overwrite bool

	// Line and Column locate the processor in the configuration file.
	Line, Column int
}

// Options lists, per processor type, the options it takes beyond type, id,
// when and ignore_failure. It is the reference of the configuration file
// decoder: any other key is an error.
var Options = map[string][]string{
	"rename":      {"fields"},
	"copy":        {"fields"},
	"remove":      {"fields"},
	"keep_only":   {"fields"},
	"add":         {"fields", "overwrite"},
	"convert":     {"fields"},
	"lowercase":   {"fields"},
	"uppercase":   {"fields"},
	"drop":        {},
	"sample":      {"rate", "key", "sample_errors"},
	"parse_json":  {"field", "target", "overwrite"},
	"route":       {"dataset", "namespace", "dataset_from"},
	"fingerprint": {"fields"},
	"dissect":     {"field", "target", "pattern", "append_separator"},
	"grok":        {"field", "target", "patterns", "pattern_definitions", "legacy_names"},
	"kv":          {"field", "target", "field_split", "value_split", "prefix"},
	"date":        {"field", "target", "formats", "timezone"},
	"redact":      {"fields", "patterns", "custom", "replacement", "hash_key"},
}

// FieldsForm says how a type's "fields" option is written: "map" (a
// mapping) or "list".
func FieldsForm(typ string) string {
	switch typ {
	case "rename", "copy", "add", "convert":
		return "map"
	}
	return "list"
}
