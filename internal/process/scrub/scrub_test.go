package scrub

import (
	"bytes"
	"strings"
	"testing"
)

// secretLines mark each secret with ⟦ ⟧: the scrubber must replace exactly
// those and leave every other byte as it was.
var secretLines = []string{
	// e-mail
	"user ⟦jane.doe@example.com⟧ logged in",
	`{"email":"⟦billing+eu@shop.example.co.uk⟧","plan":"pro"}`,
	"mailto:⟦ops@corp.io⟧ for help",
	// IP addresses
	"client=⟦203.0.113.17⟧ status=200",
	"connection from ⟦10.0.0.1⟧.",
	"upstream [⟦192.168.1.254⟧]:8080 timed out",
	`⟦198.51.100.23⟧ - frank [03/Dec/2026:12:36:28 -0700] "POST /login HTTP/1.0" 302 0`,
	"peer ⟦2001:db8::7⟧ reset",
	"listen [⟦fe80::1ff:fe23:4567:890a⟧]:443",
	"bound to ⟦::1⟧ port 8080",
	"remote=⟦::ffff:192.0.2.128⟧",
	"addr ⟦2001:0db8:85a3:0000:0000:8a2e:0370:7334⟧",
	// card numbers (the test numbers of the card networks)
	"paid with ⟦4111 1111 1111 1111⟧ exp 12/29",
	"card=⟦4012888888881881⟧",
	"mc ⟦5555-5555-5555-4444⟧ ok",
	"mc2 ⟦2223003122003222⟧",
	"amex ⟦378282246310005⟧",
	"amex ⟦3714 496353 98431⟧ grouped",
	"discover ⟦6011111111111117⟧",
	"jcb ⟦3530111333300000⟧",
	"diners ⟦30569309025904⟧",
	"order 100 ⟦4111 1111 1111 1111⟧ total 20",
	// Authorization headers
	"Authorization: Bearer ⟦mF_9.B5f-4.1JqM⟧",
	"authorization: bearer ⟦2YotnFZFEjr1zCsicMWpAA⟧ scope=read",
	"Authorization: Basic ⟦dXNlcjpwYXNzd29yZA==⟧",
	"curl -H 'authorization: basic ⟦YWxhZGRpbjpvcGVuc2VzYW1l⟧' https://api",
	// JWT, alone and as a bearer token
	"token=⟦eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c⟧ ok",
	"Authorization: Bearer ⟦eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJodHRwczovL2lkcCJ9.c2lnbmF0dXJl⟧",
	// AWS
	"using key ⟦AKIAIOSFODNN7EXAMPLE⟧ for s3",
	"sts creds ⟦ASIAY34FZKBOKMUTVV7A⟧",
	"aws_secret_access_key = ⟦wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY⟧",
	`{"AccessKeyId":"⟦AKIAI44QH8DHBEXAMPLE⟧","SecretAccessKey":"⟦je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY⟧"}`,
	// private keys: whole, JSON-escaped, cut off
	"key: ⟦-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gun\n-----END RSA PRIVATE KEY-----⟧ loaded",
	`{"pem":"⟦-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7\n-----END PRIVATE KEY-----⟧"}`,
	"⟦-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ⟧",
	// URL passwords
	"dsn=postgres://app:⟦s3cr3t⟧@db.internal:5432/orders",
	"cloning https://deploy:⟦p@ss:word⟧@git.example.com/repo.git",
	"amqp://guest:⟦guest123⟧@rabbit:5672/ vhost",
	// custom pattern
	"login ok password=⟦hunter2⟧ user=x",
}

