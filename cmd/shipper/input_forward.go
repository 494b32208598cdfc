package main

import (
	"context"
	"fmt"
	"net"
	"strings"

	"github.com/rs/zerolog"

	"shipper/internal/config"
	"shipper/internal/source/forward"
	"shipper/internal/status"
)

func describeForward(cfg *config.Config) string {
	f := &cfg.Forward
	var where []string
	if f.Address != "" {
		where = append(where, "TCP "+f.Address)
		if f.UDPHeartbeat {
			where = append(where, "UDP heartbeats on the same port")
		}
	}
	if f.SocketPath != "" {
		where = append(where, "unix socket "+f.SocketPath)
	}
	var sec []string
	if f.TLSCertFile != "" {
		if f.TLSClientCAFile != "" {
			sec = append(sec, "mutual TLS")
		} else {
			sec = append(sec, "TLS")
		}
	}
	if f.SharedKey != "" {
		if len(f.Users) > 0 {
			sec = append(sec, fmt.Sprintf("shared key and %d users", len(f.Users)))
		} else {
			sec = append(sec, "shared key")
		}
	}
	if len(sec) == 0 {
		sec = append(sec, "no authentication")
	}
	target := "the configured dataset"
	if f.DatasetFromTag {
		target = "logs-<tag>-" + cfg.Namespace
	}
	return fmt.Sprintf("Fluent Forward requests on %s (%s), up to %d connections, requests up to %s (%s decompressed), %s of large buffers in all, into %s; acks once delivered",
		strings.Join(where, ", "), strings.Join(sec, ", "), f.MaxConnections, f.MaxRequestBytes, f.MaxDecompressedBytes, f.BufferBytes, target)
}

// checkForward reports a Forward TCP address that cannot be listened on
// (another shipper or fluentd on the port, a privileged port).
func checkForward(cfg *config.Config) error {
	addr := cfg.Forward.Address
	if addr == "" {
		return nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("cannot listen on %s (--forward-address): %w: is another shipper or fluentd using the port?", addr, err)
	}
	return ln.Close()
}

type forwardInput struct {
	srv       *forward.Server
	bufferMax int64
}

func newForwardInput(env *inputEnv) (input, error) {
	f := &env.cfg.Forward
	var users []forward.User
	for _, u := range f.ParsedUsers() {
		users = append(users, forward.User{Name: u.Name, Password: u.Password})
	}
	host := f.Hostname
	if host == "" {
		host = env.cfg.HostName
	}
	srv, err := forward.NewServer(forward.ServerConfig{
		Address: f.Address, SocketPath: f.SocketPath, UDPHeartbeat: f.UDPHeartbeat,
		TLSCertFile: f.TLSCertFile, TLSKeyFile: f.TLSKeyFile, TLSClientCAFile: f.TLSClientCAFile,
		SharedKey: f.SharedKey, Users: users, Insecure: f.Insecure, Hostname: host,
		MaxConnections: f.MaxConnections,
		Limits: forward.Limits{
			MaxRequestBytes: int(f.MaxRequestBytes), MaxDecompressedBytes: int(f.MaxDecompressedBytes),
		},
		BufferBytes: int(f.BufferBytes),
		IdleTimeout: f.IdleTimeout, ReadTimeout: f.ReadTimeout,
		MaxLineBytes: int(env.cfg.MaxLineBytes),
		Dataset:      env.cfg.Dataset, Namespace: env.cfg.Namespace, DatasetFromTag: f.DatasetFromTag, Streams: env.streams,
		Static: env.static, RunID: env.runID, Stage: env.stage(config.InputForward),
	}, env.pipe, env.log)
	if err != nil {
		return nil, err
	}
	return &forwardInput{srv: srv, bufferMax: int64(f.BufferBytes)}, nil
}

func (in *forwardInput) Run(ctx, queueCtx context.Context) error { return in.srv.Run(ctx, queueCtx) }

