// Package corpus generates realistic application log lines for benchmarks:
// JSON objects in the shapes the common loggers write (zerolog, zap, logrus,
// slog, pino, log4j2's ECS layout, structlog), with the entropy of production
// logs (random trace and span ids, user ids, host names with random
// suffixes, varied messages and durations, nested http objects on some
// lines, escaped multi-line stack traces on about 2 % of them), plain or
// wrapped the way container runtimes store them (CRI, Docker json-file).
//
// A synthetic corpus of near-identical lines compresses 25x and makes gzip
// look ten times cheaper than it is on real logs; bulk bodies of this corpus
// compress about 5x, as production logs do. The output is a pure function of
// the seed: the same seed gives the same bytes on every machine.
package corpus

import (
	"bufio"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"time"
)

// Format is how lines are wrapped.
type Format int

const (
	// Raw is the application's own line, as written to stdout.
	Raw Format = iota
	// CRI is the containerd/CRI-O log file format:
	// "<RFC 3339 time> stdout F <line>".
	CRI
	// DockerJSON is Docker's json-file format:
	// {"log":"<line, escaped>\n","stream":"stdout","time":"<RFC 3339>"}.
	DockerJSON
)

// Generator produces lines. Not safe for concurrent use.
type Generator struct {
	r   *rand.Rand
	t   time.Time // the clock of the logs: advances by a few hundred µs a line
	tmp []byte
	// Fixed per corpus: the pods of a deployment, the users of a service.
	hosts []string
	users []string
}

// Start is the time of the first line.
var Start = time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)

// New returns a Generator for seed.
func New(seed uint64) *Generator {
	g := &Generator{r: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), t: Start}
	for i := 0; i < 40; i++ {
		svc := services[g.r.IntN(len(services))]
		g.hosts = append(g.hosts, svc+"-"+g.alnum(10)+"-"+g.alnum(5))
	}
	for i := 0; i < 5000; i++ {
		g.users = append(g.users, "u_"+strconv.Itoa(100000+g.r.IntN(900000)))
	}
	return g
}

var (
	services = []string{"checkout", "orders", "payments", "catalog", "cart", "auth", "search", "shipping", "inventory", "notifications"}
	methods  = []string{"GET", "GET", "GET", "GET", "POST", "POST", "PUT", "DELETE", "PATCH"}
	paths    = []string{"/api/v1/orders/%d", "/api/v1/users/%d/cart", "/api/v2/catalog/items/%d", "/api/v1/payments/%d/capture",
		"/healthz", "/api/v1/search?q=item-%d&page=2", "/api/v1/shipments/%d/track", "/api/v1/inventory/sku-%d"}
	statuses = []int{200, 200, 200, 200, 200, 200, 200, 201, 204, 301, 304, 400, 401, 403, 404, 404, 409, 429, 500, 502, 503}
	agents   = []string{"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
		"Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
		"okhttp/4.12.0", "Go-http-client/1.1", "curl/8.5.0", "python-requests/2.32.3", "kube-probe/1.31"}
	levels   = []string{"info", "info", "info", "info", "info", "info", "info", "debug", "debug", "warn", "warn", "error"}
	messages = []string{
		"request handled", "request completed", "cache miss for key %s", "order %d created for customer %s",
		"payment authorised for order %d amount=%d.%02d EUR", "retrying upstream call to %s (attempt %d)",
		"user %s logged in from %d.%d.%d.%d", "slow query took %dms: SELECT * FROM orders WHERE customer_id = $1 LIMIT 50",
		"published event OrderShipped id=%s", "connection pool exhausted, waiting (active=%d idle=0)",
		"token refreshed for client %s", "failed to reach %s: context deadline exceeded", "item %d out of stock in warehouse %s",
		"processed batch of %d messages from topic orders.v1 partition %d", "feature flag %s evaluated to true",
		"rate limit exceeded for api key %s", "scheduled job reconcile-inventory finished in %dms", "GET %s returned %d",
	}
	loggers  = []string{"com.example.orders.OrderService", "com.example.payments.PaymentGateway", "org.springframework.web.servlet.DispatcherServlet", "com.example.catalog.ItemRepository", "io.netty.channel.DefaultChannelPipeline"}
	pyLogger = []string{"app.views.orders", "app.tasks.billing", "app.db.session", "uvicorn.access", "celery.worker"}
	callers  = []string{"orders/handler.go:142", "payments/client.go:88", "internal/db/pool.go:311", "cmd/api/main.go:57", "catalog/cache.go:203"}
	frames   = []string{"com.example.orders.OrderService.create(OrderService.java:%d)", "com.example.payments.PaymentGateway.capture(PaymentGateway.java:%d)",
		"org.springframework.web.servlet.FrameworkServlet.service(FrameworkServlet.java:%d)", "jakarta.servlet.http.HttpServlet.service(HttpServlet.java:%d)",
		"org.apache.catalina.core.ApplicationFilterChain.doFilter(ApplicationFilterChain.java:%d)", "java.base/java.lang.Thread.run(Thread.java:%d)",
		"org.hibernate.engine.jdbc.spi.SqlExceptionHelper.convert(SqlExceptionHelper.java:%d)", "com.zaxxer.hikari.pool.HikariPool.getConnection(HikariPool.java:%d)"}
	exceptions = []string{"java.lang.IllegalStateException: order already captured", "org.hibernate.exception.JDBCConnectionException: Unable to acquire JDBC Connection",
		"java.net.SocketTimeoutException: Read timed out", "java.lang.NullPointerException: Cannot invoke \"String.length()\" because \"name\" is null"}
)

