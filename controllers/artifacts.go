package controllers

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	v1alpha1 "ytx.dev/ytx/api/v1alpha1"
	"ytx.dev/ytx/internal/storage"
)

// Finalizer holds a resource until its stored files are dealt with, as its
// artifactPolicy says.
const Finalizer = "ytx.dev/artifacts"

// Event reasons of the finalizer.
const (
	reasonArtifactsDeleted    = "ArtifactsDeleted"
	reasonArtifactsRetained   = "ArtifactsRetained"
	reasonArtifactsNotDeleted = "ArtifactsNotDeleted"
)

// ensureFinalizer adds the finalizer to a live resource. It returns true when
// it wrote the resource (the write triggers another reconcile).
func (r *Reconciler) ensureFinalizer(ctx context.Context, x *v1alpha1.YouTubeExtraction) (bool, error) {
	if r.opts.Storage == nil || controllerutil.ContainsFinalizer(x, Finalizer) {
		return false, nil
	}
	controllerutil.AddFinalizer(x, Finalizer)
	return true, r.client.Update(ctx, x)
}

// finalize deletes the resource's files (artifactPolicy Delete) or leaves
// them (Retain), then lets the resource go.
//
// A worker may still be writing when the resource is deleted: it notices at
// its next status write (within its status interval) and stops, but a file it
// finished meanwhile would be orphaned. So a resource deleted while Running
// is cleaned twice: at once, and again after CleanupGrace.
//
// Storage that stays down must not block deletion forever: after
// CleanupTimeout the finalizer records a Warning event naming the files'
// location and lets go.
func (r *Reconciler) finalize(ctx context.Context, x *v1alpha1.YouTubeExtraction) (ctrl.Result, error) {
	if !controllerutil.ContainsFinalizer(x, Finalizer) {
		return ctrl.Result{}, nil
	}
	prefix := storage.Prefix(x.Namespace, x.Name)
	if x.Spec.ArtifactPolicy == v1alpha1.ArtifactPolicyRetain || r.opts.Storage == nil {
		if r.opts.Storage != nil {
			r.event(x, corev1.EventTypeNormal, reasonArtifactsRetained, "artifactPolicy Retain: files under %s stay", r.opts.Storage.URI(prefix))
		}
		return r.release(ctx, x)
	}
	deleted := x.DeletionTimestamp.Time
	err := r.opts.Storage.Delete(ctx, prefix)
	switch {
	case err != nil && r.now().Sub(deleted) >= r.opts.CleanupTimeout:
		r.event(x, corev1.EventTypeWarning, reasonArtifactsNotDeleted,
			"gave up deleting the files under %s after %s; delete them by hand: %v", r.opts.Storage.URI(prefix), r.opts.CleanupTimeout, err)
		return r.release(ctx, x)
	case err != nil:
		// The workqueue retries with backoff until the timeout.
		return ctrl.Result{}, fmt.Errorf("deleting the files of %s/%s: %w", x.Namespace, x.Name, err)
	case x.Status.Phase == v1alpha1.PhaseRunning && r.now().Sub(deleted) < r.opts.CleanupGrace:
		return ctrl.Result{RequeueAfter: deleted.Add(r.opts.CleanupGrace).Sub(r.now())}, nil
	}
	r.event(x, corev1.EventTypeNormal, reasonArtifactsDeleted, "deleted the files under %s", r.opts.Storage.URI(prefix))
	return r.release(ctx, x)
}

// release removes the finalizer; the API server then deletes the resource.
func (r *Reconciler) release(ctx context.Context, x *v1alpha1.YouTubeExtraction) (ctrl.Result, error) {
	controllerutil.RemoveFinalizer(x, Finalizer)
	return ctrl.Result{}, client.IgnoreNotFound(r.client.Update(ctx, x))
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
