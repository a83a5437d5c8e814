package download_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	kkdai "github.com/kkdai/youtube/v2"
	"k8s.io/apimachinery/pkg/util/wait"

	"ytx.dev/ytx/api/v1alpha1"
	"ytx.dev/ytx/internal/download"
	"ytx.dev/ytx/internal/failure"
	"ytx.dev/ytx/internal/youtube"
	"ytx.dev/ytx/internal/youtube/fake"
)

// TestMain keeps a proxy configured on the developer's machine out of the
// tests, which dial the fake directly.
func TestMain(m *testing.M) {
	for _, k := range []string{"HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"} {
		os.Unsetenv(k)
	}
	os.Exit(m.Run())
}

const (
	videoID = "d0wnL0adT3s"
	// itagKnown advertises its contentLength; itagUnknown does not (kkdai
	// then reports ContentLength 0); itagBig is for cancellation.
	itagKnown   = 140
	itagUnknown = 251
	itagBig     = 137
)

// Sizes that no power-of-two chunk divides.
var (
	mediaKnown   = fake.Synthetic(fake.Seed(videoID+"/140"), 3<<20+12_345)
	mediaUnknown = fake.Synthetic(fake.Seed(videoID+"/251"), 2<<20+777)
	mediaBig     = fake.Synthetic(fake.Seed(videoID+"/137"), 64<<20+1)
)

func testVideo() fake.Video {
	return fake.Video{
		ID: videoID, Title: "download test", Author: "ytx", ChannelID: "UCytx", LengthSeconds: 60,
		PublishDate: time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC),
		Formats: []fake.Format{
			{Itag: itagKnown, MimeType: `audio/mp4; codecs="mp4a.40.2"`, Bitrate: 130000, AudioChannels: 2, AudioSampleRate: 44100, Media: mediaKnown},
			{Itag: itagUnknown, MimeType: `audio/webm; codecs="opus"`, Bitrate: 140000, AudioChannels: 2, AudioSampleRate: 48000, ContentLength: -1, Media: mediaUnknown},
			{Itag: itagBig, MimeType: `video/mp4; codecs="avc1.640028"`, Bitrate: 4000000, Width: 1920, Height: 1080, FPS: 25, QualityLabel: "1080p", Media: mediaBig},
		},
	}
}

// startFake serves testVideo and returns an HTTP client built by
// youtube.NewHTTPClient that reaches the fake.
func startFake(t testing.TB, videos ...fake.Video) (*fake.Server, *http.Client) {
	t.Helper()
	if len(videos) == 0 {
		videos = []fake.Video{testVideo()}
	}
	srv, err := fake.New(videos...)
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

// streamURL resolves a format's media URL through kkdai, as the worker will,
// and returns it with the advertised size; the fake's counters are reset
// afterwards (if srv is not nil) so that they count the download only.
func streamURL(t testing.TB, srv *fake.Server, hc *http.Client, id string, itag int) (string, int64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c := youtube.NewClient(hc)
	v, err := c.Video(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	formats := v.Formats.Itag(itag)
	if len(formats) == 0 {
		t.Fatalf("no itag %d", itag)
	}
	u, err := c.StreamURL(ctx, v, &formats[0])
	if err != nil {
		t.Fatal(err)
	}
	if srv != nil {
		srv.ResetCounters()
	}
	return u, formats[0].ContentLength
}

func fileSHA256(t testing.TB, path string) (string, int64) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil)), n
}

