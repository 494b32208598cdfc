//go:build !purego

package parse

import "golang.org/x/sys/cpu"

// haveAVX2 tells whether scanObject builds the structural index (stops.go);
// tests scan without it through scanner.noIndex.
var haveAVX2 = cpu.X86.HasAVX2

// stopsAVX2 sets out[8k:8k+8] to the marks of s[64k:64k+64] (see index), a
// little-endian word: bit b is set when s[64k+b] is '"', '\\', < 0x20 or
// >= 0x80. len(s) must be a multiple of 64 and len(out) at least len(s)/8.
// It needs AVX2.
//
//go:noescape
func stopsAVX2(s []byte, out []byte)

// stopsLine is stopsAVX2 for a whole line s of at least 64 bytes: it sets
// the (len(s)+63)/64 words of marks of s, the last one for the bytes after
// the last multiple of 64, and the two words of zeros after them (see
// index), so len(out) must be at least 8*((len(s)+63)/64+2).
//
//go:noescape
func stopsLine(s []byte, out []byte)
