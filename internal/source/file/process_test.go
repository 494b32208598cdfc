package file

import (
	"os"
	"path/filepath"
	"testing"

	"shipper/internal/pipeline"
	"shipper/internal/process"
)

// TestDroppedRecordsAdvanceCheckpoint: records a processor drops are done
// with: the checkpoint moves past them (to the end of the file, even when
// the last records are dropped), and the others are shipped in order.
func TestDroppedRecordsAdvanceCheckpoint(t *testing.T) {
	dir, state := t.TempDir(), t.TempDir()
	path := filepath.Join(dir, "app.log")
	chain, err := process.Compile(&process.Config{Processors: []process.Spec{
		{Type: "drop", When: `message matches "^drop "`},
	}})
	if err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(dir, state, "*.log")
	cfg.Stage = chain.Runner("file")
	r := startRun(t, cfg, pipeline.Config{})
	appendFile(t, path, numbered("keep", 0, 50)+numbered("drop", 0, 50)+numbered("keep", 50, 60)+numbered("drop", 50, 100))
	docs := r.waitDocs(60)
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the checkpoint at the end of the file", func() bool {
		for _, e := range onDisk(t, state) {
			if e.Path == path && e.Offset == st.Size() {
				return true
			}
		}
		return false
	})
	r.stop()
	wantMessages(t, messages(docs, ""), numbered("keep", 0, 60))
	if s := chain.Stats(); s.Dropped != 100 || s.Lines != 160 {
		t.Errorf("stats %+v, want 100 of 160 lines dropped", s)
	}
}
