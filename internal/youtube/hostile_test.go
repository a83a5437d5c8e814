package youtube_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	kkdai "github.com/kkdai/youtube/v2"

	"ytx.dev/ytx/api/v1alpha1"
	"ytx.dev/ytx/internal/youtube"
	"ytx.dev/ytx/internal/youtube/fake"
)

func listenInternal(t *testing.T) *fake.Internal {
	t.Helper()
	l, err := fake.ListenInternal()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// routedClient is NewHTTPClient on a network like a cluster's
// (fake.Server.ClusterDial): it would reach the internal listener if the
// client let a request through.
func routedClient(t *testing.T, srv *fake.Server, internal *fake.Internal, opts youtube.HTTPOptions) *http.Client {
	t.Helper()
	opts.RootCAs = srv.CertPool()
	opts.DialContext = srv.ClusterDial(internal)
	hc := youtube.NewHTTPClient(opts)
	t.Cleanup(hc.CloseIdleConnections)
	return hc
}

// The routed client does reach what it is pointed at: without the guard's
// refusal, the tests below would see connections.
func TestRoutedClientReachesTheInternalListener(t *testing.T) {
	srv, _ := startFake(t)
	internal := listenInternal(t)
	hc := routedClient(t, srv, internal, youtube.HTTPOptions{})
	tr := hc.Transport.(interface{ Unwrap() http.RoundTripper }).Unwrap()
	req, _ := http.NewRequest(http.MethodGet, "https://metadata.evil.example/", nil)
	if resp, err := tr.RoundTrip(req); err == nil {
		resp.Body.Close()
	}
	for deadline := time.Now().Add(5 * time.Second); internal.Conns() == 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the unguarded transport did not reach the internal listener: the tests below prove nothing")
		}
	}
}

