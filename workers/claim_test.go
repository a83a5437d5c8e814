package workers

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1alpha1 "ytx.dev/ytx/api/v1alpha1"
	"ytx.dev/ytx/internal/failure"
	"ytx.dev/ytx/internal/job"
	"ytx.dev/ytx/internal/resolver"
	"ytx.dev/ytx/internal/status"
)

// --- the claim ---

func TestClaimMakesTheAttemptRunningOnThisWorker(t *testing.T) {
	for _, tc := range []struct {
		name  string
		state []func(*v1alpha1.YouTubeExtraction)
	}{
		{"Queued", []func(*v1alpha1.YouTubeExtraction){atAttempt(1), queued}},
		// The manager publishes a Pending attempt before it writes Queued,
		// so the message can arrive first.
		{"Pending, published before it was written Queued", []func(*v1alpha1.YouTubeExtraction){atAttempt(1), func(x *v1alpha1.YouTubeExtraction) {
			status.PublishFailed(x, "down")
		}}},
		{"Pending, handed back by another worker", []func(*v1alpha1.YouTubeExtraction){atAttempt(1), queued, claimedBy("w-0"), func(x *v1alpha1.YouTubeExtraction) {
			x.Status.Progress = &v1alpha1.Progress{BytesDone: 5}
			status.HandedBack(x, "w-0")
		}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, Options{}, resource(tc.state...))
			h.clock.SetTime(base.Add(time.Minute))
			c := h.claimed()
			x := h.get()
			s := x.Status
			now := metav1.NewTime(base.Add(time.Minute))
			if s.Phase != v1alpha1.PhaseRunning || s.Worker != me || !s.StartTime.Equal(&now) || !s.LastHeartbeatTime.Equal(&now) || s.Progress != nil {
				t.Errorf("phase %s worker %q start %v heartbeat %v progress %v, want Running on %s since now, no progress",
					s.Phase, s.Worker, s.StartTime, s.LastHeartbeatTime, s.Progress, me)
			}
			if q, r := cond(x, v1alpha1.ConditionQueued), cond(x, v1alpha1.ConditionRunning); q != "False Claimed" || r != "True Claimed" {
				t.Errorf("Queued %q Running %q, want False Claimed, True Claimed", q, r)
			}
			if got := c.object(); got.ResourceVersion != x.ResourceVersion {
				t.Errorf("the claim holds resourceVersion %s, want the one it wrote, %s", got.ResourceVersion, x.ResourceVersion)
			}
			if !c.fresh() {
				t.Error("a claim just written is not fresh")
			}
		})
	}
}