// nearMisses look like secrets and are not: nothing may change.
var nearMisses = []string{
	"version 1.2.3.4.5 released",
	"build 2026.12.03.1 ready",
	"node v18.17.1 and 1.2.3.4.5.6",
	"order 4111 1111 1111 1112 shipped",      // fails Luhn
	"id=1764765388512 at=1764765388512123",   // millisecond and microsecond timestamps
	"ref 1234567812345670",                   // passes Luhn, no card network starts with 12
	"isbn 978-3-16-148410-0",                 // 13 digits
	"phone +1-555-010-9999",                  // digits in groups
	"trace 4bf92f3577b34da6a3ce929d0e0e4736", // hex ID
	"uuid 123e4567-e89b-12d3-a456-426614174000",
	"commit 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b",
	"at 12:36:28.512 the std::vector<int> grew",
	"mac 00:1a:2b:3c:4d:5e and Foo::Bar::baz()",
	"the bearer of this letter is welcome",
	"basic authentication failed",
	`WWW-Authenticate: Basic realm="staging"`,
	"see http://example.com:8080/path?q=1",
	"fetch https://user@example.com/x", // a user name without password
	"mail user@localhost",
	"key AKIAEXAMPLE and AKIAIOSFODNN7EXAMPLEX",
	"header eyJhbGciOi only",
	"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----",
	"secret rotation scheduled",
	"the value 255.255.255.256 is not an address",
	"://", // ends in "://" (a crash found by FuzzAppend)
	"",
}

func unmark(s string) (in, want string, secrets []string) {
	var b, w strings.Builder
	for {
		i := strings.Index(s, "⟦")
		if i < 0 {
			b.WriteString(s)
			w.WriteString(s)
			return b.String(), w.String(), secrets
		}
		j := strings.Index(s, "⟧")
		b.WriteString(s[:i])
		w.WriteString(s[:i])
		secret := s[i+len("⟦") : j]
		b.WriteString(secret)
		w.WriteString(DefaultReplacement)
		secrets = append(secrets, secret)
		s = s[j+len("⟧"):]
	}
}

