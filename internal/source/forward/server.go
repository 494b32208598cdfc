package forward

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/rs/zerolog"

	"shipper/internal/backoff"
	"shipper/internal/datastream"
	"shipper/internal/encode"
	"shipper/internal/lograte"
	"shipper/internal/parse"
	"shipper/internal/pipeline"
)

// DefaultAddress is where the server listens unless configured otherwise:
// Fluentd's port on the loopback interface, which is what Docker's fluentd
// driver dials by default (tcp://127.0.0.1:24224) and what a sidecar's
// application reaches over its pod's loopback. Other addresses need a shared
// key or TLS, or ServerConfig.Insecure.
const DefaultAddress = "127.0.0.1:24224"

// Server defaults, used for zero fields of ServerConfig.
const (
	DefaultMaxConnections = 1024
	DefaultReadTimeout    = 30 * time.Second
	// DefaultPartialTimeout is how long a Docker line split into partial
	// messages waits for its next piece before it is shipped incomplete.
	DefaultPartialTimeout = 5 * time.Second
)

// MaxConnectionBytes bounds the memory one connection holds outside the
// buffer budget (ServerConfig.BufferBytes): its small and pooled read
// buffers, the decompression buffer a Decoder keeps, the lines being joined
// up to the Joiner's allowance, the decoded entry list of one batch
// (maxEntryBatch entries), its pending acks and the buffer they are written
// from (maxAckBytes each), and about 32 KiB of goroutine stacks, TLS state
// and bookkeeping. The Forward input's memory is at most
// MaxConnections × MaxConnectionBytes + BufferBytes, plus the pipeline's
// MaxBytes that its batches take.
const MaxConnectionBytes = smallBufSize + pooledBufSize + keepZBytes + joinFreeBytes +
	maxEntryBatch*int64(unsafe.Sizeof(Entry{})) + 2*maxAckBytes + maxChunkBytes + 32<<10

// User is one user name and password of the shared-key handshake.
type User struct {
	Name, Password string
}

// ServerConfig configures a Server. Zero fields take the defaults.
type ServerConfig struct {
	// Address is the TCP host:port to listen on ("" for none). Port 0 picks
	// a free port (see Server.Addr).
	Address string
	// SocketPath, when set, also listens on this unix socket. A stale
	// socket file left by a previous run is removed.
	SocketPath string
	// UDPHeartbeat answers Fluentd's UDP heartbeats on Address's port.
	UDPHeartbeat bool

	// TLSCertFile and TLSKeyFile (PEM) turn on TLS for every connection
	// (TCP and unix). TLSClientCAFile additionally requires and verifies
	// client certificates signed by that CA (mutual TLS).
	TLSCertFile, TLSKeyFile, TLSClientCAFile string

	// SharedKey turns on the handshake of the Forward protocol v1: HELO, PING,
	// PONG. Users, when set, are checked too (user authentication).
	SharedKey string
	Users     []User
	// Insecure allows a TCP address other than loopback without a shared
	// key and without TLS: anyone who can reach it may then write logs
	// (--forward-insecure). Without it NewServer refuses such an address.
	Insecure bool
	// Hostname is sent in PONG (default: os.Hostname). Fluentd clients
	// refuse a PONG carrying their own host name.
	Hostname string

	// MaxConnections caps the connections open at once; more are closed
	// as soon as they are accepted.
	MaxConnections int
	// Limits bound one request (size, decompressed size, entries).
	Limits Limits
	// BufferBytes caps the memory the connections hold together in large
	// buffers: the read buffer of a request larger than 64 KiB, decompressed
	// entries beyond 64 KiB, long lines being joined. A connection that
	// needs more than is free stops reading until another gives some back
	// (see bufferBudget). It must hold a request of Limits.MaxRequestBytes
	// and its Limits.MaxDecompressedBytes of entries together. Default: the
	// larger of DefaultBufferBytes and that sum.
	BufferBytes int
	// IdleTimeout closes a connection that sent nothing for that long; 0
	// keeps idle connections open (the default: clients such as
	// fluent-logger-golang notice a closed connection only when a write
	// fails, which loses that record unless it asked for an ack).
	IdleTimeout time.Duration
	// ReadTimeout bounds the time from the first byte of a request (or the
	// start of a connection's TLS and shared-key handshakes) to its last
	// byte, and every write of acks or handshake messages. Default 30s;
	// negative disables it.
	ReadTimeout time.Duration
	// PartialTimeout bounds the wait for the next piece of a Docker line
	// split into partial messages (default DefaultPartialTimeout).
	PartialTimeout time.Duration

	// MaxLineBytes caps one record's log line (Docker "log", joined
	// partial messages, or a whole record rendered as JSON); longer ones
	// are truncated and flagged. Default DefaultMaxLineBytes.
	MaxLineBytes int
	// Dataset and Namespace name the default data stream
	// logs-<Dataset>-<Namespace>.
	Dataset, Namespace string
	// DatasetFromTag sends each record to logs-<tag>-<Namespace>, the tag
	// lower-cased and with characters data stream names forbid replaced by
	// '_'. A record's own data_stream.dataset still wins.
	DatasetFromTag bool
	// Streams limits the datasets records may choose (nil: any).
	Streams *encode.Streams
	// Stage processes each document before it is queued (the
	// processing stage); nil: none. Used by this source only.
	Stage encode.Stage
	// Static holds pre-encoded JSON members added to every document
	// (agent, host); input.type is added here.
	Static []byte
	// RunID makes the document ids of records without a chunk unique to
	// this process start.
	RunID uint64
}

