package file

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"shipper/internal/pipeline"
	"shipper/internal/testutil/corpus"
)

// corpusFile returns n records of the corpus framed as a container runtime
// writes them (CRI or json-file), with what the plain corpus files lack:
// every seventh record split into pieces, stdout and stderr interleaved,
// a '\r' before some line ends, a few lines that are not in the format and
// (json-file) \u escapes and escaped control characters.
func corpusFile(n int, format Format) []byte {
	g := corpus.New(3)
	t := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	var out, line []byte
	for i := 0; i < n; i++ {
		line = g.AppendLine(line[:0])
		if i%11 == 3 {
			line = append(line, '\r')
		}
		if i%13 == 5 && format == FormatDocker {
			line = append(line, " caf\u00e9 \x01\t"...)
		}
		stream := "stdout"
		if i%5 == 2 {
			stream = "stderr"
		}
		pieces := [][]byte{line}
		if i%7 == 1 && len(line) > 40 {
			pieces = [][]byte{line[:17], line[17:39], line[39:]}
		}
		for k, p := range pieces {
			t = t.Add(time.Duration(137+i%1000) * time.Microsecond)
			last := k == len(pieces)-1
			switch format {
			case FormatCRI:
				out = t.AppendFormat(out, time.RFC3339Nano)
				tag := " F "
				if !last {
					tag = " P "
				}
				out = append(out, " "+stream+tag...)
				out = append(out, p...)
			case FormatDocker:
				out = append(out, `{"log":`...)
				v := p
				if last {
					v = append(v[:len(v):len(v)], '\n')
				}
				q := strconv.AppendQuote(nil, string(v))
				q = bytes.ReplaceAll(q, []byte(`\x01`), []byte(`\u0001`))
				if i%17 == 4 {
					// Docker's own encoder writes \u003c for '<'.
					q = bytes.ReplaceAll(q, []byte("<"), []byte(`\u003c`))
				}
				out = append(out, q...)
				out = append(out, `,"stream":"`+stream+`","time":"`...)
				out = t.AppendFormat(out, time.RFC3339Nano)
				out = append(out, `"}`...)
			}
			out = append(out, '\n')
		}
		if i%97 == 50 {
			out = append(out, "not a runtime line\n"...)
		}
	}
	return out
}

var (
	ingestedRE = regexp.MustCompile(`"event\.ingested":"([^"]*)"`)
	// Hashes of the documents of corpusFile(4000, ...), recorded from the
	// code they must stay identical to.
	corpusHashes = map[Format]string{
		FormatCRI:    "85d78d0789d78be53fc1e17ebbe44f5f4e5aecc7dc88a8737efa465a1bc49dbd",
		FormatDocker: "4cb0125f52ae166d298097477a46c592e53f81089bd91f5196ee93c4254c9432",
	}
)

// TestCorpusDocumentsUnchanged ships corpus files through the whole file
// input (framing, decoding, joining, parsing, encoding) and compares a hash
// of the documents with the one recorded: a change meant to speed the input
// up must not change a byte of what it ships. event.ingested (the read
// time, also the @timestamp of lines without one) and the temporary directory are taken out before hashing.
func TestCorpusDocumentsUnchanged(t *testing.T) {
	const n = 4000
	for _, format := range []Format{FormatCRI, FormatDocker} {
		t.Run(format.String(), func(t *testing.T) {
			dir, state := t.TempDir(), t.TempDir()
			data := corpusFile(n, format)
			if err := os.WriteFile(filepath.Join(dir, "app.log"), data, 0o644); err != nil {
				t.Fatal(err)
			}
			want := n + bytes.Count(data, []byte("not a runtime line"))
			r := startRun(t, testConfig(dir, state, "app.log"), pipeline.Config{})
			docs := r.waitDocs(want)
			r.stop()
			if len(docs) != want {
				t.Fatalf("got %d documents, want %d", len(docs), want)
			}
			h := sha256.New()
			for _, d := range docs {
				raw := d.Raw
				if m := ingestedRE.FindStringSubmatch(raw); m != nil {
					// Also the @timestamp of a line without a time.
					raw = strings.ReplaceAll(raw, m[1], "-")
				}
				raw = string(bytes.ReplaceAll([]byte(raw), []byte(dir), []byte("DIR")))
				h.Write([]byte(raw))
				h.Write([]byte{'\n'})
			}
			if got := hex.EncodeToString(h.Sum(nil)); got != corpusHashes[format] {
				t.Errorf("documents hash to %s, want %s; first: %s", got, corpusHashes[format], docs[0].Raw)
			}
		})
	}
}
