package process

import (
	"fmt"
	"math"
	"strconv"

	"shipper/internal/parse"
	"shipper/internal/process/dissect"
	"shipper/internal/process/grok"
	"shipper/internal/process/kv"
	"shipper/internal/process/scrub"
	"shipper/internal/process/timefmt"
)

// The processors over text: each wraps a parser of its own package and
// writes what it extracts as string fields (under target when set),
// replacing fields of the same name.

// textSource returns the text of field (default message) of d; ok is false
// when the field is missing or not a string: the processor does not apply.
func textSource(d *Doc, field string) ([]byte, bool) {
	t, isStr, ok := d.Text(field)
	return t, ok && isStr
}

// setText sets target.key (or key) to the string value.
func setText(r *Runner, d *Doc, target string, key, value []byte) {
	if target == "" {
		d.SetString(bytesString(key), value)
		return
	}
	r.name = append(append(append(r.name[:0], target...), '.'), key...)
	d.SetString(bytesString(r.name), value)
}

type dissectProc struct {
	field, target string
	pat           *dissect.Pattern
	out           []dissect.Field
}

func buildDissect(s *Spec) (proc, error) {
	if s.Pattern == "" {
		return nil, fmt.Errorf("pattern is required")
	}
	pat, err := dissect.Compile(s.Pattern, dissect.Options{AppendSeparator: s.AppendSeparator})
	if err != nil {
		return nil, err
	}
	return &dissectProc{field: orDefault(s.Field, "message"), target: s.Target, pat: pat}, nil
}

func (p *dissectProc) clone() proc {
	c := *p
	c.pat = p.pat.Clone()
	c.out = nil
	return &c
}

func (p *dissectProc) apply(r *Runner, d *Doc) error {
	t, ok := textSource(d, p.field)
	if !ok {
		return errSkip
	}
	var matched bool
	p.out, matched = p.pat.Match(t, p.out[:0])
	if !matched {
		return fmt.Errorf("field %s does not match the pattern", p.field)
	}
	for _, f := range p.out {
		setText(r, d, p.target, f.Key, f.Value)
	}
	return nil
}

type kvProc struct {
	field, target string
	p             *kv.Parser
	out           []kv.Field
}

func buildKV(s *Spec) (proc, error) {
	kp, err := kv.New(kv.Options{FieldSplit: s.FieldSplit, ValueSplit: s.ValueSplit, Prefix: s.Prefix})
	if err != nil {
		return nil, err
	}
	return &kvProc{field: orDefault(s.Field, "message"), target: s.Target, p: kp}, nil
}

func (p *kvProc) clone() proc {
	c := *p
	c.p = p.p.Clone()
	c.out = nil
	return &c
}

func (p *kvProc) apply(r *Runner, d *Doc) error {
	t, ok := textSource(d, p.field)
	if !ok {
		return errSkip
	}
	p.out = p.p.Parse(t, p.out[:0])
	if len(p.out) == 0 {
		return errSkip
	}
	for _, f := range p.out {
		if checkField(bytesString(f.Key)) != nil {
			continue // no usable name: "", ".a", "a..b"
		}
		setText(r, d, p.target, f.Key, f.Value)
	}
	return nil
}

// date parses a field with Logstash date formats into target (default
// @timestamp), written in UTC like the parser writes @timestamp.
type dateProc struct {
	field, target string
	p             *timefmt.Parser
}

func buildDate(s *Spec) (proc, error) {
	if s.Field == "" {
		return nil, fmt.Errorf("field is required (the field holding the time)")
	}
	if len(s.Formats) == 0 {
		return nil, fmt.Errorf("formats: give at least one (e.g. ISO8601, UNIX_MS, dd/MMM/yyyy:HH:mm:ss Z)")
	}
	p, err := timefmt.Compile(s.Formats, s.Timezone)
	if err != nil {
		return nil, err
	}
	return &dateProc{field: s.Field, target: orDefault(s.Target, "@timestamp"), p: p}, nil
}

func (p *dateProc) apply(_ *Runner, d *Doc) error {
	v, ok := d.Get(p.field)
	if !ok {
		return errSkip
	}
	t, _ := d.text(v)
	ns, ok := p.p.Parse(t)
	if !ok {
		return fmt.Errorf("field %s: %s matches none of the formats", p.field, clip(v))
	}
	if ns < 0 {
		return fmt.Errorf("field %s: %s is before 1970", p.field, clip(v))
	}
	k := len(d.arena)
	d.arena = parse.AppendTime(d.arena, ns)
	d.Set(p.target, d.arena[k:len(d.arena):len(d.arena)])
	return nil
}

// grok matches field (default message) against patterns, the first match
// wins; captures typed int or float become numbers, boolean true or false.
type grokProc struct {
	field, target string
	g             *grok.Grok
	out           []grok.Field
}

