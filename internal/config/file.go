package config

import (
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

// File input modes: which files the default paths cover.
const (
	// FileModeDaemonSet follows every container of the node through
	// kubelet's symlinks.
	FileModeDaemonSet = "daemonset"
	// FileModeSidecar follows the containers of the shipper's own pod, named
	// by POD_NAMESPACE, POD_NAME and POD_UID (the downward API).
	FileModeSidecar = "sidecar"
)

// DefaultDaemonSetPaths is the glob of FileModeDaemonSet.
const DefaultDaemonSetPaths = "/var/log/containers/*.log"

// File configures the file input (container log files).
type File struct {
	Mode    string
	Paths   []string // globs; empty: the mode's default
	Exclude []string // globs: with a '/' matched against the path, else the file name
	Format  string   // auto, cri, docker, plain
	StartAt string   // beginning or end: files without a checkpoint found at start

	StateDir           string
	CheckpointInterval time.Duration
	PollInterval       time.Duration
	RescanInterval     time.Duration
	MaxOpenFiles       int
	CloseInactive      time.Duration
	RotateWait         time.Duration
	BufferBytes        ByteSize // the buffers of all files together

	Multiline         bool
	MultilineStart    string // regexp; empty: the built-in rules
	MultilineTimeout  time.Duration
	MultilineMaxLines int

	// Downward API and labels.
	PodNamespace, PodName, PodUID string
	NodeName                      string
	Labels                        Labels
}

func defaultFile() File {
	return File{
		Mode:               FileModeDaemonSet,
		Format:             "auto",
		StartAt:            "beginning",
		StateDir:           "/var/lib/shipper",
		CheckpointInterval: 5 * time.Second,
		PollInterval:       250 * time.Millisecond,
		RescanInterval:     time.Second,
		MaxOpenFiles:       1024,
		BufferBytes:        8 << 20, // taken out of --buffer-bytes, see Config.PipelineBytes
		CloseInactive:      5 * time.Minute,
		RotateWait:         5 * time.Second,
		MultilineTimeout:   2 * time.Second,
		MultilineMaxLines:  500,
	}
}

// Globs returns the patterns of the files to follow: --file-paths when set,
// else the mode's default.
func (f *File) Globs() []string {
	if len(f.Paths) > 0 {
		return f.Paths
	}
	if f.Mode == FileModeSidecar {
		return []string{fmt.Sprintf("/var/log/pods/%s_%s_%s/*/*.log", f.PodNamespace, f.PodName, f.PodUID)}
	}
	return []string{DefaultDaemonSetPaths}
}

func (f *File) options() []option {
	return []option{
		{"file-mode", []string{"SHIPPER_FILE_MODE"}, "which container logs the file input follows by default: daemonset (" + DefaultDaemonSetPaths + ") or sidecar (/var/log/pods/<POD_NAMESPACE>_<POD_NAME>_<POD_UID>/*/*.log)", stringValue{&f.Mode}},
		{"file-paths", []string{"SHIPPER_FILE_PATHS"}, "glob patterns of the files to follow, comma-separated; replaces the --file-mode default", (*stringList)(&f.Paths)},
		{"file-exclude", []string{"SHIPPER_FILE_EXCLUDE"}, "glob patterns of files to skip, comma-separated; a pattern without '/' matches the file name, e.g. *_kube-system_*", (*stringList)(&f.Exclude)},
		{"file-format", []string{"SHIPPER_FILE_FORMAT"}, "log file format: auto (detected per file), cri (containerd, CRI-O), docker (json-file) or plain", stringValue{&f.Format}},
		{"file-start-at", []string{"SHIPPER_FILE_START_AT"}, "where to start files found at start-up that have no checkpoint: beginning or end (files appearing later are always read from the beginning)", stringValue{&f.StartAt}},
		{"state-dir", []string{"SHIPPER_STATE_DIR"}, "directory of the file input's checkpoints; must survive restarts (a hostPath in a DaemonSet)", stringValue{&f.StateDir}},
		{"file-checkpoint-interval", []string{"SHIPPER_FILE_CHECKPOINT_INTERVAL"}, "how often checkpoints are written (and at shutdown)", durationValue{&f.CheckpointInterval}},
		{"file-poll-interval", []string{"SHIPPER_FILE_POLL_INTERVAL"}, "how often a file read to its end is checked for growth, rotation and truncation", durationValue{&f.PollInterval}},
		{"file-rescan-interval", []string{"SHIPPER_FILE_RESCAN_INTERVAL"}, "how often the glob patterns are expanded to find new files", durationValue{&f.RescanInterval}},
		{"file-max-open-files", []string{"SHIPPER_FILE_MAX_OPEN_FILES"}, "most files open at once; more wait for a free slot", intValue{&f.MaxOpenFiles}},
		{"file-buffer-bytes", []string{"SHIPPER_FILE_BUFFER_BYTES"}, "memory budget of all files' buffers (256KiB read buffers, long lines and records being joined), taken out of --buffer-bytes; when spent, files wait to be read and records being joined are cut (flagged truncated). At least 1MiB", &f.BufferBytes},
		{"file-close-inactive", []string{"SHIPPER_FILE_CLOSE_INACTIVE"}, "close a file that has not grown for this long (reopened when it grows)", durationValue{&f.CloseInactive}},
		{"file-rotate-wait", []string{"SHIPPER_FILE_ROTATE_WAIT"}, "keep a renamed (rotated) file open this long after it last grew, for writers that reopen late; deleted files are closed once read", durationValue{&f.RotateWait}},
		{"file-multiline", []string{"SHIPPER_FILE_MULTILINE"}, "join continuation lines (stack traces) into one record", boolValue{&f.Multiline}},
		{"file-multiline-start", []string{"SHIPPER_FILE_MULTILINE_START"}, "regular expression matching the first line of a record; empty: built-in rules for Java, Python and Go traces", stringValue{&f.MultilineStart}},
		{"file-multiline-timeout", []string{"SHIPPER_FILE_MULTILINE_TIMEOUT"}, "ship a multiline record when no next line came for this long", durationValue{&f.MultilineTimeout}},
		{"file-multiline-max-lines", []string{"SHIPPER_FILE_MULTILINE_MAX_LINES"}, "most lines in one multiline record", intValue{&f.MultilineMaxLines}},
		{"pod-namespace", []string{"POD_NAMESPACE"}, "namespace of the shipper's pod (sidecar mode; set it from the downward API)", stringValue{&f.PodNamespace}},
		{"pod-name", []string{"POD_NAME"}, "name of the shipper's pod (sidecar mode)", stringValue{&f.PodName}},
		{"pod-uid", []string{"POD_UID"}, "UID of the shipper's pod (sidecar mode)", stringValue{&f.PodUID}},
		{"node-name", []string{"NODE_NAME"}, "node name, written as kubernetes.node.name by the file input", stringValue{&f.NodeName}},
		{"labels", []string{"SHIPPER_LABELS"}, "extra labels written as labels.<key> into every file input document: key=value,...", &f.Labels},
	}
}

func (f *File) validate(bad func(format string, a ...any)) {
	switch f.Mode {
	case FileModeDaemonSet:
	case FileModeSidecar:
		if len(f.Paths) == 0 {
			var missing []string
			for _, v := range []struct{ env, val string }{{"POD_NAMESPACE", f.PodNamespace}, {"POD_NAME", f.PodName}, {"POD_UID", f.PodUID}} {
				if v.val == "" {
					missing = append(missing, v.env)
				}
			}
			if len(missing) > 0 {
				bad("--file-mode sidecar needs %s: set them from the downward API (fieldRef metadata.namespace, metadata.name, metadata.uid) or set --file-paths", strings.Join(missing, ", "))
			}
			for _, v := range []string{f.PodNamespace, f.PodName, f.PodUID} {
				if strings.ContainsAny(v, "/*?[") {
					bad("pod namespace, name and UID must not contain '/', '*', '?' or '[': got %q", v)
				}
			}
		}
	default:
		bad("--file-mode %q: want daemonset or sidecar", f.Mode)
	}
	for _, p := range append(append([]string(nil), f.Globs()...), f.Exclude...) {
		if _, err := filepath.Match(p, ""); err != nil {
			bad("glob pattern %q is malformed: %v", p, err)
		}
	}
	switch f.Format {
	case "auto", "cri", "docker", "json-file", "plain":
	default:
		bad("--file-format %q: want auto, cri, docker or plain", f.Format)
	}
	if f.StartAt != "beginning" && f.StartAt != "end" {
		bad("--file-start-at %q: want beginning or end", f.StartAt)
	}
	if strings.TrimSpace(f.StateDir) == "" {
		bad("--state-dir is empty: the file input needs a directory for its checkpoints")
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"--file-checkpoint-interval", f.CheckpointInterval}, {"--file-poll-interval", f.PollInterval},
		{"--file-rescan-interval", f.RescanInterval}, {"--file-close-inactive", f.CloseInactive},
		{"--file-rotate-wait", f.RotateWait}, {"--file-multiline-timeout", f.MultilineTimeout},
	} {
		if d.v <= 0 {
			bad("%s must be positive", d.name)
		}
	}
	if f.RescanInterval > time.Minute {
		bad("--file-rescan-interval %s is above 1m: new files would wait that long to be found", f.RescanInterval)
	}
	if f.PollInterval > 10*time.Second {
		bad("--file-poll-interval %s is above 10s", f.PollInterval)
	}
	if f.MaxOpenFiles < 1 {
		bad("--file-max-open-files must be at least 1")
	}
	if f.BufferBytes < 1<<20 {
		bad("--file-buffer-bytes %s is below 1MiB: a file needs a 256KiB read buffer and room for its longer lines", f.BufferBytes)
	}
	if f.MultilineMaxLines < 1 {
		bad("--file-multiline-max-lines must be at least 1")
	}
	if f.MultilineStart != "" {
		if _, err := regexp.Compile(f.MultilineStart); err != nil {
			bad("--file-multiline-start is not a valid regular expression: %v", err)
		}
	}
}

// Label is one key=value of --labels.
type Label struct{ Key, Value string }

// Labels is a comma-separated list of key=value.
type Labels []Label

func (l *Labels) String() string {
	parts := make([]string, len(*l))
	for i, kv := range *l {
		parts[i] = kv.Key + "=" + kv.Value
	}
	return strings.Join(parts, ",")
}

// Set parses "k=v,k2=v2". Keys must be non-empty and unique.
func (l *Labels) Set(s string) error {
	var out Labels
	seen := make(map[string]bool)
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p == "" {
			continue
		}
		k, v, ok := strings.Cut(p, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			return fmt.Errorf("invalid label %q: want key=value", p)
		}
		if seen[k] {
			return fmt.Errorf("label %q given twice", k)
		}
		seen[k] = true
		out = append(out, Label{Key: k, Value: strings.TrimSpace(v)})
	}
	*l = out
	return nil
}
