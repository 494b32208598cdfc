package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"shipper/internal/config"
	"shipper/internal/datastream"
	"shipper/internal/encode"
	"shipper/internal/event"
	"shipper/internal/parse"
	"shipper/internal/process"
)

// sampleArgs are the options of 'shipper check' that only a dry run takes:
// --sample LINE (or - for standard input), --sample-input NAME (whose
// pipelines apply; default stdin) and --sample-fields '{...}' (the metadata
// a source would add, e.g. {"kubernetes.namespace":"shop"}).
type sampleArgs struct {
	on     bool
	line   string
	input  string
	fields string
}

// splitSample takes the dry-run options out of args.
func splitSample(args []string) ([]string, sampleArgs, error) {
	var s sampleArgs
	var rest []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		matched := false
		for _, name := range []string{"sample", "sample-input", "sample-fields"} {
			var v string
			var ok bool
			for _, p := range []string{"--" + name, "-" + name} {
				if a == p {
					if i+1 >= len(args) {
						return nil, s, fmt.Errorf("%s needs a value", p)
					}
					v, ok = args[i+1], true
					i++
				} else if x, cut := strings.CutPrefix(a, p+"="); cut {
					v, ok = x, true
				}
			}
			if !ok {
				continue
			}
			matched = true
			switch name {
			case "sample":
				s.on, s.line = true, v
			case "sample-input":
				s.input = v
			case "sample-fields":
				s.fields = v
			}
		}
		if !matched {
			rest = append(rest, a)
		}
	}
	if !s.on && (s.input != "" || s.fields != "") {
		return nil, s, fmt.Errorf("--sample-input and --sample-fields go with --sample")
	}
	return rest, s, nil
}

// describeProcessing writes the processors of cfg, one a line, for 'shipper
// check'. Hash keys are masked (the output writer masks file secrets too).
func describeProcessing(w io.Writer, cfg *config.Config) {
	p := &cfg.Processing
	if p.Empty() {
		fmt.Fprintln(w, "processing: none (documents are shipped as parsed)")
		return
	}
	fmt.Fprintln(w, "processing:")
	for i, s := range p.Processors {
		fmt.Fprintf(w, "  all inputs: %d. %s\n", i+1, describeSpec(&s))
	}
	for i, pl := range p.Pipelines {
		name := pl.Name
		if name == "" {
			name = fmt.Sprintf("pipeline%d", i+1)
		}
		in := pl.Input
		if in == "" {
			in = "all inputs"
		}
		when := ""
		if pl.When != "" {
			when = " when " + pl.When
		}
		fmt.Fprintf(w, "  pipeline %s (%s%s):\n", name, in, when)
		for j, s := range pl.Processors {
			fmt.Fprintf(w, "    %d. %s\n", j+1, describeSpec(&s))
		}
	}
}

func describeSpec(s *process.Spec) string {
	var b strings.Builder
	b.WriteString(s.Type)
	if s.ID != "" {
		fmt.Fprintf(&b, " (%s)", s.ID)
	}
	if s.When != "" {
		fmt.Fprintf(&b, " when %s", s.When)
	}
	opt := func(name string, v any) {
		switch x := v.(type) {
		case string:
			if x == "" {
				return
			}
		case []string:
			if len(x) == 0 {
				return
			}
		case []process.Pair:
			if len(x) == 0 {
				return
			}
			parts := make([]string, len(x))
			for i, p := range x {
				parts[i] = p.Key + ": " + p.Value
			}
			v = "{" + strings.Join(parts, ", ") + "}"
		case int:
			if x == 0 {
				return
			}
		case bool:
			if !x {
				return
			}
		}
		fmt.Fprintf(&b, " %s=%v", name, v)
	}
	opt("fields", s.Pairs)
	opt("fields", s.Names)
	opt("field", s.Field)
	opt("target", s.Target)
	opt("pattern", s.Pattern)
	opt("append_separator", s.AppendSeparator)
	opt("patterns", s.Patterns)
	opt("pattern_definitions", s.PatternDefinitions)
	opt("legacy_names", s.LegacyNames)
	opt("field_split", s.FieldSplit)
	opt("value_split", s.ValueSplit)
	opt("prefix", s.Prefix)
	opt("formats", s.Formats)
	opt("timezone", s.Timezone)
	opt("rate", s.Rate)
	opt("key", s.Key)
	opt("sample_errors", s.SampleErrors)
	opt("dataset", s.Dataset)
	opt("namespace", s.Namespace)
	opt("dataset_from", s.DatasetFrom)
	opt("patterns", s.Redact)
	opt("custom", s.Custom)
	opt("replacement", s.Replacement)
	if s.HashKey != "" {
		opt("hash_key", "(set)")
	}
	opt("overwrite", s.Overwrite)
	opt("ignore_failure", s.IgnoreFailure)
	return b.String()
}

