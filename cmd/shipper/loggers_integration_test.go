//go:build integration

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/sirupsen/logrus"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"shipper/internal/testutil/estest"
	"shipper/internal/testutil/nodefluent"
)

// loggerCase is what one logger writes in its default JSON configuration and
// where its fields must be found: each entry of want is a field and a value
// that exactly one document of the case has (match_phrase for text fields,
// term for the others).
type loggerCase struct {
	logger string
	lines  []string
	want   [][][2]string // per line: field/value pairs that find it
}

// goLoggerLines generates lines with the real Go libraries.
func goLoggerLines(t *testing.T) map[string][]string {
	t.Helper()
	errRefused := errors.New("connection refused")
	split := func(b *bytes.Buffer) []string {
		return strings.Split(strings.TrimSpace(b.String()), "\n")
	}
	out := map[string][]string{}

	var zl bytes.Buffer
	z := zerolog.New(&zl).With().Timestamp().Logger()
	z.Error().Err(errRefused).Str("service", "checkout").Str("host", "checkout-7d9f8-abc").Msg("zerolog db down")
	z.Info().Str("url", "/api/v1/orders").Str("user_agent", "curl/8.5").Int("status", 200).Msg("zerolog request")
	out["zerolog"] = split(&zl)

	var zb bytes.Buffer
	core := zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()), zapcore.AddSync(&zb), zap.InfoLevel)
	zp := zap.New(core, zap.AddCaller(), zap.AddStacktrace(zap.ErrorLevel))
	zp.Error("zap payment failed", zap.Error(errRefused), zap.String("service", "payments"), zap.String("trace_id", "zaptrace1"))
	zp.With(zap.String("user", "ann")).Info("zap repeated key", zap.String("user", "bob"))
	_ = zp.Sync()
	out["zap"] = split(&zb)

	var lb bytes.Buffer
	lr := logrus.New()
	lr.Out, lr.Formatter = &lb, &logrus.JSONFormatter{}
	lr.WithError(errRefused).WithField("client", "10.1.2.3").Error("logrus upstream failed")
	lr.WithFields(logrus.Fields{"container": "web-1", "span_id": "logrusspan1"}).Info("logrus started")
	out["logrus"] = split(&lb)

	var sb bytes.Buffer
	sl := slog.New(slog.NewJSONHandler(&sb, nil))
	sl.Error("slog query failed", "err", errRefused, "service", "orders", slog.Group("http", "method", "GET"))
	sl.Info("slog with host", "host", "slog-host-1", "event", "order_created")
	out["slog"] = split(&sb)
	return out
}

