// Package esclient is the one HTTP client configuration for talking to the
// Elastic stack: TLS (a CA file added to the system's trusted roots, or no
// verification on request), authentication (basic or API key), the user
// agent, and a round robin over the nodes. The sink and 'shipper setup' both
// build their clients here, so they agree on what a setting means.
//
// The client never retries: the caller owns its retry loop and asks
// Retryable and Permanent which failures are worth another attempt.
package esclient

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"shipper/internal/redact"
	"strings"
	"sync/atomic"
	"time"
)

// Config configures a Client.
type Config struct {
	// URLs are the nodes of one service (Elasticsearch, or Kibana), each
	// http:// or https:// with a host and an optional path prefix. Requests
	// go to them in turn.
	URLs []string
	// Username and Password: HTTP basic authentication. APIKey, the base64
	// "id:key" that Elasticsearch returns, is sent as
	// "Authorization: ApiKey <key>" and wins over Username/Password.
	Username, Password, APIKey string
	// CAFile is a PEM file of CAs trusted in addition to the system's.
	CAFile string
	// InsecureSkipVerify turns off certificate verification (test setups).
	InsecureSkipVerify bool
	// UserAgent is sent with every request; "" means "shipper".
	UserAgent string
	// IdleConnsPerHost is how many idle connections are kept per node;
	// 0 means net/http's default.
	IdleConnsPerHost int
	// ResponseHeaderTimeout bounds the wait for an answer's headers once
	// the request is written; 0 means no bound but the request's context.
	ResponseHeaderTimeout time.Duration
	// Timeout bounds a whole request, reading the answer included; 0 means
	// no bound but the request's context.
	Timeout time.Duration
	// Product, when set, is the X-Elastic-Product header every successful
	// (2xx) answer must carry ("Elasticsearch" since 7.14): a proxy or
	// another service that answers 200 to a bulk request must not be taken
	// for a delivery.
	Product string
}

// Client sends requests to the nodes of one service. It is safe for
// concurrent use.
type Client struct {
	nodes []*url.URL
	hc    *http.Client
	auth  string // value of the Authorization header, "" for none
	// nodeAuth[i], when set, is node i's Authorization header, from the
	// user information of its URL (used when no other credentials are set).
	nodeAuth []string
	ua       string
	product  string
	next     atomic.Uint64
}

// New checks cfg and builds the client; it does not contact any node.
func New(cfg Config) (*Client, error) {
	if len(cfg.URLs) == 0 {
		return nil, errors.New("no URL configured")
	}
	c := &Client{ua: cfg.UserAgent, product: cfg.Product}
	if c.ua == "" {
		c.ua = "shipper"
	}
	for _, raw := range cfg.URLs {
		u, err := ParseURL(raw)
		if err != nil {
			return nil, err
		}
		auth := ""
		if u.User != nil {
			r := http.Request{Header: http.Header{}}
			pw, _ := u.User.Password()
			r.SetBasicAuth(u.User.Username(), pw)
			auth = r.Header.Get("Authorization")
			u.User = nil // never in a request line, a log or an error
		}
		c.nodes = append(c.nodes, u)
		c.nodeAuth = append(c.nodeAuth, auth)
	}
	switch {
	case cfg.APIKey != "":
		c.auth = "ApiKey " + cfg.APIKey
	case cfg.Username != "":
		r := http.Request{Header: http.Header{}}
		r.SetBasicAuth(cfg.Username, cfg.Password)
		c.auth = r.Header.Get("Authorization")
	}
	tc, err := TLSConfig(cfg.CAFile, cfg.InsecureSkipVerify)
	if err != nil {
		return nil, err
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tc
	tr.DialContext = dialBodyConn() // request bodies written in one piece, see Body
	if cfg.IdleConnsPerHost > 0 {
		tr.MaxIdleConnsPerHost = cfg.IdleConnsPerHost
	}
	tr.ResponseHeaderTimeout = cfg.ResponseHeaderTimeout
	c.hc = &http.Client{Transport: tr, Timeout: cfg.Timeout}
	return c, nil
}

// ParseURL parses a node URL: http or https, a host, no query, no fragment.
// User information ("https://user:pass@es:9200") is kept in the result; New
// turns it into basic authentication for that node when no other
// credentials are set. The error says what is wrong with the URL, its
// password masked.
func ParseURL(raw string) (*url.URL, error) {
	shown := redact.URL(raw) // errors never carry a password
	u, err := url.Parse(raw)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // *url.Error repeats the URL, password included
		}
		return nil, fmt.Errorf("URL %q does not parse: %w", shown, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("URL %q must start with http:// or https://", shown)
	}
	if u.Hostname() == "" {
		return nil, fmt.Errorf("URL %q has no host name", shown)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("URL %q must not have a query or a fragment", shown)
	}
	u.Path = strings.TrimRight(u.Path, "/")
	return u, nil
}

