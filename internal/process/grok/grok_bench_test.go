//go:build unix

package grok

import (
	"syscall"
	"testing"
	"time"
)

const (
	benchNginx        = `203.0.113.17 - - [03/Dec/2026:12:36:28 +0000] "GET /api/v1/orders?id=18231&expand=items HTTP/1.1" 200 5123 "https://shop.example.com/cart" "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36"`
	benchApache       = `198.51.100.23 - frank [03/Dec/2026:12:36:28 -0700] "POST /login HTTP/1.0" 302 0`
	benchSyslog       = `Dec  3 12:36:28 web-01 sshd[24311]: Accepted publickey for deploy from 198.51.100.4 port 52211 ssh2`
	benchMissLiterals = `web-01 upstream [03/Dec/2026:12:36:28 +0000] "GET /api/v1/orders HTTP/1.1" status "502" "upstream timed out" after 30.001 s`
	benchKlog         = `I1203 12:36:28.512345       1 controller.go:176] "Reconciling" object="default/web" generation=7`
)

func BenchmarkMatch(b *testing.B) {
	klog := map[string]string{"KLOGLEVEL": "[IWEF]", "KLOGDATE": "%{MONTHNUM2}%{MONTHDAY}"}
	cases := []struct {
		name     string
		patterns []string
		custom   map[string]string
		line     string
		match    bool
	}{
		{"nginx-combined", []string{"%{COMBINEDAPACHELOG}"}, nil, benchNginx, true},
		{"nginx-combined-anchored", []string{"^%{COMBINEDAPACHELOG}"}, nil, benchNginx, true},
		{"apache-common", []string{"%{COMMONAPACHELOG}"}, nil, benchApache, true},
		{"syslog", []string{"%{SYSLOGLINE}"}, nil, benchSyslog, true},
		{"klog", []string{`%{KLOGLEVEL:log.level}%{KLOGDATE:date} %{TIME:time} +%{INT:thread:int} %{NOTSPACE:file}:%{INT:line:int}\] %{GREEDYDATA:message}`}, klog, benchKlog, true},
		{"simple", []string{"%{IP:client} %{WORD:method} %{URIPATHPARAM:request} %{NUMBER:bytes:int} %{NUMBER:duration:float}"}, nil, "55.3.244.1 GET /index.html 15824 0.043", true},
		// A syslog line through an access-log pattern: the cost of a miss.
		{"miss-unanchored", []string{"%{COMBINEDAPACHELOG}"}, nil, benchSyslog, false},
		{"miss-anchored", []string{"^%{COMBINEDAPACHELOG}"}, nil, benchSyslog, false},
		// A miss the required literals do not rule out.
		{"miss-with-literals", []string{"%{COMBINEDAPACHELOG}"}, nil, benchMissLiterals, false},
		{"miss-with-literals-anchored", []string{"^%{COMBINEDAPACHELOG}"}, nil, benchMissLiterals, false},
		// Second of two patterns matches.
		{"second-of-two", []string{"%{COMBINEDAPACHELOG}", "%{SYSLOGLINE}"}, nil, benchSyslog, true},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			g, err := Compile(c.patterns, c.custom)
			if err != nil {
				b.Fatal(err)
			}
			line := []byte(c.line)
			out, ok := g.Match(line, nil)
			if ok != c.match {
				b.Fatalf("match %v; want %v", ok, c.match)
			}
			b.SetBytes(int64(len(line)))
			b.ReportAllocs()
			b.ResetTimer()
			start := cpuTime()
			for b.Loop() {
				out, _ = g.Match(line, out[:0])
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
