package e2e

import (
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	v1alpha1 "ytx.dev/ytx/api/v1alpha1"
	"ytx.dev/ytx/controllers"
	"ytx.dev/ytx/internal/app"
	"ytx.dev/ytx/internal/download"
	"ytx.dev/ytx/internal/resolver"
	"ytx.dev/ytx/internal/youtube"
	"ytx.dev/ytx/internal/youtube/fake"
)

// These tests run the resolver chain end to end against a fake YouTube
// that answers as YouTube has since 2026-08-17: the media of every client
// kkdai can send is refused, yt-dlp's default clients are served. yt-dlp is
// the real one (make test installs it).

// today is a fake YouTube of its own, in today's mode, with clip videos.
type today struct {
	*fake.Server
	caFile string
}

func startToday(t *testing.T) *today {
	t.Helper()
	s, err := fake.New(catalogue...)
	if err != nil {
		t.Fatal(err)
	}
	s.AsSinceAugust2026()
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := s.WriteCAFile(ca); err != nil {
		t.Fatal(err)
	}
	return &today{Server: s, caFile: ca}
}

// clip adds a clip video (real media) to the fake.
func (y *today) clip(t *testing.T, title string) fake.Video {
	t.Helper()
	return addClipVideoTo(t, y.Server, title)
}

// worker is a worker setup that reaches this fake.
func (y *today) worker(resolvers ...string) workerSetup {
	return workerSetup{
		concurrency: 4,
		youtube:     youtube.HTTPOptions{DialContext: y.DialContext, RootCAs: y.CertPool()},
		caFile:      y.caFile,
		resolve:     app.ResolverConfig{Resolvers: resolvers},
		download:    download.Options{Backoff: fastBackoff},
	}
}

func audioSpec(f v1alpha1.AudioFormat) func(*v1alpha1.YouTubeExtraction) {
	return func(x *v1alpha1.YouTubeExtraction) { x.Spec.Audio = &v1alpha1.AudioSpec{Format: f} }
}

func videoSpec(h int32) func(*v1alpha1.YouTubeExtraction) {
	return func(x *v1alpha1.YouTubeExtraction) { x.Spec.Video = &v1alpha1.VideoSpec{MaxHeight: h} }
}

// infoOf reads the extraction's info.json.
func infoOf(t *testing.T, got map[v1alpha1.ArtifactKind]stored) map[string]any {
	t.Helper()
	a, ok := got[v1alpha1.ArtifactInfo]
	if !ok {
		t.Fatal("no info.json")
	}
	raw, err := os.ReadFile(a.path)
	if err != nil {
		t.Fatal(err)
	}
	var info map[string]any
	if err := json.Unmarshal(raw, &info); err != nil {
		t.Fatal(err)
	}
	return info
}