func (in *forwardInput) Drain(ctx context.Context) error { return in.srv.Drain(ctx) }

func (in *forwardInput) Records() uint64 { return in.srv.Stats().Records }

func (in *forwardInput) Metrics(w *status.Writer) {
	st := in.srv.Stats()
	var closed uint64
	for _, n := range st.Closed {
		closed += n
	}
	w.Counter("shipper_forward_connections_total", "Forward connections accepted.", st.Connections)
	w.Counter("shipper_forward_connections_refused_total", "Forward connections refused (--forward-max-connections).", st.Refused)
	w.Counter("shipper_forward_connections_closed_total", "Forward connections the shipper closed because of a problem (malformed stream, limit, timeout, handshake).", closed)
	w.Counter("shipper_forward_connections_evicted_total", "Idle Forward connections closed to make room for new ones at --forward-max-connections (included in closed).", st.Closed[forward.ReasonEvicted])
	w.Counter("shipper_forward_ack_waits_total", "Times a Forward connection stopped being read because its client left 64 KiB of acks unread.", st.AckWaits)
	w.Counter("shipper_forward_requests_total", "Forward requests decoded.", st.Requests)
	w.Counter("shipper_forward_records_total", "Records received.", st.Records)
	w.Counter("shipper_forward_acks_total", "Acks sent after delivery.", st.Acks)
	w.Counter("shipper_forward_invalid_entries_total", "Entries that were not valid records.", st.Invalid)
	w.Counter("shipper_forward_blank_total", "Empty or whitespace-only log lines (counted, not shipped).", st.Blank)
	w.Counter("shipper_forward_changed_total", "Records whose document names a change in log.flags other than invalid UTF-8 or truncation.", st.Changed)
	w.Counter("shipper_forward_dropped_total", "Records discarded under --buffer-full-policy=drop_newest.", st.Dropped)
	w.Gauge("shipper_forward_buffer_used_bytes", "Forward buffer budget held by large requests being read, decompressed entries and long lines being joined (--forward-buffer-bytes).", float64(st.BufferBytes))
	w.Gauge("shipper_forward_buffer_max_bytes", "Forward buffer budget (--forward-buffer-bytes).", float64(in.bufferMax))
	w.Gauge("shipper_forward_buffer_waiting_connections", "Forward connections waiting for buffer budget (not reading meanwhile).", float64(st.BufferWaiting))
	w.Counter("shipper_forward_buffer_waits_total", "Times a Forward connection waited for buffer budget.", st.BufferWaits)
}

// Fate says what becomes of undelivered records.
func (in *forwardInput) Fate() string {
	return "Fluent Forward clients got no ack for undelivered records and send them again if they wait for acks"
}

func (in *forwardInput) Summary(e *zerolog.Event) {
	st := in.srv.Stats()
	closed := zerolog.Dict()
	for r, n := range st.Closed {
		if n > 0 {
			closed.Uint64(forward.CloseReason(r).String(), n)
		}
	}
	e.Dict("forward", zerolog.Dict().
		Uint64("connections", st.Connections).Uint64("refused", st.Refused).Dict("closed", closed).
		Uint64("requests", st.Requests).Uint64("records", st.Records).Uint64("acks", st.Acks).
		Uint64("invalid_entries", st.Invalid).Uint64("bad_time", st.BadTime).Uint64("unsupported", st.Unsupported).
		Uint64("dropped", st.Dropped).Uint64("joined", st.Joined).Uint64("incomplete", st.Incomplete).
		Uint64("json", st.JSON).Uint64("malformed_json", st.Malformed).Uint64("invalid_utf8", st.InvalidUTF8).
		Uint64("truncated", st.Truncated).Uint64("blank", st.Blank).Uint64("changed", st.Changed).
		Uint64("heartbeats", st.Heartbeats).
		Int64("buffer_peak_bytes", st.BufferPeak).Uint64("buffer_waits", st.BufferWaits))
}
