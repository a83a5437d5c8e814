package workers

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "ytx.dev/ytx/api/v1alpha1"
	"ytx.dev/ytx/internal/failure"
	"ytx.dev/ytx/internal/job"
	"ytx.dev/ytx/internal/playlist"
	"ytx.dev/ytx/internal/resolver"
	"ytx.dev/ytx/internal/scratch"
	"ytx.dev/ytx/internal/storage"
	"ytx.dev/ytx/internal/youtube"
)

// +kubebuilder:rbac:groups=ytx.dev,resources=youtubeplaylists,verbs=get
// +kubebuilder:rbac:groups=ytx.dev,resources=youtubeplaylists/status,verbs=get;update;patch

// DefaultMaxListingEntries caps one listing when Options.MaxListingEntries
// is 0: a channel of that many videos is read in about 200 pages.
const DefaultMaxListingEntries = 20000

// HandleListing reads the playlist that m names (m.Kind is
// job.KindListing, m.Attempt its status.sync), stores the listing and
// writes the result onto the playlist's status.
//
// A listing job changes nothing but the playlist's own listing file and
// status.listing, so it needs no claim: two workers that run the same sync
// (a duplicated message) store the same listing under the same key, and
// the second status write finds the sync answered and stops. The manager
// makes the extractions from the stored listing; workers never create
// resources.
func (w *Worker) HandleListing(ctx context.Context, m job.Message) error {
	log := w.log.WithValues(KeyJob, "listing "+m.String())
	pl, drop, err := w.listingTarget(ctx, m)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrHandBack, err)
	}
	if drop != "" {
		log.V(1).Info(LogDropped, KeyWhy, drop)
		return nil
	}
	start := w.clock.Now()
	result := w.list(ctx, pl, m)
	if ctx.Err() != nil && result.Reason != "" {
		// Stopping: the manager sends the sync again after its timeout.
		return fmt.Errorf("%w: %v", ErrHandBack, ctx.Err())
	}
	result.Worker, result.Time = w.opts.Name, metav1.NewTime(w.clock.Now())
	if err := w.writeListing(ctx, m, result); err != nil {
		return fmt.Errorf("writing the listing of %s: %w", m, err)
	}
	log.Info(LogEnded, KeyReason, result.Reason, "videos", result.Videos, "took", w.clock.Since(start).String())
	return nil
}

// listingTarget reads the playlist past any cache and says why m is not
// to be run, if it is not.
func (w *Worker) listingTarget(ctx context.Context, m job.Message) (*v1alpha1.YouTubePlaylist, string, error) {
	var pl v1alpha1.YouTubePlaylist
	err := w.reader.Get(ctx, m.NamespacedName(), &pl)
	switch {
	case apierrors.IsNotFound(err):
		return nil, "the playlist was deleted", nil
	case err != nil:
		return nil, "", err
	}
	return &pl, listingDropReason(&pl, m), nil
}

// listingDropReason is dropReason for a listing job.
func listingDropReason(pl *v1alpha1.YouTubePlaylist, m job.Message) string {
	switch {
	case pl.UID != m.UID:
		return "the playlist was deleted and created again"
	case !pl.DeletionTimestamp.IsZero():
		return "the playlist is being deleted"
	case pl.Status.Sync != int64(m.Attempt):
		return fmt.Sprintf("superseded by sync %d", pl.Status.Sync)
	case pl.Status.Listing != nil && pl.Status.Listing.Sync >= int64(m.Attempt):
		return fmt.Sprintf("sync %d is already answered", m.Attempt)
	}
	return ""
}

// list reads and stores the listing; a failure is in the result.
func (w *Worker) list(ctx context.Context, pl *v1alpha1.YouTubePlaylist, m job.Message) v1alpha1.ListingResult {
	res := v1alpha1.ListingResult{Sync: int64(m.Attempt)}
	listing, err := w.readListing(ctx, pl)
	if err == nil {
		err = w.storeListing(ctx, pl, int64(m.Attempt), listing)
	}
	if err != nil {
		f, ok := failure.As(err)
		if !ok {
			f = youtube.Classify(err)
		}
		res.Reason, res.Message, res.Retryable = f.Reason, f.Message, f.Retryable
		return res
	}
	res.Videos, res.Truncated, res.Resolver = int32(len(listing.Entries)), listing.Truncated, listing.Resolver
	res.Message = listing.Note
	return res
}

// readListing lists the playlist through the resolver chain and, when the
// filter needs dates the listing lacks, reads them.
func (w *Worker) readListing(ctx context.Context, pl *v1alpha1.YouTubePlaylist) (*resolver.Listing, error) {
	target, err := youtube.ListTarget(pl.Spec.URL)
	if err != nil {
		return nil, failure.Permanent(v1alpha1.ReasonInvalidURL, err, "spec.url: %v", err)
	}
	filter, err := playlist.NewFilter(pl.Spec)
	if err != nil {
		return nil, failure.Permanent(playlist.FilterReason(err), err, "%v", err)
	}
	dir, err := scratch.New(w.opts.ScratchDir, "listing-"+string(pl.UID))
	if err != nil {
		return nil, failure.Scratch("making a job directory in", scratchName(w.opts.ScratchDir), err)
	}
	defer dir.Close() //nolint:errcheck // best effort; a later worker's Sweep removes what is left
	req, err := w.request(ctx, "", dir.Path)
	if err != nil {
		return nil, err
	}
	max := w.opts.MaxListingEntries
	if max <= 0 {
		max = DefaultMaxListingEntries
	}
	listing, err := w.chain.List(ctx, resolver.ListRequest{Request: req, Target: target, MaxEntries: max})
	if err != nil {
		return nil, err
	}
	if filter.NeedsDates() {
		w.fillDates(ctx, pl, filter, listing, req)
	}
	return listing, nil
}

