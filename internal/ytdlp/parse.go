package ytdlp

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"ytx.dev/ytx/internal/resolver"
)

// info is the part of yt-dlp's JSON (its --write-info-json keys) that ytx
// reads. Numbers that yt-dlp leaves null are pointers or zero.
type info struct {
	Type              string                `json:"_type"`
	ID                string                `json:"id"`
	Title             string                `json:"title"`
	Description       string                `json:"description"`
	Uploader          string                `json:"uploader"`
	Channel           string                `json:"channel"`
	ChannelID         string                `json:"channel_id"`
	UploaderID        string                `json:"uploader_id"` // "@handle"
	Duration          float64               `json:"duration"`
	ViewCount         int64                 `json:"view_count"`
	UploadDate        string                `json:"upload_date"` // YYYYMMDD
	Timestamp         float64               `json:"timestamp"`
	Thumbnails        []thumbnail           `json:"thumbnails"`
	Formats           []format              `json:"formats"`
	Subtitles         map[string][]subtitle `json:"subtitles"`
	AutomaticCaptions map[string][]subtitle `json:"automatic_captions"`
	Chapters          []chapter             `json:"chapters"`
}

type thumbnail struct {
	URL    string `json:"url"`
	Width  int    `json:"width"`
	Height int    `json:"height"`
}

type format struct {
	FormatID           string            `json:"format_id"`
	URL                string            `json:"url"`
	Protocol           string            `json:"protocol"`
	Ext                string            `json:"ext"`
	ACodec             string            `json:"acodec"`
	VCodec             string            `json:"vcodec"`
	Width              int               `json:"width"`
	Height             int               `json:"height"`
	FPS                float64           `json:"fps"`
	TBR                float64           `json:"tbr"`
	ABR                float64           `json:"abr"`
	ASR                int               `json:"asr"`
	AudioChannels      int               `json:"audio_channels"`
	Filesize           int64             `json:"filesize"`
	FormatNote         string            `json:"format_note"`
	Language           string            `json:"language"`
	LanguagePreference *int              `json:"language_preference"`
	HasDRM             any               `json:"has_drm"` // true, false or "maybe"
	HTTPHeaders        map[string]string `json:"http_headers"`
	AvailableAt        int64             `json:"available_at"`
}

type subtitle struct {
	Ext  string `json:"ext"`
	URL  string `json:"url"`
	Name string `json:"name"`
}

type chapter struct {
	Start float64 `json:"start_time"`
	End   float64 `json:"end_time"`
	Title string  `json:"title"`
}

// parse reads yt-dlp's JSON for video id.
func parse(out []byte, id string) (*resolver.Video, error) {
	var in info
	if err := json.Unmarshal(out, &in); err != nil {
		return nil, fmt.Errorf("not yt-dlp's JSON: %w", err)
	}
	if in.Type != "" && in.Type != "video" {
		return nil, fmt.Errorf("yt-dlp answered a %q, not a video", in.Type)
	}
	if in.ID != id {
		return nil, fmt.Errorf("yt-dlp answered for video %q, not %q", truncate(in.ID, 20), id)
	}
	v := &resolver.Video{
		ID:            in.ID,
		Title:         in.Title,
		Description:   in.Description,
		Author:        firstOf(in.Channel, in.Uploader),
		ChannelID:     in.ChannelID,
		ChannelHandle: handle(in.UploaderID),
		Duration:      time.Duration(in.Duration * float64(time.Second)),
		Views:         in.ViewCount,
		Resolver:      resolver.YTDLP,
	}
	switch {
	case in.Timestamp > 0:
		v.PublishDate = time.Unix(int64(in.Timestamp), 0).UTC()
	case len(in.UploadDate) == 8:
		v.PublishDate, _ = time.Parse("20060102", in.UploadDate)
	}
	v.Thumbnails = thumbnails(in.Thumbnails)
	for _, f := range in.Formats {
		if rf, ok := convert(f); ok {
			v.Formats = append(v.Formats, rf)
		}
	}
	for _, c := range in.Chapters {
		v.Chapters = append(v.Chapters, resolver.Chapter{Title: c.Title, Start: c.Start, End: c.End})
	}
	v.Captions = append(captions(in.Subtitles, false), captions(in.AutomaticCaptions, true)...)
	return v, nil
}

