//go:build integration

package file

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"shipper/internal/pipeline"
	es "shipper/internal/sink/elasticsearch"
	"shipper/internal/testutil/estest"
)

// TestRotationStressElasticsearch writes 1,008,000 numbered lines into 12
// files while they are rotated by rename, kubelet-style rename with gzip,
// copytruncate and delete+recreate, ships them through the real pipeline and
// Elasticsearch sink, and counts per file, in Elasticsearch, the missing,
// duplicated and out-of-order lines. All must be 0.
//
// The writers respect the limits of rotation that no reader can get around
// (docs/file-input.md, "What can be lost"): a generation is rotated away only
// once the shipper holds it (its checkpoint exists: a file deleted or renamed
// twice before any reader opened it is gone), and copytruncate happens only
// once the shipper delivered everything written so far (lines written between
// the copy and the truncation exist in neither file; the writer here writes
// nothing in between, like one that is paused).
func TestRotationStressElasticsearch(t *testing.T) {
	esURL := estest.URL(t)
	const nFiles, linesEach = 12, 84_000
	dataset := estest.Unique("filestress")
	index := "logs-" + dataset + "-default"
	t.Cleanup(func() { estest.DeleteDataStream(t, index) }) // a million documents: give the space back

	dir, state := t.TempDir(), t.TempDir()
	files, globs := stressFiles(dir, nFiles, linesEach)
	logs := &syncBuf{}
	log := zerolog.New(logs).Level(zerolog.InfoLevel)

	pipe := pipeline.New(pipeline.Config{MaxBytes: 48 << 20, BatchBytes: 4 << 20, FlushInterval: 500 * time.Millisecond})
	sink, err := es.New(es.Config{
		URLs: []string{esURL}, Workers: 2, RequestTimeout: time.Minute,
		RetryInitial: 100 * time.Millisecond, RetryMax: 5 * time.Second,
		DeadLetterIndex: "logs-shipper.deadletter-default",
	}, log)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	if _, err := sink.EnsureTemplates(ctx); err != nil {
		t.Fatalf("templates: %v", err)
	}
	sinkDone := make(chan error, 1)
	go func() { sinkDone <- sink.Run(ctx, pipe.Batches()) }()

	src, err := New(Config{
		Paths: globs, StateDir: state, Dataset: dataset, Namespace: "default",
		PollInterval: 50 * time.Millisecond, RescanInterval: 250 * time.Millisecond,
		RotateWait: time.Second, CheckpointInterval: time.Second,
		Static: []byte(`"agent.type":"shipper"`),
	}, pipe, log)
	if err != nil {
		t.Fatal(err)
	}
	readCtx, stopReading := context.WithCancel(ctx)
	defer stopReading()
	runDone := make(chan error, 1)
	go func() { runDone <- src.Run(readCtx, ctx) }()

	start := time.Now()
	var wg sync.WaitGroup
	for _, f := range files {
		sw := &stressWriter{f: f, rotateEvery: linesEach / 4, burst: 500, pace: time.Millisecond, ready: checkpointReady(src)}
		wg.Add(1)
		go func() {
			defer wg.Done()
			sw.run(ctx, t)
		}()
	}
	wg.Wait()
	written := time.Since(start)
	total := 0
	for _, f := range files {
		total += int(f.written.Load())
	}
	if total != nFiles*linesEach {
		t.Fatalf("only %d lines written: %v", total, ctx.Err())
	}
	// Wait for the shipper to catch up: every line acknowledged.
	for src.Stats().Acked < uint64(total) && ctx.Err() == nil {
		time.Sleep(100 * time.Millisecond)
	}
	shipped := time.Since(start)
	time.Sleep(2 * time.Second) // rotated files released; nothing more should come
	stopReading()
	if err := <-runDone; err != context.Canceled {
		t.Fatalf("Run: %v", err)
	}
	if err := src.Drain(ctx); err != nil {
		t.Fatalf("Drain: %v", err)
	}
	pipe.Close()
	<-sinkDone

	st, out := src.Stats(), sink.Stats()
	t.Logf("%d lines in %d files written in %s, all acknowledged after %s (%.0f lines/s end to end, under -race if enabled)",
		total, nFiles, written.Round(time.Millisecond), shipped.Round(time.Millisecond), float64(total)/shipped.Seconds())
	t.Logf("source: %+v", st)
	t.Logf("sink: %+v", out)

	verdicts, missing, dups, ooo := esVerdicts(t, index, files)
	count := estest.Count(t, index, "")
	for _, v := range verdicts {
		t.Log(v)
	}
	t.Logf("Elasticsearch holds %d documents for %d lines written: %d missing, %d duplicated, %d out of order",
		count, total, missing, dups, ooo)
	if missing != 0 || dups != 0 || ooo != 0 || count != total {
		t.Errorf("want every line exactly once, in order; shipper logs:\n%s", tail(logs.String(), 6000))
	}
	if out.DeadLettered != 0 || out.Lost != 0 {
		t.Errorf("sink dead-lettered %d, lost %d", out.DeadLettered, out.Lost)
	}
	for _, f := range files {
		if f.rotations.Load() != 3 {
			t.Errorf("%s rotated %d times, want 3", f.name, f.rotations.Load())
		}
	}
	// The kubelet-layout files carry their pod's metadata.
	if n := estest.Count(t, index, `{"bool":{"filter":[{"term":{"kubernetes.namespace":"stress"}},{"term":{"kubernetes.container.name":"app"}},{"prefix":{"kubernetes.pod.name":"pod-"}}]}}`); n != linesEach*nFiles/4 {
		t.Errorf("%d documents with kubernetes metadata, want %d", n, linesEach*nFiles/4)
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		i := strings.IndexByte(s[len(s)-n:], '\n')
		return s[len(s)-n+i+1:]
	}
	return s
}
