package scrub

import (
	"bytes"
	"encoding/base64"
	"net/netip"
	"regexp"
)

// named holds the built-in patterns, in the order they run. Secrets that
// contain other patterns come first (a URL password may hold an '@'), but
// order does not change the result: overlapping matches are merged.
var named = []rule{
	{name: "private_key", pre: containsString("-----BEGIN "), find: findPrivateKeys},
	{name: "url_password", pre: containsString("://"), find: findURLPasswords},
	{name: "jwt", pre: containsString("eyJ"), find: regexFinder(
		regexp.MustCompile(`eyJ[A-Za-z0-9_-]{4,}\.eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*`), 0, notInWord)},
	{name: "bearer", pre: containsFold("bearer"), find: schemeFinder("bearer", isToken68, 8, notOnlyLetters)},
	{name: "basic_auth", pre: containsFold("basic"), find: schemeFinder("basic", isBase64, 4, basicCredentials)},
	{name: "aws_access_key_id", pre: containsAWSPrefix, find: findAWSKeyIDs},
	{name: "aws_secret_access_key", pre: containsFold("secret"), find: regexFinder(
		regexp.MustCompile(`(?i)(?:aws_?secret_?(?:access_?)?key|secret_?access_?key)["']?\s*[:=]\s*["']?([A-Za-z0-9/+]{40})(?:[^A-Za-z0-9/+=]|$)`), 1, nil)},
	{name: "email", pre: containsByte('@'), find: findEmails},
	{name: "credit_card", pre: hasDigitRun(13), find: findCards},
	{name: "ipv4", pre: containsByte('.'), find: findIPv4},
	{name: "ipv6", pre: mayHoldIPv6, find: findIPv6},
}

func containsString(s string) func([]byte) bool {
	return func(src []byte) bool { return bytes.Contains(src, []byte(s)) }
}

func containsByte(c byte) func([]byte) bool {
	return func(src []byte) bool { return bytes.IndexByte(src, c) >= 0 }
}

// containsFold reports whether src holds lower (ASCII, lower case) in any
// case, without allocating: it jumps between occurrences of the first
// letter in either case with bytes.IndexByte.
func containsFold(lower string) func([]byte) bool {
	lo, up := lower[0], lower[0]-32
	return func(src []byte) bool {
		for _, first := range [2]byte{lo, up} {
			for i := 0; ; {
				k := bytes.IndexByte(src[i:], first)
				if k < 0 || i+k+len(lower) > len(src) {
					break
				}
				i += k
				j := 1
				for j < len(lower) && src[i+j]|0x20 == lower[j] {
					j++
				}
				if j == len(lower) {
					return true
				}
				i++
			}
		}
		return false
	}
}

func isWordByte(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_'
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func notInWord(src []byte, start, end int) bool {
	return (start == 0 || !isWordByte(src[start-1])) && (end == len(src) || !isWordByte(src[end]))
}

// notURLUserinfo drops "user@host" inside a URL ("https://user@host",
// "postgres://app:pw@db.example.com"): url_password handles the password,
// and the user and host of a URL stay.
func notURLUserinfo(src []byte, start, end int) bool {
	// The scheme of a URL is never far before its user information; the
	// bound keeps a line of comma-separated addresses linear.
	const maxBack = 512
	i := start
	for i > 0 && start-i < maxBack && src[i-1] != ' ' && src[i-1] != '\t' && src[i-1] != '"' && src[i-1] != '\'' && src[i-1] != '<' {
		i--
	}
	return !bytes.Contains(src[i:start], []byte("://"))
}

// notOnlyLetters keeps "Bearer abc123..." and drops prose ("the bearer
// instrument").
func notOnlyLetters(src []byte, start, end int) bool {
	for _, c := range src[start:end] {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return true
		}
	}
	return false
}

// basicCredentials keeps "Basic <base64 of user:password>" and drops prose
// ("basic authentication").
func basicCredentials(src []byte, start, end int) bool {
	tok := src[start:end]
	if end < len(src) && isWordByte(src[end]) {
		return false
	}
	var buf [256]byte
	if base64.StdEncoding.DecodedLen(len(tok)) > len(buf) {
		return true // long enough to be a credential, too long to check here
	}
	n, err := base64.StdEncoding.Decode(buf[:], tok)
	return err == nil && bytes.IndexByte(buf[:n], ':') > 0
}