func loggerCases(t *testing.T) []loggerCase {
	g := goLoggerLines(t)
	return []loggerCase{
		{"zerolog", g["zerolog"], [][][2]string{
			{{"message", "zerolog db down"}, {"error.message", "connection refused"}, {"service.name", "checkout"}, {"host.name", "checkout-7d9f8-abc"}, {"log.level", "error"}},
			{{"message", "zerolog request"}, {"url.original", "/api/v1/orders"}, {"user_agent.original", "curl/8.5"}, {"log.level", "info"}},
		}},
		{"zap", g["zap"], [][][2]string{
			{{"message", "zap payment failed"}, {"error.message", "connection refused"}, {"service.name", "payments"}, {"trace.id", "zaptrace1"}, {"log.level", "error"}},
			// zap writes a key given twice twice: the values are merged.
			{{"message", "zap repeated key"}, {"user", "ann"}, {"user", "bob"}, {"log.flags", "field_merged"}},
		}},
		{"logrus", g["logrus"], [][][2]string{
			{{"message", "logrus upstream failed"}, {"error.message", "connection refused"}, {"client.address", "10.1.2.3"}, {"log.level", "error"}},
			{{"message", "logrus started"}, {"container.name", "web-1"}, {"span.id", "logrusspan1"}},
		}},
		{"slog", g["slog"], [][][2]string{
			{{"message", "slog query failed"}, {"err", "connection refused"}, {"service.name", "orders"}, {"http.method", "GET"}, {"log.level", "error"}},
			{{"message", "slog with host"}, {"host.name", "slog-host-1"}, {"event.action", "order_created"}},
		}},
		{"pino", []string{
			`{"level":30,"time":1700000000000,"pid":4242,"hostname":"web-1","msg":"pino hello"}`,
			`{"level":50,"time":1700000000001,"pid":4242,"hostname":"web-1","err":{"type":"Error","message":"pino boom","stack":"Error: pino boom\n    at Object.<anonymous> (/app/index.js:3:7)"},"msg":"pino boom"}`,
		}, [][][2]string{
			{{"message", "pino hello"}, {"log.level", "info"}, {"hostname", "web-1"}, {"pid", "4242"}},
			{{"message", "pino boom"}, {"log.level", "error"}, {"err.message", "pino boom"}, {"err.type", "Error"}},
		}},
		{"bunyan", []string{
			`{"name":"myapp","hostname":"banana.local","pid":40161,"level":30,"msg":"bunyan hi","time":"2013-01-04T18:46:23.851Z","v":0}`,
			`{"name":"myapp","hostname":"banana.local","pid":40161,"level":50,"err":{"message":"bunyan boom","name":"Error","stack":"Error: bunyan boom\n    at main"},"msg":"bunyan boom","time":"2013-01-04T18:46:23.852Z","v":0}`,
		}, [][][2]string{
			{{"message", "bunyan hi"}, {"log.level", "info"}, {"name", "myapp"}},
			{{"message", "bunyan boom"}, {"log.level", "error"}, {"err.name", "Error"}},
		}},
		{"winston", []string{
			`{"level":"info","message":"winston hello","service":"user-service"}`,
			`{"level":"error","message":"winston failed","service":"user-service","timestamp":"2026-11-23T10:00:00.000Z","stack":"Error: winston failed\n    at main"}`,
		}, [][][2]string{
			{{"message", "winston hello"}, {"service.name", "user-service"}, {"log.level", "info"}},
			{{"message", "winston failed"}, {"service.name", "user-service"}, {"log.level", "error"}},
		}},
		{"log4j2 JSONLayout", []string{
			`{"instant":{"epochSecond":1700000000,"nanoOfSecond":123000000},"thread":"main","level":"INFO","loggerName":"com.example.App","message":"log4j2 hello","endOfBatch":false,"loggerFqcn":"org.apache.logging.log4j.spi.AbstractLogger","threadId":1,"threadPriority":5}`,
			`{"instant":{"epochSecond":1700000001,"nanoOfSecond":0},"thread":"main","level":"ERROR","loggerName":"com.example.App","message":"log4j2 failed","thrown":{"commonElementCount":0,"localizedMessage":"boom","message":"boom","name":"java.lang.RuntimeException","extendedStackTrace":[{"class":"com.example.App","method":"main","file":"App.java","line":10,"exact":true,"location":"classes/","version":"?"}]},"endOfBatch":false,"loggerFqcn":"org.apache.logging.log4j.spi.AbstractLogger","threadId":1,"threadPriority":5}`,
		}, [][][2]string{
			{{"message", "log4j2 hello"}, {"log.level", "info"}, {"loggerName", "com.example.App"}},
			{{"message", "log4j2 failed"}, {"log.level", "error"}, {"thrown.name", "java.lang.RuntimeException"}},
		}},
		{"log4j2 JsonTemplateLayout (ECS)", []string{
			`{"@timestamp":"2026-11-23T10:00:00.123Z","ecs.version":"1.2.0","log.level":"INFO","message":"ecs hello","process.thread.name":"main","log.logger":"com.example.App","service.name":"ecs-app"}`,
			`{"@timestamp":"2026-11-23T10:00:01.000Z","ecs.version":"1.2.0","log.level":"ERROR","message":"ecs failed","process.thread.name":"main","log.logger":"com.example.App","error.type":"java.lang.RuntimeException","error.message":"ecs boom","error.stack_trace":"java.lang.RuntimeException: ecs boom\n\tat com.example.App.main(App.java:10)"}`,
		}, [][][2]string{
			{{"message", "ecs hello"}, {"log.level", "info"}, {"service.name", "ecs-app"}, {"log.logger", "com.example.App"}},
			{{"message", "ecs failed"}, {"error.type", "java.lang.RuntimeException"}, {"error.message", "ecs boom"}},
		}},
		{"logback logstash-logback-encoder", []string{
			`{"@timestamp":"2026-11-23T11:00:00.123+01:00","@version":"1","message":"logback hello","logger_name":"com.example.App","thread_name":"main","level":"INFO","level_value":20000,"traceId":"lbtrace1","spanId":"lbspan1"}`,
			`{"@timestamp":"2026-11-23T11:00:01.000+01:00","@version":"1","message":"logback failed","logger_name":"com.example.App","thread_name":"main","level":"ERROR","level_value":40000,"stack_trace":"java.lang.IllegalStateException: boom\n\tat com.example.App.main(App.java:12)\n"}`,
		}, [][][2]string{
			{{"message", "logback hello"}, {"log.level", "info"}, {"trace.id", "lbtrace1"}, {"span.id", "lbspan1"}},
			{{"message", "logback failed"}, {"log.level", "error"}, {"logger_name", "com.example.App"}},
		}},
		{"structlog JSON", []string{
			`{"event": "structlog user logged in", "level": "info", "timestamp": "2026-11-23T10:00:00.123456Z", "user": "ann"}`,
			`{"event": "structlog failed", "level": "error", "timestamp": "2026-11-23T10:00:01Z", "exception": "Traceback (most recent call last):\n  File \"app.py\", line 3\nValueError: boom"}`,
		}, [][][2]string{
			{{"message", "structlog user logged in"}, {"log.level", "info"}, {"user", "ann"}},
			{{"message", "structlog failed"}, {"log.level", "error"}},
		}},
		{"python-json-logger", []string{
			`{"message": "pjl default format"}`,
			`{"asctime": "2026-11-23 10:00:00,123", "levelname": "WARNING", "name": "app.db", "message": "pjl slow query"}`,
		}, [][][2]string{
			{{"message", "pjl default format"}},
			{{"message", "pjl slow query"}, {"log.level", "warning"}, {"name", "app.db"}},
		}},
		{"Serilog compact JSON", []string{
			`{"@t":"2026-11-23T10:00:00.1234567Z","@mt":"Serilog hello {User}","User":"ann"}`,
			`{"@t":"2026-11-23T10:00:01.0000000Z","@mt":"Serilog failed {Op}","@l":"Error","@x":"System.InvalidOperationException: boom\n   at App.Main()","Op":"save"}`,
		}, [][][2]string{
			{{"message", "Serilog hello {User}"}, {"User", "ann"}},
			{{"message", "Serilog failed {Op}"}, {"log.level", "error"}, {"Op", "save"}},
		}},
		{"Rails lograge", []string{
			`{"method":"GET","path":"/lograge/users","format":"html","controller":"UsersController","action":"index","status":200,"duration":58.33,"view":40.43,"db":15.26}`,
		}, [][][2]string{
			{{"path", "/lograge/users"}, {"controller", "UsersController"}, {"status", "200"}},
		}},
		{"nginx JSON access log", []string{
			`{"time_local":"23/Nov/2026:10:00:00 +0000","remote_addr":"10.0.0.1","remote_user":"","request":"GET /nginx/orders HTTP/1.1","status":"200","body_bytes_sent":"612","request_time":"0.005","http_referrer":"","http_user_agent":"curl/8.5.0"}`,
		}, [][][2]string{
			{{"request", "GET /nginx/orders HTTP/1.1"}, {"remote_addr", "10.0.0.1"}, {"http_user_agent", "curl/8.5.0"}},
		}},
		{"Envoy JSON access log", []string{
			`{"start_time":"2026-11-23T10:00:00.000Z","method":"GET","path":"/envoy/orders","protocol":"HTTP/1.1","response_code":200,"bytes_received":0,"bytes_sent":612,"duration":5,"upstream_host":"10.0.0.2:8080","x_forwarded_for":null,"user_agent":"curl/8.5.0","request_id":"envoy-req-1","authority":"example.com"}`,
		}, [][][2]string{
			{{"path", "/envoy/orders"}, {"user_agent.original", "curl/8.5.0"}, {"request_id", "envoy-req-1"}},
		}},
	}
}

