package controllers

import (
	"context"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/log"

	v1alpha1 "ytx.dev/ytx/api/v1alpha1"
	"ytx.dev/ytx/internal/playlist"
	"ytx.dev/ytx/internal/storage"
)

// Finalizer holds a resource until its stored files are dealt with, as its
// artifactPolicy says.
const Finalizer = "ytx.dev/artifacts"

// ensureFinalizer adds the finalizer to a live resource. It returns true when
// it wrote the resource (the write triggers another reconcile).
func (r *Reconciler) ensureFinalizer(ctx context.Context, x *v1alpha1.YouTubeExtraction) (bool, error) {
	if r.opts.Storage == nil || controllerutil.ContainsFinalizer(x, Finalizer) {
		return false, nil
	}
	controllerutil.AddFinalizer(x, Finalizer)
	return true, r.writeMeta(ctx, x)
}

// finalize deletes the resource's files (artifactPolicy Delete) or leaves
// them (Retain), then lets the resource go.
//
// The files it deletes are the extraction's own, as the storage layout
// names them: everything under <namespace>/<name>/<uid>/, and the files of
// the earlier layout (<namespace>/<name>/<file>) stored since the
// resource was created (storage.OwnedLegacyKeys). Never a URI from status,
// and never a retained file of an earlier resource of the same name.
//
// A worker may still be writing when the resource is deleted: it notices at
// its next status write (within its status interval), stops and removes
// what it stored, but a file it finished meanwhile would be orphaned. So a
// resource deleted while Running is cleaned twice: at once, and again after
// CleanupGrace.
//
// Storage that stays down must not block deletion forever: after
// CleanupTimeout the finalizer records a Warning event naming the files'
// location and lets go.
func (r *Reconciler) finalize(ctx context.Context, x *v1alpha1.YouTubeExtraction) (ctrl.Result, error) {
	if !controllerutil.ContainsFinalizer(x, Finalizer) {
		return ctrl.Result{}, nil
	}
	prefix := playlist.ExtractionPrefix(x)
	if x.Spec.ArtifactPolicy == v1alpha1.ArtifactPolicyRetain || r.opts.Storage == nil {
		if r.opts.Storage != nil {
			r.event(x, corev1.EventTypeNormal, v1alpha1.EventArtifactsRetained, "artifactPolicy Retain: files under %s stay", r.opts.Storage.URI(prefix))
		}
		return r.release(ctx, x)
	}
	deleted := x.DeletionTimestamp.Time
	legacy, err := r.deleteOwn(ctx, x)
	switch {
	case err != nil && r.now().Sub(deleted) >= r.opts.CleanupTimeout:
		r.event(x, corev1.EventTypeWarning, v1alpha1.EventArtifactsNotDeleted,
			"gave up deleting the files under %s after %s; delete them by hand: %v", r.opts.Storage.URI(prefix), r.opts.CleanupTimeout, err)
		return r.release(ctx, x)
	case err != nil:
		// The workqueue retries with backoff until the timeout.
		return ctrl.Result{}, fmt.Errorf("deleting the files of %s/%s: %w", x.Namespace, x.Name, err)
	case x.Status.Phase == v1alpha1.PhaseRunning && r.now().Sub(deleted) < r.opts.CleanupGrace:
		return ctrl.Result{RequeueAfter: deleted.Add(r.opts.CleanupGrace).Sub(r.now())}, nil
	}
	note := ""
	if legacy > 0 {
		note = fmt.Sprintf(" and %d stored under %s before ytx kept files by UID", legacy, r.opts.Storage.URI(storage.NamePrefix(x.Namespace, x.Name)))
	}
	r.event(x, corev1.EventTypeNormal, v1alpha1.EventArtifactsDeleted, "deleted the files under %s%s", r.opts.Storage.URI(prefix), note)
	return r.release(ctx, x)
}

// deleteOwn deletes every file of x, as the layout names them, and returns
// how many of them were stored under the earlier layout.
func (r *Reconciler) deleteOwn(ctx context.Context, x *v1alpha1.YouTubeExtraction) (legacy int, err error) {
	if err := r.opts.Storage.Delete(ctx, playlist.ExtractionPrefix(x)); err != nil {
		return 0, err
	}
	keys, err := storage.OwnedLegacyKeys(ctx, r.opts.Storage, x.Namespace, x.Name, x.CreationTimestamp.Time)
	if err != nil {
		return 0, err
	}
	for _, k := range keys {
		if err := r.opts.Storage.Delete(ctx, k); err != nil {
			return 0, err
		}
	}
	return len(keys), nil
}

