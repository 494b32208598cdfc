package file

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"testing"

	"shipper/internal/parse"
	"shipper/internal/testutil/corpus"
)

// benchFile returns about size bytes of lines of lineLen bytes (with '\n')
// made by mk.
func benchFile(size, lineLen int, mk func(i int, body string) string) []byte {
	var b bytes.Buffer
	for i := 0; b.Len() < size; i++ {
		line := mk(i, "")
		body := strings.Repeat("x", max(0, lineLen-len(line)-1))
		b.WriteString(mk(i, body))
		b.WriteByte('\n')
	}
	return b.Bytes()
}

func BenchmarkLineReader(b *testing.B) {
	data := benchFile(32<<20, 250, func(i int, body string) string { return fmt.Sprintf("%08d %s", i, body) })
	rd := bytes.NewReader(data)
	r := NewLineReader(rd, 0, 0, 0)
	defer r.Release()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	lines := 0
	for b.Loop() {
		rd.Reset(data)
		r.Reset(rd, 0)
		for {
			_, _, _, err := r.Next()
			if err == io.EOF {
				break
			}
			lines++
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(lines), "ns/line")
}

// benchDecode frames data with a LineReader and decodes it, as a follower does.
func benchDecode(b *testing.B, cfg DecoderConfig, data []byte) {
	rd := bytes.NewReader(data)
	r := NewLineReader(rd, 0, 0, 0)
	defer r.Release()
	d := NewDecoder(cfg)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	recs := 0
	for b.Loop() {
		rd.Reset(data)
		r.Reset(rd, 0)
		d.Reset(0)
		for {
			line, size, end, err := r.Next()
			if err == io.EOF {
				break
			}
			if _, ok := d.Add(Line{Data: line, Size: size, Start: end - int64(size) - 1, End: end}, 0); ok {
				recs++
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(recs), "ns/record")
}

func BenchmarkDecodeCRI(b *testing.B) {
	// The realistic corpus: one F line per record, all on stdout.
	b.Run("corpus", func(b *testing.B) {
		var buf bytes.Buffer
		corpus.New(1).Write(&buf, 20000, corpus.CRI)
		benchDecode(b, DecoderConfig{Format: FormatCRI}, buf.Bytes())
	})
	// 250-byte lines; one record in eight is split into three P pieces, and
	// the streams alternate.
	b.Run("pieces", func(b *testing.B) {
		data := benchFile(16<<20, 250, func(i int, body string) string {
			stream, tag := "stdout", "F"
			if i%3 == 0 {
				stream = "stderr"
			}
			if i%24 < 2 {
				tag = "P"
				stream = "stdout"
			} else if i%24 == 2 {
				stream = "stdout"
			}
			return "2024-05-01T10:00:00.123456789+00:00 " + stream + " " + tag + " " + body
		})
		benchDecode(b, DecoderConfig{Format: FormatCRI}, data)
	})
}

func BenchmarkDecodeDocker(b *testing.B) {
	for _, tc := range []struct{ name, escape string }{
		{"plain", ""},
		{"escapes", `\"quoted\" \u003chtml\u003e \t`},
	} {
		b.Run(tc.name, func(b *testing.B) {
			data := benchFile(16<<20, 250, func(i int, body string) string {
				return `{"log":"` + tc.escape + body + `\n","stream":"stdout","time":"2024-05-01T10:00:00.123456789Z"}`
			})
			benchDecode(b, DecoderConfig{Format: FormatDocker}, data)
		})
	}
	// The realistic corpus: JSON application logs, whose "log" value has an
	// escaped quote every few bytes.
	b.Run("corpus", func(b *testing.B) {
		var buf bytes.Buffer
		corpus.New(1).Write(&buf, 20000, corpus.DockerJSON)
		benchDecode(b, DecoderConfig{Format: FormatDocker}, buf.Bytes())
	})
}

func BenchmarkDecodePlainMultiline(b *testing.B) {
	data := benchFile(16<<20, 120, func(i int, body string) string {
		if i%10 == 0 {
			return "2024-05-01 10:00:00 ERROR " + body
		}
		return "\tat com.example.Handler.handle(Handler.java:42) " + body
	})
	benchDecode(b, DecoderConfig{Format: FormatPlain, Multiline: &MultilineConfig{}}, data)
}

// BenchmarkUnescapeLog decodes the "log" values of the corpus's json-file
// lines (escaped JSON, an escape every nine bytes or so) with the fast
// unescaper as it runs on this machine, without VBMI2 where the machine has
// it ("fast-shuffle"), with the eight-byte code of machines without AVX2,
// and with the general unescaper.
func BenchmarkUnescapeLog(b *testing.B) {
	var buf bytes.Buffer
	corpus.New(1).Write(&buf, 5000, corpus.DockerJSON)
	lines := bytes.Split(bytes.TrimSuffix(buf.Bytes(), []byte("\n")), []byte("\n"))
	const at = len(`{"log":`)
	for _, tc := range []struct {
		name string
		f    func(dst, b []byte) []byte
	}{
		{"fast", func(dst, b []byte) []byte { dst, _, _ = unescapeFast(dst, b, at); return dst }},
		{"fast-shuffle", func(dst, b []byte) []byte {
			v := useVBMI2
			useVBMI2 = false
			dst, _, _ = unescapeFast(dst, b, at)
			useVBMI2 = v
			return dst
		}},
		{"swar", func(dst, b []byte) []byte { dst, _, _ = unescapeSWAR(dst, b, at); return dst }},
		{"general", func(dst, b []byte) []byte { dst, _, _ = parse.AppendUnescaped(dst[:0], b, at, dockerJSON); return dst }},
	} {
		b.Run(tc.name, func(b *testing.B) {
			var dst []byte
			b.SetBytes(int64(buf.Len()))
			b.ReportAllocs()
			for b.Loop() {
				for _, l := range lines {
					dst = tc.f(dst, l)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(lines)), "ns/line")
		})
	}
}

// BenchmarkCRITime reads the timestamps of the corpus's CRI lines with
// parse.ParseTime and through a timeCache.
func BenchmarkCRITime(b *testing.B) {
	var buf bytes.Buffer
	corpus.New(1).Write(&buf, 5000, corpus.CRI)
	var stamps [][]byte
	for _, l := range bytes.Split(bytes.TrimSuffix(buf.Bytes(), []byte("\n")), []byte("\n")) {
		stamps = append(stamps, l[:bytes.IndexByte(l, ' ')])
	}
	for _, tc := range []struct {
		name string
		c    *timeCache
	}{{"ParseTime", nil}, {"cached", &timeCache{}}} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				for _, s := range stamps {
					tc.c.parse(s)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(stamps)), "ns/stamp")
		})
	}
}
