//go:build integration

package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"shipper/internal/testutil/estest"
)

// secretLines are the redaction corpus: real-looking secrets marked with
// ⟦ ⟧, each of which must be replaced, and nothing else.
var secretLines = []string{
	"user ⟦jane.doe@example.com⟧ logged in from ⟦203.0.113.17⟧",
	"mail to ⟦billing+eu@shop.example.co.uk⟧ bounced",
	"upstream [⟦192.168.1.254⟧]:8080 timed out",
	"peer ⟦2001:db8::7⟧ reset the connection",
	"paid with ⟦4111 1111 1111 1111⟧ exp 12/29",
	"card=⟦5555-5555-5555-4444⟧ declined",
	"amex ⟦378282246310005⟧ accepted",
	"Authorization: Bearer ⟦mF_9.B5f-4.1JqM⟧",
	"Authorization: Basic ⟦dXNlcjpwYXNzd29yZA==⟧",
	"token=⟦eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c⟧ ok",
	"using key ⟦AKIAIOSFODNN7EXAMPLE⟧ for s3",
	"aws_secret_access_key = ⟦wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY⟧",
	"dsn=postgres://app:⟦s3cr3t-Pa55⟧@db.internal:5432/orders",
	"cloning https://deploy:⟦p@ss:word⟧@git.example.com/repo.git",
	"login ok password=⟦hunter2⟧ user=x",
	"key: ⟦-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gun\n-----END RSA PRIVATE KEY-----⟧ loaded",
	// near misses: nothing may change
	"version 1.2.3.4.5 released",
	"order 4111 1111 1111 1112 shipped",
	"trace 4bf92f3577b34da6a3ce929d0e0e4736",
	"the bearer of this letter is welcome",
	"see http://example.com:8080/path?q=1",
}

// unmarkSecret returns a corpus line without its marks, with each secret
// replaced, and the secrets.
func unmarkSecret(s string) (in, want string, secrets []string) {
	var b, w strings.Builder
	for {
		i := strings.Index(s, "⟦")
		if i < 0 {
			b.WriteString(s)
			w.WriteString(s)
			return b.String(), w.String(), secrets
		}
		j := strings.Index(s, "⟧")
		b.WriteString(s[:i])
		w.WriteString(s[:i])
		sec := s[i+len("⟦") : j]
		b.WriteString(sec)
		w.WriteString("[REDACTED]")
		secrets = append(secrets, sec)
		s = s[j+len("⟧"):]
	}
}

// procCorpus is the mixed corpus of the processing test: what each line is
// and what it must become.
type procCorpus struct {
	lines []string
	// per kind: lines that must be found in that kind's data stream
	want map[string]int
	// redaction corpus: message after redaction by its sec<N> prefix, and
	// every secret
	redacted map[string]string
	secrets  []string
	// JSON app lines by level, before drop and sample
	debug, errors int
	// trace ids of sampled lines (every line of a trace is kept or none)
	traces map[string]int
}

var months = []string{"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"}

