package forward

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/fluent/fluent-logger-golang/fluent"
	"github.com/tinylib/msgp/msgp"
)

// clientHandshake plays the client side of the shared-key handshake as
// Fluentd's out_forward does, and checks the server's PONG digest when the
// server accepts.
func clientHandshake(t *testing.T, c net.Conn, key, user, password string) (ok bool, reason string) {
	ok, reason, _ = clientHandshakeHost(t, c, key, user, password)
	return ok, reason
}

// clientHandshakeHost is clientHandshake that also returns the server host
// name of an accepting PONG.
func clientHandshakeHost(t *testing.T, c net.Conn, key, user, password string) (ok bool, reason, serverHost string) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	r := msgp.NewReader(c)
	v, err := r.ReadIntf()
	if err != nil {
		t.Fatalf("reading HELO: %v", err)
	}
	helo, _ := v.([]any)
	if len(helo) != 2 || helo[0] != "HELO" {
		t.Fatalf("HELO: got %#v", v)
	}
	opts, _ := helo[1].(map[string]any)
	nonce, _ := opts["nonce"].(string)
	auth, _ := opts["auth"].(string)
	if len(nonce) < 16 || opts["keepalive"] != true {
		t.Fatalf("HELO options: %#v", opts)
	}
	const host, salt = "client-host", "0123456789abcdef0123456789abcdef"
	digest := sha512Hex([]byte(salt), []byte(host), []byte(nonce), []byte(key))
	pw := ""
	if auth != "" {
		pw = sha512Hex([]byte(auth), []byte(user), []byte(password))
	}
	write(t, c, mp().arr(6).str("PING").str(host).str(salt).str(digest).str(user).str(pw))
	v, err = r.ReadIntf()
	if err != nil {
		t.Fatalf("reading PONG: %v", err)
	}
	pong, _ := v.([]any)
	if len(pong) != 5 || pong[0] != "PONG" {
		t.Fatalf("PONG: got %#v", v)
	}
	ok, _ = pong[1].(bool)
	reason, _ = pong[2].(string)
	if ok {
		serverHost, _ = pong[3].(string)
		if want := sha512Hex([]byte(salt), []byte(serverHost), []byte(nonce), []byte(key)); pong[4] != want {
			t.Fatalf("PONG digest: got %v, want %s", pong[4], want)
		}
	}
	return ok, reason, serverHost
}

func TestServerSharedKey(t *testing.T) {
	f := func(name string, cfg ServerConfig, key, user, password string, wantOK bool, wantReason string) {
		t.Run(name, func(t *testing.T) {
			cfg.Hostname = "shipper-test"
			h := startServer(t, cfg, testPipeline)
			c := h.dial(t)
			ok, reason, host := clientHandshakeHost(t, c, key, user, password)
			if ok != wantOK || reason != wantReason {
				t.Fatalf("handshake: got %v %q, want %v %q", ok, reason, wantOK, wantReason)
			}
			if ok && host != "shipper-test" {
				t.Errorf("PONG host: got %q, want shipper-test", host)
			}
			if !ok {
				waitClosed(t, c, 10*time.Second)
				h.logs.waitLog(t, `"reason":"handshake"`, wantReason)
				if st := h.srv.Stats(); st.Closed[ReasonHandshake] != 1 {
					t.Errorf("closed for handshake: %d", st.Closed[ReasonHandshake])
				}
				return
			}
			write(t, c, msg("app", t0, mp().mapStr("msg", "authenticated"), mp().mapStr("chunk", "a1")))
			readAck(t, c, "a1", 10*time.Second)
			if docs := h.sink.waitDocs(t, 1); docs[0].fields["message"] != "authenticated" {
				t.Fatalf("got %v", docs[0].fields)
			}
		})
	}
	users := []User{{"alice", "wonderland"}, {"bob", "builder"}}
	f("right key", ServerConfig{SharedKey: "s3cret"}, "s3cret", "", "", true, "")
	f("wrong key", ServerConfig{SharedKey: "s3cret"}, "guess", "", "", false, "shared_key mismatch")
	f("user and password", ServerConfig{SharedKey: "k", Users: users}, "k", "bob", "builder", true, "")
	f("wrong password", ServerConfig{SharedKey: "k", Users: users}, "k", "bob", "wonderland", false, "username/password mismatch")
	f("unknown user", ServerConfig{SharedKey: "k", Users: users}, "k", "eve", "", false, "username/password mismatch")
	f("right password, wrong key", ServerConfig{SharedKey: "k", Users: users}, "x", "alice", "wonderland", false, "shared_key mismatch")
}

