package controllers

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "ytx.dev/ytx/api/v1alpha1"
	"ytx.dev/ytx/internal/job"
	"ytx.dev/ytx/internal/status"
)

// States of a resource, built with the same transitions the controller and
// the workers write.

// atAttempt: generation 1 started, attempt n current, no phase yet.
func atAttempt(n int32) func(*v1alpha1.YouTubeExtraction) {
	return func(x *v1alpha1.YouTubeExtraction) {
		status.StartGeneration(x, videoID)
		if n > 1 {
			status.NextAttempt(x, n)
		}
	}
}

func queued(x *v1alpha1.YouTubeExtraction) { status.Queued(x, "queued") }

// claimed: claimed by worker w-1 at base+d.
func claimed(d time.Duration) func(*v1alpha1.YouTubeExtraction) {
	return func(x *v1alpha1.YouTubeExtraction) { status.Claimed(x, "w-1", metav1.NewTime(base.Add(d))) }
}

// attemptFailed: the current attempt failed retryably at base+d.
func attemptFailed(reason string, d time.Duration) func(*v1alpha1.YouTubeExtraction) {
	return func(x *v1alpha1.YouTubeExtraction) {
		status.AttemptFailed(x, reason, "503 from googlevideo", metav1.NewTime(base.Add(d)))
	}
}

func maxAttempts(n int32) func(*v1alpha1.YouTubeExtraction) {
	return func(x *v1alpha1.YouTubeExtraction) { x.Spec.Retry = &v1alpha1.RetrySpec{MaxAttempts: n} }
}

func succeeded(d time.Duration) func(*v1alpha1.YouTubeExtraction) {
	return func(x *v1alpha1.YouTubeExtraction) { status.Succeeded(x, "done", metav1.NewTime(base.Add(d))) }
}

func failed(reason string, d time.Duration) func(*v1alpha1.YouTubeExtraction) {
	return func(x *v1alpha1.YouTubeExtraction) { status.Failed(x, reason, "gone", metav1.NewTime(base.Add(d))) }
}

func ttl(seconds int32) func(*v1alpha1.YouTubeExtraction) {
	return func(x *v1alpha1.YouTubeExtraction) { x.Spec.TTLSecondsAfterFinished = &seconds }
}

// handedBack: the worker gave the attempt back, unfinished.
func handedBack(x *v1alpha1.YouTubeExtraction) { status.HandedBack(x, "w-1") }

// wantQueued checks that x is Queued at attempt n of generation gen.
func wantQueued(t *testing.T, x *v1alpha1.YouTubeExtraction, gen int64, n int32) {
	t.Helper()
	s := x.Status
	if s.Phase != v1alpha1.PhaseQueued || cond(x, v1alpha1.ConditionQueued) != "True Published" ||
		s.ObservedGeneration != gen || s.Attempts != n || s.VideoID != videoID {
		t.Errorf("phase %s Queued %q observedGeneration %d attempts %d videoID %q, want Queued, True Published, %d, %d, %s",
			s.Phase, cond(x, v1alpha1.ConditionQueued), s.ObservedGeneration, s.Attempts, s.VideoID, gen, n, videoID)
	}
}

// --- new generations ---

func TestNewGenerationStartsAttemptOneAndQueuesIt(t *testing.T) {
	h := newHarness(t, Options{Queue: "ytx-jobs"}, resource("a"))
	if res := h.step("a"); res != (ctrl.Result{}) {
		t.Errorf("result %+v, want none: the job is out", res)
	}
	x := h.get("a")
	wantQueued(t, x, 1, 1)
	for _, typ := range []string{v1alpha1.ConditionRunning, v1alpha1.ConditionComplete, v1alpha1.ConditionFailed} {
		if c := cond(x, typ); c != "" {
			t.Errorf("condition %s %q on a new attempt", typ, c)
		}
	}
	h.wantSent(msg("a", 1, 1))
	if e := h.wantEvents("Normal Queued"); len(e) == 1 && !strings.Contains(e[0].Note, "ytx-jobs") {
		t.Errorf("Queued event %q does not name the queue", e[0].Note)
	}
}

func TestSpecChangeStartsTheExtractionOverFromAttemptOne(t *testing.T) {
	for _, tc := range []struct {
		name  string
		state []func(*v1alpha1.YouTubeExtraction)
	}{
		{"after it succeeded", []func(*v1alpha1.YouTubeExtraction){atAttempt(2), claimed(0), succeeded(time.Minute)}},
		{"after it failed", []func(*v1alpha1.YouTubeExtraction){atAttempt(3), claimed(0), attemptFailed(v1alpha1.ReasonTimeout, 0), failed(v1alpha1.ReasonAttemptsExhausted, 0)}},
		{"while it runs", []func(*v1alpha1.YouTubeExtraction){atAttempt(2), claimed(0)}},
		{"while it waits out a retry", []func(*v1alpha1.YouTubeExtraction){atAttempt(2), claimed(0), attemptFailed(v1alpha1.ReasonDownloadFailed, 0)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			x := resource("a", tc.state...)
			x.Status.Metadata = &v1alpha1.VideoMetadata{Title: "the first video"}
			x.Status.Artifacts = []v1alpha1.Artifact{{Kind: v1alpha1.ArtifactInfo, URI: "file:///x/music/a/info.json"}}
			x.Generation = 2 // the user changed the spec
			h := newHarness(t, Options{}, x)
			h.step("a")
			x = h.get("a")
			wantQueued(t, x, 2, 1)
			s := x.Status
			if s.LastFailure != nil || s.Metadata != nil || s.Artifacts != nil || s.CompletionTime != nil || s.Worker != "" {
				t.Errorf("lastFailure %v metadata %v artifacts %v completion %v worker %q kept from generation 1",
					s.LastFailure, s.Metadata, s.Artifacts, s.CompletionTime, s.Worker)
			}
			for _, typ := range []string{v1alpha1.ConditionRunning, v1alpha1.ConditionComplete, v1alpha1.ConditionFailed} {
				if c := cond(x, typ); c != "" {
					t.Errorf("condition %s %q kept from generation 1", typ, c)
				}
			}
			h.wantSent(msg("a", 2, 1))
		})
	}
}

