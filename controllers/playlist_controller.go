package controllers

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/recorder"

	v1alpha1 "ytx.dev/ytx/api/v1alpha1"
	"ytx.dev/ytx/internal/playlist"
	"ytx.dev/ytx/internal/resolver"
	"ytx.dev/ytx/internal/storage"
)

// The playlist controller makes a YouTubePlaylist's extractions, as the
// CronJob controller makes Jobs. It never talks to YouTube: it asks a
// worker for the listing (a job of kind listing, numbered by status.sync),
// reads the listing the worker stored, and creates one child
// YouTubeExtraction per selected video that its archive does not hold.
// It is the one writer of each playlist's archive (the leader, alone):
// S3 has no append, so a second writer would lose the first one's lines.

// PlaylistOptions tune the playlist controller; zero values take the
// defaults.
type PlaylistOptions struct {
	// ListingTimeout sends a sync's listing job again when no worker
	// answered it this long after it was sent (a lost message, a worker
	// that died); duplicates are harmless.
	ListingTimeout time.Duration
	// ListingTries is how many times a sync's listing is tried when it
	// fails in a way that may pass, RetryBackoff apart (doubling).
	ListingTries int32
	RetryBackoff time.Duration
	// CreateBatch is how many children one reconcile creates at most; a
	// channel's thousands are made over several, so one playlist never
	// holds a reconcile for minutes.
	CreateBatch int
	// MaxConcurrentReconciles is the number of playlists reconciled at once.
	MaxConcurrentReconciles int
	// Name names the controller (unique per process).
	Name string
	// Storage holds the listings and archives. Required.
	Storage storage.Store
}

func (o *PlaylistOptions) defaults() {
	if o.ListingTimeout <= 0 {
		o.ListingTimeout = 10 * time.Minute
	}
	if o.ListingTries <= 0 {
		o.ListingTries = 3
	}
	if o.RetryBackoff <= 0 {
		o.RetryBackoff = 30 * time.Second
	}
	if o.CreateBatch <= 0 {
		o.CreateBatch = 100
	}
	if o.MaxConcurrentReconciles <= 0 {
		o.MaxConcurrentReconciles = 2
	}
	if o.Name == "" {
		o.Name = "youtubeplaylist"
	}
}

// PlaylistReconciler drives each YouTubePlaylist's syncs.
type PlaylistReconciler struct {
	client    client.Client
	reader    client.Reader
	publisher Publisher
	store     storage.Store
	events    recorder.EventRecorder
	opts      PlaylistOptions
	now       func() time.Time

	archives *archives

	// published remembers, per playlist, the sync this process sent and
	// when: the cache may show the status from before the send.
	mu        sync.Mutex
	published map[types.UID]sentSync
	// permanent remembers failed children whose reason was read: the
	// cache drops a finished child's conditions.
	permanent sync.Map // types.UID → bool
	// listings holds, per playlist, the listing of its open sync once
	// read (guarded by mu): a channel's children are made a batch per
	// reconcile, and each would otherwise read and decode the whole
	// listing from the storage again.
	listings map[types.UID]syncListing
}

type sentSync struct {
	sync int64
	at   time.Time
}

type syncListing struct {
	sync    int64
	listing *resolver.Listing
}

// +kubebuilder:rbac:groups=ytx.dev,resources=youtubeplaylists,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=ytx.dev,resources=youtubeplaylists/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=ytx.dev,resources=youtubeplaylists/finalizers,verbs=update
// +kubebuilder:rbac:groups=ytx.dev,resources=youtubeextractions,verbs=create;deletecollection

// NewPlaylists builds the playlist controller and registers it with mgr.
func NewPlaylists(mgr ctrl.Manager, publisher Publisher, opts PlaylistOptions) (*PlaylistReconciler, error) {
	r := newPlaylistReconciler(mgr.GetClient(), mgr.GetAPIReader(), publisher, mgr.GetEventRecorder("ytx-controller"), opts)
	opts = r.opts
	if err := mgr.GetFieldIndexer().IndexField(context.Background(), &v1alpha1.YouTubeExtraction{}, ownerIndex, ownerUID); err != nil {
		return nil, err
	}
	return r, ctrl.NewControllerManagedBy(mgr).
		For(&v1alpha1.YouTubePlaylist{}).
		Owns(&v1alpha1.YouTubeExtraction{}).
		Named(opts.Name).
		WithOptions(controller.Options{
			MaxConcurrentReconciles: opts.MaxConcurrentReconciles,
			RateLimiter:             workqueue.NewTypedItemExponentialFailureRateLimiter[reconcile.Request](time.Second, time.Minute),
		}).
		Complete(r)
}

