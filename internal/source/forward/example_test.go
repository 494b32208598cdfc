package forward_test

import (
	"bytes"
	"fmt"
	"io"
	"testing/iotest"

	"shipper/internal/source/forward"
)

// Example shows the read loop of one msgpack connection: decode what is
// buffered, read more on ErrShortBuffer (growing the buffer to Need), ack
// requests that carry a chunk, close on any other error.
func Example() {
	// Bytes as fluent-logger-golang writes them with RequestAck, then a
	// heartbeat: ["app", 1700000000, {"log": "hi"}, {"chunk": "abc"}], nil.
	stream := []byte("\x94\xa3app\xce\x65\x53\xf1\x00\x81\xa3log\xa2hi\x81\xa5chunk\xa3abc\xc0")
	conn := iotest.HalfReader(bytes.NewReader(stream)) // requests arrive split
	var acks []byte

	d := forward.NewDecoder(forward.Limits{})
	buf := make([]byte, 0, 8) // a server would start at 64 KiB or more
	start := 0
	for {
		req, n, err := d.Decode(buf[start:])
		if err == forward.ErrShortBuffer {
			// Keep the unfinished tail, grow to what the value needs, read.
			buf = buf[:copy(buf, buf[start:])]
			start = 0
			if need := d.Need(); need > cap(buf) {
				buf = append(make([]byte, 0, max(need, 2*cap(buf))), buf...)
			}
			k, rerr := conn.Read(buf[len(buf):cap(buf)])
			buf = buf[:len(buf)+k]
			if rerr == io.EOF && k == 0 {
				fmt.Println("connection closed")
				return
			}
			continue
		}
		if err != nil {
			fmt.Println("closing connection:", err)
			return
		}
		start += n
		switch {
		case req.Heartbeat:
			fmt.Println("heartbeat")
		case req.Ignored:
		default:
			for _, e := range req.Entries {
				members, _ := forward.AppendRecordJSON(nil, e.Record)
				fmt.Printf("%s %d {%s}\n", req.Tag, e.Time, members)
			}
			if req.Chunk != nil { // after the entries are safe
				acks = forward.AppendAck(acks, req.Chunk)
				fmt.Printf("ack %q\n", req.Chunk)
			}
		}
	}
	// Output:
	// app 1700000000000000000 {"log":"hi"}
	// ack "abc"
	// heartbeat
	// connection closed
}
