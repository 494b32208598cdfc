package file

import (
	"bytes"
	"regexp"
	"time"
)

// DefaultMultilineMaxLines is the default line limit of a multiline group.
const DefaultMultilineMaxLines = 500

// MultilineConfig configures a Multiline joiner.
type MultilineConfig struct {
	// Start matches the first line of a record; every line that does not
	// match continues the record before it. When nil, the default rule
	// applies (see Multiline).
	Start *regexp.Regexp
	// MaxLines ends a group after this many lines; the next continuation
	// line starts a new group (nothing is dropped). Default
	// DefaultMultilineMaxLines.
	MaxLines int
	// MaxBytes caps a group's Content; the rest is counted in Size and the
	// record flagged Truncated. Default DefaultMaxRecordBytes.
	MaxBytes int
	// Timeout is how long a group may stay pending without a next start line
	// before Decoder.Expire ends it. The joiner does not watch the clock: its
	// caller drives the timeout.
	Timeout time.Duration
	// Budget, when not nil, is charged for the group buffers; past it a
	// group is cut and flagged truncated (see Budget).
	Budget *Budget
}

// Multiline joins the continuation lines of stack traces and similar
// multi-line messages to the line that starts them. It is pure: no clock, no
// goroutine; the caller passes the time with each line and drives the flush
// timeout with Pending, PendingSince and Flush. One Multiline serves one
// stream: interleaved stdout and stderr need one each (Decoder does that).
//
// The default rule, used when MultilineConfig.Start is nil: a line continues
// the current group if it
//   - starts with a space or a tab (Java "\tat …" and "\t... N more", Python
//     "  File …" frames, Go "\t/path/file.go:12 +0x1d" frames, Node
//     "    at …");
//   - starts with "Caused by: " or is "... N more" (Java);
//   - ends a Python traceback (a group started by "Traceback (most recent
//     call last):"): the "XxxError: msg" line, then a blank line and "During
//     handling of the above exception…" or "The above exception was the
//     direct cause…" chaining into the next "Traceback";
//   - is part of a Go panic (a group started by "panic: " or "fatal error: "):
//     blank lines, "[signal …", "goroutine N [state]:" headers, function lines
//     "pkg.Func(…)" and "created by …".
//
// Every other line starts a new group. Java's "Exception in thread …" or
// "java.lang.X: msg" line therefore starts the group of its frames; the
// logger's message line before it stays separate unless Start is set (for
// example to `^\d{4}-\d{2}-\d{2}` for timestamped logs).
type Multiline struct {
	cfg       MultilineConfig
	cur, prev mlGroup // cur is the open group; prev backs the last record returned
	mode      mlMode
}

type mlGroup struct {
	joiner
	stream Stream
	lines  int
	since  int64
	end    int64
}

type mlMode uint8

const (
	mlNone        mlMode = iota
	mlPython             // after "Traceback …": frames until the exception line
	mlPythonEnd          // after the exception line: a blank line may lead to a chained traceback
	mlPythonBlank        // after that blank line: "During handling…"/"The above exception…"
	mlPythonChain        // after those: blank lines and the next "Traceback …"
	mlGoPanic            // after "panic: …": blank lines, "[signal …", goroutine headers
	mlGoStack            // in a goroutine's frames
)

// NewMultiline returns a joiner with cfg's zero fields set to their defaults.
func NewMultiline(cfg MultilineConfig) *Multiline {
	if cfg.MaxLines <= 0 {
		cfg.MaxLines = DefaultMultilineMaxLines
	}
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = DefaultMaxRecordBytes
	}
	m := &Multiline{cfg: cfg}
	m.cur.mem, m.prev.mem = cfg.Budget, cfg.Budget
	return m
}

// release gives the group buffers back to the budget. The joiner must not
// be used afterwards.
func (m *Multiline) release() {
	m.cur.release()
	m.prev.release()
}

// Add offers the next record (a line) of the stream, read at time now
// (nanoseconds on any clock, used only by PendingSince). rec.Content is
// copied; rec.Start and rec.End are its offsets. When rec starts a new group,
// Add returns the group it ended. The returned record's views are valid until
// the next call to Add or Flush.
func (m *Multiline) Add(rec Record, now int64) (Record, bool) {
	cont := m.continues(rec.Content)
	if m.cur.open && cont && m.cur.lines < m.cfg.MaxLines {
		m.cur.add(newline, 1, m.cfg.MaxBytes)
		m.cur.add(rec.Content, rec.Size, m.cfg.MaxBytes)
		m.cur.flags |= rec.Flags
		m.cur.lines++
		m.cur.end = rec.End
		return Record{}, false
	}
	var out Record
	ended := m.cur.open
	if ended {
		out = m.end()
	}
	g := &m.cur
	g.begin(rec.Time, rec.Start)
	g.attrs = append(g.attrs, rec.Attrs...)
	g.add(rec.Content, rec.Size, m.cfg.MaxBytes)
	g.flags |= rec.Flags
	g.stream = rec.Stream
	g.lines = 1
	g.since = now
	g.end = rec.End
	return out, ended
}

