package status

import (
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1alpha1 "ytx.dev/ytx/api/v1alpha1"
)

// These tests pin the table "Phases and conditions" of docs/design.md: each
// transition's phase, the conditions it writes, keeps and removes, and the
// fields it sets or clears.

var (
	t0  = metav1.NewTime(time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC))
	now = metav1.NewTime(t0.Add(time.Minute))
)

// before is the condition every test starts from, for each type: a value no
// transition writes, so that a condition left untouched is told apart from
// one written again.
const before = "Before"

// lived is a resource at generation 2 with a status from an earlier attempt:
// every field set and every condition present, written for generation 1.
func lived() *v1alpha1.YouTubeExtraction {
	x := &v1alpha1.YouTubeExtraction{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "x", Generation: 2}}
	x.Status = v1alpha1.YouTubeExtractionStatus{
		Phase:               v1alpha1.PhaseRunning,
		ObservedGeneration:  2,
		VideoID:             "dQw4w9WgXcQ",
		Metadata:            &v1alpha1.VideoMetadata{Title: "t"},
		Artifacts:           []v1alpha1.Artifact{{Kind: v1alpha1.ArtifactInfo, URI: "file:///a/ns/x/info.json"}},
		Progress:            &v1alpha1.Progress{BytesDone: 5, BytesTotal: 10, Percent: 50},
		Attempts:            2,
		LastFailure:         &v1alpha1.AttemptFailure{Attempt: 1, Reason: v1alpha1.ReasonDownloadFailed, Message: "503", Time: t0},
		Worker:              "w-1",
		StartTime:           &t0,
		LastHeartbeatTime:   &t0,
		CompletionTime:      &t0,
		RateLimitedSince:    &t0,
		RateLimitedAttempts: 1,
	}
	for _, typ := range []string{v1alpha1.ConditionQueued, v1alpha1.ConditionRunning, v1alpha1.ConditionComplete, v1alpha1.ConditionFailed} {
		x.Status.Conditions = append(x.Status.Conditions, metav1.Condition{
			Type: typ, Status: metav1.ConditionUnknown, Reason: before, ObservedGeneration: 1, LastTransitionTime: t0,
		})
	}
	return x
}

// cond is a condition as the table in the design writes it: "True Published",
// "False Retrying", "—" (untouched) or "" (removed).
func cond(x *v1alpha1.YouTubeExtraction, typ string) string {
	c := meta.FindStatusCondition(x.Status.Conditions, typ)
	switch {
	case c == nil:
		return ""
	case c.Reason == before:
		return "—"
	}
	return string(c.Status) + " " + c.Reason
}

