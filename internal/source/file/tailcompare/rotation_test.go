package tailcompare

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nxadm/tail"
	"github.com/rs/zerolog"

	"shipper/internal/pipeline"
	"shipper/internal/source/file"
)

// TestRotation follows files with nxadm/tail (inotify and poll) and with the
// shipper's file input while they are written and rotated, and counts the
// numbered lines each missed or saw twice. It does not fail: it reports (the
// numbers are in docs/file-input.md).
//
// Each file gets 20,000 lines, rotated every 2,000 by its scheme. The writer
// does not wait for the reader, unlike in the stress tests of the file input
// (which only rotate a generation once the reader holds it): a generation
// deleted, or renamed out of the reader's view, before the reader ever opened
// it is lost to any reader; the "slow" runs (about 2,000 lines/s, one
// rotation a second) stay clear of that.
func TestRotation(t *testing.T) {
	followers := []struct {
		name  string
		start func(t *testing.T, path string) func() []int
	}{
		{"nxadm/tail inotify", nxadm(false)},
		{"nxadm/tail poll", nxadm(true)},
		{"shipper file input", shipperInput},
	}
	for _, rate := range []struct {
		name  string
		pause time.Duration // per 20 lines
	}{{"fast", time.Millisecond}, {"slow", 10 * time.Millisecond}} {
		for _, fl := range followers {
			t.Run(rate.name+"/"+fl.name, func(t *testing.T) {
				dir := t.TempDir()
				var wg sync.WaitGroup
				results := make([]string, 4)
				for i, scheme := range []string{"rename", "rename-late-writes", "copytruncate", "delete"} {
					wg.Add(1)
					go func() {
						defer wg.Done()
						results[i] = rotateAndFollow(t, dir, scheme, rate.pause, fl.start)
					}()
				}
				wg.Wait()
				for _, r := range results {
					t.Logf("%-6s %-20s %s", rate.name, fl.name, r)
				}
			})
		}
	}
}

const rotLines, rotEvery = 20000, 2000

// nxadm follows path with nxadm/tail configured to avoid its known
// data-loss bugs: Follow+ReOpen+CompleteLines, logger silenced.
func nxadm(poll bool) func(t *testing.T, path string) func() []int {
	return func(t *testing.T, path string) func() []int {
		tl, err := tail.TailFile(path, tail.Config{Follow: true, ReOpen: true, CompleteLines: true, Poll: poll, Logger: tail.DiscardingLogger})
		if err != nil {
			t.Fatal(err)
		}
		seen := make([]int, rotLines+1)
		done := make(chan struct{})
		go func() {
			defer close(done)
			for l := range tl.Lines {
				if l.Err == nil {
					count(seen, l.Text)
				}
			}
		}()
		return func() []int {
			tl.Stop()
			tl.Cleanup()
			<-done
			return seen
		}
	}
}

// shipperInput follows path with the file input, its pipeline drained by a
// goroutine that reads the message of every document.
func shipperInput(t *testing.T, path string) func() []int {
	pipe := pipeline.New(pipeline.Config{MaxBytes: 16 << 20, BatchBytes: 1 << 20, FlushInterval: 50 * time.Millisecond})
	seen := make([]int, rotLines+1)
	consumed := make(chan struct{})
	go func() {
		defer close(consumed)
		for b := range pipe.Batches() {
			for i := range b.Items {
				var d struct {
					Message string `json:"message"`
				}
				if json.Unmarshal(b.Document(i), &d) == nil {
					count(seen, d.Message)
				}
			}
			b.Done()
		}
	}()
	src, err := file.New(file.Config{Paths: []string{path}, StateDir: t.TempDir(), Dataset: "cmp", Namespace: "default",
		RotateWait: 500 * time.Millisecond}, pipe, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan struct{})
	go func() { src.Run(ctx, context.Background()); close(ran) }()
	return func() []int {
		cancel()
		<-ran
		src.Drain(context.Background())
		pipe.Close()
		<-consumed
		return seen
	}
}

func count(seen []int, line string) {
	f := strings.Fields(line)
	if len(f) == 2 {
		if n, err := strconv.Atoi(f[1]); err == nil && n >= 1 && n < len(seen) {
			seen[n]++
		}
	}
}

func rotateAndFollow(t *testing.T, dir, scheme string, pause time.Duration, start func(*testing.T, string) func() []int) string {
	path := fmt.Sprintf("%s/%s.log", dir, scheme)
	w, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	stop := start(t, path)
	time.Sleep(1500 * time.Millisecond) // both have found the file
	gen := 0
	reopen := func() {
		w.Close()
		w, _ = os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	}
	for i := 1; i <= rotLines; i++ {
		fmt.Fprintf(w, "%s %d\n", scheme, i)
		if i%rotEvery == 0 && i < rotLines {
			gen++
			switch scheme {
			case "rename":
				os.Rename(path, fmt.Sprintf("%s.%d", path, gen))
				reopen()
			case "rename-late-writes":
				// kubelet and containerd: lines keep landing in the renamed
				// file until the runtime reopens the log.
				os.Rename(path, fmt.Sprintf("%s.%d", path, gen))
				for k := 0; k < 5 && i < rotLines; k++ {
					i++
					fmt.Fprintf(w, "%s %d\n", scheme, i)
				}
				reopen()
			case "copytruncate":
				data, _ := os.ReadFile(path)
				os.WriteFile(fmt.Sprintf("%s.%d", path, gen), data, 0o644)
				w.Truncate(0)
			case "delete":
				os.Remove(path)
				reopen()
			}
		}
		if i%20 == 0 {
			time.Sleep(pause)
		}
	}
	w.Close()
	time.Sleep(2 * time.Second)
	seen := stop()
	missing, dups := 0, 0
	for n := 1; n <= rotLines; n++ {
		switch {
		case seen[n] == 0:
			missing++
		case seen[n] > 1:
			dups += seen[n] - 1
		}
	}
	return fmt.Sprintf("%-20s written %d, missing %5d (%4.1f%%), duplicated %d", scheme, rotLines, missing, 100*float64(missing)/rotLines, dups)
}
