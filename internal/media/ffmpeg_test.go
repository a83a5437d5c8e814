package media_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"ytx.dev/ytx/api/v1alpha1"
	"ytx.dev/ytx/internal/failure"
	"ytx.dev/ytx/internal/media"
	"ytx.dev/ytx/internal/youtube/fake"
)

// The clips are made once, on first use, for the whole package.
var (
	clipsDir  string
	clipsOnce sync.Once
	theClips  *fake.Clips
	clipsErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if clipsDir != "" {
		os.RemoveAll(clipsDir)
	}
	os.Exit(code)
}

func clips(t *testing.T) *fake.Clips {
	t.Helper()
	clipsOnce.Do(func() {
		clipsDir, clipsErr = os.MkdirTemp("", "ytx-media-clips-")
		if clipsErr != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		theClips, clipsErr = fake.MakeClips(ctx, clipsDir, 2*time.Second)
	})
	if clipsErr != nil {
		t.Fatal(clipsErr)
	}
	return theClips
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

// sources caches the probes of the clips, which do not change.
var sources sync.Map

func probeSource(t *testing.T, path string) *media.Probe {
	t.Helper()
	if p, ok := sources.Load(path); ok {
		return p.(*media.Probe)
	}
	p := probe(t, path)
	sources.Store(path, p)
	return p
}

func probe(t *testing.T, path string) *media.Probe {
	t.Helper()
	p, err := media.ProbeFile(ctx(t), "", path)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// noLeftovers fails if dir holds anything but the named files.
func noLeftovers(t *testing.T, dir string, keep ...string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		ok := false
		for _, k := range keep {
			ok = ok || e.Name() == k
		}
		if !ok {
			t.Errorf("left in %s: %s", dir, e.Name())
		}
	}
}

var tags = media.Tags{
	Title:   "Never Gonna Give You Up – “Live” 🎤",
	Artist:  "Rick Astley",
	Album:   "YouTube",
	Date:    "2009-10-25",
	Comment: "https://www.youtube.com/watch?v=dQw4w9WgXcQ",
}

func checkTags(t *testing.T, p *media.Probe) {
	t.Helper()
	for k, want := range map[string]string{"title": tags.Title, "artist": tags.Artist, "album": tags.Album, "date": tags.Date, "comment": tags.Comment} {
		if got := p.Tags[k]; got != want {
			t.Errorf("tag %s = %q, want %q (all: %v)", k, got, want, p.Tags)
		}
	}
}

func TestAudio(t *testing.T) {
	c := clips(t)
	for _, tc := range []struct {
		format, in, codec string
		cover             bool // embedded
	}{
		{"m4a", c.AudioM4A, "aac", true},
		{"opus", c.AudioOpus, "opus", false},
		{"mp3", c.AudioOpus, "mp3", true}, // and from AAC in TestAudioReplacesOutput
	} {
		t.Run(tc.format+" from "+filepath.Ext(tc.in), func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			out := filepath.Join(dir, "audio."+tc.format)
			if err := (media.FFmpeg{}).Audio(ctx(t), tc.in, out, tc.format, tags, c.Thumbnail); err != nil {
				t.Fatal(err)
			}
			noLeftovers(t, dir, "audio."+tc.format)
			src, got := probeSource(t, tc.in), probe(t, out)
			if math.Abs(got.Duration-src.Duration) > 0.1 {
				t.Errorf("duration %.3f s, source %.3f s", got.Duration, src.Duration)
			}
			want := []string{"audio/" + tc.codec}
			if tc.cover {
				want = append(want, "video/mjpeg")
			}
			if fmt.Sprint(got.Codecs()) != fmt.Sprint(want) {
				t.Fatalf("streams %v, want %v", got.Codecs(), want)
			}
			if tc.cover {
				pic := got.Streams[1]
				if !pic.AttachedPic || pic.Width != 1280 || pic.Height != 720 {
					t.Errorf("cover %+v, want a 1280x720 attached picture", pic)
				}
			}
			checkTags(t, got)
		})
	}
}

func TestAudioWithoutCover(t *testing.T) {
	c := clips(t)
	// A relative name with a colon must not make ffmpeg look for a
	// protocol ("nocover:a.m4a: Protocol not found").
	t.Chdir(t.TempDir())
	out := "nocover:a.m4a"
	if err := (media.FFmpeg{}).Audio(ctx(t), c.AudioM4A, out, "m4a", media.Tags{Title: "only a title"}, ""); err != nil {
		t.Fatal(err)
	}
	p := probe(t, out)
	if fmt.Sprint(p.Codecs()) != "[audio/aac]" || p.Tags["title"] != "only a title" || p.Tags["artist"] != "" {
		t.Errorf("streams %v tags %v", p.Codecs(), p.Tags)
	}
}

