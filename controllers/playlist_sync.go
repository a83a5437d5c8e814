package controllers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/robfig/cron/v3"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/log"

	v1alpha1 "ytx.dev/ytx/api/v1alpha1"
	"ytx.dev/ytx/internal/job"
	"ytx.dev/ytx/internal/playlist"
	"ytx.dev/ytx/internal/resolver"
	"ytx.dev/ytx/internal/youtube"
)

// A sync is one reading of the playlist and the children made from it:
//
//  1. The manager numbers it (status.sync + 1), writes the number, and
//     publishes a listing job carrying it. A sync starts at each new
//     generation of the spec (unless suspended) and at each time of the
//     schedule.
//  2. A worker reads the playlist, stores the listing under the sync's
//     number and writes status.listing (ListingResult).
//  3. The manager reads the stored listing, selects the entries (Filter)
//     and creates each selected video's child that the archive does not
//     hold and that does not exist, a batch per reconcile; then the sync
//     is done (status.syncedSync, lastSyncTime).
//
// A listing that fails in a way that may pass is tried again as a new
// sync, up to ListingTries times; one that fails for good (the playlist
// is private or gone) sets the Failed condition. A scheduled playlist
// tries again at its next time either way.

// step runs the sync state machine once and says when to look again.
func (r *PlaylistReconciler) step(ctx context.Context, pl *v1alpha1.YouTubePlaylist, children []v1alpha1.YouTubeExtraction, arc *playlist.Archive) (time.Duration, error) {
	sched, err := r.validate(pl)
	if err != nil {
		pl.Status.ObservedGeneration = pl.Generation
		pl.Status.NextSyncTime = nil
		return 0, nil
	}
	if pl.Status.ObservedGeneration != pl.Generation {
		pl.Status.ObservedGeneration = pl.Generation
		meta.RemoveStatusCondition(&pl.Status.Conditions, v1alpha1.ConditionPlaylistFailed)
		if !pl.Spec.Suspend {
			// Written first, published by the next reconcile: a worker
			// that read the playlist before the number is written would
			// take the job for a stale one.
			r.newSync(pl, 1)
			return time.Millisecond, nil
		}
	}
	if pl.Status.Sync > pl.Status.SyncedSync {
		if after, err := r.advance(ctx, pl, children, arc); after > 0 || err != nil || pl.Status.Sync > pl.Status.SyncedSync {
			return after, err
		}
	}
	return r.schedule(pl, sched)
}

// validate checks what admission cannot (the schedule's and match's
// syntax, the link's structure for objects made before the CRD had its
// rule) and fails the playlist for it.
func (r *PlaylistReconciler) validate(pl *v1alpha1.YouTubePlaylist) (cron.Schedule, error) {
	fail := func(reason string, err error) (cron.Schedule, error) {
		if !meta.IsStatusConditionTrue(pl.Status.Conditions, v1alpha1.ConditionPlaylistFailed) || pl.Status.ObservedGeneration != pl.Generation {
			r.event(pl, corev1.EventTypeWarning, reason, "%v", err)
		}
		r.condition(pl, v1alpha1.ConditionPlaylistFailed, metav1.ConditionTrue, reason, err.Error())
		r.condition(pl, v1alpha1.ConditionSynced, metav1.ConditionFalse, reason, "fix the spec; nothing is read until then")
		return nil, err
	}
	if _, err := youtube.ListTarget(pl.Spec.URL); err != nil {
		return fail(v1alpha1.ReasonInvalidURL, fmt.Errorf("spec.url: %w", err))
	}
	if _, err := playlist.NewFilter(pl.Spec); err != nil {
		return fail(playlist.FilterReason(err), err)
	}
	if pl.Spec.Schedule == "" {
		return nil, nil
	}
	s, err := cron.ParseStandard(pl.Spec.Schedule)
	if err != nil {
		return fail(v1alpha1.ReasonInvalidSchedule, fmt.Errorf("spec.schedule %q is not a cron schedule (five fields, as a CronJob's, or @hourly, @daily, @weekly): %v", pl.Spec.Schedule, err))
	}
	return s, nil
}

