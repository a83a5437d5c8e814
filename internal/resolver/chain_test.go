package resolver_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	v1alpha1 "ytx.dev/ytx/api/v1alpha1"
	"ytx.dev/ytx/internal/failure"
	"ytx.dev/ytx/internal/resolver"
)

// These are unit tests of the chain's rules. The resolvers here are
// stand-ins that answer as told; the real ones run against the fake
// YouTube in internal/youtube, internal/ytdlp and test/e2e.

type standIn struct {
	name    string
	resolve error // Resolve's answer
	calls   int
}

func (s *standIn) Name() string    { return s.name }
func (s *standIn) Version() string { return "1" }
func (s *standIn) Resolve(context.Context, resolver.Request) (*resolver.Video, error) {
	s.calls++
	if s.resolve != nil {
		return nil, s.resolve
	}
	return &resolver.Video{ID: "dQw4w9WgXcQ", Resolver: s.name}, nil
}
func (s *standIn) MediaURL(context.Context, resolver.Request, *resolver.Video, *resolver.Format) (string, http.Header, error) {
	return "", nil, nil
}

var (
	forbidden   = failure.Retryable(v1alpha1.ReasonForbidden, nil, "refused")
	private     = failure.Definitive(v1alpha1.ReasonLoginRequired, nil, "private")
	ageGate     = failure.Permanent(v1alpha1.ReasonLoginRequired, nil, "age")
	strangeWord = failure.Retryable(v1alpha1.ReasonLoginRequired, nil, "new words")
	botCheck    = failure.Retryable(v1alpha1.ReasonRateLimited, nil, "not a bot")
	storageDown = failure.Storage("storing", "s3://x", errors.New("down"))
)

// use returns err for the named resolver's turn, nil for the others.
func use(errs map[string]error, got *[]string) resolver.Use {
	return func(_ context.Context, r resolver.Resolver, _ *resolver.Video, last bool) error {
		*got = append(*got, r.Name())
		return errs[r.Name()]
	}
}

func TestFallbackToTheNextResolverOnAFailureItMayNotMeet(t *testing.T) {
	for _, tc := range []struct {
		name         string
		resolveErr   error // the first resolver's Resolve
		useErr       error // the first resolver's media
		wantFallback bool
	}{
		{"media refused (Forbidden)", nil, forbidden, true},
		{"bot check while resolving", botCheck, nil, true},
		{"a sign-in in words ytx does not know", strangeWord, nil, true},
		{"a format missing", failure.Permanent(v1alpha1.ReasonFormatUnavailable, nil, "no opus"), nil, true},
		{"a network error", failure.Retryable(v1alpha1.ReasonDownloadFailed, nil, "reset"), nil, true},
		{"a private video ends the chain", private, nil, false},
		{"an age restriction ends the chain", ageGate, nil, false},
		{"a removed video ends the chain", failure.Definitive(v1alpha1.ReasonVideoUnavailable, nil, "removed"), nil, false},
		{"a foreign host ends the chain", failure.Permanent(v1alpha1.ReasonDownloadFailed, nil, "not YouTube"), nil, false},
		{"storage down ends the chain", nil, storageDown, false},
		{"a size cap ends the chain", nil, failure.Permanent(v1alpha1.ReasonArtifactTooLarge, nil, "big"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := &standIn{name: "a", resolve: tc.resolveErr}, &standIn{name: "b"}
			var used []string
			var outcomes []resolver.Outcome
			c := resolver.NewChain(resolver.ChainOptions{}, a, b)
			r, err := c.Run(context.Background(), resolver.Request{}, true, use(map[string]error{"a": tc.useErr}, &used),
				func(o resolver.Outcome) { outcomes = append(outcomes, o) })
			if tc.wantFallback {
				if err != nil || r.Name() != "b" || b.calls != 1 || len(outcomes) != 1 || outcomes[0].Next != "b" {
					t.Errorf("want b to serve after a fallback: resolver %v, err %v, b asked %d times, fallbacks %+v", r, err, b.calls, outcomes)
				}
				return
			}
			if err == nil || b.calls != 0 || len(outcomes) != 0 {
				t.Errorf("want the chain to stop at a: err %v, b asked %d times, fallbacks %+v", err, b.calls, outcomes)
			}
		})
	}
}

func TestTheLastResolversFailureIsTheAttemptsWithTheTrail(t *testing.T) {
	a, b := &standIn{name: "a"}, &standIn{name: "b", resolve: botCheck}
	var used []string
	_, err := resolver.NewChain(resolver.ChainOptions{}, a, b).Run(context.Background(), resolver.Request{}, true, use(map[string]error{"a": forbidden}, &used), nil)
	f, ok := failure.As(err)
	if !ok || f.Reason != v1alpha1.ReasonRateLimited || !strings.Contains(f.Message, "a failed (Forbidden)") || !strings.Contains(f.Message, "not a bot") {
		t.Fatalf("error %v, want b's RateLimited after a's Forbidden", err)
	}
}