// genProcCorpus makes n lines of each kind from a seed: JSON app logs,
// nginx and Apache access logs, klog and syslog lines, plus a few special
// ones (a re-sent line, a line whose conversion fails).
func genProcCorpus(n int) *procCorpus {
	rng := rand.New(rand.NewPCG(15, 2026))
	c := &procCorpus{want: map[string]int{}, traces: map[string]int{}, redacted: map[string]string{}}
	base := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	for i := 0; i < n; i++ {
		ts := base.Add(time.Duration(i) * time.Second)
		ip := fmt.Sprintf("10.%d.%d.%d", rng.IntN(256), rng.IntN(256), 1+rng.IntN(254))
		status := []int{200, 200, 200, 201, 304, 404, 500, 503}[rng.IntN(8)]
		// JSON app line.
		level := []string{"debug", "info", "info", "warn", "error"}[rng.IntN(5)]
		switch level {
		case "debug":
			c.debug++
		case "error":
			c.errors++
		}
		trace := fmt.Sprintf("%032x", rng.Uint64()%50) // 50 traces, many lines each
		c.lines = append(c.lines, fmt.Sprintf(`{"time":%q,"level":%q,"msg":"app%06d order placed","user":"User%d@Example.COM","status":"%d","trace_id":"%s","payload":"{\"order\":{\"id\":%d,\"total\":%d.5}}","noise":"x"}`,
			ts.Format(time.RFC3339Nano), level, i, rng.IntN(100), status, trace, i, rng.IntN(1000)))
		if level != "debug" {
			c.traces[trace]++
		}
		// nginx combined.
		c.lines = append(c.lines, fmt.Sprintf(`%s - - [%02d/%s/%d:%02d:%02d:%02d +0000] "GET /shop/item/%d HTTP/1.1" %d %d "-" "curl/8.%d"`,
			ip, ts.Day(), months[ts.Month()-1], ts.Year(), ts.Hour(), ts.Minute(), ts.Second(), i, status, 100+rng.IntN(5000), rng.IntN(9)))
		c.want["nginx"]++
		// Apache common.
		c.lines = append(c.lines, fmt.Sprintf(`%s - frank [%02d/%s/%d:%02d:%02d:%02d +0100] "POST /cgi/apache%d HTTP/1.0" %d %d`,
			ip, ts.Day(), months[ts.Month()-1], ts.Year(), ts.Hour(), ts.Minute(), ts.Second(), i, status, 100+rng.IntN(5000)))
		c.want["apache"]++
		// klog.
		sev := "IWE"[rng.IntN(3)]
		c.lines = append(c.lines, fmt.Sprintf(`%c%02d%02d %02d:%02d:%02d.%06d       %d controller.go:%d] klog%06d sync done key=%d`,
			sev, ts.Month(), ts.Day(), ts.Hour(), ts.Minute(), ts.Second(), rng.IntN(1000000), 1+rng.IntN(99), 100+rng.IntN(900), i, i))
		c.want["klog"]++
		// syslog (RFC 3164).
		c.lines = append(c.lines, fmt.Sprintf(`<%d>%s %2d %02d:%02d:%02d node-%d sshd[%d]: syslog%06d Accepted publickey for ann`,
			8+rng.IntN(100), months[ts.Month()-1], ts.Day(), ts.Hour(), ts.Minute(), ts.Second(), rng.IntN(9), 100+rng.IntN(30000), i))
		c.want["syslog"]++
	}
	// The redaction corpus, as plain lines and as JSON messages. A private
	// key spans lines: as plain text it stays in the JSON line only.
	for i, l := range secretLines {
		in, want, secrets := unmarkSecret(l)
		if !strings.Contains(in, "\n") {
			tag := fmt.Sprintf("sec%03d ", i)
			c.lines = append(c.lines, tag+in)
			c.redacted[tag] = tag + want
		}
		tag := fmt.Sprintf("sec%03d ", 100+i)
		j, _ := json.Marshal(map[string]any{"message": tag + in, "level": "info", "plan": "pro"})
		c.lines = append(c.lines, string(j))
		c.redacted[tag] = tag + want
		for _, s := range secrets {
			c.secrets = append(c.secrets, s)
		}
	}
	c.want["secrets"] = len(c.redacted)
	// An upstream re-send: the same record twice; fingerprint stores it once.
	dup := `{"time":"2026-11-23T09:00:00Z","level":"info","msg":"resent order","trace_id":"resend","status":"200","seq":1}`
	c.lines = append(c.lines, dup, dup)
	// A conversion failure: shipped as parsed, flagged, in the default stream.
	c.lines = append(c.lines, `{"level":"info","msg":"bad status","status":"abc","trace_id":"badstatus"}`)
	return c
}