// A drop is the normal end of a duplicate or stale message: it writes
// nothing.
func TestStaleOrDuplicateMessageIsDroppedWithoutAWrite(t *testing.T) {
	waiting := func(x *v1alpha1.YouTubeExtraction) { status.Wait(x, "busy") }
	deleting := func(x *v1alpha1.YouTubeExtraction) {
		x.DeletionTimestamp = &metav1.Time{Time: base}
		x.Finalizers = []string{"ytx.dev/artifacts"}
	}
	for _, tc := range []struct {
		name  string
		x     *v1alpha1.YouTubeExtraction // nil: not found
		m     job.Message
		wants string
	}{
		{"the resource is gone", nil, msg(1), "the resource was deleted"},
		{"the resource was created again", resource(atAttempt(1), queued, func(x *v1alpha1.YouTubeExtraction) { x.UID = "uid-a-again" }), msg(1),
			"the resource was deleted and created again"},
		{"the resource is being deleted", resource(atAttempt(1), queued, deleting), msg(1), "the resource is being deleted"},
		{"the spec changed", resource(atAttempt(1), queued, func(x *v1alpha1.YouTubeExtraction) {
			x.Generation, x.Status.ObservedGeneration = 2, 2
		}), msg(1), "superseded by generation 2"},
		{"the spec changed and the manager has not started it yet", resource(atAttempt(1), queued, func(x *v1alpha1.YouTubeExtraction) { x.Generation = 2 }), msg(1),
			"superseded by generation 2"},
		{"a generation the manager has not started", resource(atAttempt(1), queued, func(x *v1alpha1.YouTubeExtraction) { x.Generation = 2 }),
			job.Message{Version: job.Version, Namespace: ns, Name: "a", UID: "uid-a", Generation: 2, Attempt: 1}, "superseded by generation 2"},
		{"a later attempt is current", resource(atAttempt(2), queued), msg(1), "superseded by attempt 2"},
		{"an older attempt is current", resource(atAttempt(1), queued), msg(2), "superseded by attempt 1"},
		{"the attempt runs (a duplicate)", resource(atAttempt(1), queued, claimedBy("w-2")), msg(1), "attempt 1 is already Running"},
		{"the attempt succeeded", resource(atAttempt(1), queued, claimedBy("w-2"), func(x *v1alpha1.YouTubeExtraction) {
			status.Succeeded(x, "done", metav1.NewTime(base))
		}), msg(1), "attempt 1 is already Succeeded"},
		{"the attempt failed for good", resource(atAttempt(1), queued, claimedBy("w-2"), func(x *v1alpha1.YouTubeExtraction) {
			status.Failed(x, v1alpha1.ReasonVideoUnavailable, "gone", metav1.NewTime(base))
		}), msg(1), "attempt 1 is already Failed"},
		{"the attempt failed and awaits a retry", resource(atAttempt(1), queued, claimedBy("w-2"), timedOut), msg(1), "attempt 1 already ended"},
		{"the attempt waits for a slot of its namespace", resource(atAttempt(1), waiting), msg(1), "attempt 1 waits for a slot of its namespace"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var h *harness
			rv := ""
			if tc.x == nil {
				h = newHarness(t, Options{})
			} else {
				h = newHarness(t, Options{}, tc.x)
				rv = h.get().ResourceVersion
			}
			c, drop, err := h.w.claim(context.Background(), tc.m)
			if err != nil || c != nil || drop != tc.wants {
				t.Errorf("claim: %v, claimed %v, drop %q, want dropped: %q", err, c != nil, drop, tc.wants)
			}
			if n := h.statusWrites.Load(); n != 0 {
				t.Errorf("%d status writes, want none", n)
			}
			if tc.x != nil && h.get().ResourceVersion != rv {
				t.Error("the resource changed")
			}
		})
	}
}

func TestDuplicateMessageIsDroppedAtTheClaim(t *testing.T) {
	h := newHarness(t, Options{}, resource(atAttempt(1), queued))
	h.claimed()
	rv := h.get().ResourceVersion
	c, drop, err := h.w.claim(context.Background(), msg(1))
	if err != nil || c != nil || drop != "attempt 1 is already Running" {
		t.Errorf("second claim: %v, claimed %v, drop %q, want dropped as already Running", err, c != nil, drop)
	}
	if h.get().ResourceVersion != rv {
		t.Error("the duplicate wrote")
	}
}

// Two workers hold the same message: one wins, the other gets a conflict,
// reads again and finds Running.
func TestClaimLosesToAConcurrentClaim(t *testing.T) {
	h := newHarness(t, Options{}, resource(atAttempt(1), queued))
	h.before(claimedBy("w-2"))
	c, drop, err := h.w.claim(context.Background(), msg(1))
	if err != nil || c != nil || drop != "attempt 1 is already Running" {
		t.Errorf("claim: %v, claimed %v, drop %q, want dropped as already Running", err, c != nil, drop)
	}
	if w := h.get().Status.Worker; w != "w-2" {
		t.Errorf("worker %q, want the winner, w-2", w)
	}
	if n := h.statusWrites.Load(); n != 1 {
		t.Errorf("%d status writes, want the one that lost", n)
	}
}

// API errors other than a conflict are retried with backoff, without a
// limit of its own, until the worker can read and write: the API server
// may take a while to come back.
func TestClaimRetriesAPIErrorsWithoutALimitOfItsOwn(t *testing.T) {
	h := newHarness(t, Options{}, resource(atAttempt(1), queued))
	h.failNextReads(10)
	h.failNextStatusWrites(10)
	h.claimed()
	if w := h.get().Status.Worker; w != me {
		t.Errorf("worker %q, want %s", w, me)
	}
	if r, w := h.reads.Load(), h.statusWrites.Load(); r != 21 || w != 11 {
		t.Errorf("%d reads and %d writes, want 21 and 11: each failure tried again", r, w)
	}
}

