package forward

import "testing"

func TestReplacedUTF8(t *testing.T) {
	f := func(record, json string, want bool) {
		t.Helper()
		if got := replacedUTF8([]byte(record), []byte(json)); got != want {
			t.Fatalf("replacedUTF8(%q, %q) = %t, want %t", record, json, got, want)
		}
	}
	f("\xa3msg\xa1a", `{"msg":"a"}`, false)
	f("\xa3msg\xa2a\xff", `{"msg":"a`+"\ufffd"+`"}`, true)
	f("\xa3msg\xa4a\xef\xbf\xbd", `{"msg":"a`+"\ufffd"+`"}`, false)
	f("\xa3msg\xa5a\xef\xbf\xbd\xff", `{"msg":"a`+"\ufffd\ufffd"+`"}`, true)
}
