package media_test

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"ytx.dev/ytx/internal/failure"
	"ytx.dev/ytx/internal/media"
	"ytx.dev/ytx/internal/resolver"
	"ytx.dev/ytx/internal/youtube"
	"ytx.dev/ytx/internal/youtube/fake"
)

// TestThroughTheFake does what a worker does with the clips served by the
// fake YouTube: read the formats with kkdai, pick, download, mux and tag.
func TestThroughTheFake(t *testing.T) {
	t.Parallel()
	c := clips(t)
	const id = "cL1pV1de0_m"
	v, err := fake.ClipVideo(id, "Clip through the fake", c)
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
	tr := &http.Transport{DialContext: srv.DialContext, TLSClientConfig: &tls.Config{RootCAs: srv.CertPool()}}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr}
	req := resolver.Request{VideoID: id, HTTP: hc, Media: hc}
	ctx := ctx(t)
	kv, err := youtube.KKDAI{}.Resolve(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	download := func(f *resolver.Format, name string) string {
		t.Helper()
		u, _, err := youtube.KKDAI{}.MediaURL(ctx, req, kv, f)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := hc.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		path := filepath.Join(dir, name)
		w, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		defer w.Close()
		if _, err := io.Copy(w, resp.Body); err != nil {
			t.Fatal(err)
		}
		return path
	}
	ff := media.FFmpeg{}
	tags := media.Tags{Title: kv.Title, Artist: kv.Author, Date: kv.PublishDate.Format(time.DateOnly), Comment: "https://www.youtube.com/watch?v=" + id}

	// 720p: adaptive 136 + 140, muxed.
	ch, err := media.VideoFor(kv.Formats, 720)
	if err != nil {
		t.Fatal(err)
	}
	if ch.Progressive || ch.Video.Itag != 136 || ch.Audio == nil || ch.Audio.Itag != 140 {
		t.Fatalf("choice %+v", ch)
	}
	out := filepath.Join(dir, "video.mp4")
	if err := ff.Mux(ctx, download(ch.Video, "v"), download(ch.Audio, "a"), out, tags); err != nil {
		t.Fatal(err)
	}
	p := probe(t, out)
	if fmt.Sprint(p.Codecs()) != "[video/h264 audio/aac]" || p.Streams[0].Height != 720 || math.Abs(p.Duration-c.Duration.Seconds()) > 0.1 ||
		p.Tags["title"] != kv.Title || p.Tags["date"] != "2024-02-29" {
		t.Errorf("720p: %v %dp %.3fs %v", p.Codecs(), p.Streams[0].Height, p.Duration, p.Tags)
	}

	// 480p: the progressive 18 is as good as 134, and comes alone
	// (TestMux remuxes it).
	ch, err = media.VideoFor(kv.Formats, 480)
	if err != nil || !ch.Progressive || ch.Video.Itag != 18 || ch.Audio != nil {
		t.Fatalf("480p: %+v %v", ch, err)
	}

	// 144p: nothing that small.
	_, err = media.VideoFor(kv.Formats, 144)
	var ye *failure.Error
	if !errors.As(err, &ye) || ye.Message != "no video at or under 144p: the video has 360p, 720p; raise spec.video.maxHeight" {
		t.Errorf("144p: %v", err)
	}

	// mp3 with the video's thumbnail as cover.
	af, err := media.AudioFor(kv.Formats, "mp3")
	if err != nil {
		t.Fatal(err)
	}
	resp, err := hc.Get(kv.Thumbnails[len(kv.Thumbnails)-1].URL)
	if err != nil {
		t.Fatal(err)
	}
	cover := filepath.Join(dir, "cover.jpg")
	jpg, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err := os.WriteFile(cover, jpg, 0o644); err != nil {
		t.Fatal(err)
	}
	out = filepath.Join(dir, "audio.mp3")
	if err := ff.Audio(ctx, download(af, "audio"), out, "mp3", tags, cover); err != nil {
		t.Fatal(err)
	}
	p = probe(t, out)
	if fmt.Sprint(p.Codecs()) != "[audio/mp3 video/mjpeg]" || !p.Streams[1].AttachedPic || p.Streams[1].Width != 1280 || p.Tags["artist"] != kv.Author {
		t.Errorf("mp3: %v %+v %v", p.Codecs(), p.Streams, p.Tags)
	}
}
