// Package dissect splits a line into fields with Elastic's dissect tokeniser
// syntax, as the Elasticsearch dissect processor and the Logstash dissect
// filter do: the pattern names the text between the fields (the delimiters),
// not the fields themselves, so matching is a left-to-right search for each
// delimiter, no regular expressions.
//
//	%{clientip} %{ident} %{auth} [%{@timestamp}] "%{verb} %{request} HTTP/%{httpversion}" %{status} %{size}
//
// Keys and their modifiers:
//
//	%{key}       the text up to the next delimiter becomes field key
//	%{}          skipped (nameless skip)
//	%{?key}      skipped (named skip; the name is documentation)
//	%{+key}      appended to key, in pattern order, joined by Options.AppendSeparator
//	%{+key/N}    appended to key at position N (ordered appends sort after unordered ones)
//	%{*k} %{&k}  reference pair: the value of *k becomes the field name, the value of &k its value
//	%{?k} %{&k}  the same, as Logstash writes it (a named skip names the field of &k)
//	%{key->}     right padding: repeats of the delimiter after the value are skipped
//
// Matching follows Elasticsearch (libs/dissect): all keys must be matched or
// the line does not match; text after the last delimiter is ignored unless the
// last key is at the end of the pattern, in which case it takes the rest of the
// line; two delimiters in a row give the next key an empty value unless the
// key before has right padding.
package dissect