// runSample shows what the sample lines become: parsed and processed as
// the input would, each bulk action and document printed; nothing is sent.
func runSample(w io.Writer, cfg *config.Config, s sampleArgs) error {
	input := s.input
	if input == "" {
		input = config.InputStdin
	}
	var fields []byte
	if f := strings.TrimSpace(s.fields); f != "" {
		if !strings.HasPrefix(f, "{") || !strings.HasSuffix(f, "}") {
			return fmt.Errorf("--sample-fields %q: want a JSON object", f)
		}
		fields = []byte(strings.TrimSpace(f[1 : len(f)-1]))
	}
	chain, err := process.Compile(&cfg.Processing)
	if err != nil {
		return err
	}
	index, err := datastream.IndexName(cfg.Dataset, cfg.Namespace)
	if err != nil {
		return err
	}
	static := []byte(`"input.type":"` + input + `",`)
	static = append(static, staticFields(cfg, 0)...)
	enc := encode.New(parse.New(static), index, cfg.Namespace)
	enc.Streams = encode.NewStreams(cfg.DatasetsAllowed, cfg.MaxDatasets)
	if !chain.Empty() {
		enc.Stage = chain.Runner(input)
	}
	var lines []string
	if s.line == "-" {
		sc := bufio.NewScanner(os.Stdin)
		sc.Buffer(make([]byte, 64<<10), int(cfg.MaxLineBytes)+1)
		for sc.Scan() {
			lines = append(lines, sc.Text())
		}
		if err := sc.Err(); err != nil {
			return fmt.Errorf("cannot read the sample lines: %w", err)
		}
	} else {
		lines = []string{s.line}
	}
	fmt.Fprintf(w, "\nsample (input %s, nothing is sent):\n", input)
	now := time.Now().UnixNano()
	enc.Parser.SetIngested(now)
	for i, line := range lines {
		var b event.Batch
		l := parse.Line{Data: []byte(line), Time: now, Fields: fields}
		info := enc.Append(&b, &l, 0, uint64(i+1))
		fmt.Fprintf(w, "line %d: %s\n", i+1, clipLine(line))
		switch {
		case b.Len() == 0 && info.Flags&parse.Blank != 0:
			fmt.Fprintln(w, "  blank: not shipped")
		case b.Len() == 0:
			fmt.Fprintln(w, "  dropped by a processor")
		default:
			// The action line as if alone in its request: with its
			// data stream, which a batch's default target may leave out.
			action := b.Action(0)
			if index, id, ok := encode.ParseCreate(action); ok && index == nil {
				action = encode.AppendCreate(nil, b.Index, id)
			}
			fmt.Fprintf(w, "  %s  %s", action, b.Document(0))
		}
	}
	st := chain.Stats()
	fmt.Fprintf(w, "\n%d lines: %d changed, %d dropped, %d failed (flagged in log.flags, shipped as parsed)\n",
		len(lines), st.Changed, st.Dropped, st.Failed)
	return nil
}

func clipLine(s string) string {
	if len(s) > 200 {
		return s[:200] + "..."
	}
	return s
}