// textFields are mapped as text: found with match_phrase, not term.
var textFields = map[string]bool{"message": true, "error.message": true, "error.stack_trace": true}

// shipLines runs a shipper over lines into the data stream of dataset and
// returns its summary once it has stopped; it fails the test unless every
// line was indexed and none dead-lettered.
func shipLines(t *testing.T, dataset string, lines []string) (map[string]any, *logLines) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd, stdin, logs := runShipper(t, ctx, "--dataset="+dataset, "--dead-letter-dataset="+dataset+"_dlq")
	if _, err := io.WriteString(stdin, strings.Join(lines, "\n")+"\n"); err != nil {
		t.Fatal(err)
	}
	stdin.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("shipper: %v\n%s", err, logs)
	}
	<-logs.done
	sum := logs.find("shipper stopped")
	if dl, lost := num(sum, "dead_lettered"), num(sum, "lost"); dl != 0 || lost != 0 {
		t.Errorf("dead letters %d, lost %d; want none\n%s", dl, lost, logs)
	}
	estest.Refresh(t, "logs-*")
	if n := estest.Count(t, "logs-"+dataset+"-default", ""); n != len(lines) {
		t.Errorf("logs-%s-default holds %d documents, want %d (one per line)\n%s", dataset, n, len(lines), logs)
	}
	return sum, logs
}

// findQuery builds a query matching documents with all the pairs.
func findQuery(pairs [][2]string) string {
	var filters []string
	for _, p := range pairs {
		f, _ := json.Marshal(p[0])
		v, _ := json.Marshal(p[1])
		op := "term"
		if textFields[p[0]] {
			op = "match_phrase"
		}
		filters = append(filters, `{"`+op+`":{`+string(f)+`:`+string(v)+`}}`)
	}
	return `{"bool":{"filter":[` + strings.Join(filters, ",") + `]}}`
}

// TestIntegrationLoggers ships what the common JSON loggers write, in their
// default configuration, into one data stream: no line is dead-lettered,
// and every line's fields are found under the names docs/documents.md
// gives.
func TestIntegrationLoggers(t *testing.T) {
	cases := loggerCases(t)
	var lines []string
	for _, c := range cases {
		if len(c.lines) != len(c.want) {
			t.Fatalf("%s: %d lines, %d expectations", c.logger, len(c.lines), len(c.want))
		}
		lines = append(lines, c.lines...)
	}
	ds := estest.Unique("loggers")
	index := "logs-" + ds + "-default"
	shipLines(t, ds, lines)
	for _, c := range cases {
		t.Run(c.logger, func(t *testing.T) {
			for i, pairs := range c.want {
				if n := estest.Count(t, index, findQuery(pairs)); n != 1 {
					t.Errorf("line %d: %d documents with %v, want 1\nline: %s", i, n, pairs, c.lines[i])
				}
			}
		})
	}
	// The ECS names of the normalisation table are mapped as documented.
	for field, want := range map[string]string{
		"service.name": "keyword", "host.name": "keyword", "error.message": "text", "url.original": "keyword",
		"user_agent.original": "keyword", "trace.id": "keyword", "span.id": "keyword", "client.address": "keyword",
		"container.name": "keyword", "event.action": "keyword", "log.flags": "keyword", "event.sequence": "long",
	} {
		if got := fieldType(t, index, field); got != want {
			t.Errorf("field %s is mapped as %q, want %q", field, got, want)
		}
	}
	// Each document has its place in the input: the sequence is unique.
	if n := estest.Count(t, index, `{"exists":{"field":"event.sequence"}}`); n != len(lines) {
		t.Errorf("%d documents with event.sequence, want %d", n, len(lines))
	}
}

