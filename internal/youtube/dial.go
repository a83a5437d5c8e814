package youtube

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"syscall"
	"time"

	"golang.org/x/net/http/httpproxy"
)

// publicDialer dials only public addresses, except the proxies that the
// environment names (HTTPS_PROXY, HTTP_PROXY) and extra (the job's
// --proxy), which are rightly inside the network.
//
// The host guard allows only YouTube's names, but a name is what DNS says
// it is: a poisoned or hostile resolver could point www.youtube.com at a
// cloud metadata service or the API server. So the dialer checks the
// address it is about to connect to, after resolution (net.Dialer's
// Control sees the IP, for every address the resolver returned). Through
// a proxy, the proxy resolves and connects, and its own policy applies.
func publicDialer(timeout time.Duration, extra ...*url.URL) func(ctx context.Context, network, addr string) (net.Conn, error) {
	plain := &net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second}
	public := &net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second, Control: refuseInternal}
	proxies := proxyAddrs(httpproxy.FromEnvironment())
	for _, p := range extra {
		if p != nil {
			for a := range proxyAddrs(&httpproxy.Config{HTTPSProxy: p.String()}) {
				proxies[a] = true
			}
		}
	}
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		if proxies[addr] {
			return plain.DialContext(ctx, network, addr)
		}
		return public.DialContext(ctx, network, addr)
	}
}

// refuseInternal is a net.Dialer Control: it refuses a connection to an
// address that is not on the public internet.
func refuseInternal(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: cannot tell whether %s is public", ErrInternalAddress, address)
	}
	if internal(ap.Addr()) {
		return fmt.Errorf("%w: %s", ErrInternalAddress, ap.Addr())
	}
	return nil
}

// ErrInternalAddress is a YouTube name that resolved to an address inside
// the network (loopback, private, link-local, shared, ...). It is also an
// ErrForeignHost: the request is refused and not retried.
var ErrInternalAddress error = internalAddressError{}

type internalAddressError struct{}

func (internalAddressError) Error() string {
	return "refused: a YouTube name resolved to an address inside the network"
}

func (internalAddressError) Is(target error) bool { return target == ErrForeignHost }

// cgnat is RFC 6598's shared address space, which netip does not class as
// private but which is inside carriers' and some clouds' networks.
var cgnat = netip.MustParsePrefix("100.64.0.0/10")

func internal(a netip.Addr) bool {
	a = a.Unmap()
	return a.IsLoopback() || a.IsPrivate() || a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast() ||
		a.IsInterfaceLocalMulticast() || a.IsMulticast() || a.IsUnspecified() || cgnat.Contains(a)
}

// proxyAddrs are the host:port that http.Transport dials for the proxies
// of cfg, as it writes them (the scheme's port when none is given).
func proxyAddrs(cfg *httpproxy.Config) map[string]bool {
	out := map[string]bool{}
	for _, p := range []string{cfg.HTTPProxy, cfg.HTTPSProxy} {
		if p == "" {
			continue
		}
		u, err := url.Parse(p)
		if err != nil || u.Host == "" {
			// As net/http reads it: a bare host:port is an http:// proxy.
			if u, err = url.Parse("http://" + p); err != nil {
				continue
			}
		}
		port := u.Port()
		if port == "" {
			port = map[string]string{"http": "80", "https": "443", "socks5": "1080", "socks5h": "1080"}[u.Scheme]
		}
		out[net.JoinHostPort(u.Hostname(), port)] = true
	}
	return out
}