// A worker stopped before it claimed leaves the message to its transport:
// Kafka keeps it uncommitted, HTTP hands it back.
func TestWorkerStoppedBeforeItClaimsHandsTheMessageBack(t *testing.T) {
	h := newHarness(t, Options{}, resource(atAttempt(1), queued))
	h.failNextReads(-1) // the API server is down
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(20*time.Millisecond, cancel)
	err := h.w.Handle(ctx, msg(1))
	if !errors.Is(err, ErrHandBack) {
		t.Errorf("Handle: %v, want ErrHandBack", err)
	}
	h.failNextReads(0)
	if p := h.get().Status.Phase; p != v1alpha1.PhaseQueued {
		t.Errorf("phase %s, want still Queued", p)
	}
	h.wantEvents()
}

// --- owning the attempt ---

func TestOwnsIsTheClaimedAttemptOnThisWorker(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(*v1alpha1.YouTubeExtraction)
		want   bool
	}{
		{"as claimed", func(*v1alpha1.YouTubeExtraction) {}, true},
		{"with progress and a heartbeat since", func(x *v1alpha1.YouTubeExtraction) {
			x.Status.Progress = &v1alpha1.Progress{BytesDone: 1}
			x.Status.LastHeartbeatTime = &metav1.Time{Time: base.Add(time.Minute)}
		}, true},
		{"another worker's", func(x *v1alpha1.YouTubeExtraction) { x.Status.Worker = "w-2" }, false},
		{"created again", func(x *v1alpha1.YouTubeExtraction) { x.UID = "uid-a-again" }, false},
		{"being deleted", func(x *v1alpha1.YouTubeExtraction) { x.DeletionTimestamp = &metav1.Time{Time: base} }, false},
		{"a new generation", func(x *v1alpha1.YouTubeExtraction) { x.Generation = 2 }, false},
		{"the next attempt", func(x *v1alpha1.YouTubeExtraction) { status.NextAttempt(x, 2) }, false},
		{"timed out by the manager", timedOut, false},
		{"handed back", func(x *v1alpha1.YouTubeExtraction) { status.HandedBack(x, me) }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, Options{})
			x := resource(atAttempt(1), queued, claimedBy(me))
			tc.change(x)
			if got := h.w.owns(x, msg(1)); got != tc.want {
				t.Errorf("owns = %v, want %v", got, tc.want)
			}
		})
	}
}

// --- writing through the claim ---

// A conflict with a write that leaves the attempt ours (a label, the
// manager's finalizer) re-reads and applies the change to the latest copy.
func TestUpdateAfterAConflictReappliesTheChangeWhileTheAttemptIsOurs(t *testing.T) {
	h := newHarness(t, Options{}, resource(atAttempt(1), queued))
	c := h.claimed()
	x := h.get()
	x.Labels = map[string]string{"team": "music"}
	if err := h.api.Update(context.Background(), x); err != nil {
		t.Fatal(err)
	}
	err := c.update(context.Background(), func(x *v1alpha1.YouTubeExtraction) {
		x.Status.Progress = &v1alpha1.Progress{BytesDone: 7, BytesTotal: 10, Percent: 70}
	})
	if err != nil {
		t.Fatalf("update: %v", err)
	}
	x = h.get()
	if x.Labels["team"] != "music" || x.Status.Progress == nil || x.Status.Progress.Percent != 70 {
		t.Errorf("labels %v progress %+v, want both writes kept", x.Labels, x.Status.Progress)
	}
	if c.object().ResourceVersion != x.ResourceVersion {
		t.Error("the claim does not hold the copy it wrote")
	}
}

