// Package grok matches lines against grok patterns, as the Logstash grok
// filter and the Elasticsearch grok processor do: %{SYNTAX:SEMANTIC:TYPE}
// names a pattern of the library, the field its text goes to, and the type
// the field converts to.
//
//	%{IPORHOST:[source][address]} %{WORD:method} %{URIPATHPARAM:url} %{NUMBER:bytes:int}
//
// The library is Logstash's (grok-patterns, httpd, linux-syslog, java) in
// RE2 form: Compile uses its ECS field names (Logstash 8's default),
// CompileLegacy the older ones (clientip, verb, response, ...). Custom
// patterns may use other patterns and Oniguruma-style named groups
// (?<name>...). The expression runs on Go's regexp: linear time in the
// length of the line, no catastrophic backtracking, but no look-around,
// atomic groups behave as plain groups, and back-references are not
// supported.
package grok

import (
	"bytes"
	"fmt"
	"regexp"
	"regexp/syntax"
	"sort"
	"strings"
)

// Type is the type a field converts to, from the third part of
// %{SYNTAX:SEMANTIC:TYPE}.
type Type uint8

// The types of a field. Int and Float mark text the pattern matched as a
// number; converting it is left to the caller.
const (
	String Type = iota
	Int
	Float
	Bool
)

func (t Type) String() string {
	switch t {
	case Int:
		return "int"
	case Float:
		return "float"
	case Bool:
		return "boolean"
	}
	return "string"
}

// Field is one named capture: Value is the matched text, Type the type its
// pattern asked for.
type Field struct {
	Key, Value []byte
	Type       Type
}

type capture struct {
	key   []byte
	typ   Type
	group int
}

type expr struct {
	src      string
	re       *regexp.Regexp
	anchored *regexp.Regexp // re anchored at the start of the line; nil if re already is
	required [][]byte       // literals every match contains: a line without one cannot match
	caps     []capture
}

// Grok is a compiled list of grok patterns. It is safe for concurrent use.
type Grok struct {
	exprs []expr
}

// Compile expands and compiles patterns with the ECS pattern library plus
// custom (name -> definition; a custom name replaces a library one). The
// first pattern that matches a line wins. The error names the pattern and
// what is wrong.
func Compile(patterns []string, custom map[string]string) (*Grok, error) {
	return compile(patterns, custom, ecs)
}

// CompileLegacy is Compile with the legacy (pre-ECS) field names of the
// library's composite patterns.
func CompileLegacy(patterns []string, custom map[string]string) (*Grok, error) {
	return compile(patterns, custom, legacy)
}

func compile(patterns []string, custom map[string]string, set map[string]string) (*Grok, error) {
	if len(patterns) == 0 {
		return nil, fmt.Errorf("grok: no pattern given")
	}
	lookup := func(name string) (string, bool) {
		if d, ok := custom[name]; ok {
			return d, true
		}
		if d, ok := set[name]; ok {
			return d, true
		}
		d, ok := base[name]
		return d, ok
	}
	for name := range custom {
		if !validName(name) {
			return nil, fmt.Errorf("grok: custom pattern name %q: use letters, digits and '_'", name)
		}
	}
	g := &Grok{}
	for _, p := range patterns {
		e := &expander{lookup: lookup}
		var b strings.Builder
		if err := e.expand(&b, p, nil); err != nil {
			return nil, fmt.Errorf("grok pattern %q: %w", p, err)
		}
		re, err := regexp.Compile(b.String())
		if err != nil {
			return nil, fmt.Errorf("grok pattern %q: %w", p, err)
		}
		for i := range e.caps {
			e.caps[i].group = re.SubexpIndex(fmt.Sprintf("g%d", i))
		}
		x := expr{src: p, re: re, caps: e.caps, required: requiredLiterals(b.String())}
		if !strings.HasPrefix(b.String(), "^") {
			// Most lines match from their first byte, and Go's regexp
			// is several times faster when it need not start a match
			// attempt at every byte. A match anchored at 0 is the
			// leftmost match, so it is the unanchored result too.
			x.anchored = regexp.MustCompile("^(?:" + b.String() + ")")
		}
		g.exprs = append(g.exprs, x)
	}
	return g, nil
}

func validName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return true
}

type expander struct {
	lookup func(string) (string, bool)
	caps   []capture
}

