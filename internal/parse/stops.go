package parse

import "math/bits"

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
// follow. It reuses sc.stop's array. sc.stop gets two empty words after
// those of s, so that stopAt can read the word of any offset up to len(s)
// and the one after it.
func (sc *scanner) index(s []byte) {
	n := len(s)
	nw := (n + 63) >> 6
	if cap(sc.stop) < nw+2 {
		sc.stop = make([]uint64, nw+2, nw+nw/4+2)
	}
	stop := sc.stop[:nw+2]
	stop[nw], stop[nw+1] = 0, 0
	full := n &^ 63
	stopsAVX2(s[:full], stop)
	if r := n - full; r > 0 {
		var last [1]uint64
		if n >= 64 {
			// The last 64 bytes, shifted to keep those after full.
			stopsAVX2(s[n-64:], last[:])
			stop[nw-1] = last[0] >> (64 - r)
		} else {
			// A short line goes through a copy padded with spaces,
			// which are never marked.
			var tail [64]byte
			for k := range tail {
				if k < n {
					tail[k] = s[k]
				} else {
					tail[k] = ' '
				}
			}
			stopsAVX2(tail[:], last[:])
			stop[0] = last[0]
		}
	}
	sc.stop, sc.indexed = stop, true
}

// stopAt is stringEnd on the index (sc.indexed): the offset of the first
// marked byte at or after j (j <= len(s)), or a value >= len(s) when there
// is none. The scan loops call it where sc.indexed, else stringEnd: both
// inline. It looks at the 64 bytes from j at once, so that a string shorter
// than that costs one branch, whichever words it spans.
func (sc *scanner) stopAt(j int) int { return stopIn(sc.stop, j) }

// stopIn is stopAt on the index stop, for the loops that keep sc.stop in a
// local.
func stopIn(stop []uint64, j int) int {
	for {
		w, b := j>>6, uint(j&63)
		// Two shifts below 64: the compiler emits them with no test
		// for a shift of 64 (b == 0 needs the second word out).
		ws := stop[w : w+2]
		if m := ws[0]>>b | ws[1]<<1<<(63-b); m != 0 {
			return j + bits.TrailingZeros64(m)
		}
		if j += 64; j>>6+1 >= len(stop) {
			return j
		}
	}
}
