package forward

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"os"
	"os/exec"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/fluent/fluent-logger-golang/fluent"
)

// got is one decoded event, as the tests compare it.
type got struct {
	tag    string
	time   int64
	chunk  string
	record map[string]any
}

// testServer accepts connections on 127.0.0.1 and decodes them with a
// Decoder, in msgpack or JSON mode by the first byte, as Fluentd does. It
// answers every chunk with an ack, then sends each event on events.
type testServer struct {
	t      *testing.T
	ln     net.Listener
	events chan got
	errs   chan error
	badAck bool // answer chunks with a wrong ack
}

func newTestServer(t *testing.T) *testServer {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &testServer{t: t, ln: ln, events: make(chan got, 100), errs: make(chan error, 10)}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go s.serve(c)
		}
	}()
	return s
}

func (s *testServer) port() int { return s.ln.Addr().(*net.TCPAddr).Port }

func (s *testServer) serve(c net.Conn) {
	defer c.Close()
	d := NewDecoder(Limits{})
	var buf []byte
	rd := make([]byte, 512) // small reads: requests arrive split
	jsonMode := false
	for {
		if len(buf) > 0 {
			jsonMode = jsonMode || buf[0] == '{' || buf[0] == '['
			var req Request
			var n int
			var err error
			if jsonMode {
				req, n, err = d.DecodeJSON(buf)
			} else {
				req, n, err = d.Decode(buf)
			}
			if err == nil {
				for _, e := range req.Entries {
					g := got{tag: string(req.Tag), time: e.Time, chunk: string(req.Chunk)}
					members := JSONObjectMembers(e.Record)
					if req.Format == MsgpackRecord {
						if members, err = AppendRecordJSON(nil, e.Record); err != nil {
							s.errs <- fmt.Errorf("AppendRecordJSON: %v", err)
							return
						}
					}
					if err := json.Unmarshal([]byte("{"+string(members)+"}"), &g.record); err != nil {
						s.errs <- fmt.Errorf("record members %s: %v", members, err)
						return
					}
					s.events <- g
				}
				if req.Chunk != nil {
					if s.badAck {
						req.Chunk = []byte("wrong")
					}
					var ack []byte
					if jsonMode {
						ack = AppendJSONAck(nil, req.Chunk)
					} else {
						ack = AppendAck(nil, req.Chunk)
					}
					if _, err := c.Write(ack); err != nil {
						s.errs <- err
						return
					}
				}
				buf = buf[n:]
				continue
			}
			if err != ErrShortBuffer {
				s.errs <- err
				return
			}
		}
		k, err := c.Read(rd)
		buf = append(buf, rd[:k]...)
		if err != nil {
			if err != io.EOF || len(buf) > 0 {
				s.errs <- fmt.Errorf("read with %d bytes left: %v", len(buf), err)
			}
			return
		}
	}
}

