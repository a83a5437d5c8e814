package playlist

import (
	"fmt"
	"strings"
	"testing"
	"time"

	v1alpha1 "ytx.dev/ytx/api/v1alpha1"
	"ytx.dev/ytx/internal/resolver"
)

func ids(es []resolver.Entry) string {
	var s []string
	for _, e := range es {
		s = append(s, e.ID)
	}
	return strings.Join(s, ",")
}

func mustFilter(t *testing.T, spec v1alpha1.YouTubePlaylistSpec) Filter {
	t.Helper()
	f, err := NewFilter(spec)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestMaxVideosTakesTheFirstNInListingOrder(t *testing.T) {
	var es []resolver.Entry
	for i := range 25 {
		es = append(es, resolver.Entry{ID: fmt.Sprintf("v%02d", i)})
	}
	n := int32(10)
	got := mustFilter(t, v1alpha1.YouTubePlaylistSpec{MaxVideos: &n}).Select(es)
	if ids(got) != ids(es[:10]) {
		t.Errorf("maxVideos 10 took %s", ids(got))
	}
}

func TestMaxVideosCountsOnlyWhatPassesTheOtherFilters(t *testing.T) {
	es := []resolver.Entry{{ID: "a", Title: "Live at X"}, {ID: "b", Title: "talk"}, {ID: "c", Title: "Live at Y"}, {ID: "d", Title: "Live at Z"}}
	n := int32(2)
	got := mustFilter(t, v1alpha1.YouTubePlaylistSpec{MaxVideos: &n, Match: "^Live"}).Select(es)
	if ids(got) != "a,c" {
		t.Errorf("took %s, want a,c", ids(got))
	}
}

func TestMatchIsARegularExpressionOnTheTitle(t *testing.T) {
	es := []resolver.Entry{{ID: "a", Title: "Official Video"}, {ID: "b", Title: "official audio"}, {ID: "c", Title: "Lyric"}}
	if got := ids(mustFilter(t, v1alpha1.YouTubePlaylistSpec{Match: "(?i)official"}).Select(es)); got != "a,b" {
		t.Errorf("(?i)official took %s", got)
	}
	if _, err := NewFilter(v1alpha1.YouTubePlaylistSpec{Match: "(unclosed"}); err == nil || !strings.Contains(err.Error(), "spec.match") {
		t.Errorf("an invalid match gives %v, want an error naming spec.match", err)
	}
}

func TestLiveAndUpcomingAreSkippedUnlessIncluded(t *testing.T) {
	es := []resolver.Entry{{ID: "now", Live: resolver.LiveNow}, {ID: "soon", Live: resolver.LiveUpcoming}, {ID: "was", Live: resolver.LiveWas}, {ID: "plain"}}
	if got := ids(mustFilter(t, v1alpha1.YouTubePlaylistSpec{}).Select(es)); got != "was,plain" {
		t.Errorf("default took %s, want was,plain", got)
	}
	if got := ids(mustFilter(t, v1alpha1.YouTubePlaylistSpec{IncludeLive: true}).Select(es)); got != "now,soon,was,plain" {
		t.Errorf("includeLive took %s", got)
	}
}

func TestPublishedAfterTakesThatDayOnAndNeedsDates(t *testing.T) {
	day := func(s string) time.Time { d, _ := time.Parse(time.DateOnly, s); return d }
	f := mustFilter(t, v1alpha1.YouTubePlaylistSpec{PublishedAfter: "2026-03-01"})
	es := []resolver.Entry{{ID: "new", Published: day("2026-05-01")}, {ID: "same", Published: day("2026-03-01")}, {ID: "old", Published: day("2025-12-31")}, {ID: "unknown"}}
	if got := ids(f.Select(es)); got != "new,same" {
		t.Errorf("took %s, want new,same (an undated entry is not taken)", got)
	}
	if f.Judge(es[3]) != NeedDate || !f.NeedsDates() {
		t.Error("an undated entry under publishedAfter must need its date")
	}
	if mustFilter(t, v1alpha1.YouTubePlaylistSpec{}).NeedsDates() {
		t.Error("a filter without publishedAfter needs dates")
	}
}

func TestPublishedAfterIsADayInAnyOfItsThreeForms(t *testing.T) {
	for s, want := range map[string]string{
		"2026-03-01":                "2026-03-01",
		"20260301":                  "2026-03-01", // yt-dlp's --dateafter
		"2026-03-01T00:00:00Z":      "2026-03-01",
		"2026-03-01T18:30:00Z":      "2026-03-01", // the day, not the time: YouTube dates most videos by the day
		"2026-03-01T21:00:00-05:00": "2026-03-02", // the day in UTC
		"2026-03-01t01:00:00+02:00": "2026-02-28",
	} {
		got, err := ParsePublishedAfter(s)
		if err != nil || got.Format(time.RFC3339) != want+"T00:00:00Z" {
			t.Errorf("ParsePublishedAfter(%q) = %v, %v; want %s at 00:00 UTC", s, got, err, want)
		}
	}
}

func TestAnImpossibleDayIsInvalidPublishedAfter(t *testing.T) {
	for _, s := range []string{"2026-02-30", "20260431", "2026-02-29T00:00:00Z"} {
		_, err := NewFilter(v1alpha1.YouTubePlaylistSpec{PublishedAfter: s})
		if err == nil || FilterReason(err) != v1alpha1.ReasonInvalidPublishedAfter || !strings.Contains(err.Error(), "spec.publishedAfter") {
			t.Errorf("publishedAfter %q: %v (reason %q), want InvalidPublishedAfter naming the field", s, err, FilterReason(err))
		}
	}
	_, err := NewFilter(v1alpha1.YouTubePlaylistSpec{Match: "(live"})
	if err == nil || FilterReason(err) != v1alpha1.ReasonInvalidMatch {
		t.Errorf("match (live: %v, want InvalidMatch", err)
	}
}

func TestAVideoListedTwiceIsTakenOnce(t *testing.T) {
	es := []resolver.Entry{{ID: "a"}, {ID: "b"}, {ID: "a"}}
	if got := ids(mustFilter(t, v1alpha1.YouTubePlaylistSpec{}).Select(es)); got != "a,b" {
		t.Errorf("took %s", got)
	}
}

func TestArchiveIsYtDlpsFormat(t *testing.T) {
	in := "youtube dQw4w9WgXcQ\n\nvimeo 12345\nyoutube -abcdefghij\nyoutube dQw4w9WgXcQ\n"
	a, err := ParseArchive(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if !a.Has("dQw4w9WgXcQ") || !a.Has("-abcdefghij") || a.Has("12345") || a.Len() != 2 {
		t.Fatalf("parsed %q as %v", in, a.order)
	}
	if a.Add("dQw4w9WgXcQ") || !a.Add("newvideo123") {
		t.Error("Add must report only new IDs")
	}
	if got, want := string(a.Bytes()), "youtube dQw4w9WgXcQ\nyoutube -abcdefghij\nyoutube newvideo123\n"; got != want {
		t.Errorf("archive file %q, want %q", got, want)
	}
}
