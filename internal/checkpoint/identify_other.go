//go:build !unix

package checkpoint

import (
	"errors"
	"fmt"
	"os"
)

// Identify needs device and inode numbers, which only unix systems provide.
func Identify(f *os.File) (FileID, error) {
	return FileID{}, fmt.Errorf("cannot identify %q: %w", f.Name(), errors.ErrUnsupported)
}