func wantSHA256(t testing.TB, m fake.Media) string {
	t.Helper()
	s, err := fake.SHA256(m)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// fastBackoff keeps retries quick in tests.
var fastBackoff = wait.Backoff{Duration: time.Millisecond, Factor: 2, Steps: 4}

// counter is a progress callback that adds up, as callers do.
type counter struct {
	n     atomic.Int64
	calls atomic.Int64
	hook  func(total int64)
}

func (c *counter) progress(n int64) {
	if n <= 0 {
		panic(fmt.Sprintf("progress(%d)", n))
	}
	c.calls.Add(1)
	total := c.n.Add(n)
	if c.hook != nil {
		c.hook(total)
	}
}

// mediaRequests returns the media requests of the log (method and range).
func mediaRequests(srv *fake.Server) []fake.Request {
	var out []fake.Request
	for _, r := range srv.RequestLog() {
		if r.Kind == fake.KindMedia {
			out = append(out, r)
		}
	}
	return out
}

// checkDownloaded compares the file with the served media and the progress
// with its size.
func checkDownloaded(t *testing.T, path string, media fake.Media, c *counter) {
	t.Helper()
	got, n := fileSHA256(t, path)
	if n != media.Size() || got != wantSHA256(t, media) {
		t.Errorf("file has %d bytes, sha256 %s; want %d bytes, %s", n, got, media.Size(), wantSHA256(t, media))
	}
	if c != nil && c.n.Load() != media.Size() {
		t.Errorf("progress adds up to %d, want %d", c.n.Load(), media.Size())
	}
}

func asError(t *testing.T, err error) *failure.Error {
	t.Helper()
	var ye *failure.Error
	if !errors.As(err, &ye) {
		t.Fatalf("error %v (%T) is not a *failure.Error", err, err)
	}
	return ye
}

func checkRemoved(t *testing.T, path string) {
	t.Helper()
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("after a failure the file is still there (%v)", err)
	}
}

func TestDownloadMatchesServedMedia(t *testing.T) {
	srv, hc := startFake(t)
	u, size := streamURL(t, srv, hc, videoID, itagKnown)
	if size != mediaKnown.Size() {
		t.Fatalf("advertised size %d, want %d", size, mediaKnown.Size())
	}
	for _, tc := range []struct {
		chunk    int64
		parallel int
	}{
		{0, 0}, // defaults
		{1 << 20, 4},
		{1_000_003, 3}, // odd size, last chunk short
		{256 << 10, 8},
		{size, 2},     // exactly one chunk
		{size + 1, 2}, // one chunk, larger than the stream
		{size - 1, 4}, // a last chunk of one byte
	} {
		t.Run(fmt.Sprintf("chunk=%d/parallel=%d", tc.chunk, tc.parallel), func(t *testing.T) {
			srv.ResetCounters()
			path := filepath.Join(t.TempDir(), "out.m4a")
			// A stale longer file must be truncated.
			if err := os.WriteFile(path, make([]byte, size+5000), 0o644); err != nil {
				t.Fatal(err)
			}
			var c counter
			d := download.Downloader{HTTP: hc, Options: download.Options{ChunkSize: tc.chunk, Parallel: tc.parallel}}
			if err := d.ToFile(testContext(t), u, size, path, c.progress); err != nil {
				t.Fatal(err)
			}
			checkDownloaded(t, path, mediaKnown, &c)

			chunk := tc.chunk
			if chunk == 0 {
				chunk = download.DefaultChunkSize
			}
			wantRanges := map[string]bool{}
			for start := int64(0); start < size; start += chunk {
				wantRanges[fmt.Sprintf("%d-%d", start, min(start+chunk, size)-1)] = true
			}
			reqs := mediaRequests(srv)
			got := map[string]bool{}
			for _, r := range reqs {
				if r.Method != http.MethodGet || got[r.Range] || !wantRanges[r.Range] {
					t.Errorf("unexpected media request %s range %q", r.Method, r.Range)
				}
				got[r.Range] = true
			}
			if len(reqs) != len(wantRanges) {
				t.Errorf("%d media requests, want %d", len(reqs), len(wantRanges))
			}
		})
	}
}

