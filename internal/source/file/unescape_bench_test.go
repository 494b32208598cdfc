package file

import (
	"bytes"
	"testing"

	"shipper/internal/testutil/corpus"
)

// BenchmarkUnescapeCode decodes the "log" values of the corpus's json-file
// lines (escaped JSON, an escape every nine bytes or so) with unescapeFast
// as it runs on this machine, and with the eight-byte code of machines
// without AVX2.
func BenchmarkUnescapeCode(b *testing.B) {
	var buf bytes.Buffer
	corpus.New(1).Write(&buf, 5000, corpus.DockerJSON)
	lines := bytes.Split(bytes.TrimSuffix(buf.Bytes(), []byte("\n")), []byte("\n"))
	const at = len(`{"log":`)
	for _, tc := range []struct {
		name string
		f    func(dst, b []byte, i int) ([]byte, int, bool)
	}{
		{"fast", unescapeFast},
		{"swar", unescapeSWAR},
	} {
		b.Run(tc.name, func(b *testing.B) {
			var dst []byte
			b.SetBytes(int64(buf.Len()))
			b.ReportAllocs()
			for b.Loop() {
				for _, l := range lines {
					dst, _, _ = tc.f(dst, l, at)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(lines)), "ns/line")
		})
	}
}
