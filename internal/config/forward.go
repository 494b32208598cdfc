package config

import (
	"net"
	"os"
	"strconv"
	"strings"
	"time"
)

// Forward configures the Fluent Forward input: a server for Docker's fluentd
// log driver, Fluentd, Fluent Bit and the fluent-logger libraries.
type Forward struct {
	// Address is the TCP host:port; empty turns TCP off (SocketPath only).
	Address string
	// SocketPath also listens on a unix socket; empty: none.
	SocketPath string
	// UDPHeartbeat answers Fluentd's UDP heartbeats on Address's port.
	UDPHeartbeat bool

	// TLS: certificate and key turn it on; a client CA also requires
	// client certificates (mutual TLS).
	TLSCertFile, TLSKeyFile, TLSClientCAFile string

	// SharedKey turns on the Forward handshake; Users ("name:password",
	// needs SharedKey) adds user authentication to it.
	SharedKey string
	Users     []string
	// Insecure allows a non-loopback Address without SharedKey or TLS.
	Insecure bool
	// Hostname is the server name sent in the handshake; empty: the host
	// name (--host-name).
	Hostname string

	MaxConnections       int
	MaxRequestBytes      ByteSize
	MaxDecompressedBytes ByteSize
	// BufferBytes caps the large buffers of all connections together
	// (requests over 64KiB being read, decompressed entries, long lines
	// being joined); it must hold one largest request and its decompressed
	// entries. It is taken out of Config.BufferBytes (see PipelineBytes).
	BufferBytes ByteSize
	// IdleTimeout closes connections silent for that long; 0 never does.
	IdleTimeout time.Duration
	// ReadTimeout bounds receiving one request and the handshakes.
	ReadTimeout time.Duration

	// DatasetFromTag writes each record to logs-<tag>-<namespace>.
	DatasetFromTag bool
}

func defaultForward() Forward {
	return Forward{
		Address:              "127.0.0.1:24224",
		UDPHeartbeat:         true,
		MaxConnections:       1024,
		MaxRequestBytes:      4 << 20,
		MaxDecompressedBytes: 4 << 20,
		BufferBytes:          8 << 20, // taken out of --buffer-bytes, see Config.PipelineBytes
		ReadTimeout:          30 * time.Second,
	}
}

// secretValue is a string option whose value is never printed ('shipper
// check', --help).
type secretValue struct{ p *string }

func (v secretValue) String() string {
	if v.p == nil || *v.p == "" {
		return ""
	}
	return "(set)"
}
func (v secretValue) Set(s string) error { *v.p = s; return nil }

// secretList is a comma-separated list of secrets.
type secretList struct{ p *[]string }

func (v secretList) String() string {
	if v.p == nil || len(*v.p) == 0 {
		return ""
	}
	return "(set)"
}
func (v secretList) Set(s string) error { return (*stringList)(v.p).Set(s) }

func (f *Forward) options() []option {
	return []option{
		{"forward-address", []string{"SHIPPER_FORWARD_ADDRESS"}, "Fluent Forward input: TCP host:port to listen on (empty: no TCP)", stringValue{&f.Address}},
		{"forward-socket", []string{"SHIPPER_FORWARD_SOCKET"}, "Fluent Forward input: also listen on this unix socket path", stringValue{&f.SocketPath}},
		{"forward-udp-heartbeat", []string{"SHIPPER_FORWARD_UDP_HEARTBEAT"}, "Fluent Forward input: answer UDP heartbeats on the TCP port", boolValue{&f.UDPHeartbeat}},
		{"forward-tls-cert-file", []string{"SHIPPER_FORWARD_TLS_CERT_FILE"}, "Fluent Forward input: PEM certificate (chain); with --forward-tls-key-file turns TLS on", stringValue{&f.TLSCertFile}},
		{"forward-tls-key-file", []string{"SHIPPER_FORWARD_TLS_KEY_FILE"}, "Fluent Forward input: PEM private key of the certificate", stringValue{&f.TLSKeyFile}},
		{"forward-tls-client-ca-file", []string{"SHIPPER_FORWARD_TLS_CLIENT_CA_FILE"}, "Fluent Forward input: PEM CA; clients must present a certificate it signed (mutual TLS)", stringValue{&f.TLSClientCAFile}},
		{"forward-shared-key", []string{"SHIPPER_FORWARD_SHARED_KEY"}, "Fluent Forward input: shared key clients must prove in the handshake (prefer the environment variable)", secretValue{&f.SharedKey}},
		{"forward-users", []string{"SHIPPER_FORWARD_USERS"}, "Fluent Forward input: name:password pairs, comma-separated, checked in the handshake (needs a shared key; prefer the environment variable)", secretList{&f.Users}},
		{"forward-hostname", []string{"SHIPPER_FORWARD_HOSTNAME"}, "Fluent Forward input: server host name sent in the handshake (default: --host-name)", stringValue{&f.Hostname}},
		{"forward-max-connections", []string{"SHIPPER_FORWARD_MAX_CONNECTIONS"}, "Fluent Forward input: connections open at once; more are closed at once", intValue{&f.MaxConnections}},
		{"forward-max-request-bytes", []string{"SHIPPER_FORWARD_MAX_REQUEST_BYTES"}, "Fluent Forward input: largest request; a larger one closes its connection", &f.MaxRequestBytes},
		{"forward-max-decompressed-bytes", []string{"SHIPPER_FORWARD_MAX_DECOMPRESSED_BYTES"}, "Fluent Forward input: largest decompressed gzip request; a larger one closes its connection", &f.MaxDecompressedBytes},
		{"forward-buffer-bytes", []string{"SHIPPER_FORWARD_BUFFER_BYTES"}, "Fluent Forward input: memory budget of all connections' large buffers (requests over 64KiB being read, decompressed entries, long lines being joined); taken out of --buffer-bytes; a connection that needs more waits and stops reading. At least --forward-max-request-bytes plus --forward-max-decompressed-bytes", &f.BufferBytes},
		{"forward-insecure", []string{"SHIPPER_FORWARD_INSECURE"}, "Fluent Forward input: allow a non-loopback --forward-address with neither a shared key nor TLS (anyone who can reach it can write logs)", boolValue{&f.Insecure}},
		{"forward-idle-timeout", []string{"SHIPPER_FORWARD_IDLE_TIMEOUT"}, "Fluent Forward input: close connections silent for this long; 0 keeps them (clients without acks lose a record when they find their connection closed)", durationValue{&f.IdleTimeout}},
		{"forward-read-timeout", []string{"SHIPPER_FORWARD_READ_TIMEOUT"}, "Fluent Forward input: time to receive a whole request (and to complete the handshakes, to write acks)", durationValue{&f.ReadTimeout}},
		{"forward-dataset-from-tag", []string{"SHIPPER_FORWARD_DATASET_FROM_TAG"}, "Fluent Forward input: write records to logs-<tag>-<namespace> (tag lower-cased, forbidden characters replaced by '_') instead of --dataset", boolValue{&f.DatasetFromTag}},
	}
}

