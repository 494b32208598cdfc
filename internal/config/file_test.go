package config

import (
	"io"
	"strings"
	"testing"
	"time"
)

func loadWith(t *testing.T, env map[string]string, args ...string) (Config, error) {
	t.Helper()
	return Load("test", args, func(k string) string { return env[k] }, io.Discard)
}

func TestFileDefaults(t *testing.T) {
	c, err := loadWith(t, nil, "--input=file")
	if err != nil {
		t.Fatal(err)
	}
	f := c.File
	if f.Mode != FileModeDaemonSet || f.Format != "auto" || f.StartAt != "beginning" || f.StateDir != "/var/lib/shipper" ||
		f.CheckpointInterval != 5*time.Second || f.PollInterval != 250*time.Millisecond || f.RescanInterval != time.Second ||
		f.MaxOpenFiles != 1024 || f.CloseInactive != 5*time.Minute || f.RotateWait != 5*time.Second || f.Multiline ||
		f.MultilineTimeout != 2*time.Second || f.MultilineMaxLines != 500 || f.BufferBytes != 8<<20 {
		t.Fatalf("defaults: %+v", f)
	}
	if g := f.Globs(); len(g) != 1 || g[0] != "/var/log/containers/*.log" {
		t.Fatalf("daemonset globs %q", g)
	}
}

func TestFileSidecarFromDownwardAPI(t *testing.T) {
	env := map[string]string{"POD_NAMESPACE": "shop", "POD_NAME": "web-0", "POD_UID": "6f1c", "NODE_NAME": "node-7",
		"SHIPPER_FILE_MODE": "sidecar", "SHIPPER_LABELS": "team=payments, env=prod", "SHIPPER_STATE_DIR": "/data/shipper"}
	c, err := loadWith(t, env, "--input=file")
	if err != nil {
		t.Fatal(err)
	}
	f := c.File
	if g := f.Globs(); len(g) != 1 || g[0] != "/var/log/pods/shop_web-0_6f1c/*/*.log" {
		t.Fatalf("sidecar globs %q", g)
	}
	if f.NodeName != "node-7" || f.StateDir != "/data/shipper" || f.Labels.String() != "team=payments,env=prod" {
		t.Fatalf("%+v", f)
	}
	// Flags win over the environment; explicit paths replace the mode's.
	c, err = loadWith(t, env, "--input=file", "--file-paths=/logs/*.log,/more/*.txt", "--file-exclude=*debug*",
		"--file-start-at=end", "--file-format=cri", "--labels=a=1", "--file-multiline", "--file-multiline-start=^\\d{4}-")
	if err != nil {
		t.Fatal(err)
	}
	f = c.File
	if g := f.Globs(); len(g) != 2 || g[1] != "/more/*.txt" || f.StartAt != "end" || f.Format != "cri" ||
		len(f.Exclude) != 1 || f.Labels.String() != "a=1" || !f.Multiline || f.MultilineStart != `^\d{4}-` {
		t.Fatalf("%+v", f)
	}
}

func TestFileValidate(t *testing.T) {
	f := func(want string, env map[string]string, args ...string) {
		t.Helper()
		_, err := loadWith(t, env, append([]string{"--input=file"}, args...)...)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("%v: error %v, want it to mention %q", args, err, want)
		}
	}
	f("needs POD_NAMESPACE, POD_UID", map[string]string{"POD_NAME": "p"}, "--file-mode=sidecar")
	f("--file-mode \"ds\"", nil, "--file-mode=ds")
	f("malformed", nil, "--file-paths=/var/log/[*.log")
	f("--file-format", nil, "--file-format=syslog")
	f("--file-start-at", nil, "--file-start-at=middle")
	f("--state-dir is empty", nil, "--state-dir= ")
	f("--file-poll-interval must be positive", nil, "--file-poll-interval=0s")
	f("--file-rescan-interval 2m0s is above 1m", nil, "--file-rescan-interval=2m")
	f("--file-max-open-files", nil, "--file-max-open-files=0")
	f("--file-multiline-start", nil, "--file-multiline-start=(")
	f("invalid label", nil, "--labels=novalue")
	f("given twice", nil, "--labels=a=1,a=2")
	// The file settings are not checked when the input is off.
	if _, err := loadWith(t, nil, "--input=stdin", "--file-format=syslog"); err != nil {
		t.Fatalf("stdin only: %v", err)
	}
}