// ServerStats are cumulative counters (Active, BufferBytes, BufferPeak and
// BufferWaiting are gauges).
type ServerStats struct {
	Connections uint64 // connections accepted and served
	Active      int64  // connections open now
	Refused     uint64 // connections closed at once: MaxConnections reached
	// BufferBytes is the buffer budget in use now, BufferPeak the most it
	// ever was (never more than ServerConfig.BufferBytes). BufferWaits
	// counts the times a connection waited for it, BufferWaiting the
	// connections waiting now.
	BufferBytes, BufferPeak int64
	BufferWaits             uint64
	BufferWaiting           int
	// Closed counts connections closed because of a problem, by reason
	// (see CloseReason).
	Closed   [numReasons]uint64
	Requests uint64 // requests with entries or a chunk
	Records  uint64 // documents queued
	Acks     uint64 // acks written
	// AckWaits counts the times a connection stopped reading because its
	// client left maxAckBytes of acks unread.
	AckWaits   uint64
	Heartbeats uint64 // UDP heartbeats answered
	// Invalid counts entries that were not [time, record] or whose record
	// was not a map; BadTime entries whose time could not be read (they
	// got the time of arrival).
	Invalid, BadTime uint64
	// Unsupported counts requests skipped as unsupported (fluent_signal
	// other than logs, unknown compression).
	Unsupported uint64
	// Dropped counts records discarded because the pipeline was full under
	// the drop_newest policy (their request is not acknowledged).
	Dropped uint64
	// Joined counts lines made of several Docker partial messages;
	// Incomplete those shipped without their last piece.
	Joined, Incomplete uint64
	// Document flags, as parse reports them.
	JSON, Malformed, InvalidUTF8, Truncated uint64
	// Blank log lines are counted, not shipped; Changed documents had
	// members renamed or merged, see parse.Counts.
	Blank, Changed uint64
}

// CloseReason says why a connection was closed by the server.
type CloseReason uint8

const (
	ReasonMalformed   CloseReason = iota // bytes that are not a Forward request
	ReasonLimit                          // request over a size limit (gzip bomb...)
	ReasonHandshake                      // wrong shared key or password, bad PING
	ReasonTLS                            // TLS handshake failed
	ReasonReadTimeout                    // a request or handshake took longer than ReadTimeout
	ReasonIdle                           // IdleTimeout passed with nothing read
	ReasonTruncated                      // the client closed in the middle of a request
	ReasonAckWrite                       // writing an ack failed (the client stopped reading)
	ReasonReadError                      // the socket failed (reset...)
	ReasonEvicted                        // idle, closed to make room for a new connection
	numReasons
)

var reasonNames = [numReasons]string{"malformed", "over_limit", "handshake", "tls", "read_timeout", "idle_timeout",
	"truncated", "ack_write", "read_error", "evicted"}

func (r CloseReason) String() string {
	if r < numReasons {
		return reasonNames[r]
	}
	return "unknown"
}

