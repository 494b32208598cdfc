package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"

	yaml "go.yaml.in/yaml/v3"

	"shipper/internal/process"
)

// The configuration file (--config, SHIPPER_CONFIG) is YAML: every option
// under its flag name, plus the processing section. Flags and environment
// variables win over it. It is strict: an unknown key, a key given twice or
// a value of the wrong shape is an error naming the line and column.
//
//	elasticsearch-url: [https://es-1:9200, https://es-2:9200]
//	elasticsearch-password: ${file:/run/secrets/es-password}
//	dataset: ${APP_DATASET:-app}
//	labels: {team: shop}
//	processors:            # every line of every input
//	  - type: drop
//	    when: log.level == "debug"
//	pipelines:             # some inputs, or some sources of an input
//	  - input: file
//	    when: kubernetes.namespace == "shop"
//	    processors: [...]
//
// Scalars may hold ${VAR} (an error when VAR is not set), ${VAR:-default},
// ${file:PATH} (the file's contents without the trailing newline: a secret,
// masked wherever the configuration is shown) and $$ for a literal '$'.
//
// go.yaml.in/yaml/v3 is already in the module graph; its node tree gives
// line and column for every key, which its KnownFields mode does not (it
// says "line 5: field x not found in type config.T"), and lets each
// processor type have its own set of options.

// fileError is an error at a place in the configuration file.
func fileError(path string, n *yaml.Node, format string, a ...any) error {
	return fmt.Errorf("%s:%d:%d: %s", path, n.Line, n.Column, fmt.Sprintf(format, a...))
}

// configFile is what the file holds besides the options.
type configFile struct {
	path    string
	getenv  func(string) string
	secrets []string // values read with ${file:...}
}

// configPath finds --config in args (either form) or SHIPPER_CONFIG.
func configPath(args []string, getenv func(string) string) string {
	path := getenv("SHIPPER_CONFIG")
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			break
		}
		for _, p := range []string{"--config", "-config"} {
			if a == p && i+1 < len(args) {
				path = args[i+1]
			} else if v, ok := strings.CutPrefix(a, p+"="); ok {
				path = v
			}
		}
	}
	return path
}

// loadFile applies the configuration file at path to c: options through
// their flag values, and the processing section.
func (c *Config) loadFile(path string, getenv func(string) string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("cannot read the configuration file: %w", err)
	}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if len(root.Content) == 0 {
		return nil // empty file
	}
	top := root.Content[0]
	if top.Kind != yaml.MappingNode {
		return fileError(path, top, "want a mapping of options (name: value)")
	}
	f := &configFile{path: path, getenv: getenv}
	opts := map[string]option{}
	for _, o := range c.options() {
		opts[o.flag] = o
	}
	seen := map[string]*yaml.Node{}
	var errs []string
	for i := 0; i+1 < len(top.Content); i += 2 {
		k, v := top.Content[i], top.Content[i+1]
		if prev, dup := seen[k.Value]; dup {
			errs = append(errs, fileError(path, k, "%q is given twice (first at line %d)", k.Value, prev.Line).Error())
			continue
		}
		seen[k.Value] = k
		if err := c.fileKey(f, opts, k, v); err != nil {
			errs = append(errs, err.Error())
		}
	}
	c.ConfigFile = path
	c.fileSecrets = f.secrets
	if len(errs) > 0 {
		return fmt.Errorf("%s", strings.Join(errs, "\n"))
	}
	return nil
}

func (c *Config) fileKey(f *configFile, opts map[string]option, k, v *yaml.Node) error {
	switch k.Value {
	case "processors":
		specs, err := f.processors(v)
		if err != nil {
			return err
		}
		c.Processing.Processors = specs
		return nil
	case "pipelines":
		pls, err := f.pipelines(v)
		if err != nil {
			return err
		}
		c.Processing.Pipelines = pls
		return nil
	case "config":
		return fileError(f.path, k, "a configuration file cannot name another one")
	}
	o, ok := opts[k.Value]
	if !ok {
		return fileError(f.path, k, "unknown option %q (the file takes the flag names of 'shipper run --help', processors and pipelines)", k.Value)
	}
	s, err := f.optionValue(v)
	if err != nil {
		return err
	}
	if err := o.value.Set(s); err != nil {
		return fileError(f.path, v, "%s: %v", k.Value, err)
	}
	return nil
}

