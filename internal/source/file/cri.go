package file

import (
	"bytes"

	"shipper/internal/parse"
)

// CRILine is one parsed line of a CRI log file
// ("<RFC3339Nano time> <stdout|stderr> <P|F>[:tags] <content>").
type CRILine struct {
	Time   int64 // Unix nanoseconds
	Stream Stream
	// Partial is true for a "P" piece: the record continues on a later line
	// of the same stream.
	Partial bool
	// Content is a view into the line passed to ParseCRI.
	Content []byte
}

// ParseCRI parses one CRI log line (without its '\n'). It does not allocate.
//
// The time may have 0 to 9 fraction digits and a 'Z' or numeric offset
// (containerd writes RFC3339Nano in the node's zone, CRI-O 9 digits and
// "+00:00"); it is parsed by parse.ParseTime. The tag field is "P" or "F", optionally followed by ":" and more
// tags, which are ignored. A line that ends right after the tag field, with or
// without the separating space, has empty content. ok is false when the line
// does not have this shape.
func ParseCRI(line []byte) (l CRILine, ok bool) {
	sp := bytes.IndexByte(line, ' ')
	if sp < 0 {
		return l, false
	}
	t, ok := parse.ParseTime(line[:sp])
	if !ok {
		return l, false
	}
	rest := line[sp+1:]
	switch {
	case len(rest) >= 7 && string(rest[:7]) == "stdout ":
		l.Stream = StreamStdout
	case len(rest) >= 7 && string(rest[:7]) == "stderr ":
		l.Stream = StreamStderr
	default:
		return l, false
	}
	rest = rest[7:]
	if len(rest) == 0 {
		return l, false
	}
	switch rest[0] {
	case 'P':
		l.Partial = true
	case 'F':
	default:
		return l, false
	}
	rest = rest[1:]
	if len(rest) > 0 && rest[0] == ':' {
		// More tags: skip to the separator.
		i := bytes.IndexByte(rest, ' ')
		if i < 0 {
			i = len(rest)
		}
		rest = rest[i:]
	}
	switch {
	case len(rest) == 0:
	case rest[0] == ' ':
		l.Content = rest[1:]
	default:
		return l, false
	}
	l.Time = t
	return l, true
}