func TestEachTransitionSetsItsPhaseAndConditions(t *testing.T) {
	for _, tc := range []struct {
		name                              string
		apply                             func(*v1alpha1.YouTubeExtraction)
		phase                             v1alpha1.Phase
		queued, running, complete, failed string
		fields                            func(t *testing.T, x *v1alpha1.YouTubeExtraction)
	}{
		{
			name:  "StartGeneration resets the status and makes attempt 1 current",
			apply: func(x *v1alpha1.YouTubeExtraction) { StartGeneration(x, "jNQXAC9IVRw") },
			phase: "", queued: "—", running: "", complete: "", failed: "",
			fields: func(t *testing.T, x *v1alpha1.YouTubeExtraction) {
				want := v1alpha1.YouTubeExtractionStatus{ObservedGeneration: 2, VideoID: "jNQXAC9IVRw", Attempts: 1}
				got := x.Status
				got.Conditions = nil
				if !equality.Semantic.DeepEqual(got, want) {
					t.Errorf("status %+v, want only observedGeneration, videoID and attempts: %+v", got, want)
				}
			},
		},
		{
			name:  "NextAttempt makes attempt n current and clears the last attempt's run",
			apply: func(x *v1alpha1.YouTubeExtraction) { NextAttempt(x, 3) },
			phase: "", queued: "—", running: "—", complete: "—", failed: "—",
			fields: func(t *testing.T, x *v1alpha1.YouTubeExtraction) {
				s := x.Status
				if s.Attempts != 3 || s.Worker != "" || s.Progress != nil || s.StartTime != nil || s.LastHeartbeatTime != nil {
					t.Errorf("attempts %d worker %q progress %v start %v heartbeat %v, want 3 and the rest cleared",
						s.Attempts, s.Worker, s.Progress, s.StartTime, s.LastHeartbeatTime)
				}
				if s.LastFailure == nil || s.LastFailure.Attempt != 1 {
					t.Errorf("lastFailure %+v, want the earlier attempt's kept for the user to read", s.LastFailure)
				}
				if s.RateLimitedAttempts != 1 || s.RateLimitedSince == nil {
					t.Errorf("rateLimitedAttempts %d since %v, want the generation's count kept", s.RateLimitedAttempts, s.RateLimitedSince)
				}
			},
		},
		{
			name:  "Queued is Queued with Queued True Published",
			apply: func(x *v1alpha1.YouTubeExtraction) { Queued(x, "attempt 2 queued on jobs") },
			phase: v1alpha1.PhaseQueued, queued: "True Published", running: "—", complete: "—", failed: "—",
		},
		{
			name:  "Wait is Pending with Queued False NamespaceBusy",
			apply: func(x *v1alpha1.YouTubeExtraction) { Wait(x, "busy") },
			phase: v1alpha1.PhasePending, queued: "False NamespaceBusy", running: "—", complete: "—", failed: "—",
		},
		{
			name:  "PublishFailed is Pending with Queued False PublishFailed",
			apply: func(x *v1alpha1.YouTubeExtraction) { PublishFailed(x, "broker down") },
			phase: v1alpha1.PhasePending, queued: "False PublishFailed", running: "—", complete: "—", failed: "—",
		},
		{
			name: "Claimed is Running with Queued False and Running True, both Claimed",
			apply: func(x *v1alpha1.YouTubeExtraction) {
				x.Status.Phase = v1alpha1.PhaseQueued
				Claimed(x, "w-2", now)
			},
			phase: v1alpha1.PhaseRunning, queued: "False Claimed", running: "True Claimed", complete: "—", failed: "—",
			fields: func(t *testing.T, x *v1alpha1.YouTubeExtraction) {
				s := x.Status
				if s.Worker != "w-2" || !s.StartTime.Equal(&now) || !s.LastHeartbeatTime.Equal(&now) || s.Progress != nil {
					t.Errorf("worker %q start %v heartbeat %v progress %v, want w-2, now, now, cleared", s.Worker, s.StartTime, s.LastHeartbeatTime, s.Progress)
				}
			},
		},
		{
			name:  "Succeeded is Succeeded with Complete True and Running False, Failed removed",
			apply: func(x *v1alpha1.YouTubeExtraction) { Succeeded(x, "done", now) },
			phase: v1alpha1.PhaseSucceeded, queued: "—", running: "False Succeeded", complete: "True Succeeded", failed: "",
			fields: func(t *testing.T, x *v1alpha1.YouTubeExtraction) {
				s := x.Status
				if !s.CompletionTime.Equal(&now) || s.Progress.Percent != 100 || s.Progress.BytesDone != 5 {
					t.Errorf("completion %v progress %+v, want now and 100%% of the bytes counted", s.CompletionTime, s.Progress)
				}
			},
		},
		{
			name:  "Failed is Failed with Failed True and Queued and Running False, all with the reason, Complete removed",
			apply: func(x *v1alpha1.YouTubeExtraction) { Failed(x, v1alpha1.ReasonVideoUnavailable, "gone", now) },
			phase: v1alpha1.PhaseFailed, queued: "False VideoUnavailable", running: "False VideoUnavailable", complete: "", failed: "True VideoUnavailable",
			fields: func(t *testing.T, x *v1alpha1.YouTubeExtraction) {
				s := x.Status
				want := v1alpha1.AttemptFailure{Attempt: 2, Reason: v1alpha1.ReasonVideoUnavailable, Message: "gone", Time: now}
				if !s.CompletionTime.Equal(&now) || s.LastFailure == nil || !equalFailure(*s.LastFailure, want) {
					t.Errorf("completion %v lastFailure %+v, want now and %+v", s.CompletionTime, s.LastFailure, want)
				}
			},
		},
		{
			name:  "AttemptFailed is Pending with Running False reason and Queued False Retrying",
			apply: func(x *v1alpha1.YouTubeExtraction) { AttemptFailed(x, v1alpha1.ReasonTimeout, "silent", now) },
			phase: v1alpha1.PhasePending, queued: "False Retrying", running: "False Timeout", complete: "—", failed: "—",
			fields: func(t *testing.T, x *v1alpha1.YouTubeExtraction) {
				want := v1alpha1.AttemptFailure{Attempt: 2, Reason: v1alpha1.ReasonTimeout, Message: "silent", Time: now}
				if f := x.Status.LastFailure; f == nil || !equalFailure(*f, want) {
					t.Errorf("lastFailure %+v, want %+v", f, want)
				}
			},
		},
		{
			name:  "HandedBack is Pending with Queued and Running False HandedBack, the run cleared",
			apply: func(x *v1alpha1.YouTubeExtraction) { HandedBack(x, "w-1") },
			phase: v1alpha1.PhasePending, queued: "False HandedBack", running: "False HandedBack", complete: "—", failed: "—",
			fields: func(t *testing.T, x *v1alpha1.YouTubeExtraction) {
				s := x.Status
				if s.Worker != "" || s.Progress != nil || s.StartTime != nil || s.LastHeartbeatTime != nil {
					t.Errorf("worker %q progress %v start %v heartbeat %v, want all cleared", s.Worker, s.Progress, s.StartTime, s.LastHeartbeatTime)
				}
				if s.Attempts != 2 || s.LastFailure.Attempt != 1 {
					t.Errorf("attempts %d lastFailure of attempt %d, want attempt 2 not counted as failed", s.Attempts, s.LastFailure.Attempt)
				}
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			x := lived()
			tc.apply(x)
			if x.Status.Phase != tc.phase {
				t.Errorf("phase %q, want %q", x.Status.Phase, tc.phase)
			}
			for _, c := range []struct{ typ, want string }{
				{v1alpha1.ConditionQueued, tc.queued},
				{v1alpha1.ConditionRunning, tc.running},
				{v1alpha1.ConditionComplete, tc.complete},
				{v1alpha1.ConditionFailed, tc.failed},
			} {
				if got := cond(x, c.typ); got != c.want {
					t.Errorf("condition %s: %q, want %q", c.typ, got, c.want)
				}
			}
			for _, c := range x.Status.Conditions {
				if c.Reason != before && c.ObservedGeneration != x.Generation {
					t.Errorf("condition %s written for generation %d, want %d", c.Type, c.ObservedGeneration, x.Generation)
				}
			}
			if tc.fields != nil {
				tc.fields(t, x)
			}
		})
	}
}