// optionValue turns a scalar, a list of scalars or a mapping of scalars
// into the text a flag takes ("a,b", "k=v,k2=v2").
func (f *configFile) optionValue(v *yaml.Node) (string, error) {
	switch v.Kind {
	case yaml.ScalarNode:
		return f.scalar(v)
	case yaml.SequenceNode:
		var parts []string
		for _, e := range v.Content {
			if e.Kind != yaml.ScalarNode {
				return "", fileError(f.path, e, "want a scalar in this list")
			}
			s, err := f.scalar(e)
			if err != nil {
				return "", err
			}
			parts = append(parts, s)
		}
		return strings.Join(parts, ","), nil
	case yaml.MappingNode:
		var parts []string
		for i := 0; i+1 < len(v.Content); i += 2 {
			val := v.Content[i+1]
			if val.Kind != yaml.ScalarNode {
				return "", fileError(f.path, val, "want a scalar value")
			}
			s, err := f.scalar(val)
			if err != nil {
				return "", err
			}
			parts = append(parts, v.Content[i].Value+"="+s)
		}
		return strings.Join(parts, ","), nil
	}
	return "", fileError(f.path, v, "want a value, a list or a mapping")
}

// scalar returns an interpolated scalar.
func (f *configFile) scalar(n *yaml.Node) (string, error) {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if n.Kind != yaml.ScalarNode {
		return "", fileError(f.path, n, "want a scalar")
	}
	if n.Tag == "!!null" {
		return "", nil
	}
	s, err := Interpolate(n.Value, f.getenv, func(path string) (string, error) {
		b, err := os.ReadFile(path)
		if err != nil {
			return "", err
		}
		v := strings.TrimRight(string(b), "\r\n")
		if v != "" {
			f.secrets = append(f.secrets, v)
		}
		return v, nil
	})
	if err != nil {
		return "", fileError(f.path, n, "%v", err)
	}
	return s, nil
}

// Interpolate replaces ${VAR}, ${VAR:-default} and ${file:PATH} in s; $$ is
// a literal '$'. An unset VAR without a default is an error.
func Interpolate(s string, getenv func(string) string, readFile func(string) (string, error)) (string, error) {
	if !strings.Contains(s, "$") {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '$' || i+1 >= len(s) {
			b.WriteByte(c)
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i++
			continue
		case '{':
		default:
			b.WriteByte(c)
			continue
		}
		end := strings.IndexByte(s[i:], '}')
		if end < 0 {
			return "", fmt.Errorf("unclosed ${ in %q", s)
		}
		expr := s[i+2 : i+end]
		i += end
		if p, ok := strings.CutPrefix(expr, "file:"); ok {
			if readFile == nil {
				return "", fmt.Errorf("${file:...} is not available here")
			}
			v, err := readFile(p)
			if err != nil {
				return "", fmt.Errorf("${file:%s}: %v", p, err)
			}
			b.WriteString(v)
			continue
		}
		name, def, hasDef := strings.Cut(expr, ":-")
		if !validEnvName(name) {
			return "", fmt.Errorf("bad variable name %q in ${%s}", name, expr)
		}
		v := getenv(name)
		if v == "" {
			if !hasDef {
				return "", fmt.Errorf("${%s} is not set (give a default: ${%s:-value})", name, name)
			}
			v = def
		}
		b.WriteString(v)
	}
	return b.String(), nil
}

func validEnvName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '_' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || i > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

