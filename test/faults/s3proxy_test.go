package faults

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync"
	"testing"
	"time"
)

// s3Proxy stands between the workers and the S3 server, as the network
// does: it passes every request through unchanged (the Host header too,
// which the request's signature covers), except those a hold catches, which
// it keeps until the hold is released. A held request is read whole first
// and sent on after the release even if its client gave up meanwhile: the
// bytes were already on their way, as in a network that delays them.
type s3Proxy struct {
	t     *testing.T
	addr  string
	proxy *httputil.ReverseProxy

	mu    sync.Mutex
	holds []*hold
}

// hold catches the requests that match until it is released.
type hold struct {
	match    func(*http.Request) bool
	caught   chan struct{} // closed at the first request caught
	released chan struct{}
	once     sync.Once

	mu        sync.Mutex
	held      int
	forwarded []int // the S3 server's status for each held request sent on
}

func startS3Proxy(t *testing.T, s3Endpoint string) *s3Proxy {
	t.Helper()
	target := &url.URL{Scheme: "http", Host: s3Endpoint}
	p := &s3Proxy{t: t}
	p.proxy = &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(target)
			r.Out.Host = r.In.Host // signed by the client
		},
		ErrorLog: nil,
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.addr = l.Addr().String()
	srv := &http.Server{Handler: p, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(l) //nolint:errcheck // ends with Close
	t.Cleanup(func() {
		p.mu.Lock()
		for _, h := range p.holds {
			h.release()
		}
		p.mu.Unlock()
		srv.Close()
	})
	return p
}

// url is the --storage URL u (one of the S3 server's) through the proxy.
func (p *s3Proxy) url(u string) string {
	parsed, err := url.Parse(u)
	if err != nil {
		p.t.Fatal(err)
	}
	q := parsed.Query()
	q.Set("endpoint", p.addr)
	parsed.RawQuery = q.Encode()
	return parsed.String()
}

// hold starts catching the requests that match.
func (p *s3Proxy) hold(match func(*http.Request) bool) *hold {
	h := &hold{match: match, caught: make(chan struct{}), released: make(chan struct{})}
	p.mu.Lock()
	p.holds = append(p.holds, h)
	p.mu.Unlock()
	return h
}

func (p *s3Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	var h *hold
	for _, c := range p.holds {
		if !c.isReleased() && c.match(r) {
			h = c
			break
		}
	}
	p.mu.Unlock()
	if h == nil {
		p.proxy.ServeHTTP(w, r)
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return // the client went before it sent everything: nothing to delay
	}
	h.catch()
	<-h.released
	out := r.Clone(context.WithoutCancel(r.Context()))
	out.Body = io.NopCloser(bytes.NewReader(body))
	rec := &statusWriter{ResponseWriter: w}
	p.proxy.ServeHTTP(rec, out)
	h.mu.Lock()
	h.forwarded = append(h.forwarded, rec.status)
	h.mu.Unlock()
}

func (h *hold) catch() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.held == 0 {
		close(h.caught)
	}
	h.held++
}

func (h *hold) isReleased() bool {
	select {
	case <-h.released:
		return true
	default:
		return false
	}
}

// release sends on what the hold caught, and lets later requests pass.
func (h *hold) release() { h.once.Do(func() { close(h.released) }) }

// waitCaught waits until a request was caught.
func (h *hold) waitCaught(limit time.Duration) bool {
	select {
	case <-h.caught:
		return true
	case <-time.After(limit):
		return false
	}
}

// sent returns how many requests the hold caught and the S3 server's
// status for each that was sent on so far.
func (h *hold) sent() (held int, statuses []int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.held, append([]int(nil), h.forwarded...)
}

// statusWriter records the status the S3 server answered with, whether or
// not the client is still there to read it.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}
