package forward

import (
	"crypto/rand"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"fmt"
)

// The shared-key handshake (Forward protocol v1, "Handshake Messages"):
//
//	server: ["HELO", {"nonce": N, "auth": A, "keepalive": true}]
//	client: ["PING", hostname, salt, sha512_hex(salt+hostname+N+key), user, sha512_hex(A+user+password)]
//	server: ["PONG", ok, reason, server_hostname, sha512_hex(salt+server_hostname+N+key)]
//
// A is empty unless users are configured; then user and password are checked
// too.

// maxPingBytes bounds the PING message.
const maxPingBytes = 16 << 10

type handshake struct {
	nonce, authSalt []byte
	fr              frame
}

func (s *Server) newHandshake() *handshake {
	hs := &handshake{nonce: randomToken()}
	if len(s.users) > 0 {
		hs.authSalt = randomToken()
	} else {
		hs.authSalt = []byte{}
	}
	return hs
}

// randomToken returns 16 printable random characters (96 bits). Sent as str,
// which every client takes, even those that expect bin.
func randomToken() []byte {
	var raw [12]byte
	_, _ = rand.Read(raw[:]) // never fails (crypto/rand)
	return base64.RawURLEncoding.AppendEncode(nil, raw[:])
}

func appendStr(dst, s []byte) []byte {
	switch n := len(s); {
	case n < 32:
		dst = append(dst, 0xa0|byte(n))
	case n < 1<<8:
		dst = append(dst, 0xd9, byte(n))
	case n < 1<<16:
		dst = append(dst, 0xda, byte(n>>8), byte(n))
	default:
		dst = append(dst, 0xdb, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
	return append(dst, s...)
}

func appendHelo(dst, nonce, authSalt []byte) []byte {
	dst = append(dst, 0x92)
	dst = appendStr(dst, []byte("HELO"))
	dst = append(dst, 0x83)
	dst = appendStr(dst, []byte("nonce"))
	dst = appendStr(dst, nonce)
	dst = appendStr(dst, []byte("auth"))
	dst = appendStr(dst, authSalt)
	dst = appendStr(dst, []byte("keepalive"))
	return append(dst, 0xc3)
}

func appendPong(dst []byte, ok bool, reason, hostname, digest string) []byte {
	dst = append(dst, 0x95)
	dst = appendStr(dst, []byte("PONG"))
	if ok {
		dst = append(dst, 0xc3)
	} else {
		dst = append(dst, 0xc2)
	}
	dst = appendStr(dst, []byte(reason))
	dst = appendStr(dst, []byte(hostname))
	return appendStr(dst, []byte(digest))
}

// sha512Hex returns the lowercase hex SHA-512 of the concatenated parts.
func sha512Hex(parts ...[]byte) string {
	h := sha512.New()
	for _, p := range parts {
		h.Write(p)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// ping is the client's PING: hostname, shared key salt, shared key digest,
// username, password digest.
type ping struct {
	hostname, salt, digest, user, password []byte
}

// parsePing reads the complete msgpack value b as a PING: an array of 6 str
// (4, without user authentication, from old clients).
func parsePing(b []byte) (p ping, err error) {
	h, _ := readHdr(b)
	if h.k != kArray || h.n != 6 && h.n != 4 {
		return p, fmt.Errorf("%w: handshake expected PING, an array of 6 strings, got %s", ErrMalformed, h.k)
	}
	var f [6][]byte
	off := h.size
	for i := 0; i < h.n; i++ {
		eh, err := readHdr(b[off:])
		if err != nil || eh.k != kStr && eh.k != kBin || eh.end() > len(b)-off {
			return p, fmt.Errorf("%w: handshake: PING element %d is not a string", ErrMalformed, i)
		}
		f[i] = b[off+eh.size : off+eh.end()]
		off += eh.end()
	}
	if string(f[0]) != "PING" {
		return p, fmt.Errorf("%w: handshake expected PING, got %q", ErrMalformed, clip(f[0]))
	}
	return ping{hostname: f[1], salt: f[2], digest: f[3], user: f[4], password: f[5]}, nil
}

// checkPing verifies the digests; reason is for the client's PONG.
func (s *Server) checkPing(hs *handshake, p ping) (ok bool, reason string) {
	want := sha512Hex(p.salt, p.hostname, hs.nonce, []byte(s.cfg.SharedKey))
	if subtle.ConstantTimeCompare([]byte(want), p.digest) != 1 {
		return false, "shared_key mismatch"
	}
	if len(s.users) > 0 {
		pw, known := s.users[string(p.user)]
		want := sha512Hex(hs.authSalt, p.user, []byte(pw))
		if subtle.ConstantTimeCompare([]byte(want), p.password) != 1 || !known {
			return false, "username/password mismatch"
		}
	}
	return true, ""
}

// handshakeStep handles the PING at the start of buf, once complete: it
// answers PONG and ends the handshake, or returns the error that closes the
// connection. n is 0 while the PING is incomplete.
func (c *conn) handshakeStep(buf []byte) (n int, err error) {
	s, hs := c.s, c.hs
	n, err = hs.fr.scan(buf, maxPingBytes)
	if err == errShort {
		return 0, nil
	}
	if err != nil {
		return 0, closeWith(ReasonHandshake, fmt.Errorf("%w: handshake: %v", ErrMalformed, err))
	}
	p, err := parsePing(buf[:n])
	if err != nil {
		_ = c.write(appendPong(nil, false, "malformed PING", "", ""))
		return 0, closeWith(ReasonHandshake, err)
	}
	ok, reason := s.checkPing(hs, p)
	if !ok {
		_ = c.write(appendPong(nil, false, reason, "", ""))
		return 0, closeWith(ReasonHandshake, fmt.Errorf("handshake refused: %s (client host %q, user %q)", reason, clip(p.hostname), clip(p.user)))
	}
	host := []byte(s.cfg.Hostname)
	pong := appendPong(nil, true, "", s.cfg.Hostname, sha512Hex(p.salt, host, hs.nonce, []byte(s.cfg.SharedKey)))
	if err := c.write(pong); err != nil {
		return 0, closeWith(ReasonHandshake, fmt.Errorf("cannot send PONG: %w", err))
	}
	c.hs = nil
	c.modeKnown = true // msgpack only after a handshake
	return n, nil
}