// TestIntegrationMixedShapes: one key as a string, a number, an object, an
// array and a boolean in the lines of one data stream. Every line is indexed;
// values Elasticsearch could not index under the field's type stay in
// _source and the field is named in _ignored.
func TestIntegrationMixedShapes(t *testing.T) {
	lines := []string{
		`{"msg":"mixed 1","k":"text"}`,
		`{"msg":"mixed 2","k":5}`,
		`{"msg":"mixed 3","k":{"a":1}}`,
		`{"msg":"mixed 4","k":[1,2]}`,
		`{"msg":"mixed 5","k":true}`,
		`{"msg":"mixed 6","k":{"a":"not a number"}}`,
		`{"msg":"mixed 7","k":[{"a":2},"s"]}`,
		`{"msg":"mixed 8","n":5}`,
		`{"msg":"mixed 9","n":"abc","service":{"name":"obj"}}`,
		`{"msg":"mixed 10","service":"scalar","_id":"x","":1,"a..b":2}`,
		`{"msg":"mixed 11","error":{"code":5},"host":["a","b"]}`,
		`{"msg":"mixed 12","error":"plain","url":{"path":"/p"}}`,
		"\xef\xbb\xbf{\"msg\":\"mixed 13\",\"time\":\"0001-01-01T00:00:00Z\"}",
		`{"msg":"mixed 14","time":"9999-12-31T23:59:59Z","a":1,"a":{"b":2}}`,
		`{"msg":"mixed 15","fresh":[1,"x"]}`,
	}
	ds := estest.Unique("mixed")
	index := "logs-" + ds + "-default"
	shipLines(t, ds, lines)
	f := func(q string, want int) {
		t.Helper()
		if n := estest.Count(t, index, q); n != want {
			t.Errorf("%s: %d documents, want %d", q, n, want)
		}
	}
	f(`{"term":{"_ignored":"n"}}`, 1)
	f(`{"term":{"_ignored":"k.a"}}`, 1)
	f(`{"term":{"log.flags":"field_renamed"}}`, 2) // mixed 10, and mixed 15 after the sink's retry
	f(`{"term":{"fresh_original":"[1,\"x\"]"}}`, 1)
	f(`{"term":{"log.flags":"ecs_renamed"}}`, 2)
	f(`{"term":{"log.flags":"byte_order_mark"}}`, 1)
	f(`{"term":{"log.flags":"timestamp_unusable"}}`, 2)
	f(`{"term":{"log.flags":"field_merged"}}`, 1)
	f(`{"term":{"service.name":"scalar"}}`, 1)
	f(`{"term":{"service.name":"obj"}}`, 1)
	f(`{"term":{"_id_original":"x"}}`, 1)
	f(`{"term":{"error.message":"plain"}}`, 1)
	f(`{"term":{"k":"text"}}`, 1)
}

// TestIntegrationOwnLogs pipes the shipper's own log lines, warnings with
// errors included, into the shipper: none is dead-lettered.
func TestIntegrationOwnLogs(t *testing.T) {
	// A shipper that cannot reach Elasticsearch warns with an error and a
	// retry delay; one that ran writes its summary.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, okLogs := shipLines(t, estest.Unique("ownlogs_src"), []string{`{"msg":"a"}`, "b"})
	bad := exec.CommandContext(ctx, shipperBinary(t, true), "--dataset=unused")
	bad.Env = append(bad.Environ(), "ELASTICSEARCH_URL=http://127.0.0.1:1")
	// Standard input stays open (and empty): a shipper whose input ended
	// has nothing to deliver and exits without waiting for Elasticsearch.
	badIn, err := bad.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	defer badIn.Close()
	stderr := logsOf(bad)
	if err := bad.Start(); err != nil {
		t.Fatal(err)
	}
	badLogs := stderr
	for deadline := time.Now().Add(45 * time.Second); badLogs.find("Elasticsearch unreachable; will retry") == nil; {
		if time.Now().After(deadline) {
			t.Fatalf("no warning from a shipper without Elasticsearch:\n%s", badLogs)
		}
		time.Sleep(50 * time.Millisecond)
	}
	_ = bad.Process.Signal(syscall.SIGTERM)
	_ = bad.Wait()
	<-badLogs.done

	var lines []string
	for _, l := range []*logLines{okLogs, badLogs} {
		for _, s := range strings.Split(strings.TrimSpace(l.raw.String()), "\n") {
			if s != "" {
				lines = append(lines, s)
			}
		}
	}
	ds := estest.Unique("ownlogs")
	shipLines(t, ds, lines)
	if n := estest.Count(t, "logs-"+ds+"-default", `{"bool":{"filter":[{"match_phrase":{"message":"Elasticsearch unreachable"}},{"exists":{"field":"error.message"}},{"exists":{"field":"retry_in_ms"}}]}}`); n < 1 {
		t.Errorf("the warning is not found with error.message and retry_in_ms")
	}
}

