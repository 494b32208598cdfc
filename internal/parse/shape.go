package parse

import (
	"encoding/binary"
	"math/bits"
)

// A shape is the classification of a line's member names (appendObject's
// first pass): which builtin names the members have, and whether any name
// may need the slow path. It depends only on the raw names, in order, and on
// the names of static and Line.Fields, so the lines of one logger share it.
// The Parser keeps the shapes of recent lines (shapeOf): a line with the
// names of a kept shape costs one comparison per name instead of its
// classification.
type shape struct {
	n     int         // number of members, 0 for an empty slot
	ver   uint32      // fieldsVer of the classification, 0 without Line.Fields
	keys  []byte      // the raw names with their quotes, back to back
	names []shapeName // per member

	// first[id] is 1 + the index of the first member whose raw name is
	// the builtin name id. Bit id of seen is set when a member (raw or
	// unescaped) has that name, of twice when several do.
	first       [idCount]int32
	seen, twice uint64
	dups        [4]uint64 // filter of the names, by keyHash
	dyn         uint64    // bit k: member k has a name of static or Fields (plain, not builtin)
	// slow: some member may need a new name or a merge, appendNormalised
	// writes the members. maybeDup: some names may be repeated. ecs: some
	// member may be renamed to its ECS field. hasHost: a member names a
	// host ("host", "host.*").
	slow, maybeDup, ecs, hasHost bool

	// The members that may be used for @timestamp, log.level and message,
	// in the order they are tried (see appendObject), and ecsCand: bit k
	// for member k when its name may be renamed to an ECS field (when its
	// value is a scalar).
	tsCand          [len(timestampIDs)]int32
	lvlCand         [len(levelIDs)]int32
	msgCand         [len(messageIDs)]int32
	nTs, nLvl, nMsg uint8
	ecsCand         uint64
	plan            plan // of the last line with these names
}

// shapeName is a member name of a shape: its length and end in shape.keys,
// its builtin id (member.id), and its first 16 bytes (quotes included) as
// two words with the masks that keep them: a name is compared with two
// loads, two ANDs and two comparisons, and a longer one then with the rest
// of its bytes.
type shapeName struct {
	w0, w1, m0, m1 uint64
	n, end         uint16 // n <= end <= shapeMaxBytes
	id             uint8
}

// Shapes kept per Parser, and the limits of a kept shape (larger lines are
// classified each time, like lines with more than maxFastMembers members).
const (
	shapeBits     = 6
	shapeMaxBytes = 1024
)

// shapeOf returns the classification of the member names of s (p.members):
// a kept one when the line has the names of a recent line, else a new one.
// A new one sets the members' ids, a kept one leaves them to setIDs.
func (p *Parser) shapeOf(s []byte, l *Line) *shape {
	ms := p.members
	n := len(ms)
	if n == 0 || n > maxFastMembers || p.noShapes {
		p.classify(s, l, &p.tmp)
		return &p.tmp
	}
	var ver uint32
	if len(l.Fields) > 0 {
		ver = p.fieldsVer
	}
	// keyWord of the first and last names, inline when both have eight
	// bytes of s (the first starts before the last).
	first, last := &ms[0], &ms[n-1]
	var fw, lw uint64
	if fk, lk := int(first.ks), int(last.ks); fk >= 0 && lk <= len(s)-8 {
		fn, ln := uint(first.ke-first.ks), uint(last.ke-last.ks)
		fw = binary.LittleEndian.Uint64(s[fk:fk+8])&(1<<(8*fn)-1) ^ uint64(fn)
		lw = binary.LittleEndian.Uint64(s[lk:lk+8])&(1<<(8*ln)-1) ^ uint64(ln)
	} else {
		fw, lw = keyWord(s, first), keyWord(s, last)
	}
	h := uint64(n)*0x9e3779b97f4a7c15 ^ fw*0xc2b2ae3d27d4eb4f ^ lw*0x165667b19e3779f9
	if p.shapes == nil {
		p.shapes = make([]shape, 1<<shapeBits)
	}
	sh := &p.shapes[(h*0xff51afd7ed558ccd)>>(64-shapeBits)]
	if sh.n == n && sh.ver == ver {
		// sh.matches, with its common case inline.
		if k := matchWords(s, ms, sh.names); k == n || sh.matchesFrom(s, ms, k) {
			p.missRun = 0
			return sh
		}
	}
	// Logs whose lines have names of their own (ids as names) would pay
	// for keeping a shape per line: after a run of misses only every
	// 16th shape is kept, until a line meets one again.
	p.missRun++
	if p.missRun > 8 && p.missRun%16 != 0 {
		p.classify(s, l, &p.tmp)
		return &p.tmp
	}
	size := 0
	for k := range ms {
		size += int(ms[k].ke - ms[k].ks)
	}
	if size > shapeMaxBytes {
		p.classify(s, l, &p.tmp)
		return &p.tmp
	}
	p.classify(s, l, sh)
	sh.n, sh.ver = n, ver
	sh.keys, sh.names = sh.keys[:0], sh.names[:0]
	for k := range ms {
		ks, ke := int(ms[k].ks), int(ms[k].ke)
		sh.keys = append(sh.keys, s[ks:ke]...)
		nm := shapeName{n: uint16(ke - ks), end: uint16(len(sh.keys)), id: ms[k].id}
		if n := ke - ks; n <= 16 {
			// A shift by 64 or more is 0: m0 is all ones for n >= 8.
			nm.m0 = 1<<(8*n) - 1
			nm.m1 = 1<<(8*max(n-8, 0)) - 1
			var buf [16]byte
			copy(buf[:], s[ks:ke])
			nm.w0 = binary.LittleEndian.Uint64(buf[:8]) & nm.m0
			nm.w1 = binary.LittleEndian.Uint64(buf[8:]) & nm.m1
		} else {
			// Never equal by words: matches compares the bytes.
			nm.w0 = 1
		}
		sh.names = append(sh.names, nm)
	}
	return sh
}

