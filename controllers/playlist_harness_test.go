package controllers

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clocktesting "k8s.io/utils/clock/testing"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	v1alpha1 "ytx.dev/ytx/api/v1alpha1"
	"ytx.dev/ytx/internal/eventtest"
	"ytx.dev/ytx/internal/job"
	"ytx.dev/ytx/internal/playlist"
	"ytx.dev/ytx/internal/resolver"
	"ytx.dev/ytx/internal/status"
	"ytx.dev/ytx/internal/storage"
)

// The playlist tests drive the playlist controller one Reconcile at a time,
// as the extraction's tests do (harness_test.go): the fake client is the
// API server, its copy trimmed as the manager's cache trims extractions is
// the cache, and the untrimmed one the API reader. The store is a real
// directory store; a worker's part (answering a listing job) is played by
// the test, storing the listing and writing status.listing as
// workers/listing.go does.

const playlistURL = "https://www.youtube.com/playlist?list=PLrAXtmErZgOeiKm4sgNOknGvNjby9efdf"

type plHarness struct {
	t      *testing.T
	client client.Client // the API server
	clock  *clocktesting.FakeClock
	pub    *publisher
	events *eventtest.Log
	store  *store
	r      *PlaylistReconciler
}

func newPlaylistHarness(t *testing.T, opts PlaylistOptions, objs ...client.Object) *plHarness {
	t.Helper()
	h := &plHarness{t: t, clock: clocktesting.NewFakeClock(base), pub: &publisher{}, events: &eventtest.Log{}, store: newStore(t)}
	scheme := runtime.NewScheme()
	if err := v1alpha1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	h.client = fake.NewClientBuilder().WithScheme(scheme).WithObjects(objs...).
		WithStatusSubresource(&v1alpha1.YouTubeExtraction{}, &v1alpha1.YouTubePlaylist{}).
		WithIndex(&v1alpha1.YouTubeExtraction{}, ownerIndex, ownerUID).
		WithInterceptorFuncs(interceptor.Funcs{Create: h.createAsAPIServer, Delete: deleteWithoutFiles, DeleteAllOf: deleteAllOfAsAPIServer}).
		Build()
	opts.Storage = h.store
	h.r = newPlaylistReconciler(trimming{h.client}, h.client, h.pub, h.events, opts)
	h.r.now = h.clock.Now
	return h
}

// createAsAPIServer gives a new object the UID and creation time the API
// server gives it; the fake client gives neither.
func (h *plHarness) createAsAPIServer(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
	if obj.GetUID() == "" {
		obj.SetUID(uid(obj.GetName()))
	}
	obj.SetCreationTimestamp(metav1.NewTime(h.clock.Now()))
	return c.Create(ctx, obj, opts...)
}

// deleteAllOfAsAPIServer deletes the matching extractions as the API
// server does: one already being deleted is left as it is (the fake
// client writes it again, a new resourceVersion that the API server would
// not make).
// deleteWithoutFiles deletes an extraction as the extraction controller
// would let it go: that controller, not run here, deletes its files and
// removes its own finalizer (ytx.dev/artifacts), leaving the playlist's.
func deleteWithoutFiles(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.DeleteOption) error {
	if x, ok := obj.(*v1alpha1.YouTubeExtraction); ok && controllerutil.RemoveFinalizer(x, Finalizer) {
		if err := c.Update(ctx, x); err != nil {
			return err
		}
	}
	return c.Delete(ctx, obj, opts...)
}

func deleteAllOfAsAPIServer(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.DeleteAllOfOption) error {
	if _, ok := obj.(*v1alpha1.YouTubeExtraction); !ok {
		return c.DeleteAllOf(ctx, obj, opts...)
	}
	var o client.DeleteAllOfOptions
	o.ApplyOptions(opts)
	var list v1alpha1.YouTubeExtractionList
	if err := c.List(ctx, &list, &o.ListOptions); err != nil {
		return err
	}
	for i := range list.Items {
		if x := &list.Items[i]; x.DeletionTimestamp.IsZero() {
			if err := deleteWithoutFiles(ctx, c, x, &o.DeleteOptions); client.IgnoreNotFound(err) != nil {
				return err
			}
		}
	}
	return nil
}

