package media_test

import (
	"errors"
	"strconv"
	"strings"
	"testing"

	"ytx.dev/ytx/api/v1alpha1"
	"ytx.dev/ytx/internal/failure"
	"ytx.dev/ytx/internal/media"
	"ytx.dev/ytx/internal/resolver"
)

// Format lists as YouTube's player API gives them (ANDROID_VR client), with
// the itags, MIME types, sizes and bitrates of real videos.

func video(itag int, mime string, w, h, fps, bitrate int) resolver.Format {
	return resolver.Format{ID: strconv.Itoa(itag), Itag: itag, MimeType: mime, Width: w, Height: h, FPS: fps, Bitrate: bitrate, QualityLabel: label(h, fps), AudioDefault: true}
}

func label(h, fps int) string {
	s := strconv.Itoa(h) + "p"
	if fps > 30 {
		s += strconv.Itoa(fps)
	}
	return s
}

func audio(itag int, mime string, bitrate int, rate string) resolver.Format {
	hz, _ := strconv.Atoi(rate)
	return resolver.Format{ID: strconv.Itoa(itag), Itag: itag, MimeType: mime, Bitrate: bitrate, AudioSampleRate: hz, AudioChannels: 2, AudioQuality: "AUDIO_QUALITY_MEDIUM", AudioDefault: true}
}

func prog(itag int, mime string, w, h, bitrate int) resolver.Format {
	f := video(itag, mime, w, h, 25, bitrate)
	f.AudioChannels, f.AudioSampleRate, f.AudioQuality = 2, 44100, "AUDIO_QUALITY_LOW"
	return f
}

const (
	mp4a  = `audio/mp4; codecs="mp4a.40.2"`
	heaac = `audio/mp4; codecs="mp4a.40.5"`
	opus  = `audio/webm; codecs="opus"`
	ec3   = `audio/mp4; codecs="ec-3"`
	p18   = `video/mp4; codecs="avc1.42001E, mp4a.40.2"`
	p22   = `video/mp4; codecs="avc1.64001F, mp4a.40.2"`
	vp9   = `video/webm; codecs="vp9"`
)

func avc(c string) string { return `video/mp4; codecs="` + c + `"` }
func av1(c string) string { return `video/mp4; codecs="` + c + `"` }

// standardAudio is a music video's audio: HE-AAC and AAC-LC in mp4, three
// Opus streams, and the two low-bitrate ones YouTube added in 2023.
func standardAudio() []resolver.Format {
	return []resolver.Format{
		audio(139, heaac, 50425, "22050"),
		audio(140, mp4a, 130685, "44100"),
		audio(249, opus, 55404, "48000"),
		audio(250, opus, 72326, "48000"),
		audio(251, opus, 141816, "48000"),
		audio(599, heaac, 31038, "22050"),
		audio(600, opus, 38140, "48000"),
	}
}

// modern is a 1080p25 upload as served today: one progressive format (18),
// H.264, VP9 and AV1 at every height, and standardAudio, in YouTube's order.
func modern() []resolver.Format {
	l := []resolver.Format{
		prog(18, p18, 640, 360, 503665),
		video(137, avc("avc1.640028"), 1920, 1080, 25, 4382569),
		video(248, vp9, 1920, 1080, 25, 2646000),
		video(399, av1("av01.0.08M.08"), 1920, 1080, 25, 2123000),
		video(136, avc("avc1.4d401f"), 1280, 720, 25, 1513016),
		video(247, vp9, 1280, 720, 25, 1505280),
		video(398, av1("av01.0.05M.08"), 1280, 720, 25, 1123000),
		video(135, avc("avc1.4d401f"), 854, 480, 25, 800000),
		video(244, vp9, 854, 480, 25, 760000),
		video(397, av1("av01.0.04M.08"), 854, 480, 25, 610000),
		video(134, avc("avc1.4d401e"), 640, 360, 25, 352187),
		video(243, vp9, 640, 360, 25, 410000),
		video(396, av1("av01.0.01M.08"), 640, 360, 25, 300000),
		video(133, avc("avc1.4d4015"), 426, 240, 25, 190000),
		video(242, vp9, 426, 240, 25, 220000),
		video(395, av1("av01.0.00M.08"), 426, 240, 25, 160000),
		video(160, avc("avc1.4d400c"), 256, 144, 25, 79519),
		video(278, vp9, 256, 144, 25, 95000),
		video(394, av1("av01.0.00M.08"), 256, 144, 25, 70000),
	}
	return append(l, standardAudio()...)
}

