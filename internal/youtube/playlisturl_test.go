package youtube

import (
	"strings"
	"testing"

	"ytx.dev/ytx/internal/youtube/linktest"
)

func TestListTargetReadsWhatEachPlaylistOrChannelLinkLists(t *testing.T) {
	for link, want := range linktest.ListValid {
		got, err := ListTarget(link)
		if err != nil {
			t.Errorf("ListTarget(%q): %v", link, err)
			continue
		}
		if got != want {
			t.Errorf("ListTarget(%q) = %+v, want %+v", link, got, want)
		}
	}
}

// Each refusal says why, names the field and shows links that work.
func TestListTargetRefusesOtherLinksSayingWhyAndWhatWorks(t *testing.T) {
	for link, why := range linktest.ListRefused {
		got, err := ListTarget(link)
		if err == nil {
			t.Errorf("ListTarget(%q) = %+v, want an error", link, got)
			continue
		}
		msg := err.Error()
		for _, want := range []string{why, "spec.url", "https://www.youtube.com/playlist?list=LIST_ID", "https://www.youtube.com/@HANDLE"} {
			if !strings.Contains(msg, want) {
				t.Errorf("ListTarget(%q) error %q does not say %q", link, msg, want)
			}
		}
	}
}

// Every link to one video is refused, and the refusal points to the
// kind that takes it, unless it carries a list ytx can read (then it is
// that playlist's link) or one it cannot (then it says why).
func TestListTargetSendsVideoLinksToYouTubeExtraction(t *testing.T) {
	for link := range linktest.Valid {
		got, err := ListTarget(link)
		switch {
		case err == nil && got.PlaylistID == "":
			t.Errorf("ListTarget(%q) = %+v: a video link read as a channel", link, got)
		case err == nil && !strings.Contains(link, "list="+got.PlaylistID):
			t.Errorf("ListTarget(%q) = %+v, not the link's list", link, got)
		case err != nil && !strings.Contains(link, "list=") && !strings.Contains(err.Error(), "YouTubeExtraction"):
			t.Errorf("ListTarget(%q) error %q does not point to YouTubeExtraction", link, err)
		}
	}
}

// The links that try to aim a video's worker elsewhere than YouTube do
// not get through as playlists either.
func TestListTargetRefusesEveryHostileVideoLink(t *testing.T) {
	for _, link := range linktest.Hostile {
		if got, err := ListTarget(link); err == nil {
			t.Errorf("ListTarget(%q) = %+v, want an error", link, got)
		}
	}
}

func TestListTargetErrorTruncatesHugeInput(t *testing.T) {
	_, err := ListTarget("https://www.youtube.com/@" + strings.Repeat("a", 4096))
	if err == nil || len(err.Error()) > 800 {
		t.Fatalf("error for a 4 KB link should be short, got %v", err)
	}
}