func TestRedirectOffYouTubeIsRefused(t *testing.T) {
	srv, _ := startFake(t)
	internal := listenInternal(t)
	hc := routedClient(t, srv, internal, youtube.HTTPOptions{})
	thumb := "https://i.ytimg.com/vi/" + fake.RickrollID + "/hqdefault.jpg"
	for _, to := range []string{
		"https://" + internal.Addr + "/latest/meta-data/",
		"http://" + internal.Addr + "/latest/meta-data/",
		"https://metadata.evil.example/computeMetadata/v1/",
		"https://www.youtube.com.evil.example/",
		"http://www.youtube.com/", // a YouTube host, but not over HTTPS
		"https://[::1]:1/",
	} {
		srv.Inject(fake.Fault{Kind: fake.KindThumbnail, RedirectTo: to, Times: 1})
		resp, err := hc.Get(thumb)
		if err == nil {
			resp.Body.Close()
			t.Errorf("redirect to %s: followed (status %d)", to, resp.StatusCode)
			continue
		}
		if !errors.Is(err, youtube.ErrForeignHost) || !strings.Contains(err.Error(), "redirect from i.ytimg.com") {
			t.Errorf("redirect to %s: %v, want ErrForeignHost naming the redirect", to, err)
		}
		e := youtube.Classify(err)
		if e.Reason != v1alpha1.ReasonDownloadFailed || e.Retryable || !strings.Contains(e.Message, "a redirect from i.ytimg.com") {
			t.Errorf("redirect to %s: classified as %+v, want a permanent DownloadFailed that names the redirect", to, e)
		}
		if strings.Contains(e.Message, "meta-data") || strings.Contains(e.Message, "computeMetadata") {
			t.Errorf("message %q shows the path of the refused URL", e.Message)
		}
	}
	if n := internal.Conns(); n != 0 {
		t.Errorf("the internal listener saw %d connections", n)
	}
	// A redirect between YouTube's hosts is followed.
	srv.Inject(fake.Fault{Kind: fake.KindThumbnail, RedirectTo: "https://i.ytimg.com/vi/" + fake.RickrollID + "/default.jpg", Times: 1})
	resp, err := hc.Get(thumb)
	if err != nil {
		t.Fatalf("redirect within YouTube: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("redirect within YouTube: status %d", resp.StatusCode)
	}
}

func TestRedirectChainsAreCapped(t *testing.T) {
	srv, hc := startFake(t)
	thumb := "https://i.ytimg.com/vi/" + fake.RickrollID + "/hqdefault.jpg"
	srv.Inject(fake.Fault{Kind: fake.KindThumbnail, RedirectTo: thumb, Times: fake.Forever})
	_, err := hc.Get(thumb)
	if !errors.Is(err, youtube.ErrTooManyRedirects) {
		t.Fatalf("a redirect loop: %v, want ErrTooManyRedirects", err)
	}
	if n := srv.Requests(fake.KindThumbnail); n != 5 {
		t.Errorf("%d requests, want 5", n)
	}
}

// A server that trickles a page a byte a second would hold kkdai's
// io.ReadAll, and the job, forever. Its first request, the home page,
// carries no context, so only the client's own bound can end it.
func TestTricklingPagesTimeOut(t *testing.T) {
	for _, kind := range []fake.Kind{fake.KindHome, fake.KindPlayer, fake.KindWatch} {
		t.Run(string(kind), func(t *testing.T) {
			srv, _ := startFake(t)
			const timeout = 500 * time.Millisecond
			hc := youtube.NewHTTPClient(youtube.HTTPOptions{DialContext: srv.DialContext, RootCAs: srv.CertPool(), PageTimeout: timeout})
			t.Cleanup(hc.CloseIdleConnections)
			srv.Inject(fake.Fault{Kind: kind, Rate: 1, Times: fake.Forever})
			start := time.Now()
			done := make(chan error, 1)
			go func() {
				// No deadline of the caller's: the client's own must end it.
				_, err := youtube.NewClient(hc).Video(context.Background(), fake.RickrollID)
				done <- err
			}()
			var err error
			select {
			case err = <-done:
			case <-time.After(timeout + 10*time.Second):
				t.Fatalf("still reading a trickling %s after %s", kind, time.Since(start))
			}
			if took := time.Since(start); took > timeout+3*time.Second {
				t.Errorf("gave up after %s", took)
			}
			if !errors.Is(err, youtube.ErrSlowAnswer) {
				t.Fatalf("got %v, want ErrSlowAnswer", err)
			}
			if e := youtube.Classify(err); e.Reason != v1alpha1.ReasonTimeout || !e.Retryable {
				t.Errorf("classified as %+v, want a transient Timeout", e)
			}
			if srv.Requests(kind) == 0 {
				t.Errorf("no %s request was made", kind)
			}
		})
	}
}

// Media may rightly take longer than any page: the page timeout does not
// apply to googlevideo.com.
func TestPageTimeoutSparesMedia(t *testing.T) {
	srv, _ := startFake(t)
	hc := youtube.NewHTTPClient(youtube.HTTPOptions{DialContext: srv.DialContext, RootCAs: srv.CertPool(), PageTimeout: 300 * time.Millisecond})
	t.Cleanup(hc.CloseIdleConnections)
	c := youtube.NewClient(hc)
	ctx := testContext(t)
	v, err := c.Video(ctx, fake.RickrollID)
	if err != nil {
		t.Fatal(err)
	}
	u, err := c.StreamURL(ctx, v, &v.Formats.Itag(140)[0])
	if err != nil {
		t.Fatal(err)
	}
	srv.Throttle(fake.RickrollID, 20000)
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	req.Header.Set("Range", "bytes=0-19999")
	start := time.Now()
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	n, err := io.Copy(io.Discard, resp.Body)
	if err != nil || n != 20000 {
		t.Fatalf("read %d bytes: %v", n, err)
	}
	if took := time.Since(start); took < 600*time.Millisecond {
		t.Errorf("took %s: the throttle did not hold the body longer than the page timeout", took)
	}
}

func TestRedactURL(t *testing.T) {
	for in, want := range map[string]string{
		"https://rr3---sn-abc.googlevideo.com/videoplayback?expire=1&sig=AOq0QJ8w&n=abc&lsig=xyz": "https://rr3---sn-abc.googlevideo.com/videoplayback?…",
		"https://i.ytimg.com/vi/x/hqdefault.jpg?sqp=-oaymwE&rs=AOn4CLB":                           "https://i.ytimg.com/vi/x/hqdefault.jpg?…",
		"https://www.youtube.com/youtubei/v1/player?key=AIzaSy":                                   "https://www.youtube.com/youtubei/v1/player?…",
		"https://www.youtube.com/":                                    "https://www.youtube.com/",
		"https://user:secret@rr1.googlevideo.com/videoplayback?sig=1": "https://rr1.googlevideo.com/videoplayback?…",
		"https://user:secret@rr1.googlevideo.com":                     "https://rr1.googlevideo.com",
		"https://h/p#sig=1":                                           "https://h/p?…",
		"://bad url\x7f?signature=abc":                                "://bad url\x7f?…",
		"":                                                            "",
	} {
		if got := youtube.RedactURL(in); got != want {
			t.Errorf("RedactURL(%q) = %q, want %q", in, got, want)
		}
	}
}

// net/http's errors name the whole URL; Classify's never show its query.
func TestErrorsDoNotShowSignedURLs(t *testing.T) {
	const signed = "https://rr3---sn-fake.googlevideo.com/videoplayback?expire=1&id=x&itag=140&sig=S3CRETSIG&lsig=L5IG"
	// A connection refused on the way: the error of Client.Do.
	hc := youtube.NewHTTPClient(youtube.HTTPOptions{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "tcp", "127.0.0.1:1")
	}})
	_, err := hc.Get(signed)
	if err == nil {
		t.Fatal("no error")
	}
	if !strings.Contains(err.Error(), "S3CRETSIG") {
		t.Fatalf("net/http no longer names the URL in %q: this test needs a new error to redact", err)
	}
	wrapped := &url.Error{Op: "outer", URL: signed, Err: errors.Join(errors.New("x"), err)}
	for _, e := range []error{
		youtube.Classify(err),
		youtube.Classify(wrapped),
		youtube.RedactError(&url.Error{Op: "Get", URL: signed, Err: io.EOF}),
	} {
		for _, secret := range []string{"S3CRETSIG", "L5IG", "sig=", "expire="} {
			if strings.Contains(e.Error(), secret) {
				t.Errorf("%q shows %s", e.Error(), secret)
			}
		}
		if !strings.Contains(e.Error(), "rr3---sn-fake.googlevideo.com/videoplayback") {
			t.Errorf("%q lost the host and path", e.Error())
		}
	}
}

