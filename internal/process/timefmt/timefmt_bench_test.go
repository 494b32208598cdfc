//go:build unix

package timefmt

import (
	"syscall"
	"testing"
	"time"
)

func BenchmarkParse(b *testing.B) {
	cases := []struct {
		name    string
		formats []string
		tz      string
		in      string
	}{
		{"httpdate", []string{"dd/MMM/yyyy:HH:mm:ss Z"}, "", "03/Dec/2026:12:36:28 +0000"},
		{"iso8601", []string{"ISO8601"}, "", "2026-12-03T12:36:28.512345Z"},
		{"syslog-tz", []string{"MMM dd HH:mm:ss", "MMM  d HH:mm:ss"}, "Europe/Berlin", "Dec  3 12:36:28"},
		{"log4j", []string{"yyyy-MM-dd HH:mm:ss,SSS"}, "America/New_York", "2026-12-03 12:36:28,512"},
		{"klog", []string{"'I'MMdd HH:mm:ss.SSSSSS"}, "", "I1203 12:36:28.512345"},
		{"unix_ms", []string{"UNIX_MS"}, "", "1764765388512"},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			p, err := Compile(c.formats, c.tz)
			if err != nil {
				b.Fatal(err)
			}
			in := []byte(c.in)
			if _, ok := p.Parse(in); !ok {
				b.Fatalf("%q does not parse", c.in)
			}
			b.ReportAllocs()
			start := cpuTime()
			for b.Loop() {
				p.Parse(in)
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