// tidy removes, from a finished resource, the files of its current and
// earlier attempts that its status does not list. An attempt that died
// (kill -9, a lost node) or failed transiently may have stored some
// (info.json comes first) before the last attempt ended; a stale worker
// (paused past its claim) may finish an upload under its own attempt's
// keys after a newer attempt succeeded. Nothing else would remove them
// while the resource lives, and nobody knows they are there.
//
// A key of an attempt after the current one, or one the layout did not
// make, is left alone: it can only be newer than what this read shows.
// A resource that succeeded at its first attempt needs no tidying (its
// worker pruned what the result does not list, and no other attempt
// wrote), which spares a listing per resync.
//
// The artifacts it keeps are read from the API server, as the cache drops
// them (cache.go): one GET, for the resources that had more than one
// attempt. It returns when to look again: CleanupGrace after completion,
// for an upload that was in flight when the attempt ended. Once a tidy
// after that has run, this process does not list the resource's files
// again (tidyMarks): a resync of finished resources costs no request.
func (r *Reconciler) tidy(ctx context.Context, x *v1alpha1.YouTubeExtraction) (time.Duration, error) {
	current := storage.Attempt{Generation: x.Status.ObservedGeneration, Attempt: x.Status.Attempts}
	if r.opts.Storage == nil || !x.Status.Phase.Finished() ||
		(x.Status.Phase == v1alpha1.PhaseSucceeded && current == storage.Attempt{Generation: 1, Attempt: 1}) {
		return 0, nil
	}
	key := client.ObjectKeyFromObject(x)
	mark := tidyMark{uid: x.UID, at: current}
	if r.tidied.done(key, mark) {
		return 0, nil
	}
	listed, ok, err := r.listedFiles(ctx, x)
	if err != nil || !ok {
		return 0, err
	}
	prefix := playlist.ExtractionPrefix(x)
	keys, err := r.opts.Storage.List(ctx, prefix)
	if err != nil {
		return 0, fmt.Errorf("listing the files of finished %s/%s: %w", x.Namespace, x.Name, err)
	}
	ended := func(key string) bool {
		a, _, ok := storage.ParseAttemptKey(prefix, key)
		return ok && !current.Before(a)
	}
	for _, k := range keys {
		if !ended(k) || listed[r.opts.Storage.URI(k)] {
			continue
		}
		if err := r.opts.Storage.Delete(ctx, k); err != nil {
			return 0, fmt.Errorf("removing the unlisted file %s: %w", k, err)
		}
		log.FromContext(ctx).Info("removed a file no attempt's result lists", "key", k)
	}
	if err := r.opts.Storage.DeleteIncomplete(ctx, prefix, ended); err != nil {
		return 0, err
	}
	if done := x.Status.CompletionTime; done != nil {
		if again := done.Add(r.opts.CleanupGrace).Sub(r.now()); again > 0 {
			return again, nil
		}
	}
	r.tidied.mark(key, mark)
	return 0, nil
}

// listedFiles reads x from the API server and returns the URIs its status
// lists. ok is false when the server's copy is no longer the finished
// attempt that x shows (it moved on, or went): its own reconcile follows.
func (r *Reconciler) listedFiles(ctx context.Context, x *v1alpha1.YouTubeExtraction) (listed map[string]bool, ok bool, err error) {
	var live v1alpha1.YouTubeExtraction
	if err := r.reader.Get(ctx, client.ObjectKeyFromObject(x), &live); err != nil {
		return nil, false, client.IgnoreNotFound(err)
	}
	if live.UID != x.UID || live.Status.ObservedGeneration != x.Status.ObservedGeneration ||
		live.Status.Attempts != x.Status.Attempts || live.Status.Phase != x.Status.Phase {
		return nil, false, nil
	}
	listed = map[string]bool{}
	for _, a := range live.Status.Artifacts {
		listed[a.URI] = true
	}
	return listed, true, nil
}

// tidyMark names a finished attempt of a resource.
type tidyMark struct {
	uid types.UID
	at  storage.Attempt
}

// tidyMarks are the finished attempts this process tidied for the last
// time, by resource.
type tidyMarks struct {
	mu sync.Mutex
	m  map[types.NamespacedName]tidyMark
}

func (t *tidyMarks) done(key types.NamespacedName, m tidyMark) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	got, ok := t.m[key]
	return ok && got == m
}

func (t *tidyMarks) mark(key types.NamespacedName, m tidyMark) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.m == nil {
		t.m = map[types.NamespacedName]tidyMark{}
	}
	t.m[key] = m
}

func (t *tidyMarks) forget(key types.NamespacedName) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.m, key)
}

// release removes the finalizer; the API server then deletes the resource.
func (r *Reconciler) release(ctx context.Context, x *v1alpha1.YouTubeExtraction) (ctrl.Result, error) {
	controllerutil.RemoveFinalizer(x, Finalizer)
	return ctrl.Result{}, client.IgnoreNotFound(r.writeMeta(ctx, x))
}

// cleanupDefaults are the finalizer's timings.
func cleanupDefaults(o *Options) {
	if o.CleanupGrace <= 0 {
		o.CleanupGrace = 15 * time.Second
	}
	if o.CleanupTimeout <= 0 {
		o.CleanupTimeout = 5 * time.Minute
	}
}
