package file

import (
	"path/filepath"
	"testing"
	"time"

	"shipper/internal/pipeline"
)

// A file opened while empty by a run killed before it read anything has a
// checkpoint with an empty fingerprint on disk. The next run matches the file,
// filled meanwhile, to that checkpoint (an empty fingerprint matches any
// content of its inode) and ships its lines; killed before any later
// checkpoint write, it must have put the file's first bytes into the
// checkpoint before shipping them. Otherwise kubelet's next rotation
// (rename, then gzip and delete at the rotation after) leaves a .gz that no
// checkpoint recognizes, and the next start reads it again from its
// beginning under another id seed: a whole generation indexed twice. In the
// full crash-and-rotate test, kubelet files lost the checkpoints of
// generations created at the end of one run and read by a run killed about
// 0.6 s after its start (before its first rescan wrote the checkpoints).
func TestReopenedEmptyCheckpointLearnsFirstBytes(t *testing.T) {
	dir, state := t.TempDir(), t.TempDir()
	path := filepath.Join(dir, "0.log")
	appendFile(t, path, "") // kubelet just created it
	cfg := testConfig(dir, state, "*.log")
	// No checkpoint write but those made when files are opened: the runs
	// here are killed before their first periodic write and first rescan.
	cfg.CheckpointInterval = time.Hour
	cfg.RescanInterval = time.Hour

	// Run 1 opens the file while it is empty, and is killed.
	r1 := startRun(t, cfg, pipeline.Config{})
	waitFor(t, "the empty file's checkpoint on disk", func() bool {
		es := onDisk(t, state)
		return len(es) == 1 && es[0].FingerprintLen == 0
	})
	r1.kill(state)

	// While down, the file gets its first lines; run 2 ships them and is
	// killed.
	appendFile(t, path, criLines("stdout", 0, 10))
	r2 := startRun(t, cfg, pipeline.Config{})
	first := idsByMessage(r2.waitDocs(10))
	r2.kill(state)
	if es := onDisk(t, state); len(es) != 1 || es[0].FingerprintLen == 0 {
		t.Errorf("checkpoints on disk after the second run shipped the file's lines: %+v; want one with the file's first bytes", es)
	}

	// While down, kubelet rotates twice: the first generation is renamed,
	// then compressed and deleted.
	kubeletRotate(t, path, 1)
	appendFile(t, path, criLines("stdout", 10, 20))
	kubeletRotate(t, path, 2)
	appendFile(t, path, criLines("stdout", 20, 30))

	cfg.RescanInterval = 0 // the default
	r3 := startRun(t, cfg, pipeline.Config{})
	docs := r3.waitDocs(30)
	time.Sleep(50 * time.Millisecond)
	r3.stop()
	again := idsByMessage(docs)
	for m, id := range first {
		if again[m] != id {
			t.Errorf("%q: id %s before the kill, %s read again from the compressed file: indexed twice", m, id, again[m])
		}
	}
	if len(docs) != 30 {
		t.Errorf("got %d documents in the third run, want 30: %q", len(docs), head(messages(docs, "")))
	}
}
