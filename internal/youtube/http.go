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
	"net/url"
	"strings"
	"sync"
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
	// PageTimeout bounds every answer but media (pages, API answers,
	// images) from the request to the last byte of its body; zero means
	// DefaultPageTimeout.
	PageTimeout time.Duration
	// Proxy, when set, carries every request instead of the environment's
	// (HTTPS_PROXY): http, https or socks5.
	Proxy *url.URL
}

// DefaultPageTimeout is how long a page, API answer or image may take to
// arrive whole. The biggest, the watch page, is about 2 MB (a few hundred KB
// on the wire, compressed): even a slow link brings it in seconds.
const DefaultPageTimeout = 2 * time.Minute

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
// response headers); every answer but media must arrive whole within
// PageTimeout, because kkdai reads pages with io.ReadAll, and its first
// request (the home page) carries no context at all, so a server that
// trickles a byte a second would otherwise hold a job forever while its
// heartbeats say it is fine. Media bodies are bounded by the downloader's
// idle timeout and by the caller's context.
//
// Every request, redirects included, goes only to YouTube's hosts over
// HTTPS (AllowedHost), and at most maxRedirects redirects are followed.
func NewHTTPClient(opts HTTPOptions) *http.Client {
	return newClient(baseTransport(), opts)
}

// NewMediaClient is NewHTTPClient for the downloads of media streams: the
// same proxy, CAs, timeouts and host guard, over HTTP/1.1 only, keeping
// an idle connection for each chunk in flight.
//
// A download asks for several ranges of one stream at once. Over HTTP/2
// they share one TCP connection and one TLS stream, so one core decrypts
// them all, behind HTTP/2's framing and flow control; over HTTP/1.1 each
// range has its own connection, as yt-dlp's and aria2's parallel
// downloads do. `make bench` measured a 500 MB stream at 511 MB/s this
// way against 355 MB/s over HTTP/2, with less CPU on both ends.
func NewMediaClient(opts HTTPOptions) *http.Client {
	t := baseTransport()
	var p http.Protocols
	p.SetHTTP1(true)
	t.Protocols = &p
	// A clone of a transport that has already been used carries its
	// HTTP/2 set-up (ALPN "h2" in the TLS config, the upgrade hook), which
	// Protocols alone does not undo: the server would pick h2 and the
	// HTTP/1.1 client would read its frames as garbage.
	t.ForceAttemptHTTP2 = false
	t.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
	if t.TLSClientConfig != nil {
		t.TLSClientConfig = t.TLSClientConfig.Clone()
		t.TLSClientConfig.NextProtos = nil
	}
	t.MaxIdleConnsPerHost = mediaIdleConnsPerHost
	return newClient(t, opts)
}

// mediaIdleConnsPerHost is more than the chunks a download keeps in flight
// (download.DefaultParallel, or --download-parallel within reason), so
// that a finished chunk's connection carries the next instead of a new
// TLS handshake; http.DefaultTransport keeps 2.
const mediaIdleConnsPerHost = 16

func newClient(t *http.Transport, opts HTTPOptions) *http.Client {
	dialTimeout := orDuration(opts.DialTimeout, 10*time.Second)
	if opts.Proxy != nil {
		t.Proxy = http.ProxyURL(opts.Proxy)
	}
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
		t.DialContext = publicDialer(dialTimeout, opts.Proxy)
	}
	if opts.RootCAs != nil {
		if t.TLSClientConfig == nil {
			t.TLSClientConfig = &tls.Config{}
		}
		t.TLSClientConfig.RootCAs = opts.RootCAs
	}
	guard := hostGuard{next: t, pageTimeout: orDuration(opts.PageTimeout, DefaultPageTimeout)}
	return &http.Client{Transport: guard, CheckRedirect: checkRedirect}
}

// Clients hands out the HTTP clients of jobs, one pair (pages, media) per
// proxy, so that jobs on the same proxy share connections. It is safe for
// concurrent use.
type Clients struct {
	opts HTTPOptions
	mu   sync.Mutex
	by   map[string][2]*http.Client
}

// NewClients returns Clients built from opts (whose Proxy is ignored: each
// call of For names its own).
func NewClients(opts HTTPOptions) *Clients {
	return &Clients{opts: opts, by: map[string][2]*http.Client{}}
}