// matches reports whether the members ms of s have the names of sh.
// len(ms) == sh.n. It leaves the members' ids alone (see setIDs).
func (sh *shape) matches(s []byte, ms []member) bool {
	k := matchWords(s, ms, sh.names)
	return k == len(ms) || sh.matchesFrom(s, ms, k)
}

// matchesFrom is matches from ms[k], whose name matchWords could not
// match: one longer than 16 bytes, one within 16 bytes of the end of s, or
// a mismatch. The bytes decide.
//
//go:noinline // the common case, matchWords alone, stays small
func (sh *shape) matchesFrom(s []byte, ms []member, k int) bool {
	names := sh.names[:len(ms)]
	for k < len(ms) {
		m, nm := &ms[k], &names[k]
		ks, n, end := int(m.ks), int(nm.n), int(nm.end)
		if int(m.ke)-ks != n || string(s[ks:ks+n]) != string(sh.keys[end-n:end]) {
			return false
		}
		k++
		k += matchWords(s, ms[k:], names[k:])
	}
	return true
}

// matchWords compares the names of ms with names by their first 16 bytes,
// in a loop that calls nothing. It
// returns the index of the first name it cannot match that way (a name
// longer than 16 bytes never matches, see shapeOf), or len(ms).
func matchWords(s []byte, ms []member, names []shapeName) int {
	names = names[:len(ms)]
	lim := len(s) - 16
	for k := range ms {
		m, nm := &ms[k], &names[k]
		// Through uint32, ks is known to be >= 0: one test spares the
		// loads their bounds checks.
		ks := int(uint32(m.ks))
		if ks > lim {
			return k
		}
		// Equal bytes are an equal name, and an equal length: a JSON
		// string ends where its bytes say.
		b := s[ks : ks+16]
		if binary.LittleEndian.Uint64(b[:8])&nm.m0 != nm.w0 ||
			binary.LittleEndian.Uint64(b[8:16])&nm.m1 != nm.w1 {
			return k
		}
	}
	return len(ms)
}

// setIDs sets the ids of the members ms, which have the names of sh. A
// kept shape that matches a line leaves them unset: only makePlan and the
// slow path read them.
func (sh *shape) setIDs(ms []member) {
	names := sh.names[:len(ms)]
	for k := range ms {
		ms[k].id = names[k].id
	}
}

// keyWord returns up to the first eight bytes of m's raw name (the opening
// quote included), for the shape hash. It inlines, the end of a line aside.
func keyWord(s []byte, m *member) uint64 {
	ks, n := int(m.ks), uint(m.ke-m.ks)
	if ks < 0 || ks > len(s)-8 {
		return keyWordEnd(s, ks, int(n))
	}
	// A shift by 64 or more is 0: all eight bytes for n >= 8.
	return binary.LittleEndian.Uint64(s[ks:ks+8])&(1<<(8*n)-1) ^ uint64(n)
}