func findPrivateKeys(src []byte, spans []span) []span {
	i := 0
	for {
		b := bytes.Index(src[i:], []byte("-----BEGIN "))
		if b < 0 {
			return spans
		}
		b += i
		head := b + len("-----BEGIN ")
		he := bytes.Index(src[head:], []byte("-----"))
		if he < 0 || he > 40 || !bytes.HasSuffix(src[head:head+he], []byte("PRIVATE KEY")) {
			i = head
			continue
		}
		// To the matching END line, or to the end of the text when the
		// block was cut.
		end := len(src)
		if e := bytes.Index(src[head+he:], []byte("-----END ")); e >= 0 {
			e += head + he
			if t := bytes.Index(src[e+len("-----END "):], []byte("PRIVATE KEY-----")); t >= 0 && t <= 30 {
				end = e + len("-----END ") + t + len("PRIVATE KEY-----")
			}
		}
		spans = append(spans, span{b, end})
		i = end
	}
}

var awsPrefixes = [][4]byte{
	{'A', 'K', 'I', 'A'}, {'A', 'S', 'I', 'A'}, {'A', 'B', 'I', 'A'}, {'A', 'C', 'C', 'A'},
	{'A', 'G', 'P', 'A'}, {'A', 'I', 'D', 'A'}, {'A', 'I', 'P', 'A'}, {'A', 'N', 'P', 'A'},
	{'A', 'N', 'V', 'A'}, {'A', 'R', 'O', 'A'}, {'A', 'P', 'K', 'A'}, {'A', 'S', 'C', 'A'},
}

func awsPrefixAt(src []byte, i int) bool {
	if len(src)-i < 4 {
		return false
	}
	for _, p := range awsPrefixes {
		if src[i+1] == p[1] && src[i+2] == p[2] && src[i+3] == p[3] {
			return true
		}
	}
	return false
}

func containsAWSPrefix(src []byte) bool {
	for i := 0; i+20 <= len(src); {
		k := bytes.IndexByte(src[i:len(src)-19], 'A')
		if k < 0 {
			return false
		}
		if awsPrefixAt(src, i+k) {
			return true
		}
		i += k + 1
	}
	return false
}

// findAWSKeyIDs finds access key IDs: a known four-letter prefix and 16
// upper-case letters or digits, as a whole word.
func findAWSKeyIDs(src []byte, spans []span) []span {
	for i := 0; i+20 <= len(src); i++ {
		if src[i] != 'A' || !awsPrefixAt(src, i) || (i > 0 && isWordByte(src[i-1])) {
			continue
		}
		ok := true
		for _, c := range src[i+4 : i+20] {
			if !(c >= 'A' && c <= 'Z' || isDigit(c)) {
				ok = false
				break
			}
		}
		if ok && (i+20 == len(src) || !isWordByte(src[i+20])) {
			spans = append(spans, span{i, i + 20})
			i += 19
		}
	}
	return spans
}

// digitRunClass: 1 for a digit, 2 for a separator inside a card number.
var digitRunClass = func() (t [256]uint8) {
	for c := '0'; c <= '9'; c++ {
		t[c] = 1
	}
	t[' '], t['-'] = 2, 2
	return t
}()

func hasDigitRun(n int) func([]byte) bool {
	return func(src []byte) bool {
		run := 0
		for _, c := range src {
			switch digitRunClass[c] {
			case 1:
				run++
				if run >= n {
					return true
				}
			case 0:
				run = 0
			}
		}
		return false
	}
}

// findCards finds card numbers: 13 to 19 digits, in groups separated by
// single spaces or dashes, that pass the Luhn check and start like a card
// of a major network (so that long numeric IDs and millisecond timestamps,
// a tenth of which pass Luhn, stay).
func findCards(src []byte, spans []span) []span {
	type group struct{ start, end, digits int }
	var groups [24]group
	i := 0
	for i < len(src) {
		if !isDigit(src[i]) || (i > 0 && (isWordByte(src[i-1]) || src[i-1] == '.')) {
			i++
			continue
		}
		// A run of digit groups joined by one separator each.
		n := 0
		j := i
		for n < len(groups) {
			s := j
			for j < len(src) && isDigit(src[j]) {
				j++
			}
			groups[n] = group{s, j, j - s}
			n++
			if j+1 < len(src) && (src[j] == ' ' || src[j] == '-') && isDigit(src[j+1]) {
				j++
				continue
			}
			break
		}
		runEnd := j
		if runEnd < len(src) && (isWordByte(src[runEnd]) || (src[runEnd] == '.' && runEnd+1 < len(src) && isDigit(src[runEnd+1]))) {
			i = runEnd + 1
			continue
		}
		// The longest window of whole groups from each group on.
		for a := 0; a < n; {
			found := -1
			total := 0
			for b := a; b < n; b++ {
				total += groups[b].digits
				if total > 19 {
					break
				}
				if total >= 13 && isCard(src[groups[a].start:groups[b].end]) {
					found = b
				}
			}
			if found >= 0 {
				spans = append(spans, span{groups[a].start, groups[found].end})
				a = found + 1
			} else {
				a++
			}
		}
		i = runEnd
	}
	return spans
}