// A 500 on one chunk in the middle of the stream is retried, and the
// download completes with the right bytes and progress.
func TestServerErrorMidStreamIsRetried(t *testing.T) {
	for _, tc := range []struct {
		name  string
		fault fake.Fault
	}{
		{"500", fake.Fault{Status: http.StatusInternalServerError}},
		{"503", fake.Fault{Status: http.StatusServiceUnavailable}},
		{"429", fake.Fault{Status: http.StatusTooManyRequests}},
		{"403 once", fake.Fault{Status: http.StatusForbidden}},
		// The connection drops halfway through a chunk's body.
		{"cut", fake.Fault{CutAfter: 100 << 10}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, hc := startFake(t)
			u, size := streamURL(t, srv, hc, videoID, itagKnown)
			const chunk = 256 << 10
			fault := tc.fault
			fault.Kind, fault.VideoID, fault.Itag, fault.Times = fake.KindMedia, videoID, itagKnown, 1
			var once sync.Once
			c := counter{hook: func(total int64) {
				if total > size/2 {
					once.Do(func() { srv.Inject(fault) })
				}
			}}
			path := filepath.Join(t.TempDir(), "out.m4a")
			d := download.Downloader{HTTP: hc, Options: download.Options{ChunkSize: chunk, Parallel: 2, Backoff: fastBackoff}}
			if err := d.ToFile(testContext(t), u, size, path, c.progress); err != nil {
				t.Fatal(err)
			}
			checkDownloaded(t, path, mediaKnown, &c)

			chunks := int((size + chunk - 1) / chunk)
			reqs := mediaRequests(srv)
			seen := map[string]int{}
			var retried []string
			for _, r := range reqs {
				if seen[r.Range]++; seen[r.Range] == 2 {
					retried = append(retried, r.Range)
				}
			}
			if len(reqs) != chunks+1 || len(seen) != chunks || len(retried) != 1 {
				t.Fatalf("%d media requests for %d chunks, retried %v; want one retry", len(reqs), chunks, retried)
			}
			start, _, _ := strings.Cut(retried[0], "-")
			if off, _ := strconv.ParseInt(start, 10, 64); off == 0 {
				t.Errorf("the fault hit the first chunk, not one mid-stream")
			}
		})
	}
}

func TestForbiddenOnEveryAttemptIsPermanent(t *testing.T) {
	srv, hc := startFake(t)
	u, size := streamURL(t, srv, hc, videoID, itagKnown)
	srv.FailMedia(videoID, itagKnown, http.StatusForbidden, fake.Forever)
	path := filepath.Join(t.TempDir(), "out.m4a")
	d := download.Downloader{HTTP: hc, Options: download.Options{ChunkSize: 1 << 20, Parallel: 2, Backoff: fastBackoff}}
	err := d.ToFile(testContext(t), u, size, path, nil)
	ye := asError(t, err)
	if ye.Reason != v1alpha1.ReasonForbidden || ye.Retryable {
		t.Errorf("reason %s permanent %v, want Forbidden permanent: %v", ye.Reason, !ye.Retryable, err)
	}
	for _, s := range []string{"refused", "repeatedly", "region", "IP"} {
		if !strings.Contains(ye.Message, s) {
			t.Errorf("message %q does not say %q", ye.Message, s)
		}
	}
	var code kkdai.ErrUnexpectedStatusCode
	if !errors.As(err, &code) || code != http.StatusForbidden {
		t.Errorf("error does not unwrap to HTTP 403: %v", err)
	}
	// Each chunk in flight tried Steps times, then everything stopped.
	if n := srv.Requests(fake.KindMedia); n < int64(fastBackoff.Steps) || n > 2*int64(fastBackoff.Steps) {
		t.Errorf("%d media requests, want %d to %d", n, fastBackoff.Steps, 2*fastBackoff.Steps)
	}
	checkRemoved(t, path)
}

