package process

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"shipper/internal/datastream"
	"shipper/internal/parse"
)

// proc is one processor. apply changes d (through its methods, so that views
// stay valid) and r's outcome; an error is a processing failure: the line is
// shipped as the parser wrote it, flagged (see Runner.Process).
type proc interface {
	apply(r *Runner, d *Doc) error
}

// errSkip: the processor does not apply to this document (not a failure).
var errSkip = errors.New("skip")

// rename: fields from -> to, in order; a missing from is skipped.
type renameProc struct{ pairs []Pair }

func (p *renameProc) apply(_ *Runner, d *Doc) error {
	for _, f := range p.pairs {
		d.Rename(f.Key, f.Value)
	}
	return nil
}

// copy: fields from -> to, in order; a missing from is skipped.
type copyProc struct{ pairs []Pair }

func (p *copyProc) apply(_ *Runner, d *Doc) error {
	for _, f := range p.pairs {
		d.Copy(f.Key, f.Value)
	}
	return nil
}

// remove: the fields and everything under them.
type removeProc struct{ names []string }

func (p *removeProc) apply(_ *Runner, d *Doc) error {
	for _, n := range p.names {
		d.Remove(n)
	}
	return nil
}

// keep_only: every field not listed (or under one listed) goes.
type keepOnlyProc struct{ names []string }

func (p *keepOnlyProc) apply(_ *Runner, d *Doc) error {
	d.KeepOnly(p.names)
	return nil
}

// add: static values (with ${ENV} already interpolated at load) or
// templates naming fields of the document as %{name}.
type addProc struct {
	fields    []addField
	overwrite bool
}

type addField struct {
	name  string
	value []byte     // JSON, when the value has no reference
	parts []tmplPart // else the template
}

type tmplPart struct {
	lit   string
	field string // a reference when not empty
}

// parseTemplate splits s at %{field} references.
func parseTemplate(s string) ([]tmplPart, error) {
	var parts []tmplPart
	for {
		i := strings.Index(s, "%{")
		if i < 0 {
			if s != "" {
				parts = append(parts, tmplPart{lit: s})
			}
			return parts, nil
		}
		j := strings.IndexByte(s[i:], '}')
		if j < 0 {
			return nil, fmt.Errorf("unclosed %%{ in %q", s)
		}
		if i > 0 {
			parts = append(parts, tmplPart{lit: s[:i]})
		}
		name := s[i+2 : i+j]
		if name == "" {
			return nil, fmt.Errorf("empty %%{} in %q", s)
		}
		parts = append(parts, tmplPart{field: name})
		s = s[i+j+1:]
	}
}

func (p *addProc) apply(r *Runner, d *Doc) error {
	for i := range p.fields {
		f := &p.fields[i]
		if !p.overwrite && d.Exists(f.name) {
			continue
		}
		if f.parts == nil {
			d.Set(f.name, f.value)
			continue
		}
		r.tmp = r.tmp[:0]
		missing := false
		for _, part := range f.parts {
			if part.field == "" {
				r.tmp = append(r.tmp, part.lit...)
				continue
			}
			t, _, ok := d.Text(part.field)
			if !ok {
				missing = true
				break
			}
			r.tmp = append(r.tmp, t...)
		}
		if !missing {
			d.SetString(f.name, r.tmp)
		}
	}
	return nil
}

// convert: fields to integer, float, boolean or string.
type convertProc struct{ fields []convertField }

type convType uint8

const (
	toInteger convType = iota
	toFloat
	toBoolean
	toString
)

type convertField struct {
	name string
	to   convType
}

var convNames = map[string]convType{"integer": toInteger, "int": toInteger, "long": toInteger,
	"float": toFloat, "double": toFloat, "boolean": toBoolean, "bool": toBoolean, "string": toString}