func equalFailure(a, b v1alpha1.AttemptFailure) bool {
	return a.Attempt == b.Attempt && a.Reason == b.Reason && a.Message == b.Message && a.Time.Equal(&b.Time)
}

// AttemptsExhausted must not hide the DownloadFailed a person needs to read.
func TestFailedKeepsTheLastFailureOfTheCurrentAttempt(t *testing.T) {
	x := lived()
	AttemptFailed(x, v1alpha1.ReasonDownloadFailed, "503 from googlevideo", t0)
	Failed(x, v1alpha1.ReasonAttemptsExhausted, "all 2 attempts failed", now)
	f := x.Status.LastFailure
	want := v1alpha1.AttemptFailure{Attempt: 2, Reason: v1alpha1.ReasonDownloadFailed, Message: "503 from googlevideo", Time: t0}
	if !equalFailure(*f, want) {
		t.Errorf("lastFailure %+v, want the attempt's own failure %+v", f, want)
	}
	if got := cond(x, v1alpha1.ConditionFailed); got != "True AttemptsExhausted" {
		t.Errorf("Failed condition %q, want True AttemptsExhausted", got)
	}
}

func TestFailedBeforeAnyAttemptRecordsNoLastFailure(t *testing.T) {
	x := &v1alpha1.YouTubeExtraction{ObjectMeta: metav1.ObjectMeta{Generation: 1}}
	Failed(x, v1alpha1.ReasonInvalidURL, "not a video link", now)
	if x.Status.LastFailure != nil {
		t.Errorf("lastFailure %+v for attempt 0, want none", x.Status.LastFailure)
	}
	if x.Status.Phase != v1alpha1.PhaseFailed || !Is(x, v1alpha1.ConditionFailed) {
		t.Errorf("phase %s, Failed %v, want Failed", x.Status.Phase, Is(x, v1alpha1.ConditionFailed))
	}
}

