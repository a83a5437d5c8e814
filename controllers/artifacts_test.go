package controllers

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	v1alpha1 "ytx.dev/ytx/api/v1alpha1"
	"ytx.dev/ytx/internal/storage"
)

// withFinalizer: the manager added its finalizer earlier.
func withFinalizer(x *v1alpha1.YouTubeExtraction) { controllerutil.AddFinalizer(x, Finalizer) }

// deletedAt: the user deleted the resource at base+d.
func deletedAt(d time.Duration) func(*v1alpha1.YouTubeExtraction) {
	return func(x *v1alpha1.YouTubeExtraction) { x.DeletionTimestamp = &metav1.Time{Time: base.Add(d)} }
}

func retain(x *v1alpha1.YouTubeExtraction) { x.Spec.ArtifactPolicy = v1alpha1.ArtifactPolicyRetain }

// key is where attempt (generation, attempt) of the resource called name
// stores file, by the storage layout.
func key(name string, generation int64, attempt int32, file string) string {
	return storage.AttemptKey(ns, name, string(uid(name)), storage.Attempt{Generation: generation, Attempt: attempt}, file)
}

// own is the prefix of every file of the resource called name.
func own(name string) string { return storage.ExtractionPrefix(ns, name, string(uid(name))) }

func wantFiles(t *testing.T, s *store, want ...string) {
	t.Helper()
	want = slices.Sorted(slices.Values(want))
	if got := s.files(t); !slices.Equal(got, want) {
		t.Errorf("files %q, want %q", got, want)
	}
}

// --- the finalizer ---

func TestFinalizerIsAddedBeforeAnythingElseWhenStorageIsConfigured(t *testing.T) {
	h := newHarness(t, Options{Storage: newStore(t)}, resource("a"))
	if res := h.step("a"); res != (ctrl.Result{}) {
		t.Errorf("result %+v, want none: the write triggers the next reconcile", res)
	}
	x := h.get("a")
	if !controllerutil.ContainsFinalizer(x, Finalizer) {
		t.Errorf("finalizers %v, want %s", x.Finalizers, Finalizer)
	}
	if x.Status.Phase != "" || x.Status.ObservedGeneration != 0 {
		t.Errorf("phase %q observedGeneration %d, want the status untouched by the finalizer's write", x.Status.Phase, x.Status.ObservedGeneration)
	}
	h.wantSent()
	h.step("a")
	wantQueued(t, h.get("a"), 1, 1)
	h.wantSent(msg("a", 1, 1))
}

func TestWithoutStorageNoFinalizerIsAdded(t *testing.T) {
	h := newHarness(t, Options{}, resource("a"))
	h.step("a")
	x := h.get("a")
	if len(x.Finalizers) != 0 {
		t.Errorf("finalizers %v, want none: nothing is stored", x.Finalizers)
	}
	wantQueued(t, x, 1, 1)
}

func TestDeleteRemovesTheFilesAndReleasesTheFinalizer(t *testing.T) {
	s := newStore(t)
	s.put(t, key("a", 1, 1, "info.json"))
	s.put(t, key("a", 1, 2, "info.json"))
	s.put(t, key("a", 1, 2, "audio.m4a"))
	s.interrupted(t, key("a", 1, 2, "video.mp4"))
	h := newHarness(t, Options{Storage: s}, resource("a", withFinalizer, atAttempt(2), queued, claimed(0), succeeded(0), deletedAt(time.Minute)))
	h.at(time.Minute)
	h.step("a")
	if h.exists("a") {
		t.Error("the resource is still there")
	}
	wantFiles(t, s)
	if e := h.wantEvents("Normal ArtifactsDeleted"); len(e) == 1 && !strings.Contains(e[0].Note, s.URI(own("a"))) {
		t.Errorf("event %q does not name the location", e[0].Note)
	}
}

