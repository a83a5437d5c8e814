package youtube_test

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"testing"
	"time"

	"ytx.dev/ytx/internal/youtube"
	"ytx.dev/ytx/internal/youtube/fake"
)

// connect sends CONNECT target through the egress route and returns the
// status line's code and the connection.
func connect(t *testing.T, route *url.URL, target string, withToken bool) (int, net.Conn) {
	t.Helper()
	c, err := net.DialTimeout("tcp", route.Host, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	req := &http.Request{Method: http.MethodConnect, URL: &url.URL{Opaque: target}, Host: target, Header: http.Header{}}
	if withToken {
		pw, _ := route.User.Password()
		req.SetBasicAuth(route.User.Username(), pw)
		req.Header.Set("Proxy-Authorization", req.Header.Get("Authorization"))
		req.Header.Del("Authorization")
	}
	if err := req.Write(c); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), req)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, c
}

// The egress proxy lets yt-dlp reach YouTube's hosts on 443 only, with a
// route's token, and counts both.
func TestEgressAdmitsOnlyYouTubeOn443WithARoute(t *testing.T) {
	srv, _ := startFake(t)
	internal, err := fake.ListenInternal()
	if err != nil {
		t.Fatal(err)
	}
	defer internal.Close()
	e, err := youtube.StartEgress(youtube.HTTPOptions{DialContext: srv.DialContext, RootCAs: srv.CertPool()})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	route, release := e.Route(nil)
	for _, tc := range []struct {
		target    string
		withToken bool
		want      int
	}{
		{"www.youtube.com:443", true, http.StatusOK},
		{"rr3---sn-fake.googlevideo.com:443", true, http.StatusOK},
		{"www.youtube.com:443", false, http.StatusForbidden},
		{"www.youtube.com:80", true, http.StatusForbidden},
		{"evil.example:443", true, http.StatusForbidden},
		{internal.Addr, true, http.StatusForbidden},
		{"169.254.169.254:443", true, http.StatusForbidden},
	} {
		if code, _ := connect(t, route, tc.target, tc.withToken); code != tc.want {
			t.Errorf("CONNECT %s (token %v): %d, want %d", tc.target, tc.withToken, code, tc.want)
		}
	}
	if e.Accepted() != 2 || e.Refused() != 5 {
		t.Errorf("accepted %d refused %d, want 2 and 5", e.Accepted(), e.Refused())
	}
	if internal.Conns() != 0 {
		t.Errorf("the internal address saw %d connections", internal.Conns())
	}
	release()
	if code, _ := connect(t, route, "www.youtube.com:443", true); code != http.StatusForbidden {
		t.Errorf("a released route still works: %d", code)
	}
}

// A tunnel works end to end: TLS to the fake's YouTube through it.
func TestEgressTunnelsThroughTheJobsProxy(t *testing.T) {
	srv, _ := startFake(t)
	p, err := srv.AddProxy("u", "p")
	if err != nil {
		t.Fatal(err)
	}
	// No DialContext: without the job's proxy the egress could not reach
	// the fake.
	e, err := youtube.StartEgress(youtube.HTTPOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	route, release := e.Route(p.URL)
	defer release()
	code, c := connect(t, route, "www.youtube.com:443", true)
	if code != http.StatusOK {
		t.Fatalf("CONNECT: %d", code)
	}
	tc := tls.Client(c, &tls.Config{ServerName: "www.youtube.com", RootCAs: srv.CertPool()})
	fmt.Fprintf(tc, "GET / HTTP/1.1\r\nHost: www.youtube.com\r\nConnection: close\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(tc), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || p.Tunnels() != 1 {
		t.Errorf("home page %d through %d tunnels of the job's proxy", resp.StatusCode, p.Tunnels())
	}
}
