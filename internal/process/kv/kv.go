// Package kv splits key=value text (logfmt and the like) into fields, as the
// Logstash kv filter and the Elasticsearch kv processor do:
//
//	level=info msg="user logged in" user=alice duration=12ms
//
// Pairs are separated by any of the FieldSplit bytes, key and value by the
// first of the ValueSplit bytes. A value that starts with a double or single
// quote (or, with StripBrackets, with '(', '[' or '<') runs to the matching
// closing character and may hold field separators; the quotes are removed,
// backslash escapes inside are kept as written. A token without a value
// separator is skipped.
package kv

import (
	"errors"
	"fmt"
)

// Field is one key and its value.
type Field struct {
	Key, Value []byte
}

// Options configure a Parser. The zero value splits on spaces and '='.
type Options struct {
	// FieldSplit is the set of bytes that separate pairs; default " ".
	// (Logstash field_split; Elasticsearch's field_split is a regular
	// expression, of which only a set of single characters is supported.)
	FieldSplit string
	// ValueSplit is the set of bytes that separate a key from its value;
	// default "=".
	ValueSplit string
	// TrimKey and TrimValue are sets of bytes removed from both ends of
	// each key and value (after quotes are removed).
	TrimKey, TrimValue string
	// IncludeKeys, when not empty, lists the only keys kept; ExcludeKeys
	// lists keys dropped. Both compare the key after trimming, before Prefix.
	IncludeKeys, ExcludeKeys []string
	// Prefix is put before every key.
	Prefix string
	// StripBrackets also unwraps values enclosed in (), [] or <>, as
	// Logstash's include_brackets (on by default there) and
	// Elasticsearch's strip_brackets (off by default) do.
	StripBrackets bool
	// Lenient accepts spaces and tabs around the value separator
	// ("a = 1"), as Logstash's default whitespace => lenient; a value then
	// never starts with a space ("a= b=2" gives a="b=2").
	Lenient bool
	// DropEmptyValues leaves out pairs whose value is empty ("a= b=2"
	// gives only b), as Logstash's default allow_empty_values => false.
	DropEmptyValues bool
}

// Logstash returns the options that reproduce the Logstash kv filter's
// defaults (include_brackets, whitespace => lenient, allow_empty_values =>
// false); the zero Options follow the Elasticsearch kv processor.
func Logstash() Options {
	return Options{StripBrackets: true, Lenient: true, DropEmptyValues: true}
}

// Parser splits lines into key/value fields. It keeps the scratch space that
// prefixed keys are built in, so it is not safe for concurrent use: give
// each goroutine its own Parser (Clone).
type Parser struct {
	fieldSplit, valueSplit, trimKey, trimValue [256]bool
	include, exclude                           map[string]struct{}
	prefix                                     []byte
	brackets, lenient, dropEmpty               bool

	scratch []byte
	offs    []int
}

// New validates opts and returns a Parser.
func New(opts Options) (*Parser, error) {
	p := &Parser{prefix: []byte(opts.Prefix), brackets: opts.StripBrackets, lenient: opts.Lenient, dropEmpty: opts.DropEmptyValues}
	fs, vs := opts.FieldSplit, opts.ValueSplit
	if fs == "" {
		fs = " "
	}
	if vs == "" {
		vs = "="
	}
	for i := 0; i < len(fs); i++ {
		p.fieldSplit[fs[i]] = true
	}
	for i := 0; i < len(vs); i++ {
		if p.fieldSplit[vs[i]] {
			return nil, fmt.Errorf("kv: byte %q is both in field_split %q and in value_split %q", vs[i], fs, vs)
		}
		p.valueSplit[vs[i]] = true
	}
	for i := 0; i < len(opts.TrimKey); i++ {
		p.trimKey[opts.TrimKey[i]] = true
	}
	for i := 0; i < len(opts.TrimValue); i++ {
		p.trimValue[opts.TrimValue[i]] = true
	}
	if len(opts.IncludeKeys) > 0 {
		p.include = make(map[string]struct{}, len(opts.IncludeKeys))
		for _, k := range opts.IncludeKeys {
			if k == "" {
				return nil, errors.New("kv: include_keys holds an empty key")
			}
			p.include[k] = struct{}{}
		}
	}
	if len(opts.ExcludeKeys) > 0 {
		p.exclude = make(map[string]struct{}, len(opts.ExcludeKeys))
		for _, k := range opts.ExcludeKeys {
			p.exclude[k] = struct{}{}
		}
	}
	return p, nil
}

