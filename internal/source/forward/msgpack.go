package forward

import (
	"encoding/binary"
	"errors"
	"math"
)

// This file is a minimal msgpack reader over byte slices: it decodes value
// headers and skips values, never allocates, never recurses and never trusts a
// declared length or count beyond the bytes it is given.

// kind is the msgpack type family of a value.
type kind uint8

const (
	kInvalid kind = iota // 0xc1, never used by msgpack
	kNil
	kBool
	kInt   // signed or unsigned integer that fits int64: hdr.int()
	kUint  // unsigned integer above math.MaxInt64: hdr.v
	kFloat // float32 or float64: hdr.float(), hdr.bits()
	kStr
	kBin
	kArray
	kMap
	kExt
)

func (k kind) String() string {
	switch k {
	case kNil:
		return "nil"
	case kBool:
		return "bool"
	case kInt, kUint:
		return "integer"
	case kFloat:
		return "float"
	case kStr:
		return "str"
	case kBin:
		return "bin"
	case kArray:
		return "array"
	case kMap:
		return "map"
	case kExt:
		return "ext"
	}
	return "invalid"
}

// hdr is a decoded msgpack value header. It is kept small: it is returned by
// value once per msgpack value on the hot path.
type hdr struct {
	k   kind
	et  int8 // kExt: the extension type
	f32 bool // kFloat: encoded as float32
	// size is the bytes of the header: type byte, length or value bytes,
	// ext type byte.
	size int
	// n is the payload length of str, bin and ext, and the element count of
	// array and map (a map of n entries holds 2n values).
	n int
	// v holds the value of kInt (as int64 bits), kUint, kBool (0 or 1) and
	// kFloat (float64 bits).
	v uint64
}

func (h *hdr) int() int64 { return int64(h.v) }

func (h *hdr) float() float64 { return math.Float64frombits(h.v) }

func (h *hdr) bits() int {
	if h.f32 {
		return 32
	}
	return 64
}

// end returns the length of the value when it is a scalar (everything but
// array and map): header plus payload.
func (h *hdr) end() int {
	switch h.k {
	case kStr, kBin, kExt:
		return h.size + h.n
	}
	return h.size
}

var (
	// errShort means the bytes end inside the value. Inside a complete
	// request it is reported as malformed.
	errShort = errors.New("msgpack value truncated")
	// errNeverUsed is the byte 0xc1.
	errNeverUsed = errors.New("msgpack byte 0xc1 (never used) found")
	// errHuge is a length of 2 GiB or more: more than any limit allows.
	errHuge = errors.New("msgpack length of 2 GiB or more")
)

// headerSize returns the size of the header that starts with the type byte c,
// not counting str/bin/ext payloads.
func headerSize(c byte) int {
	switch {
	case c <= 0xbf || c >= 0xe0:
		return 1
	}
	switch c {
	case 0xc0, 0xc1, 0xc2, 0xc3:
		return 1
	case 0xc4, 0xd9, 0xcc, 0xd0: // bin8 str8 uint8 int8
		return 2
	case 0xc5, 0xda, 0xdc, 0xde, 0xcd, 0xd1: // 16-bit lengths and ints
		return 3
	case 0xc6, 0xdb, 0xdd, 0xdf, 0xce, 0xd2, 0xca: // 32-bit lengths, ints, float32
		return 5
	case 0xcf, 0xd3, 0xcb:
		return 9
	case 0xc7:
		return 3
	case 0xc8:
		return 4
	case 0xc9:
		return 6
	case 0xd4, 0xd5, 0xd6, 0xd7, 0xd8: // fixext: type byte + ext type
		return 2
	}
	return 1
}