// nodeLoggers is run by node with the name of a library as its last
// argument: it writes three lines with that library, configured as its
// documentation shows for JSON to stdout (pino's and bunyan's defaults,
// winston with timestamp and errors formats), with an Error whose message
// has non-ASCII characters and quotes.
const nodeLoggers = `
const which = process.argv[process.argv.length - 1];
const err = new Error('connection refused: ünïcödé "quoted"');
if (which === 'pino') {
  const p = require('pino')();
  p.info({ user: 'ann', trace_id: 'pinotrace1' }, 'pino hello\tworld');
  p.error({ err, service: 'checkout' }, 'pino failed');
  p.child({ req_id: 'r1' }).warn('pino child ✓');
} else if (which === 'winston') {
  const winston = require('winston');
  const w = winston.createLogger({
    format: winston.format.combine(winston.format.errors({ stack: true }), winston.format.timestamp(), winston.format.json()),
    transports: [new winston.transports.Console()] });
  w.info('winston hello', { service: 'user-service', user: 'bob' });
  w.error(err);
  w.warn('winston slow', { durationMs: 1234, http: { method: 'GET', path: '/a\\b' } });
} else if (which === 'bunyan') {
  const bunyan = require('bunyan');
  const b = bunyan.createLogger({ name: 'myapp', serializers: bunyan.stdSerializers });
  b.info({ user: 'cid' }, 'bunyan hello');
  b.error({ err }, 'bunyan failed');
  b.warn('bunyan %s %d', 'formatted', 42);
} else {
  throw new Error('unknown library ' + which);
}
`

// pythonLoggers is nodeLoggers for Python's structlog (JSONRenderer with the
// usual processors) and python-json-logger (JsonFormatter on the logging
// module, the format of its documentation), with an exception whose
// message has non-ASCII characters and quotes (escaped \u00fc by json.dumps).
const pythonLoggers = `
import logging, sys
which = sys.argv[-1]
try:
    raise ValueError('boom: ünïcödé "quoted"')
except ValueError:
    exc = sys.exc_info()
if which == 'structlog':
    import structlog
    structlog.configure(processors=[
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
        structlog.processors.JSONRenderer(),
    ], logger_factory=structlog.PrintLoggerFactory(sys.stdout))
    log = structlog.get_logger()
    log.info("structlog user logged in", user="ann", request_id="r-1")
    log.error("structlog failed", exc_info=exc, service="billing")
    log.warning("structlog nested", http={"method": "GET", "status": 503}, tags=["a", "b"])
elif which == 'pythonjsonlogger':
    from pythonjsonlogger import jsonlogger
    h = logging.StreamHandler(sys.stdout)
    h.setFormatter(jsonlogger.JsonFormatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    log = logging.getLogger("app.db")
    log.addHandler(h)
    log.setLevel(logging.INFO)
    log.info("pjl hello", extra={"user": "dan", "duration_ms": 12.5})
    log.error("pjl failed", exc_info=exc)
    log.warning("pjl slow query \t tab")
else:
    raise SystemExit("unknown library " + which)
`

// realLoggerLines runs library with the script of its language and returns
// its lines; missing libraries skip the test, or fail it in CI (where
// scripts/prereqs.sh installs them).
func realLoggerLines(t *testing.T, lang, library string) []string {
	t.Helper()
	var cmd *exec.Cmd
	switch lang {
	case "node":
		node, modules, err := nodefluent.FindModules("pino", "winston", "bunyan")
		if err != nil {
			missingPrereq(t, err)
		}
		cmd = exec.Command(node, "-e", nodeLoggers, library)
		cmd.Env = append(os.Environ(), "NODE_PATH="+modules)
	case "python":
		// Debian's packages install for /usr/bin/python3, which a python3
		// earlier on PATH may not see.
		py := "/usr/bin/python3"
		if out, err := exec.Command(py, "-c", "import structlog, pythonjsonlogger").CombinedOutput(); err != nil {
			missingPrereq(t, fmt.Errorf("%s with structlog and pythonjsonlogger (Debian python3-structlog, python3-pythonjsonlogger): %v: %s", py, err, out))
		}
		cmd = exec.Command(py, "-c", pythonLoggers, library)
		// python-json-logger's asctime is local time without a zone.
		cmd.Env = append(os.Environ(), "TZ=UTC")
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", lang, library, err, stderr.Bytes())
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != 3 {
		t.Fatalf("%s %s wrote %d lines, want 3:\n%s", lang, library, len(lines), out)
	}
	return lines
}

// missingPrereq skips the test for want of a tool or library that is not
// installed, or fails it in CI, where scripts/prereqs.sh and
// scripts/elasticsearch.sh install everything.
func missingPrereq(t *testing.T, err error) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatal(err)
	}
	t.Skipf("not installed (scripts/prereqs.sh installs it): %v", err)
}