func TestSucceededIsAHundredPercentEvenWithNoBytesToMove(t *testing.T) {
	x := &v1alpha1.YouTubeExtraction{}
	Succeeded(x, "only metadata", now)
	if p := x.Status.Progress; p == nil || p.Percent != 100 {
		t.Errorf("progress %+v, want 100%%", p)
	}
	if !Is(x, v1alpha1.ConditionComplete) {
		t.Error("Complete not True")
	}
}

// A broker outage, or a resource checking for a slot again, must not
// rewrite the same status on every try.
func TestWaitAndPublishFailedReportWhetherTheStatusChanged(t *testing.T) {
	for _, tc := range []struct {
		name   string
		apply  func(*v1alpha1.YouTubeExtraction, string) bool
		reason string
	}{
		{"Wait", Wait, v1alpha1.ReasonNamespaceBusy},
		{"PublishFailed", PublishFailed, v1alpha1.ReasonPublishFailed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			x := lived()
			x.Status.Phase = v1alpha1.PhaseQueued
			steps := []struct {
				what    string
				do      func() bool
				changed bool
			}{
				{"first time", func() bool { return tc.apply(x, "m1") }, true},
				{"same again", func() bool { return tc.apply(x, "m1") }, false},
				{"another message", func() bool { return tc.apply(x, "m2") }, true},
				{"from another phase with the same condition", func() bool {
					x.Status.Phase = v1alpha1.PhaseQueued
					return tc.apply(x, "m2")
				}, true},
			}
			for _, s := range steps {
				if got := s.do(); got != s.changed {
					t.Errorf("%s: changed = %v, want %v", s.what, got, s.changed)
				}
			}
			if x.Status.Phase != v1alpha1.PhasePending || cond(x, v1alpha1.ConditionQueued) != "False "+tc.reason {
				t.Errorf("phase %s Queued %q, want Pending, False %s", x.Status.Phase, cond(x, v1alpha1.ConditionQueued), tc.reason)
			}
		})
	}
}

