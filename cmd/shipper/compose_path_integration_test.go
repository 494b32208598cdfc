//go:build integration

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fluent/fluent-logger-golang/fluent"
	"github.com/tinylib/msgp/msgp"

	"shipper/internal/testutil/estest"
)

// The tests in this file reproduce the data path of docker-compose.yml
// without Docker: demo-app logs -> Fluent Forward -> `shipper run
// --input=forward` -> logs-demo-<namespace>, then check the documents and
// what the Kibana saved objects need of them.
//
// In docker-compose.yml the demo app writes JSON lines to stdout and Docker's
// fluentd logging driver wraps each line as {container_id, container_name,
// source, log}; TestComposePathDockerDriver sends exactly that shape. The
// demo app's own FLUENT_ADDRESS mode sends each log event as a structured
// map (the zerolog keys as record members, no "log" string);
// TestComposePathDemoAppForward runs it unchanged.

// composeShipper is a shipper process run as docker-compose.yml runs it: the
// Forward input alone, dataset demo, templates auto.
type composeShipper struct {
	cmd  *exec.Cmd
	port int
	logs *logLines
}

// startComposeShipper starts the shipper with the race detector, listening
// for Forward on a free loopback port, writing to logs-demo-<ns>, and
// returns once the Forward input listens. The process is killed with ctx.
func startComposeShipper(t *testing.T, ctx context.Context, ns string) *composeShipper {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	cmd := exec.CommandContext(ctx, shipperBinary(t, true), "run", "--input=forward",
		"--forward-address=127.0.0.1:"+strconv.Itoa(port), "--dataset=demo", "--namespace="+ns,
		"--templates=auto", "--flush-interval=200ms",
		"--shutdown-timeout=8m") // generous: a busy machine delivers slowly after SIGTERM
	cmd.Env = append(cmd.Environ(), "ELASTICSEARCH_URL="+estest.URL(t))
	stderr := logsOf(cmd)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &composeShipper{cmd: cmd, port: port, logs: stderr}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("shipper log:\n%s", s.logs)
		}
	})
	for deadline := time.Now().Add(5 * time.Minute); s.logs.find("Fluent Forward input listening") == nil; {
		if time.Now().After(deadline) {
			t.Fatal("the forward input did not start listening within 30s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	return s
}

// stop sends SIGTERM, as `docker compose stop` does, and returns the
// shipper's final log line after checking that it exited with 0.
func (s *composeShipper) stop(t *testing.T) map[string]any {
	t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	err := s.cmd.Wait()
	<-s.logs.done
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatal(err)
	}
	if code := s.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("shipper exit code %d after SIGTERM, want 0", code)
	}
	sum := s.logs.find("shipper stopped")
	if sum == nil {
		t.Fatal("no final log line")
	}
	for _, k := range []string{"lost", "forward.invalid_entries", "forward.bad_time", "forward.unsupported", "forward.dropped",
		"forward.malformed_json", "forward.invalid_utf8", "forward.truncated", "forward.incomplete"} {
		if got := num(sum, k); got != 0 {
			t.Errorf("final log line: %s is %d, want 0", k, got)
		}
	}
	return sum
}

