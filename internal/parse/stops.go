package parse

import (
	"encoding/binary"
	"math/bits"
)

// The structural index of a line: before scanning a line, scanObject marks in
// one bitmap every byte that ends a plain run inside a JSON string ('"',
// '\\', a control character or a byte >= 0x80), 64 bytes per word, with
// vector instructions where the machine has them (stopsAVX2). Finding the end
// of a string is then a shift and a count of trailing zeros, with no loop
// whose exit the branch predictor has to guess per string.
//
// Without the vector instructions (other architectures, or amd64 without
// AVX2) the scanner checks eight bytes per step in its loop (stringEnd).

// index computes sc.stop for s and turns it on for the scans of s that
// follow. It reuses sc.stop's array. sc.stop holds the marks as bytes (8
// per 64 bytes of s, little-endian, the bits of a word), so that any 64 of
// them can be read from any byte, with two empty words after those of s,
// so that stopAt can read the eight bytes of marks from that of any offset
// up to len(s).
func (sc *scanner) index(s []byte) {
	n := len(s)
	nw := (n + 63) >> 6
	nb := 8 * (nw + 2)
	if cap(sc.stop) < nb {
		sc.stop = make([]byte, nb, nb+nb/4)
	}
	stop := sc.stop[:nb]
	if n >= 64 {
		// The marks of the last n%64 bytes, and the words of zeros,
		// in the same call.
		stopsLine(s, stop)
	} else {
		// A short line goes through a copy padded with spaces, which
		// are never marked. Two words of zeros, stored as one block:
		// clear would call memclrNoHeapPointers.
		*(*[16]byte)(stop[8*nw : 8*nw+16]) = [16]byte{}
		if n > 0 {
			var tail [64]byte
			for k := range tail {
				if k < n {
					tail[k] = s[k]
				} else {
					tail[k] = ' '
				}
			}
			stopsAVX2(tail[:], stop)
		}
	}
	sc.stop, sc.indexed = stop, true
}

// stopAt is stringEnd on the index (sc.indexed): the offset of the first
// marked byte at or after j (j <= len(s)), or a value >= len(s) when there
// is none. The scan loops call it where sc.indexed, else stringEnd: both
// inline. It looks at the 57 to 64 marks from j at once (one unaligned word
// of sc.stop), so that a string shorter than that costs one branch,
// whichever words of marks it spans.
func (sc *scanner) stopAt(j int) int { return stopIn(sc.stop, j) }

// stopIn is stopAt on the index stop, for the loops that keep sc.stop in a
// local.
func stopIn(stop []byte, j int) int {
	// Unsigned, k+8 cannot wrap: one bounds check per load, not two.
	u := uint(j)
	for {
		k := u >> 3
		if m := binary.LittleEndian.Uint64(stop[k:k+8]) >> (u & 7); m != 0 {
			return int(u) + bits.TrailingZeros64(m)
		}
		// The word read ends at the next multiple of 64 after j&^7.
		if u = u&^7 + 64; u>>3+8 > uint(len(stop)) {
			return int(u)
		}
	}
}