// Admission refuses such links; objects created before the CRD had its
// rule, or by a client that skipped validation, fail here.
func TestLinkThatNamesNoVideoFailsWithInvalidURL(t *testing.T) {
	for _, link := range []string{
		"https://www.youtube.com/playlist?list=PL590L5WQmH8fJ54F369BLDSqIwcs-TCfs",
		"https://www.youtube.com/@RickAstleyYT",
		"https://vimeo.com/76979871",
		"https://www.youtube.com/watch?v=short",
	} {
		t.Run(link, func(t *testing.T) {
			h := newHarness(t, Options{}, resource("a", func(x *v1alpha1.YouTubeExtraction) { x.Spec.URL = link }))
			h.step("a")
			x := h.get("a")
			s := x.Status
			if s.Phase != v1alpha1.PhaseFailed || cond(x, v1alpha1.ConditionFailed) != "True InvalidURL" ||
				s.ObservedGeneration != 1 || s.CompletionTime == nil || !s.CompletionTime.Time.Equal(base) {
				t.Errorf("phase %s Failed %q observedGeneration %d completion %v, want Failed, True InvalidURL, 1, now",
					s.Phase, cond(x, v1alpha1.ConditionFailed), s.ObservedGeneration, s.CompletionTime)
			}
			h.wantSent()
			h.wantEvents("Warning InvalidURL")
			// Failed is final: nothing is retried or published later.
			h.at(time.Hour)
			h.step("a")
			h.wantSent()
			h.wantEvents()
		})
	}
}

// The status of a generation describes that generation only, also when
// its link names no video.
func TestLinkThatNamesNoVideoInALaterGenerationKeepsNothingOfTheEarlierOne(t *testing.T) {
	x := resource("a", atAttempt(2), claimed(0), succeeded(time.Minute))
	x.Status.Metadata = &v1alpha1.VideoMetadata{Title: "the first video"}
	x.Status.Artifacts = []v1alpha1.Artifact{{Kind: v1alpha1.ArtifactInfo, URI: "file:///x/music/a/info.json"}}
	x.Generation = 2
	x.Spec.URL = "https://www.youtube.com/playlist?list=PL590L5WQmH8fJ54F369BLDSqIwcs-TCfs"
	h := newHarness(t, Options{}, x)
	h.step("a")
	s := h.get("a").Status
	if s.Phase != v1alpha1.PhaseFailed || s.ObservedGeneration != 2 {
		t.Fatalf("phase %s observedGeneration %d, want Failed, 2", s.Phase, s.ObservedGeneration)
	}
	if s.VideoID != "" || s.Metadata != nil || s.Artifacts != nil || s.Worker != "" || s.StartTime != nil {
		t.Errorf("videoID %q metadata %v artifacts %v worker %q start %v: generation 1's result shown for generation 2",
			s.VideoID, s.Metadata, s.Artifacts, s.Worker, s.StartTime)
	}
	if s.Attempts != 1 || s.LastFailure == nil || s.LastFailure.Reason != v1alpha1.ReasonInvalidURL {
		t.Errorf("attempts %d lastFailure %+v, want attempt 1 failed InvalidURL", s.Attempts, s.LastFailure)
	}
}

// --- retries ---

func TestRetryWaitsBackoffDoubledPerAttemptCappedAtMax(t *testing.T) {
	for _, tc := range []struct {
		name   string
		opts   Options
		failed int32 // the attempt that failed
		wait   time.Duration
	}{
		{"first failure waits the backoff", Options{RetryBackoff: 10 * time.Second, RetryBackoffMax: time.Minute}, 1, 10 * time.Second},
		{"second failure waits twice as long", Options{RetryBackoff: 10 * time.Second, RetryBackoffMax: time.Minute}, 2, 20 * time.Second},
		{"third failure waits four times as long", Options{RetryBackoff: 10 * time.Second, RetryBackoffMax: time.Minute}, 3, 40 * time.Second},
		{"the wait stops at the cap", Options{RetryBackoff: 10 * time.Second, RetryBackoffMax: time.Minute}, 4, time.Minute},
		{"and stays there", Options{RetryBackoff: 10 * time.Second, RetryBackoffMax: time.Minute}, 9, time.Minute},
		{"defaults: 10s first", Options{}, 1, 10 * time.Second},
		{"defaults: capped at 5m", Options{}, 7, 5 * time.Minute},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// The failure was recorded at base+1m; the wait counts from it.
			failedAt := time.Minute
			h := newHarness(t, tc.opts, resource("a", maxAttempts(10), atAttempt(tc.failed), queued, claimed(0), attemptFailed(v1alpha1.ReasonDownloadFailed, failedAt)))
			rv := h.get("a").ResourceVersion

			h.at(failedAt + tc.wait - time.Second)
			if res := h.step("a"); res.RequeueAfter != time.Second {
				t.Errorf("one second before the backoff ends: requeue after %s, want 1s", res.RequeueAfter)
			}
			if h.get("a").ResourceVersion != rv {
				t.Error("the status was written while the backoff runs")
			}
			h.wantSent()
			h.wantEvents()

			h.at(failedAt + tc.wait)
			h.step("a")
			wantQueued(t, h.get("a"), 1, tc.failed+1)
			h.wantSent(msg("a", 1, tc.failed+1))
			h.wantEvents("Normal Retrying", "Normal Queued")
		})
	}
}

