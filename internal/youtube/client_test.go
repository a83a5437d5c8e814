package youtube_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"image/jpeg"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	kkdai "github.com/kkdai/youtube/v2"

	"ytx.dev/ytx/api/v1alpha1"
	"ytx.dev/ytx/internal/failure"
	"ytx.dev/ytx/internal/youtube"
	"ytx.dev/ytx/internal/youtube/fake"
)

// TestMain keeps a proxy configured on the developer's machine out of the
// in-process tests, which dial the fake directly. The helper process of
// TestHTTPSProxyFromEnvironment needs its proxy, so it is left alone.
func TestMain(m *testing.M) {
	if os.Getenv("YTX_TEST_HELPER") == "" {
		for _, k := range []string{"HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"} {
			os.Unsetenv(k)
		}
	}
	os.Exit(m.Run())
}

// startFake serves the default catalogue plus extra videos, and returns an
// HTTP client built by NewHTTPClient that reaches it.
func startFake(t *testing.T, extra ...fake.Video) (*fake.Server, *http.Client) {
	t.Helper()
	srv, err := fake.New(append(fake.DefaultVideos(), extra...)...)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	hc := youtube.NewHTTPClient(youtube.HTTPOptions{DialContext: srv.DialContext, RootCAs: srv.CertPool()})
	t.Cleanup(hc.CloseIdleConnections)
	return srv, hc
}

