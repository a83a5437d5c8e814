package youtube

import (
	"regexp"
	"testing"

	"ytx.dev/ytx/internal/youtube/linktest"
)

// Links come from manifests: VideoID must never panic, and it must agree
// with the CRD's admission rule (VideoURLPattern): what admission refuses
// has no ID, and every ID is 11 characters of YouTube's alphabet.
func FuzzVideoID(f *testing.F) {
	for link := range linktest.Valid {
		f.Add(link)
	}
	for _, link := range append(linktest.Invalid, linktest.Hostile...) {
		f.Add(link)
	}
	rule := regexp.MustCompile(VideoURLPattern)
	id := regexp.MustCompile(`^[A-Za-z0-9_-]{11}$`)
	f.Fuzz(func(t *testing.T, link string) {
		got, err := VideoID(link)
		admitted := rule.MatchString(link)
		switch {
		case err == nil && !id.MatchString(got):
			t.Fatalf("VideoID(%q) = %q, not a video ID", link, got)
		case err == nil && !admitted:
			t.Fatalf("VideoID(%q) = %q, but admission refuses the link", link, got)
		case err != nil && admitted:
			t.Fatalf("admission accepts %q but VideoID fails: %v", link, err)
		}
	})
}
