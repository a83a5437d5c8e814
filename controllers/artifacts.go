package controllers

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/log"

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

// tidy removes, from a resource that ended Failed, the files that its
// status does not list. An attempt that died (kill -9, a lost node) or
// failed transiently may have stored some (info.json comes first) before
// the last attempt failed for good; nothing else would ever remove them
// while the resource lives, and nobody knows they are there. A Succeeded
// resource needs no tidying: its worker prunes what the result does not
// list before it reports success.
func (r *Reconciler) tidy(ctx context.Context, x *v1alpha1.YouTubeExtraction) error {
	if r.opts.Storage == nil || x.Status.Phase != v1alpha1.PhaseFailed {
		return nil
	}
	prefix := storage.Prefix(x.Namespace, x.Name)
	keys, err := r.opts.Storage.List(ctx, prefix)
	if err != nil {
		return fmt.Errorf("listing the files of failed %s/%s: %w", x.Namespace, x.Name, err)
	}
	listed := map[string]bool{}
	for _, a := range x.Status.Artifacts {
		listed[a.URI] = true
	}
	for _, k := range keys {
		if listed[r.opts.Storage.URI(k)] {
			continue
		}
		if err := r.opts.Storage.Delete(ctx, k); err != nil {
			return fmt.Errorf("removing the unlisted file %s: %w", k, err)
		}
		log.FromContext(ctx).Info("removed a file no attempt's result lists", "key", k)
	}
	return r.opts.Storage.DeleteIncomplete(ctx, prefix)
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
