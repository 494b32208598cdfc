// Modes: the records of a decoded request (message, forward, packed, JSON,
// Docker partial messages) into documents of the pipeline's batches.

package forward

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"shipper/internal/datastream"
	"shipper/internal/parse"
	"shipper/internal/pipeline"
)

// handle encodes the records of one request into the pipeline and queues its
// ack. Backpressure: Begin and Next block while the pipeline is full, and the
// connection is not read meanwhile.
func (c *conn) handle(req *Request) error {
	s := c.s
	if req.Heartbeat || req.Ignored {
		return nil
	}
	if req.Invalid|req.BadTime != 0 {
		c.countSkipped(req)
	}
	if len(req.Entries) == 0 && req.Chunk == nil {
		return nil
	}
	if len(req.Chunk) > maxChunkBytes {
		return closeWith(ReasonMalformed, fmt.Errorf("%w: chunk option of %d bytes, more than %d", ErrMalformed, len(req.Chunk), maxChunkBytes))
	}
	c.counts.requests++
	if len(req.Entries) == 0 {
		_, err := c.pushAck(req.Chunk, true)
		return err
	}
	c.chunked = req.Chunk != nil
	if c.chunked {
		c.hi, c.lo = c.chunkID(req.Tag, req.Chunk)
	}
	// The time of the read that completed the request: a read brings many
	// of Docker's one-record requests, and reading the clock for each cost
	// 0.08 CPU-s per million.
	now := c.lastRead.UnixNano()
	if c.b == nil { // else open already: see begin
		if err := c.begin(); err != nil {
			if errors.Is(err, pipeline.ErrFull) {
				s.dropped.Add(uint64(len(req.Entries)))
				return nil // no ack: the client sends it again
			}
			return err
		}
	}
	if c.tag == nil || string(c.tag) != string(req.Tag) {
		c.setTag(req.Tag)
	}
	c.appended = 0
	if d := now - s.ingested; d >= ingestedStep || d < 0 { // see setIngested
		s.setIngested(now)
	}
	done := 0
	var err error
	if df := req.docker; df != nil && c.join.passes(df) {
		// The one record of a request decodeMessage read (More has no
		// entries after it), a line of its own: no Joiner bookkeeping.
		c.entry = 0
		e := &req.Entries[0]
		if err = c.emit(c.join.whole(e.Time, e.Record, df)); err == nil {
			done = 1
		}
	} else {
		done, err = c.addEntries(req, now)
	}
	var perr error
	if err == nil && req.Chunk != nil {
		var seq uint32
		if seq, perr = c.pushAck(req.Chunk, c.appended == 0); perr == nil && c.appended > 0 {
			// The request's last batch carries the mark; batches are
			// acknowledged in order, so its ack means every record of the
			// request is delivered, and those of the connection's requests
			// before it (see ackQueue.resolve): the mark of the previous
			// request in this batch, if it is the last one, is replaced.
			m := uint64(c.id)<<32 | uint64(seq)
			if k := len(c.b.Marks) - 1; k >= 0 && c.b.Marks[k]>>32 == uint64(c.id) {
				c.b.Marks[k] = m
			} else {
				c.b.Marks = append(c.b.Marks, m)
			}
			c.waiting = true
		}
	}
	if err != nil {
		c.end()
		if errors.Is(err, pipeline.ErrFull) {
			n := len(req.Entries) - done
			for more, _ := c.dec.More(req); more; more, _ = c.dec.More(req) {
				n += len(req.Entries)
			}
			s.dropped.Add(uint64(n))
			return nil
		}
		return err
	}
	return perr
}

// addEntries encodes the entries of req, batch after batch (see
// Decoder.More); done counts those of the last batch that were encoded.
func (c *conn) addEntries(req *Request, now int64) (done int, err error) {
	for base := 0; ; base += len(req.Entries) {
		done = 0
		for i := range req.Entries {
			e := &req.Entries[i]
			c.entry = base + i
			if req.Format == JSONRecord {
				err = c.encode(e.Record, 0, e.Time, c.tagFields(), 0, false)
			} else {
				// A one-record request's fields were scanned by the
				// decoder: its own, valid until the next Decode.
				df := req.docker
				if df == nil {
					df = c.dec.scanDocker(e.Record)
				}
				err = c.join.Add(now, e.Time, e.Record, df, c.emitFn)
			}
			if err != nil {
				return done, err
			}
			done++
		}
		more, merr := c.dec.More(req)
		if merr != nil {
			// Checked before the first batch: not expected.
			reason := ReasonMalformed
			if errors.Is(merr, ErrLimit) {
				reason = ReasonLimit
			}
			return done, closeWith(reason, merr)
		}
		if !more {
			return done, nil
		}
		c.countSkipped(req)
	}
}

