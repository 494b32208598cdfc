//go:build integration

package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"shipper/internal/testutil/estest"
)

// kind is what a generated line is meant to exercise.
type kind int

const (
	kindJSON kind = iota
	kindMalformed
	kindPlain
	kindInvalidUTF8JSON
	kindInvalidUTF8Plain
	kindHuge
)

var levels = []string{"debug", "info", "warn", "error"}

// genLine returns line i of the acceptance corpus. Every line carries the
// token line<i, 6 digits> in what becomes its message.
func genLine(i int) (string, kind) {
	tok := fmt.Sprintf("line%06d", i)
	switch {
	case i == 50000:
		return `{"level":"info","msg":"` + tok + ` huge","pad":"` + strings.Repeat("x", 2<<20) + `"}`, kindHuge
	case i%100 == 7:
		return `{"level":"warn","msg":"` + tok + ` malformed", "seq":` + strconv.Itoa(i) + `, "oops"`, kindMalformed
	case i%50 == 3:
		return "plain text " + tok + " GET /index.html 200", kindPlain
	case i%97 == 5:
		return `{"level":"error","msg":"` + tok + " bad \xff\xfe bytes\",\"seq\":" + strconv.Itoa(i) + `}`, kindInvalidUTF8JSON
	case i%89 == 1:
		return "plain " + tok + " latin1 caf\xe9", kindInvalidUTF8Plain
	}
	lvl := levels[i%4]
	ts := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Millisecond)
	switch i % 5 {
	case 0:
		return fmt.Sprintf(`{"time":%q,"level":%q,"msg":"%s request","seq":%d,"http":{"request":{"method":"GET"}}}`, ts.Format(time.RFC3339Nano), lvl, tok, i), kindJSON
	case 1:
		return fmt.Sprintf(`{"@timestamp":%q,"log.level":%q,"message":"%s ecs","seq":%d}`, ts.Format(time.RFC3339Nano), strings.ToUpper(lvl), tok, i), kindJSON
	case 2:
		return fmt.Sprintf(`{"ts":%d.%03d,"severity":%q,"msg":"%s epoch seconds","seq":%d}`, ts.Unix(), ts.Nanosecond()/1e6, lvl, tok, i), kindJSON
	case 3:
		return fmt.Sprintf(`{"timestamp":%d,"lvl":%q,"msg":"%s epoch millis","seq":%d}`, ts.UnixMilli(), lvl, tok, i), kindJSON
	default:
		zl := map[string]int{"debug": 0, "info": 1, "warn": 2, "error": 3}[lvl]
		return fmt.Sprintf(`{"level":%d,"time":%d,"message":"%s zerolog numeric","seq":%d}`, zl, ts.UnixNano(), tok, i), kindJSON
	}
}

var tokenRE = regexp.MustCompile(`line(\d{6})`)

// allMessages scrolls through index and returns the sequence numbers found
// in the messages, with how often each was seen, and the messages that hold
// no sequence number.
func allMessages(t *testing.T, index string) (seen map[int]int, other []string) {
	t.Helper()
	seen = map[int]int{}
	b := estest.MustDo(t, "POST", "/"+index+"/_search?scroll=2m", `{"size":5000,"sort":["_doc"],"_source":["message"]}`)
	for {
		var r struct {
			ScrollID string `json:"_scroll_id"`
			Hits     struct {
				Hits []struct {
					Source struct {
						Message string `json:"message"`
					} `json:"_source"`
				} `json:"hits"`
			} `json:"hits"`
		}
		if err := json.Unmarshal(b, &r); err != nil {
			t.Fatalf("scroll: %v", err)
		}
		if len(r.Hits.Hits) == 0 {
			estest.Do(t, "DELETE", "/_search/scroll", `{"scroll_id":"`+r.ScrollID+`"}`)
			return seen, other
		}
		for _, h := range r.Hits.Hits {
			m := tokenRE.FindStringSubmatch(h.Source.Message)
			if m == nil {
				other = append(other, h.Source.Message)
				continue
			}
			n, _ := strconv.Atoi(m[1])
			seen[n]++
		}
		b = estest.MustDo(t, "POST", "/_search/scroll", `{"scroll":"2m","scroll_id":"`+r.ScrollID+`"}`)
	}
}

// fieldType returns the mapped type of a field in index.
func fieldType(t *testing.T, index, field string) string {
	t.Helper()
	b := estest.MustDo(t, "GET", "/"+index+"/_field_caps?fields="+field, "")
	var r struct {
		Fields map[string]map[string]json.RawMessage `json:"fields"`
	}
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	var types []string
	for typ := range r.Fields[field] {
		types = append(types, typ)
	}
	return strings.Join(types, ",")
}

