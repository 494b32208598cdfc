package corpus

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"strings"
	"testing"
)

func TestLinesAreJSONObjects(t *testing.T) {
	g := New(1)
	shapes := map[string]int{}
	var b []byte
	total, stacks := 0, 0
	const n = 5000
	for i := 0; i < n; i++ {
		b = g.AppendLine(b[:0])
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("line %d is not a JSON object: %v\n%s", i, err, b)
		}
		total += len(b)
		if bytes.Contains(b, []byte(`\n\tat `)) {
			stacks++
		}
		for _, k := range []string{"ts", "reqId", "@timestamp", "event", "source", "component", "duration", "service"} {
			if _, ok := m[k]; ok {
				shapes[k]++
				break
			}
		}
	}
	if len(shapes) < 6 {
		t.Errorf("logger shapes seen: %v, want at least 6 kinds", shapes)
	}
	t.Logf("average line %d bytes, shapes %v, stack traces %d of %d", total/n, shapes, stacks, n)
	if avg := total / n; avg < 350 || avg > 550 {
		t.Errorf("average line: %d bytes, want 350 to 550 (production-like)", avg)
	}
	if stacks < n/200 || stacks > n/20 {
		t.Errorf("%d of %d lines carry a stack trace, want about 2 %%", stacks, n)
	}
}

func TestDeterministic(t *testing.T) {
	var a, b bytes.Buffer
	if err := New(7).Write(&a, 300, CRI); err != nil {
		t.Fatal(err)
	}
	if err := New(7).Write(&b, 300, CRI); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Fatal("the same seed gave different corpora")
	}
	var c bytes.Buffer
	New(8).Write(&c, 300, CRI)
	if bytes.Equal(a.Bytes(), c.Bytes()) {
		t.Fatal("different seeds gave the same corpus")
	}
}

func TestWrapped(t *testing.T) {
	var raw, cri, dj bytes.Buffer
	New(3).Write(&raw, 500, Raw)
	New(3).Write(&cri, 500, CRI)
	New(3).Write(&dj, 500, DockerJSON)
	rl := strings.Split(strings.TrimSuffix(raw.String(), "\n"), "\n")
	cl := strings.Split(strings.TrimSuffix(cri.String(), "\n"), "\n")
	dl := strings.Split(strings.TrimSuffix(dj.String(), "\n"), "\n")
	if len(rl) != 500 || len(cl) != 500 || len(dl) != 500 {
		t.Fatalf("lines: raw %d, CRI %d, json-file %d, want 500 each", len(rl), len(cl), len(dl))
	}
	for i := range rl {
		f := strings.SplitN(cl[i], " ", 4)
		if len(f) != 4 || f[1] != "stdout" || f[2] != "F" || f[3] != rl[i] {
			t.Fatalf("CRI line %d: %q does not wrap %q", i, cl[i], rl[i])
		}
		var d struct{ Log, Stream, Time string }
		if err := json.Unmarshal([]byte(dl[i]), &d); err != nil {
			t.Fatalf("json-file line %d: %v\n%s", i, err, dl[i])
		}
		if d.Log != rl[i]+"\n" || d.Stream != "stdout" || d.Time == "" {
			t.Fatalf("json-file line %d: %+v does not wrap %q", i, d, rl[i])
		}
	}
}

// TestCompressesLikeProduction guards the point of the corpus: gzip level 1
// compresses it about 5x (a synthetic corpus of alike lines does 25x).
func TestCompressesLikeProduction(t *testing.T) {
	var raw, z bytes.Buffer
	New(1).Write(&raw, 20000, Raw)
	zw, _ := gzip.NewWriterLevel(&z, 1)
	zw.Write(raw.Bytes())
	zw.Close()
	t.Logf("gzip level 1: %.2fx", float64(raw.Len())/float64(z.Len()))
	if r := float64(raw.Len()) / float64(z.Len()); r < 3 || r > 8 {
		t.Errorf("gzip level 1 ratio %.2f, want 3 to 8", r)
	}
}
