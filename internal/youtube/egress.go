package youtube

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/http/httpproxy"
	"golang.org/x/net/proxy"
)

// Egress is an HTTP CONNECT proxy on loopback through which a subprocess
// (yt-dlp) reaches YouTube, so that its requests obey what ytx's own client
// obeys: only YouTube's hosts (AllowedHost), on port 443, never an address
// inside the network (the same dialer), and through the proxy that its job
// was given.
//
// Each job gets a route: a proxy URL with a token of its own as the
// password, which the Egress maps to the job's upstream proxy (or none). A
// connection without a known token is refused, so other programs on the
// machine cannot use it.
type Egress struct {
	ln   net.Listener
	dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// env is the worker's own proxy from the environment (HTTPS_PROXY),
	// for routes without a proxy of their own.
	env func(*url.URL) (*url.URL, error)

	mu     sync.Mutex
	routes map[string]*url.URL // token → upstream (nil: direct or env)
	conns  map[net.Conn]struct{}

	accepted, refused atomic.Int64
	wg                sync.WaitGroup
}

// StartEgress listens on 127.0.0.1 and serves until Close. opts gives the
// dialer (opts.DialContext in tests, else the public-only dialer).
func StartEgress(opts HTTPOptions) (*Egress, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("the proxy for yt-dlp cannot listen on loopback: %w", err)
	}
	timeout := orDuration(opts.DialTimeout, 10*time.Second)
	e := &Egress{
		ln:     ln,
		dial:   publicDialer(timeout),
		env:    httpproxy.FromEnvironment().ProxyFunc(),
		routes: map[string]*url.URL{},
		conns:  map[net.Conn]struct{}{},
	}
	if opts.DialContext != nil {
		d := opts.DialContext
		e.dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
			ctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			return d(ctx, network, addr)
		}
	}
	e.wg.Add(1)
	go e.serve()
	return e, nil
}

// Route returns the proxy URL a job's subprocess uses, and a release to
// call when the job ends. upstream is the job's proxy (nil: the worker's
// own route).
func (e *Egress) Route(upstream *url.URL) (*url.URL, func()) {
	b := make([]byte, 16)
	rand.Read(b) //nolint:errcheck // crypto/rand does not fail on supported platforms
	token := hex.EncodeToString(b)
	e.mu.Lock()
	e.routes[token] = upstream
	e.mu.Unlock()
	u := &url.URL{Scheme: "http", User: url.UserPassword("ytx", token), Host: e.ln.Addr().String()}
	return u, func() {
		e.mu.Lock()
		delete(e.routes, token)
		e.mu.Unlock()
	}
}

// Accepted and Refused count the tunnels opened and the requests refused
// (another host, another port, no route, plain HTTP).
func (e *Egress) Accepted() int64 { return e.accepted.Load() }
func (e *Egress) Refused() int64  { return e.refused.Load() }

// Close stops listening and ends open tunnels.
func (e *Egress) Close() error {
	err := e.ln.Close()
	e.mu.Lock()
	for c := range e.conns {
		c.Close()
	}
	e.mu.Unlock()
	e.wg.Wait()
	return err
}

func (e *Egress) serve() {
	defer e.wg.Done()
	for {
		c, err := e.ln.Accept()
		if err != nil {
			return
		}
		e.wg.Add(1)
		go func() {
			defer e.wg.Done()
			e.handle(c)
		}()
	}
}

func (e *Egress) track(c net.Conn, on bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if on {
		e.conns[c] = struct{}{}
	} else {
		delete(e.conns, c)
	}
}

// handle serves one client connection: one CONNECT, then the tunnel.
func (e *Egress) handle(c net.Conn) {
	e.track(c, true)
	defer e.track(c, false)
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(30 * time.Second)) //nolint:errcheck
	br := bufio.NewReader(c)
	req, err := http.ReadRequest(br)
	if err != nil {
		return
	}
	c.SetReadDeadline(time.Time{}) //nolint:errcheck
	upstream, why := e.admit(req)
	if why != "" {
		e.refused.Add(1)
		refuse(c, http.StatusForbidden, why)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	remote, err := e.connect(ctx, upstream, req.Host)
	cancel()
	if err != nil {
		e.refused.Add(1)
		refuse(c, http.StatusBadGateway, RedactText(err.Error()))
		return
	}
	defer remote.Close()
	e.accepted.Add(1)
	e.track(remote, true)
	defer e.track(remote, false)
	io.WriteString(c, "HTTP/1.1 200 Connection established\r\n\r\n") //nolint:errcheck
	done := make(chan struct{}, 2)
	go func() { pipe(remote, br); done <- struct{}{} }()
	go func() { pipe(c, remote); done <- struct{}{} }()
	<-done
}