// loggerLineTime returns the time a logger wrote into line under key, as
// @timestamp must hold it: epoch milliseconds (pino) or seconds with a
// fraction (GELF), read from the digits; an RFC 3339 time, with the zone as
// ±hhmm too (log4j2's Logstash template); python-json-logger's asctime (UTC
// here, see realLoggerLines).
func loggerLineTime(t *testing.T, line, key string) string {
	t.Helper()
	var m map[string]any
	d := json.NewDecoder(strings.NewReader(line))
	d.UseNumber()
	if err := d.Decode(&m); err != nil {
		t.Fatalf("%v: %s", err, line)
	}
	switch v := m[key].(type) {
	case json.Number:
		sec, frac, _ := strings.Cut(v.String(), ".")
		n, err := strconv.ParseInt(sec, 10, 64)
		if err != nil {
			t.Fatalf("%s: %v: %s", key, err, line)
		}
		if frac == "" && n >= 1e11 {
			return time.UnixMilli(n).UTC().Format(time.RFC3339Nano)
		}
		ns, _ := strconv.ParseInt((frac + "000000000")[:9], 10, 64)
		return time.Unix(n, ns).UTC().Format(time.RFC3339Nano)
	case string:
		for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999-0700", "2006-01-02 15:04:05,000"} {
			if tm, err := time.Parse(layout, v); err == nil {
				return tm.UTC().Format(time.RFC3339Nano)
			}
		}
		t.Fatalf("%s: %q is not a time: %s", key, v, line)
	}
	t.Fatalf("no time under %q: %s", key, line)
	return ""
}

// checkLoggerLines asserts that index holds exactly one document with each
// line's pairs (want[i] for lines[i]) and, as @timestamp, the time the line
// holds under timeKey.
func checkLoggerLines(t *testing.T, index string, lines []string, want [][][2]string, timeKey string) {
	t.Helper()
	for i, pairs := range want {
		pairs = append(pairs, [2]string{"@timestamp", loggerLineTime(t, lines[i], timeKey)})
		if n := estest.Count(t, index, findQuery(pairs)); n != 1 {
			t.Errorf("line %d: %d documents with %v, want 1\nline: %s", i, n, pairs, lines[i])
		}
	}
}

// TestIntegrationLoggersNodePython ships what the common JSON loggers of
// Node (pino, winston, bunyan) and Python (structlog, python-json-logger)
// write, generated by the libraries themselves rather than copied from
// their documentation: every line is indexed, none dead-lettered, and each
// is found by its message, level, fields and its own time as @timestamp.
func TestIntegrationLoggersNodePython(t *testing.T) {
	type lib struct {
		lang, name, timeKey string
		want                [][][2]string // per line, without @timestamp
	}
	libs := []lib{
		{"node", "pino", "time", [][][2]string{
			{{"message", "pino hello world"}, {"log.level", "info"}, {"trace.id", "pinotrace1"}, {"user", "ann"}},
			{{"message", "pino failed"}, {"log.level", "error"}, {"err.type", "Error"}, {"service.name", "checkout"}},
			{{"message", "pino child ✓"}, {"log.level", "warn"}, {"req_id", "r1"}},
		}},
		{"node", "winston", "timestamp", [][][2]string{
			{{"message", "winston hello"}, {"log.level", "info"}, {"service.name", "user-service"}, {"user", "bob"}},
			{{"message", `connection refused: ünïcödé "quoted"`}, {"log.level", "error"}},
			{{"message", "winston slow"}, {"log.level", "warn"}, {"http.method", "GET"}},
		}},
		{"node", "bunyan", "time", [][][2]string{
			{{"message", "bunyan hello"}, {"log.level", "info"}, {"name", "myapp"}, {"user", "cid"}},
			{{"message", "bunyan failed"}, {"log.level", "error"}, {"err.name", "Error"}},
			{{"message", "bunyan formatted 42"}, {"log.level", "warn"}},
		}},
		{"python", "structlog", "timestamp", [][][2]string{
			{{"message", "structlog user logged in"}, {"log.level", "info"}, {"user", "ann"}, {"request_id", "r-1"}},
			{{"message", "structlog failed"}, {"log.level", "error"}, {"service.name", "billing"}},
			{{"message", "structlog nested"}, {"log.level", "warning"}, {"http.method", "GET"}},
		}},
		{"python", "pythonjsonlogger", "asctime", [][][2]string{
			{{"message", "pjl hello"}, {"log.level", "info"}, {"name", "app.db"}, {"user", "dan"}},
			{{"message", "pjl failed"}, {"log.level", "error"}},
			{{"message", "pjl slow query tab"}, {"log.level", "warning"}},
		}},
	}
	var lines []string
	gen := make([][]string, len(libs))
	for k, l := range libs {
		gen[k] = realLoggerLines(t, l.lang, l.name)
		lines = append(lines, gen[k]...)
	}
	ds := estest.Unique("realloggers")
	index := "logs-" + ds + "-default"
	shipLines(t, ds, lines)
	for k, l := range libs {
		t.Run(l.name, func(t *testing.T) {
			checkLoggerLines(t, index, gen[k], l.want, l.timeKey)
		})
	}
	// The exceptions, with their escapes (json.dumps writes \u00fc) and
	// multi-byte characters, are in _source as the libraries wrote them.
	for _, c := range []struct {
		lib, message, field string
		line                int
	}{
		{"pino", "pino failed", "err", 1},
		{"winston", `connection refused: ünïcödé "quoted"`, "stack", 1},
		{"structlog", "structlog failed", "exception", 1},
		{"pythonjsonlogger", "pjl failed", "exc_info", 1},
	} {
		k := slices.IndexFunc(libs, func(l lib) bool { return l.name == c.lib })
		var want map[string]any
		if err := json.Unmarshal([]byte(gen[k][c.line]), &want); err != nil {
			t.Fatal(err)
		}
		docs := estest.Sources(t, index, `{"query":`+findQuery([][2]string{{"message", c.message}})+`}`)
		if len(docs) != 1 {
			t.Errorf("%s: %d documents with message %q, want 1", c.lib, len(docs), c.message)
			continue
		}
		got := docs[0][c.field]
		if !reflect.DeepEqual(got, want[c.field]) || !strings.Contains(fmt.Sprint(got), `ünïcödé "quoted"`) {
			t.Errorf("%s: %s is %q, want %q", c.lib, c.field, got, want[c.field])
		}
	}
}