// processingConfig uses every processor on the mixed corpus; ds is the
// unique prefix of the test's data streams.
func processingConfig(ds string) string {
	return `
dataset: ` + ds + `
processors:
  # The redaction corpus first: every line whose message starts sec<N>.
  - type: redact
    when: message matches "^sec\\d{3} "
    patterns: [all]
    custom: {pw: 'password=(?P<secret>\S+)'}
  - type: route
    when: message matches "^sec\\d{3} "
    dataset: ` + ds + `.secrets
  # JSON app lines (the parser made msg the message, level log.level,
  # trace_id trace.id)
  - type: drop
    when: log.level == "debug"
  - type: sample
    when: trace.id exists and not trace.id in ["resend", "badstatus"]
    rate: 2
    key: trace.id
  - type: parse_json
    field: payload
    target: app
    when: payload exists
  - type: remove
    fields: [payload, noise]
  - type: rename
    fields: {user: user.email}
  - type: lowercase
    fields: [user.email]
  - type: convert
    when: status exists
    fields: {status: integer, app.order.total: float}
  - type: copy
    fields: {status: http.response.status_code}
  - type: add
    fields: {service.environment: "${PROC_TEST_ENV}", labels.origin: "stdin-%{input.type}", labels.processed: true}
  - type: fingerprint
    when: trace.id == "resend"
    fields: [trace.id, seq, message]
  - type: route
    when: trace.id exists and status exists
    dataset: ` + ds + `.app
pipelines:
  - name: access
    input: stdin
    processors:
      - type: dissect
        id: nginx
        when: message matches "^\\d+\\.\\d+\\.\\d+\\.\\d+ - - \\["
        pattern: '%{source.address} - %{user.name} [%{access.time}] "%{http.request.method} %{url.original} HTTP/%{http.version}" %{http.response.status_code} %{http.response.body.bytes} "%{http.request.referrer}" "%{user_agent.original}"'
      - type: grok
        id: apache
        when: message matches "^\\d+\\.\\d+\\.\\d+\\.\\d+ - \\w+ \\["
        patterns:
          - '^%{IPORHOST:source.address} - %{APACHEUSER:user.name} \[%{HTTPDATE:access.time}\] "%{WORD:http.request.method} %{NOTSPACE:url.original} HTTP/%{NUMBER:http.version}" %{INT:http.response.status_code:int} %{INT:http.response.body.bytes:int}$'
        pattern_definitions: {APACHEUSER: "[a-z]+"}
      - type: date
        when: access.time exists
        field: access.time
        formats: ["dd/MMM/yyyy:HH:mm:ss Z"]
      - type: convert
        when: access.time exists
        fields: {http.response.status_code: integer, http.response.body.bytes: integer}
      - type: uppercase
        fields: [http.request.method]
      - type: route
        when: http.request.referrer exists
        dataset: ` + ds + `.nginx
      - type: route
        when: access.time exists and not http.request.referrer exists
        dataset: ` + ds + `.apache
      - type: remove
        fields: [access.time]
  - name: system
    processors:
      - type: dissect
        id: klog
        when: message matches "^[IWEF]\\d{4} "
        pattern: '%{klog.head} %{klog.time->} %{process.pid} %{log.origin.file.name}:%{log.origin.file.line}] %{klog.msg}'
      - type: kv
        when: klog.msg exists
        field: klog.msg
        target: klog.kv
      - type: add
        when: klog.head matches "^E"
        overwrite: true
        fields: {log.level: error}
      - type: keep_only
        when: klog.head exists
        fields: ["@timestamp", message, log, klog, process, input, agent, host]
      - type: route
        when: klog.head exists
        dataset: ` + ds + `.klog
      - type: dissect
        id: syslog
        when: message matches "^<\\d+>"
        append_separator: " "
        pattern: '<%{log.syslog.priority}>%{syslog.time} %{+syslog.time} %{+syslog.time} %{host.hostname} %{process.name}[%{process.pid}]: %{syslog.msg}'
      - type: date
        when: syslog.time exists
        field: syslog.time
        formats: ["MMM d HH:mm:ss", "MMM  d HH:mm:ss"]
      - type: route
        when: syslog.time exists
        dataset: ` + ds + `.syslog
`
}