// Server is the Fluent Forward input: it accepts connections, decodes their
// requests, encodes every record straight into the pipeline's batches and
// acknowledges a request carrying a chunk once all of its records are
// delivered.
//
// One goroutine serves each connection (plus one that writes its acks, for
// clients that ask for acks). All connections share one pipeline producer;
// the encoder, parser and scratch buffers are shared too and used only
// between Producer.Begin and End, whose mutex serialises them.
//
// Lifecycle: NewServer binds the listeners; Run serves until its context is
// cancelled; Drain waits for the acknowledgements of what was read and closes
// the connections. Close releases everything at once.
//
// # Memory
//
// A connection holds 4 KiB, a pooled 64 KiB read buffer while a request
// does not fit those, and up to 64 KiB each of decompressed entries and of
// lines being joined, plus the entry list of the request being handled.
// Anything larger (the read buffer of a request over 64 KiB, decompressed
// entries beyond 64 KiB, long lines being joined) is lent by one budget of
// ServerConfig.BufferBytes for all connections: a connection that needs more
// than is free stops reading its socket until another gives some back, and
// never holds some while it waits for more (see bufferBudget).
//
// # Documents
//
// Every document carries "fluent.tag" and "input.type":"forward". A Docker
// record (one with a str "log") becomes the document of its log line, parsed
// exactly as a stdin line (its own time, level and message win; a trailing
// '\r' is dropped), plus "container.id", "container.name" (without the
// leading '/'), "stream" (Docker's source) and the other members (the
// driver's labels and env attributes) as "labels.<key>". Docker's partial
// messages are joined first. Any other record is rendered as one JSON object
// and parsed the same way; so is the record of a JSON connection. The entry's
// time is @timestamp when the line has none. Fluent Bit's per-entry metadata
// is not kept.
//
// # Acknowledgements and ids
//
// A request with a chunk gets {"ack": chunk} once every record of it is
// delivered: its mark rides on the last batch holding its records, and
// batches are acknowledged in order. Acks of one connection are written in
// request order. A request whose records are all held for joining (Docker
// partial messages, which Docker sends one at a time, waiting for each ack)
// or skipped is acknowledged at once; the request completing a line is
// acknowledged with it. The records of a chunked request get ids made from
// the tag, the chunk and their index: a request sent again after a lost ack
// creates nothing new (409). Other records get ids from RunID and a sequence.
type Server struct {
	cfg    ServerConfig
	log    zerolog.Logger
	warn   lograte.Logger // per-connection problems: 20 lines every 10s at most
	pr     *pipeline.Producer
	tlsCfg *tls.Config
	users  map[string]string

	tcp, unix net.Listener
	udp       net.PacketConn

	budget *bufferBudget // the connections' large buffers

	index string // the default data stream

	// Guarded by the producer's mutex (used only between Begin and End).
	enc     *encode.Encoder
	seq     uint64 // ids of records without a chunk: (RunID, seq)
	order   uint64 // event.sequence of the last document
	scratch []byte // a record rendered as JSON
	fields  []byte // Line.Fields of the record being encoded
	// ingested is the read time last given to enc's parser (Unix ns).
	ingested int64

	connsMu sync.RWMutex
	conns   map[uint32]*conn
	nextID  uint32

	// Sealing early for clients waiting for acks, see requestFlush.
	flushWanted atomic.Bool
	kick        chan struct{}

	readers sync.WaitGroup // connection readers and accept loops
	serving sync.WaitGroup // connection goroutines, until closed
	closeMu sync.Mutex
	closed  bool

	active                                   atomic.Int64
	connections, refused, requests, records  atomic.Uint64
	acks, heartbeats, invalid, badTime       atomic.Uint64
	ackWaits, evicted                        atomic.Uint64
	unsupported, dropped, joined, incomplete atomic.Uint64
	json, malformed, invalidUTF8, truncated  atomic.Uint64
	blank, changed                           atomic.Uint64
	closedBy                                 [numReasons]atomic.Uint64
}

