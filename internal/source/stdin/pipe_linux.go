package stdin

import (
	"os"

	"golang.org/x/sys/unix"
)

// growPipe asks the kernel for a pipe buffer of size bytes when f is a pipe
// (fcntl F_SETPIPE_SZ) and returns the size it has then; 0 when f is not a
// pipe. The default pipe holds 64 KiB: a writer faster than the shipper
// fills it, and every read then returns at most 64 KiB and wakes the writer
// again, four times the reads and wake-ups of a 256 KiB read. The kernel
// caps size at /proc/sys/fs/pipe-max-size (1 MiB by default) for
// unprivileged processes; a refusal leaves the pipe as it was.
func growPipe(f *os.File, size int) (int, error) {
	st, err := f.Stat()
	if err != nil || st.Mode()&os.ModeNamedPipe == 0 {
		return 0, err
	}
	// Through SyscallConn: f.Fd() would put a pipe the runtime polls
	// back into blocking mode, and a read could no longer be cancelled.
	rc, err := f.SyscallConn()
	if err != nil {
		return 0, err
	}
	var got int
	cerr := rc.Control(func(fd uintptr) {
		if got, err = unix.FcntlInt(fd, unix.F_GETPIPE_SZ, 0); err != nil || got >= size {
			return
		}
		if _, err = unix.FcntlInt(fd, unix.F_SETPIPE_SZ, size); err != nil {
			return
		}
		got, err = unix.FcntlInt(fd, unix.F_GETPIPE_SZ, 0)
	})
	if cerr != nil {
		return 0, cerr
	}
	return got, err
}