// When the attempt is no longer ours, a write returns errLostClaim and
// writes nothing.
func TestUpdateOfALostAttemptWritesNothing(t *testing.T) {
	for _, tc := range []struct {
		name string
		lose func(h *harness)
	}{
		{"the manager timed it out", func(h *harness) { h.meanwhile(timedOut) }},
		{"another worker runs the next attempt", func(h *harness) {
			h.meanwhile(func(x *v1alpha1.YouTubeExtraction) {
				timedOut(x)
				status.NextAttempt(x, 2)
				status.Queued(x, "queued")
				status.Claimed(x, "w-2", metav1.NewTime(base))
			})
		}},
		{"the spec changed", func(h *harness) { h.specChanged() }},
		{"the resource is being deleted", func(h *harness) { h.deleted(true) }},
		{"the resource is gone", func(h *harness) { h.deleted(false) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, Options{}, resource(atAttempt(1), queued))
			c := h.claimed()
			tc.lose(h)
			var before *v1alpha1.YouTubeExtraction
			if tc.name != "the resource is gone" {
				before = h.get()
			}
			err := c.update(context.Background(), func(x *v1alpha1.YouTubeExtraction) {
				x.Status.Progress = &v1alpha1.Progress{BytesDone: 1}
			})
			if !errors.Is(err, errLostClaim) {
				t.Errorf("update: %v, want errLostClaim", err)
			}
			if before != nil && h.get().ResourceVersion != before.ResourceVersion {
				t.Error("the lost attempt's write landed")
			}
		})
	}
}

// Other API errors are the caller's to retry; the claim is not lost.
func TestUpdateReturnsOtherAPIErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		fail func(h *harness)
	}{
		{"the write fails", func(h *harness) { h.failNextStatusWrites(1) }},
		{"the read after a conflict fails", func(h *harness) {
			h.before(func(x *v1alpha1.YouTubeExtraction) { x.Status.Progress = &v1alpha1.Progress{BytesDone: 1} })
			h.failNextReads(1)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, Options{}, resource(atAttempt(1), queued))
			c := h.claimed()
			tc.fail(h)
			err := c.update(context.Background(), func(*v1alpha1.YouTubeExtraction) {})
			if err == nil || errors.Is(err, errLostClaim) {
				t.Errorf("update: %v, want the API error", err)
			}
		})
	}
}

// --- how an attempt ends ---

