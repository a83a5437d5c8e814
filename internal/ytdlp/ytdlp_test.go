package ytdlp_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1alpha1 "ytx.dev/ytx/api/v1alpha1"
	"ytx.dev/ytx/internal/failure"
	"ytx.dev/ytx/internal/resolver"
	"ytx.dev/ytx/internal/youtube"
	"ytx.dev/ytx/internal/youtube/fake"
	"ytx.dev/ytx/internal/ytdlp"
)

// These tests run the real yt-dlp (make test installs it) against the fake
// YouTube, through the worker's egress proxy, as a worker does.

type env struct {
	yt     *fake.Server
	egress *youtube.Egress
	caFile string
	http   youtube.HTTPOptions
}

func newEnv(t *testing.T) *env {
	t.Helper()
	if _, err := exec.LookPath("yt-dlp"); err != nil {
		t.Fatalf("yt-dlp is not installed: run make test (it installs yt-dlp %s), or hack/install-yt-dlp.sh", ytdlp.MinVersion)
	}
	yt, err := fake.New(fake.DefaultVideos()...)
	if err != nil {
		t.Fatal(err)
	}
	if err := yt.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { yt.Close() })
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := yt.WriteCAFile(ca); err != nil {
		t.Fatal(err)
	}
	opts := youtube.HTTPOptions{DialContext: yt.DialContext, RootCAs: yt.CertPool()}
	eg, err := youtube.StartEgress(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eg.Close() })
	return &env{yt: yt, egress: eg, caFile: ca, http: opts}
}

func (e *env) resolver(t *testing.T, o ytdlp.Options) *ytdlp.Resolver {
	t.Helper()
	o.Egress = e.egress
	o.Env = append(o.Env, "SSL_CERT_FILE="+e.caFile)
	r := ytdlp.New(context.Background(), o)
	if err := r.Check(); err != nil {
		t.Fatal(err)
	}
	return r
}

func (e *env) request(t *testing.T, id string) resolver.Request {
	page, media := youtube.NewClients(e.http).For(nil)
	return resolver.Request{VideoID: id, Scratch: t.TempDir(), HTTP: page, Media: media}
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return c
}

func TestResolveReadsMetadataAndPlainHTTPSFormats(t *testing.T) {
	e := newEnv(t)
	e.yt.AsSinceAugust2026()
	r := e.resolver(t, ytdlp.Options{})
	v, err := r.Resolve(ctx(t), e.request(t, fake.RickrollID))
	if err != nil {
		t.Fatal(err)
	}
	if v.Title != "Rick Astley - Never Gonna Give You Up (Official Music Video)" || v.ChannelID != "UCuAXFkgsw1L7xaCfnd5JJOw" || v.Duration != 213*time.Second {
		t.Errorf("metadata: %q %q %s", v.Title, v.ChannelID, v.Duration)
	}
	if v.Resolver != resolver.YTDLP || v.ResolverVersion != r.Version() {
		t.Errorf("resolver %q %q", v.Resolver, v.ResolverVersion)
	}
	itags := map[int]resolver.Format{}
	for _, f := range v.Formats {
		itags[f.Itag] = f
		if !strings.HasPrefix(f.URL, "https://") || f.Header.Get("User-Agent") == "" {
			t.Errorf("format %s: url %.40q, headers %v", f.ID, f.URL, f.Header)
		}
	}
	if f := itags[140]; f.MimeType != `audio/mp4; codecs="mp4a.40.2"` || f.ContentLength != 300_000 || !f.AudioDefault {
		t.Errorf("itag 140: %+v", f)
	}
	if len(itags) < 9 {
		t.Errorf("%d formats, want the fake's 9", len(itags))
	}
	if e.egress.Accepted() == 0 {
		t.Error("yt-dlp opened no tunnel through the egress proxy")
	}
	var clients []string
	for _, q := range e.yt.RequestLog() {
		if q.Kind == fake.KindPlayer {
			clients = append(clients, q.Client)
		}
	}
	if len(clients) == 0 {
		t.Fatal("yt-dlp asked the player API nothing")
	}
}

func TestPrivateVideoIsDefinitiveLoginRequired(t *testing.T) {
	e := newEnv(t)
	r := e.resolver(t, ytdlp.Options{})
	_, err := r.Resolve(ctx(t), e.request(t, fake.PrivateID))
	f, ok := failure.As(err)
	if !ok || f.Reason != v1alpha1.ReasonLoginRequired || f.Retryable || !f.Definitive {
		t.Fatalf("error %v, want a definitive LoginRequired", err)
	}
}