var newline = []byte{'\n'}

// end closes the open group and returns it; the buffers swap so that the
// record stays valid while the next group fills.
func (m *Multiline) end() Record {
	m.prev, m.cur = m.cur, m.prev
	return m.prev.record(m.prev.stream, m.prev.end)
}

// Flush ends the pending group, if any, and returns it. The record's views are
// valid until the next call to Add or Flush.
func (m *Multiline) Flush() (Record, bool) {
	m.mode = mlNone
	if !m.cur.open {
		return Record{}, false
	}
	return m.end(), true
}

// Pending reports whether a group is open.
func (m *Multiline) Pending() bool { return m.cur.open }

// PendingSince returns the now passed with the first line of the open group.
func (m *Multiline) PendingSince() int64 { return m.cur.since }

// PendingStart returns the file offset of the open group's first line.
func (m *Multiline) PendingStart() int64 { return m.cur.start }

// continues classifies line: true if it continues the current group. For a
// start line it sets the mode from the line.
func (m *Multiline) continues(l []byte) bool {
	if m.cfg.Start != nil {
		return !m.cfg.Start.Match(l)
	}
	if len(l) > 0 && (l[0] == ' ' || l[0] == '\t') {
		return true
	}
	switch m.mode {
	case mlPython:
		if isPythonException(l) {
			m.mode = mlPythonEnd
			return true
		}
	case mlPythonEnd:
		if len(l) == 0 {
			m.mode = mlPythonBlank
			return true
		}
	case mlPythonBlank:
		if bytes.HasPrefix(l, []byte("During handling of the above exception")) ||
			bytes.HasPrefix(l, []byte("The above exception was the direct cause")) {
			m.mode = mlPythonChain
			return true
		}
	case mlPythonChain:
		if len(l) == 0 {
			return true
		}
		if bytes.HasPrefix(l, []byte("Traceback (most recent call last):")) {
			m.mode = mlPython
			return true
		}
	case mlGoPanic:
		if len(l) == 0 || l[0] == '[' {
			return true
		}
		if isGoroutineHeader(l) {
			m.mode = mlGoStack
			return true
		}
	case mlGoStack:
		if len(l) == 0 {
			m.mode = mlGoPanic
			return true
		}
		if isGoFrame(l) || bytes.HasPrefix(l, []byte("created by ")) {
			return true
		}
	}
	if bytes.HasPrefix(l, []byte("Caused by: ")) || isJavaMore(l) {
		return true
	}
	switch {
	case bytes.HasPrefix(l, []byte("Traceback (most recent call last):")):
		m.mode = mlPython
	case bytes.HasPrefix(l, []byte("panic: ")), bytes.HasPrefix(l, []byte("fatal error: ")):
		m.mode = mlGoPanic
	case isGoroutineHeader(l):
		m.mode = mlGoStack
	default:
		m.mode = mlNone
	}
	return false
}

// isPythonException matches the last line of a traceback: a (dotted) class
// name, alone or followed by ": message" ("KeyError: 'x'",
// "requests.exceptions.ConnectionError: …", "KeyboardInterrupt").
func isPythonException(l []byte) bool {
	if len(l) == 0 || !(isLetter(l[0]) || l[0] == '_') {
		return false
	}
	for i := 1; i < len(l); i++ {
		c := l[i]
		switch {
		case isLetter(c) || isDigit(c) || c == '_' || c == '.':
		case c == ':':
			return i+1 == len(l) || l[i+1] == ' '
		default:
			return false
		}
	}
	return true
}

func isLetter(c byte) bool { return (c|0x20)-'a' < 26 }

// isGoroutineHeader matches "goroutine 1 [running]:".
func isGoroutineHeader(l []byte) bool {
	rest, ok := bytes.CutPrefix(l, []byte("goroutine "))
	if !ok {
		return false
	}
	i := 0
	for i < len(rest) && isDigit(rest[i]) {
		i++
	}
	return i > 0 && i < len(rest) && rest[i] == ' ' && bytes.HasSuffix(rest, []byte("]:")) &&
		len(rest) > i+1 && rest[i+1] == '['
}

// isGoFrame matches a function line of a goroutine stack:
// "main.main()", "net/http.(*conn).serve(0xc000…)", "panic({0x4a…})".
func isGoFrame(l []byte) bool {
	p := bytes.IndexByte(l, '(')
	return p > 0 && l[len(l)-1] == ')' && bytes.IndexByte(l[:p], ' ') < 0
}

// isJavaMore matches "... 12 more".
func isJavaMore(l []byte) bool {
	rest, ok := bytes.CutPrefix(l, []byte("... "))
	if !ok {
		return false
	}
	rest, ok = bytes.CutSuffix(rest, []byte(" more"))
	if !ok || len(rest) == 0 {
		return false
	}
	for _, c := range rest {
		if !isDigit(c) {
			return false
		}
	}
	return true
}