func TestNotFoundIsUnavailableWithoutRetries(t *testing.T) {
	for _, status := range []int{http.StatusNotFound, http.StatusGone} {
		t.Run(strconv.Itoa(status), func(t *testing.T) {
			srv, hc := startFake(t)
			u, size := streamURL(t, srv, hc, videoID, itagKnown)
			srv.FailMedia(videoID, itagKnown, status, fake.Forever)
			path := filepath.Join(t.TempDir(), "out.m4a")
			d := download.Downloader{HTTP: hc, Options: download.Options{ChunkSize: 1 << 20, Parallel: 1, Backoff: fastBackoff}}
			ye := asError(t, d.ToFile(testContext(t), u, size, path, nil))
			if ye.Reason != v1alpha1.ReasonVideoUnavailable || ye.Retryable {
				t.Errorf("reason %s permanent %v, want VideoUnavailable permanent: %v", ye.Reason, !ye.Retryable, ye)
			}
			if n := srv.Requests(fake.KindMedia); n != 1 {
				t.Errorf("%d media requests, want 1 (no retries)", n)
			}
			checkRemoved(t, path)
		})
	}
}

func TestRetriesExhaustedIsTransient(t *testing.T) {
	srv, hc := startFake(t)
	u, size := streamURL(t, srv, hc, videoID, itagKnown)
	srv.FailMedia(videoID, itagKnown, http.StatusServiceUnavailable, fake.Forever)
	path := filepath.Join(t.TempDir(), "out.m4a")
	d := download.Downloader{HTTP: hc, Options: download.Options{ChunkSize: 1 << 20, Parallel: 1, Backoff: fastBackoff}}
	err := d.ToFile(testContext(t), u, size, path, nil)
	ye := asError(t, err)
	if ye.Reason != v1alpha1.ReasonDownloadFailed || !ye.Retryable {
		t.Errorf("reason %s permanent %v, want DownloadFailed transient: %v", ye.Reason, !ye.Retryable, err)
	}
	var code kkdai.ErrUnexpectedStatusCode
	if !errors.As(err, &code) || code != http.StatusServiceUnavailable {
		t.Errorf("error does not unwrap to HTTP 503: %v", err)
	}
	if n := srv.Requests(fake.KindMedia); n != int64(fastBackoff.Steps) {
		t.Errorf("%d media requests, want %d (Backoff.Steps)", n, fastBackoff.Steps)
	}
	checkRemoved(t, path)
}

// A connection cut on every attempt ends as DownloadFailed, not Forbidden.
func TestCutOnEveryAttemptIsTransient(t *testing.T) {
	srv, hc := startFake(t)
	u, size := streamURL(t, srv, hc, videoID, itagKnown)
	srv.Inject(fake.Fault{Kind: fake.KindMedia, VideoID: videoID, CutAfter: 1000, Times: fake.Forever})
	d := download.Downloader{HTTP: hc, Options: download.Options{ChunkSize: 1 << 20, Parallel: 2, Backoff: fastBackoff}}
	ye := asError(t, d.ToFile(testContext(t), u, size, filepath.Join(t.TempDir(), "out"), nil))
	if ye.Reason != v1alpha1.ReasonDownloadFailed || !ye.Retryable {
		t.Errorf("reason %s permanent %v, want DownloadFailed transient: %v", ye.Reason, !ye.Retryable, ye)
	}
}

// An advertised size larger than the stream cannot be downloaded.
func TestAdvertisedSizeLargerThanStream(t *testing.T) {
	srv, hc := startFake(t)
	u, size := streamURL(t, srv, hc, videoID, itagKnown)
	for _, extra := range []int64{100, 2 << 20} { // a short last chunk; a chunk past the end (416)
		d := download.Downloader{HTTP: hc, Options: download.Options{ChunkSize: 1 << 20, Backoff: fastBackoff}}
		ye := asError(t, d.ToFile(testContext(t), u, size+extra, filepath.Join(t.TempDir(), "out"), nil))
		if ye.Reason != v1alpha1.ReasonDownloadFailed || !ye.Retryable {
			t.Errorf("size+%d: reason %s permanent %v, want DownloadFailed transient: %v", extra, ye.Reason, !ye.Retryable, ye)
		}
	}
}