// Names are reused all the time (the same manifest applied again, a GitOps
// tool recreating a resource): deleting one extraction never reaches the
// files an earlier one of the same name retained, nor another resource's
// whose name starts alike.
func TestDeleteRemovesOnlyTheExtractionsOwnFiles(t *testing.T) {
	s := newStore(t)
	earlier := storage.AttemptKey(ns, "a", "uid-of-an-earlier-a", storage.Attempt{Generation: 1, Attempt: 1}, "thumbnail.jpg")
	s.put(t, earlier)
	s.put(t, key("a-2", 1, 1, "info.json"))
	s.putAt(t, ns+"/a/info.json", base.Add(-time.Hour)) // an earlier a's, in the earlier layout
	s.put(t, key("a", 1, 1, "info.json"))
	h := newHarness(t, Options{Storage: s}, resource("a", withFinalizer, atAttempt(1), queued, claimed(0), succeeded(0), deletedAt(time.Minute)))
	h.at(time.Minute)
	h.step("a")
	if h.exists("a") {
		t.Error("the resource is still there")
	}
	wantFiles(t, s, earlier, key("a-2", 1, 1, "info.json"), ns+"/a/info.json")
}

// Files stored before ytx kept them by UID (<namespace>/<name>/<file>) are
// still deleted by the extraction that stored them: the one alive when they
// were stored.
func TestDeleteRemovesTheFilesItStoredUnderTheEarlierLayout(t *testing.T) {
	s := newStore(t)
	s.putAt(t, ns+"/a/info.json", base.Add(time.Second))
	s.putAt(t, ns+"/a/audio.m4a", base.Add(time.Second))
	s.putAt(t, ns+"/a/notes.txt", base.Add(time.Second)) // not a name ytx ever stored
	x := resource("a", withFinalizer, atAttempt(1), queued, claimed(0), succeeded(0), deletedAt(time.Minute))
	x.Status.Artifacts = []v1alpha1.Artifact{{Kind: v1alpha1.ArtifactInfo, URI: s.URI(ns + "/a/info.json")}, {Kind: v1alpha1.ArtifactAudio, URI: s.URI(ns + "/a/audio.m4a")}}
	h := newHarness(t, Options{Storage: s}, x)
	h.at(time.Minute)
	h.step("a")
	wantFiles(t, s, ns+"/a/notes.txt")
	if e := h.wantEvents("Normal ArtifactsDeleted"); len(e) == 1 && !strings.Contains(e[0].Note, "2 stored under "+s.URI(ns+"/a/")) {
		t.Errorf("event %q does not say that 2 files of the earlier layout went", e[0].Note)
	}
}

// A URI in status is no reason to delete a file: anyone allowed to patch
// status could point it anywhere.
func TestDeleteIgnoresWhatStatusPointsAt(t *testing.T) {
	s := newStore(t)
	s.put(t, key("b", 1, 1, "audio.m4a"))
	s.putAt(t, ns+"/a/audio.m4a", base.Add(-time.Hour))
	x := resource("a", withFinalizer, atAttempt(1), queued, claimed(0), succeeded(0), deletedAt(time.Minute))
	x.Status.Artifacts = []v1alpha1.Artifact{{Kind: v1alpha1.ArtifactAudio, URI: s.URI(key("b", 1, 1, "audio.m4a"))}, {Kind: v1alpha1.ArtifactAudio, URI: s.URI(ns + "/a/audio.m4a")}}
	h := newHarness(t, Options{Storage: s}, x)
	h.at(time.Minute)
	h.step("a")
	if h.exists("a") {
		t.Error("the resource is still there")
	}
	wantFiles(t, s, key("b", 1, 1, "audio.m4a"), ns+"/a/audio.m4a")
}

func TestRetainKeepsFilesAndReleasesTheFinalizer(t *testing.T) {
	s := newStore(t)
	s.put(t, key("a", 1, 1, "info.json"))
	s.put(t, key("a", 1, 1, "audio.m4a"))
	h := newHarness(t, Options{Storage: s}, resource("a", retain, withFinalizer, atAttempt(1), queued, claimed(0), succeeded(0), deletedAt(0)))
	h.step("a")
	if h.exists("a") {
		t.Error("the resource is still there")
	}
	wantFiles(t, s, key("a", 1, 1, "audio.m4a"), key("a", 1, 1, "info.json"))
	if e := h.wantEvents("Normal ArtifactsRetained"); len(e) == 1 && !strings.Contains(e[0].Note, s.URI(own("a"))) {
		t.Errorf("event %q does not name the location", e[0].Note)
	}
}