// keyWordEnd is keyWord for a name that starts within 8 bytes of the end
// of s.
//
//go:noinline // keyWord inlines without it
func keyWordEnd(s []byte, ks, n int) uint64 {
	var w uint64
	for k := n - 1; k >= 0; k-- {
		w = w<<8 | uint64(s[ks+k])
	}
	return w ^ uint64(n)
}

// classify classifies the member names of s (p.members) into sh, sets the
// members' ids and leaves the rest of sh (n, ver, keys) alone.
func (p *Parser) classify(s []byte, l *Line, sh *shape) {
	ms := p.members
	// filter is the union of the name filters of static and Fields.
	filter := p.staticKeys.filter
	if len(l.Fields) > 0 {
		for k := range filter {
			filter[k] |= p.fieldsKeys.filter[k]
		}
	}
	sh.first = [idCount]int32{}
	var seen, twice, dyn, ecsAll uint64
	var dups [4]uint64
	slow := len(ms) > maxFastMembers
	maybeDup := slow
	ecs := false
	hasHost := false
	for k := range ms {
		m := &ms[k]
		name := s[m.ks+1 : m.ke-1]
		if m.escKey {
			p.keyBuf = Unescape(p.keyBuf[:0], name)
			name = p.keyBuf
			slow = true
		}
		hv := nameHash(name)
		id := builtinIDHash(name, hv)
		m.id = id
		if id != idNone {
			twice |= seen & (1 << id)
			seen |= 1 << id
			if sh.first[id] == 0 && !m.escKey {
				sh.first[id] = int32(k + 1)
			}
			if ecsTarget[id] != idNone && k < 64 {
				ecs = true
				ecsAll |= 1 << k
			}
		}
		h := uint8(hv >> 24) // keyHash
		if filter[h>>6]&(1<<(h&63)) != 0 && p.isDyn(name, l) {
			// A name of static or Fields moves to "<name>_original":
			// on the fast path (markOriginals) for plain names.
			if m.escKey || id != idNone || k >= 64 {
				slow = true
			} else {
				dyn |= 1 << k
			}
		}
		if len(name) >= 4 && name[0] == 'h' && string(name[:4]) == "host" && (len(name) == 4 || name[4] == '.') {
			hasHost = true
		}
		if !slow && badName(name) {
			slow = true
		}
		if dups[h>>6]&(1<<(h&63)) == 0 {
			dups[h>>6] |= 1 << (h & 63)
		} else if maybeDup || slow || m.escKey || p.repeated(s, k) {
			// Checked exactly on the fast path only: the slow path
			// merges by hash anyway.
			maybeDup, slow = true, true
		}
	}
	sh.seen, sh.twice, sh.dups, sh.dyn = seen, twice, dups, dyn
	sh.slow, sh.maybeDup, sh.ecs, sh.hasHost = slow, maybeDup, ecs, hasHost

	// The candidates: the ids of each list are ascending, so the bits of
	// seen give them in order, usually one or none.
	sh.nTs, sh.nLvl, sh.nMsg = 0, 0, 0
	for b := seen & timestampSet; b != 0; b &= b - 1 {
		if k := sh.first[bits.TrailingZeros64(b)]; k != 0 {
			sh.tsCand[sh.nTs] = k - 1
			sh.nTs++
		}
	}
	for b := seen & levelSet; b != 0; b &= b - 1 {
		if k := sh.first[bits.TrailingZeros64(b)]; k != 0 {
			sh.lvlCand[sh.nLvl] = k - 1
			sh.nLvl++
		}
	}
	for b := seen & messageSet; b != 0; b &= b - 1 {
		if k := sh.first[bits.TrailingZeros64(b)]; k != 0 {
			sh.msgCand[sh.nMsg] = k - 1
			sh.nMsg++
		}
	}
	sh.ecsCand = 0
	for b := ecsAll; b != 0; b &= b - 1 {
		k := bits.TrailingZeros64(b)
		if seen&(1<<ecsTarget[ms[k].id]) == 0 {
			sh.ecsCand |= 1 << k
		}
	}
	sh.plan.ok = false
}

// The sets of timestampIDs, levelIDs and messageIDs, whose ids ascend in
// the order the members are tried (checked at start-up).
var timestampSet, levelSet, messageSet = idSet(timestampIDs[:]), idSet(levelIDs[:]), idSet(messageIDs[:])

func idSet(ids []uint8) uint64 {
	var set uint64
	for k, id := range ids {
		if k > 0 && id <= ids[k-1] {
			panic("parse: candidate ids must ascend: " + idName[id])
		}
		set |= 1 << id
	}
	return set
}
