package fake

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/jpeg"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Clips are short real media files made by ffmpeg, for the fake's formats, so
// that tests can download them through kkdai and ffprobe what ytx stores.
type Clips struct {
	// Dir holds the files.
	Dir string
	// Duration of every clip: video (25 fps) and audio end within 0.05 s of
	// it. MakeClips rounds the requested duration to whole frames (40 ms).
	Duration time.Duration

	AudioM4A       string // AAC-LC, 44.1 kHz stereo sine, audio-only mp4 (itag 140)
	AudioOpus      string // Opus, 48 kHz stereo sine, audio-only WebM (itag 251)
	Video360       string // H.264 Main 640x360, video-only mp4 (itag 134)
	Video720       string // H.264 Main 1280x720, video-only mp4 (itag 136)
	Progressive360 string // H.264 Baseline 640x360 + AAC-LC in one mp4 (itag 18)
	Thumbnail      string // 1280x720 JPEG (maxresdefault.jpg)
}

// clipFPS is the clips' frame rate, as most uploads have.
const clipFPS = 25

// MakeClips generates the clips into dir (made if missing) with one ffmpeg
// run: testsrc2 pictures and sine tones of duration d (rounded to whole
// frames; at least one frame), encoded at very low bitrates with
// -preset ultrafast, as plain mp4 files with the index in front (+faststart)
// and a WebM, plus one JPEG frame. About 1 s of CPU for 3 s of clips.
//
// ffmpeg is $YTX_FFMPEG, or "ffmpeg" on PATH. When it is missing or fails,
// the error names ffmpeg and ends with the last lines it wrote to stderr.
func MakeClips(ctx context.Context, dir string, d time.Duration) (*Clips, error) {
	const frame = time.Second / clipFPS
	frames := int64(math.Round(float64(d) / float64(frame)))
	if frames < 1 {
		frames = 1
	}
	c := &Clips{
		Dir:            dir,
		Duration:       time.Duration(frames) * frame,
		AudioM4A:       filepath.Join(dir, "audio-140.m4a"),
		AudioOpus:      filepath.Join(dir, "audio-251.webm"),
		Video360:       filepath.Join(dir, "video-134.mp4"),
		Video720:       filepath.Join(dir, "video-136.mp4"),
		Progressive360: filepath.Join(dir, "progressive-18.mp4"),
		Thumbnail:      filepath.Join(dir, "maxresdefault.jpg"),
	}
	ffmpeg := os.Getenv("YTX_FFMPEG")
	if ffmpeg == "" {
		ffmpeg = "ffmpeg"
	}
	path, err := exec.LookPath(ffmpeg)
	if err != nil {
		return nil, fmt.Errorf("fake clips: ffmpeg not found (%v): install it (Debian: apt-get install ffmpeg) or set YTX_FFMPEG", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("fake clips: %w", err)
	}
	secs := strconv.FormatFloat(c.Duration.Seconds(), 'f', 3, 64)
	h264 := func(profile, level, rate string) []string {
		return []string{"-c:v", "libx264", "-preset", "ultrafast", "-profile:v", profile, "-level:v", level,
			"-b:v", rate, "-maxrate", rate, "-bufsize", rate, "-pix_fmt", "yuv420p", "-g", strconv.Itoa(2 * clipFPS)}
	}
	// ultrafast turns CABAC off, which makes x264 write Baseline; YouTube's
	// adaptive H.264 streams are Main, so turn it back on for those.
	cabac := []string{"-x264-params", "cabac=1"}
	mp4 := []string{"-movflags", "+faststart", "-f", "mp4"}
	args := []string{"-nostdin", "-hide_banner", "-loglevel", "error", "-y",
		"-f", "lavfi", "-i", fmt.Sprintf("testsrc2=size=1280x720:rate=%d:duration=%s", clipFPS, secs),
		"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100:duration=" + secs,
		"-f", "lavfi", "-i", "sine=frequency=660:sample_rate=48000:duration=" + secs,
		"-filter_complex", "[0:v]split=4[v720][v360][vp][vt];[v360]scale=640:360[s360];[vp]scale=640:360[sp];[1:a]asplit=2[a140][ap];[2:a]anull[a251]",
	}
	args = append(args, "-map", "[v720]")
	args = append(append(append(args, h264("main", "3.1", "250k")...), cabac...), mp4...)
	args = append(args, c.Video720)
	args = append(args, "-map", "[s360]")
	args = append(append(append(args, h264("main", "3.0", "100k")...), cabac...), mp4...)
	args = append(args, c.Video360)
	args = append(args, "-map", "[sp]", "-map", "[ap]")
	args = append(append(args, h264("baseline", "3.0", "100k")...), "-c:a", "aac", "-b:a", "64k", "-ac", "2")
	args = append(append(args, mp4...), c.Progressive360)
	args = append(args, "-map", "[a140]", "-c:a", "aac", "-b:a", "128k", "-ac", "2")
	args = append(append(args, mp4...), c.AudioM4A)
	args = append(args, "-map", "[a251]", "-c:a", "libopus", "-b:a", "96k", "-ac", "2", "-f", "webm", c.AudioOpus)
	args = append(args, "-map", "[vt]", "-frames:v", "1", "-q:v", "3", "-update", "1", "-f", "image2", c.Thumbnail)

	var stderr tail
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Stderr = &stderr
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		return nil, fmt.Errorf("fake clips: %s failed (%v): %s", path, err, stderr.lines())
	}
	for _, p := range []string{c.AudioM4A, c.AudioOpus, c.Video360, c.Video720, c.Progressive360, c.Thumbnail} {
		if fi, err := os.Stat(p); err != nil || fi.Size() == 0 {
			return nil, fmt.Errorf("fake clips: %s wrote no %s: %s", path, filepath.Base(p), stderr.lines())
		}
	}
	return c, nil
}

