package encode

import (
	"encoding/base64"
	"encoding/binary"
)

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

// IDLen is the length of ids made by AppendID.
const IDLen = 22

// AppendID appends a document id made of two 64-bit numbers as 22 characters
// of unpadded base64url. Sources choose the numbers so that the same record
// always gets the same id (a file identity and an offset, a chunk id and an
// index, a run id and a sequence number): a retried create then answers 409.
func AppendID(dst []byte, hi, lo uint64) []byte {
	var raw [16]byte
	binary.BigEndian.PutUint64(raw[:8], hi)
	binary.BigEndian.PutUint64(raw[8:], lo)
	n := len(dst)
	dst = append(dst, make([]byte, IDLen)...)
	base64.RawURLEncoding.Encode(dst[n:], raw[:])
	return dst
}