const (
	maxDepth    = 64
	maxExpanded = 256 << 10 // patterns that refer to others twice can grow exponentially
)

// expand writes the RE2 form of pattern to b: %{...} references expanded,
// named groups turned into numbered captures (recorded in e.caps), plain
// groups made non-capturing (fewer captures make Go's regexp faster),
// atomic groups made plain.
func (e *expander) expand(b *strings.Builder, pattern string, stack []string) error {
	if len(stack) > maxDepth {
		return fmt.Errorf("patterns nest deeper than %d: %s", maxDepth, strings.Join(stack, " -> "))
	}
	for i := 0; i < len(pattern); {
		c := pattern[i]
		switch {
		case c == '\\':
			if i+1 >= len(pattern) {
				return fmt.Errorf("trailing backslash at offset %d", i)
			}
			b.WriteString(pattern[i : i+2])
			i += 2
		case c == '[':
			j, err := classEnd(pattern, i)
			if err != nil {
				return err
			}
			b.WriteString(pattern[i:j])
			i = j
		case c == '%' && i+1 < len(pattern) && pattern[i+1] == '{':
			end := strings.IndexByte(pattern[i:], '}')
			if end < 0 {
				return fmt.Errorf("%%{ at offset %d is not closed", i)
			}
			ref := pattern[i+2 : i+end]
			if err := e.reference(b, ref, stack); err != nil {
				return fmt.Errorf("%%{%s} at offset %d: %w", ref, i, err)
			}
			i += end + 1
		case c == '(':
			rest := pattern[i+1:]
			switch {
			case strings.HasPrefix(rest, "?<") && len(rest) > 2 && rest[2] != '=' && rest[2] != '!':
				end := strings.IndexByte(rest, '>')
				if end < 0 {
					return fmt.Errorf("named group at offset %d is not closed", i)
				}
				name := rest[2:end]
				key, typ, err := semantic(name)
				if err != nil {
					return fmt.Errorf("named group (?<%s> at offset %d: %w", name, i, err)
				}
				fmt.Fprintf(b, "(?P<g%d>", len(e.caps))
				e.caps = append(e.caps, capture{key: key, typ: typ})
				i += 1 + end + 1
			case strings.HasPrefix(rest, "?P<"):
				return fmt.Errorf("group (?P< at offset %d: write named captures as (?<name>...) or %%{PATTERN:name}", i)
			case strings.HasPrefix(rest, "?>"):
				b.WriteString("(?:")
				i += 3
			case strings.HasPrefix(rest, "?"):
				b.WriteByte('(')
				i++
			default:
				b.WriteString("(?:")
				i++
			}
		default:
			b.WriteByte(c)
			i++
		}
	}
	return nil
}

// classEnd returns the index after the character class that starts at i.
func classEnd(p string, i int) (int, error) {
	j := i + 1
	if j < len(p) && p[j] == '^' {
		j++
	}
	if j < len(p) && p[j] == ']' {
		j++
	}
	for j < len(p) {
		switch {
		case p[j] == '\\':
			j += 2
		case p[j] == '[' && j+1 < len(p) && p[j+1] == ':':
			k := strings.Index(p[j:], ":]")
			if k < 0 {
				return 0, fmt.Errorf("character class at offset %d is not closed", i)
			}
			j += k + 2
		case p[j] == ']':
			return j + 1, nil
		default:
			j++
		}
	}
	return 0, fmt.Errorf("character class at offset %d is not closed", i)
}

func (e *expander) reference(b *strings.Builder, ref string, stack []string) error {
	parts := strings.SplitN(ref, ":", 3)
	name := parts[0]
	def, ok := e.lookup(name)
	if !ok {
		return fmt.Errorf("no pattern named %q", name)
	}
	for _, s := range stack {
		if s == name {
			return fmt.Errorf("pattern %s refers to itself: %s -> %s", name, strings.Join(stack, " -> "), name)
		}
	}
	if len(parts) == 1 {
		b.WriteString("(?:")
	} else {
		sem := parts[1]
		if len(parts) == 3 {
			sem += ":" + parts[2]
		}
		key, typ, err := semantic(sem)
		if err != nil {
			return err
		}
		fmt.Fprintf(b, "(?P<g%d>", len(e.caps))
		e.caps = append(e.caps, capture{key: key, typ: typ})
	}
	if err := e.expand(b, def, append(stack, name)); err != nil {
		return err
	}
	b.WriteByte(')')
	if b.Len() > maxExpanded {
		return fmt.Errorf("pattern expands to more than %d bytes", maxExpanded)
	}
	return nil
}