// ClipVideo returns a Video whose formats are the clips, listed as YouTube
// lists them: itags 140 (audio/mp4 mp4a.40.2), 251 (audio/webm opus), 134 and
// 136 (video-only avc1 360p and 720p, adaptive) and 18 (progressive avc1 +
// mp4a 360p), with sizes and bitrates from the files and durations from
// c.Duration. Its thumbnails are the clip's JPEG as maxresdefault.jpg
// (1280x720) and a 480x360 letterboxed copy as hqdefault.jpg, as YouTube
// keeps for an HD upload. The files must stay in place while the fake serves
// them.
func ClipVideo(id, title string, c *Clips) (Video, error) {
	if c == nil {
		return Video{}, errors.New("fake clips: nil Clips")
	}
	ms := c.Duration.Milliseconds()
	if ms <= 0 {
		return Video{}, fmt.Errorf("fake clips: duration %v", c.Duration)
	}
	thumb, err := os.ReadFile(c.Thumbnail)
	if err != nil {
		return Video{}, fmt.Errorf("fake clips: %w", err)
	}
	hq, err := letterbox(thumb, 480, 360)
	if err != nil {
		return Video{}, fmt.Errorf("fake clips: thumbnail %s: %w", c.Thumbnail, err)
	}
	formats := []Format{
		{Itag: 18, MimeType: `video/mp4; codecs="avc1.42001E, mp4a.40.2"`, Progressive: true, Width: 640, Height: 360, FPS: clipFPS, QualityLabel: "360p",
			AudioQuality: "AUDIO_QUALITY_LOW", AudioSampleRate: 44100, AudioChannels: 2},
		{Itag: 136, MimeType: `video/mp4; codecs="avc1.4d401f"`, Width: 1280, Height: 720, FPS: clipFPS, QualityLabel: "720p"},
		{Itag: 134, MimeType: `video/mp4; codecs="avc1.4d401e"`, Width: 640, Height: 360, FPS: clipFPS, QualityLabel: "360p"},
		{Itag: 140, MimeType: `audio/mp4; codecs="mp4a.40.2"`, AudioQuality: "AUDIO_QUALITY_MEDIUM", AudioSampleRate: 44100, AudioChannels: 2},
		{Itag: 251, MimeType: `audio/webm; codecs="opus"`, AudioQuality: "AUDIO_QUALITY_MEDIUM", AudioSampleRate: 48000, AudioChannels: 2},
	}
	files := map[int]string{18: c.Progressive360, 136: c.Video720, 134: c.Video360, 140: c.AudioM4A, 251: c.AudioOpus}
	for i := range formats {
		f := &formats[i]
		m, err := File(files[f.Itag])
		if err != nil {
			return Video{}, fmt.Errorf("fake clips: itag %d: %w", f.Itag, err)
		}
		f.Media = m
		f.ContentLength = m.Size()
		f.Bitrate = int(m.Size() * 8 * 1000 / ms)
		f.AverageBitrate = f.Bitrate
		f.ApproxDurationMs = ms
	}
	v := Video{
		ID:            id,
		Title:         title,
		Author:        "ytx test clips",
		ChannelID:     "UCytxTestClipsChannel000",
		Description:   "A short clip made by ffmpeg (testsrc2 and a sine tone) for ytx's tests.",
		Keywords:      []string{"ytx", "test"},
		Category:      "Science & Technology",
		LengthSeconds: int(math.Ceil(c.Duration.Seconds())),
		ViewCount:     42,
		PublishDate:   time.Date(2024, 2, 29, 12, 0, 0, 0, time.UTC),
		Thumbnails: []Thumbnail{
			{Name: "hqdefault.jpg", Width: 480, Height: 360, Data: hq},
			{Name: "maxresdefault.jpg", Width: 1280, Height: 720, Data: thumb},
		},
		Formats: formats,
	}
	if _, err := normalize(v); err != nil {
		return Video{}, err
	}
	return v, nil
}