func (s *testServer) next(t *testing.T) got {
	t.Helper()
	select {
	case g := <-s.events:
		return g
	case err := <-s.errs:
		t.Fatalf("server: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatalf("no event within 10s")
	}
	return got{}
}

// TestFluentLoggerGolang posts through the real client, in every wire
// variant, and decodes what it wrote.
func TestFluentLoggerGolang(t *testing.T) {
	when := time.Date(2024, 5, 6, 7, 8, 9, 123456789, time.UTC)
	stamp := time.Date(2025, 1, 2, 3, 4, 5, 600000000, time.FixedZone("CET", 3600))
	record := map[string]any{
		"msg":    "hello \"world\"\n",
		"bin":    []byte{0, 1, 2, 255},
		"when":   stamp,
		"nested": map[string]any{"a": 1, "list": []any{"x", 2.5, true}},
		"n":      42,
		"f":      1.5,
		"nil":    nil,
	}
	// Both encodings render []byte as base64 and time.Time as RFC 3339.
	wantRecord := map[string]any{
		"msg":    "hello \"world\"\n",
		"bin":    "AAEC/w==",
		"when":   stamp.UTC().Format(time.RFC3339Nano),
		"nested": map[string]any{"a": 1.0, "list": []any{"x", 2.5, true}},
		"n":      42.0,
		"f":      1.5,
		"nil":    nil,
	}
	for _, subSecond := range []bool{false, true} {
		for _, asJSON := range []bool{false, true} {
			for _, ack := range []bool{false, true} {
				name := fmt.Sprintf("subsecond=%v/json=%v/ack=%v", subSecond, asJSON, ack)
				t.Run(name, func(t *testing.T) {
					s := newTestServer(t)
					logger, err := fluent.New(fluent.Config{
						FluentHost: "127.0.0.1", FluentPort: s.port(),
						SubSecondPrecision: subSecond, MarshalAsJSON: asJSON, RequestAck: ack,
						Timeout: 5 * time.Second, ReadTimeout: 5 * time.Second, WriteTimeout: 5 * time.Second,
						MaxRetry: 1,
					})
					if err != nil {
						t.Fatal(err)
					}
					defer logger.Close()
					for i := 0; i < 3; i++ {
						if err := logger.PostWithTime("app.test", when, record); err != nil {
							t.Fatalf("post %d: %v", i, err)
						}
						g := s.next(t)
						if g.tag != "app.test" {
							t.Errorf("tag: got %q", g.tag)
						}
						wantTime := when.Unix() * 1e9
						if subSecond && !asJSON { // JSON mode always writes integer seconds
							wantTime = when.UnixNano()
						}
						if g.time != wantTime {
							t.Errorf("time: got %d, want %d", g.time, wantTime)
						}
						want := wantRecord
						if asJSON {
							// encoding/json keeps the zone offset; msgp's
							// ext 5 carries none, so we render UTC.
							want = maps.Clone(wantRecord)
							want["when"] = stamp.Format(time.RFC3339Nano)
						}
						if !reflect.DeepEqual(g.record, want) {
							t.Errorf("record:\ngot  %v\nwant %v", g.record, want)
						}
						if !ack {
							if g.chunk != "" {
								t.Errorf("chunk without RequestAck: %q", g.chunk)
							}
							continue
						}
						// The chunk is base64 of 16 bytes: Unix seconds
						// int64 little-endian, then a random uint64. The
						// client checks our echo: Post returning nil
						// proves it matched.
						raw, err := base64.StdEncoding.DecodeString(g.chunk)
						if err != nil || len(raw) != 16 || int64(binary.LittleEndian.Uint64(raw)) != when.Unix() {
							t.Errorf("chunk %q: %x, %v", g.chunk, raw, err)
						}
					}
				})
			}
		}
	}
}

// TestFluentLoggerGolangWrongAck shows the ack check above means something:
// the client rejects an ack that does not echo its chunk.
func TestFluentLoggerGolangWrongAck(t *testing.T) {
	s := newTestServer(t)
	s.badAck = true
	logger, err := fluent.New(fluent.Config{FluentHost: "127.0.0.1", FluentPort: s.port(), RequestAck: true,
		MaxRetry: 1, ReadTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer logger.Close()
	if err := logger.Post("app", map[string]string{"a": "b"}); err == nil {
		t.Fatal("Post succeeded with a wrong ack")
	}
}

// TestFluentLoggerGolangDockerShape sends what Docker's fluentd driver sends:
// a map[string]string with a log line longer than one read.
func TestFluentLoggerGolangDockerShape(t *testing.T) {
	s := newTestServer(t)
	logger, err := fluent.New(fluent.Config{FluentHost: "127.0.0.1", FluentPort: s.port(), SubSecondPrecision: true, MaxRetry: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer logger.Close()
	line := `{"level":"info","msg":"` + strings.Repeat("x", 20000) + `"}`
	rec := map[string]string{"container_id": strings.Repeat("a", 64), "container_name": "/web-1", "source": "stdout",
		"log": line, "com.example.team": "pay"}
	if err := logger.Post("docker.aaaaaaaaaaaa", rec); err != nil {
		t.Fatal(err)
	}
	g := s.next(t)
	if g.record["log"] != line || g.record["container_name"] != "/web-1" || len(g.record) != 5 {
		t.Errorf("record: got %d members, container_name %v", len(g.record), g.record["container_name"])
	}
}

// pythonWithFluent finds a python3 that can import fluent.sender (Debian's
// python3-fluent-logger installs for /usr/bin/python3, which a pyenv shim on
// PATH may hide).
func pythonWithFluent() (string, error) {
	var tried []string
	for _, p := range []string{"python3", "/usr/bin/python3"} {
		path, err := exec.LookPath(p)
		if err != nil {
			tried = append(tried, p+": not found")
			continue
		}
		if out, err := exec.Command(path, "-c", "import fluent.sender").CombinedOutput(); err != nil {
			tried = append(tried, fmt.Sprintf("%s: %v: %s", path, err, bytes.TrimSpace(out)))
			continue
		}
		return path, nil
	}
	return "", errors.New(strings.Join(tried, "; "))
}

// TestPythonFluentLogger sends through Python's fluent-logger (Debian
// python3-fluent-logger): Message mode with 3 elements and no option map.
func TestPythonFluentLogger(t *testing.T) {
	py, err := pythonWithFluent()
	if err != nil {
		msg := "python3 with the fluent module (Debian python3-fluent-logger) not available: " + err.Error()
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	s := newTestServer(t)
	script := fmt.Sprintf(`
import sys
from fluent import sender
s = sender.FluentSender('app', host='127.0.0.1', port=%d, nanosecond_precision=True)
rec = {'msg': 'h\u00e9llo', 'n': 1, 'f': 1.5, 'b': b'\x00\x01', 'l': [1, 'a'], 'd': {'k': None}}
ok = s.emit_with_time('ns', 1700000000.25, rec)
ok = s.emit('now', {'x': 1}) and ok
if not ok:
    print(s.last_error, file=sys.stderr); sys.exit(1)
s.close()
s = sender.FluentSender('app', host='127.0.0.1', port=%d)
if not s.emit_with_time('sec', 1700000000, {'y': 2}):
    print(s.last_error, file=sys.stderr); sys.exit(1)
s.close()
`, s.port(), s.port())
	if out, err := exec.Command(py, "-c", script).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v: %s", py, err, out)
	}
	// Two connections: events of different connections may come in any order.
	byTag := map[string]got{}
	for i := 0; i < 3; i++ {
		g := s.next(t)
		byTag[g.tag] = g
	}
	g := byTag["app.ns"]
	want := map[string]any{"msg": "h\u00e9llo", "n": 1.0, "f": 1.5, "b": "AAE=", "l": []any{1.0, "a"}, "d": map[string]any{"k": nil}}
	if g.time != t0n+250000000 || !reflect.DeepEqual(g.record, want) || g.chunk != "" {
		t.Errorf("got %+v, want tag app.ns, time %d, record %v", g, t0n+250000000, want)
	}
	g = byTag["app.now"]
	if now := time.Now().UnixNano(); g.time < now-60e9 || g.time > now {
		t.Errorf("got %+v, want tag app.now and a recent time", g)
	}
	g = byTag["app.sec"]
	if g.time != t0n || g.record["y"] != 2.0 {
		t.Errorf("got %+v, want tag app.sec, time %d", g, int64(t0n))
	}
}
