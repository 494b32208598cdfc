// Package scrub redacts secrets and personal data in log lines: named
// patterns (e-mail and IP addresses, card numbers, Authorization headers,
// JWTs, AWS keys, private keys, URL passwords) and custom regular
// expressions. Each match is replaced by a fixed text or by a keyed hash
// (HMAC-SHA256, truncated hex), which keeps equal values equal across lines
// without revealing them.
//
// Every named pattern has a cheap pre-check (a byte or a short word the
// secret cannot be without), so a line that holds no candidate costs a few
// byte scans and no regular expression.
package scrub

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
)

// Mode says what a match is replaced with.
type Mode uint8

const (
	// Replace writes Options.Replacement in place of each match.
	Replace Mode = iota
	// Hash writes "[hmac:" + the first HashLen hex digits of
	// HMAC-SHA256(Key, match) + "]".
	Hash
)

// Options configure a Scrubber.
type Options struct {
	Mode Mode
	// Replacement is the text written in Replace mode; default
	// DefaultReplacement.
	Replacement string
	// Key is the HMAC key of Hash mode (required there, at least 16 bytes:
	// an unkeyed hash of an e-mail address or card number is reversed by
	// trying candidates).
	Key []byte
	// HashLen is the number of hex digits kept in Hash mode, 8 to 64;
	// default 16.
	HashLen int
}

// DefaultReplacement is the text that replaces a match by default.
const DefaultReplacement = "[REDACTED]"

type span struct{ start, end int }

type rule struct {
	name string
	// pre reports whether src may hold a match; false skips find.
	pre  func(src []byte) bool
	find func(src []byte, spans []span) []span
}

// Scrubber redacts. It is safe for concurrent use.
type Scrubber struct {
	rules   []rule
	mode    Mode
	repl    []byte
	hashLen int
	macs    sync.Pool // hash.Hash (HMAC-SHA256 with the key)
	spans   sync.Pool // *[]span, the matches of one Append
}

// Names lists the named patterns Compile knows, in the order they run.
func Names() []string {
	var ns []string
	for _, r := range named {
		ns = append(ns, r.name)
	}
	return ns
}

// Compile returns a Scrubber for the named patterns and the custom regular
// expressions (Go syntax). A custom expression with a group named "secret"
// has only that group replaced ("password=(?P<secret>\S+)"); otherwise the
// whole match is.
func Compile(names []string, custom []string, opts Options) (*Scrubber, error) {
	if len(names) == 0 && len(custom) == 0 {
		return nil, errors.New("redact: no pattern given")
	}
	s := &Scrubber{mode: opts.Mode, repl: []byte(DefaultReplacement), hashLen: 16}
	s.spans.New = func() any { return new([]span) }
	if opts.Replacement != "" {
		s.repl = []byte(opts.Replacement)
	}
	switch opts.Mode {
	case Replace:
	case Hash:
		if len(opts.Key) < 16 {
			return nil, fmt.Errorf("redact: hash mode needs a key of at least 16 bytes, got %d", len(opts.Key))
		}
		if opts.HashLen != 0 {
			if opts.HashLen < 8 || opts.HashLen > 64 {
				return nil, fmt.Errorf("redact: hash length %d: use 8 to 64 hex digits", opts.HashLen)
			}
			s.hashLen = opts.HashLen
		}
		key := slices.Clone(opts.Key)
		s.macs.New = func() any { return hmac.New(sha256.New, key) }
	default:
		return nil, fmt.Errorf("redact: unknown mode %d", opts.Mode)
	}
	seen := map[string]bool{}
	for _, n := range names {
		if seen[n] {
			continue
		}
		seen[n] = true
		i := slices.IndexFunc(named, func(r rule) bool { return r.name == n })
		if i < 0 {
			return nil, fmt.Errorf("redact: unknown pattern %q (known: %s)", n, strings.Join(Names(), ", "))
		}
		s.rules = append(s.rules, named[i])
	}
	for i, expr := range custom {
		re, err := regexp.Compile(expr)
		if err != nil {
			return nil, fmt.Errorf("redact: custom pattern %d %q: %w", i+1, expr, err)
		}
		group := re.SubexpIndex("secret")
		if group < 0 {
			group = 0
		}
		if re.MatchString("") {
			return nil, fmt.Errorf("redact: custom pattern %d %q matches empty text", i+1, expr)
		}
		s.rules = append(s.rules, rule{name: fmt.Sprintf("custom%d", i+1), find: regexFinder(re, group, nil)})
	}
	return s, nil
}

// Append appends src with every match redacted to dst and returns it with
// the number of replacements (overlapping matches count once). When there
// is none it returns dst unchanged, without copying src: the caller keeps
// using the original. src is not modified.
func (s *Scrubber) Append(dst, src []byte) ([]byte, int) {
	sp := s.spans.Get().(*[]span)
	defer s.spans.Put(sp)
	spans := (*sp)[:0]
	defer func() { *sp = spans[:0] }()
	for i := range s.rules {
		r := &s.rules[i]
		if r.pre != nil && !r.pre(src) {
			continue
		}
		spans = r.find(src, spans)
	}
	if len(spans) == 0 {
		return dst, 0
	}
	sort.Slice(spans, func(a, b int) bool { return spans[a].start < spans[b].start })
	merged := spans[:1]
	for _, sp := range spans[1:] {
		last := &merged[len(merged)-1]
		if sp.start < last.end {
			last.end = max(last.end, sp.end)
			continue
		}
		merged = append(merged, sp)
	}
	prev := 0
	for _, sp := range merged {
		dst = append(dst, src[prev:sp.start]...)
		dst = s.appendReplacement(dst, src[sp.start:sp.end])
		prev = sp.end
	}
	dst = append(dst, src[prev:]...)
	return dst, len(merged)
}

func (s *Scrubber) appendReplacement(dst, secret []byte) []byte {
	if s.mode == Replace {
		return append(dst, s.repl...)
	}
	m := s.macs.Get().(hash.Hash)
	m.Reset()
	m.Write(secret)
	var sum [sha256.Size]byte
	m.Sum(sum[:0])
	s.macs.Put(m)
	var hx [2 * sha256.Size]byte
	hex.Encode(hx[:], sum[:])
	dst = append(dst, "[hmac:"...)
	dst = append(dst, hx[:s.hashLen]...)
	return append(dst, ']')
}

// regexFinder returns a find function that adds group of every match of re
// for which valid (if not nil) holds.
func regexFinder(re *regexp.Regexp, group int, valid func(src []byte, start, end int) bool) func([]byte, []span) []span {
	return func(src []byte, spans []span) []span {
		for _, m := range re.FindAllSubmatchIndex(src, -1) {
			start, end := m[2*group], m[2*group+1]
			if start < 0 || start == end {
				continue
			}
			if valid != nil && !valid(src, start, end) {
				continue
			}
			spans = append(spans, span{start, end})
		}
		return spans
	}
}
