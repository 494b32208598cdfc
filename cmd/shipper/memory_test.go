package main

import (
	"testing"

	"shipper/internal/config"
)

// TestDefaultMemoryBound: with the defaults, the soft memory limit plus the
// binary's resident pages stays within the documented 50 MiB. While catching
// up after an outage every batch of the budget is full and the heap grows to
// the limit; with a 32 MiB budget the sum was 54 MiB and an Elasticsearch
// restart peaked at 51.3 MiB.
func TestDefaultMemoryBound(t *testing.T) {
	const bound = 50 << 20
	budget := int64(config.Default().BufferBytes)
	if got := budget + memoryHeadroom + binaryResident; got > bound {
		t.Errorf("default budget %d MiB + headroom %d MiB + binary %d MiB = %d MiB, above the %d MiB bound",
			budget>>20, memoryHeadroom>>20, binaryResident>>20, got>>20, bound>>20)
	}
	// The Kafka input adds the fetch responses its client holds
	// (kafkaInputMemory) to the limit.
	cfg := config.Default()
	cfg.Inputs = []string{config.InputKafka}
	if got := budget + memoryHeadroom + kafkaInputMemory(&cfg) + binaryResident; got > bound {
		t.Errorf("Kafka input: default budget %d MiB + headroom %d MiB + fetch responses %d MiB + binary %d MiB = %d MiB, above the %d MiB bound",
			budget>>20, memoryHeadroom>>20, kafkaInputMemory(&cfg)>>20, binaryResident>>20, got>>20, bound>>20)
	}
}
