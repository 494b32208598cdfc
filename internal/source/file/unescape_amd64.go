//go:build !purego

package file

import "golang.org/x/sys/cpu"

// haveAVX2 tells whether unescapeFast runs through unescapeRunAVX2
// (unescapeAVX2) rather than eight bytes at a time (unescapeSWAR).
// It also needs BMI1 (TZCNT, BLSI, ANDN) and POPCNT, which every processor
// with AVX2 has in practice.
var haveAVX2 = cpu.X86.HasAVX2 && cpu.X86.HasBMI1 && cpu.X86.HasPOPCNT

// useVBMI2 tells whether unescapeRunAVX2 packs the bytes of a block with
// one VPCOMPRESSB (AVX-512 VBMI2 and BW) instead of eight shuffles. Tests
// set it to false to run the shuffles on machines that have VBMI2.
var useVBMI2 = haveAVX2 && cpu.X86.HasAVX512VBMI2 && cpu.X86.HasAVX512BW

// unescapeRunAVX2 is the loop of unescapeAVX2: it decodes the one-letter
// escapes of the JSON string whose bytes b[j:] follow, into out[w:]. It
// stops at a '"', which closes the string, at an escape it does not decode
// (\u, invalid, or a backslash at the end of b), or when fewer than 32
// bytes of b are left from j; it returns where it stopped in out and b.
// Each of its copies stores at out[w] at most as many bytes (64, 32 or 8)
// as it reads at b[j], so with w <= j-i-1 for the string's opening quote at
// b[i], len(out) >= len(b)-i is room enough. It needs AVX2, BMI1 and
// POPCNT.
//
//go:noescape
func unescapeRunAVX2(out, b []byte, w, j int) (wn, jn int)

// packShuffle[m] is the PSHUFB control that packs the bytes of eight whose
// bits are set in m at the start of the eight, in order, and
// packShuffle[256+m] the same for the upper eight of sixteen;
// packShuffle[512+m] is the number of bits set in m. unescapeRunAVX2 drops
// the backslashes of \" and \\ with it.
var packShuffle = func() (t [768]uint64) {
	for m := range 256 {
		var s uint64
		k := 0
		for i := range 8 {
			if m>>i&1 != 0 {
				s |= uint64(i) << (8 * k)
				k++
			}
		}
		t[m] = s
		t[256+m] = s + 0x0808080808080808
		t[512+m] = uint64(k)
	}
	return t
}()
