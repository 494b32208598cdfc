package elasticsearch

import (
	"context"
	"encoding/pem"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestTLSWithCAFile: Elasticsearch behind a certificate of a private CA is
// reached with --elasticsearch-ca-file and refused without it.
func TestTLSWithCAFile(t *testing.T) {
	f := &fakeES{t: t, seen: make(chan struct{}, 1)}
	srv := httptest.NewTLSServer(f)
	defer srv.Close()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	cert := srv.Certificate()
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}), 0o600); err != nil {
		t.Fatal(err)
	}

	s, _ := newTestSink(t, srv.URL, func(cfg *Config) { cfg.CAFile = ca })
	b := newBatch(1, docs("over tls", 3)...)
	runAll(t, s, b)
	checkDone(t, b)
	if n := len(f.requests()); n != 1 {
		t.Fatalf("requests over TLS: %d, want 1", n)
	}

	// Without the CA the certificate is not trusted: Ping fails and says so.
	s2, _ := newTestSink(t, srv.URL, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := s2.Ping(ctx); err == nil {
		t.Fatal("Ping succeeded against an untrusted certificate")
	}
}
