package youtube

import (
	"strings"
	"testing"

	"ytx.dev/ytx/internal/youtube/linktest"
)

func TestVideoIDAcceptsVideoLinks(t *testing.T) {
	for link, want := range linktest.Valid {
		got, err := VideoID(link)
		if err != nil {
			t.Errorf("VideoID(%q): %v", link, err)
			continue
		}
		if got != want {
			t.Errorf("VideoID(%q) = %q, want %q", link, got, want)
		}
	}
}

func TestVideoIDRefusesOtherLinks(t *testing.T) {
	for _, link := range append(linktest.Invalid, linktest.Hostile...) {
		id, err := VideoID(link)
		if err == nil {
			t.Errorf("VideoID(%q) = %q, want an error", link, id)
			continue
		}
		if !strings.Contains(err.Error(), "youtu.be/VIDEO_ID") {
			t.Errorf("VideoID(%q) error %q does not say what a valid link looks like", link, err)
		}
	}
}

func TestVideoIDErrorTruncatesHugeInput(t *testing.T) {
	_, err := VideoID("https://example.com/" + strings.Repeat("a", 4096))
	if err == nil || len(err.Error()) > 400 {
		t.Fatalf("error for a 4 KB link should be short, got %d bytes", len(err.Error()))
	}
}
