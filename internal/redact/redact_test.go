package redact

import (
	"bytes"
	"fmt"
	"testing"
)

func TestURL(t *testing.T) {
	f := func(in, want string) {
		t.Helper()
		if got := URL(in); got != want {
			t.Errorf("URL(%q): got %q, want %q", in, got, want)
		}
	}
	f("http://localhost:9200", "http://localhost:9200")
	f("https://elastic:s3cret@es:9200/", "https://elastic:xxxxx@es:9200/")
	f("https://elastic@es:9200", "https://elastic@es:9200")
	f("http://u:p%40ss@es:9200", "http://u:xxxxx@es:9200")
	f("http://u:pa ss@es:9200/%zz", "http://xxxxx@es:9200/%zz") // does not parse
	f("", "")
}

func TestWriterMasksEverySecret(t *testing.T) {
	secrets := Secrets([]string{"http://elastic:url-s3cret@es:9200", "http://es2:9200"}, "elastic", "pw-s3cret", "api-key-s3cret", "abc")
	var buf bytes.Buffer
	w := NewWriter(&buf, secrets)
	lines := []string{
		"GET http://elastic:url-s3cret@es:9200/_bulk failed",
		`{"password":"pw-s3cret","key":"api-key-s3cret"}`,
		"Authorization: Basic ZWxhc3RpYzpwdy1zM2NyZXQ=", // elastic:pw-s3cret
		"Authorization: Basic ZWxhc3RpYzp1cmwtczNjcmV0", // elastic:url-s3cret
		"abc is too short to mask",
	}
	for _, l := range lines {
		n, err := fmt.Fprintln(w, l)
		if err != nil || n != len(l)+1 {
			t.Fatalf("Fprintln: %d, %v; want %d, nil", n, err, len(l)+1)
		}
	}
	out := buf.String()
	for _, s := range []string{"url-s3cret", "pw-s3cret", "api-key-s3cret", "ZWxhc3RpYzpwdy1zM2NyZXQ=", "ZWxhc3RpYzp1cmwtczNjcmV0"} {
		if bytes.Contains([]byte(out), []byte(s)) {
			t.Errorf("secret %q in output:\n%s", s, out)
		}
	}
	if !bytes.Contains([]byte(out), []byte("abc is too short")) {
		t.Errorf("short secret masked:\n%s", out)
	}
}
