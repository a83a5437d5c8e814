package fake

import (
	"encoding/base64"
	"io"
	"log"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// ProxyURL is the fake's HTTP proxy, for a process that cannot be handed
// DialContext: run it with HTTPS_PROXY=<ProxyURL> and SSL_CERT_FILE=<a file
// written by WriteCAFile>. It tunnels `CONNECT host:port` for YouTube's hosts
// into the fake's TLS server, and serves absolute-URI plain-HTTP requests
// itself. Nil before Start.
func (s *Server) ProxyURL() *url.URL {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proxyLn == nil {
		return nil
	}
	return &url.URL{Scheme: "http", Host: s.proxyLn.Addr().String()}
}

// Proxy is one of the fake's CONNECT proxies: the main one (ProxyURL),
// or one added by AddProxy. It counts the tunnels it opened.
type Proxy struct {
	URL *url.URL // with the credentials it wants, if any
	// auth is the Proxy-Authorization it wants, "" for none.
	auth    string
	tunnels atomic.Int64
	refused atomic.Int64
}

// Tunnels is the number of CONNECT tunnels the proxy opened.
func (p *Proxy) Tunnels() int64 { return p.tunnels.Load() }

// Refused is the number of requests it refused for lack of credentials.
func (p *Proxy) Refused() int64 { return p.refused.Load() }

// MainProxy is the proxy at ProxyURL, for its counters.
func (s *Server) MainProxy() *Proxy {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mainProxy
}

// AddProxy starts another CONNECT proxy to the fake, on a port of its own,
// with counters of its own: tests that spread jobs over proxies tell them
// apart. With a user, it answers 407 to requests without that user and
// password (its URL carries them).
func (s *Server) AddProxy(user, password string) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Proxy{URL: &url.URL{Scheme: "http", Host: ln.Addr().String()}}
	if user != "" {
		p.URL.User = url.UserPassword(user, password)
		p.auth = "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+password))
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.serveProxy(ln, p)
	}()
	go func() {
		<-s.closed
		ln.Close()
	}()
	return p, nil
}

// serveProxy runs until ln is closed.
func (s *Server) serveProxy(ln net.Listener, p *Proxy) {
	srv := &http.Server{
		Handler:           http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { s.serveProxyRequest(w, r, p) }),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          log.New(io.Discard, "", 0),
	}
	go func() {
		<-s.closed
		srv.Close()
	}()
	srv.Serve(ln) //nolint:errcheck // ends when the listener closes
}

func (s *Server) serveProxyRequest(w http.ResponseWriter, r *http.Request, p *Proxy) {
	if p.auth != "" && r.Header.Get("Proxy-Authorization") != p.auth {
		p.refused.Add(1)
		w.Header().Set("Proxy-Authenticate", `Basic realm="fake"`)
		http.Error(w, "proxy credentials wanted", http.StatusProxyAuthRequired)
		return
	}
	if r.Method != http.MethodConnect && r.URL.Host == "" {
		http.Error(w, "this is a proxy: send CONNECT or an absolute URI", http.StatusBadRequest)
		return
	}
	host, _, err := net.SplitHostPort(r.Host)
	if err != nil {
		host = r.Host
	}
	if !covers(host) {
		// Refusing beats forwarding: a process with HTTPS_PROXY pointed here
		// that reaches for another host is misconfigured (NO_PROXY), and
		// this says so instead of leaking traffic.
		http.Error(w, "the fake YouTube proxy only serves YouTube's hosts; add "+host+" to NO_PROXY", http.StatusForbidden)
		return
	}
	if r.Method != http.MethodConnect {
		s.Handler().ServeHTTP(w, r) // plain http://www.youtube.com/...
		return
	}
	upstream, err := s.DialContext(r.Context(), "tcp", r.Host)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	hj, ok := w.(http.Hijacker)
	if !ok {
		upstream.Close()
		http.Error(w, "cannot tunnel over this connection", http.StatusInternalServerError)
		return
	}
	client, buf, err := hj.Hijack()
	if err != nil {
		upstream.Close()
		return
	}
	if !s.track(client, upstream) {
		client.Close()
		upstream.Close()
		return
	}
	p.tunnels.Add(1)
	if _, err := client.Write([]byte("HTTP/1.1 200 Connection established\r\n\r\n")); err != nil {
		s.untrack(client, upstream)
		return
	}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		// buf may already hold the start of the TLS handshake.
		io.Copy(upstream, buf) //nolint:errcheck
		closeWrite(upstream)
	}()
	go func() {
		defer wg.Done()
		io.Copy(client, upstream) //nolint:errcheck
		closeWrite(client)
	}()
	wg.Wait()
	s.untrack(client, upstream)
}

func closeWrite(c net.Conn) {
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite() //nolint:errcheck
		return
	}
	c.Close()
}

// track registers tunnel connections so that Close ends them; it reports
// false if the server is already closing.
func (s *Server) track(conns ...net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	select {
	case <-s.closed:
		return false
	default:
	}
	for _, c := range conns {
		s.tunnels[c] = struct{}{}
	}
	return true
}

func (s *Server) untrack(conns ...net.Conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range conns {
		c.Close()
		delete(s.tunnels, c)
	}
}

// covers reports whether the certificate names host.
func covers(host string) bool {
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	if ip := net.ParseIP(host); ip != nil {
		return ip.IsLoopback()
	}
	for _, name := range hosts {
		if name == host {
			return true
		}
		if suffix, ok := strings.CutPrefix(name, "*"); ok {
			if label, ok := strings.CutSuffix(host, suffix); ok && label != "" && !strings.Contains(label, ".") {
				return true
			}
		}
	}
	return false
}