// thumbnails keeps the JPEG ones (the file ytx stores is thumbnail.jpg);
// all of them when there are none.
func thumbnails(ts []thumbnail) []resolver.Thumbnail {
	var jpeg, all []resolver.Thumbnail
	for _, t := range ts {
		rt := resolver.Thumbnail{URL: t.URL, Width: t.Width, Height: t.Height}
		all = append(all, rt)
		if u, err := url.Parse(t.URL); err == nil && strings.HasSuffix(strings.ToLower(u.Path), ".jpg") {
			jpeg = append(jpeg, rt)
		}
	}
	if len(jpeg) > 0 {
		return jpeg
	}
	return all
}

// convert keeps a format ytx can download: plain https (not HLS or DASH
// manifests, not storyboards), without DRM, not the dynamic-range
// compressed copy of an audio stream ("251-drc").
func convert(f format) (resolver.Format, bool) {
	if f.Protocol != "https" || f.URL == "" || f.HasDRM == true || strings.HasSuffix(f.FormatID, "-drc") {
		return resolver.Format{}, false
	}
	mime, ok := mimeType(f)
	if !ok {
		return resolver.Format{}, false
	}
	itag, _ := strconv.Atoi(strings.SplitN(f.FormatID, "-", 2)[0])
	kbps := f.TBR
	if kbps == 0 {
		kbps = f.ABR
	}
	rf := resolver.Format{
		ID:              f.FormatID,
		Itag:            itag,
		URL:             f.URL,
		Header:          header(f.HTTPHeaders),
		MimeType:        mime,
		Width:           f.Width,
		Height:          f.Height,
		FPS:             int(f.FPS + 0.5),
		Bitrate:         int(kbps * 1000),
		AudioSampleRate: f.ASR,
		AudioChannels:   f.AudioChannels,
		ContentLength:   f.Filesize,
		QualityLabel:    f.FormatNote,
		Language:        f.Language,
		// yt-dlp ranks the original track 10 and YouTube's default 5;
		// a video with one track names no language.
		AudioDefault: f.Language == "" || (f.LanguagePreference != nil && *f.LanguagePreference >= 5),
	}
	if f.AvailableAt > 0 {
		rf.AvailableAt = time.Unix(f.AvailableAt, 0)
	}
	return rf, true
}

// mimeType writes a format's type as YouTube does (`audio/mp4;
// codecs="mp4a.40.2"`), which is what ytx's format choice reads.
func mimeType(f format) (string, bool) {
	video, audio := codec(f.VCodec), codec(f.ACodec)
	var kind string
	switch {
	case video != "":
		kind = "video"
	case audio != "":
		kind = "audio"
	default:
		return "", false
	}
	container := map[string]string{"m4a": "mp4", "mp4": "mp4", "webm": "webm"}[f.Ext]
	if container == "" {
		return "", false
	}
	codecs := strings.Trim(video+", "+audio, ", ")
	return fmt.Sprintf("%s/%s; codecs=%q", kind, container, codecs), true
}

// codec is a codec name, "" for none or unknown.
func codec(c string) string {
	if c == "none" || c == "null" {
		return ""
	}
	return c
}

// header keeps the headers a download may send.
func header(h map[string]string) http.Header {
	out := http.Header{}
	for k, v := range h {
		out.Set(k, v)
	}
	return out
}

func captions(m map[string][]subtitle, automatic bool) []resolver.Caption {
	var out []resolver.Caption
	for lang, subs := range m {
		for _, s := range subs {
			out = append(out, resolver.Caption{Language: lang, Name: s.Name, URL: s.URL, Ext: s.Ext, Automatic: automatic})
		}
	}
	return out
}

// handle is an @handle, "" for other uploader IDs.
func handle(id string) string {
	if strings.HasPrefix(id, "@") {
		return id
	}
	return ""
}

func firstOf(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
