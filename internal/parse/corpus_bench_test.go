package parse

import (
	"bytes"
	"strconv"
	"testing"

	"shipper/internal/testutil/corpus"
)

// corpusLines returns n lines of the realistic corpus.
func corpusLines(n int) [][]byte {
	var buf bytes.Buffer
	corpus.New(1).Write(&buf, n, corpus.Raw)
	return bytes.Split(bytes.TrimSuffix(buf.Bytes(), []byte("\n")), []byte("\n"))
}

// BenchmarkAppendCorpus parses lines of the realistic corpus (seven logger
// shapes, random ids, 2 % stack traces), cycling over 10,000 of them.
func BenchmarkAppendCorpus(b *testing.B) {
	benchmarkCorpus(b, corpusLines(10000), benchStatic)
}

// BenchmarkAppendCorpusStdinStatic is BenchmarkAppendCorpus with the static
// members of the stdin input, whose "ecs.version" the log4j2 ECS lines (one
// in seven) also have: those move to "ecs.version_original".
func BenchmarkAppendCorpusStdinStatic(b *testing.B) {
	benchmarkCorpus(b, corpusLines(10000), stdinStatic)
}

// BenchmarkAppendCorpusStdin is BenchmarkAppendCorpusStdinStatic with the
// event.sequence field the stdin input writes (Line.Order counting up).
func BenchmarkAppendCorpusStdin(b *testing.B) {
	benchmarkCorpusOrder(b, corpusLines(10000), stdinStatic, OrderSequence)
}

const stdinStatic = `"input.type":"stdin","agent.type":"shipper","agent.name":"h","host.name":"h","ecs.version":"8.11.0"`

func benchmarkCorpus(b *testing.B, lines [][]byte, static string) {
	benchmarkCorpusOrder(b, lines, static, OrderNone)
}

func benchmarkCorpusOrder(b *testing.B, lines [][]byte, static string, order OrderKind) {
	size := 0
	for _, l := range lines {
		size += len(l)
	}
	p := New([]byte(static))
	p.SetIngested(ingestedTime)
	dst := make([]byte, 0, 64<<10)
	b.SetBytes(int64(size / len(lines)))
	b.ReportAllocs()
	l := &Line{Time: lineTime, OrderKind: order}
	i := 0
	for b.Loop() {
		l.Data = lines[i]
		l.Order++
		dst, _ = p.Append(dst[:0], l)
		if i++; i == len(lines) {
			i = 0
		}
	}
}

// BenchmarkScanCorpus is the validating scan alone on the same lines.
func BenchmarkScanCorpus(b *testing.B) {
	lines := corpusLines(10000)
	size := 0
	for _, l := range lines {
		size += len(l)
	}
	var sc scanner
	b.SetBytes(int64(size / len(lines)))
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if !sc.scanObject(lines[i], 0) {
			b.Fatal("scan failed")
		}
		if i++; i == len(lines) {
			i = 0
		}
	}
}

// TestCorpusFastPathsMatchGeneral checks that the fast paths of appendObject
// write the same documents as the general one (appendNormalised) on the
// realistic corpus, with and without Fields that share names with it.
func TestCorpusFastPathsMatchGeneral(t *testing.T) {
	lines := corpusLines(5000)
	for _, fields := range []string{"", fuzzFields, `"service.name":"s","trace.id":"t","env":"x"`} {
		for _, static := range []string{benchStatic, `"agent.type":"shipper","host.name":"h","span.id":"x"`} {
			fast, general := newTestParser(static), newTestParser(static)
			general.general = true
			for _, line := range lines {
				l := &Line{Data: line, Time: lineTime, Fields: []byte(fields)}
				got, gi := fast.Append(nil, l)
				want, wi := general.Append(nil, l)
				if !sameJSON(got, want) || gi.Flags != wi.Flags {
					t.Fatalf("fields %s, static %s:\nin:   %s\nfast: %s (%b)\nslow: %s (%b)", fields, static, line, got, gi.Flags, want, wi.Flags)
				}
			}
		}
	}
}

// BenchmarkAppendCorpusNewNames is BenchmarkAppendCorpus with a name of
// its own in each of the 10,000 lines: no line meets a kept shape, so this
// is the cost of classifying and keeping the shape of every line.
func BenchmarkAppendCorpusNewNames(b *testing.B) {
	lines := corpusLines(10000)
	for k, l := range lines {
		lines[k] = append([]byte(`{"n`+strconv.Itoa(k)+`":1,`), l[1:]...)
	}
	benchmarkCorpus(b, lines, benchStatic)
}
