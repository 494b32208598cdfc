//go:build unix

package file

import (
	"io/fs"
	"syscall"
)

// statKey returns the device and inode of fi, and its link count (0 once
// the file is deleted).
func statKey(fi fs.FileInfo) (key fileKey, nlink uint64) {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return fileKey{uint64(st.Dev), uint64(st.Ino)}, uint64(st.Nlink)
	}
	return fileKey{}, 1
}