// begin opens the batch the records of the next requests go to, unless it
// is open already: process keeps it open across the requests of one read
// (Docker's driver sends a request per record, and a read brings about a
// hundred of them), and closes it (end) before it returns, and before
// anything that may wait for the buffer budget (see acquireScratch): the
// producer, shared by every connection, stays locked meanwhile.
func (c *conn) begin() error {
	if c.b != nil {
		return nil
	}
	b, err := c.s.pr.Begin(c.queueCtx)
	if err != nil {
		return err
	}
	c.b = b
	return nil
}

// end closes the batch begin opened, if it is open, and publishes the
// counts of the requests encoded into it.
func (c *conn) end() {
	if c.b == nil {
		return
	}
	c.s.pr.End()
	c.b = nil
	c.publish()
}

// countSkipped counts the entries of req's current batch that were dropped
// (not [time, record]) or got the time of arrival.
func (c *conn) countSkipped(req *Request) {
	s := c.s
	if req.Invalid > 0 {
		s.invalid.Add(uint64(req.Invalid))
		s.warn.Warn().Str("remote", c.remote).Int("entries", req.Invalid).Bytes("tag", clip(req.Tag)).
			Msg("Fluent Forward entries dropped: not [time, record] with a map record")
	}
	if req.BadTime > 0 {
		s.badTime.Add(uint64(req.BadTime))
	}
}

// flushJoiner ships the lines being joined whose newest piece is older than
// cutoff (Unix ns), or all of them.
func (c *conn) flushJoiner(cutoff int64, all bool) error {
	s := c.s
	if c.join.Pending() == 0 {
		return nil
	}
	c.end()
	b, err := s.pr.Begin(c.queueCtx)
	if err != nil {
		if errors.Is(err, pipeline.ErrFull) {
			s.dropped.Add(uint64(c.join.Pending()))
			_ = c.join.Flush(func(*Line) error { return nil })
			return nil
		}
		return err
	}
	c.b = b
	c.chunked = false
	c.appended = 0
	s.setIngested(time.Now().UnixNano())
	if all {
		err = c.join.Flush(c.emitFn)
	} else {
		err = c.join.FlushIdle(cutoff, c.emitFn)
	}
	s.pr.End()
	c.b = nil
	c.publish()
	if errors.Is(err, pipeline.ErrFull) {
		return nil
	}
	return err
}

// ingestedStep is how long one event.ingested value serves: Docker's driver
// sends one request per line, and formatting the time for each costs more
// than the rest of a small request's bookkeeping. A document's
// event.ingested is then at most this much earlier than its read time, as
// the file input's is the start of the chunk it was read in.
const ingestedStep = int64(time.Millisecond)

// setIngested sets event.ingested for the documents encoded next to now
// (Unix ns), or keeps the one set less than ingestedStep before. Call it
// between Begin and End.
func (s *Server) setIngested(now int64) {
	if d := now - s.ingested; d >= ingestedStep || d < 0 {
		s.enc.Parser.SetIngested(now)
		s.ingested = now
	}
}

func (c *conn) publish() {
	s, n := c.s, &c.counts
	s.requests.Add(n.requests)
	s.records.Add(n.records)
	if n.joined|n.incomplete|n.parsed.JSON|n.parsed.Malformed|n.parsed.InvalidUTF8|n.parsed.Truncated|n.parsed.Blank|n.parsed.Changed != 0 {
		s.joined.Add(n.joined)
		s.incomplete.Add(n.incomplete)
		s.json.Add(n.parsed.JSON)
		s.malformed.Add(n.parsed.Malformed)
		s.invalidUTF8.Add(n.parsed.InvalidUTF8)
		s.truncated.Add(n.parsed.Truncated)
		s.blank.Add(n.parsed.Blank)
		s.changed.Add(n.parsed.Changed)
	}
	*n = counts{}
}

// chunkID derives the id base of a chunked request: a re-sent request (same
// tag and chunk) gets the same document ids, which Elasticsearch answers with
// 409 on create.
func (c *conn) chunkID(tag, chunk []byte) (hi, lo uint64) {
	c.idBuf = append(append(append(c.idBuf[:0], tag...), 0), chunk...)
	sum := sha256.Sum256(c.idBuf)
	if cap(c.idBuf) > 4<<10 {
		c.idBuf = nil
	}
	return binary.BigEndian.Uint64(sum[:8]), binary.BigEndian.Uint64(sum[8:16])
}

// setTag remembers tag and its data stream.
func (c *conn) setTag(tag []byte) {
	if c.tag != nil && bytes.Equal(c.tag, tag) {
		return
	}
	c.tag = append(c.tag[:0], tag...)
	c.fields.ok = false // rendered with the old tag
	c.index = c.s.index
	if c.s.cfg.DatasetFromTag {
		if ds := datastream.SanitizeDataset(tag); ds != "" {
			if name, err := datastream.IndexName(ds, c.s.cfg.Namespace); err == nil && (name == c.s.index || c.s.enc.Streams.Admit(ds)) {
				c.index = name
			}
		}
	}
}