func (f *Forward) validate(bad func(format string, a ...any)) {
	if f.Address == "" && f.SocketPath == "" {
		bad("forward input: set --forward-address or --forward-socket (both are empty)")
	}
	if f.Address != "" {
		host, port, err := net.SplitHostPort(f.Address)
		if err != nil {
			bad("--forward-address %q: want host:port, e.g. 0.0.0.0:24224 or 127.0.0.1:24224", f.Address)
		} else if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
			bad("--forward-address %q: port %q is not a number from 0 to 65535", f.Address, port)
		} else if strings.ContainsAny(host, " /") {
			bad("--forward-address %q: host %q is not a host name or IP address", f.Address, host)
		}
	}
	if (f.TLSCertFile == "") != (f.TLSKeyFile == "") {
		bad("forward input: TLS needs both --forward-tls-cert-file and --forward-tls-key-file")
	}
	if f.TLSClientCAFile != "" && f.TLSCertFile == "" {
		bad("--forward-tls-client-ca-file needs --forward-tls-cert-file and --forward-tls-key-file")
	}
	for _, p := range []struct{ flag, path string }{
		{"--forward-tls-cert-file", f.TLSCertFile}, {"--forward-tls-key-file", f.TLSKeyFile}, {"--forward-tls-client-ca-file", f.TLSClientCAFile},
	} {
		if p.path == "" {
			continue
		}
		if _, err := os.Stat(p.path); err != nil {
			bad("%s: %v", p.flag, err)
		}
	}
	if len(f.Users) > 0 && f.SharedKey == "" {
		bad("--forward-users needs --forward-shared-key: user authentication is part of the shared-key handshake")
	}
	seen := map[string]bool{}
	for i, u := range f.Users {
		name, _, ok := strings.Cut(u, ":")
		switch {
		case !ok || name == "":
			bad("--forward-users: entry %d of %d is not name:password", i+1, len(f.Users))
		case seen[name]:
			bad("--forward-users: user %q is listed twice", name)
		}
		seen[name] = true
	}
	if f.MaxConnections < 1 {
		bad("--forward-max-connections %d must be at least 1", f.MaxConnections)
	}
	if f.MaxRequestBytes < 1<<10 || f.MaxRequestBytes > 1<<30 {
		bad("--forward-max-request-bytes %s is out of range 1KiB..1GiB", f.MaxRequestBytes)
	}
	if f.MaxDecompressedBytes < 1<<10 || f.MaxDecompressedBytes > 1<<30 {
		bad("--forward-max-decompressed-bytes %s is out of range 1KiB..1GiB", f.MaxDecompressedBytes)
	}
	if need := f.MaxRequestBytes + f.MaxDecompressedBytes; f.BufferBytes < need {
		bad("--forward-buffer-bytes %s cannot hold the largest request and its decompressed entries together: set it to at least %s (--forward-max-request-bytes %s plus --forward-max-decompressed-bytes %s), or lower those",
			f.BufferBytes, need, f.MaxRequestBytes, f.MaxDecompressedBytes)
	}
	if f.IdleTimeout < 0 {
		bad("--forward-idle-timeout must not be negative (0 keeps idle connections)")
	}
	if f.ReadTimeout <= 0 {
		bad("--forward-read-timeout must be positive")
	}
}

// ForwardUser is one name and password of --forward-users.
type ForwardUser struct{ Name, Password string }

// ParsedUsers returns Users split into names and passwords (Validate has
// checked their form).
func (f *Forward) ParsedUsers() []ForwardUser {
	out := make([]ForwardUser, 0, len(f.Users))
	for _, u := range f.Users {
		name, pw, _ := strings.Cut(u, ":")
		out = append(out, ForwardUser{Name: name, Password: pw})
	}
	return out
}