// isCard checks the network prefix, the length and the Luhn sum of the
// digits of b (separators skipped).
func isCard(b []byte) bool {
	var d [19]byte
	n := 0
	for _, c := range b {
		if isDigit(c) {
			if n == len(d) {
				return false
			}
			d[n] = c - '0'
			n++
		}
	}
	p2 := int(d[0])*10 + int(d[1])
	p4 := p2*100 + int(d[2])*10 + int(d[3])
	switch {
	case d[0] == 4: // Visa
		if n != 13 && n != 16 && n != 19 {
			return false
		}
	case p2 >= 51 && p2 <= 55, p4 >= 2221 && p4 <= 2720: // Mastercard
		if n != 16 {
			return false
		}
	case p2 == 34 || p2 == 37: // American Express
		if n != 15 {
			return false
		}
	case p4 == 6011 || p2 == 65 || (p4 >= 6440 && p4 <= 6499) || p2 == 62: // Discover, UnionPay
		if n < 16 {
			return false
		}
	case p4 >= 3528 && p4 <= 3589: // JCB
		if n < 16 {
			return false
		}
	case (p4 >= 3000 && p4 <= 3059) || p2 == 36 || p2 == 38: // Diners Club
		if n < 14 {
			return false
		}
	default:
		return false
	}
	sum := 0
	for k := 0; k < n; k++ {
		v := int(d[n-1-k])
		if k%2 == 1 {
			v *= 2
			if v > 9 {
				v -= 9
			}
		}
		sum += v
	}
	return sum%10 == 0
}

// findIPv4 finds dotted quads with octets up to 255 that are not part of a
// longer dotted number (a version 1.2.3.4.5 stays).
func findIPv4(src []byte, spans []span) []span {
	for i := 0; i < len(src); i++ {
		if !isDigit(src[i]) || (i > 0 && (isWordByte(src[i-1]) || src[i-1] == '.')) {
			continue
		}
		j := i
		ok := true
		for part := 0; part < 4; part++ {
			if part > 0 {
				if j >= len(src) || src[j] != '.' {
					ok = false
					break
				}
				j++
			}
			s, v := j, 0
			for j < len(src) && isDigit(src[j]) && j-s < 4 {
				v = v*10 + int(src[j]-'0')
				j++
			}
			if j == s || j-s > 3 || v > 255 {
				ok = false
				break
			}
		}
		if ok && j < len(src) && (isWordByte(src[j]) || (src[j] == '.' && j+1 < len(src) && isDigit(src[j+1]))) {
			ok = false
		}
		if ok {
			spans = append(spans, span{i, j})
			i = j
			continue
		}
		// Skip the rest of this number.
		for i+1 < len(src) && (isDigit(src[i+1]) || src[i+1] == '.') {
			i++
		}
	}
	return spans
}

// mayHoldIPv6: an address holds "::" or, written in full, at least six
// colons; a line with only times and "host:port" has neither.
func mayHoldIPv6(src []byte) bool {
	return bytes.Contains(src, []byte("::")) || bytes.Count(src, []byte(":")) >= 6
}

func isIPv6Byte(c byte) bool {
	return isDigit(c) || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' || c == ':' || c == '.'
}

