package parse

import (
	"bytes"
	"math/bits"
)

// ecsTarget maps the builtin id of a name that ECS uses for an object
// ("service", "host", ...) to the id of the ECS field a scalar value of that
// name is written to ("service.name", "host.name", ...), see the package
// documentation. idNone: not renamed.
var ecsTarget = [idCount]uint8{
	idService:     idServiceName,
	idHost:        idHostName,
	idError:       idErrorMessage,
	idURL:         idURLOriginal,
	idUserAgent:   idUserAgentOriginal,
	idTrace:       idTraceID,
	idTraceIDU:    idTraceID,
	idTraceIDC:    idTraceID,
	idSpan:        idSpanID,
	idSpanIDU:     idSpanID,
	idSpanIDC:     idSpanID,
	idTransaction: idTransactionID,
	idClient:      idClientAddress,
	idContainer:   idContainerName,
	idEvent:       idEventAction,
}

// quotedName[id] is `,"<idName[id]>":`, what the fast path of appendObject
// writes before the value of a member renamed to the ECS field id.
var quotedName = func() (q [idCount]string) {
	for id, name := range idName {
		if name != "" {
			q[id] = `,"` + name + `":`
		}
	}
	return q
}()

// markRenames sets m.ren for the kept members that step 1 of the renaming
// (see the package documentation) renames, and p.renames to the set of their
// targets, when the line needs nothing else: each target is taken by one
// member only and is neither owned (the document writes it) nor a name of
// static or Line.Fields, so the final names stay distinct and no "_original"
// suffix is needed. Otherwise it reports true: the slow path
// (appendNormalised) writes the members. seen and owned are those of
// appendNormalised.
func (p *Parser) markRenames(s []byte, l *Line, owned, seen uint64) (slow bool) {
	dyn := p.staticKeys.ids
	if len(l.Fields) > 0 {
		dyn |= p.fieldsKeys.ids
	}
	var targets uint64
	ms := p.members
	for k := range ms {
		m := &ms[k]
		if m.id == idNone || m.act != actKeep {
			continue
		}
		t := ecsTarget[m.id]
		if t == idNone || seen&(1<<t) != 0 || !isScalar(s, m) {
			continue
		}
		if (targets|owned|dyn)&(1<<t) != 0 {
			for k := range ms {
				ms[k].ren = idNone
			}
			p.renames = 0
			return true
		}
		targets |= 1 << t
		m.ren = t
	}
	p.renames = targets
	return false
}

// markOriginals sets m.orig for the members of dyn (bit k for member k:
// plain, non-builtin names that static or Line.Fields also have), which step
// 3 of the renaming moves to "<name>_original", when the line needs nothing
// else for them: the line is compact JSON, no member has that name already
// and static and Fields do not have it either. Otherwise it reports true:
// the slow path (appendNormalised) writes the members.
func (p *Parser) markOriginals(s []byte, l *Line, dyn uint64) (slow bool) {
	ms := p.members
	// The slow path writes each member as `,<name>:<value>`; the fast path
	// copies runs of members as they are, which is the same bytes only for
	// compact lines.
	for k := range ms {
		if ms[k].vs != ms[k].ke+1 || k+1 < len(ms) && ms[k+1].ks != ms[k].ve+1 {
			return true
		}
	}
	for d := dyn; d != 0; d &= d - 1 {
		m := &ms[bits.TrailingZeros64(d)]
		name := s[m.ks+1 : m.ke-1]
		taken := false
		for j := range ms {
			n := s[ms[j].ks+1 : ms[j].ke-1]
			if len(n) == len(name)+len(originalSuffix) && string(n[:len(name)]) == string(name) &&
				string(n[len(name):]) == originalSuffix {
				taken = true
				break
			}
		}
		if !taken {
			p.keyBuf = append(append(p.keyBuf[:0], name...), originalSuffix...)
			taken = p.isDyn(p.keyBuf, l) || builtinID(p.keyBuf) != idNone
		}
		if taken {
			for k := range ms {
				ms[k].orig = false
			}
			return true
		}
		m.orig = true
	}
	return false
}

// metadataNames are the names of Elasticsearch's metadata fields: a document
// with one of them at its top level is rejected (or, for _doc_count, changes
// how aggregations count it).
var metadataNames = [...]string{
	"_id", "_index", "_source", "_routing", "_ignored", "_ignored_source", "_seq_no",
	"_primary_term", "_version", "_field_names", "_tier", "_data_stream_timestamp",
	"_nested_path", "_doc_count", "_tsid", "_ts_routing_hash", "_type", "_feature",
}