func TestMaxBytesWithKnownSizeFailsBeforeAnyRequest(t *testing.T) {
	srv, hc := startFake(t)
	u, size := streamURL(t, srv, hc, videoID, itagKnown)
	path := filepath.Join(t.TempDir(), "out.m4a")
	maxBytes := size - 1
	d := download.Downloader{HTTP: hc, Options: download.Options{MaxBytes: maxBytes}}
	err := d.ToFile(testContext(t), u, size, path, nil)
	checkTooLarge(t, err, maxBytes)
	if n := srv.Requests(fake.KindMedia); n != 0 {
		t.Errorf("%d media requests, want none", n)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a file was created: %v", err)
	}

	// Exactly the cap is allowed.
	d.Options.MaxBytes = size
	if err := d.ToFile(testContext(t), u, size, path, nil); err != nil {
		t.Fatal(err)
	}
	checkDownloaded(t, path, mediaKnown, nil)
}

func checkTooLarge(t *testing.T, err error, maxBytes int64) {
	t.Helper()
	ye := asError(t, err)
	if ye.Reason != v1alpha1.ReasonArtifactTooLarge || ye.Retryable {
		t.Errorf("reason %s permanent %v, want ArtifactTooLarge permanent: %v", ye.Reason, !ye.Retryable, err)
	}
	for _, s := range []string{strconv.FormatInt(maxBytes, 10) + " bytes", "MiB", "--max-artifact-bytes"} {
		if !strings.Contains(ye.Message, s) {
			t.Errorf("message %q does not say %q", ye.Message, s)
		}
	}
}

// Without an advertised size the downloader asks with a HEAD, then
// downloads in chunks.
func TestUnknownSizeIsAskedWithHEAD(t *testing.T) {
	srv, hc := startFake(t)
	u, size := streamURL(t, srv, hc, videoID, itagUnknown)
	if size != 0 {
		t.Fatalf("kkdai reports ContentLength %d, want 0 (unknown)", size)
	}
	path := filepath.Join(t.TempDir(), "out.webm")
	var c counter
	d := download.Downloader{HTTP: hc, Options: download.Options{ChunkSize: 1 << 20}}
	if err := d.ToFile(testContext(t), u, size, path, c.progress); err != nil {
		t.Fatal(err)
	}
	checkDownloaded(t, path, mediaUnknown, &c)
	reqs := mediaRequests(srv)
	if len(reqs) != 4 || reqs[0].Method != http.MethodHead {
		t.Errorf("media requests %+v, want a HEAD then 3 ranged GETs", reqs)
	}

	// With a cap below the size, only the HEAD is made.
	srv.ResetCounters()
	maxBytes := mediaUnknown.Size() - 10
	d.Options.MaxBytes = maxBytes
	checkTooLarge(t, d.ToFile(testContext(t), u, -1, path, nil), maxBytes)
	if reqs := mediaRequests(srv); len(reqs) != 1 || reqs[0].Method != http.MethodHead {
		t.Errorf("media requests %+v, want one HEAD", reqs)
	}
}

// When the HEAD does not answer, one streamed GET is made, retried from the
// start when the connection drops, and capped by MaxBytes.
func TestUnknownSizeFallsBackToStreamedGET(t *testing.T) {
	srv, hc := startFake(t)
	u, _ := streamURL(t, srv, hc, videoID, itagUnknown)
	// Faults apply in order: the HEAD takes the 500, the first GET is cut.
	srv.Inject(fake.Fault{Kind: fake.KindMedia, VideoID: videoID, Status: http.StatusInternalServerError, Times: 1})
	srv.Inject(fake.Fault{Kind: fake.KindMedia, VideoID: videoID, CutAfter: 1 << 20, Times: 1})
	path := filepath.Join(t.TempDir(), "out.webm")
	var c counter
	d := download.Downloader{HTTP: hc, Options: download.Options{Backoff: fastBackoff}}
	if err := d.ToFile(testContext(t), u, 0, path, c.progress); err != nil {
		t.Fatal(err)
	}
	checkDownloaded(t, path, mediaUnknown, &c)
	reqs := mediaRequests(srv)
	if len(reqs) != 3 || reqs[0].Method != http.MethodHead || reqs[1].Range != "" || reqs[2].Range != "" || reqs[2].Method != http.MethodGet {
		t.Errorf("media requests %+v, want HEAD, GET (cut), GET", reqs)
	}

	// The cap: the GET's Content-Length is over it, so no body is read.
	srv.ResetCounters()
	srv.Inject(fake.Fault{Kind: fake.KindMedia, VideoID: videoID, Status: http.StatusInternalServerError, Times: 1})
	maxBytes := int64(1 << 20)
	d.Options.MaxBytes = maxBytes
	checkTooLarge(t, d.ToFile(testContext(t), u, 0, path, nil), maxBytes)
	if reqs := mediaRequests(srv); len(reqs) != 2 {
		t.Errorf("media requests %+v, want HEAD and GET", reqs)
	}
	checkRemoved(t, path)
}