// NewServer checks cfg, loads the TLS files and binds the listeners; pipe
// receives the records through a producer of the server's own. On success
// the caller must call Run and then Drain, or Close.
func NewServer(cfg ServerConfig, pipe *pipeline.Pipeline, log zerolog.Logger) (*Server, error) {
	if cfg.Address == "" && cfg.SocketPath == "" {
		return nil, errors.New("forward input: neither a TCP address nor a unix socket path to listen on")
	}
	if cfg.MaxConnections <= 0 {
		cfg.MaxConnections = DefaultMaxConnections
	}
	if cfg.ReadTimeout == 0 {
		cfg.ReadTimeout = DefaultReadTimeout
	}
	if cfg.PartialTimeout <= 0 {
		cfg.PartialTimeout = DefaultPartialTimeout
	}
	if cfg.MaxLineBytes <= 0 {
		cfg.MaxLineBytes = DefaultMaxLineBytes
	}
	if cfg.Hostname == "" {
		cfg.Hostname, _ = os.Hostname()
	}
	cfg.Limits = cfg.Limits.withDefaults()
	need := cfg.Limits.MaxRequestBytes + cfg.Limits.MaxDecompressedBytes
	if cfg.BufferBytes <= 0 {
		cfg.BufferBytes = max(DefaultBufferBytes, need)
	}
	if cfg.BufferBytes < need {
		return nil, fmt.Errorf("forward input: buffer budget of %d bytes cannot hold the largest request (%d bytes) and its decompressed entries (%d bytes) together: raise --forward-buffer-bytes to at least %d or lower --forward-max-request-bytes or --forward-max-decompressed-bytes",
			cfg.BufferBytes, cfg.Limits.MaxRequestBytes, cfg.Limits.MaxDecompressedBytes, need)
	}
	index, err := datastream.IndexName(cfg.Dataset, cfg.Namespace)
	if err != nil {
		return nil, err
	}
	if len(cfg.Users) > 0 && cfg.SharedKey == "" {
		return nil, errors.New("forward input: users need a shared key (user authentication is part of the shared-key handshake)")
	}
	if open := cfg.Address != "" && !isLoopback(cfg.Address) && cfg.SharedKey == "" && cfg.TLSCertFile == ""; open && !cfg.Insecure {
		return nil, fmt.Errorf("forward input: refusing to listen on %s, which is not a loopback address, with neither a shared key nor TLS: anyone who can reach it could write into Elasticsearch. Set --forward-shared-key and/or --forward-tls-cert-file and --forward-tls-key-file, listen on 127.0.0.1 or a unix socket (--forward-socket), or accept the risk with --forward-insecure (for example behind a port published on the host's loopback only)", cfg.Address)
	}
	s := &Server{
		cfg:   cfg,
		log:   log,
		warn:  lograte.NewLogger(log, 10*time.Second, 20),
		conns: make(map[uint32]*conn),
		kick:  make(chan struct{}, 1),
		// Compressed requests' reads keep room for one request's
		// decompressed entries free (see bufferBudget).
		budget: newBufferBudget(int64(cfg.BufferBytes), int64(cfg.Limits.MaxDecompressedBytes)),
	}
	if len(cfg.Users) > 0 {
		s.users = make(map[string]string, len(cfg.Users))
		for _, u := range cfg.Users {
			s.users[u.Name] = u.Password
		}
	}
	if s.tlsCfg, err = loadTLS(&cfg); err != nil {
		return nil, err
	}
	static := []byte(`"input.type":"forward"`)
	if len(cfg.Static) > 0 {
		static = append(append(static, ','), cfg.Static...)
	}
	s.index = index
	s.enc = encode.New(parse.New(static), index, cfg.Namespace)
	s.enc.Streams = cfg.Streams
	s.enc.Stage = cfg.Stage
	if err := s.listen(); err != nil {
		s.closeListeners()
		return nil, err
	}
	s.pr = pipe.NewProducer(s.onAck)
	s.warnIfOpen()
	return s, nil
}