// fillDates reads the date of each entry that the filter needs one for, in
// the listing's order, until spec.maxVideos entries are taken: one request
// per video, the cost the README states. A channel lists newest first, so
// its first entry older than publishedAfter ends the reading. An entry
// the playlist's archive holds is counted as taken without reading it: it
// was taken before. A date that cannot be read leaves the entry undated,
// and the filter skips it.
func (w *Worker) fillDates(ctx context.Context, pl *v1alpha1.YouTubePlaylist, f playlist.Filter, l *resolver.Listing, req resolver.Request) {
	archive := w.readArchive(ctx, pl)
	target, _ := youtube.ListTarget(pl.Spec.URL)
	taken := 0
	for i := range l.Entries {
		if pl.Spec.MaxVideos != nil && taken >= int(*pl.Spec.MaxVideos) || ctx.Err() != nil {
			return
		}
		e := &l.Entries[i]
		v := f.Judge(*e)
		if v == playlist.NeedDate && archive.Has(e.ID) {
			taken++
			continue
		}
		if v == playlist.NeedDate {
			e.Published = w.publishDate(ctx, req, e.ID)
			v = f.Judge(*e)
		}
		if v == playlist.Take {
			taken++
		}
		if target.Kind == resolver.TargetChannel && !e.Published.IsZero() && v == playlist.Skip && f.Judge(resolver.Entry{ID: e.ID, Title: e.Title, Live: e.Live}) != playlist.Skip {
			return // older than publishedAfter: so is every later upload
		}
	}
}

// publishDate reads one video's date with the first resolver that can.
func (w *Worker) publishDate(ctx context.Context, req resolver.Request, id string) time.Time {
	req.VideoID = id
	for _, r := range w.chain.Resolvers() {
		v, err := r.Resolve(ctx, req)
		if err == nil {
			return v.PublishDate
		}
		w.log.V(1).Info("reading a video's date failed", "video", id, "resolver", r.Name(), "error", err.Error())
	}
	return time.Time{}
}

// readArchive reads the playlist's archive; a missing or unreadable one is
// empty (the manager, its writer, reads it strictly).
func (w *Worker) readArchive(ctx context.Context, pl *v1alpha1.YouTubePlaylist) *playlist.Archive {
	r, err := w.store.Open(ctx, playlist.ArchiveKey(pl.Namespace, pl.Name, string(pl.UID)))
	if err != nil {
		return playlist.NewArchive()
	}
	defer r.Close() //nolint:errcheck // read only
	a, err := playlist.ParseArchive(r)
	if err != nil {
		return playlist.NewArchive()
	}
	return a
}

// storeListing puts the listing where the manager reads it.
func (w *Worker) storeListing(ctx context.Context, pl *v1alpha1.YouTubePlaylist, sync int64, l *resolver.Listing) error {
	body, err := json.Marshal(l)
	if err != nil {
		return err
	}
	key := playlist.ListingKey(pl.Namespace, pl.Name, string(pl.UID), sync)
	_, err = w.store.Put(ctx, key, bytes.NewReader(body), storage.PutOptions{Size: int64(len(body)), MediaType: "application/json", Writer: w.opts.Name})
	if err != nil {
		return failure.Retryable(v1alpha1.ReasonStorageFailed, err, "storing the listing at %s: %v", w.store.URI(key), err)
	}
	return nil
}

// writeListing puts the result on the playlist's status, unless the sync
// was answered or superseded meanwhile.
func (w *Worker) writeListing(ctx context.Context, m job.Message, res v1alpha1.ListingResult) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), w.opts.FinishTimeout)
	defer cancel()
	return retryAPI(ctx, func(ctx context.Context) (bool, error) {
		var pl v1alpha1.YouTubePlaylist
		if err := w.reader.Get(ctx, m.NamespacedName(), &pl); err != nil {
			return apierrors.IsNotFound(err), client.IgnoreNotFound(err)
		}
		if why := listingDropReason(&pl, m); why != "" {
			w.log.V(1).Info(LogDropped, KeyJob, "listing "+m.String(), KeyWhy, why)
			return true, nil
		}
		pl.Status.Listing = &res
		err := w.client.Status().Update(ctx, &pl)
		switch {
		case err == nil:
			return true, nil
		case apierrors.IsConflict(err), isTransient(err):
			return false, nil
		}
		return false, err
	})
}

// isTransient is an API error that passes.
func isTransient(err error) bool {
	return apierrors.IsServerTimeout(err) || apierrors.IsTimeout(err) || apierrors.IsTooManyRequests(err) ||
		apierrors.IsServiceUnavailable(err) || apierrors.IsInternalError(err) || errors.Is(err, context.DeadlineExceeded)
}
