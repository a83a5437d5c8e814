package youtube

import (
	"strings"
	"time"
	"unicode/utf8"

	kkdai "github.com/kkdai/youtube/v2"

	"ytx.dev/ytx/api/v1alpha1"
)

// MaxDescriptionRunes bounds the description kept in status: a resource
// must stay far below etcd's object size limit, and the info artifact keeps
// the whole text.
const MaxDescriptionRunes = 1000

// Metadata is what status.metadata shows of v.
//
// publishDate is the UTC day (kkdai converts YouTube's Pacific-time stamp to
// UTC), empty when YouTube gave none. thumbnailURL is the largest thumbnail.
// The description is cut to at most MaxDescriptionRunes runes, the last of
// them "…" when something was cut.
func Metadata(v *kkdai.Video) v1alpha1.VideoMetadata {
	m := v1alpha1.VideoMetadata{
		Title:           v.Title,
		Author:          v.Author,
		ChannelID:       v.ChannelID,
		DurationSeconds: int64(v.Duration / time.Second),
		ViewCount:       int64(v.Views),
		ThumbnailURL:    largestThumbnail(v.Thumbnails),
		Description:     truncateRunes(v.Description, MaxDescriptionRunes),
	}
	if !v.PublishDate.IsZero() {
		m.PublishDate = v.PublishDate.UTC().Format(time.DateOnly)
	}
	return m
}

// largestThumbnail picks by area; on a tie, or when YouTube gave no sizes, the
// later one wins, because YouTube lists thumbnails from small to large.
func largestThumbnail(ts kkdai.Thumbnails) string {
	best, bestArea := "", uint64(0)
	for _, t := range ts {
		if area := uint64(t.Width) * uint64(t.Height); best == "" || area >= bestArea {
			best, bestArea = t.URL, area
		}
	}
	return best
}

// truncateRunes cuts s to at most n runes, ending in "…" when it cut, and
// never splits a multi-byte character. Invalid UTF-8 becomes U+FFFD, which
// is what the API server would store anyway.
func truncateRunes(s string, n int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	if n <= 0 {
		return ""
	}
	kept := 0
	for i := range s {
		if kept == n-1 {
			return s[:i] + "…"
		}
		kept++
	}
	return s // unreachable: s has more than n runes
}