// TestAudioReplacesOutput: an existing file at out is replaced whole.
func TestAudioReplacesOutput(t *testing.T) {
	t.Parallel()
	c := clips(t)
	dir := t.TempDir()
	out := filepath.Join(dir, "a.mp3")
	if err := os.WriteFile(out, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := (media.FFmpeg{MP3Bitrate: "64k"}).Audio(ctx(t), c.AudioM4A, out, "mp3", tags, ""); err != nil {
		t.Fatal(err)
	}
	if p := probe(t, out); fmt.Sprint(p.Codecs()) != "[audio/mp3]" {
		t.Errorf("streams %v", p.Codecs())
	}
	if fi, _ := os.Stat(out); fi.Size() > 24<<10 || fi.Mode().Perm()&0o044 == 0 {
		t.Errorf("%d bytes (64 kbit/s for 2 s is 16 KB), mode %v", fi.Size(), fi.Mode())
	}
	noLeftovers(t, dir, "a.mp3")
}

func TestMux(t *testing.T) {
	c := clips(t)
	for _, tc := range []struct {
		name, video, audio string
		codecs             string
		height             int
	}{
		{"h264 720p + aac", c.Video720, c.AudioM4A, "[video/h264 audio/aac]", 720},
		{"h264 360p + opus", c.Video360, c.AudioOpus, "[video/h264 audio/opus]", 360},
		{"progressive remux", c.Progressive360, "", "[video/h264 audio/aac]", 360},
		{"video without audio", c.Video360, "", "[video/h264]", 360},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			out := filepath.Join(dir, "video.mp4")
			if err := (media.FFmpeg{}).Mux(ctx(t), tc.video, tc.audio, out, tags); err != nil {
				t.Fatal(err)
			}
			noLeftovers(t, dir, "video.mp4")
			p := probe(t, out)
			if fmt.Sprint(p.Codecs()) != tc.codecs {
				t.Fatalf("streams %v, want %s", p.Codecs(), tc.codecs)
			}
			if p.Streams[0].Height != tc.height {
				t.Errorf("height %d, want %d", p.Streams[0].Height, tc.height)
			}
			if math.Abs(p.Duration-c.Duration.Seconds()) > 0.1 {
				t.Errorf("duration %.3f s, want %.3f", p.Duration, c.Duration.Seconds())
			}
			checkTags(t, p)
			if p.Tags["major_brand"] != "isom" {
				t.Errorf("brand %q, want isom", p.Tags["major_brand"])
			}
		})
	}
}

func TestBrokenInput(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	in := filepath.Join(dir, "broken.m4a")
	if err := os.WriteFile(in, []byte("<html>403 Forbidden</html>"), 0o644); err != nil {
		t.Fatal(err)
	}
	ff := media.FFmpeg{}
	for name, run := range map[string]func(out string) error{
		"audio": func(out string) error { return ff.Audio(ctx(t), in, out, "m4a", tags, "") },
		"mux":   func(out string) error { return ff.Mux(ctx(t), in, in, out, tags) },
	} {
		out := filepath.Join(dir, name+".out")
		err := run(out)
		var ye *failure.Error
		if !errors.As(err, &ye) {
			t.Fatalf("%s: error %v, want *failure.Error", name, err)
		}
		if ye.Reason != v1alpha1.ReasonMediaFailed || !ye.Retryable {
			t.Errorf("%s: reason %s permanent %v", name, ye.Reason, !ye.Retryable)
		}
		// The step, then ffmpeg's own words from its stderr.
		if !strings.HasPrefix(ye.Message, "ffmpeg could not ") || !strings.Contains(ye.Message, "Invalid data found when processing input") {
			t.Errorf("%s: message %q", name, ye.Message)
		}
		t.Logf("%s: %v", name, err)
	}
	noLeftovers(t, dir, "broken.m4a")
}

func TestBrokenCover(t *testing.T) {
	t.Parallel()
	c := clips(t)
	dir := t.TempDir()
	cover := filepath.Join(dir, "cover.jpg")
	if err := os.WriteFile(cover, []byte("not a picture"), 0o644); err != nil {
		t.Fatal(err)
	}
	err := (media.FFmpeg{}).Audio(ctx(t), c.AudioM4A, filepath.Join(dir, "a.m4a"), "m4a", tags, cover)
	var ye *failure.Error
	if !errors.As(err, &ye) || ye.Reason != v1alpha1.ReasonMediaFailed || !strings.Contains(ye.Message, "cover.jpg") {
		t.Errorf("error %v", err)
	}
	noLeftovers(t, dir, "cover.jpg")
}

