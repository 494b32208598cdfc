package process

import (
	"bytes"
	"encoding/binary"
	"math/bits"
	"strconv"
	"unsafe"

	"shipper/internal/parse"
)

// Doc is a flat view of one document: a list of fields, each a dotted name
// and a raw JSON value, over the document's own bytes and an arena. Members
// of nested objects are fields with dotted names ({"a":{"b":1}} is the field
// "a.b" with the value 1); arrays and scalars are values as written.
//
// A Doc is built lazily: processors that do not look at the document (or
// whose condition is false before any field is read) cost no scan, and a
// lookup scans only up to the first member of its name; a change scans the
// rest. A
// document no processor changed is never written again: the bytes the
// parser wrote stay as they are. A changed document is written flat, each
// field as a top-level member under its dotted name (the data stream
// mappings treat "a.b" and {"a":{"b":..}} alike).
//
// Views handed out by a Doc (names, values) stay valid until the next call to
// reset: they point into the document bytes or into the Doc's arena, which
// only grows while one document is processed.
type Doc struct {
	src     []byte // the document as the parser wrote it: "{...}"
	fields  []field
	arena   []byte
	next    int  // offset of the next top-level member to scan, or scanStart, scanDone
	flat    bool // a nested object was flattened: names may repeat
	bad     bool // src did not scan (never for documents of the parser)
	changed bool
	// The top-level "log.flags" value as written (a view into src), and
	// whether src has a "log.processing_error" member.
	flagsVal []byte
	hasPErr  bool
}

type field struct {
	name  []byte
	value []byte // raw JSON; nil: removed
	// member is `"name":value` as written at the top level of src, for
	// appendTo to copy while name and value are still those views.
	member []byte
}

// asWritten returns the member as written when the field is unchanged.
func (f *field) asWritten() ([]byte, bool) {
	m := f.member
	if len(m) < 2+len(f.name)+len(f.value) || len(f.name) == 0 || len(f.value) == 0 {
		return nil, false
	}
	return m, &m[1] == &f.name[0] && &m[len(m)-len(f.value)] == &f.value[0] && m[1+len(f.name)] == '"'
}

// reset points d at a new document; views from the previous one become
// invalid.
func (d *Doc) reset(src []byte) {
	d.src = src
	d.fields = d.fields[:0]
	d.arena = d.arena[:0]
	d.next = scanStart
	d.bad, d.changed, d.flat = false, false, false
	d.flagsVal, d.hasPErr = nil, false
}

// build scans the rest of src into fields: every change needs the whole
// view; lookups scan only as far as they must (see find).
func (d *Doc) build() {
	for d.more() {
	}
}

// maxFlatten bounds the depth of nested objects turned into dotted names;
// deeper objects stay one value.
const maxFlatten = 16

// scanObject adds the members of the object at b[i] == '{' under prefix.
func (d *Doc) scanObject(b []byte, i int, prefix []byte, depth int) bool {
	i = skipWS(b, i)
	if i >= len(b) || b[i] != '{' {
		return false
	}
	i = skipWS(b, i+1)
	if i < len(b) && b[i] == '}' {
		return true
	}
	for {
		if i = d.member(b, i, prefix, depth); i < 0 {
			return false
		}
		i = skipWS(b, i)
		if i < len(b) && b[i] == ',' {
			i = skipWS(b, i+1)
			continue
		}
		return i < len(b) && b[i] == '}'
	}
}

// member adds the fields of the member at b[i] == '"' of an object at
// depth under prefix, and returns the offset past its value, or -1.
func (d *Doc) member(b []byte, i int, prefix []byte, depth int) int {
	if i >= len(b) || b[i] != '"' {
		return -1
	}
	mstart := i
	end, esc := skipString(b, i)
	if end < 0 {
		return -1
	}
	var name []byte
	switch {
	case len(prefix) == 0 && !esc:
		name = b[i+1 : end-1]
	default:
		n := len(d.arena)
		d.arena = append(d.arena, prefix...)
		if len(prefix) > 0 {
			d.arena = append(d.arena, '.')
		}
		if esc {
			d.arena = parse.Unescape(d.arena, b[i+1:end-1])
		} else {
			d.arena = append(d.arena, b[i+1:end-1]...)
		}
		name = d.arena[n:len(d.arena):len(d.arena)]
	}
	i = skipWS(b, end)
	if i >= len(b) || b[i] != ':' {
		return -1
	}
	i = skipWS(b, i+1)
	vend := skipValue(b, i)
	if vend < 0 {
		return -1
	}
	v := b[i:vend]
	if len(v) > 2 && v[0] == '{' && depth < maxFlatten && !emptyObject(v) {
		if !d.scanObject(b, i, name, depth+1) {
			return -1
		}
		return vend
	}
	if depth == 0 && string(name) == "log.flags" {
		d.flagsVal = v
	} else if depth == 0 && string(name) == "log.processing_error" {
		d.hasPErr = true
	}
	d.flat = d.flat || depth > 0
	var member []byte
	if depth == 0 && !esc {
		member = b[mstart:vend:vend]
	}
	d.fields = append(d.fields, field{name: name, value: v, member: member})
	return vend
}

