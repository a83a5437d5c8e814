package youtube

import (
	"mime"
	"strings"
	"time"

	"ytx.dev/ytx/internal/resolver"
)

// Info is the full metadata of a video as stored in info.json. Its keys are
// yt-dlp's (`--write-info-json`) where yt-dlp has one, so that scripts
// written for yt-dlp read it unchanged.
type Info struct {
	ID          string          `json:"id"`
	Title       string          `json:"title"`
	Description string          `json:"description"`
	Uploader    string          `json:"uploader"`
	ChannelID   string          `json:"channel_id,omitempty"`
	ChannelURL  string          `json:"channel_url,omitempty"`
	Channel     string          `json:"channel,omitempty"` // the @handle
	Duration    int64           `json:"duration"`          // seconds
	ViewCount   int64           `json:"view_count"`
	UploadDate  string          `json:"upload_date,omitempty"` // YYYYMMDD, UTC
	WebpageURL  string          `json:"webpage_url"`
	Thumbnail   string          `json:"thumbnail,omitempty"`
	Thumbnails  []InfoThumbnail `json:"thumbnails"`
	Formats     []InfoFormat    `json:"formats"`
	// Chapters, subtitles and automatic captions, where the resolver
	// read them (yt-dlp does; kkdai lists caption tracks only).
	Chapters          []InfoChapter            `json:"chapters,omitempty"`
	Subtitles         map[string][]InfoCaption `json:"subtitles,omitempty"`
	AutomaticCaptions map[string][]InfoCaption `json:"automatic_captions,omitempty"`
	Extractor         string                   `json:"extractor"`
	// Resolver and ResolverVersion say what read the video and served the
	// files (kkdai or yt-dlp); not yt-dlp keys.
	Resolver        string `json:"resolver"`
	ResolverVersion string `json:"resolver_version,omitempty"`
}

// InfoChapter is one chapter, in seconds.
type InfoChapter struct {
	Start float64 `json:"start_time"`
	End   float64 `json:"end_time"`
	Title string  `json:"title"`
}

// InfoCaption is one subtitle file of a language.
type InfoCaption struct {
	Ext  string `json:"ext"`
	URL  string `json:"url"`
	Name string `json:"name,omitempty"`
}

// InfoThumbnail is one thumbnail of Info.
type InfoThumbnail struct {
	URL    string `json:"url"`
	Width  int    `json:"width,omitempty"`
	Height int    `json:"height,omitempty"`
}

// InfoFormat is one stream YouTube offered, downloaded or not.
type InfoFormat struct {
	FormatID      string  `json:"format_id"` // the itag
	Ext           string  `json:"ext"`       // mp4, m4a, webm
	MimeType      string  `json:"mime_type"` // with codecs, as YouTube wrote it
	VCodec        string  `json:"vcodec"`    // "none" for audio-only
	ACodec        string  `json:"acodec"`    // "none" for video-only
	Width         int     `json:"width,omitempty"`
	Height        int     `json:"height,omitempty"`
	FPS           int     `json:"fps,omitempty"`
	TBR           float64 `json:"tbr,omitempty"` // kbit/s
	ASR           int     `json:"asr,omitempty"` // audio sample rate
	AudioChannels int     `json:"audio_channels,omitempty"`
	Filesize      int64   `json:"filesize,omitempty"`
	FormatNote    string  `json:"format_note,omitempty"` // "720p", "AUDIO_QUALITY_MEDIUM"
	Language      string  `json:"language,omitempty"`
	URL           string  `json:"url,omitempty"` // signed; expires within hours
}

// NewInfo describes v, as read by its resolver.
func NewInfo(v *resolver.Video) Info {
	in := Info{
		ID:              v.ID,
		Title:           v.Title,
		Description:     v.Description,
		Uploader:        v.Author,
		ChannelID:       v.ChannelID,
		Channel:         v.ChannelHandle,
		Duration:        int64(v.Duration / time.Second),
		ViewCount:       v.Views,
		WebpageURL:      "https://www.youtube.com/watch?v=" + v.ID,
		Thumbnail:       v.LargestThumbnail(),
		Thumbnails:      []InfoThumbnail{},
		Formats:         []InfoFormat{},
		Extractor:       "ytx",
		Resolver:        v.Resolver,
		ResolverVersion: v.ResolverVersion,
	}
	if v.ChannelID != "" {
		in.ChannelURL = "https://www.youtube.com/channel/" + v.ChannelID
	}
	if !v.PublishDate.IsZero() {
		in.UploadDate = v.PublishDate.UTC().Format("20060102")
	}
	for _, t := range v.Thumbnails {
		in.Thumbnails = append(in.Thumbnails, InfoThumbnail{URL: t.URL, Width: t.Width, Height: t.Height})
	}
	for i := range v.Formats {
		in.Formats = append(in.Formats, infoFormat(&v.Formats[i]))
	}
	for _, c := range v.Chapters {
		in.Chapters = append(in.Chapters, InfoChapter{Start: c.Start, End: c.End, Title: c.Title})
	}
	for _, c := range v.Captions {
		m := &in.Subtitles
		if c.Automatic {
			m = &in.AutomaticCaptions
		}
		if *m == nil {
			*m = map[string][]InfoCaption{}
		}
		(*m)[c.Language] = append((*m)[c.Language], InfoCaption{Ext: c.Ext, URL: c.URL, Name: c.Name})
	}
	return in
}

func infoFormat(f *resolver.Format) InfoFormat {
	out := InfoFormat{
		FormatID:      f.ID,
		MimeType:      f.MimeType,
		Width:         f.Width,
		Height:        f.Height,
		FPS:           f.FPS,
		TBR:           float64(f.Bitrate) / 1000,
		ASR:           f.AudioSampleRate,
		AudioChannels: f.AudioChannels,
		Filesize:      f.ContentLength,
		FormatNote:    f.QualityLabel,
		Language:      f.Language,
		URL:           f.URL,
		VCodec:        "none",
		ACodec:        "none",
	}
	if out.FormatNote == "" {
		out.FormatNote = f.AudioQuality
	}
	typ, params, _ := mime.ParseMediaType(f.MimeType)
	kind, sub, _ := strings.Cut(typ, "/")
	out.Ext = sub
	if kind == "audio" && sub == "mp4" {
		out.Ext = "m4a"
	}
	var codecs []string
	for _, c := range strings.Split(params["codecs"], ",") {
		if c = strings.TrimSpace(c); c != "" {
			codecs = append(codecs, c)
		}
	}
	switch {
	case kind == "audio" && len(codecs) > 0:
		out.ACodec = codecs[0]
	case kind == "video" && len(codecs) == 1:
		out.VCodec = codecs[0]
	case kind == "video" && len(codecs) > 1:
		out.VCodec, out.ACodec = codecs[0], codecs[1]
	}
	return out
}