func allScrubber(t testing.TB, opts Options) *Scrubber {
	t.Helper()
	s, err := Compile(Names(), []string{`password=(?P<secret>\S+)`}, opts)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestCorpus(t *testing.T) {
	s := allScrubber(t, Options{})
	for _, line := range secretLines {
		in, want, secrets := unmark(line)
		got, n := s.Append(nil, []byte(in))
		if string(got) != want || n != len(secrets) {
			t.Errorf("%q\n got %q (%d)\nwant %q (%d)", in, got, n, want, len(secrets))
		}
		for _, sec := range secrets {
			if bytes.Contains(got, []byte(sec)) {
				t.Errorf("secret %q survived in %q", sec, got)
			}
		}
	}
	for _, in := range nearMisses {
		dst := []byte("prefix:")
		got, n := s.Append(dst, []byte(in))
		if n != 0 || string(got) != "prefix:" {
			t.Errorf("near miss %q changed: %q (%d)", in, got, n)
		}
	}
}

// TestEachRuleAlone: every secret line is caught by the rule meant for it
// alone too, so no rule leans on another.
func TestEachRuleAlone(t *testing.T) {
	f := func(name, line string) {
		t.Helper()
		s, err := Compile([]string{name}, nil, Options{})
		if err != nil {
			t.Fatal(err)
		}
		in, want, _ := unmark(line)
		if got, _ := s.Append(nil, []byte(in)); string(got) != want {
			t.Errorf("%s on %q\n got %q\nwant %q", name, in, got, want)
		}
	}
	f("email", "to ⟦a@b.io⟧")
	f("ipv4", "to ⟦1.2.3.4⟧")
	f("ipv6", "to ⟦2001:db8::1⟧")
	f("credit_card", "to ⟦4111111111111111⟧")
	f("bearer", "Bearer ⟦abc.def-123⟧")
	f("basic_auth", "Basic ⟦dXNlcjpwYXNz⟧")
	f("jwt", "⟦eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.⟧")
	f("aws_access_key_id", "⟦AKIAIOSFODNN7EXAMPLE⟧")
	f("aws_secret_access_key", "secret_access_key: ⟦wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY⟧")
	f("private_key", "⟦-----BEGIN EC PRIVATE KEY-----\nMHcCAQEE\n-----END EC PRIVATE KEY-----⟧")
	f("url_password", "redis://u:⟦pw⟧@cache:6379")
}

func TestHashMode(t *testing.T) {
	key := []byte("0123456789abcdef0123")
	s := allScrubber(t, Options{Mode: Hash, Key: key})
	a, _ := s.Append(nil, []byte("user jane@example.com"))
	b, _ := s.Append(nil, []byte("mail jane@example.com"))
	c, _ := s.Append(nil, []byte("user john@example.com"))
	ta, tb, tc := strings.TrimPrefix(string(a), "user "), strings.TrimPrefix(string(b), "mail "), strings.TrimPrefix(string(c), "user ")
	if ta != tb || ta == tc || !strings.HasPrefix(ta, "[hmac:") || len(ta) != len("[hmac:]")+16 {
		t.Fatalf("got %q %q %q; want equal tokens for equal values, 16 hex digits", ta, tb, tc)
	}
	other := allScrubber(t, Options{Mode: Hash, Key: []byte("another key of 16+ bytes"), HashLen: 32})
	d, _ := other.Append(nil, []byte("user jane@example.com"))
	if td := strings.TrimPrefix(string(d), "user "); len(td) != len("[hmac:]")+32 || strings.HasPrefix(td, ta[:len(ta)-1]) {
		t.Fatalf("another key gave %q", td)
	}
}

func TestReplacementText(t *testing.T) {
	s, _ := Compile([]string{"email"}, nil, Options{Replacement: "<email>"})
	if got, n := s.Append(nil, []byte("a@b.io and c@d.io")); string(got) != "<email> and <email>" || n != 2 {
		t.Fatalf("got %q, %d", got, n)
	}
}

func TestCompileErrors(t *testing.T) {
	f := func(names, custom []string, opts Options, wantSub string) {
		t.Helper()
		_, err := Compile(names, custom, opts)
		if err == nil || !strings.Contains(err.Error(), wantSub) {
			t.Errorf("Compile(%q, %q): %v; want an error containing %q", names, custom, err, wantSub)
		}
	}
	f(nil, nil, Options{}, "no pattern")
	f([]string{"ssn"}, nil, Options{}, `unknown pattern "ssn" (known: private_key, url_password`)
	f(nil, []string{"(unclosed"}, Options{}, "custom pattern 1")
	f(nil, []string{"x*"}, Options{}, "matches empty text")
	f([]string{"email"}, nil, Options{Mode: Hash}, "key of at least 16 bytes")
	f([]string{"email"}, nil, Options{Mode: Hash, Key: make([]byte, 16), HashLen: 4}, "hash length 4")
	f([]string{"email"}, nil, Options{Mode: 9}, "unknown mode")
}

// TestCleanLineAllocs: a line without candidates costs no allocation.
func TestCleanLineAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector makes sync.Pool drop items")
	}
	s := allScrubber(t, Options{})
	line := []byte(`I1203 12:36:28.512345       1 controller.go:176] "Reconciling" object="default/web" generation=7`)
	if n := testing.AllocsPerRun(100, func() { s.Append(nil, line) }); n != 0 {
		t.Fatalf("%v allocations on a clean line; want 0", n)
	}
}

// TestHostileLines: long lines built to make a naive scrubber quadratic
// (addresses without a space between them, endless digit groups, headers
// without end) are scrubbed in one pass. On a quadratic scrubber the
// address line alone runs for minutes (it did before the look-back bound),
// also in its smaller size under the race detector, which is 25x slower.
func TestHostileLines(t *testing.T) {
	s := allScrubber(t, Options{})
	size := 1 << 20
	if raceEnabled {
		size = 256 << 10
	}
	s.Append(nil, bytes.Repeat([]byte("a@b.io,"), size/7))
	for _, unit := range []string{"4111 ", "1.2.", "::", "-----BEGIN RSA PRIVATE KEY-----", "Bearer ", "://a:b@", "eyJa.", "AKIA"} {
		s.Append(nil, bytes.Repeat([]byte(unit), (256<<10)/len(unit)))
	}
}