func loadTLS(cfg *ServerConfig) (*tls.Config, error) {
	if cfg.TLSCertFile == "" && cfg.TLSKeyFile == "" {
		if cfg.TLSClientCAFile != "" {
			return nil, errors.New("forward input: a TLS client CA needs a server certificate and key")
		}
		return nil, nil
	}
	cert, err := tls.LoadX509KeyPair(cfg.TLSCertFile, cfg.TLSKeyFile)
	if err != nil {
		return nil, fmt.Errorf("forward input: cannot load TLS certificate %q and key %q: %w", cfg.TLSCertFile, cfg.TLSKeyFile, err)
	}
	t := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if cfg.TLSClientCAFile != "" {
		pem, err := os.ReadFile(cfg.TLSClientCAFile)
		if err != nil {
			return nil, fmt.Errorf("forward input: cannot read TLS client CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("forward input: TLS client CA file %q holds no PEM certificate", cfg.TLSClientCAFile)
		}
		t.ClientCAs = pool
		t.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return t, nil
}

func (s *Server) listen() error {
	if s.cfg.Address != "" {
		ln, err := net.Listen("tcp", s.cfg.Address)
		if err != nil {
			return fmt.Errorf("forward input: cannot listen on %s: %w", s.cfg.Address, err)
		}
		s.tcp = ln
		if s.cfg.UDPHeartbeat {
			// The same port as TCP, which matters when Address asked for
			// port 0.
			host, _, _ := net.SplitHostPort(s.cfg.Address)
			port := ln.Addr().(*net.TCPAddr).Port
			addr := net.JoinHostPort(host, strconv.Itoa(port))
			pc, err := net.ListenPacket("udp", addr)
			if err != nil {
				return fmt.Errorf("forward input: cannot listen for UDP heartbeats on %s (turn them off with --forward-udp-heartbeat=false): %w", addr, err)
			}
			s.udp = pc
		}
	}
	if p := s.cfg.SocketPath; p != "" {
		if fi, err := os.Lstat(p); err == nil && fi.Mode()&os.ModeSocket != 0 {
			// Left by a process that did not stop cleanly; a live server
			// would still be bound to it, which we cannot tell apart
			// cheaply, as Fluentd does not either.
			_ = os.Remove(p)
		}
		ln, err := net.Listen("unix", p)
		if err != nil {
			return fmt.Errorf("forward input: cannot listen on unix socket %s: %w", p, err)
		}
		s.unix = ln
	}
	return nil
}

// isLoopback reports whether address (host:port) is on the loopback
// interface only: "localhost" or a loopback IP. An empty host means every
// interface.
func isLoopback(address string) bool {
	host, _, _ := net.SplitHostPort(address)
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// warnIfOpen logs when anyone who can reach the TCP port may write logs
// (allowed by ServerConfig.Insecure).
func (s *Server) warnIfOpen() {
	if s.tcp == nil || s.cfg.SharedKey != "" || s.tlsCfg != nil || isLoopback(s.cfg.Address) {
		return
	}
	s.log.Warn().Str("address", s.tcp.Addr().String()).
		Msg("Fluent Forward input listens on a non-loopback address with neither a shared key nor TLS: anyone who can reach this port can write into Elasticsearch; set --forward-shared-key and/or --forward-tls-cert-file/--forward-tls-key-file, or listen on 127.0.0.1 or a unix socket")
}

// Addr returns the TCP listener's address, or nil without one.
func (s *Server) Addr() net.Addr {
	if s.tcp == nil {
		return nil
	}
	return s.tcp.Addr()
}

// UDPAddr returns the heartbeat listener's address, or nil without one.
func (s *Server) UDPAddr() net.Addr {
	if s.udp == nil {
		return nil
	}
	return s.udp.LocalAddr()
}

// Stats returns a snapshot of the counters.
func (s *Server) Stats() ServerStats {
	st := ServerStats{
		Connections: s.connections.Load(), Active: s.active.Load(), Refused: s.refused.Load(),
		Requests: s.requests.Load(), Records: s.records.Load(), Acks: s.acks.Load(), AckWaits: s.ackWaits.Load(), Heartbeats: s.heartbeats.Load(),
		Invalid: s.invalid.Load(), BadTime: s.badTime.Load(), Unsupported: s.unsupported.Load(), Dropped: s.dropped.Load(),
		Joined: s.joined.Load(), Incomplete: s.incomplete.Load(),
		JSON: s.json.Load(), Malformed: s.malformed.Load(), InvalidUTF8: s.invalidUTF8.Load(), Truncated: s.truncated.Load(),
		Blank: s.blank.Load(), Changed: s.changed.Load(),
	}
	for i := range st.Closed {
		st.Closed[i] = s.closedBy[i].Load()
	}
	b := s.budget.stats()
	st.BufferBytes, st.BufferPeak, st.BufferWaits, st.BufferWaiting = b.used, b.peak, b.waits, b.waiting
	return st
}

// Run accepts and serves connections until ctx is cancelled or a listener
// fails. Then it stops accepting and reading; requests already read are still
// encoded and queued, waiting for pipeline budget until queueCtx is done.
// Connections stay open after Run returns, so that the acks of what was read
// can be sent: call Drain. Run returns ctx.Err() when cancelled.
func (s *Server) Run(ctx, queueCtx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 3)
	for _, ln := range []net.Listener{s.tcp, s.unix} {
		if ln == nil {
			continue
		}
		s.readers.Add(1)
		go func() {
			defer s.readers.Done()
			if err := s.accept(ctx, queueCtx, ln); err != nil {
				errc <- err
				cancel()
			}
		}()
	}
	s.readers.Add(1)
	go func() {
		defer s.readers.Done()
		s.flusher(ctx)
	}()
	if s.udp != nil {
		s.readers.Add(1)
		go func() {
			defer s.readers.Done()
			s.heartbeat(ctx)
		}()
	}
	s.log.Info().Any("tcp", s.Addr()).Str("unix", s.cfg.SocketPath).Bool("tls", s.tlsCfg != nil).
		Bool("shared_key", s.cfg.SharedKey != "").Msg("Fluent Forward input listening")
	<-ctx.Done()
	s.closeListeners()
	s.readers.Wait()
	select {
	case err := <-errc:
		return err
	default:
	}
	return ctx.Err()
}

func (s *Server) closeListeners() {
	for _, c := range []interface{ Close() error }{s.tcp, s.unix, s.udp} {
		if c != nil {
			_ = c.Close()
		}
	}
}

// accept serves ln until ctx is done. Accept errors other than the closed
// listener (out of file descriptors...) are retried with a backoff, as
// net/http does.
func (s *Server) accept(ctx, queueCtx context.Context, ln net.Listener) error {
	bo := backoff.Backoff{Initial: 5 * time.Millisecond, Max: time.Second}
	for {
		nc, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return nil
			}
			wait := bo.Failed(0)
			s.warn.Warn().Err(err).Dur("retry_in_ms", wait).Msg("cannot accept a Fluent Forward connection")
			if backoff.Sleep(ctx, wait) != nil {
				return nil
			}
			continue
		}
		bo.Reset()
		if s.active.Add(1) > int64(s.cfg.MaxConnections) && !s.evictIdle() {
			s.active.Add(-1)
			s.refused.Add(1)
			s.warn.Warn().Str("remote", remote(nc)).Int("max_connections", s.cfg.MaxConnections).
				Msg("Fluent Forward connection refused: too many connections open; raise --forward-max-connections")
			_ = nc.Close()
			continue
		}
		if !s.track() {
			s.active.Add(-1)
			_ = nc.Close()
			return nil
		}
		s.connections.Add(1)
		if s.tlsCfg != nil {
			nc = tls.Server(nc, s.tlsCfg)
		}
		c := s.newConn(nc)
		s.register(c)
		s.readers.Add(1)
		go c.serve(ctx, queueCtx)
	}
}

