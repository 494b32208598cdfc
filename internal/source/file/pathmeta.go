package file

import "strings"

// PathKind says which layout a log file path follows.
type PathKind uint8

const (
	PathUnknown PathKind = iota
	// PathPods: /var/log/pods/<namespace>_<pod>_<uid>/<container>/<restart>.log
	// (also kubelet's rotated "<restart>.log.<timestamp>" and ".gz" files, and
	// the pre-1.14 layout /var/log/pods/<uid>/<container>_<restart>.log).
	PathPods
	// PathContainers: /var/log/containers/<pod>_<namespace>_<container>-<id>.log,
	// kubelet's symlinks to the files under /var/log/pods.
	PathContainers
	// PathDocker: /var/lib/docker/containers/<id>/<id>-json.log (and its
	// rotated "<id>-json.log.N" files).
	PathDocker
)

// PathMeta is what a log file's path says about its container. The strings
// are substrings of the path passed to ParsePath: no copies are made.
type PathMeta struct {
	Kind      PathKind
	Namespace string
	Pod       string
	PodUID    string
	Container string
	// ContainerID is the bare runtime ID (no "containerd://"), from
	// /var/log/containers or Docker paths. It may be cut short: see
	// Truncated.
	ContainerID string
	// Restart is the container's restart count from "<restart>.log", or -1.
	Restart int
	// Truncated: a /var/log/containers name was cut at the 255-byte file
	// name limit, so the end of ContainerID, and perhaps of Container, is
	// missing. Resolve the symlink and parse the /var/log/pods path for exact
	// names.
	Truncated bool
}

// ParsePath extracts Kubernetes or Docker metadata from a log file path. It
// looks only at the last components, so a host mount prefix
// ("/host/var/log/pods/…") does not matter; paths use '/'. ok is false when the
// path matches none of the layouts. It does not allocate.
func ParsePath(path string) (m PathMeta, ok bool) {
	m.Restart = -1
	dir, base := splitLast(path)
	dir, parent := splitLast(dir)
	dir, grand := splitLast(dir)
	_, great := splitLast(dir)

	switch {
	case great == "pods":
		// .../pods/<ns>_<pod>_<uid>/<container>/<restart>.log[.<suffix>]
		ns, rest, ok1 := strings.Cut(grand, "_")
		pod, uid, ok2 := strings.Cut(rest, "_")
		restart, ok3 := restartCount(base)
		if !ok1 || !ok2 || !ok3 || ns == "" || pod == "" || uid == "" || strings.Contains(uid, "_") || parent == "" {
			return m, false
		}
		m.Kind, m.Namespace, m.Pod, m.PodUID, m.Container, m.Restart = PathPods, ns, pod, uid, parent, restart
		return m, true
	case grand == "pods":
		// Before Kubernetes 1.14: .../pods/<uid>/<container>_<restart>.log
		i := strings.LastIndexByte(base, '_')
		if i <= 0 || parent == "" {
			return m, false
		}
		restart, ok := restartCount(base[i+1:])
		if !ok {
			return m, false
		}
		m.Kind, m.PodUID, m.Container, m.Restart = PathPods, parent, base[:i], restart
		return m, true
	case parent == "containers":
		// .../log/containers/<pod>_<ns>_<container>-<id>.log
		m.Truncated = len(base) >= 255
		name, ok := strings.CutSuffix(base, ".log")
		if !ok {
			return m, false
		}
		pod, rest, ok1 := strings.Cut(name, "_")
		ns, rest, ok2 := strings.Cut(rest, "_")
		i := strings.LastIndexByte(rest, '-')
		if !ok1 || !ok2 || pod == "" || ns == "" || i <= 0 || i == len(rest)-1 {
			return m, false
		}
		m.Kind, m.Pod, m.Namespace, m.Container, m.ContainerID = PathContainers, pod, ns, rest[:i], rest[i+1:]
		return m, true
	case grand == "containers":
		// .../containers/<id>/<id>-json.log[.N]
		rest, ok := strings.CutPrefix(base, parent)
		if !ok || parent == "" || !strings.HasPrefix(rest, "-json.log") {
			return m, false
		}
		m.Kind, m.ContainerID = PathDocker, parent
		return m, true
	}
	return m, false
}

// splitLast splits p at its last '/': ("/a/b", "c") for "/a/b/c".
func splitLast(p string) (dir, last string) {
	i := strings.LastIndexByte(p, '/')
	if i < 0 {
		return "", p
	}
	return p[:i], p[i+1:]
}

// restartCount parses "<n>.log" or a rotated "<n>.log.<suffix>".
func restartCount(base string) (int, bool) {
	i := strings.Index(base, ".log")
	if i <= 0 || (len(base) > i+4 && base[i+4] != '.') {
		return 0, false
	}
	n := 0
	for _, c := range []byte(base[:i]) {
		if !isDigit(c) || n > 1e8 {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

func isDigit(c byte) bool { return c-'0' < 10 }