// letterbox scales a JPEG into w x h, keeping its aspect ratio with black
// bars, as YouTube's 4:3 hqdefault.jpg of a 16:9 video. Nearest neighbour is
// good enough for a test picture.
func letterbox(data []byte, w, h int) ([]byte, error) {
	src, err := jpeg.Decode(bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	sb := src.Bounds()
	sw, sh := sb.Dx(), sb.Dy()
	if sw == 0 || sh == 0 {
		return nil, errors.New("empty image")
	}
	cw, ch := w, h
	if sw*h > sh*w { // wider than w:h
		ch = sh * w / sw
	} else {
		cw = sw * h / sh
	}
	ox, oy := (w-cw)/2, (h-ch)/2
	dst := image.NewRGBA(image.Rect(0, 0, w, h))
	for i := 3; i < len(dst.Pix); i += 4 {
		dst.Pix[i] = 0xff // opaque black
	}
	for y := 0; y < ch; y++ {
		for x := 0; x < cw; x++ {
			dst.Set(ox+x, oy+y, src.At(sb.Min.X+x*sw/cw, sb.Min.Y+y*sh/ch))
		}
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, dst, &jpeg.Options{Quality: 85}); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// tail keeps the last few KiB written to it, for error messages about a
// command whose stderr may be long.
type tail struct{ b []byte }

const tailMax = 4 << 10

func (t *tail) Write(p []byte) (int, error) {
	n := len(p)
	if len(p) > tailMax {
		p = p[len(p)-tailMax:]
	}
	if over := len(t.b) + len(p) - tailMax; over > 0 {
		t.b = append(t.b[:0], t.b[over:]...)
	}
	t.b = append(t.b, p...)
	return n, nil
}

// lines returns the last lines, joined by " | ".
func (t *tail) lines() string {
	ls := strings.Split(strings.TrimSpace(string(t.b)), "\n")
	if len(ls) > 8 {
		ls = ls[len(ls)-8:]
	}
	s := strings.Join(ls, " | ")
	if s == "" {
		return "(no output on stderr)"
	}
	return s
}

// DefaultVideosWithClips is DefaultVideos whose playable videos serve the
// clips: real media, so that audio and video extractions of the well-known
// IDs work (in `ytx-dev --fake-youtube` and in tests of the samples). Their
// length becomes the clips'.
func DefaultVideosWithClips(c *Clips) ([]Video, error) {
	videos := DefaultVideos()
	for i, v := range videos {
		if v.Playability != OK {
			continue
		}
		cv, err := ClipVideo(v.ID, v.Title, c)
		if err != nil {
			return nil, err
		}
		videos[i].Formats, videos[i].Thumbnails, videos[i].LengthSeconds = cv.Formats, cv.Thumbnails, cv.LengthSeconds
	}
	return videos, nil
}