// For returns the page and media clients for proxy (nil: the worker's own
// route, HTTPS_PROXY or direct).
func (c *Clients) For(proxy *url.URL) (page, media *http.Client) {
	key := ""
	if proxy != nil {
		key = proxy.String()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if pair, ok := c.by[key]; ok {
		return pair[0], pair[1]
	}
	opts := c.opts
	opts.Proxy = proxy
	pair := [2]*http.Client{NewHTTPClient(opts), NewMediaClient(opts)}
	c.by[key] = pair
	return pair[0], pair[1]
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
// over plain HTTP, whether a YouTube answer named it or a redirect led there.
var ErrForeignHost = errors.New("refused: not an HTTPS URL of YouTube")

// foreignHostError is a refused request: errors.Is(err, ErrForeignHost).
// It names the scheme and host only, never a path or query, which may be
// signed.
type foreignHostError struct {
	target string // scheme://host
	from   string // the host whose redirect led there, or ""
}

func (e *foreignHostError) Error() string {
	if e.from != "" {
		return "redirect from " + e.from + ": " + ErrForeignHost.Error() + ": " + e.target
	}
	return ErrForeignHost.Error() + ": " + e.target
}

func (e *foreignHostError) Unwrap() error { return ErrForeignHost }

// checkURL refuses what the worker must not fetch.
func checkURL(u *url.URL) *foreignHostError {
	if u.Scheme != "https" || !AllowedHost(u.Host) {
		return &foreignHostError{target: truncateRunes(u.Scheme+"://"+u.Host, 200)}
	}
	return nil
}

// isMedia reports a request for a media stream (googlevideo.com), whose body
// may rightly take an hour.
func isMedia(u *url.URL) bool {
	return strings.HasSuffix(strings.ToLower(strings.TrimSuffix(u.Hostname(), ".")), ".googlevideo.com")
}

// hostGuard refuses requests that AllowedHost does not allow, whoever makes
// them (kkdai, the downloader, a redirect), and bounds every answer but
// media in size and time.
type hostGuard struct {
	next        http.RoundTripper
	pageTimeout time.Duration
}

func (g hostGuard) RoundTrip(req *http.Request) (*http.Response, error) {
	if err := checkURL(req.URL); err != nil {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, err
	}
	if isMedia(req.URL) {
		return g.next.RoundTrip(req)
	}
	// Pages, API answers and images are read whole (kkdai uses
	// io.ReadAll): bound them in size, so a hostile answer cannot fill
	// memory, and in time, so one that trickles cannot hold the job.
	what := req.URL.Host + req.URL.Path
	ctx, cancel := context.WithTimeoutCause(req.Context(), g.pageTimeout, errPageTimeout)
	resp, err := g.next.RoundTrip(req.WithContext(ctx))
	if err != nil {
		cancel()
		return nil, g.slow(ctx, what, err)
	}
	resp.Body = &pageBody{ReadCloser: resp.Body, left: MaxPageBytes, what: what, ctx: ctx, cancel: cancel, guard: g}
	return resp, nil
}

// slow replaces err by ErrSlowAnswer when the page timeout caused it.
func (g hostGuard) slow(ctx context.Context, what string, err error) error {
	if errors.Is(context.Cause(ctx), errPageTimeout) {
		return fmt.Errorf("%w: %s did not arrive whole within %s", ErrSlowAnswer, what, g.pageTimeout)
	}
	return err
}

// MaxPageBytes bounds every answer but media: YouTube's watch page, the
// biggest, is about 2 MB.
const MaxPageBytes = 32 << 20

// ErrTooLongAnswer is returned when an answer passes MaxPageBytes.
var ErrTooLongAnswer = errors.New("YouTube's answer is larger than expected")

// ErrSlowAnswer is returned when an answer other than media does not arrive
// whole within the page timeout (HTTPOptions.PageTimeout).
var ErrSlowAnswer = errors.New("YouTube's answer is too slow")

// errPageTimeout is the cause of a page's context that timed out.
var errPageTimeout = errors.New("page timeout")

// pageBody is the body of an answer other than media: at most MaxPageBytes,
// and gone when its deadline passes.
type pageBody struct {
	io.ReadCloser
	left   int64
	what   string // host and path, for errors
	ctx    context.Context
	cancel context.CancelFunc
	guard  hostGuard
}

func (b *pageBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		return 0, fmt.Errorf("%w: %s passed %d bytes", ErrTooLongAnswer, b.what, MaxPageBytes)
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.ReadCloser.Read(p)
	b.left -= int64(n)
	if err != nil && err != io.EOF {
		err = b.guard.slow(b.ctx, b.what, err)
	}
	return n, err
}

func (b *pageBody) Close() error {
	err := b.ReadCloser.Close()
	b.cancel()
	return err
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

// ErrTooManyRedirects is returned when a chain passes maxRedirects.
var ErrTooManyRedirects = errors.New("too many redirects")

// checkRedirect follows at most maxRedirects redirects, and none off
// YouTube's hosts or to plain HTTP. (hostGuard would refuse such a request
// too; refusing it here says that a redirect led there.)
func checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) >= maxRedirects {
		return fmt.Errorf("%w: stopped after %d", ErrTooManyRedirects, maxRedirects)
	}
	if err := checkURL(req.URL); err != nil {
		err.from = via[len(via)-1].URL.Host
		return err
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