func TestRetryMakesTheNextAttemptCurrentAndKeepsTheFailureToRead(t *testing.T) {
	h := newHarness(t, Options{}, resource("a", atAttempt(1), queued, claimed(0), attemptFailed(v1alpha1.ReasonDownloadFailed, 0)))
	h.at(time.Hour)
	h.step("a")
	x := h.get("a")
	s := x.Status
	if s.Attempts != 2 || s.Worker != "" || s.StartTime != nil || s.LastHeartbeatTime != nil || s.Progress != nil {
		t.Errorf("attempts %d worker %q start %v heartbeat %v progress %v, want attempt 2 with no run yet",
			s.Attempts, s.Worker, s.StartTime, s.LastHeartbeatTime, s.Progress)
	}
	if f := s.LastFailure; f == nil || f.Attempt != 1 || f.Reason != v1alpha1.ReasonDownloadFailed {
		t.Errorf("lastFailure %+v, want attempt 1's DownloadFailed", f)
	}
	ev := h.wantEvents("Normal Retrying", "Normal Queued")
	if len(ev) == 2 && !strings.Contains(ev[0].Note, "attempt 2 after DownloadFailed") {
		t.Errorf("Retrying event %q does not say which attempt follows which failure", ev[0].Note)
	}
}

func TestAttemptsExhaustedKeepsTheLastRealFailure(t *testing.T) {
	for _, tc := range []struct {
		name     string
		max      []func(*v1alpha1.YouTubeExtraction)
		attempts int32
	}{
		{"the default is 3 attempts", nil, 3},
		{"maxAttempts 1 makes the first failure final", []func(*v1alpha1.YouTubeExtraction){maxAttempts(1)}, 1},
		{"maxAttempts 5", []func(*v1alpha1.YouTubeExtraction){maxAttempts(5)}, 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			state := append(tc.max, atAttempt(tc.attempts), queued, claimed(0), attemptFailed(v1alpha1.ReasonDownloadFailed, 0))
			h := newHarness(t, Options{}, resource("a", state...))
			h.at(time.Second) // no backoff after the last attempt
			if res := h.step("a"); res != (ctrl.Result{}) {
				t.Errorf("result %+v, want none", res)
			}
			x := h.get("a")
			s := x.Status
			if s.Phase != v1alpha1.PhaseFailed || cond(x, v1alpha1.ConditionFailed) != "True AttemptsExhausted" ||
				s.CompletionTime == nil || !s.CompletionTime.Time.Equal(base.Add(time.Second)) || s.Attempts != tc.attempts {
				t.Errorf("phase %s Failed %q completion %v attempts %d, want Failed, True AttemptsExhausted, now, %d",
					s.Phase, cond(x, v1alpha1.ConditionFailed), s.CompletionTime, s.Attempts, tc.attempts)
			}
			if f := s.LastFailure; f == nil || f.Reason != v1alpha1.ReasonDownloadFailed || f.Attempt != tc.attempts {
				t.Errorf("lastFailure %+v, want attempt %d's DownloadFailed", f, tc.attempts)
			}
			c := findCondition(x, v1alpha1.ConditionFailed)
			if !strings.Contains(c.Message, "DownloadFailed") || !strings.Contains(c.Message, "503 from googlevideo") {
				t.Errorf("Failed condition %q does not quote the last failure", c.Message)
			}
			h.wantSent()
			h.wantEvents("Warning AttemptsExhausted")
		})
	}
}

func findCondition(x *v1alpha1.YouTubeExtraction, typ string) metav1.Condition {
	for _, c := range x.Status.Conditions {
		if c.Type == typ {
			return c
		}
	}
	return metav1.Condition{}
}

// --- heartbeats ---

func TestHeartbeatSilenceLongerThanTimeoutFailsTheAttemptAsTimeout(t *testing.T) {
	for _, tc := range []struct {
		name  string
		state func(*v1alpha1.YouTubeExtraction)
		beat  time.Duration // the time the silence counts from
	}{
		{"counted from the last heartbeat", func(x *v1alpha1.YouTubeExtraction) {
			status.Claimed(x, "w-1", metav1.NewTime(base.Add(10*time.Second)))
			x.Status.LastHeartbeatTime = &metav1.Time{Time: base.Add(40 * time.Second)}
		}, 40 * time.Second},
		{"counted from the start when no heartbeat came", func(x *v1alpha1.YouTubeExtraction) {
			status.Claimed(x, "w-1", metav1.NewTime(base.Add(10*time.Second)))
			x.Status.LastHeartbeatTime = nil
		}, 10 * time.Second},
		{"counted from the creation without either", func(x *v1alpha1.YouTubeExtraction) {
			x.Status.Phase = v1alpha1.PhaseRunning
		}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, Options{HeartbeatTimeout: 2 * time.Minute, RetryBackoff: 10 * time.Second}, resource("a", atAttempt(1), queued, tc.state))

			h.at(tc.beat + 2*time.Minute - time.Second)
			if res := h.step("a"); res.RequeueAfter != time.Second {
				t.Errorf("a second before the timeout: requeue after %s, want 1s", res.RequeueAfter)
			}
			if p := h.get("a").Status.Phase; p != v1alpha1.PhaseRunning {
				t.Errorf("phase %s before the timeout, want Running", p)
			}
			h.wantEvents()

			h.at(tc.beat + 2*time.Minute)
			if res := h.step("a"); res.RequeueAfter != 10*time.Second {
				t.Errorf("after the timeout: requeue after %s, want the retry backoff, 10s", res.RequeueAfter)
			}
			x := h.get("a")
			f := x.Status.LastFailure
			if x.Status.Phase != v1alpha1.PhasePending || f == nil || f.Reason != v1alpha1.ReasonTimeout || f.Attempt != 1 ||
				!f.Time.Time.Equal(base.Add(tc.beat+2*time.Minute)) {
				t.Errorf("phase %s lastFailure %+v, want Pending with attempt 1's Timeout, now", x.Status.Phase, f)
			}
			if r, q := cond(x, v1alpha1.ConditionRunning), cond(x, v1alpha1.ConditionQueued); r != "False Timeout" || q != "False Retrying" {
				t.Errorf("Running %q Queued %q, want False Timeout, False Retrying", r, q)
			}
			if x.Status.Attempts != 1 {
				t.Errorf("attempts %d, want 1 until the retry", x.Status.Attempts)
			}
			h.wantSent()
			h.wantEvents("Warning Timeout")
		})
	}
}

