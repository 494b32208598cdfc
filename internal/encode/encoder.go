// Package encode turns parsed lines into Elasticsearch bulk items (a create
// action line with a deterministic _id, then the document) appended straight
// into a batch body. It sits between parse and the sinks: sources import it
// to fill batches, sinks read the items back. A processing stage, when there
// is one, runs between parse and Encoder.Append.
package encode

import (
	"bytes"
	"encoding/binary"
	"strings"

	"shipper/internal/datastream"
	"shipper/internal/event"
	"shipper/internal/parse"
)

// Encoder appends bulk items (create action plus document) for parsed lines
// straight into a batch body: the one copy of a record's bytes on its way to
// Elasticsearch. Not safe for concurrent use; one per source goroutine.
type Encoder struct {
	Parser    *parse.Parser
	Index     string // default target data stream
	Namespace string // used with a line's own data_stream.dataset
	// Streams limits the datasets lines may choose; nil admits every
	// valid one.
	Streams *Streams
	// Stage, when not nil, processes each document between the parser and
	// the batch (see Stage); nil costs nothing.
	Stage Stage

	lastDataset []byte // cache of the last per-record dataset
	lastNS      string // and namespace (empty: Namespace)
	defIndex    string // Index when defDS was taken from it
	defDS       []byte // Index's dataset, for a Stage that sets only the namespace
	lastIndex   string
	lastDS      string // lastIndex's dataset, when refused by Streams
	scratch     []byte
	line        parse.Line // the line handed to Stage (see Append)

	// The id characters of the last hi (see appendID): sources number
	// their records under one hi (a run, a file, a chunk).
	idHi   uint64
	idHead [IDLen]byte
	idOK   bool

	// Where the items of the current batch went, for batchDefault: how
	// many there were, how many went to Index, and a majority vote.
	items, ownItems int
	candidate       string
	votes           int
}

// New returns an encoder writing into index, or into
// logs-<record dataset>-<namespace> for lines that name their own dataset.
func New(p *parse.Parser, index, namespace string) *Encoder {
	return &Encoder{Parser: p, Index: index, Namespace: namespace}
}

// Append appends the item for l with the id made of (hi, lo) to b. A blank
// line (empty or whitespace only, see parse.IsBlank) adds nothing: it is
// reported with the flag parse.Blank for the source to count, as Filebeat
// and Fluent Bit skip such lines too. A truncated line is never blank, even
// when what was kept of it is empty: it is shipped, flagged, with its size.
func (e *Encoder) Append(b *event.Batch, l *parse.Line, hi, lo uint64) parse.Info {
	if l.Size <= len(l.Data) && parse.IsBlank(l.Data) {
		return parse.Info{Flags: parse.Blank}
	}
	if b.Index == "" {
		b.Index = e.batchDefault()
	}
	start := len(b.Body)
	if e.Index == b.Index {
		// The usual item, in the batch's default data stream: the
		// action line in three fixed-size stores.
		b.Body = e.appendAction(b.Body, hi, lo)
	} else {
		b.Body = AppendCreateIn(b.Body, e.Index, b.Index, nil)
		// An empty id was written: write the id in place of the closing.
		b.Body = b.Body[:len(b.Body)-len("\"}}\n")]
		b.Body = e.appendID(b.Body, hi, lo)
		b.Body = append(b.Body, "\"}}\n"...)
	}
	doc := len(b.Body)
	var info parse.Info
	b.Body, info = e.Parser.Append(b.Body, l)
	ns := ""
	if e.Stage != nil {
		var o Outcome
		// The Stage gets a copy: l itself must not escape (an interface
		// call leaks its arguments), or every source would allocate its
		// Line on the heap, once per line.
		e.line = *l
		b.Body, o = e.Stage.Process(b.Body, doc, &e.line, info)
		e.line = parse.Line{}
		if o.Drop {
			b.Body = b.Body[:start]
			return parse.Info{Flags: info.Flags}
		}
		if o.ID {
			AppendID(b.Body[doc-len("\"}}\n")-IDLen:doc-len("\"}}\n")-IDLen], o.Hi, o.Lo)
		}
		if o.DatasetSet {
			info.Dataset = o.Dataset
		}
		if o.Namespace != "" {
			ns = o.Namespace
			if len(info.Dataset) == 0 {
				if e.defIndex != e.Index || e.defDS == nil {
					e.defIndex, e.defDS = e.Index, []byte(e.defaultDataset())
				}
				info.Dataset = e.defDS
			}
		}
	}
	b.Body = append(b.Body, '\n')
	target := e.Index
	if len(info.Dataset) > 0 {
		doc, target = e.retarget(b, start, doc, info.Dataset, ns)
	}
	b.AddItem(start, doc)
	e.items++
	if target == e.Index {
		e.ownItems++
	}
	switch {
	case e.votes == 0:
		e.candidate, e.votes = target, 1
	case target == e.candidate:
		e.votes++
	default:
		e.votes--
	}
	return info
}