func runShipper(t *testing.T, ctx context.Context, args ...string) (*exec.Cmd, io.WriteCloser, *logLines) {
	t.Helper()
	cmd := exec.CommandContext(ctx, shipperBinary(t, true), args...)
	cmd.Env = append(cmd.Environ(), "ELASTICSEARCH_URL="+estest.URL(t))
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr := logsOf(cmd)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd, stdin, stderr
}

// TestAcceptance100k ships 100,000 generated lines, good and bad, and finds
// every one of them in Elasticsearch.
func TestAcceptance100k(t *testing.T) {
	const total = 100000
	ds := estest.Unique("accept")
	index := "logs-" + ds + "-default"
	// A generous bound against a hang, not a pass criterion; the
	// shipper's progress line shows how far it got.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	cmd, stdin, logs := runShipper(t, ctx, "--dataset="+ds, "--batch-bytes=2MiB", "--progress-interval=30s")

	var counts [6]int
	levelCount := map[string]int{}
	go func() {
		w := bufio.NewWriterSize(stdin, 256<<10)
		for i := 0; i < total; i++ {
			line, k := genLine(i)
			counts[k]++
			if k == kindJSON {
				levelCount[levels[i%4]]++
			}
			w.WriteString(line)
			if i != total-1 { // the last line has no newline: it must be shipped too
				w.WriteByte('\n')
			}
		}
		w.Flush()
		stdin.Close()
	}()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("shipper: %v\n%s", err, logs)
	}
	<-logs.done
	sum := logs.find("shipper stopped")
	// A bulk request that timed out on a busy machine may have been
	// indexed: its retry is answered 409 and counted as a duplicate, which
	// is a delivery (the same _id), not a failure.
	if sum == nil || num(sum, "stdin.lines") != total || num(sum, "indexed")+num(sum, "duplicates") != total || num(sum, "lost") != 0 {
		t.Fatalf("summary: %v\n%s", sum, logs)
	}

	estest.Refresh(t, index)
	if n := estest.Count(t, index, ""); n != total {
		t.Fatalf("documents in %s: %d, want %d", index, n, total)
	}
	seen, other := allMessages(t, index)
	if len(other) > 0 {
		t.Errorf("%d documents without a sequence number, e.g. %.200q", len(other), other[0])
	}
	for i := 0; i < total; i++ {
		if seen[i] != 1 {
			t.Errorf("line %d found %d times", i, seen[i])
		}
	}
	if t.Failed() {
		t.FailNow()
	}

	if typ := fieldType(t, index, "@timestamp"); typ != "date" && typ != "date_nanos" {
		t.Errorf("@timestamp mapped as %q", typ)
	}
	if typ := fieldType(t, index, "log.level"); typ != "keyword" {
		t.Errorf("log.level mapped as %q", typ)
	}
	for lvl, want := range levelCount {
		// Plus the bad lines' own levels where they were parsed (invalid UTF-8 JSON is "error").
		if lvl == "error" {
			want += counts[kindInvalidUTF8JSON]
		}
		if n := estest.Count(t, index, `{"term":{"log.level":"`+lvl+`"}}`); n != want {
			t.Errorf("log.level=%s: %d documents, want %d", lvl, n, want)
		}
	}
	// Timestamps from the five styles: each sampled line lands at its generated instant.
	for _, i := range []int{10, 11, 12, 13, 14} {
		want := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Millisecond)
		q := fmt.Sprintf(`{"bool":{"filter":[{"term":{"seq":%d}},{"term":{"@timestamp":%q}}]}}`, i, want.Format(time.RFC3339Nano))
		if n := estest.Count(t, index, q); n != 1 {
			t.Errorf("line %d (time style %d): no document with seq=%d and @timestamp=%s", i, i%5, i, want.Format(time.RFC3339Nano))
		}
	}

	malformed := counts[kindMalformed] + counts[kindHuge] // the truncated line is malformed JSON too
	if n := estest.Count(t, index, `{"bool":{"filter":[{"term":{"log.flags":"json_parse_failure"}},{"exists":{"field":"error.message"}}]}}`); n != malformed {
		t.Errorf("malformed JSON with tag and reason: %d, want %d", n, malformed)
	}
	if n := estest.Count(t, index, `{"match_phrase":{"error.message":"unexpected end of input"}}`); n < counts[kindMalformed] {
		t.Errorf("malformed lines whose reason says what is wrong: %d, want at least %d", n, counts[kindMalformed])
	}
	invalid := counts[kindInvalidUTF8JSON] + counts[kindInvalidUTF8Plain]
	if n := estest.Count(t, index, `{"term":{"log.flags":"invalid_utf8"}}`); n != invalid {
		t.Errorf("invalid UTF-8 flagged: %d, want %d", n, invalid)
	}
	if n := estest.Count(t, index, `{"bool":{"filter":[{"term":{"log.flags":"truncated"}},{"term":{"log.original_size":`+strconv.Itoa(len(mustLine(50000)))+`}}]}}`); n != 1 {
		t.Errorf("the 2 MiB line truncated, flagged and with its original size: %d documents, want 1", n)
	}
	if n := estest.Count(t, index, `{"bool":{"filter":[{"term":{"input.type":"stdin"}},{"exists":{"field":"event.ingested"}},{"term":{"agent.type":"shipper"}},{"exists":{"field":"host.name"}}]}}`); n != total {
		t.Errorf("documents with input.type, event.ingested, agent and host: %d, want %d", n, total)
	}
	t.Logf("corpus: %d json, %d malformed, %d plain, %d invalid UTF-8, 1 huge", counts[kindJSON], counts[kindMalformed], counts[kindPlain], invalid)
}