func TestTimedOutLastAttemptFailsTheExtractionAsAttemptsExhausted(t *testing.T) {
	h := newHarness(t, Options{}, resource("a", maxAttempts(2), atAttempt(2), queued, claimed(0)))
	h.at(time.Hour)
	h.step("a")
	x := h.get("a")
	if x.Status.Phase != v1alpha1.PhaseFailed || cond(x, v1alpha1.ConditionFailed) != "True AttemptsExhausted" {
		t.Errorf("phase %s Failed %q, want Failed, True AttemptsExhausted", x.Status.Phase, cond(x, v1alpha1.ConditionFailed))
	}
	if f := x.Status.LastFailure; f == nil || f.Reason != v1alpha1.ReasonTimeout || f.Attempt != 2 {
		t.Errorf("lastFailure %+v, want attempt 2's Timeout", f)
	}
	h.wantEvents("Warning Timeout", "Warning AttemptsExhausted")
}

// The timeout's write carries the resourceVersion read: a heartbeat that
// lands meanwhile wins, and the worker keeps its attempt.
func TestHeartbeatThatLandsDuringTheTimeoutWinsAndTheWorkerKeepsItsAttempt(t *testing.T) {
	h := newHarness(t, Options{HeartbeatTimeout: 2 * time.Minute}, resource("a", atAttempt(1), queued, claimed(0)))
	h.at(2 * time.Minute)
	h.before(func(ctx context.Context, c client.Client) {
		var x v1alpha1.YouTubeExtraction
		if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "a"}, &x); err != nil {
			t.Error(err)
			return
		}
		x.Status.LastHeartbeatTime = &metav1.Time{Time: base.Add(2 * time.Minute)}
		if err := c.Status().Update(ctx, &x); err != nil {
			t.Error(err)
		}
	})
	_, err := h.reconcile("a")
	if !apierrors.IsConflict(err) {
		t.Errorf("reconcile: %v, want the conflict (the workqueue reads again)", err)
	}
	x := h.get("a")
	if x.Status.Phase != v1alpha1.PhaseRunning || x.Status.LastFailure != nil || x.Status.Worker != "w-1" {
		t.Errorf("phase %s lastFailure %+v worker %q, want still Running on w-1", x.Status.Phase, x.Status.LastFailure, x.Status.Worker)
	}
	h.wantEvents() // no Timeout: the attempt did not time out
	h.wantSent()

	// Read again, the attempt is alive until the heartbeat is as old.
	if res := h.step("a"); res.RequeueAfter != 2*time.Minute {
		t.Errorf("requeue after %s, want the whole timeout from the new heartbeat", res.RequeueAfter)
	}
}

// A Warning says what happened: when the write that makes it true loses a
// conflict (a heartbeat, a spec change got there first), nothing is
// recorded, and the next reconcile decides again on what is there.
func TestWarningIsRecordedOnlyWhenItsWriteWins(t *testing.T) {
	heartbeat := func(x *v1alpha1.YouTubeExtraction) {
		x.Status.LastHeartbeatTime = &metav1.Time{Time: base.Add(time.Hour)}
	}
	for _, tc := range []struct {
		name  string
		state []func(*v1alpha1.YouTubeExtraction)
		// meanwhile is the other writer's change; status tells whether
		// it goes to the status subresource.
		meanwhile func(*v1alpha1.YouTubeExtraction)
		status    bool
	}{
		{"Timeout, when a heartbeat lands", []func(*v1alpha1.YouTubeExtraction){atAttempt(1), queued, claimed(0)}, heartbeat, true},
		{"AttemptsExhausted, when the spec changes", []func(*v1alpha1.YouTubeExtraction){
			atAttempt(3), queued, claimed(0), attemptFailed(v1alpha1.ReasonDownloadFailed, 0),
		}, func(x *v1alpha1.YouTubeExtraction) { x.Generation = 2 }, false},
		{"RateLimited, when the spec changes", []func(*v1alpha1.YouTubeExtraction){
			atAttempt(2), queued, claimed(0), attemptFailed(v1alpha1.ReasonRateLimited, 0),
		}, func(x *v1alpha1.YouTubeExtraction) { x.Generation = 2 }, false},
		{"InvalidURL, when the link is fixed", []func(*v1alpha1.YouTubeExtraction){func(x *v1alpha1.YouTubeExtraction) {
			x.Spec.URL = "https://www.youtube.com/@RickAstleyYT"
		}}, func(x *v1alpha1.YouTubeExtraction) { x.Spec.URL = videoURL; x.Generation = 2 }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, Options{RateLimitedTimeout: time.Hour}, resource("a", tc.state...))
			h.at(time.Hour)
			h.before(func(ctx context.Context, c client.Client) {
				var x v1alpha1.YouTubeExtraction
				if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "a"}, &x); err != nil {
					t.Error(err)
					return
				}
				tc.meanwhile(&x)
				write := c.Update
				if tc.status {
					write = func(ctx context.Context, o client.Object, _ ...client.UpdateOption) error {
						return c.Status().Update(ctx, o)
					}
				}
				if err := write(ctx, &x); err != nil {
					t.Error(err)
				}
			})
			if _, err := h.reconcile("a"); !apierrors.IsConflict(err) {
				t.Errorf("reconcile: %v, want the conflict", err)
			}
			h.wantEvents()
			if p := h.get("a").Status.Phase; p == v1alpha1.PhaseFailed {
				t.Errorf("phase %s: the losing write landed", p)
			}
		})
	}
}

// --- the queued timeout ---