// newPlaylistReconciler builds a PlaylistReconciler: c writes (and reads
// through the cache, which must index extractions by ownerIndex), reader
// reads the API server.
func newPlaylistReconciler(c client.Client, reader client.Reader, publisher Publisher, events recorder.EventRecorder, opts PlaylistOptions) *PlaylistReconciler {
	opts.defaults()
	return &PlaylistReconciler{
		client: c, reader: reader, publisher: publisher, store: opts.Storage,
		events: events, opts: opts, now: time.Now,
		archives: newArchives(opts.Storage), published: map[types.UID]sentSync{},
		listings: map[types.UID]syncListing{},
	}
}

// ownerIndex indexes extractions by the UID of the playlist that owns them.
const ownerIndex = "ytx.dev/owner-playlist"

func ownerUID(o client.Object) []string {
	for _, ref := range o.GetOwnerReferences() {
		if ref.Kind == "YouTubePlaylist" && ref.Controller != nil && *ref.Controller {
			return []string{string(ref.UID)}
		}
	}
	return nil
}

// Reconcile moves one playlist one step on: it records finished and
// deleted children in the archive, counts the children, and runs the sync
// (ask for a listing, make the children of the answer, wait for the
// schedule).
func (r *PlaylistReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	var pl v1alpha1.YouTubePlaylist
	if err := r.client.Get(ctx, req.NamespacedName, &pl); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !pl.DeletionTimestamp.IsZero() {
		return r.finalize(ctx, &pl)
	}
	if !controllerutil.ContainsFinalizer(&pl, playlist.Finalizer) {
		base := pl.DeepCopy()
		controllerutil.AddFinalizer(&pl, playlist.Finalizer)
		return ctrl.Result{}, client.IgnoreNotFound(r.client.Patch(ctx, &pl, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{})))
	}
	base := pl.DeepCopy()
	children, err := r.children(ctx, &pl)
	if err != nil {
		return ctrl.Result{}, err
	}
	archive, err := r.record(ctx, &pl, children)
	if err != nil {
		r.event(&pl, corev1.EventTypeWarning, v1alpha1.ReasonStorageFailed, "%v", err)
		return ctrl.Result{}, err
	}
	pl.Status.Children = count(children)
	pl.Status.Archived = int32(archive.Len())
	pl.Status.Archive = r.store.URI(playlist.ArchiveKey(pl.Namespace, pl.Name, string(pl.UID)))
	after, err := r.step(ctx, &pl, children, archive)
	if werr := r.writeStatus(ctx, base, &pl); werr != nil {
		return ctrl.Result{}, client.IgnoreNotFound(werr)
	}
	return ctrl.Result{RequeueAfter: after}, err
}

// children are the playlist's extractions in the cache.
func (r *PlaylistReconciler) children(ctx context.Context, pl *v1alpha1.YouTubePlaylist) ([]v1alpha1.YouTubeExtraction, error) {
	var list v1alpha1.YouTubeExtractionList
	if err := r.client.List(ctx, &list, client.InNamespace(pl.Namespace), client.MatchingFields{ownerIndex: string(pl.UID)}); err != nil {
		return nil, err
	}
	return list.Items, nil
}

// count is status.children.
func count(children []v1alpha1.YouTubeExtraction) v1alpha1.ChildCounts {
	var c v1alpha1.ChildCounts
	for i := range children {
		switch children[i].Status.Phase {
		case v1alpha1.PhaseSucceeded:
			c.Succeeded++
		case v1alpha1.PhaseFailed:
			c.Failed++
		case v1alpha1.PhaseRunning:
			c.Running++
		default:
			c.Pending++
		}
	}
	return c
}

// writeStatus patches what changed, losing against any write made since
// the copy was read (a worker's listing answer).
func (r *PlaylistReconciler) writeStatus(ctx context.Context, base, pl *v1alpha1.YouTubePlaylist) error {
	if equalStatus(base.Status, pl.Status) {
		return nil
	}
	err := r.client.Status().Patch(ctx, pl, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{}))
	if apierrors.IsConflict(err) {
		// The next event (the write that won) reconciles again.
		return nil
	}
	return err
}

