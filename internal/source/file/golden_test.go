package file

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

// TestGolden decodes the sample files in testdata (auto-detected format;
// multiline on for plain-multiline.log) and compares the records with
// testdata/<name>.golden. Run with -update after checking a change by eye.
func TestGolden(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.log")
	if len(files) == 0 {
		t.Fatal("no testdata/*.log")
	}
	for _, name := range files {
		t.Run(filepath.Base(name), func(t *testing.T) {
			data, err := os.ReadFile(name)
			if err != nil {
				t.Fatal(err)
			}
			cfg := DecoderConfig{}
			if strings.Contains(name, "multiline") {
				cfg.Multiline = &MultilineConfig{}
			}
			var b bytes.Buffer
			for _, r := range decodeFile(t, cfg, data, 0, 0) {
				fmt.Fprintf(&b, "%q size=%d time=%d stream=%q flags=%03b attrs=%s offsets=[%d,%d) commit=%d\n",
					r.Content, r.Size, r.Time, r.Stream, r.Flags, r.Attrs, r.Start, r.End, r.Commit)
			}
			golden := strings.TrimSuffix(name, ".log") + ".golden"
			if *update {
				if err := os.WriteFile(golden, b.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(b.Bytes(), want) {
				t.Fatalf("records differ from %s (run with -update to accept):\ngot:\n%s\nwant:\n%s", golden, b.Bytes(), want)
			}
		})
	}
}

// seeds returns the lines of a testdata sample, for fuzz seeds.
func seeds(f *testing.F, name string) [][]byte {
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		f.Fatal(err)
	}
	return bytes.Split(data, []byte("\n"))
}