func TestQueuedAttemptNotClaimedWithinQueuedTimeoutIsSentAgainWithoutSpendingAnAttempt(t *testing.T) {
	h := newHarness(t, Options{QueuedTimeout: time.Minute}, resource("a"))
	h.step("a")
	h.wantSent(msg("a", 1, 1))
	h.wantEvents("Normal Queued")
	rv := h.get("a").ResourceVersion

	h.at(time.Minute - time.Second)
	if res := h.step("a"); res.RequeueAfter != time.Second {
		t.Errorf("before the queued timeout: requeue after %s, want 1s", res.RequeueAfter)
	}
	h.wantSent()

	h.at(time.Minute)
	if res := h.step("a"); res.RequeueAfter != time.Minute {
		t.Errorf("after resending: requeue after %s, want the queued timeout again", res.RequeueAfter)
	}
	h.wantSent(msg("a", 1, 1))
	h.wantEvents("Normal Resent")
	x := h.get("a")
	if x.ResourceVersion != rv || x.Status.Attempts != 1 || x.Status.Phase != v1alpha1.PhaseQueued {
		t.Errorf("resourceVersion %s→%s attempts %d phase %s, want the status untouched at attempt 1, Queued",
			rv, x.ResourceVersion, x.Status.Attempts, x.Status.Phase)
	}

	// The timeout counts again from the resend.
	h.at(2*time.Minute - time.Second)
	h.step("a")
	h.wantSent()
	h.at(2 * time.Minute)
	h.step("a")
	h.wantSent(msg("a", 1, 1))
}

func TestQueuedTimeoutZeroOrNegativeNeverResends(t *testing.T) {
	for _, d := range []time.Duration{0, -time.Second} {
		h := newHarness(t, Options{QueuedTimeout: d}, resource("a"))
		h.step("a")
		h.wantSent(msg("a", 1, 1))
		h.at(24 * time.Hour)
		if res := h.step("a"); res != (ctrl.Result{}) {
			t.Errorf("queued timeout %s: result %+v, want none", d, res)
		}
		h.wantSent()
	}
}

// --- publishing ---

// A successor manager remembers nothing it did not publish itself: every
// Queued status it finds is published again (at least once), and only once
// by this process.
func TestQueuedStatusThisProcessDidNotPublishIsPublishedOnce(t *testing.T) {
	h := newHarness(t, Options{}, resource("a", atAttempt(2), queued))
	rv := h.get("a").ResourceVersion
	h.step("a")
	h.wantSent(msg("a", 1, 2))
	h.wantEvents("Normal Queued")
	if h.get("a").ResourceVersion != rv {
		t.Error("publishing a Queued status wrote the status")
	}
	// The same Queued status read again (a stale cache, a resync) is not
	// published again.
	h.step("a")
	h.step("a")
	h.wantSent()
	h.wantEvents()
}

// A new attempt is written Queued first and published second; a Pending one
// is published first and written Queued second. Either way a crash between
// the two can only duplicate a message, never lose one.
func TestPublishOrderNeverLosesAJob(t *testing.T) {
	for _, tc := range []struct {
		name  string
		opts  Options
		objs  []client.Object
		phase v1alpha1.Phase // stored when the message goes out
		want  job.Message
	}{
		{"a new generation is written Queued, then published", Options{},
			[]client.Object{resource("a")}, v1alpha1.PhaseQueued, msg("a", 1, 1)},
		{"a retry is written Queued, then published", Options{},
			[]client.Object{resource("a", atAttempt(1), queued, claimed(0), attemptFailed(v1alpha1.ReasonDownloadFailed, -time.Hour))},
			v1alpha1.PhaseQueued, msg("a", 1, 2)},
		{"an attempt let in after waiting for a slot is written Queued, then published", Options{MaxInFlightPerNamespace: 1},
			[]client.Object{resource("a", atAttempt(1), func(x *v1alpha1.YouTubeExtraction) { status.Wait(x, "busy") })},
			v1alpha1.PhaseQueued, msg("a", 1, 1)},
		{"a handed back attempt is published, then written Queued", Options{},
			[]client.Object{resource("a", atAttempt(1), queued, claimed(0), handedBack)}, v1alpha1.PhasePending, msg("a", 1, 1)},
		{"an attempt whose publish failed is published, then written Queued", Options{},
			[]client.Object{resource("a", atAttempt(1), func(x *v1alpha1.YouTubeExtraction) { status.PublishFailed(x, "down") })},
			v1alpha1.PhasePending, msg("a", 1, 1)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, tc.opts, tc.objs...)
			var seen []v1alpha1.Phase
			h.pub.during = func(job.Message) { seen = append(seen, h.get("a").Status.Phase) }
			h.step("a")
			if len(seen) != 1 || seen[0] != tc.phase {
				t.Errorf("stored phase while publishing %v, want [%s]", seen, tc.phase)
			}
			h.wantSent(tc.want)
			wantQueued(t, h.get("a"), 1, tc.want.Attempt)
		})
	}
}

func TestHandedBackAttemptIsSentAgainAtOnceWithoutSpendingAnAttempt(t *testing.T) {
	h := newHarness(t, Options{}, resource("a", atAttempt(2), queued, claimed(0), handedBack))
	if res := h.step("a"); res != (ctrl.Result{}) {
		t.Errorf("result %+v, want none: no backoff for a hand-back", res)
	}
	wantQueued(t, h.get("a"), 1, 2)
	h.wantSent(msg("a", 1, 2))
}