// tagFields writes `"fluent.tag":"<tag>"` into the shared fields buffer.
func (c *conn) tagFields() []byte {
	f := append(c.s.fields[:0], `"fluent.tag":`...)
	f, _ = parse.AppendString(f, c.tag)
	c.s.fields = f
	return f
}

// emit encodes one line out of the Joiner: a Docker record (whole or joined)
// or any other record, rendered whole as a JSON object.
func (c *conn) emit(l *Line) error {
	s := c.s
	if !l.Fields.IsDocker {
		data, size := c.render(l.Record)
		return c.encode(data, size, l.Time, c.tagFields(), 0, l.Incomplete)
	}
	df := l.Fields
	var f []byte
	var fid uint64 // a reused buffer's fields have no id
	if df.Others == 0 && c.fields.match(df) {
		f, fid = c.fields.fields, c.fields.fieldsID
	} else {
		f = c.dockerFields(l)
	}
	data, size := l.Log, 0
	if l.Size > len(data) {
		size = l.Size
	}
	if max := s.cfg.MaxLineBytes; len(data) > max {
		size, data = len(data), data[:max]
	}
	if size == 0 && len(data) > 0 && data[len(data)-1] == '\r' {
		data = data[:len(data)-1] // as stdin lines: the copier keeps a CRLF's '\r'
	}
	if l.Pieces > 1 {
		c.counts.joined++
	}
	if l.Incomplete {
		c.counts.incomplete++
	}
	cl := &c.line
	cl.Data, cl.Size, cl.Time, cl.Fields, cl.FieldsID = data, size, l.Time, f, fid
	return c.encodeLine(l.Incomplete)
}

// dockerFields writes the Line.Fields of a Docker record into the shared
// fields buffer: fluent.tag, container.id, container.name, stream and the
// labels; without labels, they are remembered for the next records.
func (c *conn) dockerFields(l *Line) []byte {
	s := c.s
	f := c.tagFields()
	df := l.Fields
	if df.ContainerID != nil {
		f = append(f, `,"container.id":`...)
		f, _ = parse.AppendString(f, df.ContainerID)
	}
	if name := df.ContainerName; name != nil {
		if len(name) > 0 && name[0] == '/' {
			name = name[1:]
		}
		f = append(f, `,"container.name":`...)
		f, _ = parse.AppendString(f, name)
	}
	if df.Source != nil {
		f = append(f, `,"stream":`...)
		f, _ = parse.AppendString(f, df.Source)
	}
	if df.Others > 0 {
		f = appendLabels(f, l.Record)
	} else {
		c.fields.store(df, f)
	}
	s.fields = f
	return f
}

// fieldsCache remembers the Line.Fields of the last Docker record without
// labels of a connection, and what they were made of: Docker's driver sends
// the same tag, container and stream with every record, and rendering them
// again (a 64-hex container ID, quoted) was a tenth of what a record costs
// besides its parsing.
//
// The fields are the connection's tag's: setTag empties the cache.
type fieldsCache struct {
	id, name, source []byte // copies; nil and empty differ (see has)
	has              uint8  // which of id, name, source the record had
	fields           []byte
	fieldsID         uint64 // parse.Line.FieldsID of fields
	ok               bool
}

// maxCachedFields bounds what a connection keeps in its fieldsCache.
const maxCachedFields = 1 << 10

func dockerHas(df *DockerFields) uint8 {
	var h uint8
	if df.ContainerID != nil {
		h |= 1
	}
	if df.ContainerName != nil {
		h |= 2
	}
	if df.Source != nil {
		h |= 4
	}
	return h
}

// match reports whether fc holds the fields of a record with df.
func (fc *fieldsCache) match(df *DockerFields) bool {
	return fc.ok && fc.has == dockerHas(df) && bytes.Equal(fc.id, df.ContainerID) &&
		bytes.Equal(fc.name, df.ContainerName) && bytes.Equal(fc.source, df.Source)
}

// store remembers fields, rendered for a record with df (no labels).
func (fc *fieldsCache) store(df *DockerFields, fields []byte) {
	if len(fields) > maxCachedFields {
		*fc = fieldsCache{}
		return
	}
	fc.id = append(fc.id[:0], df.ContainerID...)
	fc.name = append(fc.name[:0], df.ContainerName...)
	fc.source = append(fc.source[:0], df.Source...)
	fc.has = dockerHas(df)
	fc.fields = append(fc.fields[:0], fields...)
	fc.fieldsID = parse.NewFieldsID()
	fc.ok = true
}

