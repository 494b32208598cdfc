// Package file reads container log files: Source discovers them by glob,
// follows them across rotations (rename, kubelet's rename and gzip,
// copytruncate, delete and recreate), ships their records through the
// pipeline and moves their checkpoints only past delivered records. The
// design, its limits and its measurements are in docs/file-input.md.
//
// Underneath, LineReader frames a file into lines with exact offsets; Decoder
// decodes CRI (containerd, CRI-O), Docker json-file and plain lines, joins
// split pieces and multiline stack traces (Multiline) into records; ParsePath
// reads Kubernetes and Docker metadata from paths. These are pure: no
// goroutines, no clock, no file watching. A harvester drives them:
//
//	for {
//		n, err := lr.Fill()                  // one read, no lock held
//		pr.Begin(ctx)                        // the batch to append to
//		for line, size, end, ok := lr.NextBuffered(); ok; ... {
//			l := Line{Data: line, Size: size, Start: end - int64(size) - 1, End: end}
//			if rec, ok := dec.Add(l, now); ok {
//				// encode rec into the batch; rec.Commit is the offset to
//				// checkpoint once it and everything before is delivered
//			}
//		}
//		pr.End()
//	}
//
// Offsets: every Record carries the offset a checkpoint may move to once the
// record and all before it are delivered (Record.Commit). Checkpoints only
// ever land on record boundaries, never inside an open CRI "P" sequence or
// multiline group.
package file