// playlistOf is a new playlist of ns following playlistURL, created at
// base, generation 1, with no status.
func playlistOf(name string, mutate ...func(*v1alpha1.YouTubePlaylist)) *v1alpha1.YouTubePlaylist {
	pl := &v1alpha1.YouTubePlaylist{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, UID: uid(name), Generation: 1, CreationTimestamp: metav1.NewTime(base)},
		Spec:       v1alpha1.YouTubePlaylistSpec{URL: playlistURL},
	}
	for _, f := range mutate {
		f(pl)
	}
	return pl
}

func (h *plHarness) reconcile(name string) (ctrl.Result, error) {
	return h.r.Reconcile(context.Background(), ctrl.Request{NamespacedName: types.NamespacedName{Namespace: ns, Name: name}})
}

// step reconciles name once and fails the test on an error.
func (h *plHarness) step(name string) ctrl.Result {
	h.t.Helper()
	res, err := h.reconcile(name)
	if err != nil {
		h.t.Fatalf("reconciling %s: %v", name, err)
	}
	return res
}

func (h *plHarness) at(d time.Duration) { h.clock.SetTime(base.Add(d)) }

// get reads the playlist from the API server.
func (h *plHarness) get(name string) *v1alpha1.YouTubePlaylist {
	h.t.Helper()
	var pl v1alpha1.YouTubePlaylist
	if err := h.client.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: name}, &pl); err != nil {
		h.t.Fatalf("reading %s: %v", name, err)
	}
	return &pl
}

// edit changes the playlist's spec as a user does: a new generation.
func (h *plHarness) edit(name string, mutate func(*v1alpha1.YouTubePlaylist)) {
	h.t.Helper()
	pl := h.get(name)
	mutate(pl)
	pl.Generation++ // the fake client does not count generations
	if err := h.client.Update(context.Background(), pl); err != nil {
		h.t.Fatalf("editing %s: %v", name, err)
	}
}

// start takes a new playlist to its first listing job: the finalizer,
// sync 1 written, its job published.
func (h *plHarness) start(name string) {
	h.t.Helper()
	h.step(name)
	h.step(name)
	h.step(name)
	h.wantSent(listingJob(name, 1, 1))
}

// listingJob is the listing job of sync of generation gen of playlist name.
func listingJob(name string, gen, sync int64) job.Message {
	return job.Message{Kind: job.KindListing, Namespace: ns, Name: name, UID: uid(name), Generation: gen, Attempt: int32(sync)}
}

func (h *plHarness) wantSent(msgs ...job.Message) {
	h.t.Helper()
	if got := h.pub.take(); !slices.Equal(got, msgs) {
		h.t.Errorf("published %v, want %v", got, msgs)
	}
}

// videoIDs are n distinct 11-character video IDs.
func videoIDs(n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("video%06d", i+1)
	}
	return ids
}

// entries are listing entries of ids, titled "Song <id>".
func entries(ids ...string) []resolver.Entry {
	out := make([]resolver.Entry, len(ids))
	for i, id := range ids {
		out[i] = resolver.Entry{ID: id, Title: "Song " + id}
	}
	return out
}

// answer plays the worker that read the playlist for its current sync:
// it stores the listing and writes status.listing.
func (h *plHarness) answer(name string, es ...resolver.Entry) {
	h.t.Helper()
	pl := h.get(name)
	l := resolver.Listing{ID: "PLrAXtmErZgOeiKm4sgNOknGvNjby9efdf", Title: "Mixtape", Channel: "The Band", Entries: es, Resolver: "fake"}
	body, err := json.Marshal(l)
	if err != nil {
		h.t.Fatal(err)
	}
	key := playlist.ListingKey(ns, name, string(pl.UID), pl.Status.Sync)
	if _, err := h.store.Put(context.Background(), key, bytes.NewReader(body), storage.PutOptions{Size: int64(len(body)), MediaType: "application/json"}); err != nil {
		h.t.Fatal(err)
	}
	h.writeListing(pl, v1alpha1.ListingResult{Sync: pl.Status.Sync, Videos: int32(len(es)), Resolver: "fake"})
}

// answerFailed plays the worker whose listing failed.
func (h *plHarness) answerFailed(name, reason string, retryable bool) {
	h.t.Helper()
	pl := h.get(name)
	h.writeListing(pl, v1alpha1.ListingResult{Sync: pl.Status.Sync, Reason: reason, Message: "the listing failed", Retryable: retryable})
}