// A resolver that cannot run (yt-dlp not installed) says nothing about the
// video: the one before it speaks, with a note of what to install.
func TestAnUnavailableResolverLeavesTheReasonToTheOneBefore(t *testing.T) {
	missing := failure.Retryable(v1alpha1.ReasonForbidden, errors.Join(resolver.ErrUnavailable, errors.New("not found")), "install yt-dlp")
	a, b := &standIn{name: "a", resolve: failure.Retryable(v1alpha1.ReasonRateLimited, nil, "a bot check")}, &standIn{name: "b", resolve: missing}
	_, err := resolver.NewChain(resolver.ChainOptions{}, a, b).Run(context.Background(), resolver.Request{}, false, use(nil, new([]string)), nil)
	f, ok := failure.As(err)
	if !ok || f.Reason != v1alpha1.ReasonRateLimited || !strings.Contains(f.Message, "install yt-dlp") {
		t.Fatalf("error %v, want a's RateLimited noting what to install", err)
	}
}

func TestMediaJobsSkipAResolverWhoseMediaWasRefusedAgainAndAgain(t *testing.T) {
	now := time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)
	var skips int
	c := resolver.NewChain(resolver.ChainOptions{MediaRefusals: 3, MediaSkip: 10 * time.Minute, Now: func() time.Time { return now },
		Observe: func(o resolver.Outcome) {
			if o.Skipped {
				skips++
			}
		}}, &standIn{name: "a"}, &standIn{name: "b"})
	run := func(needsMedia bool) []string {
		var used []string
		if _, err := c.Run(context.Background(), resolver.Request{}, needsMedia, use(map[string]error{"a": forbidden}, &used), nil); err != nil {
			t.Fatal(err)
		}
		return used
	}
	for i := range 3 {
		if got := run(true); strings.Join(got, ",") != "a,b" {
			t.Fatalf("job %d: resolvers %v, want a then b", i, got)
		}
	}
	if got := run(true); strings.Join(got, ",") != "b" || skips != 1 {
		t.Errorf("after 3 refusals: resolvers %v (skips %d), want b alone", got, skips)
	}
	if got := run(false); got[0] != "a" {
		t.Errorf("a metadata job: resolvers %v, want a (it needs no media)", got)
	}
	if _, skipped := c.Skipped()["a"]; !skipped {
		t.Error("Skipped does not list a")
	}
	now = now.Add(10 * time.Minute)
	if got := run(true); strings.Join(got, ",") != "a,b" {
		t.Errorf("after the skip: resolvers %v, want a tried again", got)
	}
	if got := run(true); strings.Join(got, ",") != "b" {
		t.Errorf("one more refusal after the skip: resolvers %v, want a skipped again at once", got)
	}
}

// The last resolver is never skipped: a chain of one always asks it.
func TestTheLastResolverIsNeverSkipped(t *testing.T) {
	a := &standIn{name: "a"}
	c := resolver.NewChain(resolver.ChainOptions{MediaRefusals: 1}, a)
	for range 3 {
		c.Run(context.Background(), resolver.Request{}, true, use(map[string]error{"a": forbidden}, new([]string)), nil) //nolint:errcheck
	}
	if a.calls != 3 {
		t.Errorf("a asked %d times, want 3", a.calls)
	}
}

func TestTheUseIsToldWhetherAnotherResolverFollows(t *testing.T) {
	var lasts []bool
	c := resolver.NewChain(resolver.ChainOptions{}, &standIn{name: "a"}, &standIn{name: "b"})
	c.Run(context.Background(), resolver.Request{}, true, func(_ context.Context, r resolver.Resolver, _ *resolver.Video, last bool) error { //nolint:errcheck
		lasts = append(lasts, last)
		if r.Name() == "a" {
			return forbidden
		}
		return nil
	}, nil)
	if len(lasts) != 2 || lasts[0] || !lasts[1] {
		t.Errorf("last flags %v, want [false true]", lasts)
	}
}

func TestLargestThumbnailIsTheLargestLaterOnATie(t *testing.T) {
	v := resolver.Video{Thumbnails: []resolver.Thumbnail{{URL: "a", Width: 640, Height: 480}, {URL: "b", Width: 1280, Height: 720}, {URL: "c", Width: 120, Height: 90}}}
	if got := v.LargestThumbnail(); got != "b" {
		t.Errorf("largest %q", got)
	}
	v = resolver.Video{Thumbnails: []resolver.Thumbnail{{URL: "a"}, {URL: "b"}}}
	if got := v.LargestThumbnail(); got != "b" {
		t.Errorf("without sizes %q, want the later", got)
	}
}