func TestEndWritesEachOutcome(t *testing.T) {
	info := v1alpha1.Artifact{Kind: v1alpha1.ArtifactInfo, URI: "file:///data/music/a/info.json", SizeBytes: 10}
	for _, tc := range []struct {
		name   string
		result outcome
		check  func(t *testing.T, x *v1alpha1.YouTubeExtraction)
		event  string
	}{
		{"success: Succeeded with the result", outcome{}, func(t *testing.T, x *v1alpha1.YouTubeExtraction) {
			s := x.Status
			if s.Phase != v1alpha1.PhaseSucceeded || cond(x, v1alpha1.ConditionComplete) != "True Succeeded" || cond(x, v1alpha1.ConditionRunning) != "False Succeeded" {
				t.Errorf("phase %s Complete %q Running %q, want Succeeded, True Succeeded, False Succeeded",
					s.Phase, cond(x, v1alpha1.ConditionComplete), cond(x, v1alpha1.ConditionRunning))
			}
			if s.Metadata == nil || s.Metadata.Title != "Never Gonna Give You Up" || len(s.Artifacts) != 1 || s.Progress.Percent != 100 ||
				s.CompletionTime == nil || !s.CompletionTime.Time.Equal(base.Add(time.Minute)) || s.Resolver != "yt-dlp" {
				t.Errorf("metadata %v artifacts %v progress %+v completion %v resolver %q, want the result, 100%%, now, yt-dlp",
					s.Metadata, s.Artifacts, s.Progress, s.CompletionTime, s.Resolver)
			}
		}, "Normal Succeeded"},
		{"a permanent failure: Failed, with what was made so far", outcome{err: permanentFormat}, func(t *testing.T, x *v1alpha1.YouTubeExtraction) {
			s := x.Status
			if s.Phase != v1alpha1.PhaseFailed || cond(x, v1alpha1.ConditionFailed) != "True FormatUnavailable" {
				t.Errorf("phase %s Failed %q, want Failed, True FormatUnavailable", s.Phase, cond(x, v1alpha1.ConditionFailed))
			}
			if f := s.LastFailure; f == nil || f.Reason != v1alpha1.ReasonFormatUnavailable || f.Attempt != 1 {
				t.Errorf("lastFailure %+v, want attempt 1's FormatUnavailable", f)
			}
			if s.Metadata == nil || len(s.Artifacts) != 1 || s.CompletionTime == nil {
				t.Errorf("metadata %v artifacts %v completion %v, want what was made, and the end", s.Metadata, s.Artifacts, s.CompletionTime)
			}
		}, "Warning FormatUnavailable"},
		{"a retryable failure: Pending with lastFailure, for the manager to retry", outcome{err: retryableDownload}, func(t *testing.T, x *v1alpha1.YouTubeExtraction) {
			s := x.Status
			if s.Phase != v1alpha1.PhasePending || cond(x, v1alpha1.ConditionRunning) != "False DownloadFailed" || cond(x, v1alpha1.ConditionQueued) != "False Retrying" {
				t.Errorf("phase %s Running %q Queued %q, want Pending, False DownloadFailed, False Retrying",
					s.Phase, cond(x, v1alpha1.ConditionRunning), cond(x, v1alpha1.ConditionQueued))
			}
			if f := s.LastFailure; f == nil || f.Reason != v1alpha1.ReasonDownloadFailed || f.Attempt != 1 || !f.Time.Time.Equal(base.Add(time.Minute)) {
				t.Errorf("lastFailure %+v, want attempt 1's DownloadFailed, now", f)
			}
			if s.Artifacts != nil || s.CompletionTime != nil || !status.AttemptEnded(x) {
				t.Errorf("artifacts %v completion %v, want none listed and the attempt ended", s.Artifacts, s.CompletionTime)
			}
		}, "Warning DownloadFailed"},
		{"stopping: handed back, not counted", outcome{handBack: true}, func(t *testing.T, x *v1alpha1.YouTubeExtraction) {
			s := x.Status
			if s.Phase != v1alpha1.PhasePending || s.Worker != "" || s.LastFailure != nil || s.Attempts != 1 ||
				cond(x, v1alpha1.ConditionQueued) != "False HandedBack" || cond(x, v1alpha1.ConditionRunning) != "False HandedBack" {
				t.Errorf("phase %s worker %q lastFailure %+v attempts %d Queued %q Running %q, want Pending, no worker, no failure, attempt 1, HandedBack",
					s.Phase, s.Worker, s.LastFailure, s.Attempts, cond(x, v1alpha1.ConditionQueued), cond(x, v1alpha1.ConditionRunning))
			}
		}, "Normal HandedBack"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, Options{}, resource(atAttempt(1), queued))
			c := h.claimed()
			task := newTask(c)
			task.metadata = v1alpha1.VideoMetadata{Title: "Never Gonna Give You Up"}
			task.artifacts = []v1alpha1.Artifact{info}
			task.resolver = "yt-dlp"
			task.bytesDone.Store(10)
			task.bytesTotal.Store(10)
			h.clock.SetTime(base.Add(time.Minute))
			if err := h.w.end(context.Background(), c, task, tc.result, time.Second); err != nil {
				t.Fatalf("end: %v", err)
			}
			tc.check(t, h.get())
			h.wantEvents(tc.event)
		})
	}
}

var (
	permanentFormat   = failure.Permanent(v1alpha1.ReasonFormatUnavailable, nil, "the video has no opus stream")
	retryableDownload = failure.Retryable(v1alpha1.ReasonDownloadFailed, nil, "503 from googlevideo")
)

// The end is written on a context of its own: a cancelled job still
// records how it ended.
func TestEndIsWrittenAfterTheJobsContextIsCancelled(t *testing.T) {
	h := newHarness(t, Options{}, resource(atAttempt(1), queued))
	c := h.claimed()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := h.w.end(ctx, c, newTask(c), outcome{handBack: true}, 0); err != nil {
		t.Fatalf("end: %v", err)
	}
	if p := h.get().Status.Phase; p != v1alpha1.PhasePending {
		t.Errorf("phase %s, want Pending (handed back)", p)
	}
}

func TestEndRetriesAPIErrorsUntilTheWriteLandsOrTheFinishTimeoutEnds(t *testing.T) {
	h := newHarness(t, Options{}, resource(atAttempt(1), queued))
	c := h.claimed()
	h.failNextStatusWrites(10)
	if err := h.w.end(context.Background(), c, newTask(c), outcome{}, 0); err != nil {
		t.Fatalf("end: %v", err)
	}
	if p := h.get().Status.Phase; p != v1alpha1.PhaseSucceeded {
		t.Errorf("phase %s, want Succeeded", p)
	}
	if n := h.statusWrites.Load(); n != 1+11 {
		t.Errorf("%d status writes, want the claim and 11 tries", n)
	}
	h.wantEvents("Normal Succeeded")
}