// TestServerSharedKeyRequired: records sent without the handshake are not
// accepted; a client that never sends PING is cut after ReadTimeout.
func TestServerSharedKeyRequired(t *testing.T) {
	h := startServer(t, ServerConfig{SharedKey: "k", ReadTimeout: 300 * time.Millisecond}, testPipeline)
	c := h.dial(t)
	write(t, c, msg("app", t0, mp().mapStr("msg", "sneaky"), nil))
	waitClosed(t, c, 10*time.Second)
	h.logs.waitLog(t, `"reason":"handshake"`, "expected PING")
	silent := h.dial(t)
	waitClosed(t, silent, 10*time.Second)
	h.logs.waitLog(t, `"reason":"read_timeout"`, "handshake not completed")
	if docs := h.sink.all(); len(docs) != 0 {
		t.Fatalf("got %v", docs)
	}
}

// testPKI is a CA, a server certificate for 127.0.0.1 and a client
// certificate, as PEM files in a temporary directory.
type testPKI struct {
	dir                           string
	caFile, certFile, keyFile     string
	clientCertFile, clientKeyFile string
	pool                          *x509.CertPool
	clientCert                    tls.Certificate
	otherCAFile                   string
}

func newTestPKI(t *testing.T) *testPKI {
	t.Helper()
	p := &testPKI{dir: t.TempDir()}
	writePEM := func(name, typ string, der []byte) string {
		path := filepath.Join(p.dir, name)
		if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	newKey := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	serial := int64(1)
	newCA := func(name string) (*x509.Certificate, *ecdsa.PrivateKey, []byte) {
		key := newKey()
		serial++
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
			IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
		if err != nil {
			t.Fatal(err)
		}
		cert, _ := x509.ParseCertificate(der)
		return cert, key, der
	}
	ca, caKey, caDER := newCA("shipper test CA")
	p.caFile = writePEM("ca.pem", "CERTIFICATE", caDER)
	_, _, otherDER := newCA("another CA")
	p.otherCAFile = writePEM("other-ca.pem", "CERTIFICATE", otherDER)
	p.pool = x509.NewCertPool()
	p.pool.AddCert(ca)
	leaf := func(name string, usage x509.ExtKeyUsage, ips []net.IP) ([]byte, *ecdsa.PrivateKey) {
		key := newKey()
		serial++
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage}, IPAddresses: ips,
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		return der, key
	}
	der, key := leaf("shipper", x509.ExtKeyUsageServerAuth, []net.IP{net.IPv4(127, 0, 0, 1)})
	kder, _ := x509.MarshalECPrivateKey(key)
	p.certFile = writePEM("server.pem", "CERTIFICATE", der)
	p.keyFile = writePEM("server-key.pem", "EC PRIVATE KEY", kder)
	der, key = leaf("client", x509.ExtKeyUsageClientAuth, nil)
	kder, _ = x509.MarshalECPrivateKey(key)
	p.clientCertFile = writePEM("client.pem", "CERTIFICATE", der)
	p.clientKeyFile = writePEM("client-key.pem", "EC PRIVATE KEY", kder)
	cc, err := tls.LoadX509KeyPair(p.clientCertFile, p.clientKeyFile)
	if err != nil {
		t.Fatal(err)
	}
	p.clientCert = cc
	return p
}

