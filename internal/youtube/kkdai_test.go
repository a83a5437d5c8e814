package youtube_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1alpha1 "ytx.dev/ytx/api/v1alpha1"
	"ytx.dev/ytx/internal/failure"
	"ytx.dev/ytx/internal/resolver"
	"ytx.dev/ytx/internal/youtube"
	"ytx.dev/ytx/internal/youtube/fake"
)

func resolveCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// writeCookies writes a Netscape cookies.txt with the fake's session.
func writeCookies(t *testing.T) string {
	t.Helper()
	name, value, _ := strings.Cut(fake.SessionCookie, "=")
	path := filepath.Join(t.TempDir(), "cookies.txt")
	body := "# Netscape HTTP Cookie File\n.example.com\tTRUE\t/\tFALSE\t0\tother\tx\n.youtube.com\tTRUE\t/\tTRUE\t0\t" + name + "\t" + value + "\n"
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestKKDAISendsTheCookiesFile(t *testing.T) {
	srv, _ := startFake(t)
	ck, err := youtube.LoadCookies(writeCookies(t))
	if err != nil {
		t.Fatal(err)
	}
	if ck.Count() != 1 {
		t.Errorf("%d cookies kept, want the one of youtube.com", ck.Count())
	}
	page, media := youtube.NewClients(youtube.HTTPOptions{DialContext: srv.DialContext, RootCAs: srv.CertPool()}).For(nil)
	jar, err := ck.Jar()
	if err != nil {
		t.Fatal(err)
	}
	withJar := *page
	withJar.Jar = jar
	v, err := youtube.KKDAI{}.Resolve(resolveCtx(t), resolver.Request{VideoID: fake.AdultID, HTTP: &withJar, Media: media})
	if err != nil {
		t.Fatalf("with an adult's cookies: %v", err)
	}
	if v.Resolver != resolver.KKDAI || len(v.Formats) == 0 {
		t.Errorf("video %+v", v)
	}
	_, err = youtube.KKDAI{}.Resolve(resolveCtx(t), resolver.Request{VideoID: fake.AdultID, HTTP: page, Media: media})
	if f, ok := failure.As(err); !ok || f.Reason != v1alpha1.ReasonLoginRequired || f.Retryable || !strings.Contains(f.Message, "--cookies-file") {
		t.Errorf("without cookies: %v, want a permanent LoginRequired that names --cookies-file", err)
	}
}

func TestKKDAIThroughAProxyWithCredentials(t *testing.T) {
	srv, _ := startFake(t)
	p, err := srv.AddProxy("ytx", "pw")
	if err != nil {
		t.Fatal(err)
	}
	// No DialContext: the proxy is the only way to the fake.
	page, media := youtube.NewClients(youtube.HTTPOptions{RootCAs: srv.CertPool()}).For(p.URL)
	req := resolver.Request{VideoID: fake.RickrollID, HTTP: page, Media: media, Proxy: p.URL}
	v, err := youtube.KKDAI{}.Resolve(resolveCtx(t), req)
	if err != nil {
		t.Fatal(err)
	}
	f := v.Formats[0]
	u, h, err := youtube.KKDAI{}.MediaURL(resolveCtx(t), req, v, &f)
	if err != nil {
		t.Fatal(err)
	}
	_ = h
	resp, err := media.Get(u + "&range=0-99")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || p.Tunnels() == 0 {
		t.Errorf("status %d, tunnels %d", resp.StatusCode, p.Tunnels())
	}
}

// kkdai turns every LOGIN_REQUIRED into one error value; the resolver reads
// YouTube's words from the player's answer to tell a bot check from an age
// restriction or from words it does not know.
func TestKKDAIReadsYouTubesWordsForASignIn(t *testing.T) {
	srv, hc := startFake(t)
	srv.BotCheck(fake.BotCheckID, 10)
	for _, tc := range []struct {
		id        string
		reason    string
		retryable bool
	}{
		{fake.BotCheckID, v1alpha1.ReasonRateLimited, true},
		{fake.AgeRestrictedID, v1alpha1.ReasonLoginRequired, false},
		{fake.StrangeLoginID, v1alpha1.ReasonLoginRequired, true},
		{fake.PrivateID, v1alpha1.ReasonLoginRequired, false},
	} {
		_, err := youtube.KKDAI{}.Resolve(resolveCtx(t), resolver.Request{VideoID: tc.id, HTTP: hc, Media: hc})
		f, ok := failure.As(err)
		if !ok || f.Reason != tc.reason || f.Retryable != tc.retryable {
			t.Errorf("%s: %v, want %s retryable=%v", tc.id, err, tc.reason, tc.retryable)
		}
	}
}
