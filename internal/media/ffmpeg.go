package media

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sync/semaphore"

	"ytx.dev/ytx/api/v1alpha1"
	"ytx.dev/ytx/internal/failure"
)

// FFmpeg runs the ffmpeg binary. The zero value is ready to use.
type FFmpeg struct {
	// Path of ffmpeg; "" means $YTX_FFMPEG, or else "ffmpeg" on PATH.
	Path string
	// MP3Bitrate for transcoding to mp3 (libmp3lame CBR); "" means "192k".
	MP3Bitrate string
	// Procs bounds the ffmpeg runs at once of every FFmpeg that shares it
	// (a worker's, --ffmpeg-max-procs); nil: no bound. An ffmpeg that
	// copies or muxes a stream holds the stream's whole index in memory,
	// which grows with its length (about 50 MB of anonymous memory for 100
	// minutes of AAC); a worker whose --concurrency jobs finish their
	// downloads together would otherwise run as many at once, and its
	// memory would grow with the files. A job waits for a slot with its
	// heartbeat going, as it waits for a yt-dlp run.
	Procs *semaphore.Weighted
}

// Tags are embedded in the files ytx writes. Empty ones are left out.
type Tags struct {
	Title   string
	Artist  string // the channel
	Album   string
	Date    string // YYYY-MM-DD, the publish date
	Comment string // e.g. the video's URL
}

func (t Tags) args() []string {
	var a []string
	for _, kv := range [][2]string{{"title", t.Title}, {"artist", t.Artist}, {"album", t.Album}, {"date", t.Date}, {"comment", t.Comment}} {
		if kv[1] != "" {
			a = append(a, "-metadata", kv[0]+"="+kv[1])
		}
	}
	return a
}

// ffmpegNotFound is the message for a worker without ffmpeg.
const ffmpegNotFound = "ffmpeg not found: install it (Debian: apt-get install ffmpeg) or set YTX_FFMPEG"

func (f FFmpeg) path() string {
	switch {
	case f.Path != "":
		return f.Path
	case os.Getenv("YTX_FFMPEG") != "":
		return os.Getenv("YTX_FFMPEG")
	}
	return "ffmpeg"
}

// Audio writes out from in, a downloaded audio stream, as format:
//   - "m4a": the AAC stream copied (-c:a copy) into an iTunes-style MP4
//     (ffmpeg's ipod muxer, brand M4A, index in front with +faststart);
//   - "opus": the Opus stream copied into WebM;
//   - "mp3": transcoded with libmp3lame at MP3Bitrate, ID3v2.3 tags (read
//     by every player; the date becomes TYER+TDAT), no ID3v1.
//
// The first audio stream of in is used, so in may be a progressive file too.
// Tags replace whatever metadata in had. cover, a JPEG (or PNG) file, is
// embedded unchanged as album art where the container allows it: the MP4
// covr atom for m4a, an ID3 APIC frame for mp3. WebM has no album art that
// players read (ffmpeg's webm muxer refuses pictures), so for opus cover is
// skipped without error. cover "" embeds none.
//
// out appears only complete: ffmpeg writes a temporary file beside it that
// is renamed on success and removed on failure or cancellation.
func (f FFmpeg) Audio(ctx context.Context, in, out, format string, tags Tags, cover string) error {
	if format == FormatOpus {
		cover = ""
	}
	args := input(in)
	if cover != "" {
		args = append(args, input(cover)...)
	}
	args = append(args, "-map", "0:a:0")
	if cover != "" {
		args = append(args, "-map", "1:v:0", "-c:v", "copy", "-disposition:v:0", "attached_pic")
	}
	args = append(args, "-map_metadata", "-1", "-map_chapters", "-1")
	args = append(args, tags.args()...)
	var step string
	switch format {
	case FormatM4A:
		step = "copy the audio into m4a"
		args = append(args, "-c:a", "copy", "-movflags", "+faststart", "-f", "ipod")
	case FormatOpus:
		step = "copy the audio into webm"
		args = append(args, "-c:a", "copy", "-f", "webm")
	case FormatMP3:
		step = "transcode the audio to mp3"
		rate := f.MP3Bitrate
		if rate == "" {
			rate = "192k"
		}
		if cover != "" {
			args = append(args, "-metadata:s:v:0", "title=Album cover", "-metadata:s:v:0", "comment=Cover (front)")
		}
		args = append(args, "-c:a", "libmp3lame", "-b:a", rate, "-id3v2_version", "3", "-write_id3v1", "0", "-f", "mp3")
	default:
		return failure.Permanent(v1alpha1.ReasonFormatUnavailable, nil, "unknown audio format %q: spec.audio.format must be m4a, opus or mp3", format)
	}
	if cover != "" {
		step += " with the album art " + filepath.Base(cover)
	}
	return f.run(ctx, step, out, args)
}