// more scans the next top-level member of src into fields; false when all
// are scanned (or src does not scan: then bad, and no fields).
func (d *Doc) more() bool {
	b := d.src
	switch d.next {
	case scanDone:
		return false
	case scanStart:
		i := skipWS(b, 0)
		if i >= len(b) || b[i] != '{' {
			return d.broken()
		}
		i = skipWS(b, i+1)
		if i < len(b) && b[i] == '}' {
			d.next = scanDone
			return false
		}
		d.next = i
	}
	i := d.member(b, d.next, nil, 0)
	if i < 0 {
		return d.broken()
	}
	i = skipWS(b, i)
	switch {
	case i < len(b) && b[i] == ',':
		d.next = skipWS(b, i+1)
	case i < len(b) && b[i] == '}':
		d.next = scanDone
	default:
		return d.broken()
	}
	return true
}

// Scan states of Doc.next besides an offset.
const (
	scanStart = -2
	scanDone  = -1
)

// broken marks a document that does not scan (never one of the parser's).
func (d *Doc) broken() bool {
	d.bad = true
	d.fields = d.fields[:0]
	d.next = scanDone
	return false
}

// skipString returns the offset past the JSON string at b[i] == '"' and
// whether it has escapes, or -1. Documents reaching the stage are valid JSON
// (the parser wrote them, parse_json validates first): this only finds
// ends, and on anything else it stops without reading out of bounds.
func skipString(b []byte, i int) (int, bool) {
	j := i + 1
	// Eight bytes at a time: the first '"' or '\\' in a word.
	for ; j+8 <= len(b); j += 8 {
		w := binary.LittleEndian.Uint64(b[j:])
		if m := hasByte(w, '"') | hasByte(w, '\\'); m != 0 {
			j += bits.TrailingZeros64(m) / 8
			break
		}
	}
	for ; j < len(b); j++ {
		if c := b[j]; c == '"' {
			return j + 1, false
		} else if c == '\\' {
			break
		}
	}
	if j >= len(b) {
		return -1, false
	}
	for ; j < len(b); j++ {
		switch b[j] {
		case '\\':
			j++
		case '"':
			return j + 1, true
		}
	}
	return -1, false
}

// hasByte has the high bit set in each byte of w that equals c (and maybe
// in bytes above such a byte: only the lowest set bit is exact).
func hasByte(w uint64, c byte) uint64 {
	const lo, hi = 0x0101010101010101, 0x8080808080808080
	x := w ^ (lo * uint64(c))
	return (x - lo) &^ x & hi
}

// skipValue returns the offset past the JSON value at b[i], or -1 (see
// skipString).
func skipValue(b []byte, i int) int {
	if i >= len(b) {
		return -1
	}
	switch b[i] {
	case '"':
		end, _ := skipString(b, i)
		return end
	case '{', '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '"':
				end, _ := skipString(b, j)
				if end < 0 {
					return -1
				}
				j = end - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1
				}
			}
		}
		return -1
	}
	j := i
	for j < len(b) && b[j] != ',' && b[j] != '}' && b[j] != ']' && b[j] != ' ' && b[j] != '\n' && b[j] != '\t' && b[j] != '\r' {
		j++
	}
	if j == i {
		return -1
	}
	return j
}

func emptyObject(v []byte) bool {
	return skipWS(v, 1) == len(v)-1
}