// semantic parses "name" or "name:type"; a name in Logstash's field
// reference form ([http][request][method]) becomes dotted.
func semantic(s string) ([]byte, Type, error) {
	name, typ := s, String
	if i := strings.LastIndexByte(s, ':'); i >= 0 {
		name = s[:i]
		switch s[i+1:] {
		case "int", "long":
			typ = Int
		case "float", "double":
			typ = Float
		case "boolean", "bool":
			typ = Bool
		case "string":
		default:
			return nil, 0, fmt.Errorf("type %q: use int, long, float, double, boolean or string", s[i+1:])
		}
	}
	if strings.HasPrefix(name, "[") {
		if !strings.HasSuffix(name, "]") {
			return nil, 0, fmt.Errorf("field reference %q is not closed", name)
		}
		parts := strings.Split(name[1:len(name)-1], "][")
		for _, p := range parts {
			if p == "" || strings.ContainsAny(p, "[]") {
				return nil, 0, fmt.Errorf("field reference %q is malformed", name)
			}
		}
		name = strings.Join(parts, ".")
	}
	if name == "" {
		return nil, 0, fmt.Errorf("empty field name")
	}
	return []byte(name), typ, nil
}

// Match tries the patterns in order and appends the named captures of the
// first that matches src to out, in pattern order; it returns out unchanged
// and false when none matches. Like Logstash's default (keep_empty_captures
// off), a capture that took no part in the match or matched empty text gives
// no field; a name captured twice gives two fields.
//
// Values alias src; keys alias g and must not be modified. A match allocates
// once, for the positions Go's regexp returns; a miss allocates nothing.
func (g *Grok) Match(src []byte, out []Field) ([]Field, bool) {
	for i := range g.exprs {
		e := &g.exprs[i]
		if !e.mayMatch(src) {
			continue
		}
		var loc []int
		if e.anchored != nil {
			loc = e.anchored.FindSubmatchIndex(src)
		}
		if loc == nil {
			loc = e.re.FindSubmatchIndex(src)
		}
		if loc == nil {
			continue
		}
		for _, c := range e.caps {
			s, t := loc[2*c.group], loc[2*c.group+1]
			if s < 0 || s == t {
				continue
			}
			out = append(out, Field{Key: c.key, Value: src[s:t:t], Type: c.typ})
		}
		return out, true
	}
	return out, false
}

// Expanded returns the regular expression pattern i was compiled to, for
// debugging a pattern (shipper check shows it).
func (g *Grok) Expanded(i int) string { return g.exprs[i].re.String() }

// maxRequired bounds the literals checked before running the expression.
const maxRequired = 4

// mayMatch reports whether src holds every required literal. Checking a few
// short strings costs far less than a failed search of Go's regexp, which
// tries a match at every byte.
func (e *expr) mayMatch(src []byte) bool {
	for _, lit := range e.required {
		if !bytes.Contains(src, lit) {
			return false
		}
	}
	return true
}

// requiredLiterals returns up to maxRequired of the longest literal strings
// that every match of the expression contains (case-sensitive literals on
// paths that cannot be skipped).
func requiredLiterals(expr string) [][]byte {
	re, err := syntax.Parse(expr, syntax.Perl)
	if err != nil {
		return nil
	}
	var lits []string
	var walk func(r *syntax.Regexp)
	walk = func(r *syntax.Regexp) {
		switch r.Op {
		case syntax.OpLiteral:
			if r.Flags&syntax.FoldCase == 0 {
				lits = append(lits, string(r.Rune))
			}
		case syntax.OpCapture, syntax.OpPlus:
			walk(r.Sub[0])
		case syntax.OpRepeat:
			if r.Min >= 1 {
				walk(r.Sub[0])
			}
		case syntax.OpConcat:
			for _, sub := range r.Sub {
				walk(sub)
			}
		}
	}
	walk(re.Simplify())
	sort.SliceStable(lits, func(a, b int) bool { return len(lits[a]) > len(lits[b]) })
	var out [][]byte
	seen := map[string]bool{}
	for _, l := range lits {
		if len(out) == maxRequired {
			break
		}
		if !seen[l] {
			seen[l] = true
			out = append(out, []byte(l))
		}
	}
	return out
}