// render writes a record that is not Docker's as one JSON object, to be
// parsed like a line: its own time, level and message members are used.
func (c *conn) render(record []byte) (data []byte, size int) {
	s := c.s
	if cap(s.scratch) > keepScratch {
		s.scratch = nil
	}
	sc := append(s.scratch[:0], '{')
	sc, err := AppendRecordJSON(sc, record)
	if err != nil {
		// Never drop it: ship the raw record, base64, as the message.
		sc = append(sc[:0], "unreadable Fluent Forward record ("...)
		sc = append(sc, err.Error()...)
		sc = append(sc, "), msgpack in base64: "...)
		sc = base64.StdEncoding.AppendEncode(sc, record)
	} else {
		sc = append(sc, '}')
		c.replaced = replacedUTF8(record, sc)
	}
	s.scratch = sc
	if max := s.cfg.MaxLineBytes; len(sc) > max {
		return sc[:max], len(sc)
	}
	return sc, 0
}

// encode appends one document to the current batch, sealing it first when
// full; fieldsID is fields' parse.Line.FieldsID. incomplete documents (Docker lines that lost their last piece) never
// get the request's chunk-derived id: they are not the entry's own line.
func (c *conn) encode(data []byte, size int, t int64, fields []byte, fieldsID uint64, incomplete bool) error {
	l := &c.line
	l.Data, l.Size, l.Time, l.Fields, l.FieldsID = data, size, t, fields, fieldsID
	return c.encodeLine(incomplete)
}

// encodeLine is encode of c.line, whose Data, Size, Time, Fields and
// FieldsID the caller has set (emit does so without passing them through
// encode's arguments). The line lives in c: a local would escape to the
// heap through the encoder's processing stage, one allocation per record.
// TimeText stays nil and OrderKind OrderSequence (see newConn).
func (c *conn) encodeLine(incomplete bool) error {
	s := c.s
	l := &c.line
	b := c.b
	if s.pr.Full(b) {
		var err error
		if b, err = s.pr.Next(c.queueCtx); err != nil {
			l.Data, l.Fields = nil, nil
			return err
		}
		c.b = b
	}
	var hi, lo uint64
	if c.chunked && !incomplete {
		hi, lo = c.hi, c.lo+uint64(c.entry)
	} else {
		s.seq++
		hi, lo = s.cfg.RunID, s.seq
	}
	s.enc.Index = c.index
	s.order++
	l.Order, l.InvalidUTF8 = int64(s.order), c.replaced
	c.replaced = false
	info := s.enc.Append(b, l, hi, lo)
	l.Data, l.Fields = nil, nil // holds no views into buffers between records
	n := &c.counts
	n.records++
	n.parsed.Add(info.Flags)
	c.appended++
	return nil
}

// appendLabels appends the members of a Docker record other than the ones
// ScanDocker extracts (the --log-opt labels and env attributes) as
// `,"labels.<key>":<value>`: under labels, whose mapping takes any dotted
// key, so that com.docker.compose.project next to
// com.docker.compose.project.working_dir is no mapping conflict. A record
// that cannot be walked adds nothing.
func appendLabels(dst, record []byte) []byte {
	n0 := len(dst)
	h, err := readHdr(record)
	if err != nil || h.k != kMap {
		return dst
	}
	off := h.size
	for i := 0; i < h.n; i++ {
		kh, err := readHdr(record[off:])
		if err != nil || kh.end() > len(record)-off {
			return dst[:n0]
		}
		if kh.k != kStr && kh.k != kBin || kh.n == 0 || DockerKey(record[off+kh.size:off+kh.end()]) {
			if off, err = skipValue(record, off); err != nil {
				return dst[:n0]
			}
			if off, err = skipValue(record, off); err != nil {
				return dst[:n0]
			}
			continue
		}
		key := record[off+kh.size : off+kh.end()]
		off += kh.end()
		dst = append(dst, `,"labels.`...)
		k := len(dst)
		dst, _ = parse.AppendString(dst, key)
		dst = append(dst[:k], dst[k+1:]...) // drop AppendString's opening quote
		dst = append(dst, ':')
		if dst, off, err = appendValue(dst, record, off, 1, false); err != nil {
			return dst[:n0]
		}
	}
	return dst
}

// replacedUTF8 reports whether rendering the msgpack record as the JSON json
// replaced invalid UTF-8 with U+FFFD: json then holds more U+FFFD than the
// record's strings did. (A record whose binary numbers happen to hold the
// bytes of U+FFFD may hide a replacement: it is then not flagged.)
func replacedUTF8(record, json []byte) bool {
	const rc = "\uFFFD"
	n := bytes.Count(json, []byte(rc))
	return n > 0 && n > bytes.Count(record, []byte(rc))
}