// waitMatches waits until index holds at least n documents matching query
// (a query clause, "" for all), saying every 30s how far it got. The limit
// of 10 minutes is generous: a busy machine makes this slower, not red.
func waitMatches(t *testing.T, index, query string, n int) {
	t.Helper()
	start, last := time.Now(), time.Now()
	for deadline := start.Add(10 * time.Minute); ; {
		estest.Refresh(t, index)
		got := estest.Count(t, index, query)
		if got >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d documents match %s after %s, want %d", index, got, query, time.Since(start).Round(time.Second), n)
		}
		if time.Since(last) >= 30*time.Second {
			t.Logf("%s: %d of %d documents match %s after %s; waiting", index, got, n, query, time.Since(start).Round(time.Second))
			last = time.Now()
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// rejectedLine is a demo-app-like line Elasticsearch rejects (duplicate
// keys): it goes to the dead-letter stream, which the Kibana "Dead letters"
// view reads, so that every field kibana.FieldsUsed lists has a stream.
const rejectedLine = `{"level":"error","message":"duplicate keys","service.name":"demo-app","a":{"b":1,"b":2}}`

// checkDeadLetter checks that the dead-letter stream of ns holds exactly the
// one rejected record.
func checkDeadLetter(t *testing.T, ns string) {
	t.Helper()
	dead := "logs-shipper.deadletter-" + ns
	estest.Refresh(t, dead)
	docs := estest.Sources(t, dead, `{"size":100}`)
	if len(docs) != 1 {
		t.Fatalf("%s: %d dead letters, want only the 1 rejected record: %.3000v", dead, len(docs), docs)
	}
	src := docs[0]
	if orig, _ := src["event.original"].(string); !strings.Contains(orig, "duplicate keys") {
		t.Errorf("dead letter event.original %q, want the rejected record", orig)
	}
	if target, _ := src["labels.target_index"].(string); target != "logs-demo-"+ns {
		t.Errorf("dead letter labels.target_index %q, want logs-demo-%s", target, ns)
	}
}

// shippedDoc is one document as Elasticsearch returns it: the _source with
// numbers as json.Number (so that a number is told from a numeric string),
// and the indexed value of @timestamp at nanosecond precision.
type shippedDoc struct {
	src map[string]any
	ts  time.Time
}

// fetchDocs returns every document of index (at most 10,000), oldest first.
func fetchDocs(t *testing.T, index string) []shippedDoc {
	t.Helper()
	estest.Refresh(t, index)
	b := estest.MustDo(t, http.MethodPost, "/"+index+"/_search",
		`{"size":10000,"sort":[{"@timestamp":"asc"}],"docvalue_fields":[{"field":"@timestamp","format":"strict_date_optional_time_nanos"}]}`)
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var r struct {
		Hits struct {
			Hits []struct {
				Source map[string]any      `json:"_source"`
				Fields map[string][]string `json:"fields"`
			} `json:"hits"`
		} `json:"hits"`
	}
	if err := dec.Decode(&r); err != nil {
		t.Fatal(err)
	}
	docs := make([]shippedDoc, 0, len(r.Hits.Hits))
	for _, h := range r.Hits.Hits {
		d := shippedDoc{src: h.Source}
		if v := h.Fields["@timestamp"]; len(v) == 1 {
			ts, err := time.Parse(time.RFC3339Nano, v[0])
			if err != nil {
				t.Fatalf("@timestamp doc value %q: %v", v[0], err)
			}
			d.ts = ts
		}
		docs = append(docs, d)
	}
	return docs
}

// demoStats sums up the documents checkDemoDocs saw.
type demoStats struct {
	requests  int            // one per answered request (url.path set)
	failures  int            // "checkout failed" records
	levels    map[string]int // by log.level
	lifecycle map[string]int // documents without url.path, by message
	loadSent  int64          // load.sent of the load generator's summary, -1 if none
}

// checkDemoDocs checks that every document of the demo app has its fields
// as proper, typed top-level fields: @timestamp with sub-second precision,
// log.level, service.name, message, and for requests http.request.method,
// url.path, a numeric http.response.status_code that agrees with the
// message; failed checkouts with their error.* fields; and that nothing
// stayed a JSON string under "log", nor a raw time or level member.
func checkDemoDocs(t *testing.T, index string, docs []shippedDoc) demoStats {
	t.Helper()
	st := demoStats{levels: map[string]int{}, lifecycle: map[string]int{}, loadSent: -1}
	bad, subMilli := 0, 0
	fail := func(i int, format string, args ...any) {
		bad++
		if bad <= 10 {
			t.Errorf("document %d: "+format+"\n_source: %v", append(append([]any{i}, args...), docs[i].src)...)
		}
	}
	str := func(src map[string]any, k string) string { s, _ := src[k].(string); return s }
	for i, d := range docs {
		src := d.src
		switch {
		case d.ts.IsZero():
			fail(i, "no @timestamp doc value")
		case d.ts.Nanosecond() == 0:
			fail(i, "@timestamp %s has no sub-second part", d.ts.Format(time.RFC3339Nano))
		case d.ts.Nanosecond()%int(time.Millisecond) != 0:
			subMilli++
		}
		for _, k := range []string{"log", "time", "level"} {
			if v, ok := src[k]; ok {
				fail(i, "has %q = %v: the line was not parsed into fields", k, v)
			}
		}
		level := str(src, "log.level")
		switch level {
		case "info", "warn", "error":
			st.levels[level]++
		default:
			fail(i, "log.level %v, want info, warn or error", src["log.level"])
		}
		if got := str(src, "service.name"); got != "demo-app" {
			fail(i, "service.name %v, want demo-app", src["service.name"])
		}
		msg := str(src, "message")
		if msg == "" {
			fail(i, "no message")
		}
		if msg == "checkout failed" {
			st.failures++
			stack := str(src, "error.stack_trace")
			if level != "error" || str(src, "error.message") == "" || str(src, "error.type") == "" ||
				str(src, "trace.id") == "" || strings.Count(stack, "\n") < 2 {
				fail(i, "a failed checkout wants log.level error, error.message, error.type, trace.id and a multi-line error.stack_trace")
			}
			continue
		}
		if _, ok := src["url.path"]; !ok {
			st.lifecycle[msg]++
			if n, ok := src["load.sent"].(json.Number); ok {
				st.loadSent, _ = n.Int64()
			}
			continue
		}
		st.requests++
		method, path := str(src, "http.request.method"), str(src, "url.path")
		code, ok := src["http.response.status_code"].(json.Number)
		if !ok {
			fail(i, "http.response.status_code %#v is not a JSON number", src["http.response.status_code"])
			continue
		}
		if want := fmt.Sprintf("%s %s %s", method, path, code); method == "" || path == "" || msg != want {
			fail(i, "message %q, want %q from http.request.method, url.path and http.response.status_code", msg, want)
		}
		for _, k := range []string{"event.duration", "http.response.bytes"} {
			if _, ok := src[k].(json.Number); !ok {
				fail(i, "%s %#v is not a JSON number", k, src[k])
			}
		}
	}
	if bad > 10 {
		t.Errorf("... %d bad documents in all", bad)
	}
	// zerolog writes nanoseconds: whole milliseconds (1 in a million by
	// chance) for many documents mean the precision was cut on the way.
	if subMilli < len(docs)*9/10 {
		t.Errorf("%s: only %d of %d documents have a @timestamp finer than a millisecond", index, subMilli, len(docs))
	}
	if st.requests == 0 {
		t.Errorf("%s: no request documents among %d", index, len(docs))
	}

	// The same seen by Elasticsearch's queries: the fields are indexed
	// with types that filter and aggregate (keyword, long, date_nanos).
	total := len(docs)
	f := func(query string, want int) {
		t.Helper()
		if got := estest.Count(t, index, query); got != want {
			t.Errorf("%s: %d documents match %s, want %d", index, got, query, want)
		}
	}
	f(`{"terms":{"log.level":["info","warn","error"]}}`, total)
	f(`{"term":{"service.name":"demo-app"}}`, total)
	f(`{"range":{"http.response.status_code":{"gte":100,"lte":599}}}`, st.requests)
	f(`{"exists":{"field":"url.path"}}`, st.requests)
	if len(docs) > 1 {
		// date_nanos: a range between two neighbours' nanosecond
		// timestamps finds exactly the documents in between.
		a, b := docs[0].ts, docs[len(docs)-1].ts
		f(fmt.Sprintf(`{"range":{"@timestamp":{"gte":%q,"lte":%q}}}`, a.Format(time.RFC3339Nano), b.Format(time.RFC3339Nano)), total)
		if a.Add(time.Nanosecond).Before(b) {
			f(fmt.Sprintf(`{"range":{"@timestamp":{"gt":%q}}}`, a.Format(time.RFC3339Nano)), total-countTime(docs, a))
		}
	}
	return st
}

func countTime(docs []shippedDoc, ts time.Time) int {
	n := 0
	for _, d := range docs {
		if d.ts.Equal(ts) {
			n++
		}
	}
	return n
}

// TestComposePathDemoAppForward runs the demo app in its FLUENT_ADDRESS
// mode (fluent-logger-golang, async, EventTime with nanoseconds; each log
// event sent as a structured map) against `shipper run --input=forward`,
// then one record Elasticsearch rejects, then stops the shipper with
// SIGTERM. Every record the shipper received is a document (none lost, the
// demo app reported no send error, its first and last records are there),
// the demo app's fields are proper typed fields, the one rejected record is
// the only dead letter, and Kibana's fields are mapped and filled.
func TestComposePathDemoAppForward(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute) // against a hang, not a pass criterion
	defer cancel()
	ns := estest.Unique("composefwd")
	index := "logs-demo-" + ns
	sh := startComposeShipper(t, ctx, ns)

	demo := exec.CommandContext(ctx, demoAppBinary(t), "--load", "--rate=200", "--duration=3s")
	demo.Env = append(os.Environ(), "PORT=0", "FLUENT_ADDRESS=127.0.0.1:"+strconv.Itoa(sh.port))
	var demoOut, demoErr bytes.Buffer
	demo.Stdout, demo.Stderr = &demoOut, &demoErr
	if err := demo.Run(); err != nil {
		t.Fatalf("demo-app: %v\n%s", err, demoErr.String())
	}
	if demoOut.Len() > 0 || demoErr.Len() > 0 {
		t.Errorf("demo-app in FLUENT_ADDRESS mode wrote stdout %q, stderr %q; want nothing (every record sent)", demoOut.String(), demoErr.String())
	}

	// A structured record with duplicate keys in a nested map (which a Go
	// map cannot hold: encoded by hand). Repeated top-level names are
	// merged by the shipper; Elasticsearch rejects nested ones.
	raw := msgp.AppendMapHeader(nil, 4)
	for _, kv := range [][2]string{{"level", "error"}, {"message", "duplicate keys"}, {"service.name", "demo-app"}} {
		raw = msgp.AppendString(msgp.AppendString(raw, kv[0]), kv[1])
	}
	raw = msgp.AppendMapHeader(msgp.AppendString(raw, "a"), 2)
	raw = msgp.AppendInt(msgp.AppendString(raw, "b"), 1)
	raw = msgp.AppendInt(msgp.AppendString(raw, "b"), 2)
	logger, err := fluent.New(fluent.Config{FluentHost: "127.0.0.1", FluentPort: sh.port, SubSecondPrecision: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := logger.PostWithTime("demo-app", time.Now(), msgp.Raw(raw)); err != nil {
		t.Fatal(err)
	}
	if err := logger.Close(); err != nil {
		t.Fatal(err)
	}

	// The demo app's last record ("stopped") and the rejected one were
	// read: records of one connection are read in order, so everything
	// sent before them was read too, and SIGTERM delivers what was read.
	waitMatches(t, index, `{"bool":{"filter":[{"match_phrase":{"message":"stopped"}}],"must_not":[{"exists":{"field":"load.sent"}}]}}`, 1)
	waitMatches(t, "logs-shipper.deadletter-"+ns, "", 1)
	sum := sh.stop(t)

	docs := fetchDocs(t, index)
	records := num(sum, "forward.records")
	t.Logf("%s: %d documents; shipper: forward.records %d, indexed %d, dead_lettered %d",
		index, len(docs), records, num(sum, "indexed"), num(sum, "dead_lettered"))
	if int64(len(docs)) != records-1 {
		t.Errorf("%s: %d documents, want the %d records received but the rejected one", index, len(docs), records-1)
	}
	if got := num(sum, "indexed"); got != int64(len(docs)) {
		t.Errorf("final log line: indexed %d, want %d", got, len(docs))
	}
	if got := num(sum, "dead_lettered"); got != 1 {
		t.Errorf("final log line: dead_lettered %d, want 1", got)
	}
	if got := num(sum, "forward.json"); got != records {
		t.Errorf("final log line: forward.json %d, want every record (%d) parsed as JSON", got, records)
	}
	checkDeadLetter(t, ns)

	st := checkDemoDocs(t, index, docs)
	t.Logf("requests %d, failed checkouts %d, levels %v, other records %v", st.requests, st.failures, st.levels, st.lifecycle)
	var listening, stopped, loadStopped int
	for msg, n := range st.lifecycle {
		switch {
		case strings.HasPrefix(msg, "listening on "):
			listening += n
		case msg == "stopped":
			stopped += n
		case strings.HasPrefix(msg, "load generator stopped after "):
			loadStopped += n
		default:
			t.Errorf("unexpected record %q (%d)", msg, n)
		}
	}
	if listening != 1 || stopped != 1 || loadStopped != 1 {
		t.Errorf("the demo app's first, load summary and last records: %d, %d, %d, want 1 each", listening, loadStopped, stopped)
	}
	// Health checks are logged at debug level, which the demo app leaves
	// out: the load generator's count is an upper bound.
	if st.loadSent <= 0 || int64(st.requests) > st.loadSent {
		t.Errorf("%d request documents, load generator sent %d requests", st.requests, st.loadSent)
	}
	// The demo app's EventTime is its clock at the log call, its "time"
	// member too: @timestamp falls within the run.
	if first, last := docs[0].ts, docs[len(docs)-1].ts; last.Sub(first) < 2*time.Second || last.Sub(first) > time.Minute {
		t.Errorf("@timestamp from %s to %s, want the demo app's 3s run", first, last)
	}

	checkKibanaFields(t, "logs-*-"+ns)
}

// TestComposePathDockerDriver is the docker-compose.yml path as it is: the
// demo app writes JSON lines to stdout, and each line is sent as Docker's
// fluentd logging driver sends it with the compose file's options
// (fluentd-async, fluentd-sub-second-precision, tag demo-app):
// fluent-logger-golang, async, a map of container_id, container_name
// "/web", source "stdout" and log = the line, at the time the line was
// read. Then one line Elasticsearch rejects, then SIGTERM. Every line is one
// document whose fields are the line's (not a string under "log"), with the
// line's own time at nanosecond precision, container.name "web", and
// Kibana's fields mapped and filled.
func TestComposePathDockerDriver(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute) // against a hang, not a pass criterion
	defer cancel()

	demo := exec.CommandContext(ctx, demoAppBinary(t), "--load", "--rate=200", "--duration=2s")
	demo.Env = append(os.Environ(), "PORT=0", "FLUENT_ADDRESS=")
	var demoOut, demoErr bytes.Buffer
	demo.Stdout, demo.Stderr = &demoOut, &demoErr
	if err := demo.Run(); err != nil {
		t.Fatalf("demo-app: %v\n%s", err, demoErr.String())
	}
	lines := strings.Split(strings.TrimSuffix(demoOut.String(), "\n"), "\n")
	if len(lines) < 100 {
		t.Fatalf("demo-app wrote %d lines, want hundreds", len(lines))
	}
	var lineTimes []time.Time
	for i, l := range lines {
		var v struct {
			Time string `json:"time"`
		}
		if err := json.Unmarshal([]byte(l), &v); err != nil {
			t.Fatalf("demo-app line %d %q: %v", i, l, err)
		}
		ts, err := time.Parse(time.RFC3339Nano, v.Time)
		if err != nil {
			t.Fatalf("demo-app line %d: time %q: %v", i, v.Time, err)
		}
		lineTimes = append(lineTimes, ts)
	}

	ns := estest.Unique("composedocker")
	index := "logs-demo-" + ns
	sh := startComposeShipper(t, ctx, ns)
	logger, err := fluent.New(fluent.Config{FluentHost: "127.0.0.1", FluentPort: sh.port,
		Async: true, SubSecondPrecision: true})
	if err != nil {
		t.Fatal(err)
	}
	containerID := strings.Repeat("0123456789abcdef", 4)
	for i, l := range append(lines, rejectedLine) {
		err := logger.PostWithTime("demo-app", time.Now(), map[string]string{
			"container_id": containerID, "container_name": "/web", "source": "stdout", "log": l,
		})
		if err != nil {
			t.Fatalf("post %d: %v", i, err)
		}
	}
	if err := logger.Close(); err != nil {
		t.Fatal(err)
	}
	waitMatches(t, index, "", len(lines))
	waitMatches(t, "logs-shipper.deadletter-"+ns, "", 1)
	sum := sh.stop(t)

	docs := fetchDocs(t, index)
	t.Logf("demo-app wrote %d lines; %s: %d documents; shipper: forward.records %d, indexed %d, dead_lettered %d",
		len(lines), index, len(docs), num(sum, "forward.records"), num(sum, "indexed"), num(sum, "dead_lettered"))
	if len(docs) != len(lines) {
		t.Errorf("%s: %d documents, want the %d lines of the demo app", index, len(docs), len(lines))
	}
	if got := num(sum, "forward.records"); got != int64(len(lines)+1) {
		t.Errorf("final log line: forward.records %d, want %d", got, len(lines)+1)
	}
	if got := num(sum, "indexed"); got != int64(len(lines)) {
		t.Errorf("final log line: indexed %d, want %d", got, len(lines))
	}
	if got := num(sum, "dead_lettered"); got != 1 {
		t.Errorf("final log line: dead_lettered %d, want 1", got)
	}
	checkDeadLetter(t, ns)

	st := checkDemoDocs(t, index, docs)
	t.Logf("requests %d, failed checkouts %d, levels %v, other records %v", st.requests, st.failures, st.levels, st.lifecycle)
	bad := 0
	for i, d := range docs {
		src := d.src
		if src["container.name"] != "web" || src["container.id"] != containerID || src["stream"] != "stdout" || src["fluent.tag"] != "demo-app" {
			if bad++; bad <= 5 {
				t.Errorf("document %d: container.name %v, container.id %v, stream %v, fluent.tag %v; want web, %s, stdout, demo-app",
					i, src["container.name"], src["container.id"], src["stream"], src["fluent.tag"], containerID)
			}
		}
	}
	for _, q := range []string{`{"term":{"container.name":"web"}}`, `{"term":{"stream":"stdout"}}`, `{"term":{"fluent.tag":"demo-app"}}`} {
		if got := estest.Count(t, index, q); got != len(lines) {
			t.Errorf("%s: %d documents match %s, want %d", index, got, q, len(lines))
		}
	}

	// @timestamp is each line's own time, to the nanosecond, not the time
	// Docker read the line: the multisets of times are equal.
	var got []time.Time
	for _, d := range docs {
		got = append(got, d.ts)
	}
	cmp := func(a, b time.Time) int { return a.Compare(b) }
	slices.SortFunc(got, cmp)
	slices.SortFunc(lineTimes, cmp)
	if !slices.EqualFunc(got, lineTimes, time.Time.Equal) {
		diff := 0
		for i := range min(len(got), len(lineTimes)) {
			if !got[i].Equal(lineTimes[i]) {
				if diff++; diff <= 5 {
					t.Errorf("@timestamp #%d: got %s, want the line's time %s", i, got[i].Format(time.RFC3339Nano), lineTimes[i].Format(time.RFC3339Nano))
				}
			}
		}
		t.Errorf("@timestamps differ from the lines' times: %d of %d/%d", diff, len(got), len(lineTimes))
	}

	checkKibanaFields(t, "logs-*-"+ns)
}
