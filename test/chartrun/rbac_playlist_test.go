package chartrun

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "ytx.dev/ytx/api/v1alpha1"
	"ytx.dev/ytx/internal/kafka"
	"ytx.dev/ytx/internal/playlist"
	"ytx.dev/ytx/internal/youtube/fake"
)

// rbacRun is what testRBAC started: the identities the manager and the
// worker run as, the worker's Kafka configuration as the chart's args make
// it, and where they store.
type rbacRun struct {
	c                  *chartCase
	ctrlCfg, workerCfg *rest.Config
	workerKafka        kafka.Config
	workerName         string
	storageDir         string
}

// testPlaylist runs a playlist through a whole sync and its deletion with
// the chart's identities only: the manager publishes the listing job on the
// listing topic as its KafkaUser; the worker consumes it in the listing
// group as its own, reads the playlist and writes status.listing; the
// manager creates the children, the worker extracts them, the manager
// archives them, and once the playlist is deleted, deletes them
// (deletecollection) and lifts the finalizers. Nothing here acts as the
// administrator but the user's apply and delete.
func testPlaylist(t *testing.T, r rbacRun) {
	ctx := t.Context()
	c := r.c
	// A playlist of its own per case: two videos of the catalogue.
	videos := []string{fake.RickrollID, fake.ZooID}
	listID := "PLytxChartRBAC" + c.name
	if err := youTube.AddPlaylist(fake.Playlist{
		ID: listID, Title: "RBAC " + c.name, Author: fake.ChannelTitle, ChannelID: fake.ChannelID, VideoIDs: videos,
	}); err != nil {
		t.Fatal(err)
	}
	// No template: metadata-only children, the quickest to extract.
	pl := &v1alpha1.YouTubePlaylist{
		ObjectMeta: metav1.ObjectMeta{Name: "rbac-mix", Namespace: c.extractionNS},
		Spec:       v1alpha1.YouTubePlaylistSpec{URL: "https://www.youtube.com/playlist?list=" + listID},
	}
	if err := admin.Create(ctx, pl); err != nil {
		t.Fatal(err)
	}
	key := client.ObjectKeyFromObject(pl)
	byUID := client.MatchingLabels{playlist.LabelPlaylistUID: string(pl.UID)}
	children := func() ([]v1alpha1.YouTubeExtraction, error) {
		var list v1alpha1.YouTubeExtractionList
		err := admin.List(ctx, &list, client.InNamespace(pl.Namespace), byUID)
		return list.Items, err
	}

	var xs []v1alpha1.YouTubeExtraction
	err := waitUntil(60*time.Second, 100*time.Millisecond, func() (bool, error) {
		var err error
		if xs, err = children(); err != nil {
			return false, err
		}
		if err := admin.Get(ctx, key, pl); err != nil {
			return false, err
		}
		succeeded := 0
		for _, x := range xs {
			if x.Status.Phase == v1alpha1.PhaseSucceeded {
				succeeded++
			}
		}
		s := pl.Status
		return len(xs) == len(videos) && succeeded == len(videos) && synced(pl) &&
			s.Children.Succeeded == int32(len(videos)) && s.Archived == int32(len(videos)), nil
	})
	if err != nil {
		t.Fatalf("playlist %s: not synced with %d succeeded and archived children: %v; %d children, status %+v", key, len(videos), err, len(xs), pl.Status)
	}
	if l := pl.Status.Listing; l == nil || l.Worker != r.workerName || l.Videos != int32(len(videos)) {
		t.Errorf("status.listing = %+v, want %d videos listed by worker %s", l, len(videos), r.workerName)
	}
	var got []string
	for _, x := range xs {
		got = append(got, x.Annotations[playlist.AnnotationVideoID])
		if o := metav1.GetControllerOf(&x); o == nil || o.UID != pl.UID {
			t.Errorf("child %s: controller reference %+v, want the playlist %s", x.Name, o, pl.UID)
		}
	}
	slices.Sort(got)
	want := slices.Sorted(slices.Values(videos))
	if !slices.Equal(got, want) {
		t.Errorf("children are of %v, want %v", got, want)
	}
	archive := filepath.Join(r.storageDir, filepath.FromSlash(playlist.ArchiveKey(pl.Namespace, pl.Name, string(pl.UID))))
	if b, err := os.ReadFile(archive); err != nil {
		t.Errorf("the manager wrote no archive: %v", err)
	} else {
		for _, id := range videos {
			if !strings.Contains(string(b), "youtube "+id+"\n") {
				t.Errorf("archive %s lacks %s:\n%s", archive, id, b)
			}
		}
	}
	checkListingsConsumed(t, r)

	t.Run("forbidden", func(t *testing.T) { testPlaylistForbidden(t, r, pl, xs[0]) })

	if err := admin.Delete(ctx, pl); err != nil {
		t.Fatal(err)
	}
	err = waitUntil(30*time.Second, 100*time.Millisecond, func() (bool, error) {
		var err error
		if xs, err = children(); err != nil || len(xs) > 0 {
			return false, err
		}
		err = admin.Get(ctx, key, &v1alpha1.YouTubePlaylist{})
		return apierrors.IsNotFound(err), client.IgnoreNotFound(err)
	})
	if err != nil {
		var names []string
		for _, x := range xs {
			names = append(names, x.Name+" finalizers="+strings.Join(x.Finalizers, ","))
		}
		t.Fatalf("deleting playlist %s: it or its children stayed (the manager deletes them, no garbage collector runs here): %v; children left: %v", key, err, names)
	}
}