// minEvictIdle is how long a connection must have been idle before a new
// connection may take its place.
const minEvictIdle = time.Second

// evictIdle closes the connection that has been idle longest (no request in
// progress, no line being joined, no ack pending), if one has been idle for
// minEvictIdle, to make room for a new connection when MaxConnections are
// open: connections that hold a slot and send nothing cannot lock out
// clients with something to send. The closed connection's client loses
// nothing it was told was delivered; one without acks may lose the record it
// writes next (as with IdleTimeout). The count of open connections exceeds
// MaxConnections until the evicted one's goroutine has ended.
func (s *Server) evictIdle() bool {
	cutoff := time.Now().Add(-minEvictIdle).UnixNano()
	var victim *conn
	oldest := int64(0)
	s.connsMu.RLock()
	for _, c := range s.conns {
		if t := c.idleSince.Load(); t != 0 && t <= cutoff && (victim == nil || t < oldest) && !c.evicted.Load() {
			victim, oldest = c, t
		}
	}
	s.connsMu.RUnlock()
	if victim == nil || !victim.evicted.CompareAndSwap(false, true) {
		return false
	}
	s.warn.Info().Str("remote", victim.remote).Int("max_connections", s.cfg.MaxConnections).
		Dur("idle", time.Duration(time.Now().UnixNano()-oldest)).
		Msg("Fluent Forward connection closed to make room for a new one: it was idle longest; raise --forward-max-connections if clients reconnect often")
	victim.close()
	return true
}

