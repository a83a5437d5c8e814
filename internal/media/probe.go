package media

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"strconv"
	"strings"

	"ytx.dev/ytx/api/v1alpha1"
	"ytx.dev/ytx/internal/failure"
)

// Probe is what ffprobe says about a media file.
type Probe struct {
	// Duration of the file in seconds (the container's).
	Duration float64
	Streams  []Stream
	// Tags of the container, keys in lower case ("title", "artist", "date").
	Tags map[string]string
}

// Stream is one stream of a probed file.
type Stream struct {
	CodecType string // "audio", "video"
	CodecName string // "aac", "opus", "mp3", "h264", "mjpeg"
	Width     int
	Height    int
	// AttachedPic: the stream is a cover picture, not video.
	AttachedPic bool
}

// Codecs lists "type/name" of every stream, e.g. [video/h264 audio/aac], for
// test messages.
func (p *Probe) Codecs() []string {
	out := make([]string, len(p.Streams))
	for i, s := range p.Streams {
		out[i] = s.CodecType + "/" + s.CodecName
	}
	return out
}

// ProbeFile runs ffprobe (ffprobePath; "" means $YTX_FFPROBE, or else
// "ffprobe" on PATH) with -print_format json on path. Failures are
// *failure.Error with reason MediaFailed and ffprobe's last stderr lines.
func ProbeFile(ctx context.Context, ffprobePath, path string) (*Probe, error) {
	if ffprobePath == "" {
		ffprobePath = os.Getenv("YTX_FFPROBE")
	}
	if ffprobePath == "" {
		ffprobePath = "ffprobe"
	}
	bin, err := exec.LookPath(ffprobePath)
	if err != nil {
		return nil, failure.Retryable(v1alpha1.ReasonMediaFailed, err, "ffprobe not found: install it (Debian: apt-get install ffmpeg) or set YTX_FFPROBE (%s)", ffprobePath)
	}
	var stderr tail
	cmd := exec.CommandContext(ctx, bin, "-v", "error", "-print_format", "json", "-show_format", "-show_streams", local(path))
	cmd.Stderr = &stderr
	outb, err := cmd.Output()
	if err != nil {
		return nil, failure.Retryable(v1alpha1.ReasonMediaFailed, err, "ffprobe could not read %s: %s", path, stderr.lines())
	}
	var raw struct {
		Streams []struct {
			CodecType   string `json:"codec_type"`
			CodecName   string `json:"codec_name"`
			Width       int    `json:"width"`
			Height      int    `json:"height"`
			Disposition struct {
				AttachedPic int `json:"attached_pic"`
			} `json:"disposition"`
		} `json:"streams"`
		Format struct {
			Duration string            `json:"duration"`
			Tags     map[string]string `json:"tags"`
		} `json:"format"`
	}
	if err := json.Unmarshal(outb, &raw); err != nil {
		return nil, failure.Retryable(v1alpha1.ReasonMediaFailed, err, "cannot read ffprobe's answer for %s", path)
	}
	p := &Probe{Tags: map[string]string{}}
	p.Duration, _ = strconv.ParseFloat(raw.Format.Duration, 64)
	for k, v := range raw.Format.Tags {
		p.Tags[strings.ToLower(k)] = v
	}
	for _, s := range raw.Streams {
		p.Streams = append(p.Streams, Stream{
			CodecType: s.CodecType, CodecName: s.CodecName,
			Width: s.Width, Height: s.Height,
			AttachedPic: s.Disposition.AttachedPic != 0,
		})
	}
	return p, nil
}