// newSync numbers a new sync; try counts the tries of one scheduled sync.
func (r *PlaylistReconciler) newSync(pl *v1alpha1.YouTubePlaylist, try int32) {
	pl.Status.Sync++
	pl.Status.SyncAttempts = try
	pl.Status.SyncRequestTime = r.nowMeta()
	r.condition(pl, v1alpha1.ConditionSynced, metav1.ConditionFalse, v1alpha1.ReasonListing,
		fmt.Sprintf("sync %d: waiting for a worker to read the playlist", pl.Status.Sync))
}

// advance moves the open sync on: publish its job, or handle its answer.
func (r *PlaylistReconciler) advance(ctx context.Context, pl *v1alpha1.YouTubePlaylist, children []v1alpha1.YouTubeExtraction, arc *playlist.Archive) (time.Duration, error) {
	l := pl.Status.Listing
	if l == nil || l.Sync != pl.Status.Sync {
		return r.publish(ctx, pl)
	}
	if l.Reason != "" {
		return r.listingFailed(pl, l), nil
	}
	done, err := r.makeChildren(ctx, pl, children, arc)
	if err != nil || !done {
		return time.Millisecond, err
	}
	pl.Status.SyncedSync = pl.Status.Sync
	pl.Status.LastSyncTime = r.nowMeta()
	pl.Status.SyncAttempts = 0
	meta.RemoveStatusCondition(&pl.Status.Conditions, v1alpha1.ConditionPlaylistFailed)
	msg := fmt.Sprintf("sync %d: %d videos listed, %d selected", pl.Status.Sync, pl.Status.Videos, pl.Status.Selected)
	if l.Truncated {
		msg += fmt.Sprintf("; the playlist has more than %d entries, the worker's cap on one listing (--max-listing-entries)", pl.Status.Videos)
	}
	if l.Message != "" {
		msg += "; " + l.Message
	}
	r.condition(pl, v1alpha1.ConditionSynced, metav1.ConditionTrue, v1alpha1.ReasonSynced, msg)
	r.event(pl, corev1.EventTypeNormal, v1alpha1.ReasonSynced, "%s", msg)
	r.mu.Lock()
	delete(r.listings, pl.UID)
	r.mu.Unlock()
	r.pruneListings(ctx, pl)
	return 0, nil
}

// pruneListings deletes the listings of earlier syncs once a sync is done:
// a subscription read every hour would otherwise keep one a sync for
// ever. The last one stays, beside the archive, for a look at what the
// playlist held. A failure is only logged: the next sync tries again.
func (r *PlaylistReconciler) pruneListings(ctx context.Context, pl *v1alpha1.YouTubePlaylist) {
	keep := playlist.ListingKey(pl.Namespace, pl.Name, string(pl.UID), pl.Status.Sync)
	prefix := playlist.Prefix(pl.Namespace, pl.Name, string(pl.UID)) + playlist.ListingsDir
	keys, err := r.store.List(ctx, prefix)
	for _, k := range keys {
		if k != keep && err == nil {
			err = r.store.Delete(ctx, k)
		}
	}
	if err != nil {
		log.FromContext(ctx).Info("deleting earlier listings failed; the next sync tries again", "playlist", pl.Namespace+"/"+pl.Name, "error", err.Error())
	}
}

// publish sends the open sync's listing job, once per ListingTimeout: the
// first time, and again while no worker answers.
func (r *PlaylistReconciler) publish(ctx context.Context, pl *v1alpha1.YouTubePlaylist) (time.Duration, error) {
	r.mu.Lock()
	s, ok := r.published[pl.UID]
	r.mu.Unlock()
	if ok && s.sync == pl.Status.Sync {
		if wait := s.at.Add(r.opts.ListingTimeout).Sub(r.now()); wait > 0 {
			return wait, nil
		}
	}
	m := job.Message{Kind: job.KindListing, Namespace: pl.Namespace, Name: pl.Name, UID: pl.UID,
		Generation: pl.Generation, Attempt: int32(pl.Status.Sync)}
	if err := r.publisher.Publish(ctx, m); err != nil {
		r.event(pl, corev1.EventTypeWarning, v1alpha1.ReasonPublishFailed, "sync %d: %v", pl.Status.Sync, err)
		return 0, err
	}
	r.mu.Lock()
	r.published[pl.UID] = sentSync{sync: pl.Status.Sync, at: r.now()}
	r.mu.Unlock()
	return r.opts.ListingTimeout, nil
}

