package fake_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"image/jpeg"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"ytx.dev/ytx/internal/youtube/fake"
)

// testVideo has a small media body of known bytes, so range answers can be
// checked byte for byte.
var testBody = func() []byte {
	b := make([]byte, 1000)
	for i := range b {
		b[i] = byte(i * 7)
	}
	return b
}()

const testID = "t3stV1de0_1"

func testVideo() fake.Video {
	return fake.Video{
		ID: testID, Title: "test", Author: "tester", ChannelID: "UCtest", LengthSeconds: 10,
		PublishDate: time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC),
		Formats: []fake.Format{
			{Itag: 140, MimeType: `audio/mp4; codecs="mp4a.40.2"`, Bitrate: 128000, AudioChannels: 2, AudioSampleRate: 44100, Media: fake.Bytes(testBody)},
			{Itag: 18, MimeType: `video/mp4; codecs="avc1.42001E, mp4a.40.2"`, Progressive: true, Width: 640, Height: 360, Media: fake.Synthetic(1, 5000)},
		},
	}
}

func start(t *testing.T) (*fake.Server, *http.Client) {
	t.Helper()
	srv, err := fake.New(append(fake.DefaultVideos(), testVideo())...)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	// A plain transport, not ytx's: the fake must work for any client.
	tr := &http.Transport{DialContext: srv.DialContext, TLSClientConfig: &tls.Config{RootCAs: srv.CertPool()}, ForceAttemptHTTP2: true}
	t.Cleanup(tr.CloseIdleConnections)
	return srv, &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

// player calls the player API as kkdai does and returns the decoded answer.
func player(t testing.TB, c *http.Client, id string) (status string, urls map[int]string) {
	t.Helper()
	body := fmt.Sprintf(`{"videoId":%q,"context":{"client":{"clientName":"ANDROID_VR","clientVersion":"1.65.10"}}}`, id)
	resp, err := c.Post("https://www.youtube.com/youtubei/v1/player?key=", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var pr struct {
		PlayabilityStatus struct{ Status string }
		StreamingData     struct {
			Formats, AdaptiveFormats []struct {
				Itag int
				URL  string
			}
		}
	}
	if err := json.NewDecoder(resp.Body).Decode(&pr); err != nil {
		t.Fatal(err)
	}
	urls = map[int]string{}
	for _, f := range append(pr.StreamingData.Formats, pr.StreamingData.AdaptiveFormats...) {
		urls[f.Itag] = f.URL
	}
	return pr.PlayabilityStatus.Status, urls
}

func get(t *testing.T, c *http.Client, method, u string, header ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

func TestMediaRangeSemantics(t *testing.T) {
	_, c := start(t)
	_, urls := player(t, c, testID)
	u := urls[140]
	if u == "" || !strings.HasPrefix(u, "https://") || strings.Contains(u, "&v=") || strings.Contains(u, "?v=") {
		t.Fatalf("media URL %q", u)
	}
	size := len(testBody)

	for _, tc := range []struct {
		name, rangeHeader string
		status            int
		contentRange      string
		body              []byte
	}{
		{"full", "", 200, "", testBody},
		{"middle", "bytes=10-19", 206, "bytes 10-19/1000", testBody[10:20]},
		{"open end", "bytes=990-", 206, "bytes 990-999/1000", testBody[990:]},
		{"suffix", "bytes=-5", 206, "bytes 995-999/1000", testBody[995:]},
		{"end past size", "bytes=995-5000", 206, "bytes 995-999/1000", testBody[995:]},
		{"start past size", "bytes=1000-1005", 416, "bytes */1000", nil},
	} {
		resp, body := get(t, c, http.MethodGet, u, "Range", tc.rangeHeader)
		if resp.StatusCode != tc.status || resp.Header.Get("Content-Range") != tc.contentRange {
			t.Errorf("%s: %d %q, want %d %q", tc.name, resp.StatusCode, resp.Header.Get("Content-Range"), tc.status, tc.contentRange)
			continue
		}
		if tc.body != nil && (!bytes.Equal(body, tc.body) || resp.ContentLength != int64(len(tc.body))) {
			t.Errorf("%s: %d bytes (Content-Length %d), want %d", tc.name, len(body), resp.ContentLength, len(tc.body))
		}
		if tc.status < 300 && resp.Header.Get("Content-Type") != "audio/mp4" {
			t.Errorf("%s: Content-Type %q", tc.name, resp.Header.Get("Content-Type"))
		}
	}

	resp, body := get(t, c, http.MethodHead, u)
	if resp.StatusCode != 200 || resp.ContentLength != int64(size) || resp.Header.Get("Accept-Ranges") != "bytes" || len(body) != 0 {
		t.Errorf("HEAD: %d, length %d, Accept-Ranges %q, %d body bytes", resp.StatusCode, resp.ContentLength, resp.Header.Get("Accept-Ranges"), len(body))
	}

	// kkdai's way: a range query parameter, answered 200 with exactly those bytes.
	resp, body = get(t, c, http.MethodGet, u+"&range=100-199")
	if resp.StatusCode != 200 || !bytes.Equal(body, testBody[100:200]) {
		t.Errorf("range=100-199: %d, %d bytes", resp.StatusCode, len(body))
	}
	resp, _ = get(t, c, http.MethodGet, u+"&range=1000-1099")
	if resp.StatusCode != http.StatusRequestedRangeNotSatisfiable {
		t.Errorf("range past the end: %d", resp.StatusCode)
	}

	// Edited URLs lose their signature, as on googlevideo.com.
	for _, edit := range []func(url.Values){
		func(q url.Values) { q.Set("itag", "18") },
		func(q url.Values) { q.Set("id", fake.RickrollID) },
		func(q url.Values) { q.Set("sig", "AAAA") },
	} {
		p, _ := url.Parse(u)
		q := p.Query()
		edit(q)
		p.RawQuery = q.Encode()
		if resp, _ := get(t, c, http.MethodGet, p.String()); resp.StatusCode != http.StatusForbidden {
			t.Errorf("edited URL %s: %d, want 403", p.RawQuery, resp.StatusCode)
		}
	}
}

func TestFailMediaCountsDown(t *testing.T) {
	srv, c := start(t)
	_, urls := player(t, c, testID)
	srv.FailMedia(testID, 140, http.StatusServiceUnavailable, 2)
	var got []int
	for range 3 {
		resp, _ := get(t, c, http.MethodGet, urls[140])
		got = append(got, resp.StatusCode)
	}
	if fmt.Sprint(got) != "[503 503 200]" {
		t.Errorf("statuses %v, want two failures then success", got)
	}
	// Another format is not affected; a permanent fault stays until cleared.
	srv.FailMedia(testID, 18, http.StatusForbidden, fake.Forever)
	for range 3 {
		if resp, _ := get(t, c, http.MethodGet, urls[18]); resp.StatusCode != 403 {
			t.Errorf("permanent fault: %d", resp.StatusCode)
		}
	}
	if resp, _ := get(t, c, http.MethodGet, urls[140]); resp.StatusCode != 200 {
		t.Errorf("other format: %d", resp.StatusCode)
	}
	srv.ClearFaults()
	if resp, _ := get(t, c, http.MethodGet, urls[18]); resp.StatusCode != 200 {
		t.Errorf("after ClearFaults: %d", resp.StatusCode)
	}
	if n := srv.RequestsFor(fake.KindMedia, testID); n != 8 {
		t.Errorf("%d media requests counted, want 8", n)
	}
}

func TestCutAfterDropsTheConnection(t *testing.T) {
	srv, c := start(t)
	_, urls := player(t, c, testID)
	srv.Inject(fake.Fault{Kind: fake.KindMedia, VideoID: testID, Itag: 18, CutAfter: 1234, Times: 1})
	resp, err := c.Get(urls[18])
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err == nil || len(b) != 1234 {
		t.Errorf("read %d bytes, err %v; want 1234 bytes and an error", len(b), err)
	}
}

func TestConnectProxy(t *testing.T) {
	srv, _ := start(t)
	tr := &http.Transport{Proxy: http.ProxyURL(srv.ProxyURL()), TLSClientConfig: &tls.Config{RootCAs: srv.CertPool()}}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr, Timeout: 10 * time.Second}

	resp, body := get(t, c, http.MethodGet, "https://www.youtube.com/watch?v="+fake.RickrollID+"&bpctr=9999999999&has_verified=1")
	if resp.StatusCode != 200 || !bytes.Contains(body, []byte("var ytInitialPlayerResponse = {")) || !bytes.Contains(body, []byte(`"publishDate":"2009-10-24T23:57:33-07:00"`)) {
		t.Errorf("watch page through the proxy: %d, %d bytes", resp.StatusCode, len(body))
	}
	if srv.Requests(fake.KindWatch) != 1 {
		t.Errorf("%d watch requests", srv.Requests(fake.KindWatch))
	}
	// Hosts the certificate does not cover are refused, not forwarded.
	if _, err := c.Get("https://example.com/"); err == nil {
		t.Error("the proxy tunnelled to example.com")
	}
}

func TestHoldBlocksPlayerUntilReleased(t *testing.T) {
	srv, c := start(t)
	release := srv.Hold(fake.RickrollID)
	done := make(chan string, 1)
	go func() {
		// Not player(): t.Fatal must not run off the test goroutine.
		resp, err := c.Post("https://www.youtube.com/youtubei/v1/player", "application/json",
			strings.NewReader(`{"videoId":"`+fake.RickrollID+`","context":{"client":{"clientName":"ANDROID_VR"}}}`))
		if err != nil {
			done <- err.Error()
			return
		}
		defer resp.Body.Close()
		var pr struct{ PlayabilityStatus struct{ Status string } }
		json.NewDecoder(resp.Body).Decode(&pr)
		done <- pr.PlayabilityStatus.Status
	}()
	deadline := time.Now().Add(5 * time.Second)
	for srv.RequestsFor(fake.KindPlayer, fake.RickrollID) == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	// Other videos pass while one is held.
	if status, _ := player(t, c, fake.ZooID); status != "OK" {
		t.Errorf("other video: %s", status)
	}
	select {
	case s := <-done:
		t.Fatalf("held request answered %s before release", s)
	case <-time.After(100 * time.Millisecond):
	}
	release()
	release() // harmless
	select {
	case s := <-done:
		if s != "OK" {
			t.Errorf("after release: %s", s)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("still held after release")
	}
}

func TestHoldEndsWithTheRequestContext(t *testing.T) {
	srv, c := start(t)
	defer srv.Hold(fake.RickrollID)()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "https://www.youtube.com/youtubei/v1/player",
		strings.NewReader(`{"videoId":"`+fake.RickrollID+`","context":{"client":{"clientName":"ANDROID_VR"}}}`))
	if _, err := c.Do(req); err == nil {
		t.Error("held request answered")
	}
}

func TestPlayerAnswers(t *testing.T) {
	_, c := start(t)
	for id, want := range map[string]string{
		fake.RickrollID: "OK", fake.PrivateID: "LOGIN_REQUIRED", fake.AgeRestrictedID: "LOGIN_REQUIRED",
		fake.UnavailableID: "ERROR", "n0SuChV1dE0": "ERROR",
	} {
		if got, _ := player(t, c, id); got != want {
			t.Errorf("%s: %s, want %s", id, got, want)
		}
	}
	resp, _ := get(t, c, http.MethodPost, "https://www.youtube.com/youtubei/v1/player")
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("empty player request: %d", resp.StatusCode)
	}
}

func TestCertificateCoversYouTubeHosts(t *testing.T) {
	srv, _ := start(t)
	for _, host := range []string{"www.youtube.com", "youtube.com", "m.youtube.com", "youtu.be", "rr3---sn-fake.googlevideo.com", "i.ytimg.com", "www.youtube-nocookie.com"} {
		conn, err := srv.DialContext(context.Background(), "tcp", host+":443")
		if err != nil {
			t.Fatal(err)
		}
		tc := tls.Client(conn, &tls.Config{ServerName: host, RootCAs: srv.CertPool()})
		if err := tc.Handshake(); err != nil {
			t.Errorf("%s: %v", host, err)
		}
		tc.Close()
	}
	conn, err := srv.DialContext(context.Background(), "tcp", "example.com:443")
	if err != nil {
		t.Fatal(err)
	}
	tc := tls.Client(conn, &tls.Config{ServerName: "example.com", RootCAs: srv.CertPool()})
	if err := tc.Handshake(); err == nil {
		t.Error("certificate verified for example.com")
	}
	tc.Close()
}

func TestThumbnails(t *testing.T) {
	_, c := start(t)
	resp, body := get(t, c, http.MethodGet, "https://i.ytimg.com/vi/"+fake.RickrollID+"/hqdefault.jpg")
	cfg, err := jpeg.DecodeConfig(bytes.NewReader(body))
	if resp.StatusCode != 200 || err != nil || cfg.Width != 480 || cfg.Height != 360 {
		t.Errorf("hqdefault: %d %v %dx%d", resp.StatusCode, err, cfg.Width, cfg.Height)
	}
	if resp, _ := get(t, c, http.MethodGet, "https://i.ytimg.com/vi/"+fake.ZooID+"/maxresdefault.jpg"); resp.StatusCode != 404 {
		t.Errorf("missing maxres: %d", resp.StatusCode)
	}
}

// TestSyntheticFollowsItsSpecification recomputes the content from the
// documented algorithm, written out here independently.
func TestSyntheticFollowsItsSpecification(t *testing.T) {
	const seed, size = 0xC0FFEE, 1<<16 + 5
	want := make([]byte, 0, size+8)
	state := uint64(seed)
	for len(want) < size {
		state += 0x9E3779B97F4A7C15
		z := state
		z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9
		z = (z ^ (z >> 27)) * 0x94D049BB133111EB
		want = binary.LittleEndian.AppendUint64(want, z^(z>>31))
	}
	want = want[:size]

	m := fake.Synthetic(seed, size)
	got := make([]byte, size)
	if n, err := m.ReadAt(got, 0); n != size || (err != nil && err != io.EOF) || !bytes.Equal(got, want) {
		t.Fatalf("full read: %d %v, equal %v", n, err, bytes.Equal(got, want))
	}
	for _, r := range [][2]int{{3, 1}, {5, 13}, {8, 8}, {1000, 4097}, {size - 3, 3}} {
		p := make([]byte, r[1])
		if n, _ := m.ReadAt(p, int64(r[0])); n != r[1] || !bytes.Equal(p, want[r[0]:r[0]+r[1]]) {
			t.Errorf("ReadAt(%d, %d) differs", r[0], r[1])
		}
	}
	p := make([]byte, 10)
	if n, err := m.ReadAt(p, size-4); n != 4 || err != io.EOF {
		t.Errorf("read past the end: %d %v", n, err)
	}
	sum, _ := fake.SHA256(m)
	if h := sha256.Sum256(want); sum != hex.EncodeToString(h[:]) {
		t.Error("SHA256 differs from the content's digest")
	}
	if other, _ := fake.SHA256(fake.Synthetic(seed+1, size)); other == sum {
		t.Error("another seed gives the same content")
	}
}

func TestFileMedia(t *testing.T) {
	path := filepath.Join(t.TempDir(), "clip.m4a")
	if err := os.WriteFile(path, testBody, 0o644); err != nil {
		t.Fatal(err)
	}
	m, err := fake.File(path)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(io.NewSectionReader(m, 0, m.Size()))
	if err != nil || !bytes.Equal(got, testBody) {
		t.Errorf("file media: %v, %d bytes", err, len(got))
	}
	if _, err := fake.File(filepath.Dir(path)); err == nil {
		t.Error("a directory was accepted")
	}
}

func TestNewRefusesBrokenFixtures(t *testing.T) {
	ok := testVideo()
	for name, v := range map[string]fake.Video{
		"short ID":        {ID: "abc", Formats: ok.Formats},
		"no formats":      {ID: testID},
		"duplicate itag":  {ID: testID, Formats: []fake.Format{ok.Formats[0], ok.Formats[0]}},
		"bad mime":        {ID: testID, Formats: []fake.Format{{Itag: 1, MimeType: "text/plain"}}},
		"length mismatch": {ID: testID, Formats: []fake.Format{{Itag: 1, MimeType: "audio/mp4", ContentLength: 5, Media: fake.Bytes([]byte("1234"))}}},
	} {
		if _, err := fake.New(v); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := fake.New(fake.Video{ID: fake.PrivateID, Playability: fake.Private}); err != nil {
		t.Errorf("a private video needs no formats: %v", err)
	}
}

func BenchmarkSyntheticReadAt(b *testing.B) {
	m := fake.Synthetic(7, 1<<40)
	p := make([]byte, 1<<20)
	b.SetBytes(int64(len(p)))
	for i := 0; b.Loop(); i++ {
		m.ReadAt(p, int64(i)*int64(len(p))+3)
	}
}

// BenchmarkMediaGET measures the fake's throughput for one plain GET of a
// 64 MiB synthetic format over TLS.
func BenchmarkMediaGET(b *testing.B) {
	v := testVideo()
	v.Formats[1].Media = fake.Synthetic(9, 64<<20)
	srv, err := fake.New(v)
	if err != nil {
		b.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	tr := &http.Transport{DialContext: srv.DialContext, TLSClientConfig: &tls.Config{RootCAs: srv.CertPool()}, ForceAttemptHTTP2: true}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr}
	_, urls := player(b, c, testID)
	b.SetBytes(64 << 20)
	for b.Loop() {
		resp, err := c.Get(urls[18])
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
}

func TestThrottlePacesMedia(t *testing.T) {
	srv, c := start(t)
	_, urls := player(t, c, testID)
	// Bodies are paced whether asked with googlevideo's range parameter
	// or a Range header; the limit is per video and can be lifted.
	srv.Throttle(testID, 20_000)
	for _, u := range []string{urls[18] + "&range=0-4999", urls[18]} {
		began := time.Now()
		resp, body := get(t, c, http.MethodGet, u, "Range", "bytes=0-4999")
		if resp.StatusCode/100 != 2 || len(body) != 5000 {
			t.Fatalf("%s: %d, %d bytes", u, resp.StatusCode, len(body))
		}
		if took := time.Since(began); took < 200*time.Millisecond {
			t.Errorf("5 kB at 20 kB/s took %s, want about 250ms", took)
		}
	}
	srv.Throttle(testID, 0)
	began := time.Now()
	get(t, c, http.MethodGet, urls[18]+"&range=0-4999")
	if took := time.Since(began); took > 200*time.Millisecond {
		t.Errorf("after lifting the limit 5 kB took %s", took)
	}
}

func TestMediaBytesCountsWhatWasSent(t *testing.T) {
	srv, c := start(t)
	_, urls := player(t, c, testID)
	if n := srv.MediaBytesFor(testID); n != 0 {
		t.Fatalf("%d media bytes before any request", n)
	}
	// Full, ranged (both ways), throttled and HEAD (no body): the counter
	// is the body bytes that left, per video.
	get(t, c, http.MethodGet, urls[140])
	get(t, c, http.MethodGet, urls[140], "Range", "bytes=10-19")
	get(t, c, http.MethodGet, urls[140]+"&range=100-199")
	get(t, c, http.MethodHead, urls[140])
	srv.Throttle(testID, 20_000)
	get(t, c, http.MethodGet, urls[18]+"&range=0-4999")
	srv.Throttle(testID, 0)
	if n, want := srv.MediaBytesFor(testID), int64(len(testBody)+10+100+5000); n != want {
		t.Errorf("MediaBytesFor = %d, want %d", n, want)
	}
	if n := srv.MediaBytesFor(fake.RickrollID); n != 0 {
		t.Errorf("another video: %d bytes", n)
	}
	srv.ResetCounters()
	if n := srv.MediaBytesFor(testID); n != 0 {
		t.Errorf("after ResetCounters: %d", n)
	}
}