func (p *convertProc) apply(r *Runner, d *Doc) error {
	for _, f := range p.fields {
		v, ok := d.Get(f.name)
		if !ok {
			continue
		}
		t, isStr := d.text(v)
		switch f.to {
		case toString:
			if !isStr {
				d.SetString(f.name, t)
			}
		case toInteger:
			if !isStr && len(v) > 0 && (v[0] == '-' || v[0] >= '0' && v[0] <= '9') && bytes.IndexAny(v, ".eE") < 0 {
				continue // already an integer
			}
			n, err := strconv.ParseInt(bytesString(bytes.TrimSpace(t)), 10, 64)
			if err != nil {
				x, ferr := strconv.ParseFloat(bytesString(bytes.TrimSpace(t)), 64)
				if ferr != nil || math.IsNaN(x) || math.IsInf(x, 0) || x >= 1<<63 || x < -(1<<63) {
					return fmt.Errorf("field %s: %s is not an integer", f.name, clip(v))
				}
				n = int64(x) // Logstash truncates, so do we
			}
			k := len(d.arena)
			d.arena = strconv.AppendInt(d.arena, n, 10)
			d.Set(f.name, d.arena[k:len(d.arena):len(d.arena)])
		case toFloat:
			x, err := strconv.ParseFloat(bytesString(bytes.TrimSpace(t)), 64)
			if err != nil || math.IsNaN(x) || math.IsInf(x, 0) {
				return fmt.Errorf("field %s: %s is not a number", f.name, clip(v))
			}
			if !isStr {
				continue
			}
			k := len(d.arena)
			d.arena = strconv.AppendFloat(d.arena, x, 'g', -1, 64)
			d.Set(f.name, d.arena[k:len(d.arena):len(d.arena)])
		case toBoolean:
			var b bool
			switch strings.ToLower(bytesString(bytes.TrimSpace(t))) {
			case "true", "t", "yes", "y", "on", "1":
				b = true
			case "false", "f", "no", "n", "off", "0":
			default:
				return fmt.Errorf("field %s: %s is not a boolean", f.name, clip(v))
			}
			if b && string(v) != "true" {
				d.Set(f.name, []byte("true"))
			} else if !b && string(v) != "false" {
				d.Set(f.name, []byte("false"))
			}
		}
	}
	return nil
}

// clip shortens a value for an error message.
func clip(v []byte) string {
	if len(v) > 64 {
		return string(v[:64]) + "..."
	}
	return string(v)
}

// lowercase / uppercase: string fields; other values are left as they are.
type caseProc struct {
	names []string
	upper bool
}

func (p *caseProc) apply(_ *Runner, d *Doc) error {
	for _, n := range p.names {
		v, ok := d.Get(n)
		if !ok {
			continue
		}
		t, isStr := d.text(v)
		if !isStr {
			continue
		}
		need := false
		for _, c := range t {
			if c >= 0x80 || p.upper && c >= 'a' && c <= 'z' || !p.upper && c >= 'A' && c <= 'Z' {
				need = true
				break
			}
		}
		if !need {
			continue
		}
		var out []byte
		if p.upper {
			out = bytes.ToUpper(t)
		} else {
			out = bytes.ToLower(t)
		}
		if !bytes.Equal(out, t) {
			d.SetString(n, out)
		}
	}
	return nil
}

// drop: the line is not shipped (the processor's when decides).
type dropProc struct{}

func (dropProc) apply(r *Runner, _ *Doc) error {
	r.out.Drop = true
	return nil
}

// sample keeps 1 line in rate: the lines whose key hashes to 0 modulo rate
// (so all the lines of one trace are kept or dropped together), or every
// rate-th line without a key (or when the key is missing). Lines at level
// error and above are kept unless sampleErrors.
type sampleProc struct {
	rate         uint64
	key          string
	sampleErrors bool
	n            uint64 // lines counted without a key (per Runner: see clone)
}

func (p *sampleProc) clone() proc {
	c := *p
	c.n = 0
	return &c
}

var errorLevels = map[string]bool{"error": true, "err": true, "fatal": true, "critical": true, "crit": true,
	"panic": true, "alert": true, "emerg": true, "emergency": true, "severe": true, "dpanic": true}

func (p *sampleProc) apply(r *Runner, d *Doc) error {
	if !p.sampleErrors {
		if t, _, ok := d.Text("log.level"); ok && len(t) <= 9 {
			var low [9]byte
			for i, c := range t {
				if c >= 'A' && c <= 'Z' {
					c += 'a' - 'A'
				}
				low[i] = c
			}
			if errorLevels[string(low[:len(t)])] {
				return nil
			}
		}
	}
	if p.key != "" {
		if t, _, ok := d.Text(p.key); ok {
			if fnv64(t)%p.rate != 0 {
				r.out.Drop = true
			}
			return nil
		}
	}
	p.n++
	if p.n%p.rate != 0 {
		r.out.Drop = true
	}
	return nil
}

func fnv64(b []byte) uint64 {
	h := uint64(14695981039346656037)
	for _, c := range b {
		h ^= uint64(c)
		h *= 1099511628211
	}
	// Mix: keys that differ in their last bytes only (trace ids of one
	// generator) must not fall into the same residues.
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	return h
}

// parse_json: a field holding a JSON object as a string; its members go
// under target (default: the top level), replacing fields of the same name
// unless overwrite is false.
type parseJSONProc struct {
	field, target string
	overwrite     bool
}