// log4j2Version is the log4j2 that TestIntegrationLoggersLog4j2 runs.
const log4j2Version = "2.26.1"

// log4j2Source logs three events through log4j2: one with a ThreadContext
// (MDC) entry, one with non-ASCII characters, quotes and a tab, one with an
// exception and its cause.
const log4j2Source = `
import org.apache.logging.log4j.LogManager;
import org.apache.logging.log4j.Logger;
import org.apache.logging.log4j.ThreadContext;

public class Gen {
    public static void main(String[] args) {
        Logger log = LogManager.getLogger("com.example.orders.OrderService");
        ThreadContext.put("trace.id", "j4trace1");
        log.info("log4j2 order {} created for {}", 42, "ann");
        ThreadContext.clearAll();
        log.warn("log4j2 slow: ünïcödé \"quoted\"\ttab");
        log.error("log4j2 failed", new IllegalStateException("boom: ünïcödé \"quoted\"", new RuntimeException("cause")));
    }
}
`

// mavenJars returns the class path of the jars of artifacts
// (group:artifact:version, each taken alone: list the dependencies too),
// which Maven fetches (as it fetches Elasticsearch) into the user's cache
// once, under dir.
func mavenJars(t *testing.T, dir string, artifacts ...string) string {
	t.Helper()
	cache, err := os.UserCacheDir()
	if err != nil {
		t.Fatal(err)
	}
	dir = filepath.Join(cache, "shipper", dir)
	var jars []string
	for _, a := range artifacts {
		parts := strings.Split(a, ":")
		jar := filepath.Join(dir, parts[1]+"-"+parts[2]+".jar")
		jars = append(jars, jar)
		if _, err := os.Stat(jar); err == nil {
			continue
		}
		mvn, err := exec.LookPath("mvn")
		if err != nil {
			missingPrereq(t, fmt.Errorf("mvn, to fetch %s (scripts/elasticsearch.sh installs it): %w", a, err))
		}
		out, err := exec.Command(mvn, "-B", "-q", "--strict-checksums", "org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy",
			"-Dartifact="+a, "-DoutputDirectory="+dir).CombinedOutput()
		if err != nil {
			t.Fatalf("mvn could not fetch %s: %v\n%s", a, err, out)
		}
	}
	return strings.Join(jars, string(os.PathListSeparator))
}

// log4j2Jars returns the class path of log4j2's API, core and
// JsonTemplateLayout.
func log4j2Jars(t *testing.T) string {
	t.Helper()
	var as []string
	for _, a := range []string{"log4j-api", "log4j-core", "log4j-layout-template-json"} {
		as = append(as, "org.apache.logging.log4j:"+a+":"+log4j2Version)
	}
	return mavenJars(t, "log4j-"+log4j2Version, as...)
}