// listingFailed decides after a failed listing: try again later, or fail.
func (r *PlaylistReconciler) listingFailed(pl *v1alpha1.YouTubePlaylist, l *v1alpha1.ListingResult) time.Duration {
	if l.Retryable && pl.Status.SyncAttempts < r.opts.ListingTries {
		wait := r.opts.RetryBackoff << (pl.Status.SyncAttempts - 1)
		if left := l.Time.Add(wait).Sub(r.now()); left > 0 {
			return left
		}
		r.newSync(pl, pl.Status.SyncAttempts+1)
		return time.Millisecond
	}
	reason := l.Reason
	if l.Retryable {
		reason = v1alpha1.ReasonListingFailed
	}
	msg := fmt.Sprintf("sync %d: %s (%s)", pl.Status.Sync, l.Message, l.Reason)
	r.condition(pl, v1alpha1.ConditionPlaylistFailed, metav1.ConditionTrue, reason, msg)
	r.condition(pl, v1alpha1.ConditionSynced, metav1.ConditionFalse, reason, msg)
	r.event(pl, corev1.EventTypeWarning, reason, "%s", msg)
	pl.Status.SyncedSync = pl.Status.Sync
	return 0
}

// schedule starts the next scheduled sync when its time has come, or says
// when it comes. Times missed while the manager was down make one sync,
// not one each, as a CronJob with concurrencyPolicy Forbid.
func (r *PlaylistReconciler) schedule(pl *v1alpha1.YouTubePlaylist, sched cron.Schedule) (time.Duration, error) {
	if sched == nil || pl.Spec.Suspend || failedForGood(pl) {
		pl.Status.NextSyncTime = nil
		return 0, nil
	}
	from := pl.CreationTimestamp.Time
	if t := pl.Status.SyncRequestTime; t != nil && t.After(from) {
		from = t.Time
	}
	next := sched.Next(from)
	if wait := next.Sub(r.now()); wait > 0 {
		pl.Status.NextSyncTime = &metav1.Time{Time: next}
		return wait, nil
	}
	r.newSync(pl, 1)
	pl.Status.NextSyncTime = &metav1.Time{Time: sched.Next(r.now())}
	return time.Millisecond, nil
}

// failedForGood: the spec is invalid (validate); a scheduled playlist whose
// listing failed tries again at its next time.
func failedForGood(pl *v1alpha1.YouTubePlaylist) bool {
	c := meta.FindStatusCondition(pl.Status.Conditions, v1alpha1.ConditionPlaylistFailed)
	if c == nil || c.Status != metav1.ConditionTrue {
		return false
	}
	switch c.Reason {
	case v1alpha1.ReasonInvalidURL, v1alpha1.ReasonInvalidMatch, v1alpha1.ReasonInvalidPublishedAfter, v1alpha1.ReasonInvalidSchedule:
		return true
	}
	return false
}

// makeChildren creates the children of the open sync's listing, at most
// CreateBatch of them; done says none is left to create.
func (r *PlaylistReconciler) makeChildren(ctx context.Context, pl *v1alpha1.YouTubePlaylist, children []v1alpha1.YouTubeExtraction, arc *playlist.Archive) (bool, error) {
	listing, err := r.readListing(ctx, pl)
	if err != nil {
		return false, err
	}
	filter, err := playlist.NewFilter(pl.Spec)
	if err != nil {
		return false, err
	}
	selected := filter.Select(listing.Entries)
	pl.Status.Title, pl.Status.Channel = listing.Title, listing.Channel
	pl.Status.Videos, pl.Status.Selected = int32(len(listing.Entries)), int32(len(selected))
	exists := make(map[string]bool, len(children))
	for i := range children {
		exists[children[i].Name] = true
	}
	made := 0
	for _, e := range selected {
		if arc.Has(e.ID) || exists[playlist.ChildName(pl.Name, e.ID)] {
			continue
		}
		if made == r.opts.CreateBatch {
			return false, nil
		}
		if err := r.create(ctx, pl, e.ID); err != nil {
			return false, err
		}
		made++
	}
	return true, nil
}