// A server that tells no size anywhere (no HEAD, no Content-Length) is
// stopped as soon as it passes the cap. The fake always sends
// Content-Length, so this uses a plain httptest server.
func TestStreamPassingTheCapIsStopped(t *testing.T) {
	var sent atomic.Int64
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodHead {
			w.WriteHeader(http.StatusMethodNotAllowed)
			return
		}
		block := make([]byte, 64<<10)
		for i := 0; i < 1000; i++ { // 64 MB, chunked encoding
			if _, err := w.Write(block); err != nil {
				return
			}
			w.(http.Flusher).Flush()
			sent.Add(int64(len(block)))
		}
	}))
	defer ts.Close()
	path := filepath.Join(t.TempDir(), "out")
	maxBytes := int64(1<<20 + 5)
	var c counter
	d := download.Downloader{HTTP: ts.Client(), Options: download.Options{MaxBytes: maxBytes, Backoff: fastBackoff}}
	checkTooLarge(t, d.ToFile(testContext(t), ts.URL+"/videoplayback?id=x", 0, path, c.progress), maxBytes)
	if c.n.Load() > maxBytes {
		t.Errorf("%d bytes written, more than the cap %d", c.n.Load(), maxBytes)
	}
	if s := sent.Load(); s > 16<<20 {
		t.Errorf("the server sent %d bytes before the download stopped", s)
	}
	checkRemoved(t, path)
}

// downloadGoroutines lists goroutines running this package's code.
func downloadGoroutines() []string {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var out []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "ytx/internal/download.") && !strings.Contains(g, "download_test.") {
			out = append(out, g)
		}
	}
	return out
}

// settled waits for the goroutines to drop to base and for none of this
// package's to be left.
func checkSettled(t *testing.T, hc *http.Client, base int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		hc.CloseIdleConnections()
		left := downloadGoroutines()
		n := runtime.NumGoroutine()
		if len(left) == 0 && n <= base {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines (%d before); left in this package:\n%s", n, base, strings.Join(left, "\n\n"))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestCancelMidDownloadReturnsPromptly(t *testing.T) {
	srv, hc := startFake(t)
	u, size := streamURL(t, srv, hc, videoID, itagBig)
	hc.CloseIdleConnections()
	base := runtime.NumGoroutine()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var cancelled atomic.Int64 // when, in UnixNano
	c := counter{hook: func(total int64) {
		if total > 4<<20 && cancelled.Load() == 0 {
			cancelled.Store(time.Now().UnixNano())
			cancel()
		}
	}}
	path := filepath.Join(t.TempDir(), "out.mp4")
	d := download.Downloader{HTTP: hc, Options: download.Options{ChunkSize: 1 << 20, Parallel: 4}}
	err := d.ToFile(ctx, u, size, path, c.progress)
	took := time.Since(time.Unix(0, cancelled.Load()))
	if cancelled.Load() == 0 {
		t.Fatalf("never cancelled: %v", err)
	}
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v, want context.Canceled", err)
	}
	if ye := asError(t, err); !ye.Retryable {
		t.Errorf("cancellation is permanent: %v", ye)
	}
	if took > time.Second {
		t.Errorf("returned %v after the cancel", took)
	}
	if c.n.Load() >= size {
		t.Errorf("the whole stream arrived (%d bytes) despite the cancel", c.n.Load())
	}
	checkRemoved(t, path)
	checkSettled(t, hc, base)
}

