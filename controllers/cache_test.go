package controllers

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"

	v1alpha1 "ytx.dev/ytx/api/v1alpha1"
	"ytx.dev/ytx/internal/objtest"
	"ytx.dev/ytx/internal/status"
)

// everything gives x a value in each field the cache drops.
func everything(x *v1alpha1.YouTubeExtraction) {
	x.Annotations = map[string]string{"kubectl.kubernetes.io/last-applied-configuration": `{"spec":{}}`, "note": "mine"}
	x.ManagedFields = []metav1.ManagedFieldsEntry{{Manager: "kubectl", Operation: metav1.ManagedFieldsOperationUpdate, APIVersion: "ytx.dev/v1alpha1", FieldsType: "FieldsV1", FieldsV1: &metav1.FieldsV1{Raw: []byte(`{"f:metadata":{}}`)}}}
	x.Status.Metadata = &v1alpha1.VideoMetadata{Title: "Never Gonna Give You Up", Description: strings.Repeat("never ", 100)}
	x.Status.Artifacts = []v1alpha1.Artifact{{Kind: v1alpha1.ArtifactInfo, URI: "file:///x/info.json", SizeBytes: 10, SHA256: strings.Repeat("c", 64)}}
}

// held reports, for each JSON path, whether x has a value there.
func held(t *testing.T, x *v1alpha1.YouTubeExtraction, paths []string) map[string]bool {
	t.Helper()
	h, err := objtest.Held(x, paths)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestTrimDropsEveryFieldOfDroppedFromCacheAndKeepsARunningOnesState(t *testing.T) {
	x := resource("a", withFinalizer, atAttempt(1), queued, claimed(0), everything)
	for p, ok := range held(t, x, DroppedFromCache) {
		if !ok {
			t.Fatalf("the test object has no %s to drop", p)
		}
	}
	if _, err := Trim(x); err != nil {
		t.Fatal(err)
	}
	for p, ok := range held(t, x, DroppedFromCache) {
		if ok {
			t.Errorf("Trim kept %s", p)
		}
	}
	if x.Status.Phase != v1alpha1.PhaseRunning || x.Status.Worker == "" || len(x.Finalizers) != 1 || len(x.Status.Conditions) == 0 {
		t.Errorf("Trim dropped what the controller reads: %+v", x)
	}
}

func TestTrimDropsFromAFinishedExtractionWhatItsRulesNeverRead(t *testing.T) {
	x := resource("a", withFinalizer, atAttempt(2), queued, claimed(0), attemptFailed(v1alpha1.ReasonRateLimited, 0), everything, func(x *v1alpha1.YouTubeExtraction) {
		x.Status.Resolver, x.Status.Progress = "yt-dlp", &v1alpha1.Progress{Percent: 100}
		x.Status.RateLimitedAttempts, x.Status.RateLimitedSince = 1, &metav1.Time{Time: base}
	}, succeeded(time.Minute))
	dropped := append(slices.Clone(DroppedFromCache), DroppedFromFinished...)
	for p, ok := range held(t, x, dropped) {
		if !ok {
			t.Fatalf("the test object has no %s to drop", p)
		}
	}
	want := x.DeepCopy()
	if _, err := Trim(x); err != nil {
		t.Fatal(err)
	}
	for p, ok := range held(t, x, dropped) {
		if ok {
			t.Errorf("Trim kept %s of a finished extraction", p)
		}
	}
	s, w := x.Status, want.Status
	if s.Phase != w.Phase || s.ObservedGeneration != w.ObservedGeneration || s.Attempts != w.Attempts ||
		!s.StartTime.Equal(w.StartTime) || !s.CompletionTime.Equal(w.CompletionTime) || len(x.Finalizers) != 1 {
		t.Errorf("Trim dropped what the finished rules read: %+v", x.Status)
	}
}

func TestManagerWritesLeaveTheFieldsItsCacheDrops(t *testing.T) {
	h := newHarness(t, Options{HeartbeatTimeout: time.Minute}, resource("a", withFinalizer, atAttempt(1), queued, claimed(0), everything))
	want := h.get("a")
	h.at(2 * time.Minute)
	h.step("a") // Timeout: a status write
	h.at(10 * time.Minute)
	h.step("a") // the next attempt, Queued: another
	got := h.get("a")
	if got.Status.Attempts != 2 || got.Status.Phase != v1alpha1.PhaseQueued {
		t.Fatalf("attempt %d %s, want attempt 2 Queued: the manager did not write", got.Status.Attempts, got.Status.Phase)
	}
	if got.Annotations["note"] != "mine" || got.Status.Metadata == nil || *got.Status.Metadata != *want.Status.Metadata ||
		len(got.Status.Artifacts) != 1 || got.Status.Artifacts[0] != want.Status.Artifacts[0] {
		t.Errorf("after the manager's writes: annotations %v, metadata %+v, artifacts %+v; want them as they were",
			got.Annotations, got.Status.Metadata, got.Status.Artifacts)
	}
}

func TestFinalizerWriteLeavesTheFieldsItsCacheDrops(t *testing.T) {
	h := newHarness(t, Options{Storage: newStore(t)}, resource("a", everything))
	h.step("a")
	got := h.get("a")
	if len(got.Finalizers) != 1 || got.Annotations["note"] != "mine" || got.Status.Metadata == nil || len(got.Status.Artifacts) != 1 {
		t.Errorf("finalizers %v, annotations %v, metadata %+v, artifacts %+v; want the finalizer added and the rest kept",
			got.Finalizers, got.Annotations, got.Status.Metadata, got.Status.Artifacts)
	}
}

// After its last tidy (CleanupGrace after completion) a finished resource
// costs no storage request at a resync.
func TestTidiedFinishedExtractionIsNotListedAgain(t *testing.T) {
	s := newStore(t)
	s.put(t, key("a", 1, 1, "info.json"))
	h := newHarness(t, Options{Storage: s, CleanupGrace: 15 * time.Second},
		resource("a", withFinalizer, atAttempt(2), queued, claimed(0), failed(v1alpha1.ReasonVideoUnavailable, 0)))
	h.at(15 * time.Second)
	if res := h.step("a"); res != (ctrl.Result{}) {
		t.Fatalf("result %+v after the grace, want none", res)
	}
	wantFiles(t, s)
	s.failing(nil, errors.New("listed again"))
	if _, err := h.reconcile("a"); err != nil {
		t.Errorf("resync: %v, want no listing", err)
	}
	// A later attempt of the same resource is tidied again.
	h.writeStatus("a", func(x *v1alpha1.YouTubeExtraction) {
		status.NextAttempt(x, 3)
		status.Failed(x, v1alpha1.ReasonVideoUnavailable, "gone", metav1.NewTime(base.Add(15*time.Second)))
	})
	h.at(time.Minute)
	if _, err := h.reconcile("a"); err == nil {
		t.Error("attempt 3 was not listed")
	}
}