// A worker notices the deletion within its status interval and stops, but
// a file it finished meanwhile would be orphaned: a resource deleted while
// Running is cleaned at once and again after the grace.
func TestDeletedWhileRunningIsCleanedAgainAfterTheCleanupGrace(t *testing.T) {
	s := newStore(t)
	s.put(t, key("a", 1, 1, "info.json"))
	h := newHarness(t, Options{Storage: s, CleanupGrace: 15 * time.Second}, resource("a", withFinalizer, atAttempt(1), queued, claimed(0), deletedAt(0)))
	h.at(time.Second)
	if res := h.step("a"); res.RequeueAfter != 14*time.Second {
		t.Errorf("requeue after %s, want the rest of the grace, 14s", res.RequeueAfter)
	}
	wantFiles(t, s)
	if !h.exists("a") {
		t.Fatal("the finalizer went before the grace")
	}
	h.wantEvents()

	s.put(t, key("a", 1, 1, "audio.m4a")) // the worker finished one more file
	h.at(15 * time.Second)
	h.step("a")
	wantFiles(t, s)
	if h.exists("a") {
		t.Error("the resource is still there after the grace")
	}
	h.wantEvents("Normal ArtifactsDeleted")
}

// Storage that stays down must not block deletion forever.
func TestStorageThatStaysDownReleasesTheFinalizerAfterTheCleanupTimeout(t *testing.T) {
	s := newStore(t)
	s.put(t, key("a", 1, 1, "info.json"))
	s.failing(errors.New("connection refused"), nil)
	h := newHarness(t, Options{Storage: s, CleanupTimeout: 5 * time.Minute}, resource("a", withFinalizer, atAttempt(1), queued, claimed(0), failed(v1alpha1.ReasonVideoUnavailable, 0), deletedAt(0)))

	h.at(5*time.Minute - time.Second)
	if _, err := h.reconcile("a"); err == nil || !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("reconcile: %v, want the storage error, so that the workqueue retries", err)
	}
	if !h.exists("a") {
		t.Fatal("the finalizer went before the cleanup timeout")
	}
	h.wantEvents()

	h.at(5 * time.Minute)
	h.step("a")
	if h.exists("a") {
		t.Error("the resource is still there after the cleanup timeout")
	}
	wantFiles(t, s, key("a", 1, 1, "info.json"))
	if e := h.wantEvents("Warning ArtifactsNotDeleted"); len(e) == 1 && !strings.Contains(e[0].Note, s.URI(own("a"))) {
		t.Errorf("event %q does not say where the files are", e[0].Note)
	}
}

// A manager restarted without storage still lets go of resources that an
// earlier one finalized; it has no files to deal with.
func TestWithoutStorageDeletionReleasesTheFinalizer(t *testing.T) {
	h := newHarness(t, Options{}, resource("a", withFinalizer, atAttempt(1), queued, deletedAt(0)))
	h.step("a")
	if h.exists("a") {
		t.Error("the resource is still there")
	}
	h.wantEvents()
}

func TestDeletionWithoutOurFinalizerIsLeftAlone(t *testing.T) {
	s := newStore(t)
	s.put(t, key("a", 1, 1, "info.json"))
	h := newHarness(t, Options{Storage: s}, resource("a", func(x *v1alpha1.YouTubeExtraction) {
		x.Finalizers = []string{"example.com/other"}
	}, atAttempt(1), queued, deletedAt(0)))
	h.step("a")
	if x := h.get("a"); !slices.Equal(x.Finalizers, []string{"example.com/other"}) {
		t.Errorf("finalizers %v, want the other one only", x.Finalizers)
	}
	wantFiles(t, s, key("a", 1, 1, "info.json"))
	h.wantEvents()
	h.wantSent()
}

// --- TTL ---

func TestFinishedExtractionIsDeletedWhenItsTTLPasses(t *testing.T) {
	for _, tc := range []struct {
		name  string
		state []func(*v1alpha1.YouTubeExtraction)
		ttl   time.Duration
	}{
		{"succeeded", []func(*v1alpha1.YouTubeExtraction){ttl(60), atAttempt(1), queued, claimed(0), succeeded(time.Minute)}, time.Minute},
		{"failed", []func(*v1alpha1.YouTubeExtraction){ttl(60), atAttempt(1), queued, claimed(0), failed(v1alpha1.ReasonVideoUnavailable, time.Minute)}, time.Minute},
		{"ttl 0: at once", []func(*v1alpha1.YouTubeExtraction){ttl(0), atAttempt(1), queued, claimed(0), succeeded(time.Minute)}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, Options{}, resource("a", tc.state...))
			done := time.Minute // completionTime
			if tc.ttl > 0 {
				h.at(done + tc.ttl - time.Second)
				if res := h.step("a"); res.RequeueAfter != time.Second {
					t.Errorf("a second before the TTL: requeue after %s, want 1s", res.RequeueAfter)
				}
				if !h.exists("a") {
					t.Fatal("deleted before its TTL")
				}
			}
			h.at(done + tc.ttl)
			h.step("a")
			if h.exists("a") {
				t.Error("still there when its TTL passed")
			}
		})
	}
}

