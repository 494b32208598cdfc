// Package process is the processing stage between parse and the bulk body:
// ordered processors (rename, remove, add, convert, drop, sample,
// parse_json, route, fingerprint, ...) configured once, globally and per
// input, run on each document through a flat field view (Doc).
//
// Contracts:
//   - A processor that does not apply costs a condition or a field lookup;
//     a document no processor changed is shipped as the parser wrote it.
//   - A processing failure never loses the line: it is shipped as the
//     parser wrote it, with "<type>_failure" in log.flags and
//     "log.processing_error" naming the processor and the reason, and
//     counted (shipper_process_failures_total).
//   - Compile checks everything it can at load: options, conditions,
//     regular expressions, datasets and namespaces.
//
// docs/processing.md is the user's reference.
package process

import (
	"crypto/sha256"
	"fmt"
	"hash"
	"strings"
	"sync"
	"sync/atomic"

	"shipper/internal/datastream"
	"shipper/internal/encode"
	"shipper/internal/parse"
)

// Chain is a compiled processing configuration, shared by every source.
// Immutable after Compile but for its counters; each source takes its own
// Runner.
type Chain struct {
	global    []*step
	pipelines []*pipeline
	nsteps    int

	mu      sync.Mutex
	runners []*Runner
	lines   atomic.Uint64 // sum of the runners' counts as they flush
}

type pipeline struct {
	name  string
	input string
	when  *Cond
	steps []*step
}

type step struct {
	id, typ       string
	when          *Cond
	ignoreFailure bool
	p             proc
	slot          int    // index of the Runner's own copy, for procs with state
	flag          string // `"<type>_failure"`
	applied       atomic.Uint64
	failed        atomic.Uint64
	dropped       atomic.Uint64
}

// Compile checks cfg and builds its processors; the error lists every
// problem, one a line. ${VAR} in values is resolved when the configuration
// file is read, not here.
func Compile(cfg *Config) (*Chain, error) {
	c := &Chain{}
	if cfg == nil {
		return c, nil
	}
	var errs []string
	for i := range cfg.Processors {
		s, err := compileStep(&cfg.Processors[i], i)
		if err != nil {
			errs = append(errs, err.Error())
			continue
		}
		c.global = append(c.global, s)
	}
	for i := range cfg.Pipelines {
		pc := &cfg.Pipelines[i]
		pl := &pipeline{name: pc.Name, input: pc.Input}
		if pl.name == "" {
			pl.name = fmt.Sprintf("pipeline%d", i+1)
		}
		where := pl.name
		if pc.Line > 0 {
			where = fmt.Sprintf("%s (line %d)", pl.name, pc.Line)
		}
		switch pc.Input {
		case "", "stdin", "file", "forward", "kafka":
		default:
			errs = append(errs, fmt.Sprintf("%s: input %q: want stdin, file, forward or kafka", where, pc.Input))
		}
		if pc.When != "" {
			w, err := ParseCond(pc.When)
			if err != nil {
				errs = append(errs, fmt.Sprintf("%s: when: %v", where, err))
			}
			pl.when = w
		}
		for j := range pc.Processors {
			s, err := compileStep(&pc.Processors[j], j)
			if err != nil {
				errs = append(errs, fmt.Sprintf("%s: %v", pl.name, err))
				continue
			}
			s.id = pl.name + "." + s.id
			pl.steps = append(pl.steps, s)
		}
		c.pipelines = append(c.pipelines, pl)
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("%s", strings.Join(errs, "\n"))
	}
	c.each(func(s *step) {
		s.slot = c.nsteps
		c.nsteps++
	})
	return c, nil
}

// each calls fn for every step.
func (c *Chain) each(fn func(*step)) {
	for _, s := range c.global {
		fn(s)
	}
	for _, p := range c.pipelines {
		for _, s := range p.steps {
			fn(s)
		}
	}
}

// cloner is a proc with state of its own (a parser's scratch space): each
// Runner works on its own clone.
type cloner interface {
	clone() proc
}

// Empty reports whether the chain has no processor (then sources need no
// Runner at all).
func (c *Chain) Empty() bool {
	if c == nil || len(c.global) > 0 {
		return c == nil
	}
	for _, p := range c.pipelines {
		if len(p.steps) > 0 {
			return false
		}
	}
	return true
}

