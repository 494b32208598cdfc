package stdin

import (
	"os"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TestRunGrowsPipe: stdin that is a pipe gets a 1 MiB buffer (or the most
// the kernel allows), so that a fast writer does not make every read return
// 64 KiB; the lines still all arrive.
func TestRunGrowsPipe(t *testing.T) {
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	before := pipeSize(t, pr)
	want := pipeBytes
	if b, err := os.ReadFile("/proc/sys/fs/pipe-max-size"); err == nil {
		if max, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && max < want && os.Geteuid() != 0 {
			want = max
		}
	}
	if before >= want {
		t.Skipf("pipe already holds %d bytes", before)
	}
	go func() {
		pw.WriteString("{\"message\":\"one\"}\ntwo\n")
		pw.Close()
	}()
	docs := run(t, pr, Config{})
	if got := messages(docs); strings.Join(got, ",") != "one,two" {
		t.Fatalf("messages %q", got)
	}
	if after := pipeSize(t, pr); after < want {
		t.Fatalf("pipe buffer %d bytes after Run, want %d (was %d)", after, want, before)
	}
}

// pipeSize returns the buffer size of the pipe f (not through f.Fd(), which
// would make it blocking).
func pipeSize(t *testing.T, f *os.File) int {
	t.Helper()
	rc, err := f.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if cerr := rc.Control(func(fd uintptr) { n, err = unix.FcntlInt(fd, unix.F_GETPIPE_SZ, 0) }); cerr != nil {
		t.Fatal(cerr)
	}
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestGrowPipeNotAPipe(t *testing.T) {
	f, err := os.CreateTemp(t.TempDir(), "in")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if n, err := growPipe(f, pipeBytes); n != 0 || err != nil {
		t.Fatalf("growPipe on a regular file: %d, %v", n, err)
	}
}
