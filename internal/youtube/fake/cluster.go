package fake

import (
	"context"
	"net"
	"strings"
	"sync/atomic"
)

// Internal stands for an address inside a cluster that a worker can reach
// and must not (a cloud metadata service, the API server, a database): a
// loopback listener that counts the connections it is offered, for tests
// that forge YouTube's answers to point there.
type Internal struct {
	// Addr is host:port, to put in forged URLs.
	Addr  string
	ln    net.Listener
	conns atomic.Int64
}

// ListenInternal starts an Internal on a free loopback port.
func ListenInternal() (*Internal, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	l := &Internal{Addr: ln.Addr().String(), ln: ln}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			l.conns.Add(1)
			c.Close()
		}
	}()
	return l, nil
}

// Conns is how many connections reached the address so far.
func (l *Internal) Conns() int64 { return l.conns.Load() }

// Close stops listening.
func (l *Internal) Close() error { return l.ln.Close() }

// ClusterDial dials like a pod would: YouTube's names lead to this fake,
// names under evil.example (an attacker's DNS) to internal, and anything
// else is dialled as it is, 127.0.0.1:port included. Unlike DialContext,
// which lands every connection on the fake, it lets a request that the
// worker should not make reach its target.
func (s *Server) ClusterDial(internal *Internal) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		host, _, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, err
		}
		host = strings.ToLower(host)
		for _, domain := range []string{"youtube.com", "googlevideo.com", "ytimg.com", "ggpht.com"} {
			if host == domain || strings.HasSuffix(host, "."+domain) {
				return s.DialContext(ctx, network, addr)
			}
		}
		if host == "evil.example" || strings.HasSuffix(host, ".evil.example") {
			addr = internal.Addr
		}
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}
}
