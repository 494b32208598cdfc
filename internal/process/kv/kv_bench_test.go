package kv

import "testing"

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
			for b.Loop() {
				out = p.Parse(line, out[:0])
			}
		})
	}
}