func mustLine(i int) string { l, _ := genLine(i); return l }

// TestMappingConflictDeadLetter sends lines of conflicting shapes, which are
// all indexed (a field with two types in one line after one retry), and a
// nested repeated name, which Elasticsearch still rejects (see
// docs/documents.md) and which it finds in the dead-letter stream with the
// reason.
func TestMappingConflictDeadLetter(t *testing.T) {
	ds := estest.Unique("conflict")
	dlq := estest.Unique("dlq")
	index, dlqIndex := "logs-"+ds+"-default", "logs-"+dlq+"-default"
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute) // against a hang, not a pass criterion
	defer cancel()
	cmd, stdin, logs := runShipper(t, ctx, "--dataset="+ds, "--dead-letter-dataset="+dlq)
	lines := []string{
		`{"level":"info","msg":"line000000 sets an object","app":{"user":{"id":"u1"}}}`,
		`{"level":"info","msg":"line000001 conflicts","app":{"user":"just a string"}}`,
		`{"level":"info","msg":"line000002 duplicate keys","a":{"b":1,"b":2}}`,
		`{"level":"info","msg":"line000003 fine","a":1,"a":2}`,
		`{"level":"info","msg":"line000004 mixed array","mixed":[1,"x"]}`,
	}
	// Index the first line before the others so that the mapping exists.
	io.WriteString(stdin, lines[0]+"\n")
	waitCount(t, index, 1)
	io.WriteString(stdin, strings.Join(lines[1:], "\n")+"\n")
	stdin.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("shipper: %v\n%s", err, logs)
	}
	<-logs.done
	estest.Refresh(t, "logs-*")
	if n := estest.Count(t, index, ""); n != 4 {
		t.Fatalf("documents in %s: %d, want 4 (the conflicting ones too)\n%s", index, n, logs)
	}
	// The line with two types in one field: retried with the member kept
	// whole as a string.
	if n := estest.Count(t, index, `{"bool":{"filter":[{"term":{"mixed_original":"[1,\"x\"]"}},{"term":{"log.flags":"field_renamed"}}]}}`); n != 1 {
		t.Errorf("documents with mixed_original and the flag: %d, want 1", n)
	}
	if n := estest.Count(t, dlqIndex, ""); n != 1 {
		t.Fatalf("documents in %s: %d, want 1\n%s", dlqIndex, n, logs)
	}
	found := map[string]bool{}
	for _, s := range estest.Sources(t, dlqIndex, `{"size":10,"sort":["_doc"]}`) {
		orig, _ := s["event.original"].(string)
		typ, _ := s["error.type"].(string)
		msg, _ := s["error.message"].(string)
		if typ == "" || msg == "" || s["labels.target_index"] != index {
			t.Errorf("dead letter without type, reason or target: %v", s)
		}
		switch {

		case strings.Contains(orig, "line000002"):
			found["duplicate"] = true
			if !strings.Contains(strings.ToLower(msg), "duplicate") {
				t.Errorf("duplicate-key reason: %q", msg)
			}
		}
		t.Logf("dead letter: %s: %s", typ, msg)
	}
	if !found["duplicate"] {
		t.Fatalf("dead letters found: %v", found)
	}
	if sum := logs.find("shipper stopped"); num(sum, "dead_lettered") != 1 || num(sum, "lost") != 0 {
		t.Fatalf("summary: %v", sum)
	}
	// The original line is kept but not indexed: a bad document cannot break
	// the dead-letter stream's mapping too.
	caps := estest.MustDo(t, "GET", "/"+dlqIndex+"/_field_caps?fields=event.original", "")
	var fc struct {
		Fields map[string]map[string]struct {
			Searchable bool `json:"searchable"`
		} `json:"fields"`
	}
	if err := json.Unmarshal(caps, &fc); err != nil {
		t.Fatal(err)
	}
	if c, ok := fc.Fields["event.original"]["keyword"]; !ok || c.Searchable {
		t.Fatalf("event.original in the dead-letter stream: %s; want an unindexed keyword", caps)
	}
}