func compileStep(s *Spec, i int) (*step, error) {
	id := s.ID
	if id == "" {
		id = fmt.Sprintf("%s#%d", s.Type, i+1)
	}
	where := id
	if s.Line > 0 {
		where = fmt.Sprintf("%s (line %d)", id, s.Line)
	}
	st := &step{id: id, typ: s.Type, ignoreFailure: s.IgnoreFailure}
	if s.When != "" {
		w, err := ParseCond(s.When)
		if err != nil {
			return nil, fmt.Errorf("processor %s: when: %w", where, err)
		}
		st.when = w
	}
	p, err := build(s)
	if err != nil {
		return nil, fmt.Errorf("processor %s: %w", where, err)
	}
	st.p = p
	b, _ := parse.AppendString(nil, []byte(s.Type+"_failure"))
	st.flag = string(b)
	return st, nil
}

func needNames(s *Spec) error {
	if len(s.Names) == 0 {
		return fmt.Errorf("fields: list at least one field")
	}
	for _, n := range s.Names {
		if err := checkField(n); err != nil {
			return err
		}
	}
	return nil
}

func needPairs(s *Spec) error {
	if len(s.Pairs) == 0 {
		return fmt.Errorf("fields: give at least one entry")
	}
	for _, p := range s.Pairs {
		if err := checkField(p.Key); err != nil {
			return err
		}
	}
	return nil
}