// javaLogLines runs the Java source src (class Gen) on classPath with the
// logging configuration conf, written to a file that the system property
// confProp names, and returns the three lines it writes to stdout.
func javaLogLines(t *testing.T, classPath, src, confProp, conf string) []string {
	t.Helper()
	// The JDK that runs Elasticsearch (scripts/elasticsearch.sh) will do.
	java, err := exec.LookPath("java")
	if err != nil {
		found, _ := filepath.Glob("/usr/lib/jvm/java-17-openjdk-*/bin/java")
		if home := os.Getenv("SHIPPER_ES_JAVA_HOME"); home != "" {
			found = append([]string{filepath.Join(home, "bin", "java")}, found...)
		}
		if len(found) == 0 {
			missingPrereq(t, err)
		}
		java = found[0]
	}
	dir := t.TempDir()
	srcPath, confPath := filepath.Join(dir, "Gen.java"), filepath.Join(dir, "logging.xml")
	if err := os.WriteFile(srcPath, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	// A single source file runs without javac (Java 11 and later).
	cmd := exec.Command(java, "-cp", classPath, "-D"+confProp+"="+confPath, srcPath)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("java: %v\n%s", err, stderr.Bytes())
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != 3 {
		t.Fatalf("java wrote %d lines, want 3:\n%s\n%s", len(lines), out, stderr.Bytes())
	}
	return lines
}

// log4j2Lines runs log4j2Source with the JsonTemplateLayout and the event
// template of log4j2's jar named tpl, writing to stdout.
func log4j2Lines(t *testing.T, classPath, tpl string) []string {
	t.Helper()
	return javaLogLines(t, classPath, log4j2Source, "log4j2.configurationFile", `<?xml version="1.0" encoding="UTF-8"?>
<Configuration status="WARN">
  <Appenders><Console name="out" target="SYSTEM_OUT"><JsonTemplateLayout eventTemplateUri="classpath:`+tpl+`.json"/></Console></Appenders>
  <Loggers><Root level="info"><AppenderRef ref="out"/></Root></Loggers>
</Configuration>
`)
}

// TestIntegrationLoggersLog4j2 ships what log4j2's JsonTemplateLayout writes
// with the event templates its jar carries for ECS, Logstash and GELF: every
// line indexed, none dead-lettered, each found by message, level, fields
// and its own time. GELF's numeric level is a syslog severity (4 is
// warning, where zerolog's 4 is fatal) and its message short_message.
func TestIntegrationLoggersLog4j2(t *testing.T) {
	cp := log4j2Jars(t)
	type tpl struct {
		name, timeKey string
		want          [][][2]string
	}
	tpls := []tpl{
		{"EcsLayout", "@timestamp", [][][2]string{
			{{"message", "log4j2 order 42 created for ann"}, {"log.level", "info"}, {"log.logger", "com.example.orders.OrderService"}, {"trace.id", "j4trace1"}},
			{{"message", `log4j2 slow: ünïcödé "quoted"`}, {"log.level", "warn"}, {"process.thread.name", "main"}},
			{{"message", "log4j2 failed"}, {"log.level", "error"}, {"error.type", "java.lang.IllegalStateException"}, {"error.message", `boom: ünïcödé "quoted"`}},
		}},
		{"LogstashJsonEventLayoutV1", "@timestamp", [][][2]string{
			{{"message", "log4j2 order 42 created for ann"}, {"log.level", "info"}, {"logger_name", "com.example.orders.OrderService"}, {"mdc.trace.id", "j4trace1"}},
			{{"message", `log4j2 slow: ünïcödé "quoted"`}, {"log.level", "warn"}, {"thread_name", "main"}},
			{{"message", "log4j2 failed"}, {"log.level", "error"}, {"exception.exception_class", "java.lang.IllegalStateException"}},
		}},
		{"GelfLayout", "timestamp", [][][2]string{
			{{"message", "log4j2 order 42 created for ann"}, {"log.level", "info"}, {"_logger", "com.example.orders.OrderService"}},
			{{"message", `log4j2 slow: ünïcödé "quoted"`}, {"log.level", "warning"}, {"_thread", "main"}},
			{{"message", "log4j2 failed"}, {"log.level", "error"}},
		}},
	}
	var lines []string
	gen := make([][]string, len(tpls))
	for k, l := range tpls {
		gen[k] = log4j2Lines(t, cp, l.name)
		lines = append(lines, gen[k]...)
	}
	ds := estest.Unique("log4j2")
	index := "logs-" + ds + "-default"
	shipLines(t, ds, lines)
	for k, l := range tpls {
		t.Run(l.name, func(t *testing.T) {
			checkLoggerLines(t, index, gen[k], l.want, l.timeKey)
		})
	}
}

// logbackSource is log4j2Source through SLF4J, for logback.
const logbackSource = `
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.slf4j.MDC;

public class Gen {
    public static void main(String[] args) {
        Logger log = LoggerFactory.getLogger("com.example.orders.OrderService");
        MDC.put("traceId", "lbtrace1");
        log.info("logback order {} created for {}", 42, "ann");
        MDC.clear();
        log.warn("logback slow: ünïcödé \"quoted\"\ttab");
        log.error("logback failed", new IllegalStateException("boom: ünïcödé \"quoted\"", new RuntimeException("cause")));
    }
}
`

// TestIntegrationLoggersLogback ships what logback writes with
// logstash-logback-encoder's LogstashEncoder (the usual JSON setup of
// Spring Boot services): every line indexed, none dead-lettered, each found
// by message, level, MDC and its own time (nanoseconds).
func TestIntegrationLoggersLogback(t *testing.T) {
	cp := mavenJars(t, "logback-1.5.38",
		"ch.qos.logback:logback-classic:1.5.38", "ch.qos.logback:logback-core:1.5.38", "org.slf4j:slf4j-api:2.0.17",
		"net.logstash.logback:logstash-logback-encoder:8.1", "com.fasterxml.jackson.core:jackson-core:2.19.0",
		"com.fasterxml.jackson.core:jackson-databind:2.19.0", "com.fasterxml.jackson.core:jackson-annotations:2.19.0")
	lines := javaLogLines(t, cp, logbackSource, "logback.configurationFile", `<configuration>
  <appender name="out" class="ch.qos.logback.core.ConsoleAppender">
    <encoder class="net.logstash.logback.encoder.LogstashEncoder"/>
  </appender>
  <root level="INFO"><appender-ref ref="out"/></root>
</configuration>
`)
	want := [][][2]string{
		{{"message", "logback order 42 created for ann"}, {"log.level", "info"}, {"logger_name", "com.example.orders.OrderService"}, {"trace.id", "lbtrace1"}},
		{{"message", `logback slow: ünïcödé "quoted"`}, {"log.level", "warn"}, {"thread_name", "main"}},
		{{"message", "logback failed"}, {"log.level", "error"}, {"level_value", "40000"}},
	}
	ds := estest.Unique("logback")
	index := "logs-" + ds + "-default"
	shipLines(t, ds, lines)
	checkLoggerLines(t, index, lines, want, "@timestamp")
	if n := estest.Count(t, index, `{"exists":{"field":"stack_trace"}}`); n != 1 {
		t.Errorf("%d documents with stack_trace, want 1", n)
	}
}
