package main

import (
	"shipper/internal/process"
	"shipper/internal/status"
)

// writeProcessMetrics writes the processing stage's counters, per processor.
func writeProcessMetrics(w *status.Writer, c *process.Chain) {
	s := c.Stats()
	w.Counter("shipper_process_lines_total", "Lines that went through the processing stage.", s.Lines)
	w.Counter("shipper_process_changed_total", "Lines a processor changed.", s.Changed)
	w.Counter("shipper_process_dropped_total", "Lines dropped by drop or sample.", s.Dropped)
	w.Counter("shipper_process_failed_total", "Lines shipped as parsed because a processor failed (flagged <type>_failure in log.flags).", s.Failed)
	for _, st := range c.Steps() {
		w.Counter(status.Name("shipper_processor_applied_total", "processor", st.ID), "Lines a processor ran on (its when held).", st.Applied)
		w.Counter(status.Name("shipper_processor_failures_total", "processor", st.ID), "Processing failures per processor (shipped flagged unless ignore_failure).", st.Failed)
		if st.Type == "drop" || st.Type == "sample" {
			w.Counter(status.Name("shipper_processor_dropped_total", "processor", st.ID), "Lines dropped per processor.", st.Dropped)
		}
	}
}