// TestProcessingIntegration ships the mixed corpus through a configuration
// using every processor into the real Elasticsearch and finds what each
// line must have become.
func TestProcessingIntegration(t *testing.T) {
	const n = 300
	corpus := genProcCorpus(n)
	ds := estest.Unique("proc")
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "shipper.yaml")
	if err := os.WriteFile(cfgPath, []byte(processingConfig(ds)), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute) // against a hang, not a pass criterion
	defer cancel()
	t.Setenv("PROC_TEST_ENV", "staging")
	cmd, stdin, logs := runShipper(t, ctx, "--config", cfgPath)
	go func() {
		w := bufio.NewWriter(stdin)
		for _, l := range corpus.lines {
			w.WriteString(l)
			w.WriteByte('\n')
		}
		w.Flush()
		stdin.Close()
	}()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("shipper: %v\n%s", err, logs)
	}
	<-logs.done
	idx := func(kind string) string { return "logs-" + ds + "." + kind + "-default" }
	kinds := []string{"app", "nginx", "apache", "klog", "syslog", "secrets"}
	for _, k := range kinds {
		estest.Refresh(t, idx(k))
	}
	defaultIdx := "logs-" + ds + "-default"
	estest.Refresh(t, defaultIdx)
	t.Cleanup(func() {
		for _, k := range kinds {
			estest.DeleteDataStream(t, idx(k))
		}
		estest.DeleteDataStream(t, defaultIdx)
	})

	count := func(index, q string) int { return estest.Count(t, index, q) }
	for _, k := range []string{"nginx", "apache", "klog", "syslog", "secrets"} {
		if got := count(idx(k), ""); got != corpus.want[k] {
			t.Errorf("%s: %d documents, want %d", idx(k), got, corpus.want[k])
		}
	}

	// JSON app lines: no debug; sampled whole traces; errors all kept.
	app := idx("app")
	if got := count(app, `{"term":{"log.level":"debug"}}`); got != 0 {
		t.Errorf("debug lines not dropped: %d", got)
	}
	if got := count(app, `{"term":{"log.level":"error"}}`); got != corpus.errors {
		t.Errorf("error lines: %d, want all %d (sample keeps errors)", got, corpus.errors)
	}
	kept := 0
	for trace, lines := range corpus.traces {
		q := fmt.Sprintf(`{"bool":{"filter":[{"term":{"trace.id":%q}}],"must_not":[{"term":{"log.level":"error"}}]}}`, trace)
		errs := count(app, fmt.Sprintf(`{"bool":{"filter":[{"term":{"trace.id":%q}},{"term":{"log.level":"error"}}]}}`, trace))
		got := count(app, q)
		if got != 0 && got != lines-errs {
			t.Errorf("trace %s: %d of its %d non-error lines kept: a sampled trace must stay whole", trace, got, lines-errs)
		}
		if got > 0 {
			kept++
		}
	}
	if kept == 0 || kept == len(corpus.traces) {
		t.Errorf("sample at rate 2 kept %d of %d traces, want some but not all", kept, len(corpus.traces))
	}
	// parse_json, convert, rename, lowercase, copy, add, remove.
	search := func(index, q string) []map[string]any {
		t.Helper()
		return estest.Sources(t, index, `{"size":1000,"query":`+q+`}`)
	}
	docs := search(app, `{"bool":{"filter":[{"exists":{"field":"app.order.id"}}]}}`)
	if len(docs) == 0 {
		t.Fatalf("no app document with app.order.id (parse_json)")
	}
	for _, d := range docs {
		if _, ok := d["status"].(float64); !ok {
			t.Errorf("status not converted to a number: %v", d)
		}
		if d["http.response.status_code"] != d["status"] {
			t.Errorf("copy: http.response.status_code %v, status %v", d["http.response.status_code"], d["status"])
		}
		email, _ := d["user.email"].(string)
		if email == "" || strings.ToLower(email) != email || !strings.HasSuffix(email, "@example.com") {
			t.Errorf("user renamed to user.email and lowercased: %v", d)
		}
		if d["service.environment"] != "staging" || d["labels.origin"] != "stdin-stdin" || d["labels.processed"] != true {
			t.Errorf("add: %v", d)
		}
		for _, gone := range []string{"payload", "noise", "trace_id", "user"} {
			if _, ok := d[gone]; ok {
				t.Errorf("%s still in %v", gone, d)
			}
		}
		if _, ok := d["app.order.total"].(float64); !ok {
			t.Errorf("app.order.total: %v", d)
		}
	}
	// fingerprint: the re-sent record is stored once.
	if got := count(app, `{"term":{"trace.id":"resend"}}`); got != 1 {
		t.Errorf("re-sent record stored %d times, want 1 (fingerprint)", got)
	}
	// A failure: shipped as parsed, flagged, in the default stream.
	docs = search(defaultIdx, `{"term":{"log.flags":"convert_failure"}}`)
	if len(docs) != 1 || docs[0]["status"] != "abc" || docs[0]["trace.id"] != "badstatus" || docs[0]["message"] != "bad status" ||
		!strings.Contains(fmt.Sprint(docs[0]["log.processing_error"]), `field status: "abc" is not an integer`) {
		t.Errorf("convert failure: %v", docs)
	}

	// nginx / apache: dissect, date, convert, uppercase, route, remove.
	for _, k := range []string{"nginx", "apache"} {
		docs := search(idx(k), `{"range":{"http.response.status_code":{"gte":500}}}`)
		if len(docs) == 0 {
			t.Errorf("%s: no document with http.response.status_code >= 500 (converted to a number)", k)
		}
		for _, d := range search(idx(k), `{"match_all":{}}`) {
			if d["source.address"] == nil || d["http.request.method"] == nil || d["access.time"] != nil {
				t.Errorf("%s: %v", k, d)
				break
			}
			ts, _ := d["@timestamp"].(string)
			if !strings.HasPrefix(ts, "2026-11-23T") {
				t.Errorf("%s: @timestamp %q, want the line's own time", k, ts)
				break
			}
		}
	}
	if got := count(idx("apache"), `{"term":{"@timestamp":"2026-11-23T09:00:00Z"}}`); got != 1 {
		t.Errorf("apache line 0 (10:00:00 +0100): %d documents at 09:00:00Z, want 1 (date with offset)", got)
	}
	// klog: dissect, kv, add, keep_only.
	if got := count(idx("klog"), `{"bool":{"filter":[{"exists":{"field":"klog.kv.key"}},{"exists":{"field":"log.origin.file.line"}}]}}`); got != corpus.want["klog"] {
		t.Errorf("klog documents with kv and dissect fields: %d, want %d", got, corpus.want["klog"])
	}
	if got := count(idx("klog"), `{"bool":{"filter":[{"prefix":{"klog.head":"E"}},{"term":{"log.level":"error"}}]}}`); got != count(idx("klog"), `{"prefix":{"klog.head":"E"}}`) {
		t.Errorf("klog E lines without log.level error: %d", got)
	}
	if got := count(idx("klog"), `{"exists":{"field":"event.ingested"}}`); got != 0 {
		t.Errorf("keep_only left event.ingested in %d klog documents", got)
	}
	// syslog: dissect with append, date without a year.
	if got := count(idx("syslog"), `{"bool":{"filter":[{"term":{"process.name":"sshd"}},{"range":{"@timestamp":{"gte":"2026-11-23T10:00:00Z","lt":"2026-11-24T00:00:00Z"}}}]}}`); got != corpus.want["syslog"] {
		// The stamps carry no year: the current year is taken, so only
		// the month, day and time are checked when the year differs.
		if time.Now().Year() == 2026 {
			t.Errorf("syslog documents with their own time: %d, want %d", got, corpus.want["syslog"])
		}
	}
	// Redaction: no secret survives anywhere in a document, and each
	// message is exactly the line with its secrets replaced.
	raw := estest.MustDo(t, "POST", "/"+idx("secrets")+"/_search", `{"size":1000}`)
	var res struct {
		Hits struct {
			Hits []struct {
				Source map[string]any `json:"_source"`
			} `json:"hits"`
		} `json:"hits"`
	}
	if err := json.Unmarshal(raw, &res); err != nil {
		t.Fatal(err)
	}
	if len(res.Hits.Hits) != len(corpus.redacted) {
		t.Errorf("redaction corpus: %d documents, want %d", len(res.Hits.Hits), len(corpus.redacted))
	}
	for _, h := range res.Hits.Hits {
		src, _ := json.Marshal(h.Source)
		for _, sec := range corpus.secrets {
			if strings.Contains(string(src), sec) || strings.Contains(fmt.Sprint(h.Source["message"]), sec) {
				t.Errorf("secret %q survived: %s", sec, src)
			}
		}
		msg, _ := h.Source["message"].(string)
		if len(msg) < 7 || corpus.redacted[msg[:7]] != msg {
			t.Errorf("redacted message %q, want %q", msg, corpus.redacted[msg[:min(7, len(msg))]])
		}
		if strings.HasPrefix(msg, "sec1") && h.Source["plan"] != "pro" {
			t.Errorf("a field without a secret changed: %s", src)
		}
	}
	// Nothing in the default stream but the failure.
	if got := count(defaultIdx, ""); got != 1 {
		t.Errorf("default stream: %d documents, want only the conversion failure", got)
	}
}