func checkField(n string) error {
	if n == "" || strings.HasPrefix(n, ".") || strings.HasSuffix(n, ".") || strings.Contains(n, "..") {
		return fmt.Errorf("bad field name %q", n)
	}
	return nil
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

// build makes the processor of s.
func build(s *Spec) (proc, error) {
	switch s.Type {
	case "rename", "copy":
		if err := needPairs(s); err != nil {
			return nil, err
		}
		for _, p := range s.Pairs {
			if err := checkField(p.Value); err != nil {
				return nil, err
			}
		}
		if s.Type == "rename" {
			return &renameProc{pairs: s.Pairs}, nil
		}
		return &copyProc{pairs: s.Pairs}, nil
	case "remove":
		if err := needNames(s); err != nil {
			return nil, err
		}
		return &removeProc{names: s.Names}, nil
	case "keep_only":
		if err := needNames(s); err != nil {
			return nil, err
		}
		return &keepOnlyProc{names: s.Names}, nil
	case "add":
		if err := needPairs(s); err != nil {
			return nil, err
		}
		p := &addProc{overwrite: s.Overwrite}
		for _, f := range s.Pairs {
			af := addField{name: f.Key}
			if f.Raw != nil {
				af.value = f.Raw
			} else {
				parts, err := parseTemplate(f.Value)
				if err != nil {
					return nil, fmt.Errorf("fields: %s: %w", f.Key, err)
				}
				if len(parts) == 1 && parts[0].field == "" || len(parts) == 0 {
					af.value, _ = parse.AppendString(nil, []byte(f.Value))
				} else {
					af.parts = parts
				}
			}
			p.fields = append(p.fields, af)
		}
		return p, nil
	case "convert":
		if err := needPairs(s); err != nil {
			return nil, err
		}
		p := &convertProc{}
		for _, f := range s.Pairs {
			t, ok := convNames[f.Value]
			if !ok {
				return nil, fmt.Errorf("fields: %s: type %q: want integer, float, boolean or string", f.Key, f.Value)
			}
			p.fields = append(p.fields, convertField{name: f.Key, to: t})
		}
		return p, nil
	case "lowercase", "uppercase":
		if err := needNames(s); err != nil {
			return nil, err
		}
		return &caseProc{names: s.Names, upper: s.Type == "uppercase"}, nil
	case "drop":
		if s.When == "" {
			return nil, fmt.Errorf("drop needs a when (without one it would drop every line)")
		}
		return dropProc{}, nil
	case "sample":
		if s.Rate < 1 {
			return nil, fmt.Errorf("rate %d: want 1 or more (keep 1 line in rate)", s.Rate)
		}
		if s.Key != "" {
			if err := checkField(s.Key); err != nil {
				return nil, err
			}
		}
		return &sampleProc{rate: uint64(s.Rate), key: s.Key, sampleErrors: s.SampleErrors}, nil
	case "parse_json":
		f := orDefault(s.Field, "message")
		if err := checkField(f); err != nil {
			return nil, err
		}
		if s.Target != "" {
			if err := checkField(s.Target); err != nil {
				return nil, err
			}
		}
		return &parseJSONProc{field: f, target: s.Target, overwrite: true}, nil
	case "route":
		if s.Dataset == "" && s.Namespace == "" && s.DatasetFrom == "" {
			return nil, fmt.Errorf("give dataset, dataset_from or namespace")
		}
		if s.Dataset != "" && s.DatasetFrom != "" {
			return nil, fmt.Errorf("give dataset or dataset_from, not both")
		}
		if s.Dataset != "" {
			if err := datastream.CheckPart("dataset", s.Dataset); err != nil {
				return nil, err
			}
		}
		if s.Namespace != "" {
			if err := datastream.CheckPart("namespace", s.Namespace); err != nil {
				return nil, err
			}
		}
		return &routeProc{dataset: s.Dataset, namespace: s.Namespace, from: s.DatasetFrom}, nil
	case "fingerprint":
		if err := needNames(s); err != nil {
			return nil, err
		}
		p := &fingerprintProc{names: s.Names}
		for _, n := range s.Names {
			p.raw = append(p.raw, []byte(n))
		}
		return p, nil
	case "dissect":
		return buildDissect(s)
	case "kv":
		return buildKV(s)
	case "date":
		return buildDate(s)
	case "grok":
		return buildGrok(s)
	case "redact":
		return buildRedact(s)
	}
	return nil, fmt.Errorf("unknown type %q (want one of %s)", s.Type, strings.Join(Types(), ", "))
}

// Types lists the processor types.
func Types() []string {
	return []string{"rename", "copy", "remove", "keep_only", "add", "convert", "lowercase", "uppercase",
		"drop", "sample", "parse_json", "route", "fingerprint", "dissect", "grok", "kv", "date", "redact"}
}

// Runner runs a Chain for one source: it implements encode.Stage. Not safe
// for concurrent use (one per Encoder). Views it hands out (Outcome.Dataset)
// are valid until the next call to Process.
type Runner struct {
	c     *Chain
	input string

	// The steps for the lines of the last Line.Fields seen (pipelines
	// with a when are chosen on the source's metadata, once per source).
	steps    []*step
	fixed    bool // steps do not depend on Line.Fields
	bySource map[string][]*step
	meta     Doc

	procs []proc // by step slot
	doc   Doc
	buf   []byte
	tmp   []byte
	name  []byte
	out   encode.Outcome
	hash  hash.Hash
	sum   [sha256.Size]byte

	lines, changed, dropped, failed atomic.Uint64
}

// Runner returns a new Runner for the source called input (stdin, file,
// forward).
func (c *Chain) Runner(input string) *Runner {
	r := &Runner{c: c, input: input, hash: sha256.New(), bySource: make(map[string][]*step)}
	r.procs = make([]proc, c.nsteps)
	c.each(func(s *step) {
		r.procs[s.slot] = s.p
		if cl, ok := s.p.(cloner); ok {
			r.procs[s.slot] = cl.clone()
		}
	})
	r.fixed = true
	for _, p := range c.pipelines {
		if p.when != nil && (p.input == "" || p.input == input) {
			r.fixed = false
		}
	}
	if r.fixed {
		r.steps = c.choose(input, nil)
	}
	c.mu.Lock()
	c.runners = append(c.runners, r)
	c.mu.Unlock()
	return r
}

// choose returns the steps for lines of input whose source metadata is
// meta (nil: no pipeline with a when matches).
func (c *Chain) choose(input string, meta *Doc) []*step {
	steps := append([]*step(nil), c.global...)
	for _, p := range c.pipelines {
		if p.input != "" && p.input != input {
			continue
		}
		if p.when != nil && (meta == nil || !p.when.Eval(meta)) {
			continue
		}
		steps = append(steps, p.steps...)
	}
	return steps
}

// stepsFor returns the steps for a line with the given source fields.
func (r *Runner) stepsFor(fields []byte) []*step {
	if r.fixed {
		return r.steps
	}
	if steps, ok := r.bySource[string(fields)]; ok {
		return steps
	}
	if len(r.bySource) >= maxSources {
		clear(r.bySource)
	}
	src := make([]byte, 0, len(fields)+2)
	src = append(append(append(src, '{'), fields...), '}')
	r.meta.reset(src)
	steps := r.c.choose(r.input, &r.meta)
	r.bySource[string(fields)] = steps
	return steps
}

// maxSources bounds the cache of steps per source metadata (files, Forward
// tags): past it, the cache starts again.
const maxSources = 4096

// Process runs the chain on one document; see encode.Stage.
func (r *Runner) Process(body []byte, doc int, l *parse.Line, _ parse.Info) ([]byte, encode.Outcome) {
	steps := r.stepsFor(l.Fields)
	r.lines.Add(1)
	r.out = encode.Outcome{}
	if len(steps) == 0 {
		return body, r.out
	}
	d := &r.doc
	d.reset(body[doc:])
	for _, s := range steps {
		if s.when != nil && !s.when.Eval(d) {
			continue
		}
		err := r.procs[s.slot].apply(r, d)
		if err == errSkip {
			continue
		}
		s.applied.Add(1)
		if err != nil {
			s.failed.Add(1)
			if s.ignoreFailure {
				continue
			}
			r.failed.Add(1)
			return r.fail(body, doc, s, err), encode.Outcome{}
		}
		if r.out.Drop {
			s.dropped.Add(1)
			r.dropped.Add(1)
			return body, r.out
		}
	}
	if d.changed && !d.bad {
		r.changed.Add(1)
		r.buf = d.appendTo(r.buf[:0])
		body = append(body[:doc], r.buf...)
	}
	if len(r.buf) > keepBuf {
		r.buf = nil
	}
	return body, r.out
}

// keepBuf caps the buffers a Runner keeps between lines.
const keepBuf = 1 << 20

// fail returns body with the document as the parser wrote it, flagged
// "<type>_failure" in log.flags, with "log.processing_error":"<id>: <err>".
func (r *Runner) fail(body []byte, doc int, s *step, err error) []byte {
	d := &r.doc
	d.build()
	src := body[doc:]
	r.buf = r.buf[:0]
	if v := d.flagsVal; v != nil && !d.bad {
		// v is a view into src (top-level members are not copied): its
		// closing bracket is at this offset.
		end := offset(src, v) + len(v) - 1
		if len(v) > 0 && v[0] == '[' && end > 0 && end < len(src) && src[end] == ']' {
			r.buf = append(r.buf, src[:end]...)
			if len(v) > 2 {
				r.buf = append(r.buf, ',')
			}
			r.buf = append(r.buf, s.flag...)
			r.buf = append(r.buf, src[end:len(src)-1]...)
		}
	}
	if len(r.buf) == 0 {
		r.buf = append(r.buf, src[:len(src)-1]...)
		r.buf = append(r.buf, `,"log.flags":[`...)
		r.buf = append(r.buf, s.flag...)
		r.buf = append(r.buf, ']')
	}
	if d.bad || !d.hasPErr {
		r.buf = append(r.buf, `,"log.processing_error":`...)
		r.tmp = append(append(append(r.tmp[:0], s.id...), ": "...), err.Error()...)
		r.buf, _ = parse.AppendString(r.buf, r.tmp)
	}
	r.buf = append(r.buf, '}')
	return append(body[:doc], r.buf...)
}

// Stats are the chain's counters.
type Stats struct {
	Lines, Changed, Dropped, Failed uint64
}

// Stats sums the counters of every Runner.
func (c *Chain) Stats() Stats {
	var s Stats
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, r := range c.runners {
		s.Lines += r.lines.Load()
		s.Changed += r.changed.Load()
		s.Dropped += r.dropped.Load()
		s.Failed += r.failed.Load()
	}
	return s
}

// StepStats are the counters of one processor.
type StepStats struct {
	// ID names the processor ("<type>#<position>", "<pipeline>.<id>").
	ID, Type                 string
	Applied, Failed, Dropped uint64
}

// Steps returns the counters of every processor, in configuration order.
func (c *Chain) Steps() []StepStats {
	var out []StepStats
	c.each(func(s *step) {
		out = append(out, StepStats{ID: s.id, Type: s.typ, Applied: s.applied.Load(), Failed: s.failed.Load(), Dropped: s.dropped.Load()})
	})
	return out
}
