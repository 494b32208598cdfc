package stdin

import (
	"bytes"
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"shipper/internal/pipeline"
)

// Reading, framing, parsing and encoding a line allocates nothing: the
// allocations of a run (buffers, batches, per-chunk work) do not grow with
// the number of lines.
func TestNoAllocationPerLine(t *testing.T) {
	mallocs := func(lines int) uint64 {
		var in bytes.Buffer
		for i := range lines {
			fmt.Fprintf(&in, `{"@timestamp":"2026-12-03T10:00:00.%03dZ","level":"info","msg":"request %d done","trace_id":"0123456789abcdef0123456789abcdef","http":{"status":200}}`+"\n", i%1000, i)
		}
		p := pipeline.New(pipeline.Config{MaxBytes: 256 << 20, BatchBytes: 64 << 20, FlushInterval: time.Hour})
		pr := p.NewProducer(nil)
		s, err := New(Config{Dataset: "test", Namespace: "default", ReadBytes: 256 << 10}, &in, pr, 1, zerolog.Nop())
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		go func() {
			defer close(done)
			for b := range p.Batches() {
				b.Done()
			}
		}()
		ctx := context.Background()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		if err := s.Run(ctx, ctx); err != nil {
			t.Fatal(err)
		}
		runtime.ReadMemStats(&after)
		if err := pr.Close(); err != nil {
			t.Fatal(err)
		}
		if err := pr.Wait(ctx); err != nil {
			t.Fatal(err)
		}
		p.Close()
		<-done
		if st := s.Stats(); st.JSON != uint64(lines) {
			t.Fatalf("%d JSON lines of %d", st.JSON, lines)
		}
		return after.Mallocs - before.Mallocs
	}
	mallocs(1000) // warm up
	small, large := mallocs(10000), mallocs(50000)
	if perLine := float64(int64(large)-int64(small)) / 40000; perLine > 0.01 {
		t.Errorf("%.3f allocations per line (%d for 10,000 lines, %d for 50,000), want 0", perLine, small, large)
	}
}
