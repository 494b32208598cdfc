//go:build !amd64 || purego

package file

// haveAVX2 is false: unescapeFast checks eight bytes per step
// (unescapeSWAR).
var haveAVX2 = false

// useVBMI2 is false: no unescapeRunAVX2.
var useVBMI2 = false

func unescapeRunAVX2(out, b []byte, w, j int) (wn, jn int) {
	panic("file: no AVX2 on this build")
}