// TLSConfig returns the TLS settings: the system's trusted roots plus the
// certificates of caFile (when set), or no verification at all when
// insecure.
func TLSConfig(caFile string, insecure bool) (*tls.Config, error) {
	tc := &tls.Config{InsecureSkipVerify: insecure} //nolint:gosec // the operator's explicit choice
	if caFile == "" {
		return tc, nil
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("cannot read the CA file %q: %w", caFile, err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("the CA file %q holds no PEM certificate", caFile)
	}
	tc.RootCAs = pool
	return tc, nil
}

// Do sends req to the next node in turn. req.URL holds only the path (and
// query) below the node's URL; Do sets scheme, host and path prefix, the
// credentials and the user agent. It does not retry. As with http.Client,
// the caller closes the answer's body. With Config.Product set, a 2xx answer
// without that product header is an error (*NotProductError).
func (c *Client) Do(req *http.Request) (*http.Response, error) {
	// A node that refuses the connection never saw the request: the next
	// node gets it, so one node down does not fail requests the others can
	// serve. Other errors are the caller's to retry.
	path, rawPath := req.URL.Path, req.URL.RawPath
	for tries := 1; ; tries++ {
		i := 0
		if len(c.nodes) > 1 {
			i = int((c.next.Add(1) - 1) % uint64(len(c.nodes)))
		}
		n := c.nodes[i]
		req.URL.Scheme = n.Scheme
		req.URL.Host = n.Host
		req.URL.Path, req.URL.RawPath = path, rawPath
		if n.Path != "" {
			req.URL.Path = n.Path + path
			if rawPath != "" {
				req.URL.RawPath = n.Path + rawPath
			}
		}
		req.Host = ""
		req.Header.Del("Authorization")
		if c.auth != "" {
			req.Header.Set("Authorization", c.auth)
		} else if c.nodeAuth[i] != "" {
			req.Header.Set("Authorization", c.nodeAuth[i])
		}
		req.Header.Set("User-Agent", c.ua)
		res, err := c.hc.Do(req)
		if err != nil && tries < len(c.nodes) && refused(err) && req.Context().Err() == nil {
			if req.Body == nil || req.Body == http.NoBody {
				continue
			}
			if req.GetBody != nil {
				if body, berr := req.GetBody(); berr == nil {
					req.Body = body
					continue
				}
			}
		}
		if err != nil || c.product == "" || res.StatusCode < 200 || res.StatusCode > 299 || res.Header.Get("X-Elastic-Product") == c.product {
			return res, err
		}
		res.Body.Close()
		return nil, &NotProductError{URL: n.Redacted(), Product: c.product, Status: res.StatusCode}
	}
}

// refused reports whether err is a failure to connect: the request was not
// sent, so another node may take it.
func refused(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// NotProductError is a successful answer without the expected product
// header: something else than the product answers at that URL.
type NotProductError struct {
	URL, Product string
	Status       int
}

func (e *NotProductError) Error() string {
	return fmt.Sprintf("the server at %s is not %s: it answered %d without the header X-Elastic-Product: %s (a proxy or another service at that URL?)",
		e.URL, e.Product, e.Status, e.Product)
}

// URLs returns the nodes' URLs, for messages.
func (c *Client) URLs() []string {
	out := make([]string, len(c.nodes))
	for i, n := range c.nodes {
		out[i] = n.String()
	}
	return out
}