// Clone returns a Parser with the same options and its own scratch space.
func (p *Parser) Clone() *Parser {
	c := *p
	c.scratch, c.offs = nil, nil
	return &c
}

func closer(c byte, brackets bool) byte {
	switch c {
	case '"', '\'':
		return c
	}
	if !brackets {
		return 0
	}
	switch c {
	case '(':
		return ')'
	case '[':
		return ']'
	case '<':
		return '>'
	}
	return 0
}

// Parse appends the pairs of src to out, in the order they appear, and
// returns out. Keys and values alias src, except keys when Prefix is set:
// those are built in scratch space owned by p, valid until the next call of
// Parse on p. A repeated key gives a field each time. Parse does not
// allocate once out and the scratch have grown.
func (p *Parser) Parse(src []byte, out []Field) []Field {
	n0 := len(out)
	if len(p.prefix) > 0 {
		p.scratch = p.scratch[:0]
		p.offs = p.offs[:0]
	}
	// noneFrom[k]-1 is a position from which closer k is known not to
	// occur: a line of unterminated quotes is scanned once, not once per
	// quote.
	var noneFrom [5]int
	i := 0
	for i < len(src) {
		for i < len(src) && p.fieldSplit[src[i]] {
			i++
		}
		ks := i
		for i < len(src) && !p.valueSplit[src[i]] && !p.fieldSplit[src[i]] {
			i++
		}
		key := src[ks:i]
		if p.lenient && i < len(src) && isBlank(src[i]) {
			j := i
			for j < len(src) && isBlank(src[j]) {
				j++
			}
			if j < len(src) && p.valueSplit[src[j]] {
				i = j
			}
		}
		if i >= len(src) || !p.valueSplit[src[i]] {
			continue // a token without a value
		}
		i++ // the value separator
		if p.lenient {
			for len(key) > 0 && isBlank(key[len(key)-1]) {
				key = key[:len(key)-1]
			}
			for i < len(src) && isBlank(src[i]) {
				i++
			}
		}
		vs := i
		var val []byte
		if i < len(src) {
			if c := closer(src[i], p.brackets); c != 0 {
				k := closerIndex(c)
				j := -1
				if noneFrom[k] == 0 || i+1 < noneFrom[k]-1 {
					if j = closing(src, i+1, c); j < 0 {
						noneFrom[k] = i + 2
					}
				}
				if j >= 0 && (j+1 == len(src) || p.fieldSplit[src[j+1]]) {
					val = src[i+1 : j]
					i = j + 1
					vs = -1
				}
			}
		}
		if vs >= 0 {
			for i < len(src) && !p.fieldSplit[src[i]] {
				i++
			}
			val = src[vs:i]
		}
		key = trim(key, &p.trimKey)
		val = trim(val, &p.trimValue)
		if len(key) == 0 || (p.dropEmpty && len(val) == 0) {
			continue
		}
		if p.include != nil {
			if _, ok := p.include[string(key)]; !ok {
				continue
			}
		}
		if p.exclude != nil {
			if _, ok := p.exclude[string(key)]; ok {
				continue
			}
		}
		if len(p.prefix) > 0 {
			p.offs = append(p.offs, len(p.scratch))
			p.scratch = append(p.scratch, p.prefix...)
			p.scratch = append(p.scratch, key...)
			key = nil
		}
		out = append(out, Field{Key: key[:len(key):len(key)], Value: val[:len(val):len(val)]})
	}
	if len(p.prefix) > 0 {
		for n := range out[n0:] {
			start := p.offs[n]
			end := len(p.scratch)
			if n+1 < len(p.offs) {
				end = p.offs[n+1]
			}
			out[n0+n].Key = p.scratch[start:end:end]
		}
	}
	return out
}

func isBlank(c byte) bool { return c == ' ' || c == '\t' }

func closerIndex(c byte) int {
	switch c {
	case '"':
		return 0
	case '\'':
		return 1
	case ')':
		return 2
	case ']':
		return 3
	}
	return 4 // '>'
}

// closing returns the index of the first c at or after i that is not
// escaped by a backslash, or -1.
func closing(src []byte, i int, c byte) int {
	for ; i < len(src); i++ {
		switch src[i] {
		case '\\':
			i++
		case c:
			return i
		}
	}
	return -1
}

func trim(b []byte, set *[256]bool) []byte {
	for len(b) > 0 && set[b[0]] {
		b = b[1:]
	}
	for len(b) > 0 && set[b[len(b)-1]] {
		b = b[:len(b)-1]
	}
	return b
}
