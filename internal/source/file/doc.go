// Package file reads container log files: it frames them into lines with
// exact offsets (LineReader), decodes CRI (containerd, CRI-O), Docker
// json-file and plain lines, joins split pieces and multiline stack traces
// into records (Decoder, Multiline), and reads Kubernetes and Docker metadata
// from paths (ParsePath).
//
// The framing and decoding types are pure: no goroutines, no clock, no file
// watching. A follower drives them:
//
//	lr := NewLineReader(f, 0, 0, offset)
//	defer lr.Release()
//	dec := NewDecoder(DecoderConfig{})
//	for {
//		line, size, end, err := lr.Next()
//		if err != nil { /* io.EOF: wait for the file to grow, expire multiline groups */ }
//		l := Line{Data: line, Size: size, Start: end - int64(size) - 1, End: end}
//		if rec, ok := dec.Add(l, now); ok {
//			// copy rec into a batch; its Commit is the mark to checkpoint once delivered
//		}
//	}
//
// Offsets: every Record carries the offset a checkpoint may move to once the
// record and all before it are delivered (Record.Commit). Checkpoints only
// ever land on record boundaries, never inside an open CRI "P" sequence or
// multiline group.
package file
