package parse

import (
	"encoding/json"
	"testing"
)

// BenchmarkStdlibMapRoundTrip is the design this package avoids: decode a
// line into map[string]any with encoding/json, rename a few keys, encode it
// again. It is here to keep the comparison honest (docs/benchmarks.md).
func BenchmarkStdlibMapRoundTrip(b *testing.B) {
	line := []byte(benchLine)
	b.SetBytes(int64(len(line)))
	b.ReportAllocs()
	for b.Loop() {
		var m map[string]any
		if err := json.Unmarshal(line, &m); err != nil {
			b.Fatal(err)
		}
		m["@timestamp"] = m["time"]
		delete(m, "time")
		m["log.level"] = m["level"]
		delete(m, "level")
		if _, err := json.Marshal(m); err != nil {
			b.Fatal(err)
		}
	}
}
