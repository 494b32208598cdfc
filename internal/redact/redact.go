// Package redact keeps secrets (passwords, API keys, shared keys) out of what
// the shipper prints: URLs are shown with their password masked, and a
// Writer masks every known secret in the bytes that pass through it, as the
// last line of defence for log lines and error messages that quote a URL or
// a header.
package redact

import (
	"bytes"
	"encoding/base64"
	"io"
	"net/url"
	"strings"
)

// Mask replaces a secret.
const Mask = "xxxxx"

// MinLen is the shortest secret a Writer masks: masking every "a" of a log
// line would make it unreadable, and a secret that short is no secret.
const MinLen = 4

// URL returns u with the password of its user information masked
// ("https://elastic:xxxxx@es:9200"). A string that does not parse as a URL
// but holds user information ("user:pass@host") has everything before the
// '@' masked.
func URL(u string) string {
	p, err := url.Parse(u)
	if err == nil {
		if p.User == nil {
			return u
		}
		return p.Redacted()
	}
	at := strings.LastIndexByte(u, '@')
	if at < 0 {
		return u
	}
	start := strings.Index(u, "//") + 2 // 1 without a scheme
	if start < 2 {
		start = 0
	}
	if start > at {
		return u
	}
	return u[:start] + Mask + u[at:]
}

// URLs applies URL to each of us, into a new slice.
func URLs(us []string) []string {
	out := make([]string, len(us))
	for i, u := range us {
		out[i] = URL(u)
	}
	return out
}

// Secrets collects what a Writer must mask: the passwords in urls, the
// given secrets, and the HTTP basic-auth encodings of user and password and
// of each URL's user information (as an Authorization header carries them).
// Empty strings are dropped.
func Secrets(urls []string, user, password string, others ...string) []string {
	var out []string
	add := func(s string) {
		if s != "" {
			out = append(out, s)
		}
	}
	basic := func(u, p string) {
		if p != "" {
			add(base64.StdEncoding.EncodeToString([]byte(u + ":" + p)))
		}
	}
	for _, u := range urls {
		p, err := url.Parse(u)
		if err != nil || p.User == nil {
			continue
		}
		pw, _ := p.User.Password()
		add(pw)
		add(url.QueryEscape(pw))
		basic(p.User.Username(), pw)
	}
	add(password)
	basic(user, password)
	for _, s := range others {
		add(s)
	}
	return out
}

// Writer masks the secrets it was given in everything written through it.
// Each Write is masked on its own: a secret split across two writes is not
// found, which is fine for zerolog (one Write per line) and fmt.Fprint*.
type Writer struct {
	w       io.Writer
	secrets [][]byte
}

// NewWriter returns a Writer to w masking secrets (those shorter than MinLen
// are left alone). Without any, it returns w itself.
func NewWriter(w io.Writer, secrets []string) io.Writer {
	rw := &Writer{w: w}
	for _, s := range secrets {
		if len(s) >= MinLen {
			rw.secrets = append(rw.secrets, []byte(s))
		}
	}
	if len(rw.secrets) == 0 {
		return w
	}
	return rw
}

// Write writes p with every secret masked; it reports len(p) on success.
func (w *Writer) Write(p []byte) (int, error) {
	out := p
	for _, s := range w.secrets {
		if bytes.Contains(out, s) {
			out = bytes.ReplaceAll(out, s, []byte(Mask))
		}
	}
	if _, err := w.w.Write(out); err != nil {
		return 0, err
	}
	return len(p), nil
}