// readHdr decodes the header at the start of b. It returns errShort when b
// ends inside the header (not the payload: callers check h.end()).
func readHdr(b []byte) (h hdr, err error) {
	if len(b) == 0 {
		return h, errShort
	}
	c := b[0]
	h.size = headerSize(c)
	if len(b) < h.size {
		return h, errShort
	}
	switch {
	case c <= 0x7f:
		h.k, h.v = kInt, uint64(int64(c))
		return h, nil
	case c <= 0x8f:
		h.k, h.n = kMap, int(c&0x0f)
		return h, nil
	case c <= 0x9f:
		h.k, h.n = kArray, int(c&0x0f)
		return h, nil
	case c <= 0xbf:
		h.k, h.n = kStr, int(c&0x1f)
		return h, nil
	case c >= 0xe0:
		h.k, h.v = kInt, uint64(int64(int8(c)))
		return h, nil
	}
	var n32 uint32
	switch c {
	case 0xc0:
		h.k = kNil
	case 0xc1:
		return h, errNeverUsed
	case 0xc2, 0xc3:
		h.k, h.v = kBool, uint64(int64(c-0xc2))
	case 0xc4:
		h.k, n32 = kBin, uint32(b[1])
	case 0xc5:
		h.k, n32 = kBin, uint32(binary.BigEndian.Uint16(b[1:]))
	case 0xc6:
		h.k, n32 = kBin, binary.BigEndian.Uint32(b[1:])
	case 0xc7:
		h.k, n32, h.et = kExt, uint32(b[1]), int8(b[2])
	case 0xc8:
		h.k, n32, h.et = kExt, uint32(binary.BigEndian.Uint16(b[1:])), int8(b[3])
	case 0xc9:
		h.k, n32, h.et = kExt, binary.BigEndian.Uint32(b[1:]), int8(b[5])
	case 0xca:
		h.k, h.f32 = kFloat, true
		h.v = math.Float64bits(float64(math.Float32frombits(binary.BigEndian.Uint32(b[1:]))))
	case 0xcb:
		h.k, h.v = kFloat, binary.BigEndian.Uint64(b[1:])
	case 0xcc:
		h.k, h.v = kInt, uint64(int64(b[1]))
	case 0xcd:
		h.k, h.v = kInt, uint64(int64(binary.BigEndian.Uint16(b[1:])))
	case 0xce:
		h.k, h.v = kInt, uint64(int64(binary.BigEndian.Uint32(b[1:])))
	case 0xcf:
		u := binary.BigEndian.Uint64(b[1:])
		if u > math.MaxInt64 {
			h.k, h.v = kUint, u
		} else {
			h.k, h.v = kInt, uint64(int64(u))
		}
	case 0xd0:
		h.k, h.v = kInt, uint64(int64(int8(b[1])))
	case 0xd1:
		h.k, h.v = kInt, uint64(int64(int16(binary.BigEndian.Uint16(b[1:]))))
	case 0xd2:
		h.k, h.v = kInt, uint64(int64(int32(binary.BigEndian.Uint32(b[1:]))))
	case 0xd3:
		h.k, h.v = kInt, uint64(int64(binary.BigEndian.Uint64(b[1:])))
	case 0xd4, 0xd5, 0xd6, 0xd7, 0xd8:
		h.k, n32, h.et = kExt, 1<<(c-0xd4), int8(b[1])
	case 0xd9:
		h.k, n32 = kStr, uint32(b[1])
	case 0xda:
		h.k, n32 = kStr, uint32(binary.BigEndian.Uint16(b[1:]))
	case 0xdb:
		h.k, n32 = kStr, binary.BigEndian.Uint32(b[1:])
	case 0xdc:
		h.k, n32 = kArray, uint32(binary.BigEndian.Uint16(b[1:]))
	case 0xdd:
		h.k, n32 = kArray, binary.BigEndian.Uint32(b[1:])
	case 0xde:
		h.k, n32 = kMap, uint32(binary.BigEndian.Uint16(b[1:]))
	case 0xdf:
		h.k, n32 = kMap, binary.BigEndian.Uint32(b[1:])
	}
	if n32 > math.MaxInt32 {
		// Keeps every offset sum below MaxInt on 32-bit platforms too.
		return h, errHuge
	}
	h.n = int(n32)
	return h, nil
}

