package encode

import "bytes"

// AppendCreate appends a bulk "create" action line for index with document
// id, including the trailing '\n'. index and id must need no JSON escaping:
// IndexName and the ID helpers guarantee that.
func AppendCreate(dst []byte, index string, id []byte) []byte {
	dst = append(dst, `{"create":{"_index":"`...)
	dst = append(dst, index...)
	dst = append(dst, `","_id":"`...)
	dst = append(dst, id...)
	return append(dst, "\"}}\n"...)
}

// AppendCreateIn appends the create action line for index with document id
// in a bulk request whose default target is def (event.Batch.Index): the
// line names no _index when index is def, 12 bytes plus the name fewer (32
// for logs-generic-default). def "" means a request without a default:
// every line names its index, as AppendCreate writes it.
func AppendCreateIn(dst []byte, index, def string, id []byte) []byte {
	if def == "" || index != def {
		return AppendCreate(dst, index, id)
	}
	dst = append(dst, createID...)
	dst = append(dst, id...)
	return append(dst, "\"}}\n"...)
}

// createID is the start of an action line without _index.
const createID = `{"create":{"_id":"`

// createIndex is the start of an action line with _index.
const createIndex = `{"create":{"_index":"`

// ParseCreate returns the _index and _id of a create action line written by
// AppendCreate or AppendCreateIn, as views into action; index is nil when
// the line names none (the document goes to the request's default target,
// event.Batch.Index). ok is false for any other line.
func ParseCreate(action []byte) (index, id []byte, ok bool) {
	rest, found := bytes.CutPrefix(action, []byte(createIndex))
	if found {
		i := bytes.IndexByte(rest, '"')
		if i < 0 {
			return nil, nil, false
		}
		index = rest[:i]
		if rest, found = bytes.CutPrefix(rest[i:], []byte(`","_id":"`)); !found {
			return nil, nil, false
		}
	} else if rest, found = bytes.CutPrefix(action, []byte(createID)); !found {
		return nil, nil, false
	}
	j := bytes.IndexByte(rest, '"')
	if j < 0 || string(rest[j:]) != "\"}}\n" && string(rest[j:]) != "\"}}" {
		return nil, nil, false
	}
	return index, rest[:j], true
}

// IDLen is the length of ids made by AppendID.
const IDLen = 22

// AppendID appends a document id made of two 64-bit numbers as 22 characters
// of unpadded base64url. Sources choose the numbers so that the same record
// always gets the same id (a file identity and an offset, a chunk id and an
// index, a run id and a sequence number): a retried create then answers 409.
func AppendID(dst []byte, hi, lo uint64) []byte {
	// The 128 bits, most significant first, 6 to a character: what
	// base64.RawURLEncoding makes of the 16 big-endian bytes, without
	// going through them (a third of the cost per line).
	n := len(dst)
	dst = append(dst, make([]byte, IDLen)...)
	d := (*[IDLen]byte)(dst[n:])
	const a = idAlphabet
	d[0], d[1], d[2], d[3] = a[hi>>58], a[hi>>52&63], a[hi>>46&63], a[hi>>40&63]
	d[4], d[5], d[6], d[7] = a[hi>>34&63], a[hi>>28&63], a[hi>>22&63], a[hi>>16&63]
	d[8], d[9], d[10] = a[hi>>10&63], a[hi>>4&63], a[(hi&15)<<2|lo>>62]
	d[11], d[12], d[13], d[14] = a[lo>>56&63], a[lo>>50&63], a[lo>>44&63], a[lo>>38&63]
	d[15], d[16], d[17], d[18] = a[lo>>32&63], a[lo>>26&63], a[lo>>20&63], a[lo>>14&63]
	d[19], d[20], d[21] = a[lo>>8&63], a[lo>>2&63], a[(lo&3)<<4]
	return dst
}

// idAlphabet is base64url's.
const idAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
