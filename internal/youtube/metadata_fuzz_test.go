package youtube_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	kkdai "github.com/kkdai/youtube/v2"

	"ytx.dev/ytx/internal/youtube"
)

// maxMetadataJSON bounds status.metadata as JSON: well below what the API
// server stores (about 1.5 MB per object), whatever YouTube answered.
const maxMetadataJSON = 64 << 10

// The texts of status.metadata and info.json come from YouTube's answer,
// which is untrusted: whatever it holds, Metadata must not panic, must give
// valid UTF-8 within the bounds that keep the status writable, must keep
// what fits unchanged, and info.json must still encode.
func FuzzMetadata(f *testing.F) {
	f.Add("Rick Astley - Never Gonna Give You Up", "Rick Astley", "UCuAXFkgsw1L7xaCfnd5JJOw", "The official video", "https://i.ytimg.com/vi/dQw4w9WgXcQ/maxresdefault.jpg", 1280, 720, int64(213))
	f.Add("", "", "", "", "", 0, 0, int64(0))
	f.Add("t\xff\xfe", "a\xc3", "UC\x00", strings.Repeat("é🎵", 700), "https://i.ytimg.com/\xff", -1, 1<<30, int64(-5))
	f.Add(strings.Repeat("🎵", 600), strings.Repeat("x", 600), strings.Repeat("U", 200), "d", strings.Repeat("u", 3000), 1, 1, int64(1)<<62)
	f.Fuzz(func(t *testing.T, title, author, channel, description, thumb string, w, h int, seconds int64) {
		v := &kkdai.Video{
			ID: "dQw4w9WgXcQ", Title: title, Author: author, ChannelID: channel, Description: description,
			Duration:   time.Duration(seconds) * time.Second,
			Thumbnails: kkdai.Thumbnails{{URL: "https://i.ytimg.com/vi/x/default.jpg", Width: 120, Height: 90}, {URL: thumb, Width: uint(w), Height: uint(h)}},
			Formats:    kkdai.FormatList{{ItagNo: 140, URL: thumb, MimeType: title}},
		}
		m := youtube.Metadata(youtube.FromKKDAI(v))
		for _, field := range []struct {
			name, in, out string
			max           int
		}{
			{"title", title, m.Title, youtube.MaxTitleRunes},
			{"author", author, m.Author, youtube.MaxTitleRunes},
			{"channelID", channel, m.ChannelID, youtube.MaxChannelIDRunes},
			{"description", description, m.Description, youtube.MaxDescriptionRunes},
		} {
			if !utf8.ValidString(field.out) {
				t.Errorf("%s %q is not valid UTF-8", field.name, field.out)
			}
			if n := utf8.RuneCountInString(field.out); n > field.max {
				t.Errorf("%s has %d runes, more than %d", field.name, n, field.max)
			}
			if utf8.ValidString(field.in) && utf8.RuneCountInString(field.in) <= field.max && field.out != field.in {
				t.Errorf("%s %q changed to %q though it fits", field.name, field.in, field.out)
			}
			if kept := strings.TrimSuffix(field.out, "…"); utf8.ValidString(field.in) && !strings.HasPrefix(field.in, kept) {
				t.Errorf("%s %q is not a prefix of %q", field.name, field.out, field.in)
			}
		}
		if m.ThumbnailURL != "" && m.ThumbnailURL != thumb && m.ThumbnailURL != v.Thumbnails[0].URL {
			t.Errorf("thumbnailURL %q is none of the video's", m.ThumbnailURL)
		}
		if len(m.ThumbnailURL) > youtube.MaxThumbnailURLBytes || !utf8.ValidString(m.ThumbnailURL) {
			t.Errorf("thumbnailURL of %d bytes, valid UTF-8 %v", len(m.ThumbnailURL), utf8.ValidString(m.ThumbnailURL))
		}
		raw, err := json.Marshal(m)
		if err != nil || len(raw) > maxMetadataJSON {
			t.Errorf("metadata as JSON: %d bytes, %v", len(raw), err)
		}
		if _, err := json.Marshal(youtube.NewInfo(youtube.FromKKDAI(v))); err != nil {
			t.Errorf("info.json: %v", err)
		}
	})
}