func TestFinishedExtractionWithoutTTLOrCompletionTimeStays(t *testing.T) {
	for _, tc := range []struct {
		name  string
		state []func(*v1alpha1.YouTubeExtraction)
	}{
		{"no TTL", []func(*v1alpha1.YouTubeExtraction){atAttempt(1), queued, claimed(0), succeeded(0)}},
		{"no completion time", []func(*v1alpha1.YouTubeExtraction){ttl(0), atAttempt(1), queued, claimed(0), succeeded(0),
			func(x *v1alpha1.YouTubeExtraction) { x.Status.CompletionTime = nil }}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, Options{}, resource("a", tc.state...))
			h.at(365 * 24 * time.Hour)
			if res := h.step("a"); res != (ctrl.Result{}) {
				t.Errorf("result %+v, want none", res)
			}
			if !h.exists("a") {
				t.Error("deleted")
			}
		})
	}
}

// The TTL deletes with a UID precondition: a stale read cannot delete a
// new resource that took the same name.
func TestTTLNeverDeletesANewResourceOfTheSameName(t *testing.T) {
	stale := resource("a", ttl(0), atAttempt(1), queued, claimed(0), succeeded(0))
	fresh := resource("a")
	fresh.UID = "uid-a-again"
	h := newHarness(t, Options{}, fresh)
	_, err := h.r.expire(context.Background(), stale)
	if !apierrors.IsConflict(err) {
		t.Errorf("expire of a stale copy: %v, want a conflict", err)
	}
	if x := h.get("a"); x.UID != "uid-a-again" {
		t.Errorf("UID %s, want the new resource kept", x.UID)
	}
}

// The TTL's deletion goes through the finalizer, which applies the policy.
func TestTTLDeletionDeletesTheFilesThroughTheFinalizer(t *testing.T) {
	s := newStore(t)
	s.put(t, key("a", 1, 1, "info.json"))
	x := resource("a", withFinalizer, ttl(0), atAttempt(1), queued, claimed(0), succeeded(0))
	x.Status.Artifacts = []v1alpha1.Artifact{{Kind: v1alpha1.ArtifactInfo, URI: s.URI(key("a", 1, 1, "info.json"))}}
	h := newHarness(t, Options{Storage: s}, x)
	h.step("a")
	if x := h.get("a"); x.DeletionTimestamp.IsZero() {
		t.Fatal("not deleted when its TTL passed")
	}
	h.step("a")
	if h.exists("a") {
		t.Error("the finalizer was not released")
	}
	wantFiles(t, s)
}

// --- tidy ---

// Attempts that failed or died may have stored files (info.json comes
// first) that nothing else would ever remove.
func TestFailedExtractionLosesTheFilesItsStatusDoesNotList(t *testing.T) {
	s := newStore(t)
	s.put(t, key("a", 1, 1, "info.json"))
	s.put(t, key("a", 1, 1, "audio.m4a"))
	s.interrupted(t, key("a", 1, 1, "video.mp4"))
	s.put(t, key("a", 1, 2, "info.json"))
	s.put(t, key("a", 1, 2, "thumbnail.jpg"))
	s.put(t, key("a-2", 1, 1, "audio.m4a"))
	x := resource("a", withFinalizer, atAttempt(2), queued, claimed(0), failed(v1alpha1.ReasonFormatUnavailable, 0))
	x.Status.Artifacts = []v1alpha1.Artifact{{Kind: v1alpha1.ArtifactInfo, URI: s.URI(key("a", 1, 2, "info.json"))}}
	h := newHarness(t, Options{Storage: s}, x)
	h.step("a")
	wantFiles(t, s, key("a-2", 1, 1, "audio.m4a"), key("a", 1, 2, "info.json"))
	if !h.exists("a") {
		t.Error("tidying deleted the resource")
	}
}