func TestFailedPublishLeavesTheAttemptPendingPublishFailedAndCostsNoAttempt(t *testing.T) {
	h := newHarness(t, Options{Queue: "ytx-jobs"}, resource("a"))
	h.pub.fail(errors.New("broker down"))
	if _, err := h.reconcile("a"); err == nil || !strings.Contains(err.Error(), "broker down") {
		t.Errorf("reconcile: %v, want the publish error, so that the workqueue retries with backoff", err)
	}
	x := h.get("a")
	if x.Status.Phase != v1alpha1.PhasePending || cond(x, v1alpha1.ConditionQueued) != "False PublishFailed" ||
		x.Status.Attempts != 1 || x.Status.VideoID != videoID {
		t.Errorf("phase %s Queued %q attempts %d videoID %q, want Pending, False PublishFailed, 1, %s",
			x.Status.Phase, cond(x, v1alpha1.ConditionQueued), x.Status.Attempts, x.Status.VideoID, videoID)
	}
	if c := findCondition(x, v1alpha1.ConditionQueued); !strings.Contains(c.Message, "ytx-jobs") || !strings.Contains(c.Message, "broker down") {
		t.Errorf("Queued condition %q does not say where and why", c.Message)
	}
	h.wantEvents("Warning PublishFailed")

	// While the broker stays down, the condition is not written again.
	rv := x.ResourceVersion
	for range 3 {
		if _, err := h.reconcile("a"); err == nil {
			t.Error("reconcile succeeded while the publish fails")
		}
	}
	if h.get("a").ResourceVersion != rv {
		t.Error("the status was rewritten on a retry")
	}
	h.wantEvents()
	h.wantSent()

	h.pub.fail(nil)
	h.step("a")
	wantQueued(t, h.get("a"), 1, 1)
	h.wantSent(msg("a", 1, 1))
	h.wantEvents("Normal Queued")
}

func TestFailedResendAfterTheQueuedTimeoutLeavesTheAttemptPendingPublishFailed(t *testing.T) {
	h := newHarness(t, Options{QueuedTimeout: time.Minute}, resource("a"))
	h.step("a")
	h.wantSent(msg("a", 1, 1))
	h.wantEvents("Normal Queued")
	h.at(time.Minute)
	h.pub.fail(errors.New("503"))
	if _, err := h.reconcile("a"); err == nil {
		t.Error("reconcile succeeded while the resend fails")
	}
	x := h.get("a")
	if x.Status.Phase != v1alpha1.PhasePending || cond(x, v1alpha1.ConditionQueued) != "False PublishFailed" || x.Status.Attempts != 1 {
		t.Errorf("phase %s Queued %q attempts %d, want Pending, False PublishFailed, 1", x.Status.Phase, cond(x, v1alpha1.ConditionQueued), x.Status.Attempts)
	}
	h.wantEvents("Warning PublishFailed")
}

// Pending is claimable: a worker may claim the message before the manager
// writes Queued. The manager's write then loses, and the worker keeps it.
func TestPendingAttemptClaimedBeforeItIsWrittenQueuedStaysWithItsWorker(t *testing.T) {
	h := newHarness(t, Options{MaxInFlightPerNamespace: 1}, resource("a", atAttempt(1), queued, claimed(0), handedBack))
	h.pub.during = func(job.Message) {
		h.writeStatus("a", func(x *v1alpha1.YouTubeExtraction) { status.Claimed(x, "w-2", metav1.NewTime(base)) })
	}
	if _, err := h.reconcile("a"); !apierrors.IsConflict(err) {
		t.Errorf("reconcile: %v, want the conflict", err)
	}
	x := h.get("a")
	if x.Status.Phase != v1alpha1.PhaseRunning || x.Status.Worker != "w-2" {
		t.Errorf("phase %s worker %q, want Running on w-2", x.Status.Phase, x.Status.Worker)
	}
	h.wantSent(msg("a", 1, 1))
	h.wantEvents()
	if _, ok := h.r.slots.admitted[ns]["a"]; !ok {
		t.Error("the slot was given back though the message is out")
	}
}

// --- per-namespace slots ---

func TestNoFreeSlotKeepsTheAttemptPendingNamespaceBusyUntilOneFrees(t *testing.T) {
	busy := resource("busy", atAttempt(1), queued, claimed(0))
	h := newHarness(t, Options{MaxInFlightPerNamespace: 1, WaitRecheck: 30 * time.Second}, busy, resource("a"))
	if res := h.step("a"); res.RequeueAfter != 30*time.Second {
		t.Errorf("requeue after %s, want the wait recheck, 30s", res.RequeueAfter)
	}
	x := h.get("a")
	s := x.Status
	if s.Phase != v1alpha1.PhasePending || cond(x, v1alpha1.ConditionQueued) != "False NamespaceBusy" ||
		s.VideoID != videoID || s.ObservedGeneration != 1 || s.Attempts != 1 {
		t.Errorf("phase %s Queued %q videoID %q observedGeneration %d attempts %d, want Pending, False NamespaceBusy, %s, 1, 1",
			s.Phase, cond(x, v1alpha1.ConditionQueued), s.VideoID, s.ObservedGeneration, s.Attempts, videoID)
	}
	h.wantSent()
	h.wantEvents("Normal NamespaceBusy")

	// Checking again without a slot writes nothing and records no event.
	rv := x.ResourceVersion
	if res := h.step("a"); res.RequeueAfter != 30*time.Second {
		t.Errorf("recheck: requeue after %s, want 30s", res.RequeueAfter)
	}
	if h.get("a").ResourceVersion != rv {
		t.Error("a recheck without a slot wrote the status")
	}
	h.wantSent()
	h.wantEvents()

	h.writeStatus("busy", succeeded(time.Minute))
	h.step("a")
	wantQueued(t, h.get("a"), 1, 1)
	h.wantSent(msg("a", 1, 1))
	h.wantEvents("Normal Queued")
}

