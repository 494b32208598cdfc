// Package event holds the vocabulary shared by sources, the pipeline and the
// sink: a Batch of encoded documents, the Items inside it and the Marks that
// travel back to the source once the batch is delivered.
//
// A Batch body is an Elasticsearch bulk request body, built in place by the
// source: the bytes of a record are copied once, from the source's read buffer
// into Body, and Body is what goes on the wire.
package event

// Item locates one bulk item (action line plus document) inside Batch.Body.
//
// Body[Start:Doc] is the action line including its '\n';
// Body[Doc:End] is the document including its '\n'.
type Item struct {
	Start, Doc, End uint32
}

// Batch is the unit of delivery. A source fills it through a
// pipeline.Producer, the sink sends it and calls Done exactly once when every
// item is either indexed or dead-lettered.
//
// Ownership: the producer owns the batch until it is sealed; after that the
// sink owns it until Done. Nothing may keep views into Body after Done: the
// buffer is reused.
type Batch struct {
	// Body is the bulk request body: for each item an action line and a document.
	Body []byte
	// Index is the request's default target (POST /<Index>/_bulk): action
	// lines without "_index" go there, the others where they say. Set by
	// the encoder with the batch's first item; "" when every line names its
	// index.
	Index string
	// Items lists the bulk items in Body order.
	Items []Item
	// Marks are opaque tokens chosen by the source (a file offset, a request
	// id...). They are handed back to the source, in the order they were
	// added and in batch order, once this batch and all earlier batches of the
	// same producer are delivered.
	Marks []uint64

	// Seq is the producer's sequence number for the batch; set by the pipeline.
	Seq uint64
	// Reserved is how many bytes of the pipeline's budget this batch holds;
	// set by the pipeline.
	Reserved int64

	// done is called by Done; set by the pipeline.
	done func(*Batch)
}

// AddItem records a bulk item whose action line starts at start, whose
// document starts at doc, and which ends at the current end of Body.
func (b *Batch) AddItem(start, doc int) {
	b.Items = append(b.Items, Item{Start: uint32(start), Doc: uint32(doc), End: uint32(len(b.Body))})
}

// Action returns the action line of item i, including its '\n'. The view is
// valid until Done.
func (b *Batch) Action(i int) []byte {
	it := b.Items[i]
	return b.Body[it.Start:it.Doc]
}

// Document returns the document of item i, including its '\n'. The view is
// valid until Done.
func (b *Batch) Document(i int) []byte {
	it := b.Items[i]
	return b.Body[it.Doc:it.End]
}

// Len returns the number of bulk items.
func (b *Batch) Len() int { return len(b.Items) }

// SetDone installs the completion callback. Only the pipeline calls it.
func (b *Batch) SetDone(f func(*Batch)) { b.done = f }

// Done reports that every item of the batch has been delivered (indexed, found
// already indexed, or written to the dead-letter stream). The sink calls it
// exactly once; the batch must not be touched afterwards.
func (b *Batch) Done() {
	if f := b.done; f != nil {
		b.done = nil
		f(b)
	}
}

// Reset empties the batch for reuse, keeping its buffers.
func (b *Batch) Reset() {
	b.Body = b.Body[:0]
	b.Items = b.Items[:0]
	b.Index = ""
	b.Marks = b.Marks[:0]
	b.Seq = 0
	b.Reserved = 0
	b.done = nil
}