// A key of an attempt after the one this read shows can only be newer than
// the read; a key the layout did not make is nobody's we can name.
func TestTidyLeavesLaterAttemptsAndKeysTheLayoutDidNotMake(t *testing.T) {
	s := newStore(t)
	s.put(t, key("a", 1, 3, "info.json"))
	s.put(t, key("a", 2, 1, "info.json"))
	s.put(t, own("a")+"notes.txt")
	h := newHarness(t, Options{Storage: s}, resource("a", withFinalizer, atAttempt(2), queued, claimed(0), failed(v1alpha1.ReasonFormatUnavailable, 0)))
	h.step("a")
	wantFiles(t, s, key("a", 1, 3, "info.json"), own("a")+"notes.txt", key("a", 2, 1, "info.json"))
}

// A resource that succeeded at its first attempt was pruned by its worker
// and no other attempt wrote: nothing to list, at every resync.
func TestSucceededAtTheFirstAttemptIsNotListed(t *testing.T) {
	s := newStore(t)
	s.put(t, key("a", 1, 1, "info.json"))
	s.failing(nil, errors.New("listed"))
	x := resource("a", withFinalizer, atAttempt(1), queued, claimed(0), succeeded(0))
	x.Status.Artifacts = []v1alpha1.Artifact{{Kind: v1alpha1.ArtifactInfo, URI: s.URI(key("a", 1, 1, "info.json"))}}
	h := newHarness(t, Options{Storage: s}, x)
	if _, err := h.reconcile("a"); err != nil {
		t.Errorf("reconcile: %v, want no listing", err)
	}
	wantFiles(t, s, key("a", 1, 1, "info.json"))
}

// A stale worker (paused past its claim) may finish an upload under its own
// attempt's keys after a newer attempt succeeded: the finished resource
// loses it, and is looked at again a grace after completion for an upload
// that was still in flight.
func TestSucceededAfterRetriesLosesEarlierAttemptsFiles(t *testing.T) {
	s := newStore(t)
	s.put(t, key("a", 1, 1, "audio.m4a")) // the stale worker's late upload
	s.put(t, key("a", 1, 2, "info.json"))
	s.put(t, key("a", 1, 2, "audio.m4a"))
	x := resource("a", withFinalizer, atAttempt(2), queued, claimed(0), succeeded(time.Minute))
	x.Status.Artifacts = []v1alpha1.Artifact{{Kind: v1alpha1.ArtifactInfo, URI: s.URI(key("a", 1, 2, "info.json"))}, {Kind: v1alpha1.ArtifactAudio, URI: s.URI(key("a", 1, 2, "audio.m4a"))}}
	h := newHarness(t, Options{Storage: s, CleanupGrace: 15 * time.Second}, x)
	h.at(time.Minute + 5*time.Second)
	if res := h.step("a"); res.RequeueAfter != 10*time.Second {
		t.Errorf("requeue after %s, want the rest of the grace, 10s", res.RequeueAfter)
	}
	wantFiles(t, s, key("a", 1, 2, "audio.m4a"), key("a", 1, 2, "info.json"))

	s.put(t, key("a", 1, 1, "thumbnail.jpg")) // landed after the first look
	h.at(time.Minute + 15*time.Second)
	if res := h.step("a"); res != (ctrl.Result{}) {
		t.Errorf("result %+v after the grace, want none", res)
	}
	wantFiles(t, s, key("a", 1, 2, "audio.m4a"), key("a", 1, 2, "info.json"))
}

func TestTidyThatCannotListRetriesAndHoldsTheTTL(t *testing.T) {
	s := newStore(t)
	s.failing(nil, errors.New("bucket unreachable"))
	h := newHarness(t, Options{Storage: s}, resource("a", withFinalizer, ttl(0), atAttempt(1), queued, claimed(0), failed(v1alpha1.ReasonVideoUnavailable, 0)))
	if _, err := h.reconcile("a"); err == nil || !strings.Contains(err.Error(), "bucket unreachable") {
		t.Errorf("reconcile: %v, want the storage error", err)
	}
	if x := h.get("a"); !x.DeletionTimestamp.IsZero() {
		t.Error("deleted before it was tidied")
	}
}
