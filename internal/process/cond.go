package process

import (
	"bytes"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unsafe"
)

// Cond is a compiled condition: a typed expression over the fields of a
// document, parsed and checked once at load. Evaluation does not allocate
// and costs at most one lookup per field reference; there are no loops or
// calls, so its cost is bounded by the size of the expression.
//
// Grammar (keywords are lower case; fields are dotted names):
//
//	expr    = and { "or" and }
//	and     = unary { "and" unary }
//	unary   = "not" unary | "(" expr ")" | test
//	test    = field "exists"
//	        | field ("==" | "!=") literal
//	        | field ("<" | "<=" | ">" | ">=") number
//	        | field "in" "[" literal { "," literal } "]"
//	        | field "matches" string
//	literal = string | number | "true" | "false" | "null"
//	string  = '"' ... '"' | "'" ... "'"   (backslash escapes as in Go)
//
// Types: a string literal equals only a JSON string with that contents; a
// number equals (and compares with) a JSON number or a string holding a
// number ("200" == 200 holds: grok and dissect capture text); true, false
// and null equal only themselves. A test on a missing field is false, so
// "a != 1" holds when a is missing (it is "not (a == 1)"). matches is a Go
// regular expression (RE2: linear time) searched in the field's text.
type Cond struct {
	src  string
	root *node
}

// String returns the condition as written.
func (c *Cond) String() string { return c.src }

type opKind uint8

const (
	opOr opKind = iota
	opAnd
	opNot
	opExists
	opEq
	opNe
	opLt
	opLe
	opGt
	opGe
	opIn
	opMatches
)

type litKind uint8

const (
	litString litKind = iota
	litNumber
	litBool
	litNull
)

type literal struct {
	kind litKind
	s    string
	f    float64
	b    bool
}

type node struct {
	op    opKind
	l, r  *node
	field string
	lit   literal
	list  []literal
	re    *regexp.Regexp
}

// maxCondLen and maxCondDepth bound what a condition may cost.
const (
	maxCondLen   = 4096
	maxCondDepth = 64
)

// ParseCond parses and checks a condition.
func ParseCond(s string) (*Cond, error) {
	if len(s) > maxCondLen {
		return nil, fmt.Errorf("condition is longer than %d bytes", maxCondLen)
	}
	p := &condParser{s: s}
	p.next()
	n, err := p.expr(0)
	if err != nil {
		return nil, fmt.Errorf("condition %q: %w", s, err)
	}
	if p.tok.kind != tEOF {
		return nil, fmt.Errorf("condition %q: unexpected %s at offset %d", s, p.tok, p.tok.pos)
	}
	return &Cond{src: s, root: n}, nil
}

type tokKind uint8

const (
	tEOF tokKind = iota
	tIdent
	tString
	tNumber
	tOp
	tLParen
	tRParen
	tLBrack
	tRBrack
	tComma
	tErr
)

type token struct {
	kind tokKind
	pos  int
	text string // identifier, operator, or the decoded string
	num  float64
}

func (t token) String() string {
	switch t.kind {
	case tEOF:
		return "end of condition"
	case tString:
		return strconv.Quote(t.text)
	case tErr:
		return t.text
	}
	return "'" + t.text + "'"
}

type condParser struct {
	s   string
	i   int
	tok token
}

func identByte(c byte, first bool) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || c == '@' ||
		!first && (c >= '0' && c <= '9' || c == '.' || c == '-')
}