// findIPv6 finds runs of hex digits, colons and dots, with at least two
// colons, standing alone (not inside a word, so "std::vector" stays), that
// parse as an IPv6 address.
func findIPv6(src []byte, spans []span) []span {
	for i := 0; i < len(src); {
		if !isIPv6Byte(src[i]) {
			i++
			continue
		}
		j := i
		colons := 0
		for j < len(src) && isIPv6Byte(src[j]) {
			if src[j] == ':' {
				colons++
			}
			j++
		}
		s, e := i, j
		// A sentence may end in a dot; a "host:port" list in a colon.
		for e > s && (src[e-1] == '.') {
			e--
		}
		// Full form has 7 colons (6 before an embedded IPv4); shorter
		// forms hold "::". Times and MAC addresses have neither.
		plausible := colons == 7 || (colons == 6 && bytes.IndexByte(src[s:e], '.') >= 0) || bytes.Contains(src[s:e], []byte("::"))
		if plausible && colons >= 2 && (s == 0 || !isWordByte(src[s-1])) && (j == len(src) || !isWordByte(src[j])) {
			if a, err := netip.ParseAddr(string(src[s:e])); err == nil && a.Is6() {
				spans = append(spans, span{s, e})
			}
		}
		i = j
	}
	return spans
}

func isToken68(c byte) bool {
	return isWordByte(c) || c == '-' || c == '.' || c == '~' || c == '+' || c == '/'
}

func isBase64(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '+' || c == '/'
}

// schemeFinder finds "<scheme> <credentials>" of an Authorization header
// (scheme in any case, as a word; credentials of at least minLen bytes of
// class, then '=' padding) and returns the credentials when valid holds.
func schemeFinder(scheme string, class func(byte) bool, minLen int, valid func(src []byte, start, end int) bool) func([]byte, []span) []span {
	has := containsFold(scheme)
	return func(src []byte, spans []span) []span {
		for i := 0; i+len(scheme) < len(src); i++ {
			if src[i]|0x20 != scheme[0] || (i > 0 && isWordByte(src[i-1])) || !has(src[i:i+len(scheme)]) {
				continue
			}
			j := i + len(scheme)
			ws := j
			for j < len(src) && (src[j] == ' ' || src[j] == '\t') {
				j++
			}
			if j == ws {
				continue
			}
			start := j
			for j < len(src) && class(src[j]) {
				j++
			}
			for j < len(src) && src[j] == '=' {
				j++
			}
			if j-start >= minLen && valid(src, start, j) {
				spans = append(spans, span{start, j})
			}
			i = j - 1
		}
		return spans
	}
}

// findURLPasswords finds the password of "scheme://user:password@host":
// the user information ends at the last '@' before the path.
func findURLPasswords(src []byte, spans []span) []span {
	i := 0
	for {
		k := bytes.Index(src[i:], []byte("://"))
		if k < 0 {
			return spans
		}
		start := i + k + 3
		end := start
		for end < len(src) {
			c := src[end]
			if c == '/' || c == ' ' || c == '\t' || c == '\n' || c == '"' || c == '\'' || c == '<' || c == '>' || c == '?' || c == '#' {
				break
			}
			end++
		}
		auth := src[start:end]
		if at := bytes.LastIndexByte(auth, '@'); at > 0 {
			if colon := bytes.IndexByte(auth[:at], ':'); colon >= 0 && colon+1 < at {
				spans = append(spans, span{start + colon + 1, start + at})
			}
		}
		i = end
		if i == start {
			i++
		}
		if i >= len(src) {
			return spans
		}
	}
}

func isLocalPart(c byte) bool {
	return isWordByte(c) || c == '.' || c == '%' || c == '+' || c == '-'
}

func isDomainByte(c byte) bool {
	return isDigit(c) || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '-' || c == '.'
}

// findEmails finds local@domain.tld around each '@', leaving out the user
// information of URLs (url_password handles the password, user and host
// stay).
func findEmails(src []byte, spans []span) []span {
	for i := bytes.IndexByte(src, '@'); i >= 0; {
		s := i
		for s > 0 && isLocalPart(src[s-1]) {
			s--
		}
		for s < i && src[s] == '.' {
			s++
		}
		e := i + 1
		for e < len(src) && isDomainByte(src[e]) {
			e++
		}
		for e > i+1 && (src[e-1] == '.' || src[e-1] == '-') {
			e--
		}
		// The domain needs a dot and a top-level label of two letters or more.
		dot := bytes.LastIndexByte(src[i+1:e], '.')
		ok := s < i && dot > 0 && e-(i+1+dot+1) >= 2
		if ok {
			for _, c := range src[i+1+dot+1 : e] {
				if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
					ok = false
					break
				}
			}
		}
		if ok && notURLUserinfo(src, s, e) {
			spans = append(spans, span{s, e})
		}
		next := bytes.IndexByte(src[i+1:], '@')
		if next < 0 {
			break
		}
		i += 1 + next
	}
	return spans
}