// Cancelling while a chunk waits to retry ends the wait.
func TestCancelDuringBackoff(t *testing.T) {
	srv, hc := startFake(t)
	u, size := streamURL(t, srv, hc, videoID, itagKnown)
	hc.CloseIdleConnections()
	base := runtime.NumGoroutine()
	srv.FailMedia(videoID, 0, http.StatusServiceUnavailable, fake.Forever)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	d := download.Downloader{HTTP: hc, Options: download.Options{Backoff: wait.Backoff{Duration: time.Hour, Steps: 3}}}
	go func() { done <- d.ToFile(ctx, u, size, filepath.Join(t.TempDir(), "out"), nil) }()
	for srv.Requests(fake.KindMedia) == 0 {
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond) // into the backoff
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("error %v, want context.Canceled", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("ToFile did not return after the cancel")
	}
	checkSettled(t, hc, base)
}

// A deadline classifies as Timeout.
func TestDeadlineIsTimeout(t *testing.T) {
	srv, hc := startFake(t)
	u, size := streamURL(t, srv, hc, videoID, itagKnown)
	srv.FailMedia(videoID, 0, http.StatusServiceUnavailable, fake.Forever)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	d := download.Downloader{HTTP: hc, Options: download.Options{Backoff: wait.Backoff{Duration: time.Hour, Steps: 3}}}
	err := d.ToFile(ctx, u, size, filepath.Join(t.TempDir(), "out"), nil)
	if ye := asError(t, err); ye.Reason != v1alpha1.ReasonTimeout || !ye.Retryable || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("reason %s permanent %v: %v; want Timeout transient", ye.Reason, !ye.Retryable, err)
	}
}

func TestUnwritableScratchPathIsScratchFailed(t *testing.T) {
	srv, hc := startFake(t)
	u, size := streamURL(t, srv, hc, videoID, itagKnown)
	d := download.Downloader{HTTP: hc}
	err := d.ToFile(testContext(t), u, size, filepath.Join(t.TempDir(), "missing", "out"), nil)
	if ye := asError(t, err); ye.Reason != v1alpha1.ReasonScratchFailed || !ye.Retryable {
		t.Errorf("reason %s permanent %v: %v; want ScratchFailed transient", ye.Reason, !ye.Retryable, err)
	}
	if n := srv.Requests(fake.KindMedia); n != 0 {
		t.Errorf("%d media requests, want none", n)
	}
}

// A connection that stays open but stops sending costs a retry of that
// chunk, not the download.
func TestStalledChunkIsRetried(t *testing.T) {
	srv, hc := startFake(t)
	u, size := streamURL(t, srv, hc, videoID, itagKnown)
	srv.Throttle(videoID, 1) // a byte a second: a stall
	go func() {
		// Lift the stall once the first attempt is under way, so that
		// only the retries can finish the download.
		for srv.RequestsFor(fake.KindMedia, videoID) == 0 {
			time.Sleep(10 * time.Millisecond)
		}
		time.Sleep(100 * time.Millisecond)
		srv.Throttle(videoID, 0)
	}()
	d := &download.Downloader{HTTP: hc, Options: download.Options{ChunkSize: size, Parallel: 1, IdleTimeout: 300 * time.Millisecond, Backoff: wait.Backoff{Duration: 10 * time.Millisecond, Steps: 3}}}
	path := filepath.Join(t.TempDir(), "out")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	began := time.Now()
	if err := d.ToFile(ctx, u, size, path, func(int64) {}); err != nil {
		t.Fatalf("after a stall: %v", err)
	}
	if sum, n := fileSHA256(t, path); n != size || sum != wantSHA256(t, mediaKnown) {
		t.Errorf("got %d bytes %s, want %d bytes of the served media", n, sum, size)
	}
	if n := srv.RequestsFor(fake.KindMedia, videoID); n != 2 {
		t.Errorf("%d media requests, want the stalled one and its retry", n)
	}
	if took := time.Since(began); took > 10*time.Second {
		t.Errorf("the stall was noticed late: %s", took)
	}
}

