package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"strconv"
	"time"

	"github.com/fluent/fluent-logger-golang/fluent"
	"github.com/rs/zerolog"
)

// poster is the part of *fluent.Fluent the writer uses.
type poster interface {
	PostWithTime(tag string, tm time.Time, message any) error
	Close() error
}

// fluentWriter is a zerolog output that sends each log event to a Fluent
// Forward server as one record: the event's JSON object decoded into a map
// (numbers stay numbers), with the event time taken from its "time" key.
//
// zerolog calls Write once per event with exactly one JSON object, which is
// what Write relies on. Sending is asynchronous (fluent-logger's Async mode:
// a bounded buffer drained by one goroutine that reconnects with backoff);
// Write returns an error only when the record cannot be decoded or the
// buffer is full, and zerolog then reports it on stderr. Close flushes.
type fluentWriter struct {
	f      poster
	tag    string
	stderr io.Writer
}

// newFluentWriter connects lazily to address (host:port) and posts records
// with tag. Delivery errors of the background sender go to stderr.
func newFluentWriter(address, tag string, stderr io.Writer) (*fluentWriter, error) {
	host, portStr, err := net.SplitHostPort(address)
	if err != nil {
		return nil, fmt.Errorf("FLUENT_ADDRESS=%q: want host:port: %w", address, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port <= 0 || port > 65535 {
		return nil, fmt.Errorf("FLUENT_ADDRESS=%q: %q is not a port number", address, portStr)
	}
	f, err := fluent.New(fluent.Config{
		FluentHost:         host,
		FluentPort:         port,
		Async:              true,
		SubSecondPrecision: true, // EventTime with nanoseconds, like the line's own time
		AsyncResultCallback: func(_ []byte, err error) {
			if err != nil {
				fmt.Fprintf(stderr, "demo-app: cannot send a log record to Fluent at %s: %v\n", address, err)
			}
		},
	})
	if err != nil {
		return nil, fmt.Errorf("cannot set up the Fluent logger for %s: %w", address, err)
	}
	return &fluentWriter{f: f, tag: tag, stderr: stderr}, nil
}

// Write decodes one JSON object and posts it. p is not retained.
func (w *fluentWriter) Write(p []byte) (int, error) {
	rec, err := decodeRecord(p)
	if err != nil {
		return 0, fmt.Errorf("cannot decode log event for Fluent: %w", err)
	}
	tm := time.Now()
	if s, ok := rec[zerolog.TimestampFieldName].(string); ok {
		if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
			tm = t
		}
	}
	if err := w.f.PostWithTime(w.tag, tm, rec); err != nil {
		return 0, err
	}
	return len(p), nil
}

// decodeRecord turns one JSON object into a map whose numbers are int64
// when integral and float64 otherwise (msgpack would encode json.Number as
// a string).
func decodeRecord(p []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(p))
	dec.UseNumber()
	var rec map[string]any
	if err := dec.Decode(&rec); err != nil {
		return nil, err
	}
	for k, v := range rec {
		rec[k] = convertNumbers(v)
	}
	return rec, nil
}

func convertNumbers(v any) any {
	switch x := v.(type) {
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i
		}
		f, _ := x.Float64()
		return f
	case map[string]any:
		for k, e := range x {
			x[k] = convertNumbers(e)
		}
	case []any:
		for i, e := range x {
			x[i] = convertNumbers(e)
		}
	}
	return v
}

// closeFluent flushes and closes w (nil is fine), giving up after 5 s when
// the server is unreachable: records still buffered then are lost, and
// that is said on stderr.
func closeFluent(w *fluentWriter, stderr io.Writer) {
	if w == nil {
		return
	}
	done := make(chan error, 1)
	go func() { done <- w.f.Close() }()
	select {
	case err := <-done:
		if err != nil {
			fmt.Fprintf(stderr, "demo-app: closing the Fluent logger: %v\n", err)
		}
	case <-time.After(5 * time.Second):
		fmt.Fprintln(stderr, "demo-app: the Fluent server did not take the last log records within 5s; they are lost")
	}
}