// gaming is a 4K60 upload: 60 fps H.264 up to 1080p, VP9 and AV1 above,
// 30 fps variants below, an HDR VP9 stream, and the old progressive 22.
func gaming() []resolver.Format {
	l := []resolver.Format{
		prog(18, p18, 640, 360, 600000),
		prog(22, p22, 1280, 720, 1800000),
		video(401, av1("av01.0.13M.08"), 3840, 2160, 60, 17900000),
		video(315, vp9, 3840, 2160, 60, 25000000),
		video(337, `video/webm; codecs="vp09.02.51.10.01.09.16.09.00"`, 3840, 2160, 60, 30000000),
		video(400, av1("av01.0.12M.08"), 2560, 1440, 60, 9000000),
		video(308, vp9, 2560, 1440, 60, 13000000),
		video(299, avc("avc1.64002a"), 1920, 1080, 60, 6300000),
		video(137, avc("avc1.640028"), 1920, 1080, 30, 4400000),
		video(303, vp9, 1920, 1080, 60, 4400000),
		video(298, avc("avc1.4d4020"), 1280, 720, 60, 3400000),
		video(136, avc("avc1.4d401f"), 1280, 720, 30, 1500000),
		video(302, vp9, 1280, 720, 60, 2700000),
		video(135, avc("avc1.4d401f"), 854, 480, 30, 800000),
		video(134, avc("avc1.4d401e"), 640, 360, 30, 350000),
		video(160, avc("avc1.4d400c"), 256, 144, 30, 80000),
	}
	return append(l, standardAudio()...)
}

// clipFormats are the fake clips' formats: 18, 136, 134, 140, 251.
func clipFormats() []resolver.Format {
	return []resolver.Format{
		prog(18, p18, 640, 360, 290000),
		video(136, avc("avc1.4d401f"), 1280, 720, 25, 410000),
		video(134, avc("avc1.4d401e"), 640, 360, 25, 178000),
		audio(140, mp4a, 198000, "44100"),
		audio(251, opus, 197000, "48000"),
	}
}

// dubbed has the original English track and a Spanish dub, each as AAC and
// Opus; the dub's streams have the higher bitrates.
func dubbed() []resolver.Format {
	track := func(f resolver.Format, id, _ string, def bool) resolver.Format {
		f.Language, _, _ = strings.Cut(id, ".")
		f.AudioDefault = def
		return f
	}
	return []resolver.Format{
		video(136, avc("avc1.4d401f"), 1280, 720, 30, 1500000),
		track(audio(140, mp4a, 135000, "44100"), "es.3", "Spanish", false),
		track(audio(140, mp4a, 129000, "44100"), "en.4", "English original", true),
		track(audio(251, opus, 150000, "48000"), "es.3", "Spanish", false),
		track(audio(251, opus, 128000, "48000"), "en.4", "English original", true),
	}
}

func only(l []resolver.Format, itags ...int) []resolver.Format {
	var out []resolver.Format
	for _, f := range l {
		for _, i := range itags {
			if f.Itag == i {
				out = append(out, f)
			}
		}
	}
	return out
}

// without keeps the formats that keep accepts (kkdai's FormatList.Select).
func without(l []resolver.Format, keep func(resolver.Format) bool) []resolver.Format {
	var out []resolver.Format
	for _, f := range l {
		if keep(f) {
			out = append(out, f)
		}
	}
	return out
}

func isVideo(f resolver.Format) bool { return strings.HasPrefix(f.MimeType, "video/") }

func wantUnavailable(t *testing.T, err error, msgHas ...string) {
	t.Helper()
	var ye *failure.Error
	if !errors.As(err, &ye) {
		t.Fatalf("error %v (%T), want *failure.Error", err, err)
	}
	if ye.Reason != v1alpha1.ReasonFormatUnavailable || ye.Retryable {
		t.Errorf("reason %s permanent %v, want FormatUnavailable, permanent", ye.Reason, !ye.Retryable)
	}
	for _, s := range msgHas {
		if !strings.Contains(ye.Message, s) {
			t.Errorf("message %q lacks %q", ye.Message, s)
		}
	}
}