// readListing returns the listing the worker stored for the open sync,
// read from the storage once per sync.
func (r *PlaylistReconciler) readListing(ctx context.Context, pl *v1alpha1.YouTubePlaylist) (*resolver.Listing, error) {
	r.mu.Lock()
	held, ok := r.listings[pl.UID]
	r.mu.Unlock()
	if ok && held.sync == pl.Status.Sync {
		return held.listing, nil
	}
	l, err := r.loadListing(ctx, pl)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	r.listings[pl.UID] = syncListing{sync: pl.Status.Sync, listing: l}
	r.mu.Unlock()
	return l, nil
}

// loadListing reads and decodes the open sync's listing from the storage.
func (r *PlaylistReconciler) loadListing(ctx context.Context, pl *v1alpha1.YouTubePlaylist) (*resolver.Listing, error) {
	key := playlist.ListingKey(pl.Namespace, pl.Name, string(pl.UID), pl.Status.Sync)
	rc, err := r.store.Open(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("reading the listing %s: %w", r.store.URI(key), err)
	}
	defer rc.Close() //nolint:errcheck // read only
	var l resolver.Listing
	if err := json.NewDecoder(rc).Decode(&l); err != nil {
		return nil, fmt.Errorf("reading the listing %s: %w", r.store.URI(key), err)
	}
	return &l, nil
}

// create makes the child of one video. Its name is a function of the
// playlist and the video, so a create that finds the child already there
// (another sync, a duplicated job, a restarted manager) changes nothing.
func (r *PlaylistReconciler) create(ctx context.Context, pl *v1alpha1.YouTubePlaylist, id string) error {
	x := child(pl, id)
	if err := controllerutil.SetControllerReference(pl, x, r.client.Scheme()); err != nil {
		return err
	}
	err := r.client.Create(ctx, x)
	if apierrors.IsAlreadyExists(err) {
		return nil
	}
	var status apierrors.APIStatus
	if err != nil && errors.As(err, &status) && apierrors.IsInvalid(err) {
		// The template makes an invalid extraction (a label value the
		// API server refuses): no retry mends that.
		r.event(pl, corev1.EventTypeWarning, v1alpha1.EventInvalidTemplate, "creating the extraction of %s: %v", id, err)
	}
	return err
}

// child is the extraction of video id that pl makes.
func child(pl *v1alpha1.YouTubePlaylist, id string) *v1alpha1.YouTubeExtraction {
	x := &v1alpha1.YouTubeExtraction{
		ObjectMeta: metav1.ObjectMeta{
			Namespace:   pl.Namespace,
			Name:        playlist.ChildName(pl.Name, id),
			Labels:      map[string]string{},
			Annotations: map[string]string{},
			// The extraction controller's own finalizer too: it would
			// add it at once, one write more per child at the manager's
			// client limit (a 1,000-video channel: 20 s more).
			Finalizers: []string{playlist.Finalizer, Finalizer},
		},
		Spec: pl.Spec.Template.Spec.ExtractionSpec("https://www.youtube.com/watch?v=" + id),
	}
	x.Spec.Playlist = &v1alpha1.PlaylistRef{Name: pl.Name, UID: string(pl.UID)}
	for k, v := range pl.Spec.Template.Metadata.Labels {
		x.Labels[k] = v
	}
	for k, v := range pl.Spec.Template.Metadata.Annotations {
		x.Annotations[k] = v
	}
	x.Labels[playlist.LabelPlaylist] = playlist.PlaylistLabel(pl.Name)
	x.Labels[playlist.LabelPlaylistUID] = string(pl.UID)
	x.Labels[playlist.LabelVideo] = playlist.VideoHash(id)
	x.Annotations[playlist.AnnotationVideoID] = id
	x.Annotations[playlist.AnnotationPlaylist] = pl.Name
	return x
}