// badName reports whether Elasticsearch cannot take name as a top-level
// field name, or would read it as something else: empty, an empty or
// whitespace-only segment between dots ("", " ", ".", "a..b", "a."), or a
// metadata field name ("_id").
func badName(name []byte) bool {
	n := len(name)
	if n == 0 {
		return true
	}
	switch c := name[0]; {
	case c == '_':
		for _, m := range metadataNames {
			if string(name) == m {
				return true
			}
		}
		return false
	case c == '.' || name[n-1] == '.':
		return true
	case isWS[c] || isWS[name[n-1]]:
		return blankSegment(name)
	}
	// A blank segment inside needs a dot next to a dot or a space: one
	// pass over the (short) name, no call.
	for i := 1; i < n-1; i++ {
		if name[i] == '.' && (name[i+1] == '.' || isWS[name[i+1]] || isWS[name[i-1]]) {
			return blankSegment(name)
		}
	}
	return false
}

// blankSegment reports whether a dot-separated segment of name is empty or
// whitespace only.
func blankSegment(name []byte) bool {
	for {
		i := bytes.IndexByte(name, '.')
		seg := name
		if i >= 0 {
			seg = name[:i]
		}
		if skipWS(seg, 0) == len(seg) {
			return true
		}
		if i < 0 {
			return false
		}
		name = name[i+1:]
	}
}

// appendFixedName appends the name a bad name (see badName) is written
// under: every empty or whitespace-only segment becomes "_", and a metadata
// field name gets the suffix "_original" ("_id" -> "_id_original").
func appendFixedName(dst, name []byte) []byte {
	if len(name) > 0 && name[0] == '_' {
		for _, n := range metadataNames {
			if string(name) == n {
				return append(append(dst, name...), originalSuffix...)
			}
		}
	}
	for {
		i := bytes.IndexByte(name, '.')
		seg := name
		if i >= 0 {
			seg = name[:i]
		}
		if skipWS(seg, 0) == len(seg) {
			dst = append(dst, '_')
		} else {
			dst = append(dst, seg...)
		}
		if i < 0 {
			return dst
		}
		dst = append(dst, '.')
		name = name[i+1:]
	}
}

// isScalar reports whether m's value is a string, number, true or false.
func isScalar(s []byte, m *member) bool {
	if m.kind != kindOther {
		return true
	}
	c := s[m.vs]
	return c == 't' || c == 'f'
}

// appendNormalised writes the members (the slow path of appendObject) when
// some are renamed, moved to "<name>_original" or repeated: it computes each
// member's final name, merges members with equal final names into one array
// at the first of them, and reports what it changed. owned has bit id set for
// each builtin name the document writes itself; seen for each builtin name
// some member has. Unless maybeDup, no two members have the same name, and
// dups is the filter of their names by keyHash: then only a new name can
// make a pair, and when none hits the filter the names need no hashing.
func (p *Parser) appendNormalised(dst, s []byte, l *Line, owned, seen uint64, maybeDup bool, dups *[4]uint64) ([]byte, Flags) {
	ms := p.members
	var flags Flags
	n := len(ms)
	p.fin = p.fin[:0]
	p.finEnd = p.finEnd[:0]
	p.renamed = p.renamed[:0]
	for k := range ms {
		m := &ms[k]
		if m.act != actKeep {
			p.finEnd = append(p.finEnd, int32(len(p.fin)))
			p.renamed = append(p.renamed, false)
			continue
		}
		changed := true
		start := len(p.fin)
		name := s[m.ks+1 : m.ke-1]
		if m.escKey {
			p.keyBuf = Unescape(p.keyBuf[:0], name)
			name = p.keyBuf
		}
		id := m.id // set by appendObject for builtin names
		switch t := ecsTarget[id]; {
		case t != idNone && seen&(1<<t) == 0 && isScalar(s, m):
			p.fin = append(p.fin, idName[t]...)
			flags |= ECSRenamed
		case badName(name):
			p.fin = appendFixedName(p.fin, name)
			flags |= Renamed
		default:
			p.fin = append(p.fin, name...)
			changed = false
		}
		fin := p.fin[start:]
		fid := id
		if changed {
			fid = builtinID(fin)
		}
		if k != p.dsMember && owned&(1<<fid) != 0 || p.isDyn(fin, l) {
			p.fin = append(p.fin, originalSuffix...)
			flags |= Renamed
			changed = true
		}
		p.finEnd = append(p.finEnd, int32(len(p.fin)))
		p.renamed = append(p.renamed, changed)
	}

	if cap(p.next) < 2*n {
		p.next = make([]int32, 2*n)
	}
	next, tail := p.next[:n], p.next[n:2*n]
	if !maybeDup {
		f := *dups
		for k := range ms {
			if ms[k].act != actKeep || !p.renamed[k] {
				continue
			}
			name := p.finName(k)
			h := keyHash(name)
			if f[h>>6]&(1<<(h&63)) != 0 && p.finNameTaken(k, name) {
				maybeDup = true
				break
			}
			f[h>>6] |= 1 << (h & 63)
		}
	}
	if !maybeDup {
		for k := range next {
			next[k] = -1
		}
		return p.appendFinal(dst, s), flags
	}

	// Chain members with equal final names: next[k] is the following member
	// of k's name, tail[k] the last one (valid for the first member).
	size := 16
	for size < 2*n {
		size <<= 1
	}
	if cap(p.slots) < size {
		p.slots = make([]int32, size)
	}
	slots := p.slots[:size]
	clear(slots)
	for k := range ms {
		next[k], tail[k] = -1, int32(k)
		if ms[k].act != actKeep {
			continue
		}
		name := p.finName(k)
		h := fnv32(name) & uint32(size-1)
		for {
			j := slots[h] - 1
			if j < 0 {
				slots[h] = int32(k + 1)
				break
			}
			if string(p.finName(int(j))) == string(name) {
				next[tail[j]] = int32(k)
				tail[j] = int32(k)
				ms[k].act = actDone
				flags |= Merged
				break
			}
			h = (h + 1) & uint32(size-1)
		}
	}
	return p.appendFinal(dst, s), flags
}