// Mux writes out, an mp4, from a video-only and an audio-only stream, both
// copied without re-encoding (H.264, VP9 and AV1 video; AAC and Opus audio
// all go into mp4), with the index in front (+faststart) and tags. With audio
// "" video is a progressive file: its video and (if any) audio streams are
// remuxed and tagged. Like Audio, out appears only complete.
func (f FFmpeg) Mux(ctx context.Context, video, audio, out string, tags Tags) error {
	args := input(video)
	step := "remux the video into mp4"
	if audio != "" {
		step = "mux the video and audio into mp4"
		args = append(args, input(audio)...)
		args = append(args, "-map", "0:v:0", "-map", "1:a:0")
	} else {
		args = append(args, "-map", "0:v:0", "-map", "0:a:0?")
	}
	args = append(args, "-map_metadata", "-1", "-map_chapters", "-1")
	args = append(args, tags.args()...)
	args = append(args, "-c", "copy", "-movflags", "+faststart", "-f", "mp4")
	return f.run(ctx, step, out, args)
}

// run runs ffmpeg with args and a temporary output beside out, then renames
// it to out.
func (f FFmpeg) run(ctx context.Context, step, out string, args []string) error {
	bin, err := exec.LookPath(f.path())
	if err != nil {
		return failure.Retryable(v1alpha1.ReasonMediaFailed, err, "%s (%s)", ffmpegNotFound, f.path())
	}
	if f.Procs != nil {
		if err := f.Procs.Acquire(ctx, 1); err != nil {
			return stopped(ctx, step)
		}
		defer f.Procs.Release(1)
	}
	tmp, err := partName(out)
	if err != nil {
		return failure.Scratch("making a temporary file for ffmpeg beside", out, err)
	}
	full := append([]string{"-nostdin", "-hide_banner", "-loglevel", "error", "-y"}, args...)
	full = append(full, local(tmp))
	var stderr tail
	cmd := exec.CommandContext(ctx, bin, full...)
	cmd.Stderr = &stderr
	// Should ffmpeg leave a child holding stderr open, do not wait forever.
	cmd.WaitDelay = 5 * time.Second
	err = cmd.Run()
	if err != nil {
		os.Remove(tmp)
		if ctx.Err() != nil {
			return stopped(ctx, step)
		}
		return failure.Retryable(v1alpha1.ReasonMediaFailed, err, "ffmpeg could not %s: %s", step, stderr.lines())
	}
	if err := os.Rename(tmp, out); err != nil {
		os.Remove(tmp)
		return failure.Scratch("renaming ffmpeg's output to", out, err)
	}
	return nil
}

// stopped is the error of an ffmpeg run that ctx ended, before or while it
// ran.
func stopped(ctx context.Context, step string) error {
	reason := v1alpha1.ReasonMediaFailed
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		reason = v1alpha1.ReasonTimeout
	}
	return failure.Retryable(reason, ctx.Err(), "ffmpeg was stopped before it could %s; ytx retries", step)
}

// local makes ffmpeg read a path as a file whatever it looks like: a name
// with a colon ("a:b.m4a") would otherwise be taken for a protocol.
func local(path string) string { return "file:" + path }

// inputFormats are the demuxers ffmpeg may use on an input: what YouTube
// serves (MP4 and WebM, audio and video) and cover images.
const inputFormats = "mov,matroska,mp3,image2,jpeg_pipe,png_pipe,webp_pipe"

// input is ffmpeg's arguments to read path, which holds bytes from YouTube's
// answers, so untrusted. ffmpeg picks a demuxer by content, not by name: a
// download that is in fact an HLS playlist or an ffconcat script would make
// it open whatever the playlist lists, another tenant's stored file
// (file:/data/<ns>/<name>/audio.m4a) or a URL, and splice it into this
// tenant's artifact. So only the demuxers of inputFormats are allowed, and
// only the file protocol, for the input and anything it opens.
func input(path string) []string {
	return []string{"-format_whitelist", inputFormats, "-protocol_whitelist", "file", "-i", local(path)}
}

// partName is a fresh name beside out for ffmpeg to write to: hidden, and
// with a suffix no reader of the directory would take for a finished file.
func partName(out string) (string, error) {
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	dir, base := filepath.Split(out)
	if base == "" {
		return "", fmt.Errorf("output %q is not a file name", out)
	}
	return filepath.Join(dir, "."+base+"."+hex.EncodeToString(b[:])+".part"), nil
}

// tail keeps the last tailMax bytes written to it, so a command's stderr
// costs bounded memory however much it writes.
type tail struct{ b []byte }

const (
	tailMax   = 4 << 10
	tailLines = 6
	lineMax   = 300
)

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

// lines returns the last few non-empty lines, each cut to lineMax bytes,
// joined by " | ".
func (t *tail) lines() string {
	var ls []string
	for _, l := range strings.Split(string(t.b), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			if len(l) > lineMax {
				l = strings.ToValidUTF8(l[:lineMax], "") + "…"
			}
			ls = append(ls, l)
		}
	}
	if len(ls) > tailLines {
		ls = ls[len(ls)-tailLines:]
	}
	if len(ls) == 0 {
		return "ffmpeg wrote nothing on stderr"
	}
	return strings.Join(ls, " | ")
}