func (f *configFile) pipelines(v *yaml.Node) ([]process.Pipeline, error) {
	if v.Kind != yaml.SequenceNode {
		return nil, fileError(f.path, v, "pipelines: want a list")
	}
	var out []process.Pipeline
	var errs []string
	for _, e := range v.Content {
		if e.Kind != yaml.MappingNode {
			errs = append(errs, fileError(f.path, e, "want a pipeline (name, input, when, processors)").Error())
			continue
		}
		p := process.Pipeline{Line: e.Line, Column: e.Column}
		err := f.mapping(e, func(k, val *yaml.Node) error {
			var err error
			switch k.Value {
			case "name":
				p.Name, err = f.scalar(val)
			case "input":
				p.Input, err = f.scalar(val)
			case "when":
				p.When, err = f.scalar(val)
			case "processors":
				p.Processors, err = f.processors(val)
			default:
				return fileError(f.path, k, "unknown pipeline key %q (want name, input, when, processors)", k.Value)
			}
			return err
		})
		if err != nil {
			errs = append(errs, err.Error())
			continue
		}
		out = append(out, p)
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("%s", strings.Join(errs, "\n"))
	}
	return out, nil
}

// mapping calls fn for each key of a mapping node, refusing duplicates.
func (f *configFile) mapping(n *yaml.Node, fn func(k, v *yaml.Node) error) error {
	seen := map[string]int{}
	var errs []string
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i]
		if line, dup := seen[k.Value]; dup {
			errs = append(errs, fileError(f.path, k, "%q is given twice (first at line %d)", k.Value, line).Error())
			continue
		}
		seen[k.Value] = k.Line
		if err := fn(k, n.Content[i+1]); err != nil {
			errs = append(errs, err.Error())
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%s", strings.Join(errs, "\n"))
	}
	return nil
}

func (f *configFile) processors(v *yaml.Node) ([]process.Spec, error) {
	if v.Kind != yaml.SequenceNode {
		return nil, fileError(f.path, v, "processors: want a list")
	}
	var out []process.Spec
	var errs []string
	for _, e := range v.Content {
		s, err := f.processor(e)
		if err != nil {
			errs = append(errs, err.Error())
			continue
		}
		out = append(out, s)
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("%s", strings.Join(errs, "\n"))
	}
	return out, nil
}

func (f *configFile) processor(n *yaml.Node) (process.Spec, error) {
	s := process.Spec{Line: n.Line, Column: n.Column}
	if n.Kind != yaml.MappingNode {
		return s, fileError(f.path, n, "want a processor: a mapping with a type")
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == "type" {
			t, err := f.scalar(n.Content[i+1])
			if err != nil {
				return s, err
			}
			s.Type = t
		}
	}
	allowed, ok := process.Options[s.Type]
	if !ok && s.Type == "" && len(n.Content) >= 2 {
		// The shape of Filebeat's and Logstash's configurations:
		// "- grok: {...}". Say how to write it here.
		if _, known := process.Options[n.Content[0].Value]; known {
			return s, fileError(f.path, n, "processor without a type: write %q as \"- type: %s\" with its options beside it, not nested under it", n.Content[0].Value, n.Content[0].Value)
		}
	}
	if !ok {
		return s, fileError(f.path, n, "processor without a known type (got %q; want one of %s)", s.Type, strings.Join(process.Types(), ", "))
	}
	err := f.mapping(n, func(k, v *yaml.Node) error {
		switch k.Value {
		case "type":
			return nil
		case "id":
			var err error
			s.ID, err = f.scalar(v)
			return err
		case "when":
			var err error
			s.When, err = f.scalar(v)
			return err
		case "ignore_failure":
			return f.boolean(v, &s.IgnoreFailure)
		}
		known := false
		for _, a := range allowed {
			known = known || a == k.Value
		}
		if !known {
			return fileError(f.path, k, "unknown option %q of a %s processor (it takes type, id, when, ignore_failure, %s)", k.Value, s.Type, strings.Join(allowed, ", "))
		}
		return f.option(&s, k, v)
	})
	return s, err
}

