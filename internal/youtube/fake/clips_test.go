package fake_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"image/jpeg"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	kkdai "github.com/kkdai/youtube/v2"

	"ytx.dev/ytx/internal/media"
	"ytx.dev/ytx/internal/youtube/fake"
)

const clipID = "cL1pV1de0_3"

// TestClipsAreRealMedia makes the clips, checks them with ffprobe, serves
// them and reads them back through the unmodified kkdai client.
func TestClipsAreRealMedia(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	clips, err := fake.MakeClips(ctx, t.TempDir(), 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if clips.Duration != 2*time.Second {
		t.Errorf("duration %v", clips.Duration)
	}

	for _, tc := range []struct {
		path   string
		codecs []string
		w, h   int
	}{
		{clips.AudioM4A, []string{"audio/aac"}, 0, 0},
		{clips.AudioOpus, []string{"audio/opus"}, 0, 0},
		{clips.Video360, []string{"video/h264"}, 640, 360},
		{clips.Video720, []string{"video/h264"}, 1280, 720},
		{clips.Progressive360, []string{"video/h264", "audio/aac"}, 640, 360},
		{clips.Thumbnail, []string{"video/mjpeg"}, 1280, 720},
	} {
		p, err := media.ProbeFile(ctx, "", tc.path)
		if err != nil {
			t.Errorf("%s: %v", tc.path, err)
			continue
		}
		name := filepath.Base(tc.path)
		if got := strings.Join(p.Codecs(), " "); got != strings.Join(tc.codecs, " ") {
			t.Errorf("%s: streams %s, want %s", name, got, tc.codecs)
		}
		if tc.w > 0 && (p.Streams[0].Width != tc.w || p.Streams[0].Height != tc.h) {
			t.Errorf("%s: %dx%d, want %dx%d", name, p.Streams[0].Width, p.Streams[0].Height, tc.w, tc.h)
		}
		if tc.path != clips.Thumbnail && math.Abs(p.Duration-clips.Duration.Seconds()) > 0.05 {
			t.Errorf("%s: duration %.3f s, want %.3f", name, p.Duration, clips.Duration.Seconds())
		}
	}

	v, err := fake.ClipVideo(clipID, "Test clip", clips)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := fake.New(v)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	tr := &http.Transport{DialContext: srv.DialContext, TLSClientConfig: &tls.Config{RootCAs: srv.CertPool()}, ForceAttemptHTTP2: true}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: 20 * time.Second}
	kc := &kkdai.Client{HTTPClient: hc}

	kv, err := kc.GetVideoContext(ctx, clipID)
	if err != nil {
		t.Fatal(err)
	}
	if kv.Title != "Test clip" || kv.Duration != 2*time.Second {
		t.Errorf("title %q, duration %v", kv.Title, kv.Duration)
	}
	want := map[int]struct {
		mime string
		w, h int
		path string
	}{
		140: {`audio/mp4; codecs="mp4a.40.2"`, 0, 0, clips.AudioM4A},
		251: {`audio/webm; codecs="opus"`, 0, 0, clips.AudioOpus},
		134: {`video/mp4; codecs="avc1.4d401e"`, 640, 360, clips.Video360},
		136: {`video/mp4; codecs="avc1.4d401f"`, 1280, 720, clips.Video720},
		18:  {`video/mp4; codecs="avc1.42001E, mp4a.40.2"`, 640, 360, clips.Progressive360},
	}
	if len(kv.Formats) != len(want) {
		t.Errorf("%d formats, want %d", len(kv.Formats), len(want))
	}
	for _, f := range kv.Formats {
		w, ok := want[f.ItagNo]
		if !ok {
			t.Errorf("unexpected itag %d", f.ItagNo)
			continue
		}
		fi, err := os.Stat(w.path)
		if err != nil {
			t.Fatal(err)
		}
		wantRate := int(fi.Size() * 8 / 2)
		if f.MimeType != w.mime || f.Width != w.w || f.Height != w.h || f.ContentLength != fi.Size() ||
			f.Bitrate != wantRate || f.ApproxDurationMs != "2000" {
			t.Errorf("itag %d: %q %dx%d %d bytes %d bit/s %s ms, want %q %dx%d %d bytes %d bit/s", f.ItagNo,
				f.MimeType, f.Width, f.Height, f.ContentLength, f.Bitrate, f.ApproxDurationMs, w.mime, w.w, w.h, fi.Size(), wantRate)
		}
	}

	// The bytes kkdai downloads are the clip's.
	for _, itag := range []int{136, 140} {
		f := kv.Formats.Itag(itag)
		if len(f) != 1 {
			t.Fatalf("itag %d: %d formats", itag, len(f))
		}
		rc, size, err := kc.GetStreamContext(ctx, kv, &f[0])
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(rc)
		rc.Close()
		wantBytes, _ := os.ReadFile(want[itag].path)
		if err != nil || size != int64(len(wantBytes)) || !bytes.Equal(got, wantBytes) {
			t.Errorf("itag %d: %v, %d of %d bytes, equal %v", itag, err, len(got), len(wantBytes), bytes.Equal(got, wantBytes))
		}
	}

	// Thumbnails: listed for kkdai and served by the fake.
	sizes := map[string][2]int{}
	for _, th := range kv.Thumbnails {
		sizes[th.URL] = [2]int{int(th.Width), int(th.Height)}
	}
	thumbWant, _ := os.ReadFile(clips.Thumbnail)
	for name, wh := range map[string][2]int{"maxresdefault.jpg": {1280, 720}, "hqdefault.jpg": {480, 360}} {
		u := "https://i.ytimg.com/vi/" + clipID + "/" + name
		if sizes[u] != wh {
			t.Errorf("%s listed as %v, want %v (list %v)", name, sizes[u], wh, sizes)
		}
		resp, err := hc.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		cfg, err := jpeg.DecodeConfig(bytes.NewReader(body))
		if resp.StatusCode != 200 || err != nil || cfg.Width != wh[0] || cfg.Height != wh[1] {
			t.Errorf("%s: %d %v %dx%d", name, resp.StatusCode, err, cfg.Width, cfg.Height)
		}
		if name == "maxresdefault.jpg" && !bytes.Equal(body, thumbWant) {
			t.Errorf("maxresdefault.jpg is not the clip's thumbnail")
		}
	}
}

func TestMakeClipsNamesMissingFFmpeg(t *testing.T) {
	t.Setenv("YTX_FFMPEG", filepath.Join(t.TempDir(), "no-such-ffmpeg"))
	_, err := fake.MakeClips(context.Background(), t.TempDir(), time.Second)
	if err == nil || !strings.Contains(err.Error(), "ffmpeg not found") {
		t.Errorf("error %v, want one naming ffmpeg", err)
	}
}

func TestMakeClipsReportsFFmpegFailure(t *testing.T) {
	// An output path that is a directory: ffmpeg fails to open it, and the
	// error carries ffmpeg's own words.
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "audio-251.webm"), 0o755); err != nil {
		t.Fatal(err)
	}
	_, err := fake.MakeClips(context.Background(), dir, time.Second)
	if err == nil || !strings.Contains(err.Error(), "ffmpeg") || !strings.Contains(err.Error(), "audio-251.webm") {
		t.Errorf("error %v, want ffmpeg's complaint about audio-251.webm", err)
	}
	t.Log(err)
}

func TestClipVideoNeedsTheFiles(t *testing.T) {
	c := &fake.Clips{Duration: time.Second, Thumbnail: filepath.Join(t.TempDir(), "missing.jpg")}
	if _, err := fake.ClipVideo(clipID, "x", c); err == nil {
		t.Error("missing files accepted")
	}
}
