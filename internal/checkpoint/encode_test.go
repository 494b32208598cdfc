package checkpoint

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// encodeJSON is the reference encoding: encoding/json, as the file was
// written before encode was written by hand.
func encodeJSON(entries []Entry) []byte {
	ff := fileFormat{Version: formatVersion, Entries: make([]fileEntry, len(entries))}
	for i, e := range entries {
		ff.Entries[i] = fileEntry{Path: e.Path, Dev: e.ID.Dev, Ino: e.ID.Ino, Fingerprint: string(appendHex16(nil, e.ID.Fingerprint)),
			FingerprintLen: e.ID.FingerprintLen, Offset: e.Offset, Updated: e.Updated, Seed: e.Seed}
	}
	data, err := json.MarshalIndent(ff, "", "\t")
	if err != nil {
		panic(err)
	}
	return append(data, '\n')
}

func TestEncodeIsMarshalIndent(t *testing.T) {
	f := func(entries ...Entry) {
		t.Helper()
		got, want := encode(entries), encodeJSON(entries)
		if !bytes.Equal(got, want) {
			t.Fatalf("encode:\n%s\nencoding/json:\n%s", got, want)
		}
		back, err := decode(got)
		if err != nil || len(back) != len(entries) {
			t.Fatalf("decode: %v, %d entries", err, len(back))
		}
	}
	at := time.Date(2026, 1, 2, 3, 4, 5, 600700800, time.UTC)
	f()
	f(Entry{ID: FileID{Dev: 1, Ino: 2}, Path: "/a.log", Updated: at})
	f(Entry{ID: FileID{Dev: 1<<63 + 5, Ino: 1<<64 - 1, Fingerprint: 0xfedcba9876543210, FingerprintLen: 1024}, Path: "/var/log/pods/ns_p_u/c/0.log", Offset: 1<<40 + 3, Updated: at.Add(time.Nanosecond), Seed: 1<<64 - 2},
		Entry{ID: FileID{Dev: 3, Ino: 4, Fingerprint: 1, FingerprintLen: 7}, Path: "/d/\"q\"\\<&>\x01\u00e9\xff.log", Updated: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), Seed: 9})
}

func BenchmarkEncode(b *testing.B) {
	entries := make([]Entry, 4000)
	for i := range entries {
		entries[i] = Entry{ID: FileID{Dev: 64768, Ino: uint64(1000000 + i), Fingerprint: uint64(i) * 0x9e3779b97f4a7c15, FingerprintLen: 1024},
			Path: "/var/log/pods/default_app-1234_0123-4567/app/0.log", Offset: int64(i) * 977, Updated: time.Now().UTC(), Seed: uint64(i) * 31}
	}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		b.SetBytes(int64(len(encode(entries))))
	}
}

func BenchmarkEncodeJSON(b *testing.B) {
	entries := make([]Entry, 4000)
	for i := range entries {
		entries[i] = Entry{ID: FileID{Dev: 64768, Ino: uint64(1000000 + i), Fingerprint: uint64(i) * 0x9e3779b97f4a7c15, FingerprintLen: 1024},
			Path: "/var/log/pods/default_app-1234_0123-4567/app/0.log", Offset: int64(i) * 977, Updated: time.Now().UTC(), Seed: uint64(i) * 31}
	}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		b.SetBytes(int64(len(encodeJSON(entries))))
	}
}

func TestIndexesFollowSetAndDelete(t *testing.T) {
	// The indexes by inode and by fingerprint answer as a pass over every
	// entry would, through replacements and deletions.
	s, err := Open(t.TempDir(), zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	heads := [][]byte{[]byte("aaaa\nbbbb\n"), []byte("cccc\n"), []byte("aaaa\nzzzz\n")}
	var live []Entry
	for i := 0; i < 400; i++ {
		h := heads[i%len(heads)]
		n := 1 + (i*7)%len(h)
		fp, _ := Fingerprint(h[:n])
		e := Entry{ID: FileID{Dev: 1, Ino: uint64(i % 13), Fingerprint: fp, FingerprintLen: n}, Path: "/p", Offset: int64(i), Seed: uint64(i % 5)}
		if i%4 == 3 && len(live) > 0 {
			d := live[(i*31)%len(live)]
			s.Delete(d.ID)
		} else {
			s.Set(e)
		}
		live = s.All()
		for ino := uint64(0); ino < 13; ino++ {
			want := 0
			for _, e := range live {
				if e.ID.Ino == ino {
					want++
				}
			}
			if got := len(s.OnInode(1, ino)); got != want {
				t.Fatalf("step %d: OnInode(%d) has %d entries, want %d", i, ino, got, want)
			}
		}
		for _, h := range heads {
			want := false
			for _, e := range live {
				if n := e.ID.FingerprintLen; n > 0 && n <= len(h) {
					if fp, _ := Fingerprint(h[:n]); fp == e.ID.Fingerprint {
						want = true
					}
				}
			}
			if _, got := s.MatchHead(h); got != want {
				t.Fatalf("step %d: MatchHead(%q) = %v, want %v", i, h, got, want)
			}
		}
		for _, e := range live {
			if got, ok := s.Get(e.ID); !ok || got.ID != e.ID {
				t.Fatalf("step %d: Get(%+v) = %+v, %v", i, e.ID, got, ok)
			}
		}
	}
}