// waitCount waits until index holds at least n documents: up to 10
// minutes (a busy machine makes it slower, not red), saying every 30s how
// far it got.
func waitCount(t *testing.T, index string, n int) {
	t.Helper()
	start, last := time.Now(), time.Now()
	for deadline := start.Add(10 * time.Minute); time.Now().Before(deadline); {
		if time.Since(last) >= 30*time.Second {
			t.Logf("%s: waiting for %d documents (%s so far)", index, n, time.Since(start).Round(time.Second))
			last = time.Now()
		}
		// A data stream just created may have no started shard yet (503): wait.
		estest.Do(t, "POST", "/"+index+"/_refresh?ignore_unavailable=true", "")
		st, b := estest.Do(t, "POST", "/"+index+"/_count?ignore_unavailable=true&allow_no_indices=true", "")
		var r struct {
			Count int `json:"count"`
		}
		if st == 200 && json.Unmarshal(b, &r) == nil && r.Count >= n {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s did not reach %d documents within %s", index, n, time.Since(start).Round(time.Second))
}

// TestSIGTERMDeliversWhatWasRead sends SIGTERM while lines stream in: every
// line the shipper read before it stopped is in Elasticsearch, and only those.
func TestSIGTERMDeliversWhatWasRead(t *testing.T) {
	ds := estest.Unique("sigterm")
	index := "logs-" + ds + "-default"
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute) // against a hang, not a pass criterion
	defer cancel()
	// A long flush interval and big batches: at the signal, records sit in a
	// batch being filled and in batches queued, not only in flight. The
	// shutdown deadline is generous: what is tested is that everything read
	// is delivered, and a busy machine delivers slowly.
	cmd, stdin, logs := runShipper(t, ctx, "--dataset="+ds, "--flush-interval=30s", "--batch-bytes=1MiB",
		"--shutdown-timeout=8m", "--progress-interval=30s")
	var written atomic.Int64
	stop := make(chan struct{})
	go func() {
		w := bufio.NewWriterSize(stdin, 16<<10)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := fmt.Fprintf(w, `{"level":"info","msg":"line%06d streaming","seq":%d}`+"\n", i, i); err != nil {
				return
			}
			written.Add(1)
			if i%1000 == 999 {
				time.Sleep(5 * time.Millisecond)
			}
		}
	}()
	for written.Load() < 50000 {
		time.Sleep(10 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	close(stop)
	stdin.Close()
	if err != nil {
		t.Fatalf("shipper after SIGTERM: %v\n%s", err, logs)
	}
	<-logs.done
	sum := logs.find("shipper stopped")
	read := num(sum, "stdin.lines")
	if read <= 0 || logs.find("stopping: no more reading; delivering what was read") == nil {
		t.Fatalf("summary: %v\n%s", sum, logs)
	}
	estest.Refresh(t, index)
	if n := estest.Count(t, index, ""); int64(n) != read {
		t.Fatalf("read %d lines before SIGTERM, %d in Elasticsearch", read, n)
	}
	seen, other := allMessages(t, index)
	for i := 0; i < int(read)-1; i++ {
		if seen[i] != 1 {
			t.Fatalf("line %d (of %d read) found %d times", i, read, seen[i])
		}
	}
	// The last line read may have been cut by the signal: it is shipped as
	// far as it was read, as malformed JSON holding a prefix of the line.
	last := int(read) - 1
	full := fmt.Sprintf(`{"level":"info","msg":"line%06d streaming","seq":%d}`, last, last)
	switch {
	case seen[last] == 1 && len(other) == 0:
	case seen[last] == 0 && len(other) == 1 && strings.HasPrefix(full, other[0]):
		t.Logf("the last line was cut by the signal and shipped as read: %q", other[0])
	default:
		t.Fatalf("last line %d: found %d times with its number; other documents %q", last, seen[last], other)
	}
	t.Logf("written %d lines, read %d before SIGTERM, all %d in Elasticsearch", written.Load(), read, read)
}
