package youtube_test

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	kkdai "github.com/kkdai/youtube/v2"

	"ytx.dev/ytx/internal/youtube"
)

func TestMetadataTruncatesDescriptionRuneSafely(t *testing.T) {
	const max = youtube.MaxDescriptionRunes
	// Multi-byte runes of every width, so that a byte-based cut would land
	// inside a character.
	unit := "aé€🎵"                    // 1, 2, 3 and 4 bytes
	long := strings.Repeat(unit, max) // 4*max runes
	for _, tc := range []struct {
		name, in string
		cut      bool
	}{
		{"short", "Never gonna give you up", false},
		{"exactly max", strings.Repeat("é", max), false},
		{"one over", strings.Repeat("é", max+1), true},
		{"long mixed", long, true},
		{"long mixed, shifted", "x" + long, true},
	} {
		got := youtube.Metadata(youtube.FromKKDAI(&kkdai.Video{Description: tc.in})).Description
		if !utf8.ValidString(got) {
			t.Errorf("%s: invalid UTF-8", tc.name)
		}
		n := utf8.RuneCountInString(got)
		if !tc.cut {
			if got != tc.in {
				t.Errorf("%s: changed to %q", tc.name, got)
			}
			continue
		}
		if n != max || !strings.HasSuffix(got, "…") || !strings.HasPrefix(tc.in, strings.TrimSuffix(got, "…")) {
			t.Errorf("%s: %d runes, suffix %q", tc.name, n, got[len(got)-min(len(got), 8):])
		}
	}

	got := youtube.Metadata(youtube.FromKKDAI(&kkdai.Video{Description: "ok \xff\xfe bytes"})).Description
	if !utf8.ValidString(got) || !strings.HasPrefix(got, "ok ") {
		t.Errorf("invalid UTF-8 kept: %q", got)
	}
}

func TestMetadataFields(t *testing.T) {
	v := &kkdai.Video{
		Title:    "t",
		Duration: 213*time.Second + 900*time.Millisecond,
		Views:    42,
		// YouTube lists small to large, but do not rely on it.
		Thumbnails: kkdai.Thumbnails{
			{URL: "https://i.ytimg.com/vi/x/sddefault.jpg", Width: 640, Height: 480},
			{URL: "https://i.ytimg.com/vi/x/maxresdefault.jpg", Width: 1280, Height: 720},
			{URL: "https://i.ytimg.com/vi/x/default.jpg", Width: 120, Height: 90},
		},
	}
	m := youtube.Metadata(youtube.FromKKDAI(v))
	if m.ThumbnailURL != "https://i.ytimg.com/vi/x/maxresdefault.jpg" {
		t.Errorf("thumbnail %q is not the largest", m.ThumbnailURL)
	}
	if m.DurationSeconds != 213 || m.ViewCount != 42 {
		t.Errorf("duration %d views %d", m.DurationSeconds, m.ViewCount)
	}
	if m.PublishDate != "" {
		t.Errorf("zero publish date rendered as %q", m.PublishDate)
	}
	// A time late in the day west of UTC is the next UTC day.
	v.PublishDate = time.Date(2009, 10, 24, 23, 57, 33, 0, time.FixedZone("PDT", -7*3600))
	if got := youtube.Metadata(youtube.FromKKDAI(v)).PublishDate; got != "2009-10-25" {
		t.Errorf("publishDate %q, want the UTC day 2009-10-25", got)
	}
}
