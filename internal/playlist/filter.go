package playlist

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
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

// FilterError is a filter field the spec gets wrong; Reason is the
// playlist's Failed reason for it (InvalidMatch, InvalidPublishedAfter).
type FilterError struct {
	Reason string
	err    error
}

func (e *FilterError) Error() string { return e.err.Error() }
func (e *FilterError) Unwrap() error { return e.err }

// FilterReason is the Failed reason of an error of NewFilter.
func FilterReason(err error) string {
	if fe := (*FilterError)(nil); errors.As(err, &fe) {
		return fe.Reason
	}
	return v1alpha1.ReasonInvalidMatch
}

// NewFilter reads the spec's filters. Its errors are FilterErrors that
// name the field: a match that is not a regular expression cannot be
// refused at admission (CEL has no way to compile one), nor can every
// impossible day, so the manager fails the playlist with them.
func NewFilter(spec v1alpha1.YouTubePlaylistSpec) (Filter, error) {
	f := Filter{includeLive: spec.IncludeLive}
	if spec.MaxVideos != nil {
		f.max = int(*spec.MaxVideos)
	}
	if spec.Match != "" {
		re, err := regexp.Compile(spec.Match)
		if err != nil {
			return f, &FilterError{v1alpha1.ReasonInvalidMatch,
				fmt.Errorf("spec.match %q is not a regular expression (Go RE2 syntax): %v", spec.Match, err)}
		}
		f.match = re
	}
	if spec.PublishedAfter != "" {
		t, err := ParsePublishedAfter(spec.PublishedAfter)
		if err != nil {
			return f, &FilterError{v1alpha1.ReasonInvalidPublishedAfter, err}
		}
		f.after = t
	}
	return f, nil
}

// ParsePublishedAfter reads spec.publishedAfter: a day as YYYY-MM-DD, as
// yt-dlp's --dateafter writes it (YYYYMMDD), or an RFC 3339 time as
// Kubernetes writes times, of which the day in UTC counts: YouTube dates
// most videos by the day alone, so a time of day could not be kept to, and
// the day keeps every video of the time asked.
func ParsePublishedAfter(s string) (time.Time, error) {
	for _, layout := range []string{time.DateOnly, "20060102", time.RFC3339Nano} {
		if t, err := time.Parse(layout, strings.ToUpper(s)); err == nil {
			y, m, d := t.UTC().Date()
			return time.Date(y, m, d, 0, 0, 0, 0, time.UTC), nil
		}
	}
	return time.Time{}, fmt.Errorf("spec.publishedAfter %q is not a day of the calendar: write YYYY-MM-DD (2024-06-01), YYYYMMDD as yt-dlp's --dateafter, or an RFC 3339 time (2024-06-01T00:00:00Z)", s)
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