import (
	"bytes"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Field is one extracted key and value.
type Field struct {
	Key, Value []byte
}

// Options tune a Pattern.
type Options struct {
	// AppendSeparator joins the values of appended keys (%{+key}). The
	// default is empty, as in the Elasticsearch dissect processor.
	AppendSeparator string
	// LogstashAppend joins each appended value with the delimiter that
	// comes before its key in the pattern (a space when there is none), as
	// the Logstash dissect filter does: "%{ts} %{+ts} %{+ts}" gives
	// "Mar 16 00:01:25". AppendSeparator is then ignored.
	LogstashAppend bool
}

type kind uint8

const (
	kindSimple kind = iota
	kindSkip
	kindAppend
	kindRefName  // %{*k}
	kindRefValue // %{&k}
)

type pair struct {
	delim []byte
	join  []byte // what goes before this pair's value when it is appended to others
	kind  kind
	pad   bool
	slot  int // output slot for simple/append; reference index for refs
}

type group struct {
	name    []byte
	members []int // pair indexes in append order (simple and reference: one member)
	refName int   // for a reference group: the pair index of %{*k}; -1 otherwise
	append  bool
}

type span struct{ start, end int }

// Pattern is a compiled dissect pattern.
//
// A Pattern holds the scratch space of its last Match, so it is not safe for
// concurrent use: give each goroutine its own Pattern (Clone is cheap).
type Pattern struct {
	src     string
	leading []byte
	pairs   []pair
	groups  []group // output fields in order of first appearance
	sep     []byte
	hasRefs bool

	vals    []span // per pair: the matched value of the last Match
	scratch []byte // joined values of append groups of the last Match
}

// Compile parses a dissect pattern. The error says what is wrong and at which
// byte offset of the pattern.
func Compile(pattern string, opts Options) (*Pattern, error) {
	p := &Pattern{src: pattern, sep: []byte(opts.AppendSeparator)}
	type rawKey struct {
		text   string
		offset int // of the "%{"
	}
	var keys []rawKey
	var delims []string
	i := strings.Index(pattern, "%{")
	if i < 0 {
		return nil, fmt.Errorf("dissect pattern %q: no key (%%{name}) found", pattern)
	}
	p.leading = []byte(pattern[:i])
	for i >= 0 {
		end := strings.IndexByte(pattern[i+2:], '}')
		if end < 0 {
			return nil, fmt.Errorf("dissect pattern %q: key at offset %d is not closed by '}'", pattern, i)
		}
		keys = append(keys, rawKey{pattern[i+2 : i+2+end], i})
		rest := i + 2 + end + 1
		next := strings.Index(pattern[rest:], "%{")
		if next < 0 {
			delims = append(delims, pattern[rest:])
			break
		}
		if next == 0 {
			return nil, fmt.Errorf("dissect pattern %q: key at offset %d is followed directly by another key; dissect needs a delimiter between two keys", pattern, i)
		}
		delims = append(delims, pattern[rest:rest+next])
		i = rest + next
	}

	ps := make([]parsedKey, len(keys))
	appendNames := map[string]bool{}
	for n, k := range keys {
		kp, err := parseKey(k.text)
		if err != nil {
			return nil, fmt.Errorf("dissect pattern %q: key %q at offset %d: %w", pattern, "%{"+k.text+"}", k.offset, err)
		}
		ps[n] = kp
		if kp.kind == kindAppend {
			appendNames[kp.name] = true
		}
	}
	// A plain key sharing its name with an appended key is the first part of
	// the append (%{a} %{+a}).
	for n := range ps {
		if ps[n].kind == kindSimple && appendNames[ps[n].name] {
			ps[n].kind = kindAppend
		}
	}

	refs := map[string][2]int{} // name -> count of *, count of &
	refOffset := map[string]int{}
	for n, k := range ps {
		if k.kind == kindRefName || k.kind == kindRefValue {
			c := refs[k.name]
			if k.kind == kindRefName {
				c[0]++
			} else {
				c[1]++
			}
			refs[k.name] = c
			if _, ok := refOffset[k.name]; !ok {
				refOffset[k.name] = keys[n].offset
			}
		}
	}
	for name, c := range refs {
		if c[0] == 0 && c[1] == 1 {
			// Logstash names the key with a named skip: %{?k}: %{&k}.
			skip := -1
			for n, k := range ps {
				if k.kind == kindSkip && k.name == name {
					if skip >= 0 {
						skip = -2
						break
					}
					skip = n
				}
			}
			if skip >= 0 {
				ps[skip].kind = kindRefName
				c[0] = 1
			}
		}
		if c[0] != 1 || c[1] != 1 {
			return nil, fmt.Errorf("dissect pattern %q: reference key %q at offset %d needs exactly one %%{*%s} (or %%{?%s}) and one %%{&%s}, found %d and %d",
				pattern, name, refOffset[name], name, name, name, c[0], c[1])
		}
	}

	groupOf := map[string]int{}
	refGroupOf := map[string]int{}
	type member struct {
		pair, order, seq int
	}
	var appendMembers [][]member
	implicit := -1000 // as Elasticsearch: unordered appends sort before /1, /2, ...
	for n, k := range ps {
		pr := pair{delim: []byte(delims[n]), join: p.sep, kind: k.kind, pad: k.pad, slot: -1}
		if opts.LogstashAppend {
			before := string(p.leading)
			if n > 0 {
				before = delims[n-1]
			}
			if before == "" {
				before = " "
			}
			pr.join = []byte(before)
		}
		switch k.kind {
		case kindSimple:
			g, ok := groupOf[k.name]
			if !ok {
				g = len(p.groups)
				groupOf[k.name] = g
				p.groups = append(p.groups, group{name: []byte(k.name), refName: -1})
				appendMembers = append(appendMembers, nil)
			}
			// A repeated plain key: the last value wins, as in Elasticsearch.
			p.groups[g].members = []int{n}
			pr.slot = g
		case kindAppend:
			g, ok := groupOf[k.name]
			if !ok {
				g = len(p.groups)
				groupOf[k.name] = g
				p.groups = append(p.groups, group{name: []byte(k.name), refName: -1, append: true})
				appendMembers = append(appendMembers, nil)
			}
			order := k.order
			if !k.ord {
				order = implicit
				implicit++
			}
			appendMembers[g] = append(appendMembers[g], member{n, order, n})
			pr.slot = g
		case kindRefName, kindRefValue:
			g, ok := refGroupOf[k.name]
			if !ok {
				g = len(p.groups)
				refGroupOf[k.name] = g
				p.groups = append(p.groups, group{name: []byte(k.name), refName: -1})
				appendMembers = append(appendMembers, nil)
			}
			p.hasRefs = true
			if k.kind == kindRefName {
				p.groups[g].refName = n
			} else {
				p.groups[g].members = []int{n}
			}
			pr.slot = g
		}
		p.pairs = append(p.pairs, pr)
	}
	for g, ms := range appendMembers {
		if !p.groups[g].append {
			continue
		}
		sort.SliceStable(ms, func(a, b int) bool { return ms[a].order < ms[b].order })
		for _, m := range ms {
			p.groups[g].members = append(p.groups[g].members, m.pair)
		}
	}
	if len(p.groups) == 0 {
		return nil, fmt.Errorf("dissect pattern %q: every key is skipped, the pattern would extract nothing", pattern)
	}
	p.vals = make([]span, len(p.pairs))
	return p, nil
}

type parsedKey struct {
	name  string
	kind  kind
	pad   bool
	order int
	ord   bool
}

func parseKey(k string) (parsedKey, error) {
	var r parsedKey
	if strings.HasSuffix(k, "->") {
		r.pad = true
		k = k[:len(k)-2]
	}
	if k == "" {
		r.kind = kindSkip
		return r, nil
	}
	switch k[0] {
	case '+':
		r.kind = kindAppend
		k = k[1:]
		if j := strings.LastIndexByte(k, '/'); j >= 0 {
			n, err := strconv.Atoi(k[j+1:])
			if err != nil || n < 0 || n > 32767 {
				return r, fmt.Errorf("append position %q after '/' is not a number from 0 to 32767", k[j+1:])
			}
			r.order, r.ord = n, true
			k = k[:j]
		}
	case '*':
		r.kind = kindRefName
		k = k[1:]
	case '&':
		r.kind = kindRefValue
		k = k[1:]
	case '?':
		r.kind = kindSkip
		k = k[1:]
	}
	if k == "" {
		return r, errors.New("the key has a modifier but no name")
	}
	if j := strings.IndexAny(k, "+*&?/%{"); j >= 0 {
		if k[j] == '/' && r.kind != kindAppend {
			return r, errors.New("an append position (/N) needs the append modifier (%{+name/N})")
		}
		return r, fmt.Errorf("character %q inside the name: modifiers (+ * & ?) come first, '->' last, and only one of them", k[j])
	}
	if strings.Contains(k, "->") {
		return r, errors.New("right padding '->' must end the key")
	}
	r.name = k
	return r, nil
}

// String returns the pattern as compiled.
func (p *Pattern) String() string { return p.src }

// Clone returns a Pattern sharing p's compiled form with its own scratch
// space, for use by another goroutine.
func (p *Pattern) Clone() *Pattern {
	c := *p
	c.vals = make([]span, len(p.pairs))
	c.scratch = nil
	return &c
}

// Match dissects src and appends one Field per output key to out, in the
// order the keys first appear in the pattern. It reports false, and returns
// out unchanged, when src does not match the whole pattern.
//
// Values and the keys of reference pairs (%{*k}) alias src. Keys of other
// fields alias the Pattern and must not be modified. The value of an append
// key with more than one part is joined into scratch space owned by p: it is
// valid until the next call of Match on p. Match does not allocate once the
// scratch has grown to the largest joined value (out must have capacity).
func (p *Pattern) Match(src []byte, out []Field) ([]Field, bool) {
	if len(src) <= len(p.leading) || string(src[:len(p.leading)]) != string(p.leading) {
		return out, false
	}
	pairs := p.pairs
	vals := p.vals
	k := 0 // current pair
	matched := 0
	add := func(start, end int) {
		vals[matched] = span{start, end}
		matched++
	}
	i := len(p.leading)
	valueStart := i
	delim := pairs[0].delim
	for i < len(src) && len(delim) > 0 {
		j := indexFrom(src, i, delim)
		if j < 0 {
			break
		}
		add(valueStart, j)
		i = j + len(delim)
		// Consecutive delimiters: skipped after a padded key, otherwise each
		// one gives the next key an empty value.
		for hasPrefixAt(src, i, delim) {
			i += len(delim)
			if !pairs[k].pad {
				if k+1 == len(pairs) {
					break
				}
				k++
				add(i, i)
			}
		}
		if k+1 == len(pairs) {
			break
		}
		k++
		delim = pairs[k].delim
		valueStart = i
	}
	if matched < len(pairs) && len(delim) == 0 {
		add(valueStart, len(src))
	}
	if matched != len(pairs) {
		return out, false
	}
	return p.collect(src, out)
}

func (p *Pattern) collect(src []byte, out []Field) ([]Field, bool) {
	n0 := len(out)
	p.scratch = p.scratch[:0]
	// Joined values go into scratch first, as offsets: scratch may move while
	// it grows.
	for _, g := range p.groups {
		if !g.append || len(g.members) < 2 {
			continue
		}
		for m, pi := range g.members {
			if m > 0 {
				p.scratch = append(p.scratch, p.pairs[pi].join...)
			}
			v := p.vals[pi]
			p.scratch = append(p.scratch, src[v.start:v.end]...)
		}
	}
	off := 0
	for _, g := range p.groups {
		switch {
		case g.refName >= 0:
			kv := p.vals[g.refName]
			vv := p.vals[g.members[0]]
			out = append(out, Field{Key: src[kv.start:kv.end:kv.end], Value: src[vv.start:vv.end:vv.end]})
		case g.append && len(g.members) > 1:
			start := off
			for m, pi := range g.members {
				if m > 0 {
					off += len(p.pairs[pi].join)
				}
				v := p.vals[pi]
				off += v.end - v.start
			}
			out = append(out, Field{Key: g.name, Value: p.scratch[start:off:off]})
		default:
			v := p.vals[g.members[0]]
			out = append(out, Field{Key: g.name, Value: src[v.start:v.end:v.end]})
		}
	}
	if !p.hasRefs {
		return out, true
	}
	// Elasticsearch keeps one value per name: a reference whose name
	// collides with another field makes the match fail.
	for a := n0; a < len(out); a++ {
		for b := a + 1; b < len(out); b++ {
			if string(out[a].Key) == string(out[b].Key) {
				return out[:n0], false
			}
		}
	}
	return out, true
}

func indexFrom(src []byte, i int, delim []byte) int {
	j := bytes.Index(src[i:], delim)
	if j < 0 {
		return -1
	}
	return i + j
}

func hasPrefixAt(src []byte, i int, delim []byte) bool {
	return len(src)-i >= len(delim) && string(src[i:i+len(delim)]) == string(delim)
}