func TestNamespaceCapCountsQueuedAndRunningOfItsOwnNamespaceOnly(t *testing.T) {
	deleting := func(x *v1alpha1.YouTubeExtraction) {
		x.DeletionTimestamp = &metav1.Time{Time: base}
		x.Finalizers = []string{"example.com/keep"}
	}
	elsewhere := func(x *v1alpha1.YouTubeExtraction) { x.Namespace = "podcasts" }
	for _, tc := range []struct {
		name  string
		other *v1alpha1.YouTubeExtraction
		waits bool
	}{
		{"a Queued one holds the slot", resource("other", atAttempt(1), queued), true},
		{"a Running one holds the slot", resource("other", atAttempt(1), queued, claimed(0)), true},
		{"one waiting out a retry backoff holds none", resource("other", atAttempt(1), queued, claimed(0), attemptFailed(v1alpha1.ReasonDownloadFailed, 0)), false},
		{"a handed back one holds none", resource("other", atAttempt(1), queued, claimed(0), handedBack), false},
		{"a finished one holds none", resource("other", atAttempt(1), queued, claimed(0), succeeded(0)), false},
		{"one being deleted holds none", resource("other", atAttempt(1), queued, claimed(0), deleting), false},
		{"one of another namespace holds none here", resource("other", elsewhere, atAttempt(1), queued, claimed(0)), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, Options{MaxInFlightPerNamespace: 1}, tc.other, resource("a"))
			h.step("a")
			got := h.get("a").Status.Phase
			if tc.waits && got != v1alpha1.PhasePending || !tc.waits && got != v1alpha1.PhaseQueued {
				t.Errorf("phase %s, want waiting %v", got, tc.waits)
			}
		})
	}
}

func TestHandedBackAttemptTakesASlotBeforeItIsSentAgain(t *testing.T) {
	busy := resource("busy", atAttempt(1), queued, claimed(0))
	h := newHarness(t, Options{MaxInFlightPerNamespace: 1}, busy, resource("a", atAttempt(1), queued, claimed(0), handedBack))
	h.step("a")
	x := h.get("a")
	if x.Status.Phase != v1alpha1.PhasePending || cond(x, v1alpha1.ConditionQueued) != "False NamespaceBusy" {
		t.Errorf("phase %s Queued %q, want Pending, False NamespaceBusy", x.Status.Phase, cond(x, v1alpha1.ConditionQueued))
	}
	h.wantSent()
	h.wantEvents("Normal NamespaceBusy")
}

func TestFailedPublishGivesTheSlotBack(t *testing.T) {
	for _, tc := range []struct {
		name     string
		failures int
	}{
		{"the first failure, which records PublishFailed", 1},
		{"a later failure, which writes nothing", 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, Options{MaxInFlightPerNamespace: 1}, resource("a"), resource("b", func(x *v1alpha1.YouTubeExtraction) {
				x.CreationTimestamp = metav1.NewTime(base.Add(time.Second))
			}))
			h.pub.fail(errors.New("broker down"))
			for range tc.failures {
				if _, err := h.reconcile("a"); err == nil {
					t.Fatal("reconcile succeeded while the publish fails")
				}
			}
			h.pub.fail(nil)
			h.step("b")
			wantQueued(t, h.get("b"), 1, 1)
			h.wantSent(msg("b", 1, 1))
		})
	}
}

// A Queued write that loses a conflict (a stale read) gives its slot back,
// so that the namespace is not one slot short until the cache catches up.
func TestQueuedWriteThatConflictsGivesTheSlotBack(t *testing.T) {
	h := newHarness(t, Options{MaxInFlightPerNamespace: 1}, resource("a"), resource("b", func(x *v1alpha1.YouTubeExtraction) {
		x.CreationTimestamp = metav1.NewTime(base.Add(time.Second))
	}))
	h.before(func(ctx context.Context, c client.Client) {
		var x v1alpha1.YouTubeExtraction
		if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "a"}, &x); err != nil {
			t.Error(err)
			return
		}
		x.Labels = map[string]string{"touched": "yes"} // anyone's write
		if err := c.Update(ctx, &x); err != nil {
			t.Error(err)
		}
	})
	if _, err := h.reconcile("a"); !apierrors.IsConflict(err) {
		t.Fatalf("reconcile: %v, want the conflict", err)
	}
	h.wantSent()
	h.step("b")
	wantQueued(t, h.get("b"), 1, 1)
}

// --- forgetting ---

func TestGoneOrDeletedResourceIsForgotten(t *testing.T) {
	for _, tc := range []struct {
		name string
		drop func(h *harness)
	}{
		{"gone", func(h *harness) {
			if err := h.client.Delete(context.Background(), h.get("a")); err != nil {
				t.Fatal(err)
			}
		}},
		{"being deleted", func(h *harness) {
			x := h.get("a")
			x.Finalizers = []string{"example.com/keep"}
			if err := h.client.Update(context.Background(), x); err != nil {
				t.Fatal(err)
			}
			if err := h.client.Delete(context.Background(), x); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, Options{MaxInFlightPerNamespace: 1}, resource("a"))
			h.step("a")
			h.wantSent(msg("a", 1, 1))
			tc.drop(h)
			if res := h.step("a"); res != (ctrl.Result{}) {
				t.Errorf("result %+v, want none", res)
			}
			if _, ok := h.r.published[client.ObjectKey{Namespace: ns, Name: "a"}]; ok {
				t.Error("the publish is still remembered")
			}
			if _, ok := h.r.slots.admitted[ns]["a"]; ok {
				t.Error("the slot is still held")
			}
		})
	}
}

// --- rate-limited attempts ---

// failedAttempts: attempts 1 to len(reasons) of generation 1, each ended
// retryably with its reason, the last at base+last and the earlier ones a
// minute apart before it.
func failedAttempts(last time.Duration, reasons ...string) func(*v1alpha1.YouTubeExtraction) {
	return func(x *v1alpha1.YouTubeExtraction) {
		status.StartGeneration(x, videoID)
		for i, r := range reasons {
			if i > 0 {
				status.NextAttempt(x, int32(i+1))
			}
			at := metav1.NewTime(base.Add(last - time.Duration(len(reasons)-1-i)*time.Minute))
			status.Queued(x, "queued")
			status.Claimed(x, "w-1", at)
			msg := "503 from googlevideo"
			if r == v1alpha1.ReasonRateLimited {
				msg = "Sign in to confirm you're not a bot"
			}
			status.AttemptFailed(x, r, msg, at)
		}
	}
}

