package controllers

import (
	"unique"

	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "ytx.dev/ytx/api/v1alpha1"
)

// What the manager keeps in memory. Its informer cache holds every
// extraction of the namespaces it watches, finished ones included, for as
// long as they exist: tens of thousands in a busy cluster. Most of each
// object is never read by the controller, so the cache drops it on arrival
// (Trim):
//
//   - metadata.managedFields: the API server's record of who set what,
//     often the largest part of a small object;
//   - metadata.annotations: kubectl's last-applied-configuration (a copy of
//     the spec) and whatever users put there; no rule of the controller
//     reads an annotation;
//   - status.metadata: what YouTube says of the video (title, description
//     and the rest), which only users and the worker read;
//   - status.artifacts: the stored files; the one rule that needs them
//     (tidy, after a retried attempt) reads the object from the API server.
//
// A finished extraction (Succeeded or Failed), the bulk of any cluster's,
// keeps even less: its rules are TTL expiry, tidying, the finalizer and a
// new generation, which read its phase, generation, attempts and times,
// never its conditions, failure, worker or progress
// (DroppedFromFinished). A running one keeps the status fields the state
// machine decides by, the conditions whole among them, because a merge
// patch replaces a list whole.
//
// A field dropped here is one the manager cannot see; so it must never
// write it by accident. Its writes are merge patches of what it changed
// (writes.go), never whole objects; a new generation, which must start
// from an empty status, writes the whole status, with explicit nulls for
// what it no longer has.

// DroppedFromCache lists, as JSON paths, the fields the manager's cache
// drops from every extraction. Tests check the list against what the
// running manager holds; docs/design.md explains it.
var DroppedFromCache = []string{
	"metadata.managedFields",
	"metadata.annotations",
	"status.metadata",
	"status.artifacts",
}

// DroppedFromFinished lists the fields the cache also drops from a
// finished extraction.
var DroppedFromFinished = []string{
	"status.videoID",
	"status.resolver",
	"status.progress",
	"status.lastFailure",
	"status.rateLimitedAttempts",
	"status.rateLimitedSince",
	"status.worker",
	"status.lastHeartbeatTime",
	"status.conditions",
}

// Trim is the cache's transform for extractions: it drops DroppedFromCache
// from each object as the informer receives it, before it is stored, and
// DroppedFromFinished from a finished one.
func Trim(obj any) (any, error) {
	x, ok := obj.(*v1alpha1.YouTubeExtraction)
	if !ok {
		return obj, nil
	}
	x.ManagedFields = nil
	x.Annotations = nil
	x.Status.Metadata = nil
	x.Status.Artifacts = nil
	intern(x)
	if x.Status.Phase.Finished() {
		s := &x.Status
		s.VideoID, s.Resolver, s.Worker = "", "", ""
		s.Progress, s.LastFailure = nil, nil
		s.RateLimitedAttempts, s.RateLimitedSince = 0, nil
		s.LastHeartbeatTime, s.Conditions = nil, nil
	}
	return x, nil
}

// intern makes the strings that most cached objects share (namespace,
// finalizer, phase, policy) one copy each: each decoded object arrives with
// its own. It saves about a tenth of what a trimmed object takes.
func intern(x *v1alpha1.YouTubeExtraction) {
	x.Namespace = unique.Make(x.Namespace).Value()
	for i, f := range x.Finalizers {
		x.Finalizers[i] = unique.Make(f).Value()
	}
	x.Status.Phase = unique.Make(x.Status.Phase).Value()
	x.Spec.ArtifactPolicy = unique.Make(x.Spec.ArtifactPolicy).Value()
}

// CacheOptions makes a cache that trims extractions (Trim) and strips the
// managedFields of anything else it may come to hold.
func CacheOptions(o cache.Options) cache.Options {
	if o.ByObject == nil {
		o.ByObject = map[client.Object]cache.ByObject{}
	}
	o.ByObject[&v1alpha1.YouTubeExtraction{}] = cache.ByObject{Transform: Trim}
	o.DefaultTransform = cache.TransformStripManagedFields()
	return o
}
