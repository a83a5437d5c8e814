package playlist

import (
	"fmt"
	"regexp"
	"time"

	v1alpha1 "ytx.dev/ytx/api/v1alpha1"
	"ytx.dev/ytx/internal/resolver"
)

// Filter is a playlist's choice of entries, read from its spec. The worker
// runs it to know which entries need a date, the manager to know which
// entries get an extraction; both read the same stored listing, so they
// agree.
type Filter struct {
	match       *regexp.Regexp // nil: every title
	after       time.Time      // zero: any date
	max         int            // 0: no cap
	includeLive bool
}

// NewFilter reads the spec's filters. Its errors name the field: a match
// that is not a regular expression cannot be refused at admission (CEL has
// no way to compile one), so the manager fails the playlist with it.
func NewFilter(spec v1alpha1.YouTubePlaylistSpec) (Filter, error) {
	f := Filter{includeLive: spec.IncludeLive}
	if spec.MaxVideos != nil {
		f.max = int(*spec.MaxVideos)
	}
	if spec.Match != "" {
		re, err := regexp.Compile(spec.Match)
		if err != nil {
			return f, fmt.Errorf("spec.match %q is not a regular expression (Go RE2 syntax): %v", spec.Match, err)
		}
		f.match = re
	}
	if spec.PublishedAfter != "" {
		t, err := time.Parse(time.DateOnly, spec.PublishedAfter)
		if err != nil {
			return f, fmt.Errorf("spec.publishedAfter %q is not a date as YYYY-MM-DD: %v", spec.PublishedAfter, err)
		}
		f.after = t
	}
	return f, nil
}

// NeedsDates says whether the filter reads entries' dates.
func (f Filter) NeedsDates() bool { return !f.after.IsZero() }

// Verdict is what the filter says of one entry.
type Verdict int

const (
	// Skip: the entry is not taken.
	Skip Verdict = iota
	// Take: the entry is taken.
	Take
	// NeedDate: the entry passes all but the date filter, and the listing
	// has no date for it: its page must be read.
	NeedDate
)

// Judge says what the filter makes of e, alone. A live stream or a
// premiere not yet started is skipped unless spec.includeLive: it has no
// file yet (a stream that ended, was_live, is taken like any video). An
// entry without a date, when publishedAfter asks for one, is NeedDate;
// the worker reads its date, and one still unknown after that is skipped.
func (f Filter) Judge(e resolver.Entry) Verdict {
	if !f.includeLive && (e.Live == resolver.LiveNow || e.Live == resolver.LiveUpcoming) {
		return Skip
	}
	if f.match != nil && !f.match.MatchString(e.Title) {
		return Skip
	}
	if f.after.IsZero() {
		return Take
	}
	if e.Published.IsZero() {
		return NeedDate
	}
	if e.Published.Before(f.after) {
		return Skip
	}
	return Take
}

// Select returns the entries the playlist takes, in the listing's order:
// those the filter takes, up to spec.maxVideos of them (a channel's newest
// N, a playlist's first N), each video once (a playlist may list a video
// twice).
func (f Filter) Select(entries []resolver.Entry) []resolver.Entry {
	var out []resolver.Entry
	seen := map[string]bool{}
	for _, e := range entries {
		if f.max > 0 && len(out) >= f.max {
			break
		}
		if seen[e.ID] || f.Judge(e) != Take {
			continue
		}
		seen[e.ID] = true
		out = append(out, e)
	}
	return out
}
