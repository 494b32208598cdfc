package main

import (
	"io"
	"testing"

	"shipper/internal/config"
)

// rssBound is the documented bound of the shipper's peak RSS with the
// default settings (README, docs/benchmarks.md "Targets").
const rssBound = 50 << 20

// TestDefaultMemoryBound: with the defaults, whichever inputs run, the soft
// memory limit (the budgets plus the headroom), the largest buffer an input
// allocates at once and the binary's resident pages stay within the
// documented 50 MiB, and the pipeline keeps room for at least two batches.
// While catching up after an outage every batch of the budget is full and
// the heap grows to the limit; with a 32 MiB budget the sum was 54 MiB and
// an Elasticsearch restart peaked at 51.3 MiB. The file and Forward budgets
// used to come on top of the limit (64 and 16 MiB).
func TestDefaultMemoryBound(t *testing.T) {
	for _, inputs := range []string{"stdin", "file", "forward", "file,forward", "stdin,file,forward", "kafka"} {
		args := []string{"--input=" + inputs}
		if inputs == "kafka" {
			args = append(args, "--kafka-brokers=127.0.0.1:9092", "--kafka-topics=logs")
		}
		cfg, err := config.Load("shipper run", args, func(string) string { return "" }, io.Discard)
		if err != nil {
			t.Fatalf("%s: %v", inputs, err)
		}
		limit := budgetedMemory(&cfg) + memoryHeadroom
		got := limit + largestAllocation(&cfg) + binaryResident
		t.Logf("%s: batches %s, inputs %s, soft limit %d MiB, + largest allocation %d KiB + binary %d MiB = %.1f MiB",
			inputs, cfg.PipelineBytes(), cfg.InputBufferBytes(), limit>>20, largestAllocation(&cfg)>>10, binaryResident>>20, float64(got)/(1<<20))
		if got > rssBound {
			t.Errorf("%s: budgets %d MiB + headroom %d MiB + largest allocation %d KiB + binary %d MiB = %.1f MiB, above the %d MiB bound",
				inputs, budgetedMemory(&cfg)>>20, memoryHeadroom>>20, largestAllocation(&cfg)>>10, binaryResident>>20, float64(got)/(1<<20), rssBound>>20)
		}
		if cfg.PipelineBytes() < 2*cfg.BatchBytes || cfg.MemoryBytes() != cfg.BufferBytes {
			t.Errorf("%s: batches %s, inputs %s: want at least twice --batch-bytes %s, all within --buffer-bytes %s",
				inputs, cfg.PipelineBytes(), cfg.InputBufferBytes(), cfg.BatchBytes, cfg.BufferBytes)
		}
	}
}

// largestAllocation is the largest buffer an input allocates at once,
// within its budget but not from a pool: the collector frees the one it
// replaces only afterwards, so with the heap at the soft limit the peak
// passes the limit by about that much. Forward: a large request's read
// buffer or its decompressed entries (new for every request); files and
// stdin: the buffer of a line being assembled (up to --max-line-bytes and a
// read). With 8 MiB requests the Forward worst case peaked at 47.1 and
// 49.2 MiB, with 4 MiB at 41.1 to 45.4 MiB.
func largestAllocation(cfg *config.Config) int64 {
	n := int64(cfg.MaxLineBytes) + 64<<10
	if cfg.Has(config.InputForward) {
		n = max(n, int64(cfg.Forward.MaxRequestBytes), int64(cfg.Forward.MaxDecompressedBytes))
	}
	return n
}