const hexd = "0123456789abcdef"
const alnumd = "abcdefghijklmnopqrstuvwxyz0123456789"

func (g *Generator) hex(n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = hexd[g.r.IntN(16)]
	}
	return string(b)
}

func (g *Generator) alnum(n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = alnumd[g.r.IntN(len(alnumd))]
	}
	return string(b)
}

func pick[T any](g *Generator, s []T) T { return s[g.r.IntN(len(s))] }

func (g *Generator) message() string {
	f := pick(g, messages)
	var args []any
	for i := 0; i < len(f)-1; i++ {
		if f[i] != '%' {
			continue
		}
		switch f[i+1] {
		case 'd':
			args = append(args, g.r.IntN(100000))
		case '0':
			args = append(args, g.r.IntN(100))
		case 's':
			switch g.r.IntN(3) {
			case 0:
				args = append(args, pick(g, g.users))
			case 1:
				args = append(args, g.hex(12))
			default:
				args = append(args, pick(g, services)+".svc.cluster.local:8080")
			}
		}
	}
	return fmt.Sprintf(f, args...)
}

func (g *Generator) path() string {
	p := pick(g, paths)
	if strings.Contains(p, "%d") {
		return fmt.Sprintf(p, g.r.IntN(1000000))
	}
	return p
}

func (g *Generator) stack() string {
	b := []byte(pick(g, exceptions))
	n := 6 + g.r.IntN(14)
	for i := 0; i < n; i++ {
		b = append(b, "\n\tat "...)
		b = fmt.Appendf(b, pick(g, frames), 20+g.r.IntN(900))
	}
	if g.r.IntN(3) == 0 {
		b = append(b, "\nCaused by: java.sql.SQLTransientConnectionException: HikariPool-1 - Connection is not available, request timed out after 30000ms."...)
		b = append(b, "\n\t... 42 more"...)
	}
	return string(b)
}

// q appends s as a JSON string.
func q(dst []byte, s string) []byte { return strconv.AppendQuote(dst, s) }