func (p *condParser) next() {
	s := p.s
	for p.i < len(s) && (s[p.i] == ' ' || s[p.i] == '\t' || s[p.i] == '\n' || s[p.i] == '\r') {
		p.i++
	}
	start := p.i
	if p.i >= len(s) {
		p.tok = token{kind: tEOF, pos: start}
		return
	}
	c := s[p.i]
	switch {
	case c == '(':
		p.i++
		p.tok = token{kind: tLParen, pos: start, text: "("}
	case c == ')':
		p.i++
		p.tok = token{kind: tRParen, pos: start, text: ")"}
	case c == '[':
		p.i++
		p.tok = token{kind: tLBrack, pos: start, text: "["}
	case c == ']':
		p.i++
		p.tok = token{kind: tRBrack, pos: start, text: "]"}
	case c == ',':
		p.i++
		p.tok = token{kind: tComma, pos: start, text: ","}
	case c == '=' || c == '!' || c == '<' || c == '>':
		p.i++
		if p.i < len(s) && s[p.i] == '=' {
			p.i++
		}
		op := s[start:p.i]
		if op == "=" || op == "!" {
			p.tok = token{kind: tErr, pos: start, text: fmt.Sprintf("'%s' at offset %d (did you mean '%s='?)", op, start, op)}
			return
		}
		p.tok = token{kind: tOp, pos: start, text: op}
	case c == '"' || c == '\'':
		p.i++
		var b strings.Builder
		for {
			if p.i >= len(s) {
				p.tok = token{kind: tErr, pos: start, text: fmt.Sprintf("unterminated string at offset %d", start)}
				return
			}
			ch := s[p.i]
			if ch == c {
				p.i++
				break
			}
			if ch == '\\' && p.i+1 < len(s) {
				switch e := s[p.i+1]; e {
				case 'n':
					b.WriteByte('\n')
				case 't':
					b.WriteByte('\t')
				case 'r':
					b.WriteByte('\r')
				default:
					b.WriteByte(e)
				}
				p.i += 2
				continue
			}
			b.WriteByte(ch)
			p.i++
		}
		p.tok = token{kind: tString, pos: start, text: b.String()}
	case c == '-' || c >= '0' && c <= '9':
		p.i++
		for p.i < len(s) && (s[p.i] >= '0' && s[p.i] <= '9' || s[p.i] == '.' || s[p.i] == 'e' || s[p.i] == 'E' ||
			(s[p.i] == '-' || s[p.i] == '+') && (s[p.i-1] == 'e' || s[p.i-1] == 'E')) {
			p.i++
		}
		f, err := strconv.ParseFloat(s[start:p.i], 64)
		if err != nil {
			p.tok = token{kind: tErr, pos: start, text: fmt.Sprintf("bad number %q at offset %d", s[start:p.i], start)}
			return
		}
		p.tok = token{kind: tNumber, pos: start, text: s[start:p.i], num: f}
	case identByte(c, true):
		for p.i < len(s) && identByte(s[p.i], false) {
			p.i++
		}
		p.tok = token{kind: tIdent, pos: start, text: s[start:p.i]}
	default:
		p.tok = token{kind: tErr, pos: start, text: fmt.Sprintf("unexpected %q at offset %d", c, start)}
	}
}

func (p *condParser) fail(want string) error {
	if p.tok.kind == tErr {
		return fmt.Errorf("%s", p.tok.text)
	}
	return fmt.Errorf("want %s, got %s at offset %d", want, p.tok, p.tok.pos)
}

func (p *condParser) expr(depth int) (*node, error) {
	if depth > maxCondDepth {
		return nil, fmt.Errorf("nested deeper than %d", maxCondDepth)
	}
	l, err := p.and(depth)
	if err != nil {
		return nil, err
	}
	for p.tok.kind == tIdent && p.tok.text == "or" {
		p.next()
		r, err := p.and(depth)
		if err != nil {
			return nil, err
		}
		l = &node{op: opOr, l: l, r: r}
	}
	return l, nil
}

func (p *condParser) and(depth int) (*node, error) {
	l, err := p.unary(depth)
	if err != nil {
		return nil, err
	}
	for p.tok.kind == tIdent && p.tok.text == "and" {
		p.next()
		r, err := p.unary(depth)
		if err != nil {
			return nil, err
		}
		l = &node{op: opAnd, l: l, r: r}
	}
	return l, nil
}

func (p *condParser) unary(depth int) (*node, error) {
	if depth > maxCondDepth {
		return nil, fmt.Errorf("nested deeper than %d", maxCondDepth)
	}
	switch {
	case p.tok.kind == tIdent && p.tok.text == "not":
		p.next()
		n, err := p.unary(depth + 1)
		if err != nil {
			return nil, err
		}
		return &node{op: opNot, l: n}, nil
	case p.tok.kind == tLParen:
		p.next()
		n, err := p.expr(depth + 1)
		if err != nil {
			return nil, err
		}
		if p.tok.kind != tRParen {
			return nil, p.fail("')'")
		}
		p.next()
		return n, nil
	}
	return p.test()
}

func keyword(s string) bool {
	switch s {
	case "and", "or", "not", "in", "matches", "exists", "true", "false", "null":
		return true
	}
	return false
}

