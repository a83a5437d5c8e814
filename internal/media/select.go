// Package media picks the streams of a video that an extraction needs and
// turns downloaded streams into the files ytx stores, with ffmpeg: audio
// copied or transcoded and tagged, video and audio muxed into one mp4.
package media

import (
	"fmt"
	"mime"
	"sort"
	"strconv"
	"strings"

	"ytx.dev/ytx/api/v1alpha1"
	"ytx.dev/ytx/internal/failure"
	"ytx.dev/ytx/internal/resolver"
)

// Audio formats of spec.audio.format.
const (
	FormatM4A  = "m4a"  // AAC in MP4, copied as YouTube serves it
	FormatOpus = "opus" // Opus in WebM, copied as YouTube serves it
	FormatMP3  = "mp3"  // transcoded by ffmpeg
)

// stream is what a format's MIME type says about it.
type stream struct {
	kind      string   // "audio" or "video"
	container string   // "mp4", "webm"
	codecs    []string // lower case: "avc1.4d401e", "mp4a.40.2", "opus", "vp9", "av01.0.08m.08"
}

func parseMime(s string) stream {
	var st stream
	mt, params, err := mime.ParseMediaType(s)
	if err != nil {
		// Not RFC-clean; take what can be read.
		head, rest, _ := strings.Cut(s, ";")
		mt = strings.ToLower(strings.TrimSpace(head))
		params = map[string]string{}
		if _, c, ok := strings.Cut(rest, "codecs="); ok {
			params["codecs"] = strings.Trim(strings.TrimSpace(c), `"`)
		}
	}
	st.kind, st.container, _ = strings.Cut(mt, "/")
	for _, c := range strings.Split(params["codecs"], ",") {
		if c = strings.ToLower(strings.TrimSpace(c)); c != "" {
			st.codecs = append(st.codecs, c)
		}
	}
	return st
}

func isAudioCodec(c string) bool {
	for _, p := range []string{"mp4a", "opus", "vorbis", "ac-3", "ec-3", "mp3", "flac", "alac"} {
		if strings.HasPrefix(c, p) {
			return true
		}
	}
	return false
}

func (s stream) has(prefix string) bool {
	for _, c := range s.codecs {
		if strings.HasPrefix(c, prefix) {
			return true
		}
	}
	return false
}

func (s stream) audioOnly() bool { return s.kind == "audio" }

// progressive: a video format that carries audio too (itag 18, 22).
func progressive(f *resolver.Format, s stream) bool {
	if s.kind != "video" {
		return false
	}
	for _, c := range s.codecs {
		if isAudioCodec(c) {
			return true
		}
	}
	return f.AudioChannels > 0
}

// videoCodec is the first codec that is not audio ("avc1.4d401f").
func (s stream) videoCodec() string {
	for _, c := range s.codecs {
		if !isAudioCodec(c) {
			return c
		}
	}
	return ""
}

func (s stream) avc() bool {
	c := s.videoCodec()
	return s.container == "mp4" && (strings.HasPrefix(c, "avc1") || strings.HasPrefix(c, "avc3"))
}

// audioCodec names the audio codec for messages: "aac", "opus", or what the
// MIME type says.
func (s stream) audioCodec() string {
	for _, c := range s.codecs {
		switch {
		case strings.HasPrefix(c, "mp4a"):
			return "aac"
		case isAudioCodec(c):
			return c
		}
	}
	if len(s.codecs) > 0 {
		return s.codecs[0]
	}
	return s.container
}

// defaultTrack: the original language, where a video has dubbed tracks.
func defaultTrack(f *resolver.Format) bool { return f.AudioDefault }

func unavailable(format string, args ...any) error {
	return failure.Permanent(v1alpha1.ReasonFormatUnavailable, nil, format, args...)
}

// AudioFor picks the stream for spec.audio.format:
//   - "m4a": the best audio-only AAC stream (audio/mp4, mp4a), copied as is;
//   - "opus": the best audio-only Opus stream (audio/webm), copied as is;
//   - "mp3": the best audio-only stream of any codec, since it is transcoded.
//
// Best means the video's original-language track (where it has dubbed
// ones), then the highest bitrate, then the higher sample rate; among equals
// the first listed wins. Progressive formats are not considered: YouTube
// always lists audio-only streams beside them.
//
// When nothing fits, the error is a permanent *failure.Error with reason
// FormatUnavailable whose message lists the audio the video has.
func AudioFor(formats []resolver.Format, format string) (*resolver.Format, error) {
	want := accepts(format)
	if want == nil {
		return nil, unavailable("unknown audio format %q: spec.audio.format must be m4a, opus or mp3", format)
	}
	best := pickAudio(formats, want, nil)
	if best != nil {
		return best, nil
	}
	have := audioSummary(formats)
	if have == "" {
		return nil, unavailable("the video has no audio-only stream, so there is no %s audio to extract", format)
	}
	var alt []string
	for _, name := range []string{FormatM4A, FormatOpus} {
		if name != format && pickAudio(formats, accepts(name), nil) != nil {
			alt = append(alt, name)
		}
	}
	alt = append(alt, FormatMP3+" (transcoded)")
	return nil, unavailable("the video has no %s audio stream; it has %s. Set spec.audio.format to %s",
		format, have, strings.Join(alt, " or "))
}

// accepts says which audio-only streams serve an audio format; nil for an
// unknown format.
func accepts(format string) func(stream) bool {
	switch format {
	case FormatM4A:
		return func(s stream) bool { return s.container == "mp4" && s.has("mp4a") }
	case FormatOpus:
		return func(s stream) bool { return s.container == "webm" && s.has("opus") }
	case FormatMP3:
		return func(stream) bool { return true }
	}
	return nil
}