// net/http names the whole request URL in its errors, and a media URL is
// signed: what a failed download reports must show its host and path only.
func TestFailedDownloadDoesNotShowTheSignedURL(t *testing.T) {
	srv, hc := startFake(t)
	u, size := streamURL(t, srv, hc, videoID, itagKnown)
	sig, _ := url.Parse(u)
	secret := sig.Query().Get("sig")
	if secret == "" {
		t.Fatalf("the fake's URL %s is not signed", u)
	}
	srv.Close() // every attempt now fails to connect
	d := download.Downloader{HTTP: hc, Options: download.Options{ChunkSize: 1 << 20, Parallel: 2, Backoff: fastBackoff}}
	err := d.ToFile(testContext(t), u, size, filepath.Join(t.TempDir(), "out"), nil)
	ye := asError(t, err)
	if ye.Reason != v1alpha1.ReasonDownloadFailed || ye.Cause == nil {
		t.Fatalf("got %+v, want DownloadFailed with its cause", ye)
	}
	text := fmt.Sprintf("%v %+v %s", err, err, ye.Message)
	for _, leak := range []string{secret, "sig=", "expire="} {
		if strings.Contains(text, leak) {
			t.Errorf("the error shows %q: %s", leak, text)
		}
	}
	if !strings.Contains(text, "googlevideo.com/videoplayback") {
		t.Errorf("the error lost the host and path: %s", text)
	}
}

// A stream URL off YouTube's hosts (a forged answer) is refused once, not
// retried, and nothing connects to it.
func TestForeignStreamURLIsRefusedWithoutRetries(t *testing.T) {
	internal, err := fake.ListenInternal()
	if err != nil {
		t.Fatal(err)
	}
	defer internal.Close()
	// The production client: its host guard refuses these URLs before any
	// dial (its dialer would refuse the loopback address too, later).
	hc := youtube.NewHTTPClient(youtube.HTTPOptions{})
	t.Cleanup(hc.CloseIdleConnections)
	for _, u := range []string{
		"https://" + internal.Addr + "/videoplayback?id=x&itag=140&sig=S3CRET",
		"http://" + internal.Addr + "/videoplayback?sig=S3CRET",
		"http://rr3---sn-fake.googlevideo.com/videoplayback?sig=S3CRET",
	} {
		for _, size := range []int64{1 << 20, 0} { // chunked; HEAD then streamed
			// Slow retries: a retried refusal would take seconds.
			d := download.Downloader{HTTP: hc, Options: download.Options{Backoff: wait.Backoff{Duration: 2 * time.Second, Steps: 4}}}
			start := time.Now()
			err := d.ToFile(testContext(t), u, size, filepath.Join(t.TempDir(), "out"), nil)
			ye := asError(t, err)
			if ye.Reason != v1alpha1.ReasonDownloadFailed || ye.Retryable || !errors.Is(err, youtube.ErrForeignHost) {
				t.Errorf("%s: %+v, want a permanent DownloadFailed wrapping ErrForeignHost", u, ye)
			}
			if strings.Contains(err.Error(), "S3CRET") {
				t.Errorf("%s: the error shows the signature: %v", u, err)
			}
			if took := time.Since(start); took > time.Second {
				t.Errorf("%s: took %s, as if retried", u, took)
			}
		}
	}
	time.Sleep(50 * time.Millisecond)
	if n := internal.Conns(); n != 0 {
		t.Errorf("the listener saw %d connections", n)
	}
}
