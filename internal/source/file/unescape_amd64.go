//go:build !purego

package file

import "golang.org/x/sys/cpu"

// haveAVX2 tells whether unescapeFast runs through unescapeRunAVX2
// (unescapeAVX2) rather than eight bytes at a time (unescapeSWAR).
// It also needs BMI1 (TZCNT, BLSI, ANDN), which every processor with AVX2
// has in practice.
var haveAVX2 = cpu.X86.HasAVX2 && cpu.X86.HasBMI1

// unescapeRunAVX2 is the loop of unescapeAVX2: it decodes the one-letter
// escapes of the JSON string whose bytes b[j:] follow, into out[w:]. It
// stops at a '"', which closes the string, at an escape it does not decode
// (\u, invalid, or a backslash at the end of b), or when fewer than 32
// bytes of b are left from j; it returns where it stopped in out and b.
// Each of its copies stores at out[w] as many bytes (64, or 32 near the
// end) as it reads at b[j], so with w <= j-i-1 for the string's opening
// quote at b[i], len(out) >= len(b)-i is room enough. It needs AVX2 and
// BMI1.
//
//go:noescape
func unescapeRunAVX2(out, b []byte, w, j int) (wn, jn int)