// batchDefault returns the default target of a new batch (event.Batch.Index):
// the data stream most items of the encoder's previous batch went to, so that
// most action lines can leave out their _index without a second pass over
// the body. That is Index unless most went elsewhere (records naming their
// dataset, a processor routing them); then it is the stream a majority vote
// over those items elected (Boyer and Moore's: one comparison an item). A
// wrong guess costs bytes, never a document: an item for any other stream
// names it.
func (e *Encoder) batchDefault() string {
	def := e.Index
	if 2*e.ownItems < e.items && e.votes > 0 {
		def = e.candidate
	}
	e.items, e.ownItems, e.votes = 0, 0, 0
	return def
}

// Stage processes documents between the parser and the batch (the
// processing stage, internal/process). One Stage per Encoder: it is used
// from the Encoder's goroutine only.
type Stage interface {
	// Process is given body, whose bytes from doc on are one document as
	// the parser wrote it ("{...}", no newline), the line it came from and
	// what the parser found. It returns body with the document to ship
	// from doc on (the same bytes when nothing changed) and what else to
	// do with it. It must not touch body before doc, nor keep l after it
	// returns.
	Process(body []byte, doc int, l *parse.Line, info parse.Info) ([]byte, Outcome)
}

// Outcome is what a Stage decided besides the document's bytes.
type Outcome struct {
	// Drop: ship nothing for this line.
	Drop bool
	// ID: the document id is made of (Hi, Lo) instead of the source's.
	ID     bool
	Hi, Lo uint64
	// DatasetSet: Dataset replaces the line's own data_stream.dataset
	// (subject to Streams like it); valid until the next Process.
	DatasetSet bool
	Dataset    []byte
	// Namespace, when not empty, replaces the encoder's Namespace (a
	// valid namespace: the Stage checks it).
	Namespace string
}

// defaultDataset is the dataset of Index (logs-<dataset>-<namespace>).
func (e *Encoder) defaultDataset() string {
	s := strings.TrimPrefix(e.Index, "logs-")
	if i := strings.LastIndexByte(s, '-'); i >= 0 {
		return s[:i]
	}
	return s
}

