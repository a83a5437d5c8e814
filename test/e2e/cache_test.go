package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "ytx.dev/ytx/api/v1alpha1"
	"ytx.dev/ytx/controllers"
	"ytx.dev/ytx/internal/objtest"
	"ytx.dev/ytx/internal/status"
)

// The manager caches every extraction of its namespaces for as long as
// they exist, so it keeps only what its rules read (controllers/cache.go).
// These tests hold it to that list, and hold its writes to never wiping
// what it does not see.

const userNote = "ytx.dev/test-note"

// runningAsAWorker writes x Running on "worker-x" with the video's metadata
// and two stored files, as a worker's claim and progress would, and returns
// the server's copy.
func (e *env) runningAsAWorker(name string) *v1alpha1.YouTubeExtraction {
	e.t.Helper()
	x := e.get(name)
	status.Claimed(x, "worker-x", metav1.Now())
	x.Status.Metadata = &v1alpha1.VideoMetadata{Title: "Me at the zoo", Author: "jawed", Description: strings.Repeat("elephants ", 50)}
	x.Status.Artifacts = []v1alpha1.Artifact{
		{Kind: v1alpha1.ArtifactInfo, URI: "file:///nowhere/info.json", SizeBytes: 1234, SHA256: strings.Repeat("a", 64)},
		{Kind: v1alpha1.ArtifactThumbnail, URI: "file:///nowhere/thumbnail.jpg", SizeBytes: 99, SHA256: strings.Repeat("b", 64)},
	}
	if err := k8s.Status().Update(e.ctx(10*time.Second), x); err != nil {
		e.t.Fatalf("writing Running as a worker: %v", err)
	}
	return x
}

// fields reads the JSON paths of o, and reports which hold a value.
func fields(t *testing.T, o client.Object, paths []string) map[string]bool {
	t.Helper()
	held, err := objtest.Held(o, paths)
	if err != nil {
		t.Fatal(err)
	}
	return held
}

func TestManagerCachesNoFieldItWasToldToDrop(t *testing.T) {
	e := newEnv(t, setup{})
	e.create("zoo", watchURL("jNQXAC9IVRw"), func(x *v1alpha1.YouTubeExtraction) {
		x.Annotations = map[string]string{userNote: "kept by the user"}
	})
	e.waitPhase("zoo", v1alpha1.PhaseQueued, 30*time.Second)
	live := e.runningAsAWorker("zoo")

	// Every field of the list is on the server: the check below cannot
	// pass because there was nothing to drop.
	for p, held := range fields(t, live, controllers.DroppedFromCache) {
		if !held {
			t.Fatalf("the server's copy has no %s: nothing to check the cache against", p)
		}
	}
	var cached v1alpha1.YouTubeExtraction
	err := wait.PollUntilContextTimeout(t.Context(), 20*time.Millisecond, 10*time.Second, true, func(ctx context.Context) (bool, error) {
		err := e.manager.Cache().Get(ctx, client.ObjectKeyFromObject(live), &cached)
		return err == nil && cached.ResourceVersion == live.ResourceVersion, nil
	})
	if err != nil {
		t.Fatalf("the manager's cache never showed resourceVersion %s (it shows %q)", live.ResourceVersion, cached.ResourceVersion)
	}
	for p, held := range fields(t, &cached, controllers.DroppedFromCache) {
		if held {
			t.Errorf("the manager's cache holds %s, which it was told to drop", p)
		}
	}
	// What the rules read is there.
	if cached.Status.Phase != v1alpha1.PhaseRunning || cached.Status.Worker != "worker-x" || cached.Status.LastHeartbeatTime == nil || len(cached.Finalizers) == 0 {
		t.Errorf("the cache lost what the controller reads: %s, finalizers %v", describe(&cached), cached.Finalizers)
	}
}

func TestManagerWritesKeepWhatItsCacheDrops(t *testing.T) {
	e := newEnv(t, setup{controller: controllers.Options{HeartbeatTimeout: time.Second, RetryBackoff: 100 * time.Millisecond}})
	e.create("zoo", watchURL("jNQXAC9IVRw"), func(x *v1alpha1.YouTubeExtraction) {
		x.Annotations = map[string]string{userNote: "kept by the user"}
	})
	e.waitPhase("zoo", v1alpha1.PhaseQueued, 30*time.Second)
	before := e.runningAsAWorker("zoo")

	// No heartbeat follows: the manager ends attempt 1 as timed out and
	// queues attempt 2, two status writes of its own.
	after := e.waitFor("zoo", 30*time.Second, "Queued at attempt 2", func(x *v1alpha1.YouTubeExtraction) bool {
		return x.Status.Attempts == 2 && x.Status.Phase == v1alpha1.PhaseQueued
	})
	if after.Status.LastFailure == nil || after.Status.LastFailure.Reason != v1alpha1.ReasonTimeout {
		t.Fatalf("attempt 1 did not end by the manager's Timeout: %s", describe(after))
	}
	if got := after.Annotations[userNote]; got != "kept by the user" {
		t.Errorf("annotation %s = %q after the manager's writes, want it kept", userNote, got)
	}
	if after.Status.Metadata == nil || *after.Status.Metadata != *before.Status.Metadata {
		t.Errorf("status.metadata = %+v after the manager's writes, want %+v", after.Status.Metadata, before.Status.Metadata)
	}
	if len(after.Status.Artifacts) != len(before.Status.Artifacts) {
		t.Fatalf("status.artifacts = %+v after the manager's writes, want %+v", after.Status.Artifacts, before.Status.Artifacts)
	}
	for i := range before.Status.Artifacts {
		if after.Status.Artifacts[i] != before.Status.Artifacts[i] {
			t.Errorf("artifact %d = %+v after the manager's writes, want %+v", i, after.Status.Artifacts[i], before.Status.Artifacts[i])
		}
	}

	// A new spec starts over: the manager clears the earlier generation's
	// video and files, though its cache never showed them.
	after.Spec.URL = watchURL("dQw4w9WgXcQ")
	if err := k8s.Update(e.ctx(10*time.Second), after); err != nil {
		t.Fatal(err)
	}
	next := e.waitFor("zoo", 30*time.Second, "Queued for generation 2", func(x *v1alpha1.YouTubeExtraction) bool {
		return x.Status.ObservedGeneration == x.Generation && x.Status.Phase == v1alpha1.PhaseQueued
	})
	if next.Status.Metadata != nil || len(next.Status.Artifacts) > 0 {
		t.Errorf("generation %d shows the earlier generation's metadata %+v and files %+v", next.Generation, next.Status.Metadata, next.Status.Artifacts)
	}
	if next.Status.VideoID != "dQw4w9WgXcQ" || next.Annotations[userNote] != "kept by the user" {
		t.Errorf("generation %d: videoID %q, annotations %v", next.Generation, next.Status.VideoID, next.Annotations)
	}
}
