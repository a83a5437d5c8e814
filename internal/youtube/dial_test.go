package youtube

import (
	"context"
	"errors"
	"net/netip"
	"testing"
	"time"

	"golang.org/x/net/http/httpproxy"

	"ytx.dev/ytx/internal/youtube/fake"
)

func TestInternalAddresses(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1": true, "10.1.2.3": true, "172.16.0.1": true, "192.168.1.1": true,
		"169.254.169.254": true, // cloud metadata
		"100.64.0.1":      true, "0.0.0.0": true, "::1": true, "fd00::1": true, "fe80::1": true,
		"::ffff:127.0.0.1": true, "::ffff:10.0.0.1": true, "224.0.0.1": true,
		"142.250.74.78": false, "8.8.8.8": false, "2607:f8b0:4004:c07::5d": false, "100.128.0.1": false,
	} {
		if got := internal(netip.MustParseAddr(addr)); got != want {
			t.Errorf("internal(%s) = %v, want %v", addr, got, want)
		}
	}
}

// listen is an address inside the network that counts what reaches it.
func listen(t *testing.T) *fake.Internal {
	t.Helper()
	l, err := fake.ListenInternal()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// What a YouTube name resolved to is dialled only if it is public: the
// dialer is what stands between a hostile DNS answer and the metadata
// service.
func TestPublicDialerRefusesInternalAddresses(t *testing.T) {
	internal := listen(t)
	addr := internal.Addr
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := publicDialer(time.Second)(ctx, "tcp", addr)
	if err == nil {
		c.Close()
		t.Fatalf("dialled %s", addr)
	}
	if !errors.Is(err, ErrInternalAddress) || !errors.Is(err, ErrForeignHost) {
		t.Errorf("error %v, want ErrInternalAddress (an ErrForeignHost)", err)
	}
	time.Sleep(50 * time.Millisecond)
	if n := internal.Conns(); n != 0 {
		t.Errorf("the internal address saw %d connections", n)
	}
}

// The proxies the environment names are inside the network, and dialled.
func TestPublicDialerReachesTheProxy(t *testing.T) {
	internal := listen(t)
	addr := internal.Addr
	t.Setenv("HTTPS_PROXY", addr)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := publicDialer(time.Second)(ctx, "tcp", addr)
	if err != nil {
		t.Fatalf("dialling the proxy %s: %v", addr, err)
	}
	c.Close()
	for deadline := time.Now().Add(5 * time.Second); internal.Conns() == 0 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	if internal.Conns() != 1 {
		t.Errorf("the proxy saw %d connections, want 1", internal.Conns())
	}
}

func TestProxyAddrs(t *testing.T) {
	got := proxyAddrs(&httpproxy.Config{HTTPProxy: "proxy.corp:3128", HTTPSProxy: "https://secure.corp"})
	for _, want := range []string{"proxy.corp:3128", "secure.corp:443"} {
		if !got[want] {
			t.Errorf("proxyAddrs = %v, want %s in it", got, want)
		}
	}
	if got := proxyAddrs(&httpproxy.Config{HTTPSProxy: "http://10.0.0.1"}); !got["10.0.0.1:80"] {
		t.Errorf("proxyAddrs = %v, want 10.0.0.1:80", got)
	}
}