// admit checks a request: a CONNECT to one of YouTube's hosts on 443, by a
// route this Egress handed out. It returns the route's upstream, or why not.
func (e *Egress) admit(req *http.Request) (*url.URL, string) {
	if req.Method != http.MethodConnect {
		return nil, "only CONNECT to YouTube over HTTPS"
	}
	host, port, err := net.SplitHostPort(req.Host)
	if err != nil || port != "443" || !AllowedHost(host) {
		return nil, "not one of YouTube's hosts on port 443: " + truncateRunes(req.Host, 100)
	}
	token := proxyToken(req.Header.Get("Proxy-Authorization"))
	e.mu.Lock()
	upstream, ok := e.routes[token]
	e.mu.Unlock()
	if !ok {
		return nil, "no such route"
	}
	return upstream, ""
}

// proxyToken reads the password of a Basic Proxy-Authorization: the
// route's token.
func proxyToken(h string) string {
	scheme, creds, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Basic") {
		return ""
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(creds))
	if err != nil {
		return ""
	}
	_, pw, _ := strings.Cut(string(raw), ":")
	return pw
}

// connect opens a connection to hostport: through the route's upstream
// proxy, else through the worker's own proxy (HTTPS_PROXY), else directly
// with the dialer that refuses internal addresses.
func (e *Egress) connect(ctx context.Context, upstream *url.URL, hostport string) (net.Conn, error) {
	if upstream == nil {
		u, err := e.env(&url.URL{Scheme: "https", Host: hostport})
		if err != nil {
			return nil, err
		}
		if u == nil {
			return e.dial(ctx, "tcp", hostport)
		}
		upstream = u
	}
	return DialThrough(ctx, upstream, hostport, (&net.Dialer{Timeout: 10 * time.Second}).DialContext)
}

// DialThrough opens a tunnel to hostport through the proxy p: HTTP CONNECT
// for http and https proxies (https: TLS to the proxy first), SOCKS5 for
// socks5 and socks5h. Credentials come from p's user info.
func DialThrough(ctx context.Context, p *url.URL, hostport string, dial func(ctx context.Context, network, addr string) (net.Conn, error)) (net.Conn, error) {
	addr := p.Host
	if p.Port() == "" {
		addr = net.JoinHostPort(p.Hostname(), map[string]string{"http": "80", "https": "443", "socks5": "1080", "socks5h": "1080"}[p.Scheme])
	}
	switch p.Scheme {
	case "socks5", "socks5h":
		var auth *proxy.Auth
		if p.User != nil {
			pw, _ := p.User.Password()
			auth = &proxy.Auth{User: p.User.Username(), Password: pw}
		}
		d, err := proxy.SOCKS5("tcp", addr, auth, contextDialer(dial))
		if err != nil {
			return nil, err
		}
		return d.(proxy.ContextDialer).DialContext(ctx, "tcp", hostport)
	case "http", "https":
	default:
		return nil, fmt.Errorf("proxy scheme %q: must be http, https or socks5", p.Scheme)
	}
	c, err := dial(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("proxy %s: %w", p.Host, err)
	}
	if p.Scheme == "https" {
		tc := tls.Client(c, &tls.Config{ServerName: p.Hostname(), MinVersion: tls.VersionTLS12})
		if err := tc.HandshakeContext(ctx); err != nil {
			c.Close()
			return nil, fmt.Errorf("proxy %s: %w", p.Host, err)
		}
		c = tc
	}
	if dl, ok := ctx.Deadline(); ok {
		c.SetDeadline(dl) //nolint:errcheck
	}
	req := &http.Request{Method: http.MethodConnect, URL: &url.URL{Opaque: hostport}, Host: hostport, Header: http.Header{}}
	if p.User != nil {
		pw, _ := p.User.Password()
		req.Header.Set("Proxy-Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(p.User.Username()+":"+pw)))
	}
	br := bufio.NewReader(c)
	if err := req.Write(c); err != nil {
		c.Close()
		return nil, fmt.Errorf("proxy %s: %w", p.Host, err)
	}
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("proxy %s: %w", p.Host, err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		c.Close()
		return nil, fmt.Errorf("proxy %s refused the tunnel to %s: %s", p.Host, hostport, resp.Status)
	}
	c.SetDeadline(time.Time{}) //nolint:errcheck
	if br.Buffered() > 0 {
		return nil, errors.New("proxy " + p.Host + " sent data before the tunnel opened")
	}
	return c, nil
}

type contextDialer func(ctx context.Context, network, addr string) (net.Conn, error)

func (d contextDialer) Dial(network, addr string) (net.Conn, error) {
	return d(context.Background(), network, addr)
}

func (d contextDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	return d(ctx, network, addr)
}

// pipe copies until either side ends, then closes the writing side.
func pipe(dst net.Conn, src io.Reader) {
	io.Copy(dst, src) //nolint:errcheck // the tunnel ends either way
	if tc, ok := dst.(interface{ CloseWrite() error }); ok {
		tc.CloseWrite() //nolint:errcheck
	} else {
		dst.Close()
	}
}

func refuse(c net.Conn, code int, why string) {
	fmt.Fprintf(c, "HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s", code, http.StatusText(code), len(why), why)
}
