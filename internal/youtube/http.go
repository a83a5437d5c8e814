package youtube

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
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
	return &http.Client{Transport: hostGuard{t}, CheckRedirect: checkRedirect}
}

// AllowedHost reports whether the worker may send a request to host: only
// YouTube's own (www., m., music. and the bare domain), its media servers
// (*.googlevideo.com) and its image hosts (*.ytimg.com, *.ggpht.com). Every
// URL the worker fetches besides the first comes from YouTube's answers,
// which are untrusted: a forged answer must not make it reach an internal
// address such as a cloud metadata service.
func AllowedHost(host string) bool {
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	switch host {
	case "youtube.com", "www.youtube.com", "m.youtube.com", "music.youtube.com":
		return true
	}
	for _, suffix := range []string{".googlevideo.com", ".ytimg.com", ".ggpht.com"} {
		if strings.HasSuffix(host, suffix) {
			return true
		}
	}
	return false
}

// ErrForeignHost is returned for a request to a host AllowedHost refuses, or
// over plain HTTP.
var ErrForeignHost = errors.New("refused: not an HTTPS URL of YouTube")

// hostGuard refuses requests that AllowedHost does not allow, whoever makes
// them (kkdai, the downloader, a redirect).
type hostGuard struct{ next http.RoundTripper }

func (g hostGuard) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme != "https" || !AllowedHost(req.URL.Host) {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, fmt.Errorf("%w: %s://%s", ErrForeignHost, req.URL.Scheme, req.URL.Host)
	}
	resp, err := g.next.RoundTrip(req)
	if err == nil && !strings.HasSuffix(strings.ToLower(req.URL.Hostname()), ".googlevideo.com") {
		// Pages, API answers and images are read whole (kkdai uses
		// io.ReadAll): bound them, so a hostile answer cannot fill memory.
		resp.Body = &cappedBody{ReadCloser: resp.Body, left: MaxPageBytes, url: req.URL.Host + req.URL.Path}
	}
	return resp, err
}

// MaxPageBytes bounds every answer but media: YouTube's watch page, the
// biggest, is about 2 MB.
const MaxPageBytes = 32 << 20

// ErrTooLongAnswer is returned when an answer passes MaxPageBytes.
var ErrTooLongAnswer = errors.New("YouTube's answer is larger than expected")

type cappedBody struct {
	io.ReadCloser
	left int64
	url  string
}

func (b *cappedBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		return 0, fmt.Errorf("%w: %s passed %d bytes", ErrTooLongAnswer, b.url, MaxPageBytes)
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.ReadCloser.Read(p)
	b.left -= int64(n)
	return n, err
}

// Unwrap returns the transport underneath.
func (g hostGuard) Unwrap() http.RoundTripper { return g.next }

// CloseIdleConnections lets http.Client.CloseIdleConnections reach the
// transport.
func (g hostGuard) CloseIdleConnections() {
	if c, ok := g.next.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

// maxRedirects bounds redirect chains; googlevideo redirects once at most.
const maxRedirects = 5

func checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) >= maxRedirects {
		return fmt.Errorf("stopped after %d redirects", maxRedirects)
	}
	return nil
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
