// Package datastream knows the naming rules of Elasticsearch data streams
// (logs-<dataset>-<namespace>).
package datastream

import (
	"fmt"
	"strings"
)

// IndexName returns the data stream name logs-<dataset>-<namespace> after
// checking both parts against the data stream naming rules (lower case, no
// '-', none of \/*?"<>|,#: or space, at most 100 bytes, not starting with
// '_', '+' or '.').
func IndexName(dataset, namespace string) (string, error) {
	if err := CheckPart("dataset", dataset); err != nil {
		return "", err
	}
	if err := CheckPart("namespace", namespace); err != nil {
		return "", err
	}
	return "logs-" + dataset + "-" + namespace, nil
}

// CheckPart checks a dataset or namespace; what names it in the error.
func CheckPart(what, s string) error {
	if s == "" {
		return fmt.Errorf("data stream %s is empty", what)
	}
	if len(s) > 100 {
		return fmt.Errorf("data stream %s %q is longer than 100 bytes", what, s)
	}
	if strings.ContainsAny(s[:1], "_+.") {
		return fmt.Errorf("data stream %s %q must not start with '_', '+' or '.'", what, s)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'A' && c <= 'Z' {
			return fmt.Errorf("data stream %s %q must be lower case", what, s)
		}
		if strings.IndexByte("-\\/*?\"<>|,#: ", c) >= 0 || c < 0x20 || c >= 0x80 {
			return fmt.Errorf("data stream %s %q must not contain %q (allowed: lower-case letters, digits, '.', '_')", what, s, c)
		}
	}
	return nil
}

// SanitizeDataset turns a value taken from a record (or a Forward tag) into
// a valid dataset: lower-cased, forbidden bytes replaced with '_', cut to 100
// bytes. It returns "" when nothing usable remains.
func SanitizeDataset(b []byte) string {
	if len(b) > 100 {
		b = b[:100]
	}
	out := make([]byte, 0, len(b))
	for _, c := range b {
		switch {
		case c >= 'A' && c <= 'Z':
			out = append(out, c+'a'-'A')
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '.', c == '_':
			out = append(out, c)
		default:
			out = append(out, '_')
		}
	}
	for len(out) > 0 && (out[0] == '_' || out[0] == '.' || out[0] == '+') {
		out = out[1:]
	}
	return string(out)
}
