//go:build unix

package dissect

import (
	"syscall"
	"testing"
	"time"
)

func BenchmarkMatch(b *testing.B) {
	cases := []struct{ name, pattern, line string }{
		{"nginx",
			`%{source.address} - %{user.name} [%{timestamp}] "%{http.request.method} %{url.original} HTTP/%{http.version}" %{http.response.status_code} %{http.response.body.bytes} "%{http.request.referrer}" "%{user_agent.original}"`,
			`203.0.113.17 - - [03/Dec/2026:12:36:28 +0000] "GET /api/v1/orders?id=18231&expand=items HTTP/1.1" 200 5123 "https://shop.example.com/cart" "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36"`},
		{"syslog",
			"%{ts} %{+ts} %{+ts} %{host} %{prog}[%{pid}]: %{msg}",
			"Dec  3 12:36:28 web-01 sshd[24311]: Accepted publickey for deploy from 198.51.100.4 port 52211 ssh2: ED25519 SHA256:Xk3"},
		{"klog",
			"%{level_and_date} %{time->} %{thread} %{file}:%{line}] %{msg}",
			`I1203 12:36:28.512345       1 controller.go:176] "Reconciling" object="default/web" generation=7`},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			p, err := Compile(c.pattern, Options{AppendSeparator: " "})
			if err != nil {
				b.Fatal(err)
			}
			line := []byte(c.line)
			out := make([]Field, 0, 16)
			if _, ok := p.Match(line, out); !ok {
				b.Fatalf("%s does not match", c.name)
			}
			b.SetBytes(int64(len(line)))
			b.ReportAllocs()
			b.ResetTimer()
			start := cpuTime()
			for b.Loop() {
				out, _ = p.Match(line, out[:0])
			}
			b.ReportMetric(float64(cpuTime()-start)/float64(b.N), "cpu-ns/op")
		})
	}
}

// cpuTime is the CPU time of the process: on a machine shared with other
// work, cpu-ns/op (CPU time per call) stays meaningful when ns/op (wall
// time) does not.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
