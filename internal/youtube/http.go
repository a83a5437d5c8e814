package youtube

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/http"
	"time"
)

// HTTPOptions tunes the HTTP client that reaches YouTube. The zero value is
// right for production.
type HTTPOptions struct {
	// DialContext replaces the dialer, e.g. with fake.Server.DialContext so
	// that requests to YouTube's hosts land on a fake in tests.
	DialContext func(ctx context.Context, network, addr string) (net.Conn, error)
	// RootCAs replaces the system roots (which honour SSL_CERT_FILE and
	// SSL_CERT_DIR) for verifying servers, e.g. with fake.Server.CertPool.
	RootCAs *x509.CertPool

	// Timeouts of the connection phases; zero means the default below.
	DialTimeout           time.Duration // 10s
	TLSHandshakeTimeout   time.Duration // 10s
	ResponseHeaderTimeout time.Duration // 30s
}

// NewHTTPClient returns a client for kkdai/youtube and for downloads.
//
// It starts from a clone of http.DefaultTransport, so everything operators
// expect of a Go program stays true: HTTPS_PROXY, HTTP_PROXY and NO_PROXY
// (Proxy: http.ProxyFromEnvironment), SSL_CERT_FILE, HTTP/2 and connection
// pooling. Only timeouts and the two test hooks change.
//
// The client has no overall Timeout on purpose: http.Client.Timeout bounds
// the whole exchange including reading the body, and a download of a long
// video on a slow link may rightly take an hour. Each phase that can hang
// without progress has its own bound here (dial, TLS handshake, waiting for
// response headers), and callers bound the whole operation with their
// context, which they can tie to the job's heartbeat.
func NewHTTPClient(opts HTTPOptions) *http.Client {
	t := baseTransport()
	dialTimeout := orDuration(opts.DialTimeout, 10*time.Second)
	t.TLSHandshakeTimeout = orDuration(opts.TLSHandshakeTimeout, 10*time.Second)
	t.ResponseHeaderTimeout = orDuration(opts.ResponseHeaderTimeout, 30*time.Second)
	if opts.DialContext != nil {
		dial := opts.DialContext
		t.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
			ctx, cancel := context.WithTimeout(ctx, dialTimeout)
			defer cancel()
			return dial(ctx, network, addr)
		}
	} else {
		t.DialContext = (&net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second}).DialContext
	}
	if opts.RootCAs != nil {
		if t.TLSClientConfig == nil {
			t.TLSClientConfig = &tls.Config{}
		}
		t.TLSClientConfig.RootCAs = opts.RootCAs
	}
	return &http.Client{Transport: t}
}

// baseTransport clones the default transport. Should a program have replaced
// http.DefaultTransport with something else, it rebuilds the same defaults,
// proxy from the environment included.
func baseTransport() *http.Transport {
	if t, ok := http.DefaultTransport.(*http.Transport); ok {
		return t.Clone()
	}
	return &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          100,
		IdleConnTimeout:       90 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
}

func orDuration(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}
