package config

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestForwardDefaults(t *testing.T) {
	c, err := Load("test", []string{"--input=forward"}, func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	f := c.Forward
	if f.Address != "127.0.0.1:24224" || !f.UDPHeartbeat || f.MaxConnections != 1024 || f.MaxRequestBytes != 4<<20 ||
		f.MaxDecompressedBytes != 4<<20 || f.BufferBytes != 8<<20 || f.ReadTimeout != 30*time.Second || f.IdleTimeout != 0 ||
		f.DatasetFromTag {
		t.Fatalf("defaults: %+v", f)
	}
}

func TestForwardOptions(t *testing.T) {
	env := map[string]string{
		"SHIPPER_FORWARD_SHARED_KEY":      "from-env",
		"SHIPPER_FORWARD_USERS":           "alice:pw1, bob:p:w2",
		"SHIPPER_FORWARD_MAX_CONNECTIONS": "10",
		"SHIPPER_FORWARD_IDLE_TIMEOUT":    "5m",
		"SHIPPER_FORWARD_BUFFER_BYTES":    "24MiB",
	}
	c, err := Load("test", []string{"--input=forward", "--forward-address=127.0.0.1:5170", "--forward-socket=/run/fluent.sock",
		"--forward-udp-heartbeat=false", "--forward-max-request-bytes=1MiB", "--forward-max-decompressed-bytes=8MiB",
		"--forward-read-timeout=5s", "--forward-dataset-from-tag", "--forward-hostname=edge-1", "--forward-max-connections=20"},
		func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	f := c.Forward
	if f.Address != "127.0.0.1:5170" || f.SocketPath != "/run/fluent.sock" || f.UDPHeartbeat || f.MaxRequestBytes != 1<<20 ||
		f.MaxDecompressedBytes != 8<<20 || f.ReadTimeout != 5*time.Second || !f.DatasetFromTag || f.Hostname != "edge-1" ||
		f.SharedKey != "from-env" || f.MaxConnections != 20 || f.IdleTimeout != 5*time.Minute || f.BufferBytes != 24<<20 {
		t.Fatalf("got %+v", f)
	}
	users := f.ParsedUsers()
	if len(users) != 2 || users[0] != (ForwardUser{"alice", "pw1"}) || users[1] != (ForwardUser{"bob", "p:w2"}) {
		t.Fatalf("users: %+v", users)
	}
	// Secrets never show in 'shipper check'.
	for _, l := range c.Describe() {
		if strings.Contains(l, "from-env") || strings.Contains(l, "pw1") {
			t.Errorf("Describe shows a secret: %s", l)
		}
	}
	var usage strings.Builder
	PrintUsage(&usage, "test")
	for _, name := range []string{"--forward-shared-key", "SHIPPER_FORWARD_TLS_CLIENT_CA_FILE", "--forward-dataset-from-tag", "--forward-buffer-bytes"} {
		if !strings.Contains(usage.String(), name) {
			t.Errorf("usage lacks %s", name)
		}
	}
}

func TestForwardValidate(t *testing.T) {
	dir := t.TempDir()
	cert := filepath.Join(dir, "cert.pem")
	if err := os.WriteFile(cert, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	f := func(args []string, want string) {
		t.Helper()
		_, err := Load("test", append([]string{"--input=forward"}, args...), func(string) string { return "" }, io.Discard)
		switch {
		case want == "" && err != nil:
			t.Errorf("%v: unexpected error %v", args, err)
		case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
			t.Errorf("%v: got error %v, want one containing %q", args, err, want)
		}
	}
	f(nil, "")
	f([]string{"--forward-address=", "--forward-socket=/tmp/s"}, "")
	f([]string{"--forward-address="}, "set --forward-address or --forward-socket")
	f([]string{"--forward-address=24224"}, "want host:port")
	f([]string{"--forward-address=:99999"}, "from 0 to 65535")
	f([]string{"--forward-address=:24224"}, "")
	f([]string{"--forward-tls-cert-file=" + cert}, "needs both")
	f([]string{"--forward-tls-cert-file=" + cert, "--forward-tls-key-file=" + cert}, "")
	f([]string{"--forward-tls-cert-file=" + cert, "--forward-tls-key-file=/nonexistent/key.pem"}, "--forward-tls-key-file")
	f([]string{"--forward-tls-client-ca-file=" + cert}, "needs --forward-tls-cert-file")
	f([]string{"--forward-users=alice:x"}, "needs --forward-shared-key")
	f([]string{"--forward-shared-key=k", "--forward-users=alice"}, "entry 1 of 1 is not name:password")
	f([]string{"--forward-shared-key=k", "--forward-users=alice:a,alice:b"}, "listed twice")
	f([]string{"--forward-max-connections=0"}, "at least 1")
	f([]string{"--forward-max-request-bytes=10"}, "out of range")
	f([]string{"--forward-max-decompressed-bytes=2GiB"}, "out of range")
	f([]string{"--forward-buffer-bytes=8MiB"}, "")
	f([]string{"--forward-buffer-bytes=6MiB"}, "--forward-buffer-bytes 6MiB cannot hold the largest request and its decompressed entries together: set it to at least 8MiB")
	f([]string{"--forward-max-decompressed-bytes=256MiB"}, "at least 260MiB")
	f([]string{"--forward-buffer-bytes=10MiB", "--forward-max-request-bytes=2MiB", "--forward-max-decompressed-bytes=8MiB"}, "")
	f([]string{"--forward-idle-timeout=-1s"}, "must not be negative")
	f([]string{"--forward-read-timeout=0s"}, "must be positive")
	// Forward options are not checked when the input is off.
	_, err := Load("test", []string{"--input=stdin", "--forward-address="}, func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Errorf("forward disabled: %v", err)
	}
}
