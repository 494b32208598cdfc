package file

import (
	"io/fs"
	"os"
	"path/filepath"

	"shipper/internal/parse"
)

// staticMembers returns the members every document of the source carries:
// input.type, kubernetes.node.name, labels.*, then cfg.Static.
func staticMembers(cfg *Config) []byte {
	b := []byte(`"input.type":"file"`)
	if cfg.NodeName != "" {
		b = append(b, `,"kubernetes.node.name":`...)
		b, _ = parse.AppendString(b, []byte(cfg.NodeName))
	}
	for _, l := range cfg.Labels {
		b = append(b, ',')
		b, _ = parse.AppendString(b, []byte("labels."+l.Key))
		b = append(b, ':')
		b, _ = parse.AppendString(b, []byte(l.Value))
	}
	if len(cfg.Static) > 0 {
		b = append(b, ',')
		b = append(b, cfg.Static...)
	}
	return b
}

// pathFields returns the per-document members of the records of a path, one
// variant per Stream: log.file.path, stream, and what the path says about the
// container (see ParsePath). A /var/log/containers symlink is resolved to
// learn the pod UID (and the full container name when the link's name was
// cut); its own name gives the container ID.
//
// log.file.path is left out for a /var/log/containers symlink whose name was
// not cut: the name is made of exactly the pod, namespace, container name
// and container ID the document carries, so the path adds 100-150 bytes to
// every document and nothing to know (a /var/log/pods path keeps it: its
// restart count and rotation suffix are nowhere else).
func (s *Source) pathFields(path string) *streamFields {
	var b []byte
	m, ok := ParsePath(path)
	if !ok || m.Kind != PathContainers || m.Truncated {
		b = append(b, `"log.file.path":`...)
		b, _ = parse.AppendString(b, []byte(path))
	}
	if ok && m.Kind == PathContainers {
		if real := realPath(path); real != path {
			if pm, ok := ParsePath(real); ok && pm.Kind == PathPods {
				m.PodUID = pm.PodUID
				if m.Truncated || m.Container == "" {
					m.Container = pm.Container
				}
				if m.Namespace == "" {
					m.Namespace = pm.Namespace
				}
			}
		}
	}
	if !ok && s.cfg.Pod.Name != "" {
		// Sidecar mode: the pod's own directory, mounted at a path that
		// does not name it; the container is the file's directory.
		m = PathMeta{Namespace: s.cfg.Pod.Namespace, Pod: s.cfg.Pod.Name, PodUID: s.cfg.Pod.UID,
			Container: filepath.Base(filepath.Dir(path)), Restart: -1}
		ok = true
	}
	if ok {
		str := func(name, v string) {
			if v != "" {
				if len(b) > 0 {
					b = append(b, ',')
				}
				b = append(b, name...)
				b = append(b, ':')
				b, _ = parse.AppendString(b, []byte(v))
			}
		}
		str(`"kubernetes.namespace"`, m.Namespace)
		str(`"kubernetes.pod.name"`, m.Pod)
		str(`"kubernetes.pod.uid"`, m.PodUID)
		str(`"kubernetes.container.name"`, m.Container)
		if !m.Truncated {
			str(`"container.id"`, m.ContainerID)
		}
	}
	sep := ","
	if len(b) == 0 {
		sep = ""
	}
	var out streamFields
	out.b[StreamNone] = b
	out.b[StreamStdout] = append(append([]byte(nil), b...), sep+`"stream":"stdout"`...)
	out.b[StreamStderr] = append(append([]byte(nil), b...), sep+`"stream":"stderr"`...)
	for k := range out.id {
		out.id[k] = parse.NewFieldsID()
	}
	return &out
}

// streamFields are the Line.Fields of a path's documents, per Stream, and
// their parse.FieldsIDs. Never changed once made: readers of the path share
// them.
type streamFields struct {
	b  [3][]byte
	id [3]uint64
}

// realPath follows symbolic links from path, up to a few levels, without
// requiring the final target to exist (a rotated file's link dangles until
// the new file is created).
func realPath(path string) string {
	p := path
	for i := 0; i < 8; i++ {
		fi, err := os.Lstat(p)
		if err != nil || fi.Mode()&fs.ModeSymlink == 0 {
			return p
		}
		t, err := os.Readlink(p)
		if err != nil {
			return p
		}
		if !filepath.IsAbs(t) {
			t = filepath.Join(filepath.Dir(p), t)
		}
		p = t
	}
	return p
}