const (
	rl = v1alpha1.ReasonRateLimited
	df = v1alpha1.ReasonDownloadFailed
)

// An attempt that YouTube rate-limited spends no attempt of
// spec.retry.maxAttempts: nothing was wrong with the extraction.
func TestRateLimitedAttemptsSpendNoAttempt(t *testing.T) {
	for _, tc := range []struct {
		name      string
		max       int32
		reasons   []string
		exhausted bool
	}{
		{"maxAttempts 1: a rate-limited first attempt is retried", 1, []string{rl}, false},
		{"maxAttempts 1: so is a second one", 1, []string{rl, rl}, false},
		{"maxAttempts 2: two rate-limited and one real failure leave one attempt", 2, []string{rl, rl, df}, false},
		{"maxAttempts 2: two real failures exhaust them, rate-limited ones apart", 2, []string{rl, df, rl, df}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, Options{}, resource("a", maxAttempts(tc.max), failedAttempts(0, tc.reasons...)))
			h.at(time.Hour) // every backoff passed; within the rate-limited timeout
			h.step("a")
			x := h.get("a")
			n := int32(len(tc.reasons))
			if tc.exhausted {
				if x.Status.Phase != v1alpha1.PhaseFailed || cond(x, v1alpha1.ConditionFailed) != "True AttemptsExhausted" {
					t.Errorf("phase %s Failed %q, want Failed, True AttemptsExhausted", x.Status.Phase, cond(x, v1alpha1.ConditionFailed))
				}
				if c := findCondition(x, v1alpha1.ConditionFailed); !strings.Contains(c.Message, "all 2 attempts failed") {
					t.Errorf("Failed condition %q, want the 2 spent attempts counted", c.Message)
				}
				h.wantSent()
				return
			}
			wantQueued(t, x, 1, n+1)
			h.wantSent(msg("a", 1, n+1))
		})
	}
}

func TestRateLimitedRetryWaitsItsOwnBackoffDoubledPerRateLimitedAttemptCappedAtMax(t *testing.T) {
	opts := Options{RetryBackoff: 10 * time.Second, RetryBackoffMax: time.Minute,
		RateLimitedBackoff: 5 * time.Minute, RateLimitedBackoffMax: time.Hour, RateLimitedTimeout: 24 * time.Hour}
	for _, tc := range []struct {
		name    string
		reasons []string
		wait    time.Duration
	}{
		{"the first rate-limited attempt waits the rate-limited backoff", []string{rl}, 5 * time.Minute},
		{"the second twice as long", []string{rl, rl}, 10 * time.Minute},
		{"the fourth eight times as long", []string{rl, rl, rl, rl}, 40 * time.Minute},
		{"then the cap", []string{rl, rl, rl, rl, rl, rl, rl}, time.Hour},
		{"counted over rate-limited attempts only", []string{df, df, rl}, 5 * time.Minute},
		{"a real failure waits the retry backoff of the spent attempts", []string{rl, rl, df}, 10 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			last := time.Minute * 10
			h := newHarness(t, opts, resource("a", maxAttempts(10), failedAttempts(last, tc.reasons...)))
			h.at(last + tc.wait - time.Second)
			if res := h.step("a"); res.RequeueAfter != time.Second {
				t.Errorf("a second before the backoff ends: requeue after %s, want 1s", res.RequeueAfter)
			}
			h.wantSent()
			h.at(last + tc.wait)
			h.step("a")
			n := int32(len(tc.reasons))
			wantQueued(t, h.get("a"), 1, n+1)
			h.wantSent(msg("a", 1, n+1))
		})
	}
}

// A rate-limited extraction is bounded by time, not by attempts: it fails
// RateLimited once --rate-limited-timeout has passed since the first
// rate-limited attempt.
func TestRateLimitedExtractionFailsRateLimitedOnceTheRateLimitedTimeoutPasses(t *testing.T) {
	opts := Options{RateLimitedBackoff: 5 * time.Minute, RateLimitedBackoffMax: time.Hour, RateLimitedTimeout: 6 * time.Hour}
	last := 5 * time.Hour
	since := last - 2*time.Minute // the first of three
	for _, tc := range []struct {
		name    string
		reasons []string
		at      time.Duration
		fails   bool
	}{
		{"a second before the timeout it is retried", []string{rl, rl, rl}, since + 6*time.Hour - time.Second, false},
		{"at the timeout it fails", []string{rl, rl, rl}, since + 6*time.Hour, true},
		{"a real failure is not ended by the rate-limited timeout", []string{rl, rl, df}, since + 7*time.Hour, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, opts, resource("a", maxAttempts(3), failedAttempts(last, tc.reasons...)))
			h.at(tc.at)
			h.step("a")
			x := h.get("a")
			if !tc.fails {
				wantQueued(t, x, 1, 4)
				h.wantSent(msg("a", 1, 4))
				return
			}
			s := x.Status
			if s.Phase != v1alpha1.PhaseFailed || cond(x, v1alpha1.ConditionFailed) != "True RateLimited" ||
				s.CompletionTime == nil || !s.CompletionTime.Time.Equal(base.Add(tc.at)) {
				t.Errorf("phase %s Failed %q completion %v, want Failed, True RateLimited, now", s.Phase, cond(x, v1alpha1.ConditionFailed), s.CompletionTime)
			}
			if f := s.LastFailure; f == nil || f.Reason != rl || f.Attempt != 3 {
				t.Errorf("lastFailure %+v, want attempt 3's RateLimited", f)
			}
			if c := findCondition(x, v1alpha1.ConditionFailed); !strings.Contains(c.Message, "not a bot") || !strings.Contains(c.Message, "3 attempts") {
				t.Errorf("Failed condition %q does not say how many attempts and what YouTube said", c.Message)
			}
			h.wantSent()
			h.wantEvents("Warning RateLimited")
		})
	}
}
