package kafka

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"shipper/internal/encode"
)

// Header names of every record. The values are the document id and the data
// stream name that the shipper would have used with Elasticsearch: a consumer
// writes the record with `create` under that id, so a record delivered twice
// (see docs/kafka.md, Guarantees) is indexed once.
const (
	HeaderID    = "shipper.id"
	HeaderIndex = "shipper.index"
	// HeaderError and HeaderTopic are set on dead-letter records: why the
	// record could not be produced, and the topic it was meant for.
	HeaderError = "shipper.error"
	HeaderTopic = "shipper.topic"
	// HeaderOriginalSize is set on dead-letter records whose value keeps
	// only the first bytes of the document: the document's full size.
	HeaderOriginalSize = "shipper.original_size"
)

// KeyMode chooses the record key, and so the partition and what keeps its
// order (Kafka orders records per partition).
type KeyMode string

const (
	// KeySource keys by the source of the record: the file (its identity,
	// which survives renames), the stdin run, or the Forward chunk. Every
	// record of a file lands in one partition, in file order. The default.
	KeySource KeyMode = "source"
	// KeyStream keys by the data stream name: every record of a dataset
	// (with --forward-dataset-from-tag, of a Forward tag) lands in one
	// partition, in the order the shipper read them.
	KeyStream KeyMode = "stream"
	// KeyNone sends records without a key: spread over the partitions,
	// ordered nowhere.
	KeyNone KeyMode = "none"
)

// ParseKeyMode validates a key mode name.
func ParseKeyMode(s string) (KeyMode, error) {
	switch KeyMode(s) {
	case KeySource, KeyStream, KeyNone:
		return KeyMode(s), nil
	}
	return "", fmt.Errorf("unknown Kafka key %q: want %q, %q or %q", s, KeySource, KeyStream, KeyNone)
}

// parseAction returns the data stream name and the document id of a bulk
// action line made by encode.AppendCreate or encode.AppendCreateIn in a
// batch whose default target is def (event.Batch.Index): def for a line
// that names no _index. The views point into action or def.
func parseAction(action, def []byte) (index, id []byte, err error) {
	index, id, ok := encode.ParseCreate(action)
	if !ok {
		return nil, nil, fmt.Errorf("not a create action with an _id: %.80q", action)
	}
	if index == nil {
		if len(def) == 0 {
			return nil, nil, fmt.Errorf("action %.80q names no _index, and its batch has no default", action)
		}
		index = def
	}
	return index, id, nil
}

// sourceKeyLen is the length of a KeySource key: the first 8 bytes of the
// id (the part the source chose for the file, run or chunk) in base64url.
const sourceKeyLen = 11

// appendSourceKey appends the source part of id: the first of the two 64-bit
// numbers that encode.AppendID encodes. An id of another form is used whole.
func appendSourceKey(dst, id []byte) []byte {
	if len(id) != encode.IDLen {
		return append(dst, id...)
	}
	var raw [16]byte
	if _, err := base64.RawURLEncoding.Decode(raw[:], id); err != nil {
		return append(dst, id...)
	}
	n := len(dst)
	dst = append(dst, make([]byte, sourceKeyLen)...)
	base64.RawURLEncoding.Encode(dst[n:], raw[:8])
	return dst
}

// Topic is a parsed --kafka-topic: a topic name, or a template with
// {dataset}, {namespace} or {index} (the data stream name) in it.
type Topic struct {
	parts []string // literal, placeholder, literal, ...: odd indexes are placeholders
}

// ErrTopic is wrapped by the errors of ParseTopic.
var ErrTopic = errors.New("invalid Kafka topic")

// ParseTopic parses a topic or topic template.
func ParseTopic(s string) (Topic, error) {
	if s == "" {
		return Topic{}, fmt.Errorf("%w: empty", ErrTopic)
	}
	var parts []string
	rest := s
	for {
		i := strings.IndexByte(rest, '{')
		if i < 0 {
			parts = append(parts, rest)
			break
		}
		j := strings.IndexByte(rest[i:], '}')
		if j < 0 {
			return Topic{}, fmt.Errorf("%w %q: '{' without '}'", ErrTopic, s)
		}
		name := rest[i+1 : i+j]
		switch name {
		case "dataset", "namespace", "index":
		default:
			return Topic{}, fmt.Errorf("%w %q: unknown placeholder {%s} (want {dataset}, {namespace} or {index})", ErrTopic, s, name)
		}
		parts = append(parts, rest[:i], name)
		rest = rest[i+j+1:]
	}
	for i := 0; i < len(parts); i += 2 {
		if err := checkTopicChars(parts[i]); err != nil {
			return Topic{}, fmt.Errorf("%w %q: %v", ErrTopic, s, err)
		}
	}
	t := Topic{parts: parts}
	if t.Static() && (s == "." || s == "..") {
		return Topic{}, fmt.Errorf("%w %q", ErrTopic, s)
	}
	if len(s) > maxTopicLen && t.Static() {
		return Topic{}, fmt.Errorf("%w %q: longer than %d bytes", ErrTopic, s, maxTopicLen)
	}
	return t, nil
}

// Static reports whether the topic has no placeholder.
func (t Topic) Static() bool { return len(t.parts) == 1 }

// String returns the template as given.
func (t Topic) String() string {
	var b strings.Builder
	for i, p := range t.parts {
		if i%2 == 1 {
			b.WriteString("{" + p + "}")
		} else {
			b.WriteString(p)
		}
	}
	return b.String()
}

const maxTopicLen = 249

// For returns the topic of a document bound for the data stream index
// (logs-<dataset>-<namespace>). Bytes Kafka does not allow in a topic name
// become '_'; a name longer than Kafka allows is cut.
func (t Topic) For(index string) string {
	if t.Static() {
		return t.parts[0]
	}
	dataset, namespace := splitIndex(index)
	var b strings.Builder
	for i, p := range t.parts {
		if i%2 == 0 {
			b.WriteString(p)
			continue
		}
		switch p {
		case "dataset":
			b.WriteString(dataset)
		case "namespace":
			b.WriteString(namespace)
		case "index":
			b.WriteString(index)
		}
	}
	out := []byte(b.String())
	for i, c := range out {
		if !topicChar(c) {
			out[i] = '_'
		}
	}
	if len(out) > maxTopicLen {
		out = out[:maxTopicLen]
	}
	return string(out)
}

// splitIndex splits logs-<dataset>-<namespace>. Datasets and namespaces
// contain no '-' (see package datastream).
func splitIndex(index string) (dataset, namespace string) {
	s := strings.TrimPrefix(index, "logs-")
	i := strings.LastIndexByte(s, '-')
	if i < 0 {
		return s, ""
	}
	return s[:i], s[i+1:]
}

func topicChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-'
}

func checkTopicChars(s string) error {
	for i := 0; i < len(s); i++ {
		if !topicChar(s[i]) {
			return fmt.Errorf("%q is not allowed in a topic name (allowed: letters, digits, '.', '_', '-')", s[i])
		}
	}
	return nil
}