// With today's YouTube and ytx's default chain (kkdai, then yt-dlp),
// metadata stays in process and every media shape succeeds through yt-dlp,
// with an Event for the fallback; status and info.json name the resolver.
func TestDefaultChainServesTodaysYouTube(t *testing.T) {
	t.Parallel()
	y := startToday(t)
	e := newEnv(t, setup{})
	e.startWorker(y.worker())
	v := y.clip(t, "Clip of today")
	cases := []struct {
		name     string
		mutate   func(*v1alpha1.YouTubeExtraction)
		resolver string
		check    func(t *testing.T, got map[v1alpha1.ArtifactKind]stored)
	}{
		{"metadata", func(*v1alpha1.YouTubeExtraction) {}, resolver.KKDAI, func(*testing.T, map[v1alpha1.ArtifactKind]stored) {}},
		{"m4a", audioSpec(v1alpha1.AudioM4A), resolver.YTDLP, func(t *testing.T, got map[v1alpha1.ArtifactKind]stored) {
			checkAudio(t, got, "audio/mp4", "aac", true, v.Title)
		}},
		{"mp3", audioSpec(v1alpha1.AudioMP3), resolver.YTDLP, func(t *testing.T, got map[v1alpha1.ArtifactKind]stored) {
			checkAudio(t, got, "audio/mpeg", "mp3", true, v.Title)
		}},
		{"video-720", videoSpec(720), resolver.YTDLP, func(t *testing.T, got map[v1alpha1.ArtifactKind]stored) {
			checkVideo(t, got, 720)
		}},
	}
	for _, c := range cases {
		e.create(c.name, watchURL(v.ID), c.mutate)
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			x := e.waitPhase(c.name, v1alpha1.PhaseSucceeded, 90*time.Second)
			if x.Status.Resolver != c.resolver {
				t.Errorf("status.resolver %q, want %q", x.Status.Resolver, c.resolver)
			}
			got := e.fetch(x)
			checkInfo(t, got, v)
			if r := infoOf(t, got)["resolver"]; r != c.resolver {
				t.Errorf("info.json resolver %v, want %s", r, c.resolver)
			}
			c.check(t, got)
			fallbacks := 0
			for _, ev := range e.events(c.name) {
				if ev.Reason == "ResolverFallback" {
					fallbacks++
					if !strings.Contains(ev.Note, "kkdai") || !strings.Contains(ev.Note, "yt-dlp") || !strings.Contains(ev.Note, v1alpha1.ReasonForbidden) {
						t.Errorf("fallback event %q does not say who failed, why, and who took over", ev.Note)
					}
				}
			}
			// The worker skips kkdai for media once it was refused a few
			// times in a row, so later media jobs may go to yt-dlp at
			// once; the first ones fall back.
			if c.resolver == resolver.KKDAI && fallbacks != 0 {
				t.Errorf("%d fallback events for a job kkdai served", fallbacks)
			}
		})
	}
	fallbacks := 0
	for _, c := range cases {
		for _, ev := range e.events(c.name) {
			if ev.Reason == "ResolverFallback" {
				fallbacks++
			}
		}
	}
	if fallbacks == 0 {
		t.Error("no ResolverFallback event: kkdai's refused media did not go to yt-dlp")
	}
	// kkdai asked for media with a client YouTube refuses, and yt-dlp then
	// with one it serves: VISIONOS without a JavaScript runtime, TVHTML5
	// (its URLs' n challenge solved by deno) with one, as yt-dlp
	// 2026.11.23 picks.
	var refused, served int
	for _, q := range y.RequestLog() {
		switch {
		case q.Kind != fake.KindMedia:
		case slices.Contains(fake.KKDAIClients, q.Client):
			refused++
		case q.Client == "VISIONOS" || q.Client == "TVHTML5":
			served++
		}
	}
	if refused == 0 || served == 0 {
		t.Errorf("media requests: %d with kkdai's clients (refused), %d with yt-dlp's (VISIONOS or TVHTML5); want both", refused, served)
	}
}

// yt-dlp alone serves every shape, with no fallback.
func TestYTDLPAloneServesTodaysYouTube(t *testing.T) {
	t.Parallel()
	y := startToday(t)
	e := newEnv(t, setup{})
	e.startWorker(y.worker(resolver.YTDLP))
	v := y.clip(t, "Clip through yt-dlp")
	e.create("opus", watchURL(v.ID), audioSpec(v1alpha1.AudioOpus), func(x *v1alpha1.YouTubeExtraction) { x.Spec.Thumbnail = true })
	x := e.waitPhase("opus", v1alpha1.PhaseSucceeded, 90*time.Second)
	if x.Status.Resolver != resolver.YTDLP {
		t.Errorf("status.resolver %q", x.Status.Resolver)
	}
	got := e.fetch(x)
	checkAudio(t, got, "audio/webm", "opus", false, v.Title)
	if _, ok := got[v1alpha1.ArtifactThumbnail]; !ok {
		t.Error("no thumbnail")
	}
	for _, r := range e.eventReasons("opus") {
		if r == "ResolverFallback" {
			t.Error("a fallback with one resolver")
		}
	}
	for _, q := range y.RequestLog() {
		if q.Kind == fake.KindPlayer && q.Client == "ANDROID_VR" {
			t.Fatal("kkdai asked the player though it is not in the chain")
		}
	}
}