// AppendLine appends one application log line (no newline) and advances the
// clock.
func (g *Generator) AppendLine(dst []byte) []byte {
	g.t = g.t.Add(time.Duration(50+g.r.IntN(400)) * time.Microsecond)
	t := g.t
	lvl := pick(g, levels)
	svc := pick(g, services)
	host := pick(g, g.hosts)
	trace, span := g.hex(32), g.hex(16)
	withHTTP := g.r.IntN(2) == 0
	withStack := g.r.IntN(50) == 0
	if withStack {
		lvl = "error"
	}
	msg := g.message()
	switch g.r.IntN(7) {
	case 0: // zerolog
		dst = append(dst, `{"level":`...)
		dst = q(dst, lvl)
		dst = append(dst, `,"service":`...)
		dst = q(dst, svc)
		dst = append(dst, `,"host":`...)
		dst = q(dst, host)
		dst = append(dst, `,"env":"production","version":"1.42.3","trace_id":"`+trace+`","span_id":"`+span+`","user_id":`...)
		dst = q(dst, pick(g, g.users))
		if withHTTP {
			dst = fmt.Appendf(dst, `,"method":"%s","path":%q,"status":%d,"duration_ms":%d.%03d,"bytes_out":%d,"user_agent":%q`,
				pick(g, methods), g.path(), pick(g, statuses), g.r.IntN(800), g.r.IntN(1000), g.r.IntN(90000), pick(g, agents))
		}
		if withStack {
			dst = append(dst, `,"error":`...)
			dst = q(dst, g.stack())
		}
		dst = append(dst, `,"time":"`...)
		dst = t.AppendFormat(dst, "2006-01-02T15:04:05.000Z07:00")
		dst = append(dst, `","message":`...)
		dst = q(dst, msg)
		return append(dst, '}')
	case 1: // zap production encoder
		dst = append(dst, `{"level":`...)
		dst = q(dst, lvl)
		dst = fmt.Appendf(dst, `,"ts":%d.%06d,"logger":"%s","caller":%q,"msg":`, t.Unix(), t.Nanosecond()/1000, svc, pick(g, callers))
		dst = q(dst, msg)
		dst = append(dst, `,"trace_id":"`+trace+`","span_id":"`+span+`","service":"`+svc+`","env":"production","hostname":`...)
		dst = q(dst, host)
		if withHTTP {
			dst = fmt.Appendf(dst, `,"http":{"method":"%s","url":%q,"status_code":%d,"latency":%d.%09d,"remote_addr":"10.%d.%d.%d:%d","user_agent":%q}`,
				pick(g, methods), g.path(), pick(g, statuses), g.r.IntN(2), g.r.IntN(1e9), g.r.IntN(256), g.r.IntN(256), g.r.IntN(256), 30000+g.r.IntN(30000), pick(g, agents))
		}
		if withStack {
			dst = append(dst, `,"stacktrace":`...)
			dst = q(dst, g.stack())
		}
		return append(dst, '}')
	case 2: // logrus JSONFormatter: keys sorted
		if withHTTP {
			dst = fmt.Appendf(dst, `{"duration":"%d.%dms","host":%q,"level":%q,"method":"%s","msg":%q,"path":%q,"request_id":"%s","status":%d,"time":"`,
				g.r.IntN(900), g.r.IntN(1000), host, lvl, pick(g, methods), msg, g.path(), g.hex(8)+"-"+g.hex(4)+"-"+g.hex(4)+"-"+g.hex(4)+"-"+g.hex(12), pick(g, statuses))
		} else {
			dst = fmt.Appendf(dst, `{"component":%q,"env":"production","host":%q,"level":%q,"msg":%q,"request_id":"%s","tenant":"t-%d","time":"`,
				svc, host, lvl, msg, g.hex(8)+"-"+g.hex(4)+"-"+g.hex(4)+"-"+g.hex(4)+"-"+g.hex(12), g.r.IntN(500))
		}
		dst = t.In(cet).AppendFormat(dst, time.RFC3339)
		dst = append(dst, `","trace_id":"`+trace+`"`...)
		if withStack {
			dst = append(dst, `,"error":`...)
			dst = q(dst, g.stack())
		}
		return append(dst, '}')
	case 3: // log/slog JSONHandler
		dst = append(dst, `{"time":"`...)
		dst = t.AppendFormat(dst, time.RFC3339Nano)
		dst = fmt.Appendf(dst, `","level":%q,"source":{"function":"main.(*server).handle","file":"/app/server.go","line":%d},"msg":%q,"service":%q,"trace_id":"%s","span_id":"%s","user":%q`,
			upper(lvl), 100+g.r.IntN(400), msg, svc, trace, span, pick(g, g.users))
		if withHTTP {
			dst = fmt.Appendf(dst, `,"http":{"method":"%s","path":%q,"status":%d,"duration":%d,"user_agent":%q}`,
				pick(g, methods), g.path(), pick(g, statuses), g.r.IntN(900000000), pick(g, agents))
		}
		if withStack {
			dst = append(dst, `,"err":`...)
			dst = q(dst, g.stack())
		}
		return append(dst, '}')
	case 4: // pino
		dst = fmt.Appendf(dst, `{"level":%d,"time":%d,"pid":%d,"hostname":%q,"name":%q,"reqId":"req-%s","userId":%q`,
			pinoLevel(lvl), t.UnixMilli(), 1+g.r.IntN(60), host, svc, g.alnum(6), pick(g, g.users))
		if withHTTP {
			dst = fmt.Appendf(dst, `,"req":{"method":"%s","url":%q,"remoteAddress":"::ffff:10.%d.%d.%d","remotePort":%d},"res":{"statusCode":%d},"responseTime":%d`,
				pick(g, methods), g.path(), g.r.IntN(256), g.r.IntN(256), g.r.IntN(256), 30000+g.r.IntN(30000), pick(g, statuses), g.r.IntN(900))
		}
		dst = append(dst, `,"traceId":"`+trace+`","spanId":"`+span+`"`...)
		if withStack {
			dst = append(dst, `,"err":{"type":"Error","message":"upstream failed","stack":`...)
			dst = q(dst, g.stack())
			dst = append(dst, '}')
		}
		dst = append(dst, `,"msg":`...)
		dst = q(dst, msg)
		return append(dst, '}')
	case 5: // log4j2 EcsLayout
		dst = append(dst, `{"@timestamp":"`...)
		dst = t.AppendFormat(dst, "2006-01-02T15:04:05.000Z07:00")
		dst = fmt.Appendf(dst, `","log.level":%q,"message":%q,"ecs.version":"1.2.0","service.name":%q,"service.environment":"production","event.dataset":"%s.log","process.thread.name":"http-nio-8080-exec-%d","log.logger":%q,"host.hostname":%q,"trace.id":"%s","transaction.id":"%s","user.id":%q`,
			upper(lvl), msg, svc, svc, 1+g.r.IntN(200), pick(g, loggers), host, trace, span, pick(g, g.users))
		if withStack {
			dst = append(dst, `,"error.type":"java.lang.IllegalStateException","error.message":"order already captured","error.stack_trace":`...)
			dst = q(dst, g.stack())
		}
		return append(dst, '}')
	default: // structlog JSONRenderer
		dst = fmt.Appendf(dst, `{"event":%q,"level":%q,"logger":%q,"timestamp":"`, msg, lvl, pick(g, pyLogger))
		dst = t.AppendFormat(dst, "2006-01-02T15:04:05.000000Z")
		dst = fmt.Appendf(dst, `","request_id":"%s","user_id":%q,"host":%q,"service":%q,"env":"production","version":"2024.11.3"`, g.hex(32), pick(g, g.users), host, svc)
		if withHTTP {
			dst = fmt.Appendf(dst, `,"http":{"method":"%s","path":%q,"status_code":%d},"duration_ms":%d.%d`, pick(g, methods), g.path(), pick(g, statuses), g.r.IntN(900), g.r.IntN(10))
		}
		if withStack {
			dst = append(dst, `,"exception":`...)
			dst = q(dst, "Traceback (most recent call last):\n  File \"/app/tasks/billing.py\", line 88, in charge\n    resp = client.post(url, json=payload)\n"+g.stack())
		}
		return append(dst, '}')
	}
}

