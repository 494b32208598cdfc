//go:build unix

package checkpoint

import (
	"fmt"
	"os"
	"syscall"
)

// Identify returns f's device, inode and fingerprint (see FileID). It reads
// the first FingerprintBytes bytes with pread, so f's offset does not move. A
// file that shrinks between the stat and the read is fingerprinted over what
// remains.
func Identify(f *os.File) (FileID, error) {
	fi, err := f.Stat()
	if err != nil {
		return FileID{}, fmt.Errorf("cannot identify %q: %w", f.Name(), err)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return FileID{}, fmt.Errorf("cannot identify %q: no device and inode from stat", f.Name())
	}
	id := FileID{Dev: uint64(st.Dev), Ino: uint64(st.Ino)}
	if fi.Size() > 0 {
		id.Fingerprint, id.FingerprintLen, err = fingerprintFile(f, int(min(fi.Size(), FingerprintBytes)))
		if err != nil {
			return FileID{}, err
		}
	}
	return id, nil
}
