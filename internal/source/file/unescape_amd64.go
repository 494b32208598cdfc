//go:build !purego

package file

import "golang.org/x/sys/cpu"

// haveAVX2 tells whether unescapeFast runs through unescapeRunAVX2
// (unescapeAVX2) rather than eight bytes at a time (unescapeSWAR).
// It also needs BMI1 (TZCNT, BLSI, ANDN), which every processor with AVX2
// has in practice.
var haveAVX2 = cpu.X86.HasAVX2 && cpu.X86.HasBMI1

// unescapeRunAVX2 is the loop of unescapeAVX2: it decodes the one-letter
// escapes of the JSON string whose bytes b[j:] follow, into out[w:], while
// at least 64 bytes of b remain from j, then 32. It stops at a '"', which
// closes the string, at an escape it does not decode (\u, invalid, or the
// backslash at the end of b), or when fewer than 32 bytes are left; it
// returns where it stopped in out and b. It stores 64 (then 32) bytes at
// out[w] for each step, that is as many as it reads at b[j], so with
// w <= j-i-1 for the string's opening quote at b[i], len(out) >= len(b)-i
// is room enough. It needs AVX2 and BMI1.
//
//go:noescape
func unescapeRunAVX2(out, b []byte, w, j int) (wn, jn int)