func TestFFmpegNotFound(t *testing.T) {
	dir := t.TempDir()
	ff := media.FFmpeg{Path: filepath.Join(dir, "ffmpeg")}
	err := ff.Mux(ctx(t), "v.mp4", "a.m4a", filepath.Join(dir, "out.mp4"), tags)
	var ye *failure.Error
	if !errors.As(err, &ye) || ye.Reason != v1alpha1.ReasonMediaFailed ||
		!strings.HasPrefix(ye.Message, "ffmpeg not found: install it (Debian: apt-get install ffmpeg) or set YTX_FFMPEG") {
		t.Errorf("error %v", err)
	}

	// YTX_FFMPEG is the default path.
	t.Setenv("YTX_FFMPEG", filepath.Join(dir, "elsewhere", "ffmpeg"))
	err = (media.FFmpeg{}).Audio(ctx(t), "in.m4a", filepath.Join(dir, "out.m4a"), "m4a", tags, "")
	if err == nil || !strings.Contains(err.Error(), "elsewhere") {
		t.Errorf("error %v, want one naming $YTX_FFMPEG's path", err)
	}
}

func TestAudioUnknownFormat(t *testing.T) {
	err := (media.FFmpeg{}).Audio(ctx(t), "in", filepath.Join(t.TempDir(), "out"), "flac", tags, "")
	var ye *failure.Error
	if !errors.As(err, &ye) || ye.Reason != v1alpha1.ReasonFormatUnavailable || ye.Retryable {
		t.Errorf("error %v", err)
	}
}

func TestProbeFileErrors(t *testing.T) {
	t.Parallel()
	_, err := media.ProbeFile(ctx(t), "", filepath.Join(t.TempDir(), "missing.mp4"))
	var ye *failure.Error
	if !errors.As(err, &ye) || ye.Reason != v1alpha1.ReasonMediaFailed || !strings.Contains(ye.Message, "No such file") {
		t.Errorf("error %v", err)
	}
	_, err = media.ProbeFile(ctx(t), "/nonexistent/ffprobe", "x")
	if err == nil || !strings.Contains(err.Error(), "ffprobe not found") {
		t.Errorf("error %v", err)
	}
}

// A download is untrusted bytes: one that is a playlist (HLS, ffconcat)
// must not make ffmpeg read what it lists, be that another tenant's stored
// file or a URL.
func TestPlaylistInputIsRefused(t *testing.T) {
	t.Parallel()
	c := clips(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var conns atomic.Int64
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Add(1)
			conn.Close()
		}
	}()
	dir := t.TempDir()
	other := c.AudioM4A // stands for another tenant's stored audio
	for name, body := range map[string]string{
		"hls-file":    "#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10.0,\nfile:" + other + "\n#EXT-X-ENDLIST\n",
		"hls-http":    "#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10.0,\nhttp://" + ln.Addr().String() + "/seg.ts\n#EXT-X-ENDLIST\n",
		"ffconcat":    "ffconcat version 1.0\nfile 'file:" + other + "'\n",
		"hls-variant": "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\nhttp://" + ln.Addr().String() + "/a.m3u8\n",
	} {
		in := filepath.Join(dir, name+".source") // as the worker names downloads
		if err := os.WriteFile(in, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		ff := media.FFmpeg{}
		for kind, run := range map[string]func(out string) error{
			"audio": func(out string) error { return ff.Audio(ctx(t), in, out, "m4a", tags, "") },
			"mux":   func(out string) error { return ff.Mux(ctx(t), in, in, out, tags) },
		} {
			out := filepath.Join(dir, name+"."+kind+".out")
			err := run(out)
			var ye *failure.Error
			if !errors.As(err, &ye) || ye.Reason != v1alpha1.ReasonMediaFailed {
				t.Errorf("%s, %s: %v, want MediaFailed", name, kind, err)
			}
			if _, err := os.Stat(out); err == nil {
				t.Errorf("%s, %s: ffmpeg wrote %s from what the playlist lists", name, kind, out)
			}
		}
	}
	time.Sleep(50 * time.Millisecond)
	if n := conns.Load(); n != 0 {
		t.Errorf("ffmpeg connected %d times to the address a playlist named", n)
	}
}
