package esclient

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"
)

// Retryable reports whether an answer's status means "not ready or too busy
// now, try again later": 429, 502, 503, 504.
func Retryable(status int) bool {
	switch status {
	case http.StatusServiceUnavailable, http.StatusTooManyRequests, http.StatusBadGateway, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// Permanent reports transport errors that waiting will not fix: TLS trust
// problems and HTTPS spoken to a plain HTTP server (or the other way round).
func Permanent(err error) bool {
	var unknownAuthority x509.UnknownAuthorityError
	var hostname x509.HostnameError
	var invalid x509.CertificateInvalidError
	return errors.As(err, &unknownAuthority) || errors.As(err, &hostname) || errors.As(err, &invalid) || notTLS(err)
}

// notTLS reports an https:// URL answered in plain HTTP.
func notTLS(err error) bool {
	var recordHeader tls.RecordHeaderError
	return errors.As(err, &recordHeader) || strings.Contains(err.Error(), "server gave HTTP response to HTTPS client")
}

// Hint says what a transport error probably means and what to change, for an
// operator; urlSetting names the option that holds the URL (such as
// "--elasticsearch-url / ELASTICSEARCH_URL").
func Hint(err error, urlSetting string) string {
	var dnsErr *net.DNSError
	var unknownAuthority x509.UnknownAuthorityError
	var hostname x509.HostnameError
	switch {
	case errors.As(err, &unknownAuthority):
		return "its TLS certificate is signed by an unknown CA: set --elasticsearch-ca-file (or --elasticsearch-insecure-skip-verify for a test setup)"
	case errors.As(err, &hostname):
		return "the certificate is not valid for that host name: use the name it was issued for in " + urlSetting
	case notTLS(err):
		return "the server does not speak TLS: use http:// in " + urlSetting
	case errors.Is(err, syscall.ECONNREFUSED):
		return "is it running, and listening on that port? set " + urlSetting
	case errors.As(err, &dnsErr):
		return "the host name does not resolve: is it spelled right? set " + urlSetting
	case isTimeout(err):
		return "no answer in time: is it overloaded, or is a firewall dropping packets? set " + urlSetting
	}
	return "is it running? set " + urlSetting
}

// Unwrap removes the *url.Error around a transport error: its method and URL
// are usually in the caller's message already.
func Unwrap(err error) error {
	if ue, ok := err.(*url.Error); ok {
		return ue.Err
	}
	return err
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