// A yt-dlp that is not installed: the worker starts, and an extraction
// whose kkdai media is refused fails Forbidden with a message that says
// what to install.
func TestMissingYTDLPFailsForbiddenSayingWhatToInstall(t *testing.T) {
	t.Parallel()
	y := startToday(t)
	e := newEnv(t, setup{})
	w := y.worker(resolver.KKDAI, resolver.YTDLP)
	w.resolve.YTDLP.Path = filepath.Join(t.TempDir(), "yt-dlp-not-here")
	e.startWorker(w)
	v := y.clip(t, "Clip without yt-dlp")
	e.create("m4a", watchURL(v.ID), audioSpec(v1alpha1.AudioM4A))
	x := e.waitPhase("m4a", v1alpha1.PhaseFailed, 90*time.Second)
	f := x.Status.LastFailure
	if f == nil || f.Reason != v1alpha1.ReasonForbidden || !strings.Contains(f.Message, "install yt-dlp") {
		t.Fatalf("want Forbidden saying to install yt-dlp: %s", describe(x))
	}
}

// YouTube asks for a bot check: the attempt ends RateLimited, costs no
// attempt of spec.retry.maxAttempts, is retried after the rate-limited
// backoff and succeeds; another video on the same worker is not failed.
func TestBotCheckIsRetriedAsRateLimited(t *testing.T) {
	t.Parallel()
	y := startToday(t)
	e := newEnv(t, setup{controller: controllers.Options{RateLimitedBackoff: time.Second, RateLimitedBackoffMax: time.Second}})
	w := y.worker(resolver.KKDAI)
	w.resolve.Cooldown = time.Second
	e.startWorker(w)
	// kkdai asks twice per attempt (its own client, then the embedded
	// player after a sign-in demand): the first attempt meets the check.
	y.BotCheck(fake.BotCheckID, 2)
	e.create("guarded", watchURL(fake.BotCheckID), func(x *v1alpha1.YouTubeExtraction) {
		x.Spec.Retry = &v1alpha1.RetrySpec{MaxAttempts: 1}
	})
	e.create("other", watchURL(fake.ZooID))
	x := e.waitPhase("guarded", v1alpha1.PhaseSucceeded, 90*time.Second)
	if x.Status.Attempts != 2 || x.Status.RateLimitedAttempts != 1 {
		t.Errorf("attempts %d, rate-limited %d; want 2 and 1", x.Status.Attempts, x.Status.RateLimitedAttempts)
	}
	if f := x.Status.LastFailure; f == nil || f.Reason != v1alpha1.ReasonRateLimited || !strings.Contains(f.Message, "not a bot") {
		t.Errorf("lastFailure %+v, want RateLimited quoting YouTube", f)
	}
	e.waitPhase("other", v1alpha1.PhaseSucceeded, 60*time.Second)
}