func TestBotCheckIsRateLimited(t *testing.T) {
	e := newEnv(t)
	e.yt.BotCheck(fake.BotCheckID, 100)
	r := e.resolver(t, ytdlp.Options{})
	_, err := r.Resolve(ctx(t), e.request(t, fake.BotCheckID))
	f, ok := failure.As(err)
	if !ok || f.Reason != v1alpha1.ReasonRateLimited || !f.Retryable {
		t.Fatalf("error %v, want RateLimited", err)
	}
	// One run asks the player as few times as yt-dlp's clients need; the
	// fault suite's bounds count on it.
	if n := e.yt.RequestsFor(fake.KindPlayer, fake.BotCheckID); n < 1 || n > 3 {
		t.Errorf("%d player requests for one bot-checked run, want 1 to 3", n)
	} else {
		t.Logf("%d player requests", n)
	}
}

func TestMissingYTDLPSaysWhatToInstall(t *testing.T) {
	e := newEnv(t)
	r := ytdlp.New(context.Background(), ytdlp.Options{Path: filepath.Join(t.TempDir(), "no-such-yt-dlp"), Egress: e.egress})
	if err := r.Check(); err == nil || !strings.Contains(err.Error(), "install yt-dlp") {
		t.Fatalf("Check = %v, want a message saying what to install", err)
	}
	_, err := r.Resolve(ctx(t), e.request(t, fake.RickrollID))
	f, ok := failure.As(err)
	if !ok || f.Reason != v1alpha1.ReasonForbidden || !errors.Is(err, resolver.ErrUnavailable) || !strings.Contains(f.Message, "install yt-dlp") {
		t.Fatalf("error %v, want Forbidden saying what to install", err)
	}
}

// A stand-in yt-dlp that prints far too much is stopped, and the failure
// says so; it can only misbehave on purpose as a stand-in.
func TestHugeOutputIsRefused(t *testing.T) {
	e := newEnv(t)
	script := filepath.Join(t.TempDir(), "yt-dlp")
	os.WriteFile(script, []byte("#!/bin/sh\nif [ \"$1\" = --version ]; then echo 2026.11.23; exit 0; fi\nhead -c 100000000 /dev/zero | tr '\\0' x\n"), 0o755)
	r := ytdlp.New(context.Background(), ytdlp.Options{Path: script, Egress: e.egress, MaxOutput: 1 << 20})
	start := time.Now()
	_, err := r.Resolve(ctx(t), e.request(t, fake.RickrollID))
	f, ok := failure.As(err)
	if !ok || f.Reason != v1alpha1.ReasonDownloadFailed || !errors.Is(err, youtube.ErrTooLongAnswer) {
		t.Fatalf("error %v, want DownloadFailed for a too long answer", err)
	}
	if time.Since(start) > 20*time.Second {
		t.Errorf("took %s to stop", time.Since(start))
	}
}

// A yt-dlp that dies before it reaches YouTube (here a Python traceback, as
// a missing module gives) says nothing about the video or the playlist: the
// failure is retryable, marked ErrUnavailable so that a chain goes on to its
// next resolver, and quotes yt-dlp's last line, for a video and a listing.
func TestARunWithoutAnErrorLineIsBrokenYtDlpNotTheVideo(t *testing.T) {
	e := newEnv(t)
	script := filepath.Join(t.TempDir(), "yt-dlp")
	os.WriteFile(script, []byte("#!/bin/sh\nif [ \"$1\" = --version ]; then echo 2026.11.23; exit 0; fi\n"+
		"echo 'Traceback (most recent call last):' >&2\necho \"ModuleNotFoundError: No module named 'yt_dlp.extractor'\" >&2\nexit 1\n"), 0o755)
	r := ytdlp.New(context.Background(), ytdlp.Options{Path: script, Egress: e.egress})
	_, videoErr := r.Resolve(ctx(t), e.request(t, fake.RickrollID))
	_, listErr := e.list(t, r, resolver.Target{Kind: resolver.TargetPlaylist, PlaylistID: fake.BigPlaylistID}, 10)
	for _, c := range []struct {
		what   string
		err    error
		reason string
	}{{"a video", videoErr, v1alpha1.ReasonForbidden}, {"a listing", listErr, v1alpha1.ReasonListingFailed}} {
		f, ok := failure.As(c.err)
		if !ok || f.Reason != c.reason || f.Definitive || !errors.Is(c.err, resolver.ErrUnavailable) ||
			!strings.Contains(f.Message, "failed without an error from YouTube") || !strings.Contains(f.Message, "No module named") {
			t.Errorf("%s: %v, want a retryable %s marked ErrUnavailable that quotes yt-dlp's last line", c.what, c.err, c.reason)
		}
	}
}