// finalize deletes the children (with orphan propagation it leaves them,
// without its finalizer), records them in the archive as they go, and, with
// artifactPolicy Delete, the playlist's own files; then lets it go. The
// children's files go with each child, by its own artifactPolicy.
// Deleting the children here, not only by the garbage collector, keeps
// the order: no child outlives the archive that remembers it.
func (r *PlaylistReconciler) finalize(ctx context.Context, pl *v1alpha1.YouTubePlaylist) (ctrl.Result, error) {
	if !controllerutil.ContainsFinalizer(pl, playlist.Finalizer) {
		return ctrl.Result{}, nil
	}
	children, err := r.children(ctx, pl)
	if err != nil {
		return ctrl.Result{}, err
	}
	orphan := controllerutil.ContainsFinalizer(pl, metav1.FinalizerOrphanDependents)
	if orphan {
		if err := r.letOrphansGo(ctx, pl); err != nil {
			return ctrl.Result{}, err
		}
	}
	if len(children) > 0 && !orphan {
		if slices.ContainsFunc(children, func(x v1alpha1.YouTubeExtraction) bool { return x.DeletionTimestamp.IsZero() }) {
			if err := r.deleteChildren(ctx, pl); err != nil {
				return ctrl.Result{}, err
			}
		}
		if _, err := r.record(ctx, pl, children); err != nil {
			return ctrl.Result{}, err
		}
		return ctrl.Result{RequeueAfter: time.Second}, nil
	}
	if pl.Spec.Template.Spec.ArtifactPolicy != v1alpha1.ArtifactPolicyRetain {
		if err := r.deleteOwnFiles(ctx, pl); err != nil {
			r.event(pl, corev1.EventTypeWarning, v1alpha1.ReasonStorageFailed, "deleting the playlist's archive and listings: %v", err)
			return ctrl.Result{}, err
		}
	}
	r.archives.forget(pl.UID)
	r.mu.Lock()
	delete(r.published, pl.UID)
	delete(r.listings, pl.UID)
	r.mu.Unlock()
	base := pl.DeepCopy()
	controllerutil.RemoveFinalizer(pl, playlist.Finalizer)
	return ctrl.Result{}, client.IgnoreNotFound(r.client.Patch(ctx, pl, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{})))
}

// deleteOwnFiles deletes the playlist's archive and listings, and nothing
// under its videos/: each extraction's files there are its own, deleted
// (or kept) by its own finalizer, and one that names this playlist in its
// spec.playlist without being its child must not lose them.
func (r *PlaylistReconciler) deleteOwnFiles(ctx context.Context, pl *v1alpha1.YouTubePlaylist) error {
	prefix := playlist.Prefix(pl.Namespace, pl.Name, string(pl.UID))
	if err := r.store.Delete(ctx, prefix+playlist.ListingsDir); err != nil {
		return err
	}
	return r.store.Delete(ctx, playlist.ArchiveKey(pl.Namespace, pl.Name, string(pl.UID)))
}

// deleteChildren deletes the playlist's children by their label, in one
// call; it is made only while some child is not yet being deleted, so a
// big playlist's slow finalizers do not cost a collection delete a second.
func (r *PlaylistReconciler) deleteChildren(ctx context.Context, pl *v1alpha1.YouTubePlaylist) error {
	err := r.client.DeleteAllOf(ctx, &v1alpha1.YouTubeExtraction{}, client.InNamespace(pl.Namespace),
		client.MatchingLabels{playlist.LabelPlaylistUID: string(pl.UID)}, client.PropagationPolicy(metav1.DeletePropagationBackground))
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

// letOrphansGo removes Finalizer from the children a playlist deleted
// with orphan propagation leaves behind: with no playlist to remove it, a
// child would never be gone once deleted. They are found by their label:
// the garbage collector may have dropped their owner references already.
func (r *PlaylistReconciler) letOrphansGo(ctx context.Context, pl *v1alpha1.YouTubePlaylist) error {
	var list v1alpha1.YouTubeExtractionList
	if err := r.client.List(ctx, &list, client.InNamespace(pl.Namespace), client.MatchingLabels{playlist.LabelPlaylistUID: string(pl.UID)}); err != nil {
		return err
	}
	for i := range list.Items {
		x := &list.Items[i]
		if !controllerutil.ContainsFinalizer(x, playlist.Finalizer) {
			continue
		}
		if err := r.letChildGo(ctx, x); err != nil {
			return fmt.Errorf("letting the orphan %s go: %w", describeChild(x), err)
		}
	}
	return nil
}

// letChildGo removes Finalizer from child x, with a patch that loses
// against any write made since x was read; a child already gone is fine.
func (r *PlaylistReconciler) letChildGo(ctx context.Context, x *v1alpha1.YouTubeExtraction) error {
	base := x.DeepCopy()
	controllerutil.RemoveFinalizer(x, playlist.Finalizer)
	return client.IgnoreNotFound(r.client.Patch(ctx, x, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{})))
}

func (r *PlaylistReconciler) event(pl *v1alpha1.YouTubePlaylist, typ, reason, format string, args ...any) {
	r.events.Eventf(pl, nil, typ, reason, reason, format, args...)
}

// condition sets one of the playlist's conditions.
func (r *PlaylistReconciler) condition(pl *v1alpha1.YouTubePlaylist, typ string, s metav1.ConditionStatus, reason, msg string) {
	meta.SetStatusCondition(&pl.Status.Conditions, metav1.Condition{
		Type: typ, Status: s, Reason: reason, Message: msg, ObservedGeneration: pl.Generation,
		LastTransitionTime: metav1.NewTime(r.now()),
	})
}

func (r *PlaylistReconciler) nowMeta() *metav1.Time {
	t := metav1.NewTime(r.now())
	return &t
}

func describeChild(x *v1alpha1.YouTubeExtraction) string {
	return fmt.Sprintf("%s/%s", x.Namespace, x.Name)
}