func TestServerTLS(t *testing.T) {
	pki := newTestPKI(t)
	// dialTLS connects and completes the handshake (and, for TLS 1.3, the
	// server's verdict on the client certificate, which arrives with the
	// first read).
	send := func(t *testing.T, h *harness, cfg *tls.Config, chunk string) error {
		c, err := tls.Dial("tcp", h.addr(), cfg)
		if err != nil {
			return err
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := c.Write(msg("app", t0, mp().mapStr("msg", "over tls"), mp().mapStr("chunk", chunk))); err != nil {
			return err
		}
		want := AppendAck(nil, []byte(chunk))
		got := make([]byte, len(want))
		if _, err := c.Read(got); err != nil {
			return err
		}
		if string(got) != string(want) {
			return fmt.Errorf("ack: got %q, want %q", got, want)
		}
		return nil
	}
	t.Run("server certificate", func(t *testing.T) {
		h := startServer(t, ServerConfig{TLSCertFile: pki.certFile, TLSKeyFile: pki.keyFile}, testPipeline)
		if err := send(t, h, &tls.Config{RootCAs: pki.pool}, "t1"); err != nil {
			t.Fatal(err)
		}
		// A plain-text client is refused.
		c := h.dial(t)
		write(t, c, msg("app", t0, mp().mapStr("msg", "plain"), nil))
		waitClosed(t, c, 10*time.Second)
		h.logs.waitLog(t, `"reason":"tls"`)
		// A client that does not trust our CA gives up.
		if err := send(t, h, &tls.Config{}, "t2"); err == nil {
			t.Fatal("a client without the CA connected")
		}
		if docs := h.sink.all(); len(docs) != 1 {
			t.Fatalf("got %d documents, want 1", len(docs))
		}
	})
	t.Run("mutual TLS", func(t *testing.T) {
		h := startServer(t, ServerConfig{TLSCertFile: pki.certFile, TLSKeyFile: pki.keyFile, TLSClientCAFile: pki.caFile}, testPipeline)
		if err := send(t, h, &tls.Config{RootCAs: pki.pool, Certificates: []tls.Certificate{pki.clientCert}}, "m1"); err != nil {
			t.Fatal(err)
		}
		if err := send(t, h, &tls.Config{RootCAs: pki.pool}, "m2"); err == nil {
			t.Fatal("a client without a certificate was served")
		}
		h.logs.waitLog(t, `"reason":"tls"`, "certificate")
		if docs := h.sink.all(); len(docs) != 1 {
			t.Fatalf("got %d documents, want 1", len(docs))
		}
	})
	t.Run("client certificate of another CA", func(t *testing.T) {
		h := startServer(t, ServerConfig{TLSCertFile: pki.certFile, TLSKeyFile: pki.keyFile, TLSClientCAFile: pki.otherCAFile}, testPipeline)
		if err := send(t, h, &tls.Config{RootCAs: pki.pool, Certificates: []tls.Certificate{pki.clientCert}}, "o1"); err == nil {
			t.Fatal("a client certificate of another CA was accepted")
		}
	})
	t.Run("fluent-logger-golang", func(t *testing.T) {
		// The library cannot be given a CA; it only skips verification.
		h := startServer(t, ServerConfig{TLSCertFile: pki.certFile, TLSKeyFile: pki.keyFile, SharedKey: ""}, testPipeline)
		port := h.srv.Addr().(*net.TCPAddr).Port
		logger, err := fluent.New(fluent.Config{FluentNetwork: "tls", FluentHost: "127.0.0.1", FluentPort: port,
			TlsInsecureSkipVerify: true, RequestAck: true, MaxRetry: 1, ReadTimeout: 10 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		defer logger.Close()
		if err := logger.Post("app", map[string]string{"msg": "tls lib"}); err != nil {
			t.Fatal(err)
		}
		if docs := h.sink.waitDocs(t, 1); docs[0].fields["message"] != "tls lib" {
			t.Fatalf("got %v", docs[0].fields)
		}
	})
	t.Run("bad files", func(t *testing.T) {
		for _, cfg := range []ServerConfig{
			{TLSCertFile: pki.certFile},
			{TLSCertFile: pki.keyFile, TLSKeyFile: pki.certFile},
			{TLSCertFile: pki.certFile, TLSKeyFile: pki.keyFile, TLSClientCAFile: pki.keyFile},
			{TLSClientCAFile: pki.caFile},
		} {
			cfg.Address, cfg.Dataset, cfg.Namespace = "127.0.0.1:0", "x", "y"
			if srv, err := NewServer(cfg, nil, testLogger()); err == nil {
				srv.Close()
				t.Errorf("%+v: no error", cfg)
			}
		}
	})
}