// Cookies reach YouTube through both resolvers and appear in no status,
// event or stored file.
func TestCookiesReachYouTubeFromBothResolvers(t *testing.T) {
	t.Parallel()
	y := startToday(t)
	e := newEnv(t, setup{})
	cookies := filepath.Join(t.TempDir(), "cookies.txt")
	name, value, _ := strings.Cut(fake.SessionCookie, "=")
	if err := os.WriteFile(cookies, []byte("# Netscape HTTP Cookie File\n.youtube.com\tTRUE\t/\tTRUE\t0\t"+name+"\t"+value+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	w := y.worker(resolver.KKDAI, resolver.YTDLP)
	w.resolve.CookiesFile = cookies
	e.startWorker(w)
	// The fake's adult video, with real media.
	adult, err := fake.ClipVideo(fake.AdultID, "Late Night Comedy Special (Age-restricted)", clips)
	if err != nil {
		t.Fatal(err)
	}
	adult.Playability, adult.Cookie = fake.AgeRestricted, fake.SessionCookie
	if err := y.AddVideo(adult); err != nil {
		t.Fatal(err)
	}
	e.create("adult", watchURL(fake.AdultID), audioSpec(v1alpha1.AudioM4A))
	x := e.waitPhase("adult", v1alpha1.PhaseSucceeded, 90*time.Second)
	with := map[string]int{}
	for _, q := range y.RequestLog() {
		if q.Kind == fake.KindPlayer && q.VideoID == fake.AdultID && q.Cookie {
			with[q.Client]++
		}
	}
	if with["ANDROID_VR"] == 0 || with["VISIONOS"] == 0 {
		t.Errorf("player requests with the session cookie by client: %v; want kkdai's and yt-dlp's", with)
	}
	raw, _ := json.Marshal(x)
	if strings.Contains(string(raw), value) {
		t.Error("the status shows the cookie")
	}
	for _, ev := range e.events("adult") {
		if strings.Contains(ev.Note, value) {
			t.Errorf("event %s shows the cookie", ev.Reason)
		}
	}
	for _, a := range e.fetch(x) {
		if b, _ := os.ReadFile(a.path); strings.Contains(string(b), value) {
			t.Errorf("stored %s holds the cookie", a.URI)
		}
	}
	if b, _ := os.ReadFile(cookies); !strings.Contains(string(b), value) || strings.Count(string(b), "\n") != 2 {
		t.Error("the cookies file was changed")
	}
}

// Jobs go through the configured proxy, credentials and all, for both
// resolvers and the downloads: with no other route to the fake, success
// shows it, and the proxy counts its tunnels.
func TestProxyCarriesEveryRequest(t *testing.T) {
	t.Parallel()
	y := startToday(t)
	p, err := y.AddProxy("ytx", "s3cret-pass")
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, setup{})
	w := y.worker()
	// No DialContext: the only way to the fake's names is the proxy.
	w.youtube, w.noDial = youtube.HTTPOptions{RootCAs: y.CertPool()}, true
	w.resolve.Proxies = []*url.URL{p.URL}
	e.startWorker(w)
	v := y.clip(t, "Clip through a proxy")
	e.create("m4a", watchURL(v.ID), audioSpec(v1alpha1.AudioM4A))
	x := e.waitPhase("m4a", v1alpha1.PhaseSucceeded, 90*time.Second)
	if x.Status.Resolver != resolver.YTDLP || p.Tunnels() < 3 {
		t.Errorf("resolver %q, proxy tunnels %d", x.Status.Resolver, p.Tunnels())
	}
	for _, ev := range e.events("m4a") {
		if strings.Contains(ev.Note, "s3cret-pass") {
			t.Errorf("event %s shows the proxy's password", ev.Reason)
		}
	}
}

// A forged answer read by yt-dlp (a format URL on an internal address, a
// redirect there) is refused as kkdai's are: nothing connects, the
// extraction fails DownloadFailed without retries, and the message names
// the target without the URL's query.
func TestForgedAnswersThroughYTDLPReachNothingButYouTube(t *testing.T) {
	t.Parallel()
	y := startToday(t)
	internal := startInternalService(t)
	e := newEnv(t, setup{})
	w := y.worker(resolver.YTDLP)
	w.youtube.DialContext = y.ClusterDial(internal)
	e.startWorker(w)
	const secret = "S3CRETSIG"
	forged, err := fake.ClipVideo("f0rgedYtdlp", "Forged for yt-dlp", clips)
	if err != nil {
		t.Fatal(err)
	}
	for i := range forged.Formats {
		forged.Formats[i].URL = "https://" + internal.Addr + "/videoplayback?id=x&itag=" + fmt.Sprint(forged.Formats[i].Itag) + "&sig=" + secret
	}
	redirected := y.clip(t, "Redirected for yt-dlp")
	if err := y.AddVideo(forged); err != nil {
		t.Fatal(err)
	}
	y.Inject(fake.Fault{Kind: fake.KindMedia, VideoID: redirected.ID, RedirectTo: "http://" + internal.Addr + "/latest/meta-data/?sig=" + secret, Times: fake.Forever})
	e.create("stream", watchURL(forged.ID), audioSpec(v1alpha1.AudioM4A))
	e.create("redirect", watchURL(redirected.ID), audioSpec(v1alpha1.AudioM4A))
	for _, name := range []string{"stream", "redirect"} {
		x := e.waitPhase(name, v1alpha1.PhaseFailed, 90*time.Second)
		f := x.Status.LastFailure
		if f == nil || f.Reason != v1alpha1.ReasonDownloadFailed || x.Status.Attempts != 1 || !strings.Contains(f.Message, internal.Addr) || strings.Contains(f.Message, secret) {
			t.Errorf("%s: want one attempt failed DownloadFailed naming %s without its query: %s", name, internal.Addr, describe(x))
		}
	}
	checkUntouched(t, internal)
}