func (h *plHarness) writeListing(pl *v1alpha1.YouTubePlaylist, res v1alpha1.ListingResult) {
	h.t.Helper()
	res.Worker, res.Time = "w-1", metav1.NewTime(h.clock.Now())
	pl.Status.Listing = &res
	if err := h.client.Status().Update(context.Background(), pl); err != nil {
		h.t.Fatalf("writing the listing of %s: %v", pl.Name, err)
	}
}

// children are the playlist's extractions on the API server, by name.
func (h *plHarness) children(name string) []v1alpha1.YouTubeExtraction {
	h.t.Helper()
	var list v1alpha1.YouTubeExtractionList
	if err := h.client.List(context.Background(), &list, client.InNamespace(ns), client.MatchingLabels{playlist.LabelPlaylistUID: string(uid(name))}); err != nil {
		h.t.Fatal(err)
	}
	slices.SortFunc(list.Items, func(a, b v1alpha1.YouTubeExtraction) int { return strings.Compare(a.Name, b.Name) })
	return list.Items
}

// childVideos are the video IDs of the playlist's children, sorted.
func (h *plHarness) childVideos(name string) []string {
	h.t.Helper()
	var ids []string
	for _, x := range h.children(name) {
		ids = append(ids, x.Annotations[playlist.AnnotationVideoID])
	}
	slices.Sort(ids)
	return ids
}

// child reads the playlist's extraction of video id.
func (h *plHarness) child(name, id string) *v1alpha1.YouTubeExtraction {
	h.t.Helper()
	var x v1alpha1.YouTubeExtraction
	if err := h.client.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: playlist.ChildName(name, id)}, &x); err != nil {
		h.t.Fatalf("reading the child of %s: %v", id, err)
	}
	return &x
}

// finish changes the status of the child of id as its worker does.
func (h *plHarness) finish(name, id string, mutate func(*v1alpha1.YouTubeExtraction)) {
	h.t.Helper()
	x := h.child(name, id)
	status.StartGeneration(x, id)
	mutate(x)
	if err := h.client.Status().Update(context.Background(), x); err != nil {
		h.t.Fatalf("writing the status of the child of %s: %v", id, err)
	}
}

func childSucceeded(x *v1alpha1.YouTubeExtraction) {
	status.Succeeded(x, "done", metav1.NewTime(base))
}

func childRunning(x *v1alpha1.YouTubeExtraction) {
	status.Claimed(x, "w-1", metav1.NewTime(base))
}

func childFailed(reason string) func(*v1alpha1.YouTubeExtraction) {
	return func(x *v1alpha1.YouTubeExtraction) { status.Failed(x, reason, "it failed", metav1.NewTime(base)) }
}

// deleteChild deletes the child of id as a user or its TTL does: it stays,
// being deleted, while the playlist's finalizer holds it.
func (h *plHarness) deleteChild(name, id string) {
	h.t.Helper()
	if err := h.client.Delete(context.Background(), h.child(name, id)); err != nil {
		h.t.Fatal(err)
	}
}

// childExists says whether the child of id is still on the API server.
func (h *plHarness) childExists(name, id string) bool {
	h.t.Helper()
	return slices.Contains(h.childVideos(name), id)
}

// archive is the playlist's archive file's lines; none when it is missing.
func (h *plHarness) archive(name string) []string {
	h.t.Helper()
	b, err := os.ReadFile(filepath.Join(h.store.root, filepath.FromSlash(playlist.ArchiveKey(ns, name, string(uid(name))))))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		h.t.Fatal(err)
	}
	return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
}

// archived are the archive's lines of ids.
func archived(ids ...string) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = "youtube " + id
	}
	return out
}

// plCond is a playlist's condition as "True Synced", or "" when absent.
func plCond(pl *v1alpha1.YouTubePlaylist, typ string) string {
	for _, c := range pl.Status.Conditions {
		if c.Type == typ {
			return string(c.Status) + " " + c.Reason
		}
	}
	return ""
}

func (h *plHarness) wantEvents(want ...string) []eventtest.Event {
	h.t.Helper()
	return h.events.Want(h.t, want...)
}