func (p *parseJSONProc) apply(_ *Runner, d *Doc) error {
	v, ok := d.Get(p.field)
	if !ok {
		return nil
	}
	t, isStr := d.text(v)
	if !isStr {
		return nil
	}
	s := skipWS(t, 0)
	if s >= len(t) || t[s] != '{' {
		return fmt.Errorf("field %s does not hold a JSON object", p.field)
	}
	end, err := parse.SkipValue(t, s, parse.Options{})
	if err != nil {
		return fmt.Errorf("field %s: %v", p.field, err)
	}
	if skipWS(t, end) != len(t) {
		return fmt.Errorf("field %s: text after the JSON object at offset %d", p.field, end)
	}
	d.build()
	n0 := len(d.fields)
	var prefix []byte
	if p.target != "" {
		prefix = []byte(p.target)
	}
	if !d.scanObject(t, s, prefix, 1) {
		d.fields = d.fields[:n0]
		return fmt.Errorf("field %s: cannot read the JSON object", p.field)
	}
	d.merge(n0, p.overwrite)
	return nil
}

// merge settles name clashes between the fields from n0 on (new) and the
// ones before: the new ones win when overwrite, else the old ones.
func (d *Doc) merge(n0 int, overwrite bool) {
	d.changed = true
	for k := n0; k < len(d.fields); k++ {
		nf := &d.fields[k]
		for j := 0; j < n0; j++ {
			of := &d.fields[j]
			if of.value == nil {
				continue
			}
			// Same name, or one is under the other (a.b vs a): a clash.
			if hasPathPrefix(of.name, bytesString(nf.name)) || hasPathPrefix(nf.name, bytesString(of.name)) {
				if overwrite {
					of.value = nil
				} else {
					nf.value = nil
					break
				}
			}
		}
	}
}

// Copy copies the field called from (and the fields under it) to to,
// replacing what was there; it reports whether from was there.
func (d *Doc) Copy(from, to string) bool {
	if from == to || !d.Exists(from) {
		return false
	}
	d.build()
	n := len(d.fields)
	for k := 0; k < n; k++ {
		f := d.fields[k]
		if f.value != nil && hasPathPrefix(f.name, from) {
			a := len(d.arena)
			d.arena = append(d.arena, to...)
			d.arena = append(d.arena, f.name[len(from):]...)
			d.fields = append(d.fields, field{name: d.arena[a:len(d.arena):len(d.arena)], value: f.value})
		}
	}
	d.merge(n, true)
	return true
}

// route sends the line to another data stream: a static dataset and/or
// namespace (checked at load), or the dataset named by a field (checked
// and limited like a record's own data_stream.dataset).
type routeProc struct {
	dataset, namespace, from string
}

func (p *routeProc) apply(r *Runner, d *Doc) error {
	ds := p.dataset
	if p.from != "" {
		t, _, ok := d.Text(p.from)
		if !ok {
			if p.namespace == "" {
				return nil
			}
		} else {
			ds = datastream.SanitizeDataset(t)
			if ds == "" {
				return fmt.Errorf("field %s: %s is not usable as a dataset", p.from, clip(t))
			}
		}
	}
	if ds != "" {
		r.out.Dataset = d.str(ds)
		r.out.DatasetSet = true
		d.SetString("data_stream.dataset", r.out.Dataset)
	}
	if p.namespace != "" {
		r.out.Namespace = p.namespace
		d.SetString("data_stream.namespace", []byte(p.namespace))
	}
	return nil
}

// fingerprint makes the document id from fields, so that a record sent
// twice upstream is stored once (the second create answers 409).
type fingerprintProc struct {
	names []string
	raw   [][]byte // names as bytes, for the hash
}

var sepPresent, sepMissing = []byte{0}, []byte{1}

func (p *fingerprintProc) apply(r *Runner, d *Doc) error {
	h := r.hash
	h.Reset()
	any := false
	for i, n := range p.names {
		h.Write(p.raw[i])
		if v, ok := d.Get(n); ok {
			any = true
			h.Write(sepPresent)
			h.Write(v)
		} else {
			h.Write(sepMissing)
		}
	}
	if !any {
		return fmt.Errorf("none of the fields %s is in the document", strings.Join(p.names, ", "))
	}
	sum := h.Sum(r.sum[:0])
	r.out.ID = true
	r.out.Hi = binary.BigEndian.Uint64(sum[:8])
	r.out.Lo = binary.BigEndian.Uint64(sum[8:16])
	return nil
}