func skipWS(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// find returns the index of the field called name, or -1. It scans the
// document only up to the first member of that name.
func (d *Doc) find(name string) int {
	k := 0
	for {
		for ; k < len(d.fields); k++ {
			f := &d.fields[k]
			if f.value != nil && len(f.name) == len(name) && string(f.name) == name {
				return k
			}
		}
		if !d.more() {
			return -1
		}
	}
}

// Get returns the raw JSON value of the field called name.
func (d *Doc) Get(name string) ([]byte, bool) {
	if k := d.find(name); k >= 0 {
		return d.fields[k].value, true
	}
	return nil, false
}

// Exists reports whether the field called name, or an object under it
// ("kubernetes" for "kubernetes.namespace"), is in the document.
func (d *Doc) Exists(name string) bool {
	k := 0
	for {
		for ; k < len(d.fields); k++ {
			f := &d.fields[k]
			if f.value != nil && hasPathPrefix(f.name, name) {
				return true
			}
		}
		if !d.more() {
			return false
		}
	}
}

// hasPathPrefix reports whether name is p or a field under p.
func hasPathPrefix(name []byte, p string) bool {
	return len(name) >= len(p) && string(name[:len(p)]) == p && (len(name) == len(p) || name[len(p)] == '.')
}

// Text returns the value of the field called name as text: the contents of
// a JSON string (unescaped), or the raw JSON of any other value. ok is false
// when the field is missing. The view is valid until the next reset.
func (d *Doc) Text(name string) (text []byte, isString, ok bool) {
	v, ok := d.Get(name)
	if !ok {
		return nil, false, false
	}
	t, s := d.text(v)
	return t, s, true
}

func (d *Doc) text(v []byte) ([]byte, bool) {
	if len(v) < 2 || v[0] != '"' {
		return v, false
	}
	in := v[1 : len(v)-1]
	if bytes.IndexByte(in, '\\') < 0 {
		return in, true
	}
	n := len(d.arena)
	d.arena = parse.Unescape(d.arena, in)
	return d.arena[n:len(d.arena):len(d.arena)], true
}

// Set sets the field called name to the raw JSON value v (which must be
// valid JSON), replacing it and any fields under it, or appending it.
func (d *Doc) Set(name string, v []byte) {
	d.build()
	d.changed = true
	done := false
	for k := range d.fields {
		f := &d.fields[k]
		if f.value == nil || !hasPathPrefix(f.name, name) {
			continue
		}
		if !done && len(f.name) == len(name) {
			f.value = v
			done = true
		} else {
			f.value = nil
		}
	}
	if !done {
		d.fields = append(d.fields, field{name: d.str(name), value: v})
	}
	// A value under a scalar ("a.b" when "a" is 1) would be a mapping
	// conflict: the scalar goes.
	for i := len(name) - 1; i > 0; i-- {
		if name[i] == '.' {
			if k := d.find(name[:i]); k >= 0 {
				d.fields[k].value = nil
			}
		}
	}
}

// SetString sets name to the JSON string s.
func (d *Doc) SetString(name string, s []byte) {
	d.Set(name, d.quote(s))
}

// quote returns s as a JSON string in the arena.
func (d *Doc) quote(s []byte) []byte {
	n := len(d.arena)
	d.arena, _ = parse.AppendString(d.arena, s)
	return d.arena[n:len(d.arena):len(d.arena)]
}

// str copies s into the arena.
func (d *Doc) str(s string) []byte {
	n := len(d.arena)
	d.arena = append(d.arena, s...)
	return d.arena[n:len(d.arena):len(d.arena)]
}

// Remove removes the field called name and every field under it; it reports
// whether there was one.
func (d *Doc) Remove(name string) bool {
	d.build()
	found := false
	for k := range d.fields {
		f := &d.fields[k]
		if f.value != nil && hasPathPrefix(f.name, name) {
			f.value = nil
			found = true
		}
	}
	if found {
		d.changed = true
	}
	return found
}

// Rename moves the field called from, and every field under it, to to
// (replacing what was there). It reports whether from was there.
func (d *Doc) Rename(from, to string) bool {
	if from == to {
		return d.Exists(from)
	}
	d.build()
	found := false
	for k := range d.fields {
		f := &d.fields[k]
		if f.value != nil && hasPathPrefix(f.name, from) {
			found = true
			break
		}
	}
	if !found {
		return false
	}
	d.Remove(to)
	for i := len(to) - 1; i > 0; i-- {
		if to[i] == '.' {
			if k := d.find(to[:i]); k >= 0 && !hasPathPrefix(d.fields[k].name, from) {
				d.fields[k].value = nil
			}
		}
	}
	for k := range d.fields {
		f := &d.fields[k]
		if f.value != nil && hasPathPrefix(f.name, from) {
			n := len(d.arena)
			d.arena = append(d.arena, to...)
			d.arena = append(d.arena, f.name[len(from):]...)
			f.name = d.arena[n:len(d.arena):len(d.arena)]
		}
	}
	d.changed = true
	return true
}

// KeepOnly removes every field that is not one of names or under one.
func (d *Doc) KeepOnly(names []string) {
	d.build()
	for k := range d.fields {
		f := &d.fields[k]
		if f.value == nil {
			continue
		}
		keep := false
		for _, n := range names {
			if hasPathPrefix(f.name, n) {
				keep = true
				break
			}
		}
		if !keep {
			f.value = nil
			d.changed = true
		}
	}
}

// Each calls fn for each field in order.
func (d *Doc) Each(fn func(name, value []byte)) {
	d.build()
	for k := range d.fields {
		if f := &d.fields[k]; f.value != nil {
			fn(f.name, f.value)
		}
	}
}

// appendTo writes the document: the bytes as written when nothing changed,
// else each field as a top-level member.
func (d *Doc) appendTo(dst []byte) []byte {
	if !d.changed || d.bad {
		return append(dst, d.src...)
	}
	d.build()
	dst = append(dst, '{')
	first := true
	// Unchanged members that follow each other in src are copied as one
	// run: src[runStart:runEnd].
	runStart, runEnd := -1, -1
	flush := func() {
		if runStart < 0 {
			return
		}
		if !first {
			dst = append(dst, ',')
		}
		first = false
		dst = append(dst, d.src[runStart:runEnd]...)
		runStart, runEnd = -1, -1
	}
	for k := range d.fields {
		f := &d.fields[k]
		if f.value == nil {
			continue
		}
		if d.flat && d.repeated(k) {
			continue // written with the first of its name
		}
		if m, ok := f.asWritten(); ok && !(d.flat && d.hasLater(k)) {
			o := offset(d.src, m)
			if runStart >= 0 && o == runEnd+1 && d.src[runEnd] == ',' {
				runEnd = o + len(m)
				continue
			}
			flush()
			runStart, runEnd = o, o+len(m)
			continue
		}
		flush()
		if !first {
			dst = append(dst, ',')
		}
		first = false
		dst = appendName(dst, f.name)
		dst = append(dst, ':')
		if d.flat && d.hasLater(k) {
			// {"a":{"b":1},"a.b":2}: one member "a.b":[1,2], as the
			// parser merges repeated names.
			dst = append(dst, '[')
			dst = append(dst, f.value...)
			for j := k + 1; j < len(d.fields); j++ {
				if g := &d.fields[j]; g.value != nil && string(g.name) == string(f.name) {
					dst = append(append(dst, ','), g.value...)
				}
			}
			dst = append(dst, ']')
			continue
		}
		dst = append(dst, f.value...)
	}
	flush()
	return append(dst, '}')
}

// appendName appends name as a JSON string: copied between quotes when it
// needs no escaping (nearly always), else through parse.AppendString.
func appendName(dst, name []byte) []byte {
	for _, c := range name {
		if c < 0x20 || c == '"' || c == '\\' || c >= 0x80 {
			dst, _ = parse.AppendString(dst, name)
			return dst
		}
	}
	dst = append(dst, '"')
	dst = append(dst, name...)
	return append(dst, '"')
}

// offset returns where sub, a view into b, starts in b.
func offset(b, sub []byte) int {
	return int(uintptr(unsafe.Pointer(unsafe.SliceData(sub))) - uintptr(unsafe.Pointer(unsafe.SliceData(b))))
}

// repeated reports whether a live field before k has k's name.
func (d *Doc) repeated(k int) bool {
	for j := 0; j < k; j++ {
		if g := &d.fields[j]; g.value != nil && string(g.name) == string(d.fields[k].name) {
			return true
		}
	}
	return false
}

// hasLater reports whether a live field after k has k's name.
func (d *Doc) hasLater(k int) bool {
	for j := k + 1; j < len(d.fields); j++ {
		if g := &d.fields[j]; g.value != nil && string(g.name) == string(d.fields[k].name) {
			return true
		}
	}
	return false
}

// number parses a JSON number, or a JSON string holding one.
func number(v []byte) (float64, bool) {
	if len(v) >= 2 && v[0] == '"' {
		v = v[1 : len(v)-1]
	}
	if len(v) == 0 || !(v[0] == '-' || v[0] >= '0' && v[0] <= '9' || v[0] == '+' || v[0] == '.') {
		return 0, false
	}
	f, err := strconv.ParseFloat(bytesString(v), 64)
	return f, err == nil
}