func TestAudioFor(t *testing.T) {
	for _, tc := range []struct {
		name    string
		formats []resolver.Format
		format  string
		itag    int
		track   string // AudioTrack.ID
		errHas  []string
	}{
		{name: "m4a: AAC-LC over HE-AAC", formats: modern(), format: "m4a", itag: 140},
		{name: "opus: best opus", formats: modern(), format: "opus", itag: 251},
		{name: "mp3: highest bitrate of any codec", formats: modern(), format: "mp3", itag: 251},
		{name: "mp3 from AAC only", formats: only(modern(), 137, 139, 140), format: "mp3", itag: 140},
		{name: "clips m4a", formats: clipFormats(), format: "m4a", itag: 140},
		{name: "clips mp3", formats: clipFormats(), format: "mp3", itag: 140},
		{name: "m4a: original track, not the louder dub", formats: dubbed(), format: "m4a", itag: 140, track: "en.4"},
		{name: "opus: original track", formats: dubbed(), format: "opus", itag: 251, track: "en.4"},
		{name: "mp3: original track", formats: dubbed(), format: "mp3", itag: 140, track: "en.4"},
		{name: "m4a is AAC, not E-AC-3", formats: append(only(modern(), 140, 251), audio(328, ec3, 384000, "48000")), format: "m4a", itag: 140},
		{name: "mp3 takes E-AC-3 when it is best", formats: append(only(modern(), 140, 251), audio(328, ec3, 384000, "48000")), format: "mp3", itag: 328},
		{name: "no AAC", formats: only(modern(), 18, 137, 249, 250, 251), format: "m4a",
			errHas: []string{"no m4a audio", "opus in webm (itags 249, 250, 251)", "opus or mp3"}},
		{name: "no opus", formats: only(modern(), 137, 139, 140), format: "opus",
			errHas: []string{"no opus audio", "aac in mp4 (itags 139, 140)", "m4a or mp3"}},
		{name: "no audio-only stream", formats: without(modern(), isVideo), format: "mp3", errHas: []string{"no audio-only stream"}},
		{name: "unknown format", formats: modern(), format: "flac", errHas: []string{`"flac"`, "m4a, opus or mp3"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := media.AudioFor(tc.formats, tc.format)
			if tc.errHas != nil {
				wantUnavailable(t, err, tc.errHas...)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if f.Itag != tc.itag {
				t.Errorf("itag %d, want %d", f.Itag, tc.itag)
			}
			if lang, _, _ := strings.Cut(tc.track, "."); tc.track != "" && f.Language != lang {
				t.Errorf("track %q, want %s", f.Language, tc.track)
			}
		})
	}
}

func TestVideoFor(t *testing.T) {
	for _, tc := range []struct {
		name      string
		formats   []resolver.Format
		maxHeight int
		video     int
		audio     int // 0: none
		prog      bool
		err       string // exact message
		errHas    []string
	}{
		{name: "modern 2160: best there is", formats: modern(), maxHeight: 2160, video: 137, audio: 140},
		{name: "modern 1080", formats: modern(), maxHeight: 1080, video: 137, audio: 140},
		{name: "modern 0 means any height", formats: modern(), maxHeight: 0, video: 137, audio: 140},
		{name: "modern 720", formats: modern(), maxHeight: 720, video: 136, audio: 140},
		{name: "modern 480", formats: modern(), maxHeight: 480, video: 135, audio: 140},
		{name: "modern 479 takes 360", formats: modern(), maxHeight: 479, video: 18, prog: true},
		{name: "modern 360: progressive as good", formats: modern(), maxHeight: 360, video: 18, prog: true},
		{name: "modern 144", formats: modern(), maxHeight: 144, video: 160, audio: 140},
		{name: "modern 100", formats: modern(), maxHeight: 100,
			err: "no video at or under 100p: the video has 144p, 240p, 360p, 480p, 720p, 1080p; raise spec.video.maxHeight"},
		{name: "gaming 2160: height before codec, then bitrate", formats: gaming(), maxHeight: 2160, video: 337, audio: 140},
		{name: "gaming 1440: only VP9 and AV1", formats: gaming(), maxHeight: 1440, video: 308, audio: 140},
		{name: "gaming 1080: avc1, then bitrate (60 fps)", formats: gaming(), maxHeight: 1080, video: 299, audio: 140},
		{name: "gaming 720: progressive 22 as good", formats: gaming(), maxHeight: 720, video: 22, prog: true},
		{name: "gaming 480", formats: gaming(), maxHeight: 480, video: 135, audio: 140},
		{name: "gaming 360", formats: gaming(), maxHeight: 360, video: 18, prog: true},
		{name: "AV1 and VP9 only: bitrate decides", formats: only(modern(), 248, 399, 251), maxHeight: 1080, video: 248, audio: 251},
		{name: "no AAC: opus goes with it", formats: only(modern(), 136, 249, 251), maxHeight: 720, video: 136, audio: 251},
		{name: "no audio at all", formats: only(modern(), 136, 134), maxHeight: 720, video: 136},
		{name: "original track", formats: dubbed(), maxHeight: 1080, video: 136, audio: 140},
		{name: "only a progressive stream", formats: only(modern(), 18, 140), maxHeight: 1080, video: 18, prog: true},
		{name: "only a progressive stream, too tall", formats: only(modern(), 18, 140), maxHeight: 240,
			err: "no video at or under 240p: the video has 360p; raise spec.video.maxHeight"},
		{name: "clips 720", formats: clipFormats(), maxHeight: 720, video: 136, audio: 140},
		{name: "clips 1080", formats: clipFormats(), maxHeight: 1080, video: 136, audio: 140},
		{name: "clips 480", formats: clipFormats(), maxHeight: 480, video: 18, prog: true},
		{name: "clips 360", formats: clipFormats(), maxHeight: 360, video: 18, prog: true},
		{name: "clips 144", formats: clipFormats(), maxHeight: 144,
			err: "no video at or under 144p: the video has 360p, 720p; raise spec.video.maxHeight"},
		{name: "audio only", formats: standardAudio(), maxHeight: 720, errHas: []string{"no video stream"}},
		{name: "portrait short: pixel height", formats: []resolver.Format{
			video(137, avc("avc1.640028"), 1080, 1920, 30, 3000000),
			video(136, avc("avc1.4d401f"), 720, 1280, 30, 1500000),
			video(135, avc("avc1.4d401f"), 480, 854, 30, 700000),
			audio(140, mp4a, 130000, "44100"),
		}, maxHeight: 1080, video: 135, audio: 140},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := media.VideoFor(tc.formats, tc.maxHeight)
			if tc.err != "" || tc.errHas != nil {
				wantUnavailable(t, err, tc.errHas...)
				var ye *failure.Error
				if errors.As(err, &ye) && tc.err != "" && ye.Message != tc.err {
					t.Errorf("message\n%q, want\n%q", ye.Message, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.Video == nil || c.Video.Itag != tc.video || c.Progressive != tc.prog {
				t.Fatalf("video %+v progressive %v, want itag %d progressive %v", c.Video, c.Progressive, tc.video, tc.prog)
			}
			switch {
			case tc.audio == 0 && c.Audio != nil:
				t.Errorf("audio itag %d, want none", c.Audio.Itag)
			case tc.audio != 0 && (c.Audio == nil || c.Audio.Itag != tc.audio):
				t.Errorf("audio %+v, want itag %d", c.Audio, tc.audio)
			case tc.audio != 0 && !c.Audio.AudioDefault:
				t.Errorf("audio track %q, want the original", c.Audio.Language)
			}
		})
	}
}

// TestChoicesAreCopies: a caller may change what it got without changing
// the video's list.
func TestChoicesAreCopies(t *testing.T) {
	l := modern()
	c, err := media.VideoFor(l, 720)
	if err != nil {
		t.Fatal(err)
	}
	c.Video.URL = "changed"
	a, _ := media.AudioFor(l, "m4a")
	a.URL = "changed"
	for _, f := range l {
		if f.URL != "" {
			t.Fatalf("itag %d changed in the list", f.Itag)
		}
	}
}
