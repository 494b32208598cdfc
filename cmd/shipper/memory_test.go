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
// memory limit (the budgets plus the headroom) plus the binary's resident
// pages stays within the documented 50 MiB, and the batches keep at least
// two batches' worth. While catching up after an outage every batch of the
// budget is full and the heap grows to the limit; with a 32 MiB budget the
// sum was 54 MiB and an Elasticsearch restart peaked at 51.3 MiB. The file
// and Forward budgets used to come on top of the limit (64 and 16 MiB).
func TestDefaultMemoryBound(t *testing.T) {
	for _, inputs := range []string{"stdin", "file", "forward", "file,forward", "stdin,file,forward"} {
		cfg, err := config.Load("shipper run", []string{"--input=" + inputs}, func(string) string { return "" }, io.Discard)
		if err != nil {
			t.Fatalf("%s: %v", inputs, err)
		}
		limit := budgetedMemory(&cfg) + memoryHeadroom
		t.Logf("%s: batches %s, inputs %s, soft limit %d MiB, with the binary %d MiB",
			inputs, cfg.PipelineBytes(), cfg.InputBufferBytes(), limit>>20, (limit+binaryResident)>>20)
		if got := limit + binaryResident; got > rssBound {
			t.Errorf("%s: budgets %d MiB + headroom %d MiB + binary %d MiB = %d MiB, above the %d MiB bound",
				inputs, budgetedMemory(&cfg)>>20, memoryHeadroom>>20, binaryResident>>20, got>>20, rssBound>>20)
		}
		if cfg.PipelineBytes() < 2*cfg.BatchBytes || cfg.MemoryBytes() != cfg.BufferBytes {
			t.Errorf("%s: batches %s, inputs %s: want at least twice --batch-bytes %s, all within --buffer-bytes %s",
				inputs, cfg.PipelineBytes(), cfg.InputBufferBytes(), cfg.BatchBytes, cfg.BufferBytes)
		}
	}
}
