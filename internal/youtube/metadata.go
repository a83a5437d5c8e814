package youtube

import (
	"strings"
	"time"
	"unicode/utf8"

	"ytx.dev/ytx/api/v1alpha1"
	"ytx.dev/ytx/internal/resolver"
)

// MaxDescriptionRunes bounds the description kept in status: about what
// YouTube shows above its "more". The info artifact keeps the whole text.
// Every finished extraction stays in etcd, in the API server's watch cache
// and in every client's informer for as long as it exists; at the earlier
// bound of 1,000 runes the description was the largest part of the object
// (up to 4 KB of UTF-8 in an object of about 5), for a text nobody reads
// from status.
const MaxDescriptionRunes = 200

// Bounds of the other texts that status.metadata takes from YouTube's
// answer. Real titles and channel names have at most 100 characters and
// channel IDs 24, and thumbnail URLs are about 100 bytes; the bounds are far
// above that, and only keep a forged answer from making the status too big
// for the API server to store.
const (
	MaxTitleRunes        = 500
	MaxChannelIDRunes    = 100
	MaxThumbnailURLBytes = 2048
)

// Metadata is what status.metadata shows of v.
//
// publishDate is the UTC day (kkdai converts YouTube's Pacific-time stamp to
// UTC), empty when YouTube gave none. thumbnailURL is the largest thumbnail
// (Video.LargestThumbnail), left out when longer than MaxThumbnailURLBytes. The
// description is cut to at most MaxDescriptionRunes runes, the last of them
// "…" when something was cut; title and author to MaxTitleRunes, the
// channel ID to MaxChannelIDRunes. Every text is valid UTF-8.
func Metadata(v *resolver.Video) v1alpha1.VideoMetadata {
	m := v1alpha1.VideoMetadata{
		Title:           truncateRunes(v.Title, MaxTitleRunes),
		Author:          truncateRunes(v.Author, MaxTitleRunes),
		ChannelID:       truncateRunes(v.ChannelID, MaxChannelIDRunes),
		DurationSeconds: int64(v.Duration / time.Second),
		ViewCount:       v.Views,
		Description:     truncateRunes(v.Description, MaxDescriptionRunes),
	}
	if u := v.LargestThumbnail(); len(u) <= MaxThumbnailURLBytes && utf8.ValidString(u) {
		m.ThumbnailURL = u
	}
	if !v.PublishDate.IsZero() {
		m.PublishDate = v.PublishDate.UTC().Format(time.DateOnly)
	}
	return m
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
