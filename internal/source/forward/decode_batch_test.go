package forward

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// TestDecoderBatches: a Decoder with maxBatch hands out the entries of a
// request in batches of at most that many, the same entries in the same
// order as one without; a request over MaxRecordsPerRequest or with a
// malformed entry past the first batch fails in Decode, before any batch.
func TestDecoderBatches(t *testing.T) {
	tiny := func(n int, bad int) (fwd, packed menc, js []byte) {
		var ents menc
		var j strings.Builder
		j.WriteString(`["t",[`)
		for i := range n {
			if i == bad {
				ents = ents.raw(0xc1) // never used in msgpack
			} else {
				ents = ents.arr(2).int(int64(i)).mapStr("i", fmt.Sprint(i))
			}
			if i > 0 {
				j.WriteByte(',')
			}
			fmt.Fprintf(&j, `[%d,{"i":"%d"}]`, i, i)
		}
		j.WriteString(`]]`)
		fwd = mp().arr(2).str("t").arr(n).bytes(ents)
		packed = mp().arr(2).str("t").bin(ents)
		return fwd, packed, []byte(j.String())
	}
	decode := func(d *Decoder, in []byte, json bool) (Request, error) {
		if json {
			req, _, err := d.DecodeJSON(in)
			return req, err
		}
		req, _, err := d.Decode(in)
		return req, err
	}
	f := func(name string, in []byte, json bool, n int) {
		t.Helper()
		d := NewDecoder(Limits{MaxRecordsPerRequest: 5000})
		d.maxBatch = 1000
		req, err := decode(d, in, json)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var times []int64
		batches := 0
		for more := true; more; more, err = d.More(&req) {
			if err != nil {
				t.Fatalf("%s: More: %v", name, err)
			}
			if len(req.Entries) > 1000 {
				t.Fatalf("%s: batch of %d entries, want at most 1000", name, len(req.Entries))
			}
			batches++
			for _, e := range req.Entries {
				times = append(times, e.Time)
			}
		}
		if len(times) != n || batches != (n+999)/1000 {
			t.Fatalf("%s: got %d entries in %d batches, want %d in %d", name, len(times), batches, n, (n+999)/1000)
		}
		for i, tm := range times {
			if tm != int64(i)*1e9 {
				t.Fatalf("%s: entry %d has time %d, want %d", name, i, tm, int64(i)*1e9)
			}
		}
	}
	for _, n := range []int{1, 999, 1000, 1001, 3500} {
		fwd, packed, js := tiny(n, -1)
		f(fmt.Sprint("forward ", n), fwd, false, n)
		f(fmt.Sprint("packed ", n), packed, false, n)
		f(fmt.Sprint("json ", n), js, true, n)
	}
	fail := func(name string, in []byte, json bool, want error) {
		t.Helper()
		d := NewDecoder(Limits{MaxRecordsPerRequest: 3000})
		d.maxBatch = 1000
		if _, err := decode(d, in, json); !errors.Is(err, want) {
			t.Fatalf("%s: Decode: got %v, want %v", name, err, want)
		}
	}
	fwd, packed, js := tiny(3001, -1)
	fail("forward over limit", fwd, false, ErrLimit)
	fail("packed over limit", packed, false, ErrLimit)
	fail("json over limit", js, true, ErrLimit)
	_, packed, _ = tiny(2500, 2400)
	fail("packed malformed late", packed, false, ErrMalformed)
}
