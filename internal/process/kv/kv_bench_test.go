//go:build unix

package kv

import (
	"syscall"
	"testing"
	"time"
)

func BenchmarkParse(b *testing.B) {
	cases := []struct {
		name string
		opts Options
		line string
	}{
		{"logfmt", Options{}, `time=2026-12-03T12:36:28.512Z level=info msg="request done" method=GET path=/api/v1/orders status=200 duration=1.2ms trace_id=4bf92f3577b34da6a3ce929d0e0e4736`},
		{"logfmt-prefix-include", Options{Prefix: "app.", IncludeKeys: []string{"level", "status", "duration"}}, `time=2026-12-03T12:36:28.512Z level=info msg="request done" method=GET path=/api/v1/orders status=200 duration=1.2ms trace_id=4bf92f3577b34da6a3ce929d0e0e4736`},
		{"firewall", Options{}, `date=2026-12-03 time=12:36:28 devname="fw-01" logid="0000000013" type="traffic" subtype="forward" srcip=10.1.2.3 srcport=51234 dstip=93.184.216.34 dstport=443 action="accept" proto=6 sentbyte=1834 rcvdbyte=9821`},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			p, err := New(c.opts)
			if err != nil {
				b.Fatal(err)
			}
			line := []byte(c.line)
			out := p.Parse(line, nil)
			b.SetBytes(int64(len(line)))
			b.ReportAllocs()
			b.ResetTimer()
			start := cpuTime()
			for b.Loop() {
				out = p.Parse(line, out[:0])
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
