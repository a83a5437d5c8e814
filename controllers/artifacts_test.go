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

func wantFiles(t *testing.T, s *store, want ...string) {
	t.Helper()
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
	s.put(t, "music/a/info.json")
	s.put(t, "music/a/audio.m4a")
	s.interrupted(t, "music/a/video.mp4")
	s.put(t, "music/a-2/info.json") // another resource's, whose name starts alike
	h := newHarness(t, Options{Storage: s}, resource("a", withFinalizer, atAttempt(1), queued, claimed(0), succeeded(0), deletedAt(time.Minute)))
	h.at(time.Minute)
	h.step("a")
	if h.exists("a") {
		t.Error("the resource is still there")
	}
	wantFiles(t, s, "music/a-2/info.json")
	if e := h.wantEvents("Normal ArtifactsDeleted"); len(e) == 1 && !strings.Contains(e[0].Note, s.URI(storage.Prefix(ns, "a"))) {
		t.Errorf("event %q does not name the location", e[0].Note)
	}
}

func TestRetainKeepsFilesAndReleasesTheFinalizer(t *testing.T) {
	s := newStore(t)
	s.put(t, "music/a/info.json")
	s.put(t, "music/a/audio.m4a")
	h := newHarness(t, Options{Storage: s}, resource("a", retain, withFinalizer, atAttempt(1), queued, claimed(0), succeeded(0), deletedAt(0)))
	h.step("a")
	if h.exists("a") {
		t.Error("the resource is still there")
	}
	wantFiles(t, s, "music/a/audio.m4a", "music/a/info.json")
	if e := h.wantEvents("Normal ArtifactsRetained"); len(e) == 1 && !strings.Contains(e[0].Note, s.URI(storage.Prefix(ns, "a"))) {
		t.Errorf("event %q does not name the location", e[0].Note)
	}
}

// A worker notices the deletion within its status interval and stops, but
// a file it finished meanwhile would be orphaned: a resource deleted while
// Running is cleaned at once and again after the grace.
func TestDeletedWhileRunningIsCleanedAgainAfterTheCleanupGrace(t *testing.T) {
	s := newStore(t)
	s.put(t, "music/a/info.json")
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

	s.put(t, "music/a/audio.m4a") // the worker finished one more file
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
	s.put(t, "music/a/info.json")
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
	wantFiles(t, s, "music/a/info.json")
	if e := h.wantEvents("Warning ArtifactsNotDeleted"); len(e) == 1 && !strings.Contains(e[0].Note, s.URI(storage.Prefix(ns, "a"))) {
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
	s.put(t, "music/a/info.json")
	h := newHarness(t, Options{Storage: s}, resource("a", func(x *v1alpha1.YouTubeExtraction) {
		x.Finalizers = []string{"example.com/other"}
	}, atAttempt(1), queued, deletedAt(0)))
	h.step("a")
	if x := h.get("a"); !slices.Equal(x.Finalizers, []string{"example.com/other"}) {
		t.Errorf("finalizers %v, want the other one only", x.Finalizers)
	}
	wantFiles(t, s, "music/a/info.json")
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
	s.put(t, "music/a/info.json")
	x := resource("a", withFinalizer, ttl(0), atAttempt(1), queued, claimed(0), succeeded(0))
	x.Status.Artifacts = []v1alpha1.Artifact{{Kind: v1alpha1.ArtifactInfo, URI: s.URI("music/a/info.json")}}
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
	s.put(t, "music/a/info.json")
	s.put(t, "music/a/audio.m4a")
	s.interrupted(t, "music/a/video.mp4")
	s.put(t, "music/a-2/audio.m4a")
	x := resource("a", withFinalizer, atAttempt(1), queued, claimed(0), failed(v1alpha1.ReasonFormatUnavailable, 0))
	x.Status.Artifacts = []v1alpha1.Artifact{{Kind: v1alpha1.ArtifactInfo, URI: s.URI("music/a/info.json")}}
	h := newHarness(t, Options{Storage: s}, x)
	h.step("a")
	wantFiles(t, s, "music/a-2/audio.m4a", "music/a/info.json")
	if !h.exists("a") {
		t.Error("tidying deleted the resource")
	}
}

// A Succeeded extraction's worker pruned before it reported success.
func TestSucceededExtractionIsNotTidied(t *testing.T) {
	s := newStore(t)
	s.put(t, "music/a/info.json")
	s.put(t, "music/a/audio.m4a")
	x := resource("a", withFinalizer, atAttempt(1), queued, claimed(0), succeeded(0))
	x.Status.Artifacts = []v1alpha1.Artifact{{Kind: v1alpha1.ArtifactInfo, URI: s.URI("music/a/info.json")}}
	h := newHarness(t, Options{Storage: s}, x)
	h.step("a")
	wantFiles(t, s, "music/a/audio.m4a", "music/a/info.json")
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
