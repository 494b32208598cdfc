package forward

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"math"
)

// menc is a small msgpack encoder for tests. Each method appends one header
// or value; the plain methods use the smallest encoding, the numbered ones
// (map32, str16...) force a wider one, as some real clients do.
type menc []byte

func mp() menc { return nil }

func (e menc) raw(b ...byte) menc  { return append(e, b...) }
func (e menc) bytes(b []byte) menc { return append(e, b...) }
func (e menc) nil() menc           { return append(e, 0xc0) }
func (e menc) be16(n int) menc     { return binary.BigEndian.AppendUint16(e, uint16(n)) }
func (e menc) be32(n int) menc     { return binary.BigEndian.AppendUint32(e, uint32(n)) }
func (e menc) arr16(n int) menc    { return e.raw(0xdc).be16(n) }
func (e menc) arr32(n int) menc    { return e.raw(0xdd).be32(n) }
func (e menc) map16(n int) menc    { return e.raw(0xde).be16(n) }
func (e menc) map32(n int) menc    { return e.raw(0xdf).be32(n) }
func (e menc) str8(s string) menc  { return append(e.raw(0xd9, byte(len(s))), s...) }
func (e menc) str16(s string) menc { return append(e.raw(0xda).be16(len(s)), s...) }
func (e menc) str32(s string) menc { return append(e.raw(0xdb).be32(len(s)), s...) }
func (e menc) bin8(b []byte) menc  { return append(e.raw(0xc4, byte(len(b))), b...) }
func (e menc) bin32(b []byte) menc { return append(e.raw(0xc6).be32(len(b)), b...) }
func (e menc) f64(f float64) menc {
	return binary.BigEndian.AppendUint64(e.raw(0xcb), math.Float64bits(f))
}
func (e menc) f32(f float32) menc {
	return binary.BigEndian.AppendUint32(e.raw(0xca), math.Float32bits(f))
}
func (e menc) u64(u uint64) menc   { return binary.BigEndian.AppendUint64(e.raw(0xcf), u) }
func (e menc) i64(i int64) menc    { return binary.BigEndian.AppendUint64(e.raw(0xd3), uint64(i)) }
func (e menc) u32(u uint32) menc   { return binary.BigEndian.AppendUint32(e.raw(0xce), u) }
func (e menc) boolean(v bool) menc { return e.raw(map[bool]byte{false: 0xc2, true: 0xc3}[v]) }
func (e menc) mapStr(kv ...string) menc {
	e = e.mapH(len(kv) / 2)
	for _, s := range kv {
		e = e.str(s)
	}
	return e
}

func (e menc) arr(n int) menc {
	switch {
	case n < 16:
		return e.raw(0x90 | byte(n))
	case n < 1<<16:
		return e.arr16(n)
	}
	return e.arr32(n)
}

func (e menc) mapH(n int) menc {
	switch {
	case n < 16:
		return e.raw(0x80 | byte(n))
	case n < 1<<16:
		return e.map16(n)
	}
	return e.map32(n)
}

func (e menc) str(s string) menc {
	switch {
	case len(s) < 32:
		return append(e.raw(0xa0|byte(len(s))), s...)
	case len(s) < 1<<8:
		return e.str8(s)
	case len(s) < 1<<16:
		return e.str16(s)
	}
	return e.str32(s)
}

func (e menc) bin(b []byte) menc {
	switch {
	case len(b) < 1<<8:
		return e.bin8(b)
	case len(b) < 1<<16:
		return append(e.raw(0xc5).be16(len(b)), b...)
	}
	return e.bin32(b)
}

func (e menc) int(i int64) menc {
	switch {
	case i >= 0 && i < 128:
		return e.raw(byte(i))
	case i >= -32 && i < 0:
		return e.raw(byte(int8(i)))
	case i >= 0 && i < 1<<8:
		return e.raw(0xcc, byte(i))
	case i >= 0 && i < 1<<16:
		return e.raw(0xcd).be16(int(i))
	case i >= 0 && i < 1<<32:
		return e.u32(uint32(i))
	case i >= math.MinInt8 && i < 0:
		return e.raw(0xd0, byte(int8(i)))
	case i >= math.MinInt16 && i < 0:
		return e.raw(0xd1).be16(int(i))
	case i >= math.MinInt32 && i < 0:
		return e.raw(0xd2).be32(int(i))
	}
	return e.i64(i)
}

func (e menc) ext(typ int8, data []byte) menc {
	switch len(data) {
	case 1:
		e = e.raw(0xd4, byte(typ))
	case 2:
		e = e.raw(0xd5, byte(typ))
	case 4:
		e = e.raw(0xd6, byte(typ))
	case 8:
		e = e.raw(0xd7, byte(typ))
	case 16:
		e = e.raw(0xd8, byte(typ))
	default:
		switch {
		case len(data) < 1<<8:
			e = e.raw(0xc7, byte(len(data)), byte(typ))
		case len(data) < 1<<16:
			e = e.raw(0xc8).be16(len(data)).raw(byte(typ))
		default:
			e = e.raw(0xc9).be32(len(data)).raw(byte(typ))
		}
	}
	return append(e, data...)
}

// eventTime is Fluentd's EventTime as fixext8 (D7 00 ...).
func (e menc) eventTime(sec, nsec uint32) menc {
	return e.raw(0xd7, 0x00).be32(int(sec)).be32(int(nsec))
}

// eventTimeExt8 is EventTime as ext8 (C7 08 00 ...).
func (e menc) eventTimeExt8(sec, nsec uint32) menc {
	return e.raw(0xc7, 0x08, 0x00).be32(int(sec)).be32(int(nsec))
}

func gzipBytes(data []byte) []byte {
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	w.Write(data)
	w.Close()
	return b.Bytes()
}