// appendFinal writes the kept members under their final names, each with
// the values of the members chained to it (p.next).
func (p *Parser) appendFinal(dst, s []byte) []byte {
	ms := p.members
	next := p.next[:len(ms)]
	for k := range ms {
		m := &ms[k]
		if m.act != actKeep {
			continue
		}
		dst = append(dst, ',')
		name := p.finName(k)
		if !p.renamed[k] {
			dst = append(dst, s[m.ks:m.ke]...)
		} else {
			dst, _ = AppendString(dst, name)
		}
		dst = append(dst, ':')
		if next[k] < 0 {
			dst = append(dst, s[m.vs:m.ve]...)
			continue
		}
		dst = append(dst, '[')
		dst = append(dst, s[m.vs:m.ve]...)
		for j := next[k]; j >= 0; j = next[j] {
			dst = append(dst, ',')
			dst = append(dst, s[ms[j].vs:ms[j].ve]...)
		}
		dst = append(dst, ']')
	}
	return dst
}

// finNameTaken reports whether a kept member other than k has the final
// name name.
func (p *Parser) finNameTaken(k int, name []byte) bool {
	for j := range p.members {
		if j != k && p.members[j].act == actKeep && string(p.finName(j)) == string(name) {
			return true
		}
	}
	return false
}

func (p *Parser) finName(k int) []byte {
	start := int32(0)
	if k > 0 {
		start = p.finEnd[k-1]
	}
	return p.fin[start:p.finEnd[k]]
}

// isDyn reports whether name is one of the names of static or Line.Fields.
func (p *Parser) isDyn(name []byte, l *Line) bool {
	if p.staticKeys.index(name) >= 0 {
		return true
	}
	return len(l.Fields) > 0 && p.fieldsKeys.index(name) >= 0
}

func fnv32(b []byte) uint32 {
	h := uint32(2166136261)
	for _, c := range b {
		h ^= uint32(c)
		h *= 16777619
	}
	return h
}

// IsBlank reports whether data holds nothing but spaces, tabs, '\r' and '\n':
// such lines are counted, not shipped (see the package documentation).
func IsBlank(data []byte) bool {
	return skipWS(data, 0) == len(data)
}

// utf8BOM is the byte-order mark some Windows tools write before the text.
const utf8BOM = "\xef\xbb\xbf"

// flagNames are the values of log.flags, in the order they are written.
var flagNames = [...]struct {
	f    Flags
	name string
}{
	{Truncated, "truncated"},
	{InvalidUTF8, "invalid_utf8"},
	{Malformed, "json_parse_failure"},
	{BOM, "byte_order_mark"},
	{BadTimestamp, "timestamp_unusable"},
	{ECSRenamed, "ecs_renamed"},
	{Renamed, "field_renamed"},
	{Merged, "field_merged"},
}

// shownFlags are the flags written into log.flags.
const shownFlags = Truncated | InvalidUTF8 | Malformed | BOM | BadTimestamp | ECSRenamed | Renamed | Merged

// appendFlags writes `,"log.flags":[...]` for flags, if any is shown.
func appendFlags(dst []byte, flags Flags) []byte {
	return append(dst, flagsText[flags&shownFlags>>1]...)
}

// flagsText[f>>1] is what appendFlags writes for the shown flags f: the
// shown flags are bits 1 to 8.
var flagsText = func() (t [shownFlags>>1 + 1]string) {
	for k := range t {
		t[k] = string(formatFlags(nil, Flags(k<<1)&shownFlags))
	}
	return t
}()

// formatFlags writes `,"log.flags":[...]` for flags, if any is shown.
func formatFlags(dst []byte, flags Flags) []byte {
	if flags&shownFlags == 0 {
		return dst
	}
	dst = append(dst, `,"log.flags":[`...)
	first := true
	for _, fn := range flagNames {
		if flags&fn.f == 0 {
			continue
		}
		if !first {
			dst = append(dst, ',')
		}
		first = false
		dst = append(dst, '"')
		dst = append(dst, fn.name...)
		dst = append(dst, '"')
	}
	return append(dst, ']')
}