// track counts a connection goroutine unless the server is closed.
func (s *Server) track() bool {
	s.closeMu.Lock()
	defer s.closeMu.Unlock()
	if s.closed {
		return false
	}
	s.serving.Add(1)
	return true
}

func remote(nc net.Conn) string {
	if a := nc.RemoteAddr(); a != nil && a.String() != "" {
		return a.String()
	}
	return "unix"
}

// heartbeat answers every UDP datagram with one 0x00 byte (Forward protocol v1, "Heartbeat Message").
func (s *Server) heartbeat(ctx context.Context) {
	buf := make([]byte, 1024)
	pong := []byte{0}
	for {
		_, addr, err := s.udp.ReadFrom(buf)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		if _, err := s.udp.WriteTo(pong, addr); err == nil {
			s.heartbeats.Add(1)
		}
	}
}

// requestFlush is called when a client waits for an ack of a record in the
// batch being filled. Sealing it only at the flush interval would cap a
// client that waits for each ack (Docker with fluentd-request-ack) at one
// record per interval; sealing it at once would send one bulk request per
// record. So: seal now when none of our batches is in flight, else as soon as
// one is acknowledged. Batches grow with the load, and the wait for an ack is
// about one bulk request.
func (s *Server) requestFlush() {
	if s.pr.Pending() == 0 {
		_ = s.pr.Flush() // an error resurfaces at the next Begin
		return
	}
	s.flushWanted.Store(true)
	// The batch in flight may have been acknowledged before the Store.
	if s.pr.Pending() == 0 && s.flushWanted.CompareAndSwap(true, false) {
		_ = s.pr.Flush()
	}
}

// flusher seals the batch being filled when requestFlush asked for it and a
// batch was acknowledged. Flush may block on a full queue, which the ack
// callback must not.
func (s *Server) flusher(ctx context.Context) {
	for {
		select {
		case <-s.kick:
			_ = s.pr.Flush()
		case <-ctx.Done():
			return
		}
	}
}

// onAck is the producer's ack callback: each mark is a connection id and the
// sequence number of a request of that connection.
func (s *Server) onAck(marks []uint64, _ int) {
	if s.flushWanted.CompareAndSwap(true, false) {
		select {
		case s.kick <- struct{}{}:
		default:
		}
	}
	for _, m := range marks {
		s.connsMu.RLock()
		c := s.conns[uint32(m>>32)]
		s.connsMu.RUnlock()
		if c != nil {
			c.acks.resolve(uint32(m))
		}
	}
}

// Drain seals what is being filled, waits until everything queued is
// acknowledged and the acks are written, then closes the connections. When
// ctx ends first, it closes them at once and returns ctx's error. Call it
// once, after Run returned.
func (s *Server) Drain(ctx context.Context) error {
	err := s.pr.Close()
	if werr := s.pr.Wait(ctx); err == nil {
		err = werr
	}
	s.closeMu.Lock()
	s.closed = true
	s.closeMu.Unlock()
	done := make(chan struct{})
	go func() {
		s.serving.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		s.killAll()
		<-done
		if err == nil {
			err = ctx.Err()
		}
	}
	return err
}

// Close closes the listeners and every connection at once, without waiting
// for acknowledgements. Safe to call after Drain.
func (s *Server) Close() error {
	s.closeListeners()
	s.closeMu.Lock()
	s.closed = true
	s.closeMu.Unlock()
	s.killAll()
	s.serving.Wait()
	return s.pr.Close()
}

func (s *Server) killAll() {
	s.connsMu.RLock()
	defer s.connsMu.RUnlock()
	for _, c := range s.conns {
		c.close()
	}
}

// register gives c an id that no open connection has.
func (s *Server) register(c *conn) {
	s.connsMu.Lock()
	defer s.connsMu.Unlock()
	for {
		s.nextID++
		if _, used := s.conns[s.nextID]; !used && s.nextID != 0 {
			break
		}
	}
	c.id = s.nextID
	s.conns[c.id] = c
}

func (s *Server) unregister(c *conn) {
	s.connsMu.Lock()
	delete(s.conns, c.id)
	s.connsMu.Unlock()
}