func fixture(t *testing.T, id string) fake.Video {
	t.Helper()
	for _, v := range fake.DefaultVideos() {
		if v.ID == id {
			return v
		}
	}
	t.Fatalf("no fixture %s", id)
	return fake.Video{}
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestVideoMetadataThroughKkdai(t *testing.T) {
	srv, hc := startFake(t)
	want := fixture(t, fake.RickrollID)

	v, err := youtube.NewClient(hc).Video(testContext(t), fake.RickrollID)
	if err != nil {
		t.Fatal(err)
	}
	if v.Title != want.Title || v.Author != want.Author || v.ChannelID != want.ChannelID || v.Description != want.Description {
		t.Errorf("got title %q author %q channel %q, want %q %q %q", v.Title, v.Author, v.ChannelID, want.Title, want.Author, want.ChannelID)
	}
	if v.Duration != time.Duration(want.LengthSeconds)*time.Second {
		t.Errorf("duration %v, want %ds", v.Duration, want.LengthSeconds)
	}
	if int64(v.Views) != want.ViewCount {
		t.Errorf("views %d, want %d", v.Views, want.ViewCount)
	}
	if !v.PublishDate.Equal(want.PublishDate) {
		t.Errorf("publish date %v, want %v", v.PublishDate, want.PublishDate)
	}
	if len(v.Formats) != len(want.Formats) {
		t.Errorf("%d formats, want %d", len(v.Formats), len(want.Formats))
	}
	for _, f := range want.Formats {
		got := v.Formats.Itag(f.Itag)
		if len(got) != 1 || got[0].MimeType != f.MimeType || got[0].ContentLength != f.Media.Size() {
			t.Errorf("itag %d: got %+v, want mime %q and %d bytes", f.Itag, got, f.MimeType, f.Media.Size())
		}
	}

	m := youtube.Metadata(youtube.FromKKDAI(v))
	if wantDay := want.PublishDate.UTC().Format("2006-01-02"); m.PublishDate != wantDay {
		t.Errorf("metadata publishDate %q, want %q", m.PublishDate, wantDay)
	}
	if m.DurationSeconds != int64(want.LengthSeconds) || m.ViewCount != want.ViewCount {
		t.Errorf("metadata duration %d views %d", m.DurationSeconds, m.ViewCount)
	}
	// The fixture's description is longer than status keeps.
	if n := utf8.RuneCountInString(m.Description); n != youtube.MaxDescriptionRunes || !strings.HasSuffix(m.Description, "…") ||
		!strings.HasPrefix(want.Description, strings.TrimSuffix(m.Description, "…")) {
		t.Errorf("metadata description has %d runes: %q", n, m.Description)
	}

	// The thumbnail URL is the largest fixture image, and the fake serves it.
	largest := want.Thumbnails[0]
	for _, th := range want.Thumbnails {
		if th.Width*th.Height > largest.Width*largest.Height {
			largest = th
		}
	}
	if !strings.HasSuffix(m.ThumbnailURL, "/"+want.ID+"/"+largest.Name) {
		t.Errorf("thumbnailURL %q, want the %s image", m.ThumbnailURL, largest.Name)
	}
	resp, err := hc.Get(m.ThumbnailURL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	img, err := jpeg.DecodeConfig(resp.Body)
	if err != nil || img.Width != largest.Width || img.Height != largest.Height {
		t.Errorf("thumbnail: %v, %dx%d", err, img.Width, img.Height)
	}

	// kkdai's sequence: home page (visitor ID), player API as ANDROID_VR,
	// watch page (publish date only).
	for kind, n := range map[fake.Kind]int64{fake.KindHome: 1, fake.KindPlayer: 1, fake.KindWatch: 1, fake.KindEmbed: 0, fake.KindMedia: 0} {
		if got := srv.Requests(kind); got != n {
			t.Errorf("%s requests: %d, want %d", kind, got, n)
		}
	}
	if log := srv.RequestLog(); len(log) < 2 || log[1].Kind != fake.KindPlayer || log[1].Client != "ANDROID_VR" {
		t.Errorf("request log %+v: want the player called as ANDROID_VR second", log)
	}
}

func TestStreamThroughKkdai(t *testing.T) {
	srv, hc := startFake(t)
	ctx := testContext(t)
	want := fixture(t, fake.RickrollID)
	var media fake.Media
	for _, f := range want.Formats {
		if f.Itag == 140 {
			media = f.Media
		}
	}
	wantSum, err := fake.SHA256(media)
	if err != nil {
		t.Fatal(err)
	}

	v, err := youtube.NewClient(hc).Video(ctx, fake.RickrollID)
	if err != nil {
		t.Fatal(err)
	}
	format := v.Formats.Itag(140)[0]
	const chunk = 64 << 10
	kc := &kkdai.Client{HTTPClient: hc, ChunkSize: chunk, MaxRoutines: 3}
	body, size, err := kc.GetStreamContext(ctx, v, &format)
	if err != nil {
		t.Fatal(err)
	}
	defer body.Close()
	h := sha256.New()
	n, err := io.Copy(h, body)
	if err != nil {
		t.Fatal(err)
	}
	if n != media.Size() || size != media.Size() {
		t.Errorf("read %d bytes, announced %d, want %d", n, size, media.Size())
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != wantSum {
		t.Errorf("sha256 %s, want %s", got, wantSum)
	}
	chunks := (media.Size() + chunk - 1) / chunk
	if got := srv.RequestsFor(fake.KindMedia, fake.RickrollID); got != chunks {
		t.Errorf("%d media requests, want one per %d-byte chunk: %d", got, chunk, chunks)
	}
	if srv.Requests(fake.KindEmbed) != 1 || srv.Requests(fake.KindBaseJS) != 1 {
		t.Errorf("embed %d, base.js %d requests, want 1 each", srv.Requests(fake.KindEmbed), srv.Requests(fake.KindBaseJS))
	}
	ranges := map[string]bool{}
	for _, r := range srv.RequestLog() {
		if r.Kind == fake.KindMedia {
			ranges[r.Range] = true
		}
	}
	if int64(len(ranges)) != chunks || !ranges[fmt.Sprintf("0-%d", chunk-1)] {
		t.Errorf("media ranges %v", ranges)
	}
}

func TestStreamURLServesRangeRequests(t *testing.T) {
	_, hc := startFake(t)
	ctx := testContext(t)
	c := youtube.NewClient(hc)
	v, err := c.Video(ctx, fake.ZooID)
	if err != nil {
		t.Fatal(err)
	}
	format := v.Formats.Itag(251)[0]
	u, err := c.StreamURL(ctx, v, &format)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	req.Header.Set("Range", "bytes=100-199")
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	got, _ := io.ReadAll(resp.Body)
	var media fake.Media
	for _, f := range fixture(t, fake.ZooID).Formats {
		if f.Itag == 251 {
			media = f.Media
		}
	}
	want := make([]byte, 100)
	media.ReadAt(want, 100)
	if resp.StatusCode != http.StatusPartialContent || string(got) != string(want) {
		t.Errorf("status %d, %d bytes, equal %v", resp.StatusCode, len(got), string(got) == string(want))
	}
}

func TestPlayabilityErrorsAreClassified(t *testing.T) {
	srv, hc := startFake(t)
	c := youtube.NewClient(hc)
	const unknownID = "n0SuChV1dE0"
	for _, tc := range []struct {
		id, reason   string
		is           error  // kkdai's error in the chain
		playerCalls  int64  // kkdai retries age restrictions as the embedded player
		watchCalls   int64  // and reads the watch page for unplayable ones
		messageHas   string // what a person needs to know
		secondClient string
	}{
		{id: fake.PrivateID, reason: v1alpha1.ReasonLoginRequired, is: kkdai.ErrVideoPrivate, playerCalls: 1, messageHas: "is private"},
		{id: fake.AgeRestrictedID, reason: v1alpha1.ReasonLoginRequired, is: kkdai.ErrLoginRequired, playerCalls: 2, messageHas: "age-restricted", secondClient: "WEB_EMBEDDED_PLAYER"},
		{id: fake.AgeRestrictedNoEmbedID, reason: v1alpha1.ReasonLoginRequired, is: kkdai.ErrNotPlayableInEmbed, playerCalls: 2, messageHas: "age-restricted", secondClient: "WEB_EMBEDDED_PLAYER"},
		{id: fake.UnavailableID, reason: v1alpha1.ReasonVideoUnavailable, playerCalls: 1, watchCalls: 1, messageHas: "This video is unavailable"},
		{id: unknownID, reason: v1alpha1.ReasonVideoUnavailable, playerCalls: 1, watchCalls: 1, messageHas: "This video is unavailable"},
	} {
		t.Run(tc.id, func(t *testing.T) {
			v, err := c.Video(testContext(t), tc.id)
			if v != nil {
				t.Errorf("got a video with an error")
			}
			var e *failure.Error
			if !errors.As(err, &e) {
				t.Fatalf("error %v (%T) is not a *failure.Error", err, err)
			}
			if e.Reason != tc.reason || e.Retryable || !strings.Contains(e.Message, tc.messageHas) || !strings.Contains(e.Message, tc.id) {
				t.Errorf("got %s permanent=%v %q, want %s permanent, message with %q", e.Reason, !e.Retryable, e.Message, tc.reason, tc.messageHas)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("%v does not wrap %v", err, tc.is)
			}
			var ps *kkdai.ErrPlayabiltyStatus
			if tc.reason == v1alpha1.ReasonVideoUnavailable && (!errors.As(err, &ps) || ps.Status != "ERROR") {
				t.Errorf("%v does not wrap kkdai's playability status ERROR", err)
			}
			if got := srv.RequestsFor(fake.KindPlayer, tc.id); got != tc.playerCalls {
				t.Errorf("%d player calls, want %d", got, tc.playerCalls)
			}
			if got := srv.RequestsFor(fake.KindWatch, tc.id); got != tc.watchCalls {
				t.Errorf("%d watch page calls, want %d", got, tc.watchCalls)
			}
			if tc.secondClient != "" {
				var clients []string
				for _, r := range srv.RequestLog() {
					if r.Kind == fake.KindPlayer && r.VideoID == tc.id {
						clients = append(clients, r.Client)
					}
				}
				if len(clients) != 2 || clients[1] != tc.secondClient {
					t.Errorf("player clients %v, want the retry as %s", clients, tc.secondClient)
				}
			}
		})
	}
}

func TestHTTPErrorsFromPlayerAreClassified(t *testing.T) {
	srv, hc := startFake(t)
	c := youtube.NewClient(hc)
	for _, tc := range []struct {
		status    int
		reason    string
		permanent bool
	}{
		{503, v1alpha1.ReasonDownloadFailed, false},
		{500, v1alpha1.ReasonDownloadFailed, false},
		{429, v1alpha1.ReasonRateLimited, false},
		{403, v1alpha1.ReasonForbidden, false},
		{404, v1alpha1.ReasonVideoUnavailable, true},
	} {
		srv.FailPlayer(fake.RickrollID, tc.status, 1)
		_, err := c.Video(testContext(t), fake.RickrollID)
		e := youtube.Classify(err)
		var code kkdai.ErrUnexpectedStatusCode
		if e == nil || e.Reason != tc.reason || e.Retryable == tc.permanent || !errors.As(err, &code) || int(code) != tc.status {
			t.Errorf("HTTP %d: got %+v, want %s permanent=%v", tc.status, e, tc.reason, tc.permanent)
		}
	}
	// Each fault was used up: the next call succeeds.
	if _, err := c.Video(testContext(t), fake.RickrollID); err != nil {
		t.Errorf("after the faults: %v", err)
	}
}

func TestMediaForbiddenSurfacesWhenReading(t *testing.T) {
	srv, hc := startFake(t)
	ctx := testContext(t)
	v, err := youtube.NewClient(hc).Video(ctx, fake.RickrollID)
	if err != nil {
		t.Fatal(err)
	}
	srv.FailMedia(fake.RickrollID, 140, http.StatusForbidden, fake.Forever)
	format := v.Formats.Itag(140)[0]
	kc := &kkdai.Client{HTTPClient: hc, ChunkSize: 64 << 10}
	body, _, err := kc.GetStreamContext(ctx, v, &format)
	if err != nil {
		t.Fatalf("GetStreamContext: %v (kkdai used to report a 403 only when reading)", err)
	}
	defer body.Close()
	_, err = io.Copy(io.Discard, body)
	if e := youtube.Classify(err); e == nil || e.Reason != v1alpha1.ReasonForbidden || !e.Retryable {
		t.Errorf("reading: %v classified as %+v, want transient Forbidden", err, e)
	}
}

func TestDeadlineWhilePlayerHeld(t *testing.T) {
	srv, hc := startFake(t)
	release := srv.Hold(fake.RickrollID)
	defer release()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := youtube.NewClient(hc).Video(ctx, fake.RickrollID)
	var e *failure.Error
	if !errors.As(err, &e) || e.Reason != v1alpha1.ReasonTimeout || !e.Retryable {
		t.Fatalf("got %v, want a transient Timeout", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("took %v to give up", d)
	}
}

func TestSlowVideoDoesNotHoldBackOthers(t *testing.T) {
	srv, hc := startFake(t)
	c := youtube.NewClient(hc)
	release := srv.Hold(fake.ZooID)
	defer release()

	slow := make(chan error, 1)
	go func() {
		_, err := c.Video(testContext(t), fake.ZooID)
		slow <- err
	}()
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v, err := c.Video(testContext(t), fake.RickrollID)
			if err == nil && v.ID != fake.RickrollID {
				err = fmt.Errorf("got video %s", v.ID)
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	select {
	case err := <-slow:
		t.Fatalf("held video finished early: %v", err)
	default:
	}
	release()
	if err := <-slow; err != nil {
		t.Errorf("held video after release: %v", err)
	}
}

// kkdai switches a Client to the embedded player for good after an
// age-restricted video; ytx's Client must not carry that into the next call.
func TestEachCallUsesAFreshKkdaiClient(t *testing.T) {
	srv, hc := startFake(t)
	c := youtube.NewClient(hc)
	if _, err := c.Video(testContext(t), fake.AgeRestrictedID); err == nil {
		t.Fatal("age-restricted video read without error")
	}
	if _, err := c.Video(testContext(t), fake.RickrollID); err != nil {
		t.Fatal(err)
	}
	for _, r := range srv.RequestLog() {
		if r.Kind == fake.KindPlayer && r.VideoID == fake.RickrollID && r.Client != "ANDROID_VR" {
			t.Errorf("the next video was read as %s", r.Client)
		}
	}
}

// A title or description may hold "};" and newlines; the watch page must
// still be parsed by kkdai's non-greedy pattern, or the publish date is lost
// and GetVideo fails.
func TestWatchPageSurvivesScriptBreakingText(t *testing.T) {
	odd := fake.Video{
		ID:            "0dd_T3xt-42",
		Title:         `He said "};</script><script>alert(1)//" & left`,
		Author:        "Odd; Author",
		ChannelID:     "UC0dd0dd0dd0dd0dd0dd0dd0",
		Description:   "line one};\nvar x = {a: 1};\r\n\u2028 ü 🎵",
		LengthSeconds: 7,
		PublishDate:   time.Date(2024, 2, 29, 23, 30, 0, 0, time.UTC),
		Formats:       []fake.Format{{Itag: 140, MimeType: `audio/mp4; codecs="mp4a.40.2"`, AudioChannels: 2}},
	}
	_, hc := startFake(t, odd)
	v, err := youtube.NewClient(hc).Video(testContext(t), odd.ID)
	if err != nil {
		t.Fatal(err)
	}
	if v.Title != odd.Title || v.Description != odd.Description || v.Author != odd.Author || !v.PublishDate.Equal(odd.PublishDate) {
		t.Errorf("got %q %q %q %v", v.Title, v.Description, v.Author, v.PublishDate)
	}
}

func TestInvalidIDIsRefusedWithoutRequests(t *testing.T) {
	srv, hc := startFake(t)
	for _, id := range []string{"", "short", "dQw4w9WgXcQQ", "dQw4w9WgX&Q", "https://youtu.be/dQw4w9WgXcQ"} {
		_, err := youtube.NewClient(hc).Video(testContext(t), id)
		e := youtube.Classify(err)
		if e == nil || e.Reason != v1alpha1.ReasonInvalidURL || e.Retryable {
			t.Errorf("Video(%q): %v, want permanent InvalidURL", id, err)
		}
	}
	if n := srv.Requests(fake.KindHome) + srv.Requests(fake.KindPlayer); n != 0 {
		t.Errorf("%d requests for invalid IDs", n)
	}
}

// TestHTTPSProxyFromEnvironment runs a separate process that knows nothing
// of the fake but HTTPS_PROXY and SSL_CERT_FILE, as a worker in a cluster
// behind a TLS-inspecting proxy would. It proves NewHTTPClient keeps the
// standard proxy and trust-store behaviour.
func TestHTTPSProxyFromEnvironment(t *testing.T) {
	srv, _ := startFake(t)
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := srv.WriteCAFile(ca); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$", "-test.count=1")
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch strings.ToUpper(k) {
		case "HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY", "NO_PROXY", "SSL_CERT_FILE", "SSL_CERT_DIR":
			continue
		}
		cmd.Env = append(cmd.Env, kv)
	}
	cmd.Env = append(cmd.Env, "YTX_TEST_HELPER=1", "YTX_TEST_VIDEO="+fake.RickrollID,
		"HTTPS_PROXY="+srv.ProxyURL().String(), "SSL_CERT_FILE="+ca)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("helper: %v\n%s", err, out)
	}
	want := fixture(t, fake.RickrollID).Title
	if !strings.Contains(string(out), "TITLE="+want+"\n") {
		t.Errorf("helper output lacks the title:\n%s", out)
	}
	if srv.Requests(fake.KindPlayer) != 1 || srv.Requests(fake.KindWatch) != 1 {
		t.Errorf("the fake saw %d player and %d watch requests, want 1 each", srv.Requests(fake.KindPlayer), srv.Requests(fake.KindWatch))
	}
}

// TestHelperProcess is the other side of TestHTTPSProxyFromEnvironment.
func TestHelperProcess(t *testing.T) {
	if os.Getenv("YTX_TEST_HELPER") != "1" {
		t.Skip("helper process for TestHTTPSProxyFromEnvironment")
	}
	hc := youtube.NewHTTPClient(youtube.HTTPOptions{})
	v, err := youtube.NewClient(hc).Video(testContext(t), os.Getenv("YTX_TEST_VIDEO"))
	if err != nil {
		t.Fatal(err)
	}
	fmt.Printf("TITLE=%s\n", v.Title)
}

func TestNewHTTPClientKeepsProxyAndHasNoOverallTimeout(t *testing.T) {
	srv, _ := startFake(t)
	hc := youtube.NewHTTPClient(youtube.HTTPOptions{RootCAs: srv.CertPool()})
	rt := hc.Transport
	if u, ok := rt.(interface{ Unwrap() http.RoundTripper }); ok {
		rt = u.Unwrap()
	}
	tr, ok := rt.(*http.Transport)
	if !ok {
		t.Fatalf("transport is %T", rt)
	}
	if tr.Proxy == nil {
		t.Error("Proxy is nil: HTTPS_PROXY would be ignored")
	}
	if hc.Timeout != 0 {
		t.Errorf("Timeout %v would cut long downloads", hc.Timeout)
	}
	if tr.ResponseHeaderTimeout == 0 || tr.TLSHandshakeTimeout == 0 {
		t.Error("phase timeouts not set")
	}
	if tr.TLSClientConfig == nil || tr.TLSClientConfig.RootCAs == nil {
		t.Error("RootCAs not applied")
	}
	// (Clone itself gives the default transport an HTTP/2 TLS config, so
	// look at what NewHTTPClient sets.)
	if dc := http.DefaultTransport.(*http.Transport).TLSClientConfig; dc != nil && dc.RootCAs != nil {
		t.Error("NewHTTPClient changed http.DefaultTransport's roots")
	}
}

// Every URL after the first comes from YouTube's answers, which are not
// trusted: the client reaches nothing but YouTube's hosts over HTTPS, also
// through redirects.
func TestOnlyYouTubeHostsAreReached(t *testing.T) {
	srv, hc := startFake(t)
	for _, u := range []string{
		"https://169.254.169.254/latest/meta-data/",
		"https://kubernetes.default.svc/api",
		"https://www.youtube.com.evil.example/",
		"https://googlevideo.com.evil.example/videoplayback",
		"http://www.youtube.com/",
		"http://rr1---sn-x.googlevideo.com/videoplayback",
		"file:///etc/passwd",
	} {
		resp, err := hc.Get(u)
		if err == nil {
			resp.Body.Close()
			t.Errorf("GET %s was sent", u)
			continue
		}
		if !errors.Is(err, youtube.ErrForeignHost) {
			t.Errorf("GET %s: %v, want ErrForeignHost", u, err)
		}
	}
	for _, host := range []string{"www.youtube.com", "youtube.com", "m.youtube.com", "music.youtube.com", "rr3---sn-abc.googlevideo.com", "i.ytimg.com", "yt3.ggpht.com", "WWW.YOUTUBE.COM.", "i.ytimg.com:443"} {
		if !youtube.AllowedHost(host) {
			t.Errorf("%s refused", host)
		}
	}
	// The real hosts still work.
	if _, err := youtube.NewClient(hc).Video(testContext(t), fake.RickrollID); err != nil {
		t.Fatal(err)
	}
	_ = srv
}

// Answers other than media are read whole, so they are bounded.
func TestOversizedAnswerIsCut(t *testing.T) {
	v := fixture(t, fake.ZooID)
	v.ID = "b1gTHumbn4l"
	v.Thumbnails = []fake.Thumbnail{{Name: "maxresdefault.jpg", Width: 1280, Height: 720, Data: make([]byte, youtube.MaxPageBytes+1)}}
	_, hc := startFake(t, v)
	resp, err := hc.Get("https://i.ytimg.com/vi/" + v.ID + "/maxresdefault.jpg")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	n, err := io.Copy(io.Discard, resp.Body)
	if !errors.Is(err, youtube.ErrTooLongAnswer) || n != youtube.MaxPageBytes {
		t.Errorf("read %d bytes, %v; want %d bytes and ErrTooLongAnswer", n, err, youtube.MaxPageBytes)
	}
}