func (p *condParser) test() (*node, error) {
	if p.tok.kind != tIdent || keyword(p.tok.text) {
		return nil, p.fail("a field name")
	}
	f := p.tok.text
	if strings.HasSuffix(f, ".") || strings.Contains(f, "..") {
		return nil, fmt.Errorf("bad field name %q at offset %d", f, p.tok.pos)
	}
	p.next()
	switch {
	case p.tok.kind == tIdent && p.tok.text == "exists":
		p.next()
		return &node{op: opExists, field: f}, nil
	case p.tok.kind == tIdent && p.tok.text == "matches":
		p.next()
		if p.tok.kind != tString {
			return nil, p.fail("a string (regular expression) after 'matches'")
		}
		re, err := regexp.Compile(p.tok.text)
		if err != nil {
			return nil, fmt.Errorf("bad regular expression at offset %d: %w", p.tok.pos, err)
		}
		p.next()
		return &node{op: opMatches, field: f, re: re}, nil
	case p.tok.kind == tIdent && p.tok.text == "in":
		p.next()
		if p.tok.kind != tLBrack {
			return nil, p.fail("'[' after 'in'")
		}
		p.next()
		n := &node{op: opIn, field: f}
		for {
			l, err := p.literal()
			if err != nil {
				return nil, err
			}
			n.list = append(n.list, l)
			if p.tok.kind == tComma {
				p.next()
				continue
			}
			if p.tok.kind != tRBrack {
				return nil, p.fail("',' or ']'")
			}
			p.next()
			return n, nil
		}
	case p.tok.kind == tOp:
		op := p.tok.text
		pos := p.tok.pos
		p.next()
		l, err := p.literal()
		if err != nil {
			return nil, err
		}
		n := &node{field: f, lit: l}
		switch op {
		case "==":
			n.op = opEq
		case "!=":
			n.op = opNe
		default:
			if l.kind != litNumber {
				return nil, fmt.Errorf("'%s' at offset %d compares numbers: want a number, got a %s", op, pos, l.kindName())
			}
			n.op = map[string]opKind{"<": opLt, "<=": opLe, ">": opGt, ">=": opGe}[op]
		}
		return n, nil
	}
	return nil, p.fail("'==', '!=', '<', '<=', '>', '>=', 'in', 'matches' or 'exists' after field " + strconv.Quote(f))
}

func (l literal) kindName() string {
	return [...]string{"string", "number", "boolean", "null"}[l.kind]
}

func (p *condParser) literal() (literal, error) {
	t := p.tok
	switch {
	case t.kind == tString:
		p.next()
		return literal{kind: litString, s: t.text}, nil
	case t.kind == tNumber:
		p.next()
		return literal{kind: litNumber, f: t.num}, nil
	case t.kind == tIdent && (t.text == "true" || t.text == "false"):
		p.next()
		return literal{kind: litBool, b: t.text == "true"}, nil
	case t.kind == tIdent && t.text == "null":
		p.next()
		return literal{kind: litNull}, nil
	}
	return literal{}, p.fail("a value (string, number, true, false or null)")
}

// Eval evaluates c on d. A nil condition holds.
func (c *Cond) Eval(d *Doc) bool {
	if c == nil {
		return true
	}
	return c.root.eval(d)
}

func (n *node) eval(d *Doc) bool {
	switch n.op {
	case opOr:
		return n.l.eval(d) || n.r.eval(d)
	case opAnd:
		return n.l.eval(d) && n.r.eval(d)
	case opNot:
		return !n.l.eval(d)
	case opExists:
		return d.Exists(n.field)
	}
	v, ok := d.Get(n.field)
	switch n.op {
	case opNe:
		return !ok || !d.equal(v, &n.lit)
	case opEq:
		return ok && d.equal(v, &n.lit)
	case opIn:
		if !ok {
			return false
		}
		for i := range n.list {
			if d.equal(v, &n.list[i]) {
				return true
			}
		}
		return false
	case opMatches:
		if !ok {
			return false
		}
		t, _ := d.text(v)
		return n.re.Match(t)
	}
	if !ok {
		return false
	}
	f, ok := number(v)
	if !ok {
		return false
	}
	switch n.op {
	case opLt:
		return f < n.lit.f
	case opLe:
		return f <= n.lit.f
	case opGt:
		return f > n.lit.f
	case opGe:
		return f >= n.lit.f
	}
	return false
}

// equal compares a raw JSON value with a literal under the typing rules of
// Cond.
func (d *Doc) equal(v []byte, l *literal) bool {
	switch l.kind {
	case litString:
		if len(v) < 2 || v[0] != '"' {
			return false
		}
		in := v[1 : len(v)-1]
		if bytes.IndexByte(in, '\\') < 0 {
			return string(in) == l.s
		}
		t, _ := d.text(v)
		return string(t) == l.s
	case litNumber:
		f, ok := number(v)
		return ok && f == l.f
	case litBool:
		if l.b {
			return string(v) == "true"
		}
		return string(v) == "false"
	}
	return string(v) == "null"
}

// bytesString views b as a string without copying, for calls that do not
// keep it.
func bytesString(b []byte) string {
	return unsafe.String(unsafe.SliceData(b), len(b))
}