// After FinishTimeout the worker gives up; the manager's heartbeat timeout
// takes over.
func TestEndGivesUpAfterTheFinishTimeout(t *testing.T) {
	h := newHarness(t, Options{FinishTimeout: 20 * time.Millisecond}, resource(atAttempt(1), queued))
	c := h.claimed()
	h.failNextStatusWrites(-1)
	err := h.w.end(context.Background(), c, newTask(c), outcome{}, 0)
	if err == nil || !strings.Contains(err.Error(), "writing the end of") {
		t.Errorf("end: %v, want the write's error", err)
	}
	h.failNextStatusWrites(0)
	if p := h.get().Status.Phase; p != v1alpha1.PhaseRunning {
		t.Errorf("phase %s, want still Running", p)
	}
	h.wantEvents()
}

// An attempt lost by the end is abandoned: nothing is written, no retry.
func TestEndOfALostAttemptWritesNothing(t *testing.T) {
	h := newHarness(t, Options{}, resource(atAttempt(1), queued))
	c := h.claimed()
	h.meanwhile(timedOut)
	rv := h.get().ResourceVersion
	writes := h.statusWrites.Load()
	if err := h.w.end(context.Background(), c, newTask(c), outcome{}, 0); err != nil {
		t.Errorf("end: %v, want nil: the message is done", err)
	}
	if h.get().ResourceVersion != rv {
		t.Error("the lost attempt's end was written")
	}
	if n := h.statusWrites.Load() - writes; n != 1 {
		t.Errorf("%d status writes, want the one that found the attempt lost", n)
	}
	h.wantEvents()
}

// --- Handle ---

func TestHandleDropsADuplicateWithoutWork(t *testing.T) {
	h := newHarness(t, Options{}, resource(atAttempt(1), queued, claimedBy("w-2")))
	if err := h.w.Handle(context.Background(), msg(1)); err != nil {
		t.Errorf("Handle: %v, want nil: a drop is done", err)
	}
	if n := h.statusWrites.Load(); n != 0 {
		t.Errorf("%d status writes, want none", n)
	}
	h.wantEvents()
}

func TestHandleRecordsTheClaimAndAPermanentFailure(t *testing.T) {
	h := newHarness(t, Options{}, resource(atAttempt(1), queued))
	h.resolve(func(context.Context, resolver.Request) (*resolver.Video, error) {
		return nil, failure.Permanent(v1alpha1.ReasonVideoUnavailable, nil, "This video has been removed by the uploader")
	})
	if err := h.w.Handle(context.Background(), msg(1)); err != nil {
		t.Fatalf("Handle: %v", err)
	}
	x := h.get()
	if x.Status.Phase != v1alpha1.PhaseFailed || cond(x, v1alpha1.ConditionFailed) != "True VideoUnavailable" || x.Status.Worker != me {
		t.Errorf("phase %s Failed %q worker %q, want Failed, True VideoUnavailable, %s", x.Status.Phase, cond(x, v1alpha1.ConditionFailed), x.Status.Worker, me)
	}
	h.wantEvents("Normal Running", "Warning VideoUnavailable")
}

// A job that fails because its worker is stopping is handed back, not
// counted as a failed attempt.
func TestFailureAfterTheWorkerIsStoppedIsHandedBack(t *testing.T) {
	h := newHarness(t, Options{}, resource(atAttempt(1), queued))
	ctx, stop := context.WithCancel(context.Background())
	h.resolve(func(context.Context, resolver.Request) (*resolver.Video, error) {
		stop() // SIGTERM, and the shutdown grace is over
		return nil, failure.Retryable(v1alpha1.ReasonDownloadFailed, context.Canceled, "reading the watch page")
	})
	if err := h.w.Handle(ctx, msg(1)); err != nil {
		t.Fatalf("Handle: %v", err)
	}
	x := h.get()
	if x.Status.Phase != v1alpha1.PhasePending || cond(x, v1alpha1.ConditionQueued) != "False HandedBack" || x.Status.LastFailure != nil {
		t.Errorf("phase %s Queued %q lastFailure %+v, want Pending, False HandedBack, no failure", x.Status.Phase, cond(x, v1alpha1.ConditionQueued), x.Status.LastFailure)
	}
	h.wantEvents("Normal Running", "Normal HandedBack")
}