var cet = time.FixedZone("CET", 3600)

func upper(s string) string {
	switch s {
	case "info":
		return "INFO"
	case "debug":
		return "DEBUG"
	case "warn":
		return "WARN"
	}
	return "ERROR"
}

func pinoLevel(s string) int {
	switch s {
	case "debug":
		return 20
	case "warn":
		return 40
	case "error":
		return 50
	}
	return 30
}

// runtimeDelay is how much later than the application the container runtime
// stamps a line. Fixed, so that a wrapped corpus holds the same application
// lines as the raw one of the same seed.
const runtimeDelay = 137 * time.Microsecond

// AppendRecord appends one line in format f, with its newline.
func (g *Generator) AppendRecord(dst []byte, f Format) []byte {
	switch f {
	case CRI:
		g.tmp = g.AppendLine(g.tmp[:0])
		dst = g.t.Add(runtimeDelay).AppendFormat(dst, time.RFC3339Nano)
		dst = append(dst, " stdout F "...)
		dst = append(dst, g.tmp...)
	case DockerJSON:
		g.tmp = g.AppendLine(g.tmp[:0])
		dst = append(dst, `{"log":`...)
		// Docker's encoder escapes like encoding/json: quotes, backslashes,
		// control characters; the line's "\n" ends the value.
		s := strconv.AppendQuote(nil, string(g.tmp))
		dst = append(dst, s[:len(s)-1]...)
		dst = append(dst, `\n","stream":"stdout","time":"`...)
		dst = g.t.Add(runtimeDelay).AppendFormat(dst, time.RFC3339Nano)
		dst = append(dst, `"}`...)
	default:
		dst = g.AppendLine(dst)
	}
	return append(dst, '\n')
}

// Write writes n records in format f to w.
func (g *Generator) Write(w io.Writer, n int, f Format) error {
	bw := bufio.NewWriterSize(w, 1<<20)
	var b []byte
	for i := 0; i < n; i++ {
		b = g.AppendRecord(b[:0], f)
		if _, err := bw.Write(b); err != nil {
			return err
		}
	}
	return bw.Flush()
}

// WriteFile writes n records of seed in format f to a new file at path.
func WriteFile(path string, seed uint64, n int, f Format) error {
	out, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("cannot create corpus file %q: %w", path, err)
	}
	if err := New(seed).Write(out, n, f); err != nil {
		out.Close()
		return fmt.Errorf("cannot write corpus file %q: %w", path, err)
	}
	return out.Close()
}