// retarget rewrites the action line of the item at start for the record's
// own dataset and returns the new document start and the item's data
// stream. The document moves by the difference in action length: a
// memmove, only for records going to another stream than Index.
func (e *Encoder) retarget(b *event.Batch, start, doc int, dataset []byte, ns string) (int, string) {
	if !bytes.Equal(dataset, e.lastDataset) || ns != e.lastNS {
		idx, refused := "", ""
		namespace := e.Namespace
		if ns != "" {
			namespace = ns
		}
		if ds := datastream.SanitizeDataset(dataset); ds != "" {
			if name, err := datastream.IndexName(ds, namespace); err == nil && name != e.Index {
				if ns != "" && ds == e.defaultDataset() || e.Streams.Admit(ds) {
					idx = name
				} else {
					refused = ds
				}
			}
		}
		e.lastDataset = append(e.lastDataset[:0], dataset...)
		e.lastIndex, e.lastDS, e.lastNS = idx, refused, ns
	} else if e.lastDS != "" {
		e.Streams.rejected.Add(1) // a refusal stays one: the set only grows
	}
	if e.lastDS != "" {
		// Refused: the default stream, flagged. The document ends "}\n";
		// the dataset is sanitized, so it needs no JSON escaping.
		b.Body = append(b.Body[:len(b.Body)-2], `,"labels.dataset_rejected":"`...)
		b.Body = append(append(b.Body, e.lastDS...), "\"}\n"...)
		return doc, e.Index
	}
	if e.lastIndex == "" || e.lastIndex == e.Index {
		return doc, e.Index
	}
	id := b.Body[doc-len("\"}}\n")-IDLen : doc-len("\"}}\n")]
	e.scratch = AppendCreateIn(e.scratch[:0], e.lastIndex, b.Index, id)
	oldLen := doc - start
	newLen := len(e.scratch)
	docLen := len(b.Body) - doc
	if newLen > oldLen {
		b.Body = append(b.Body, make([]byte, newLen-oldLen)...)
	}
	copy(b.Body[start+newLen:], b.Body[doc:doc+docLen])
	copy(b.Body[start:], e.scratch)
	b.Body = b.Body[:start+newLen+docLen]
	return start + newLen, e.lastIndex
}

// appendAction appends the action line AppendCreateIn writes for an item
// in the request's default data stream, with the id made of (hi, lo).
func (e *Encoder) appendAction(dst []byte, hi, lo uint64) []byte {
	const n = len(createID) + IDLen + len("\"}}\n")
	l := len(dst)
	if cap(dst)-l < 32+IDLen {
		dst = append(dst, make([]byte, 32+IDLen)...)
	}
	// Written in place, in the capacity: createIDFixed's 32 bytes, the id
	// over their end, then the closing.
	a := (*[32 + IDLen]byte)(dst[l : l+32+IDLen])
	*(*[32]byte)(a[:]) = createIDFixed
	e.putID((*[IDLen]byte)(a[len(createID):]), hi, lo)
	binary.LittleEndian.PutUint32(a[len(createID)+IDLen:], closeAction)
	return dst[:l+n]
}

// createIDFixed is createID in 32 bytes, for one store; closeAction is
// `"}}\n` as a little-endian word.
var createIDFixed = func() (a [32]byte) {
	copy(a[:], createID)
	return a
}()

const closeAction = uint32('"') | uint32('}')<<8 | uint32('}')<<16 | uint32('\n')<<24

// appendID is AppendID with the ten characters that only hi makes taken
// from the last call with the same hi, and those of lo two at a time.
func (e *Encoder) appendID(dst []byte, hi, lo uint64) []byte {
	n := len(dst)
	dst = append(dst, make([]byte, IDLen)...)
	e.putID((*[IDLen]byte)(dst[n:]), hi, lo)
	return dst
}

// putID writes the id of appendID into d.
func (e *Encoder) putID(d *[IDLen]byte, hi, lo uint64) {
	if !e.idOK || hi != e.idHi {
		AppendID(e.idHead[:0], hi, 0)
		e.idHi, e.idOK = hi, true
	}
	*(*[10]byte)(d[:10]) = *(*[10]byte)(e.idHead[:10])
	d[10] = idAlphabet[(hi&15)<<2|lo>>62]
	binary.LittleEndian.PutUint16(d[11:], idPairs[lo>>50&4095])
	binary.LittleEndian.PutUint16(d[13:], idPairs[lo>>38&4095])
	binary.LittleEndian.PutUint16(d[15:], idPairs[lo>>26&4095])
	binary.LittleEndian.PutUint16(d[17:], idPairs[lo>>14&4095])
	binary.LittleEndian.PutUint16(d[19:], idPairs[lo>>2&4095])
	d[21] = idAlphabet[(lo&3)<<4]
}

// idPairs holds the two id characters of every 12 bits, first in the low
// byte.
var idPairs = func() (t [4096]uint16) {
	for k := range t {
		t[k] = uint16(idAlphabet[k>>6]) | uint16(idAlphabet[k&63])<<8
	}
	return t
}()
