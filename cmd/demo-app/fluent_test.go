package main

import (
	"bytes"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

type fakePoster struct {
	tag  string
	tm   time.Time
	recs []map[string]any
}

func (f *fakePoster) PostWithTime(tag string, tm time.Time, message any) error {
	f.tag, f.tm = tag, tm
	f.recs = append(f.recs, message.(map[string]any))
	return nil
}

func (f *fakePoster) Close() error { return nil }

func TestFluentWriterRecord(t *testing.T) {
	fp := &fakePoster{}
	w := &fluentWriter{f: fp, tag: "demo-app", stderr: io.Discard}
	log := newLogger(w)
	log.Info().Int("http.response.status_code", 200).Float64("ratio", 0.5).
		Str("error.stack_trace", "a\nb").Msg("hello")
	if len(fp.recs) != 1 {
		t.Fatalf("posted %d records, want 1", len(fp.recs))
	}
	r := fp.recs[0]
	if fp.tag != "demo-app" {
		t.Errorf("tag %q, want demo-app", fp.tag)
	}
	if r["message"] != "hello" || r["level"] != "info" || r["service.name"] != "demo-app" {
		t.Errorf("record %v: want message hello, level info, service.name demo-app", r)
	}
	if v, ok := r["http.response.status_code"].(int64); !ok || v != 200 {
		t.Errorf("status code %#v, want int64 200", r["http.response.status_code"])
	}
	if v, ok := r["ratio"].(float64); !ok || v != 0.5 {
		t.Errorf("ratio %#v, want float64 0.5", r["ratio"])
	}
	if r["error.stack_trace"] != "a\nb" {
		t.Errorf("stack trace %q, want the newline kept", r["error.stack_trace"])
	}
	if d := time.Since(fp.tm); d > time.Minute || d < 0 {
		t.Errorf("record time %v, want the event's time", fp.tm)
	}
}

func TestFluentWriterRejectsGarbage(t *testing.T) {
	w := &fluentWriter{f: &fakePoster{}, tag: "x", stderr: io.Discard}
	if _, err := w.Write([]byte("not json\n")); err == nil {
		t.Error("Write(not json) succeeded, want an error")
	}
}

func TestNewFluentWriterAddress(t *testing.T) {
	for _, bad := range []string{"nohost", "host:port", "host:0", "host:70000"} {
		if _, err := newFluentWriter(bad, "t", io.Discard); err == nil || !strings.Contains(err.Error(), "FLUENT_ADDRESS") {
			t.Errorf("newFluentWriter(%q) error = %v, want one naming FLUENT_ADDRESS", bad, err)
		}
	}
}

// TestFluentWriterSends checks that a record reaches a TCP server in
// Forward mode: the msgpack bytes hold the tag and the message.
func TestFluentWriterSends(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := make(chan []byte, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		var buf bytes.Buffer
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		tmp := make([]byte, 4096)
		for !bytes.Contains(buf.Bytes(), []byte("sent over forward")) {
			n, err := c.Read(tmp)
			buf.Write(tmp[:n])
			if err != nil {
				break
			}
		}
		got <- buf.Bytes()
	}()
	w, err := newFluentWriter(ln.Addr().String(), "demo-app", io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	log := newLogger(w)
	log.Info().Msg("sent over forward")
	closeFluent(w, io.Discard)
	select {
	case b := <-got:
		for _, want := range []string{"demo-app", "sent over forward", "service.name"} {
			if !bytes.Contains(b, []byte(want)) {
				t.Errorf("forward message lacks %q: %q", want, b)
			}
		}
	case <-time.After(15 * time.Second):
		t.Fatal("no forward message received")
	}
}