// A job whose attempt was given away while it ran is abandoned: it writes
// nothing, and the message is done.
func TestAttemptLostWhileRunningIsAbandoned(t *testing.T) {
	h := newHarness(t, Options{}, resource(atAttempt(1), queued))
	h.resolve(func(context.Context, resolver.Request) (*resolver.Video, error) {
		h.meanwhile(timedOut) // YouTube was so slow that the manager gave up on the worker
		return nil, failure.Retryable(v1alpha1.ReasonTimeout, nil, "the watch page took too long")
	})
	if err := h.w.Handle(context.Background(), msg(1)); err != nil {
		t.Fatalf("Handle: %v", err)
	}
	x := h.get()
	if f := x.Status.LastFailure; f == nil || f.Reason != v1alpha1.ReasonTimeout || f.Message != "no heartbeat" {
		t.Errorf("lastFailure %+v, want the manager's Timeout left as it wrote it", f)
	}
	h.wantEvents("Normal Running")
}

// --- Release ---

func TestReleaseHandsBackAQueuedAttemptThatDidNotStart(t *testing.T) {
	h := newHarness(t, Options{}, resource(atAttempt(1), queued))
	h.w.Release(context.Background(), msg(1))
	x := h.get()
	if x.Status.Phase != v1alpha1.PhasePending || cond(x, v1alpha1.ConditionQueued) != "False HandedBack" || x.Status.Attempts != 1 || x.Status.LastFailure != nil {
		t.Errorf("phase %s Queued %q attempts %d lastFailure %+v, want Pending, False HandedBack, attempt 1, no failure",
			x.Status.Phase, cond(x, v1alpha1.ConditionQueued), x.Status.Attempts, x.Status.LastFailure)
	}
	h.wantEvents("Normal HandedBack")
}

func TestReleaseRetriesAPIErrorsUntilItsContextEnds(t *testing.T) {
	h := newHarness(t, Options{}, resource(atAttempt(1), queued))
	h.failNextReads(10)
	h.failNextStatusWrites(10)
	h.w.Release(context.Background(), msg(1))
	if p := h.get().Status.Phase; p != v1alpha1.PhasePending {
		t.Errorf("phase %s, want Pending (handed back)", p)
	}
	h.wantEvents("Normal HandedBack")
}

func TestReleaseLeavesAnAttemptThatMovedOnAlone(t *testing.T) {
	for _, tc := range []struct {
		name string
		x    *v1alpha1.YouTubeExtraction
		m    job.Message
	}{
		{"claimed by another worker", resource(atAttempt(1), queued, claimedBy("w-2")), msg(1)},
		{"superseded by a later attempt", resource(atAttempt(2), queued), msg(1)},
		{"Pending: the manager is publishing it", resource(atAttempt(1), func(x *v1alpha1.YouTubeExtraction) { status.PublishFailed(x, "down") }), msg(1)},
		{"waiting for a slot", resource(atAttempt(1), func(x *v1alpha1.YouTubeExtraction) { status.Wait(x, "busy") }), msg(1)},
		{"gone", nil, msg(1)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var h *harness
			if tc.x == nil {
				h = newHarness(t, Options{})
			} else {
				h = newHarness(t, Options{}, tc.x)
			}
			h.w.Release(context.Background(), tc.m)
			if n := h.statusWrites.Load(); n != 0 {
				t.Errorf("%d status writes, want none", n)
			}
			h.wantEvents()
		})
	}
}

func TestReleaseLosesToAClaimThatLandsFirst(t *testing.T) {
	h := newHarness(t, Options{}, resource(atAttempt(1), queued))
	h.before(claimedBy("w-2"))
	h.w.Release(context.Background(), msg(1))
	x := h.get()
	if x.Status.Phase != v1alpha1.PhaseRunning || x.Status.Worker != "w-2" {
		t.Errorf("phase %s worker %q, want Running on w-2", x.Status.Phase, x.Status.Worker)
	}
	h.wantEvents()
}