// pickAudio returns a copy of the best audio-only format that want accepts;
// prefer, when set, ranks formats it accepts above the others before bitrate.
func pickAudio(formats []resolver.Format, want, prefer func(stream) bool) *resolver.Format {
	var (
		best  *resolver.Format
		bestS stream
	)
	for i := range formats {
		f := &formats[i]
		s := parseMime(f.MimeType)
		if !s.audioOnly() || !want(s) {
			continue
		}
		if best == nil || betterAudio(f, s, best, bestS, prefer) {
			best, bestS = f, s
		}
	}
	if best == nil {
		return nil
	}
	c := *best
	return &c
}

func betterAudio(a *resolver.Format, as stream, b *resolver.Format, bs stream, prefer func(stream) bool) bool {
	if da, db := defaultTrack(a), defaultTrack(b); da != db {
		return da
	}
	if prefer != nil {
		if pa, pb := prefer(as), prefer(bs); pa != pb {
			return pa
		}
	}
	if a.Bitrate != b.Bitrate {
		return a.Bitrate > b.Bitrate
	}
	return a.AudioSampleRate > b.AudioSampleRate
}

// audioSummary lists the audio-only streams for messages:
// "opus (itags 251, 250, 249), aac in mp4 (itag 140)".
func audioSummary(formats []resolver.Format) string {
	var order []string
	itags := map[string][]string{}
	for i := range formats {
		s := parseMime(formats[i].MimeType)
		if !s.audioOnly() {
			continue
		}
		key := s.audioCodec() + " in " + s.container
		if _, ok := itags[key]; !ok {
			order = append(order, key)
		}
		itags[key] = append(itags[key], formats[i].ID)
	}
	parts := make([]string, 0, len(order))
	for _, k := range order {
		word := "itag"
		if len(itags[k]) > 1 {
			word = "itags"
		}
		parts = append(parts, fmt.Sprintf("%s (%s %s)", k, word, strings.Join(itags[k], ", ")))
	}
	return strings.Join(parts, ", ")
}

// Choice is what VideoFor picked: a video-only stream and an audio-only
// stream to mux, or one progressive stream that carries both.
type Choice struct {
	// Video is the stream to download; for a progressive choice it has the
	// audio too.
	Video *resolver.Format
	// Audio goes with an adaptive Video; nil when Progressive, or when the
	// video has no audio at all.
	Audio *resolver.Format
	// Progressive: Video is a muxed (audio and video) format such as itag 18.
	Progressive bool
}

// VideoFor picks the streams for a muxed mp4 of the best video whose height
// is at most maxHeight (0 or less: any height).
//
// Among video-only streams it prefers the highest height, then H.264 in mp4
// (avc1: it muxes into mp4 without re-encoding and plays everywhere; VP9 and
// AV1 can be copied into mp4 as well, so a greater height wins over the
// codec), then the highest bitrate. The audio to go with it is the best
// audio-only stream, AAC preferred (the mp4 audio codec every player has),
// of the original-language track. A progressive (muxed) format is used when
// it is as good: when its height is at least that of the best video-only
// choice. It is then returned alone, Progressive true and Audio nil.
//
// Height is the stream's pixel height, as spec.video.maxHeight says; for a
// portrait video that is the long side.
//
// When no video fits, the error is a permanent *failure.Error with reason
// FormatUnavailable whose message lists the heights the video has.
func VideoFor(formats []resolver.Format, maxHeight int) (Choice, error) {
	fits := func(f *resolver.Format) bool {
		return f.Height > 0 && (maxHeight <= 0 || f.Height <= maxHeight)
	}
	var (
		adaptive, prog   *resolver.Format
		adaptiveS, progS stream
		heights          = map[int]bool{}
	)
	for i := range formats {
		f := &formats[i]
		s := parseMime(f.MimeType)
		if s.kind != "video" {
			continue
		}
		if f.Height > 0 {
			heights[f.Height] = true
		}
		if !fits(f) {
			continue
		}
		if progressive(f, s) {
			if prog == nil || betterVideo(f, s, prog, progS) {
				prog, progS = f, s
			}
			continue
		}
		if adaptive == nil || betterVideo(f, s, adaptive, adaptiveS) {
			adaptive, adaptiveS = f, s
		}
	}
	switch {
	case prog != nil && (adaptive == nil || prog.Height >= adaptive.Height):
		c := *prog
		return Choice{Video: &c, Progressive: true}, nil
	case adaptive != nil:
		c := *adaptive
		audio := pickAudio(formats, func(stream) bool { return true }, func(s stream) bool { return s.has("mp4a") })
		return Choice{Video: &c, Audio: audio}, nil
	case len(heights) == 0:
		return Choice{}, unavailable("the video has no video stream; extract its audio with spec.audio instead")
	}
	hs := make([]int, 0, len(heights))
	for h := range heights {
		hs = append(hs, h)
	}
	sort.Ints(hs)
	labels := make([]string, len(hs))
	for i, h := range hs {
		labels[i] = strconv.Itoa(h) + "p"
	}
	return Choice{}, unavailable("no video at or under %dp: the video has %s; raise spec.video.maxHeight",
		maxHeight, strings.Join(labels, ", "))
}

func betterVideo(a *resolver.Format, as stream, b *resolver.Format, bs stream) bool {
	if a.Height != b.Height {
		return a.Height > b.Height
	}
	if aa, ba := as.avc(), bs.avc(); aa != ba {
		return aa
	}
	return a.Bitrate > b.Bitrate
}