// step measures the value starting at b[0] (len(b) > 0) without decoding
// it: n is its header plus payload length, children the values it contains
// directly (array elements; map keys and values). When b ends inside the
// header it returns errShort with n the header length.
func step(b []byte) (n, children int, err error) {
	c := b[0]
	switch {
	case c <= 0x7f || c >= 0xe0:
		return 1, 0, nil
	case c <= 0x8f:
		return 1, 2 * int(c&0x0f), nil
	case c <= 0x9f:
		return 1, int(c & 0x0f), nil
	case c <= 0xbf:
		return 1 + int(c&0x1f), 0, nil
	}
	hs := headerSize(c)
	if len(b) < hs {
		return hs, 0, errShort
	}
	var n32 uint32
	switch c {
	case 0xc1:
		return 1, 0, errNeverUsed
	case 0xc4, 0xd9, 0xc7:
		n32 = uint32(b[1])
	case 0xc5, 0xda, 0xc8:
		n32 = uint32(binary.BigEndian.Uint16(b[1:]))
	case 0xc6, 0xdb, 0xc9:
		n32 = binary.BigEndian.Uint32(b[1:])
	case 0xd4, 0xd5, 0xd6, 0xd7, 0xd8:
		return hs + 1<<(c-0xd4), 0, nil
	case 0xdc:
		return hs, int(binary.BigEndian.Uint16(b[1:])), nil
	case 0xde:
		return hs, 2 * int(binary.BigEndian.Uint16(b[1:])), nil
	case 0xdd, 0xdf:
		k := binary.BigEndian.Uint32(b[1:])
		if k > math.MaxInt32 {
			return hs, 0, errHuge
		}
		if c == 0xdf {
			return hs, 2 * int(k), nil
		}
		return hs, int(k), nil
	default: // nil, bool, numbers
		return hs, 0, nil
	}
	if n32 > math.MaxInt32 {
		return hs, 0, errHuge
	}
	return hs + int(n32), 0, nil
}

// skip returns the offset just past the value that starts at b[off:]. It
// walks iteratively with a count of values still to skip, so hostile nesting
// costs no stack, and every step consumes at least one byte. It returns
// errShort when b ends inside the value.
func skip(b []byte, off int) (int, error) {
	for pending := 1; pending > 0; pending-- {
		if off >= len(b) {
			return off, errShort
		}
		n, children, err := step(b[off:])
		if err != nil {
			return off, err
		}
		pending += children
		if n > len(b)-off {
			return off, errShort
		}
		off += n
		// Each pending value needs at least one more byte: refuse counts
		// that cannot fit, so a declared count never drives the loop.
		if pending-1 > len(b)-off {
			return off, errShort
		}
	}
	return off, nil
}

// frame finds where the top-level value at the start of a growing buffer
// ends. It is resumable: after errShort it keeps its position, and the next
// call (with the same bytes plus more) continues from there, so a request
// that arrives in many small reads is scanned once, not once per read.
//
// For a top-level array of up to 4 elements (every Forward request) it also
// records where each element ends, so the decoder need not walk them again.
type frame struct {
	off     int // bytes of the value scanned so far
	pending int // values still to scan; 0 before the first header
	need    int // after errShort: the least len(buf) that can make progress
	top     int // element count of a top-level array of up to 4 elements, else -1
	nb      int // bounds recorded so far
	// bounds[0] is where element 0 starts, bounds[k+1] where element k
	// ends; valid up to bounds[top] once scan returns a length.
	bounds [5]int
}

func (s *frame) reset() { s.off, s.pending, s.need, s.nb = 0, 0, 0, 0 }

// scan returns the length of the complete value at the start of buf,
// errShort (s.need says how many bytes are needed at least), or an error for
// bytes that are not msgpack or a value longer than max bytes.
func (s *frame) scan(buf []byte, max int) (int, error) {
	if s.off > len(buf) {
		// Misuse: the caller dropped bytes it had shown us. Start over.
		s.reset()
	}
	if s.pending == 0 {
		s.off, s.pending, s.nb, s.top = 0, 1, 0, -1
	}
	for s.pending > 0 {
		if s.off >= len(buf) {
			s.need = s.off + 1
			return 0, errShort
		}
		n, children, err := step(buf[s.off:])
		if err == errShort {
			s.need = s.off + n
			if err := s.check(max); err != nil {
				return 0, err
			}
			return 0, errShort
		}
		if err != nil {
			return 0, err
		}
		s.pending += children
		end := s.off + n
		// Every value still pending needs at least one byte.
		s.need = end + s.pending - 1
		if err := s.check(max); err != nil {
			return 0, err
		}
		if end > len(buf) {
			return 0, errShort
		}
		if s.off == 0 && children <= 4 && (buf[0]&0xf0 == 0x90 || buf[0] == 0xdc || buf[0] == 0xdd) {
			s.top, s.bounds[0], s.nb = children, end, 1
		}
		s.off = end
		s.pending--
		// Element k of the top array ends the first time the values
		// still pending fall to the siblings after it.
		if s.nb > 0 && s.nb <= s.top && s.pending == s.top-s.nb {
			s.bounds[s.nb] = end
			s.nb++
		}
	}
	n := s.off
	s.reset()
	return n, nil
}

func (s *frame) check(max int) error {
	if s.need > max {
		need := s.need
		s.reset()
		return &limitError{what: "request size", limit: max, got: need}
	}
	return nil
}