func (f *configFile) boolean(v *yaml.Node, dst *bool) error {
	t, err := f.scalar(v)
	if err != nil {
		return err
	}
	b, err := strconv.ParseBool(t)
	if err != nil {
		return fileError(f.path, v, "want true or false, got %q", t)
	}
	*dst = b
	return nil
}

func (f *configFile) str(v *yaml.Node, dst *string) error {
	t, err := f.scalar(v)
	*dst = t
	return err
}

func (f *configFile) list(v *yaml.Node) ([]string, error) {
	if v.Kind == yaml.ScalarNode {
		t, err := f.scalar(v)
		return []string{t}, err
	}
	if v.Kind != yaml.SequenceNode {
		return nil, fileError(f.path, v, "want a list")
	}
	var out []string
	for _, e := range v.Content {
		t, err := f.scalar(e)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, nil
}

// pairs reads an ordered mapping; with raw, non-string scalars (numbers,
// booleans, null) are kept as JSON in Pair.Raw.
func (f *configFile) pairs(v *yaml.Node, raw bool) ([]process.Pair, error) {
	if v.Kind != yaml.MappingNode {
		return nil, fileError(f.path, v, "want a mapping (name: value)")
	}
	var out []process.Pair
	err := f.mapping(v, func(k, val *yaml.Node) error {
		t, err := f.scalar(val)
		if err != nil {
			return err
		}
		p := process.Pair{Key: k.Value, Value: t}
		if raw && val.Style == 0 {
			switch val.Tag {
			case "!!int", "!!float", "!!bool", "!!null":
				var x any
				if err := val.Decode(&x); err == nil {
					if j, err := json.Marshal(x); err == nil && !bytes.Equal(j, []byte("NaN")) {
						p.Raw = j
					}
				}
			}
		}
		out = append(out, p)
		return nil
	})
	return out, err
}

func (f *configFile) option(s *process.Spec, k, v *yaml.Node) error {
	var err error
	switch k.Value {
	case "fields":
		if process.FieldsForm(s.Type) == "map" {
			s.Pairs, err = f.pairs(v, s.Type == "add")
		} else {
			s.Names, err = f.list(v)
		}
	case "field":
		err = f.str(v, &s.Field)
	case "target":
		err = f.str(v, &s.Target)
	case "pattern":
		err = f.str(v, &s.Pattern)
	case "append_separator":
		err = f.str(v, &s.AppendSeparator)
	case "patterns":
		if s.Type == "redact" {
			s.Redact, err = f.list(v)
		} else {
			s.Patterns, err = f.list(v)
		}
	case "legacy_names":
		err = f.boolean(v, &s.LegacyNames)
	case "pattern_definitions":
		s.PatternDefinitions, err = f.pairs(v, false)
	case "custom":
		s.Custom, err = f.pairs(v, false)
	case "field_split":
		err = f.str(v, &s.FieldSplit)
	case "value_split":
		err = f.str(v, &s.ValueSplit)
	case "prefix":
		err = f.str(v, &s.Prefix)
	case "formats":
		s.Formats, err = f.list(v)
	case "timezone":
		err = f.str(v, &s.Timezone)
	case "rate":
		var t string
		if t, err = f.scalar(v); err == nil {
			if s.Rate, err = strconv.Atoi(t); err != nil {
				err = fileError(f.path, v, "rate: want a whole number, got %q", t)
			}
		}
	case "key":
		err = f.str(v, &s.Key)
	case "sample_errors":
		err = f.boolean(v, &s.SampleErrors)
	case "overwrite":
		err = f.boolean(v, &s.Overwrite)
	case "dataset":
		err = f.str(v, &s.Dataset)
	case "namespace":
		err = f.str(v, &s.Namespace)
	case "dataset_from":
		err = f.str(v, &s.DatasetFrom)
	case "replacement":
		err = f.str(v, &s.Replacement)
	case "hash_key":
		err = f.str(v, &s.HashKey)
	default:
		err = fileError(f.path, k, "option %q is not handled", k.Value)
	}
	return err
}
