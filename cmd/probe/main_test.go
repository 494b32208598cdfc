package main

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestProbe(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/readyz" {
			http.Error(w, "not ready: Elasticsearch not reached yet", http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("ok\n"))
	}))
	defer srv.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String() + "/healthz"
	ln.Close()

	f := func(want int, wantErr string, args ...string) {
		t.Helper()
		var stderr strings.Builder
		if code := run(context.Background(), args, &stderr); code != want || !strings.Contains(stderr.String(), wantErr) {
			t.Errorf("probe %v: exit %d, stderr %q; want %d and %q", args, code, stderr.String(), want, wantErr)
		}
	}
	f(0, "", srv.URL+"/healthz")
	f(1, "HTTP 503: not ready: Elasticsearch not reached yet", srv.URL+"/healthz", srv.URL+"/readyz")
	f(1, "connection refused", "--timeout=1s", closed)
	f(2, "Usage: probe")
	f(2, "flag provided but not defined", "--nope", srv.URL)
}