func TestWaitingIsPendingWithQueuedFalseNamespaceBusy(t *testing.T) {
	for _, tc := range []struct {
		name  string
		apply func(*v1alpha1.YouTubeExtraction)
		want  bool
	}{
		{"made to wait", func(x *v1alpha1.YouTubeExtraction) { Wait(x, "busy") }, true},
		{"let in afterwards", func(x *v1alpha1.YouTubeExtraction) { Wait(x, "busy"); Queued(x, "queued") }, false},
		{"publish failed", func(x *v1alpha1.YouTubeExtraction) { PublishFailed(x, "down") }, false},
		{"handed back", func(x *v1alpha1.YouTubeExtraction) { HandedBack(x, "w") }, false},
		{"attempt failed", func(x *v1alpha1.YouTubeExtraction) { AttemptFailed(x, v1alpha1.ReasonTimeout, "", now) }, false},
		{"no conditions", func(x *v1alpha1.YouTubeExtraction) { x.Status.Phase = v1alpha1.PhasePending }, false},
	} {
		x := &v1alpha1.YouTubeExtraction{}
		x.Status.Attempts = 1
		tc.apply(x)
		if got := Waiting(x); got != tc.want {
			t.Errorf("%s: Waiting = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestAttemptEndedIsPendingWithALastFailureOfTheCurrentAttempt(t *testing.T) {
	for _, tc := range []struct {
		name  string
		apply func(*v1alpha1.YouTubeExtraction)
		want  bool
	}{
		{"attempt failed", func(x *v1alpha1.YouTubeExtraction) { AttemptFailed(x, v1alpha1.ReasonTimeout, "", now) }, true},
		{"next attempt started", func(x *v1alpha1.YouTubeExtraction) {
			AttemptFailed(x, v1alpha1.ReasonTimeout, "", now)
			NextAttempt(x, 2)
			Queued(x, "queued")
		}, false},
		{"next attempt waits for a slot", func(x *v1alpha1.YouTubeExtraction) {
			AttemptFailed(x, v1alpha1.ReasonTimeout, "", now)
			NextAttempt(x, 2)
			Wait(x, "busy")
		}, false},
		{"failed for good", func(x *v1alpha1.YouTubeExtraction) {
			AttemptFailed(x, v1alpha1.ReasonTimeout, "", now)
			Failed(x, v1alpha1.ReasonAttemptsExhausted, "", now)
		}, false},
		{"handed back", func(x *v1alpha1.YouTubeExtraction) { HandedBack(x, "w") }, false},
	} {
		x := &v1alpha1.YouTubeExtraction{}
		x.Status.Attempts = 1
		x.Status.Phase = v1alpha1.PhaseRunning
		tc.apply(x)
		if got := AttemptEnded(x); got != tc.want {
			t.Errorf("%s: AttemptEnded = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// Rate-limited attempts do not spend spec.retry.maxAttempts: they are
// counted apart, from the first one's time, for the whole generation.
func TestRateLimitedAttemptsAreCountedApartFromTheFirstOnesTime(t *testing.T) {
	x := &v1alpha1.YouTubeExtraction{ObjectMeta: metav1.ObjectMeta{Generation: 1}}
	StartGeneration(x, "dQw4w9WgXcQ")
	steps := []struct {
		reason       string
		at           metav1.Time
		limited, all int32
	}{
		{v1alpha1.ReasonRateLimited, t0, 1, 1},
		{v1alpha1.ReasonDownloadFailed, now, 1, 2},
		{v1alpha1.ReasonRateLimited, now, 2, 3},
		{v1alpha1.ReasonTimeout, now, 2, 4},
	}
	for i, st := range steps {
		if i > 0 {
			NextAttempt(x, int32(i+1))
		}
		AttemptFailed(x, st.reason, "m", st.at)
		s := x.Status
		if s.RateLimitedAttempts != st.limited || SpentAttempts(x) != st.all-st.limited {
			t.Errorf("attempt %d (%s): rateLimitedAttempts %d, spent %d; want %d and %d", i+1, st.reason, s.RateLimitedAttempts, SpentAttempts(x), st.limited, st.all-st.limited)
		}
		if s.RateLimitedSince == nil || !s.RateLimitedSince.Equal(&t0) {
			t.Errorf("attempt %d: rateLimitedSince %v, want the first rate-limited attempt's time", i+1, s.RateLimitedSince)
		}
	}
	StartGeneration(x, "dQw4w9WgXcQ")
	if x.Status.RateLimitedAttempts != 0 || x.Status.RateLimitedSince != nil {
		t.Errorf("a new generation keeps rateLimitedAttempts %d since %v", x.Status.RateLimitedAttempts, x.Status.RateLimitedSince)
	}
}