func TestClassifyBoundsYouTubesText(t *testing.T) {
	e := youtube.Classify(&kkdai.ErrPlayabiltyStatus{Status: strings.Repeat("S", 10000), Reason: strings.Repeat("forged ", 100000)})
	if len(e.Message) > 2000 {
		t.Errorf("message of %d bytes: a forged reason makes the status too big", len(e.Message))
	}
}

// Media goes over HTTP/1.1, one connection per chunk in flight, and keeps
// the guards of every other request; pages keep HTTP/2.
func TestMediaClientSpeaksHTTP1WithTheSameGuards(t *testing.T) {
	srv, _ := startFake(t)
	opts := youtube.HTTPOptions{DialContext: srv.DialContext, RootCAs: srv.CertPool()}
	pages, media := youtube.NewHTTPClient(opts), youtube.NewMediaClient(opts)
	t.Cleanup(pages.CloseIdleConnections)
	t.Cleanup(media.CloseIdleConnections)
	c := youtube.NewClient(pages)
	ctx := testContext(t)
	v, err := c.Video(ctx, fake.RickrollID)
	if err != nil {
		t.Fatal(err)
	}
	u, err := c.StreamURL(ctx, v, &v.Formats.Itag(140)[0])
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		hc    *http.Client
		proto string
	}{{"pages", pages, "HTTP/2.0"}, {"media", media, "HTTP/1.1"}} {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		req.Header.Set("Range", "bytes=0-999")
		resp, err := tc.hc.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		resp.Body.Close()
		if resp.Proto != tc.proto {
			t.Errorf("%s client spoke %s to the media server, want %s", tc.name, resp.Proto, tc.proto)
		}
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "https://169.254.169.254/latest/meta-data/", nil)
	if _, err := media.Do(req); !errors.Is(err, youtube.ErrForeignHost) {
		t.Errorf("media client reached a foreign host: %v, want ErrForeignHost", err)
	}
}
