//go:build !amd64 || purego

package parse

// haveAVX2 is false: the scan checks eight bytes per step (stringEnd).
var haveAVX2 = false

func stopsAVX2(s []byte, out []byte) { panic("parse: no AVX2 on this build") }

func stopsLine(s []byte, out []byte) { panic("parse: no AVX2 on this build") }