func buildGrok(s *Spec) (proc, error) {
	if len(s.Patterns) == 0 {
		return nil, fmt.Errorf("patterns: give at least one (e.g. %%{COMBINEDAPACHELOG})")
	}
	var custom map[string]string
	if len(s.PatternDefinitions) > 0 {
		custom = make(map[string]string, len(s.PatternDefinitions))
		for _, p := range s.PatternDefinitions {
			custom[p.Key] = p.Value
		}
	}
	compile := grok.Compile
	if s.LegacyNames {
		compile = grok.CompileLegacy
	}
	g, err := compile(s.Patterns, custom)
	if err != nil {
		return nil, err
	}
	return &grokProc{field: orDefault(s.Field, "message"), target: s.Target, g: g}, nil
}

// clone gives each Runner its own capture buffer (the Grok is shared).
func (p *grokProc) clone() proc {
	c := *p
	c.out = nil
	return &c
}

func (p *grokProc) apply(r *Runner, d *Doc) error {
	t, ok := textSource(d, p.field)
	if !ok {
		return errSkip
	}
	var matched bool
	p.out, matched = p.g.Match(t, p.out[:0])
	if !matched {
		return fmt.Errorf("field %s matches none of the patterns", p.field)
	}
	for _, f := range p.out {
		if checkField(bytesString(f.Key)) != nil {
			continue
		}
		switch f.Type {
		case grok.Int, grok.Float:
			x, err := strconv.ParseFloat(bytesString(f.Value), 64)
			if err != nil || math.IsInf(x, 0) || math.IsNaN(x) {
				return fmt.Errorf("field %s: capture %s: %s is not a number", p.field, f.Key, clip(f.Value))
			}
			k := len(d.arena)
			if f.Type == grok.Int {
				if n, err := strconv.ParseInt(bytesString(f.Value), 10, 64); err == nil {
					d.arena = strconv.AppendInt(d.arena, n, 10)
				} else {
					d.arena = strconv.AppendInt(d.arena, int64(x), 10)
				}
			} else {
				d.arena = strconv.AppendFloat(d.arena, x, 'g', -1, 64)
			}
			setRaw(r, d, p.target, f.Key, d.arena[k:len(d.arena):len(d.arena)])
		case grok.Bool:
			v := []byte("false")
			if string(f.Value) == "true" || string(f.Value) == "TRUE" || string(f.Value) == "True" {
				v = []byte("true")
			}
			setRaw(r, d, p.target, f.Key, v)
		default:
			setText(r, d, p.target, f.Key, f.Value)
		}
	}
	return nil
}

// setRaw sets target.key (or key) to the raw JSON value v.
func setRaw(r *Runner, d *Doc, target string, key, v []byte) {
	if target == "" {
		d.Set(bytesString(key), v)
		return
	}
	r.name = append(append(append(r.name[:0], target...), '.'), key...)
	d.Set(bytesString(r.name), v)
}

// redact replaces secrets and personal data in string fields: the listed
// fields and everything under them (default message), or every string
// field with "*".
type redactProc struct {
	names []string
	all   bool
	s     *scrub.Scrubber
	buf   []byte
}

func buildRedact(s *Spec) (proc, error) {
	names := s.Names
	if len(names) == 0 {
		names = []string{"message"}
	}
	p := &redactProc{}
	for _, n := range names {
		if n == "*" {
			p.all = true
			continue
		}
		if err := checkField(n); err != nil {
			return nil, err
		}
		p.names = append(p.names, n)
	}
	patterns := s.Redact
	if len(patterns) == 1 && patterns[0] == "all" {
		patterns = scrub.Names()
	}
	var custom []string
	for _, c := range s.Custom {
		custom = append(custom, c.Value)
	}
	opts := scrub.Options{Replacement: s.Replacement}
	if s.HashKey != "" {
		opts.Mode = scrub.Hash
		opts.Key = []byte(s.HashKey)
	}
	sc, err := scrub.Compile(patterns, custom, opts)
	if err != nil {
		return nil, err
	}
	p.s = sc
	return p, nil
}

func (p *redactProc) clone() proc {
	c := *p
	c.buf = nil
	return &c
}

func (p *redactProc) apply(_ *Runner, d *Doc) error {
	d.build()
	for k := range d.fields {
		f := &d.fields[k]
		if f.value == nil || len(f.value) < 2 || f.value[0] != '"' || !p.wants(f.name) {
			continue
		}
		t, _ := d.text(f.value)
		var n int
		p.buf, n = p.s.Append(p.buf[:0], t)
		if n == 0 {
			continue
		}
		f.value = d.quote(p.buf)
		d.changed = true
	}
	if len(p.buf) > keepBuf {
		p.buf = nil
	}
	return nil
}

func (p *redactProc) wants(name []byte) bool {
	if p.all {
		return true
	}
	for _, n := range p.names {
		if hasPathPrefix(name, n) {
			return true
		}
	}
	return false
}