// synced: the playlist's latest sync is done for its current spec.
func synced(pl *v1alpha1.YouTubePlaylist) bool {
	s := pl.Status
	return s.ObservedGeneration == pl.Generation && s.SyncedSync > 0 && s.SyncedSync == s.Sync &&
		meta.IsStatusConditionTrue(s.Conditions, v1alpha1.ConditionSynced)
}

// checkListingsConsumed shows the listing went through Kafka as the chart
// names it: written on the listing topic (the manager's KafkaUser needs
// Write there) and committed by the workers' listing group (the worker's
// KafkaUser needs Read on both), read as the broker's administrator.
func checkListingsConsumed(t *testing.T, r rbacRun) {
	t.Helper()
	// The worker's topics and groups with the administrator's login; its
	// listing consumer's view: the listing topic and group.
	cfg := r.workerKafka
	su := r.c.adminKafka
	cfg.Username, cfg.PasswordFile, cfg.ClientID = su.Username, su.PasswordFile, su.ClientID
	cfg = cfg.Listings()
	in, err := kafka.NewInspector(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	var v kafka.GroupView
	err = waitUntil(15*time.Second, 100*time.Millisecond, func() (bool, error) {
		var err error
		if v, err = in.Look(t.Context()); err != nil {
			return false, err
		}
		var written, lag int64
		for _, p := range v.Partitions {
			written += p.End - p.Start
			lag += p.Lag()
		}
		return written > 0 && lag == 0, nil
	})
	if err != nil {
		t.Errorf("topic %s, group %s: no listing job written and committed: %v; view %+v", cfg.Topic, cfg.Group, err, v)
	}
}

// testPlaylistForbidden checks what each identity may and may not do with
// playlists and their children, as testForbidden does for extractions.
func testPlaylistForbidden(t *testing.T, r rbacRun, pl *v1alpha1.YouTubePlaylist, child v1alpha1.YouTubeExtraction) {
	ctx := t.Context()
	ctrl := newClient(t, r.ctrlCfg)
	worker := newClient(t, r.workerCfg)
	ns := pl.Namespace
	key := client.ObjectKeyFromObject(pl)
	fresh := func() *v1alpha1.YouTubePlaylist {
		var got v1alpha1.YouTubePlaylist
		if err := admin.Get(ctx, key, &got); err != nil {
			t.Fatal(err)
		}
		return &got
	}
	freshChild := func() *v1alpha1.YouTubeExtraction {
		var got v1alpha1.YouTubeExtraction
		if err := admin.Get(ctx, client.ObjectKeyFromObject(&child), &got); err != nil {
			t.Fatal(err)
		}
		return &got
	}
	newPlaylist := func(name string) *v1alpha1.YouTubePlaylist {
		return &v1alpha1.YouTubePlaylist{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
			Spec:       v1alpha1.YouTubePlaylistSpec{URL: "https://www.youtube.com/playlist?list=" + fake.BigPlaylistID},
		}
	}
	actions := []rightsCheck{
		{"worker gets the playlist", true, func() error { return worker.Get(ctx, key, &v1alpha1.YouTubePlaylist{}) }},
		{"worker patches the playlist's status", true, func() error {
			return worker.Status().Patch(ctx, fresh(), client.RawPatch(types.MergePatchType, []byte(`{}`)))
		}},
		{"controller lists playlists", true, func() error {
			return ctrl.List(ctx, &v1alpha1.YouTubePlaylistList{}, client.InNamespace(ns))
		}},
		{"controller deletes a playlist's children", true, canI(ctx, ctrl, "deletecollection", "youtubeextractions", ns)},

		// A worker reads one playlist past any cache: no list, no watch.
		{"worker lists playlists", false, func() error {
			return worker.List(ctx, &v1alpha1.YouTubePlaylistList{}, client.InNamespace(ns))
		}},
		{"worker watches playlists", false, canI(ctx, worker, "watch", "youtubeplaylists", ns)},
		{"worker updates the playlist's spec", false, func() error {
			got := fresh()
			got.Spec.Suspend = true
			return worker.Update(ctx, got)
		}},
		{"worker patches the playlist's spec", false, func() error {
			return worker.Patch(ctx, fresh(), client.RawPatch(types.MergePatchType, []byte(`{"spec":{"suspend":true}}`)))
		}},
		{"worker deletes the playlist", false, func() error { return worker.Delete(ctx, fresh()) }},
		{"worker creates a playlist", false, func() error { return worker.Create(ctx, newPlaylist("by-worker")) }},
		// The manager makes the children, not the worker (docs/design.md
		// section 13); nor may a worker drop a child's finalizer, which
		// holds the child until its video is in the archive.
		{"worker creates a playlist's child", false, func() error {
			x := freshChild()
			x.ObjectMeta = metav1.ObjectMeta{Name: x.Name + "-bis", Namespace: x.Namespace, Labels: x.Labels, OwnerReferences: x.OwnerReferences}
			return worker.Create(ctx, x, client.DryRunAll)
		}},
		{"worker removes a child's finalizers", false, func() error {
			return worker.Patch(ctx, freshChild(), client.RawPatch(types.MergePatchType, []byte(`{"metadata":{"finalizers":null}}`)))
		}},
		{"worker deletes a child", false, func() error { return worker.Delete(ctx, freshChild()) }},
		{"worker deletes a playlist's children", false, canI(ctx, worker, "deletecollection", "youtubeextractions", ns)},

		// Users make and delete playlists; the manager only follows them.
		{"controller creates a playlist", false, func() error { return ctrl.Create(ctx, newPlaylist("by-controller")) }},
		{"controller deletes the playlist", false, func() error { return ctrl.Delete(ctx, fresh()) }},
		{"controller deletes all playlists", false, canI(ctx, ctrl, "deletecollection", "youtubeplaylists", ns)},
	}
	if out := r.c.unwatched; out != "" {
		okey := client.ObjectKey{Namespace: out, Name: pl.Name}
		actions = append(actions,
			rightsCheck{"controller lists playlists in unwatched " + out, false, func() error {
				return ctrl.List(ctx, &v1alpha1.YouTubePlaylistList{}, client.InNamespace(out))
			}},
			rightsCheck{"controller gets a playlist in unwatched " + out, false, func() error { return ctrl.Get(ctx, okey, &v1alpha1.YouTubePlaylist{}) }},
			rightsCheck{"controller creates an extraction in unwatched " + out, false, func() error {
				return ctrl.Create(ctx, &v1alpha1.YouTubeExtraction{
					ObjectMeta: metav1.ObjectMeta{Name: "by-controller", Namespace: out},
					Spec:       v1alpha1.YouTubeExtractionSpec{URL: "https://youtu.be/" + fake.RickrollID},
				}, client.DryRunAll)
			}},
			rightsCheck{"controller lists playlists cluster-wide", false, func() error { return ctrl.List(ctx, &v1alpha1.YouTubePlaylistList{}) }},
			rightsCheck{"worker gets a playlist in unwatched " + out, false, func() error { return worker.Get(ctx, okey, &v1alpha1.YouTubePlaylist{}) }},
			rightsCheck{"worker patches a playlist's status in unwatched " + out, false, canI(ctx, worker, "patch", "youtubeplaylists/status", out)},
		)
	}
	checkRights(t, actions)
}

// canI asks the API server whether cl's identity may verb the ytx.dev
// resource ("kind/subresource") in ns, for rights whose real use would do
// harm or need a watch. A refusal is a 403, as checkRights expects of a
// refused call.
func canI(ctx context.Context, cl client.Client, verb, resource, ns string) func() error {
	return func() error {
		res, sub, _ := strings.Cut(resource, "/")
		review := &authorizationv1.SelfSubjectAccessReview{Spec: authorizationv1.SelfSubjectAccessReviewSpec{
			ResourceAttributes: &authorizationv1.ResourceAttributes{
				Namespace: ns, Verb: verb, Group: v1alpha1.GroupVersion.Group, Resource: res, Subresource: sub,
			},
		}}
		if err := cl.Create(ctx, review); err != nil {
			return err
		}
		if !review.Status.Allowed {
			return apierrors.NewForbidden(schema.GroupResource{Group: v1alpha1.GroupVersion.Group, Resource: resource}, "",
				errors.New("SelfSubjectAccessReview: "+verb+" not allowed "+review.Status.Reason))
		}
		return nil
	}
}
