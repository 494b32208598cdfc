package esclient

import (
	"context"
	"io"
	"net"
	"net/http"
	"time"
)

// Body is a request body held in memory that the client writes to a plain
// TCP connection with one write: net/http copies any other body through a
// 32 KiB buffer (it reads the body through an io.LimitedReader, which hides
// the body's own WriteTo), a second copy of every byte of a bulk request and
// one write system call per 32 KiB. Over TLS the body is copied as before:
// encryption copies anyway.
//
// A Body reads b; b must not change until the request's answer is read.
type Body struct {
	b   []byte
	off int
}

// Read copies the bytes not read yet into p.
func (r *Body) Read(p []byte) (int, error) {
	if r.off >= len(r.b) {
		return 0, io.EOF
	}
	n := copy(p, r.b[r.off:])
	r.off += n
	return n, nil
}

// Close does nothing: the caller owns the bytes.
func (r *Body) Close() error { return nil }

// NewRequest is http.NewRequestWithContext with body as a *Body: the
// request has its Content-Length and can be sent again (GetBody). body must
// not change until the answer is read.
func NewRequest(ctx context.Context, method, path string, body []byte) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, method, path, nil)
	if err != nil {
		return nil, err
	}
	if len(body) > 0 {
		req.Body = &Body{b: body}
		req.ContentLength = int64(len(body))
		req.GetBody = func() (io.ReadCloser, error) { return &Body{b: body}, nil }
	}
	return req, nil
}

// bodyConn is a connection that writes a *Body in one piece when net/http
// copies it over (see Body).
type bodyConn struct {
	net.Conn
}

// ReadFrom is what net/http's connection writer calls with the request
// body (after the headers, which it flushes first for a body it does not
// know). For a *Body it writes the remaining bytes straight from the
// caller's slice; anything else goes the usual way.
func (c *bodyConn) ReadFrom(r io.Reader) (int64, error) {
	if lr, ok := r.(*io.LimitedReader); ok {
		if b, ok := lr.R.(*Body); ok && int64(len(b.b)-b.off) >= lr.N {
			n, err := c.Conn.Write(b.b[b.off : b.off+int(lr.N)])
			b.off += n
			lr.N -= int64(n)
			return int64(n), err
		}
	}
	if rf, ok := c.Conn.(io.ReaderFrom); ok {
		return rf.ReadFrom(r)
	}
	return io.Copy(writerOnly{c.Conn}, r)
}

// writerOnly hides the ReadFrom of a connection from io.Copy.
type writerOnly struct{ io.Writer }

// dialBodyConn returns the transport's dial function: net.Dialer with
// net/http's default timeouts, connections wrapped in bodyConn.
func dialBodyConn() func(ctx context.Context, network, addr string) (net.Conn, error) {
	d := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return &bodyConn{Conn: c}, nil
	}
}
