package parse

import (
	"math/rand/v2"
	"testing"
)

func stopRef(c byte) bool { return c == '"' || c == '\\' || c < 0x20 || c >= 0x80 }

// TestStopsAVX2 compares the vector marks with a byte-at-a-time reference on
// every byte value at every position of a block, and on random lines of
// every length up to 300.
func TestStopsAVX2(t *testing.T) {
	if !haveAVX2 {
		t.Skip("no AVX2 here")
	}
	var blk [128]byte
	out := make([]uint64, 2)
	for c := 0; c < 256; c++ {
		for pos := 0; pos < 128; pos++ {
			for k := range blk {
				blk[k] = 'a'
			}
			blk[pos] = byte(c)
			stopsAVX2(blk[:], out)
			for k := range blk {
				got := out[k>>6]>>(k&63)&1 != 0
				if got != stopRef(blk[k]) {
					t.Fatalf("byte %#x at %d: mark at %d is %v", c, pos, k, got)
				}
			}
		}
	}
	r := rand.New(rand.NewPCG(1, 2))
	alphabet := []byte("ab\"\\\x00\x1f \x7f\x80\xff{}:,")
	var sc scanner
	for n := 0; n <= 300; n++ {
		for rep := 0; rep < 20; rep++ {
			s := make([]byte, n)
			for k := range s {
				s[k] = alphabet[r.IntN(len(alphabet))]
			}
			sc.index(s)
			for j := 0; j <= n; j++ {
				want := j
				for want < n && !stopRef(s[want]) {
					want++
				}
				sc.indexed = true
				got := sc.stopAt(j)
				if want == n && got >= n {
					continue
				}
				if got != want {
					t.Fatalf("len %d, next(%d) = %d, want %d: %q", n, j, got, want, s)
				}
			}
		}
	}
}

// TestDigitsEnd compares digitsEnd with a byte loop on every byte value at
// every position, and at every start.
func TestDigitsEnd(t *testing.T) {
	s := make([]byte, 20)
	for c := 0; c < 256; c++ {
		for pos := range s {
			for k := range s {
				s[k] = '7'
			}
			s[pos] = byte(c)
			for i := 0; i <= len(s); i++ {
				want := i
				for want < len(s) && s[want] >= '0' && s[want] <= '9' {
					want++
				}
				if got := digitsEnd(s, i); got != want {
					t.Fatalf("byte %#x at %d: digitsEnd(%d) = %d, want %d", c, pos, i, got, want)
				}
			}
		}
	}
}
