package controllers

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	v1alpha1 "ytx.dev/ytx/api/v1alpha1"
	"ytx.dev/ytx/internal/playlist"
	"ytx.dev/ytx/internal/resolver"
	"ytx.dev/ytx/internal/storage"
)

// --- a sync's listing job ---

func TestPlaylistNewPlaylistGetsTheFinalizer(t *testing.T) {
	h := newPlaylistHarness(t, PlaylistOptions{}, playlistOf("a"))
	h.step("a")
	pl := h.get("a")
	if !slices.Contains(pl.Finalizers, playlist.Finalizer) {
		t.Errorf("finalizers %v, want %s", pl.Finalizers, playlist.Finalizer)
	}
	if pl.Status.Sync != 0 {
		t.Errorf("sync %d before the finalizer was on, want 0", pl.Status.Sync)
	}
	h.wantSent()
}

func TestPlaylistNewGenerationWritesItsSyncBeforePublishingTheListingJob(t *testing.T) {
	h := newPlaylistHarness(t, PlaylistOptions{ListingTimeout: 5 * time.Minute}, playlistOf("a"))
	h.step("a") // the finalizer
	h.step("a")
	pl := h.get("a")
	s := pl.Status
	if s.Sync != 1 || s.SyncAttempts != 1 || s.ObservedGeneration != 1 || s.SyncRequestTime == nil || !s.SyncRequestTime.Time.Equal(base) {
		t.Errorf("sync %d attempts %d observedGeneration %d requested %v, want 1, 1, 1, %v", s.Sync, s.SyncAttempts, s.ObservedGeneration, s.SyncRequestTime, base)
	}
	if c := plCond(pl, v1alpha1.ConditionSynced); c != "False Listing" {
		t.Errorf("Synced %q, want False Listing", c)
	}
	h.wantSent() // a worker must be able to read sync 1 before its job exists

	if res := h.step("a"); res.RequeueAfter != 5*time.Minute {
		t.Errorf("requeue after %v, want the listing timeout", res.RequeueAfter)
	}
	h.wantSent(listingJob("a", 1, 1))
}

func TestPlaylistListingJobIsSentAgainOnlyAfterListingTimeout(t *testing.T) {
	h := newPlaylistHarness(t, PlaylistOptions{ListingTimeout: 5 * time.Minute}, playlistOf("a"))
	h.start("a")
	h.step("a")
	h.at(5*time.Minute - time.Second)
	if res := h.step("a"); res.RequeueAfter != time.Second {
		t.Errorf("requeue after %v, want 1s: the rest of the timeout", res.RequeueAfter)
	}
	h.wantSent()
	h.at(5 * time.Minute)
	h.step("a")
	h.wantSent(listingJob("a", 1, 1))
	h.step("a")
	h.wantSent()
	if s := h.get("a").Status.Sync; s != 1 {
		t.Errorf("sync %d, want 1: a resent job is the same sync", s)
	}
}

func TestPlaylistListingJobThatCannotBePublishedIsSentOnTheNextReconcile(t *testing.T) {
	h := newPlaylistHarness(t, PlaylistOptions{ListingTimeout: 5 * time.Minute}, playlistOf("a"))
	h.step("a")
	h.step("a")
	h.pub.fail(errors.New("kafka: the broker is down"))
	if _, err := h.reconcile("a"); err == nil {
		t.Error("no error when the job could not be published: it would not be retried")
	}
	h.wantEvents("Warning PublishFailed")
	h.pub.fail(nil)
	h.step("a")
	h.wantSent(listingJob("a", 1, 1))
}

// --- suspend ---

func TestPlaylistSuspendedNewGenerationStartsNoSync(t *testing.T) {
	h := newPlaylistHarness(t, PlaylistOptions{}, playlistOf("a", func(pl *v1alpha1.YouTubePlaylist) { pl.Spec.Suspend = true }))
	for range 3 {
		h.step("a")
	}
	s := h.get("a").Status
	if s.Sync != 0 || s.ObservedGeneration != 1 {
		t.Errorf("sync %d observedGeneration %d, want 0, 1", s.Sync, s.ObservedGeneration)
	}
	h.wantSent()

	h.edit("a", func(pl *v1alpha1.YouTubePlaylist) { pl.Spec.Suspend = false })
	h.step("a")
	h.step("a")
	h.wantSent(listingJob("a", 2, 1))
}

func TestPlaylistSuspendedPlaylistStartsNoScheduledSync(t *testing.T) {
	h := newPlaylistHarness(t, PlaylistOptions{}, playlistOf("a", func(pl *v1alpha1.YouTubePlaylist) { pl.Spec.Schedule = "@every 1m" }))
	h.start("a")
	h.answer("a", entries(videoIDs(1)...)...)
	h.step("a")
	h.edit("a", func(pl *v1alpha1.YouTubePlaylist) { pl.Spec.Suspend = true })
	h.step("a")
	for _, d := range []time.Duration{time.Minute, 10 * time.Minute} {
		h.at(d)
		h.step("a")
		h.step("a")
	}
	s := h.get("a").Status
	if s.Sync != 1 || s.NextSyncTime != nil {
		t.Errorf("sync %d nextSyncTime %v while suspended, want 1, none", s.Sync, s.NextSyncTime)
	}
	h.wantSent()
}

// --- a listing's children ---

func TestPlaylistListingAnswerMakesOneChildPerSelectedVideo(t *testing.T) {
	h := newPlaylistHarness(t, PlaylistOptions{}, playlistOf("a"))
	h.start("a")
	ids := videoIDs(3)
	h.at(time.Minute)
	h.answer("a", entries(ids...)...)
	h.step("a")

	if got := h.childVideos("a"); !slices.Equal(got, ids) {
		t.Fatalf("children of %v, want %v", got, ids)
	}
	x := h.child("a", ids[0])
	wantLabels := map[string]string{
		playlist.LabelPlaylist:    "a",
		playlist.LabelPlaylistUID: string(uid("a")),
		playlist.LabelVideo:       playlist.VideoHash(ids[0]),
	}
	if !reflect.DeepEqual(x.Labels, wantLabels) {
		t.Errorf("labels %v, want %v", x.Labels, wantLabels)
	}
	wantAnnotations := map[string]string{playlist.AnnotationVideoID: ids[0], playlist.AnnotationPlaylist: "a"}
	if !reflect.DeepEqual(x.Annotations, wantAnnotations) {
		t.Errorf("annotations %v, want %v", x.Annotations, wantAnnotations)
	}
	if !slices.Equal(x.Finalizers, []string{playlist.Finalizer, Finalizer}) {
		t.Errorf("finalizers %v, want %s and the extraction controller's %s", x.Finalizers, playlist.Finalizer, Finalizer)
	}
	if refs := x.OwnerReferences; len(refs) != 1 || refs[0].Kind != "YouTubePlaylist" || refs[0].Name != "a" || refs[0].UID != uid("a") ||
		refs[0].Controller == nil || !*refs[0].Controller {
		t.Errorf("owner references %+v, want the playlist as controller", refs)
	}
	if want := "https://www.youtube.com/watch?v=" + ids[0]; x.Spec.URL != want {
		t.Errorf("url %q, want %q", x.Spec.URL, want)
	}

	pl := h.get("a")
	s := pl.Status
	if s.SyncedSync != 1 || s.LastSyncTime == nil || !s.LastSyncTime.Time.Equal(base.Add(time.Minute)) {
		t.Errorf("syncedSync %d lastSyncTime %v, want 1, %v", s.SyncedSync, s.LastSyncTime, base.Add(time.Minute))
	}
	if s.Videos != 3 || s.Selected != 3 || s.Title != "Mixtape" || s.Channel != "The Band" {
		t.Errorf("videos %d selected %d title %q channel %q, want 3, 3, Mixtape, The Band", s.Videos, s.Selected, s.Title, s.Channel)
	}
	if c := plCond(pl, v1alpha1.ConditionSynced); c != "True Synced" {
		t.Errorf("Synced %q, want True Synced", c)
	}
	if m := condMessage(pl, v1alpha1.ConditionSynced); !strings.Contains(m, "3 videos listed, 3 selected") {
		t.Errorf("Synced says %q, want the counts", m)
	}
	h.wantEvents("Normal Synced")
	h.wantSent()

	// Nothing more to do: the next reconcile makes no child twice.
	h.step("a")
	if n := len(h.children("a")); n != 3 {
		t.Errorf("%d children after another reconcile, want 3", n)
	}
}

func TestPlaylistSyncSkipsVideosInTheArchiveAndChildrenThatExist(t *testing.T) {
	h := newPlaylistHarness(t, PlaylistOptions{}, playlistOf("a"))
	ids := videoIDs(4)
	h.store.putBytes(t, playlist.ArchiveKey(ns, "a", string(uid("a"))), "youtube "+ids[0]+"\n")
	h.start("a")
	h.answer("a", entries(ids[:3]...)...)
	h.step("a")
	if got := h.childVideos("a"); !slices.Equal(got, ids[1:3]) {
		t.Fatalf("children of %v, want %v: %s is in the archive", got, ids[1:3], ids[0])
	}
	first := h.child("a", ids[1]).ResourceVersion

	h.edit("a", func(pl *v1alpha1.YouTubePlaylist) { pl.Spec.IncludeLive = true })
	h.step("a")
	h.step("a")
	h.wantSent(listingJob("a", 2, 2))
	h.answer("a", entries(ids...)...)
	h.step("a")
	if got := h.childVideos("a"); !slices.Equal(got, ids[1:]) {
		t.Errorf("children of %v, want %v", got, ids[1:])
	}
	if rv := h.child("a", ids[1]).ResourceVersion; rv != first {
		t.Errorf("the child of %s was written again (resourceVersion %s, was %s)", ids[1], rv, first)
	}
	if s := h.get("a").Status; s.SyncedSync != 2 || s.Selected != 4 {
		t.Errorf("syncedSync %d selected %d, want 2, 4", s.SyncedSync, s.Selected)
	}
}

func TestPlaylistCreateBatchBoundsOneReconcile(t *testing.T) {
	h := newPlaylistHarness(t, PlaylistOptions{CreateBatch: 2}, playlistOf("a"))
	h.start("a")
	h.answer("a", entries(videoIDs(5)...)...)
	for i, want := range []int{2, 4} {
		if res := h.step("a"); res.RequeueAfter == 0 {
			t.Errorf("reconcile %d: no requeue with children left to make", i+1)
		}
		if n := len(h.children("a")); n != want {
			t.Errorf("reconcile %d: %d children, want %d", i+1, n, want)
		}
		if pl := h.get("a"); pl.Status.SyncedSync != 0 || plCond(pl, v1alpha1.ConditionSynced) != "False Listing" {
			t.Errorf("reconcile %d: syncedSync %d Synced %q before all children are made", i+1, pl.Status.SyncedSync, plCond(pl, v1alpha1.ConditionSynced))
		}
	}
	h.step("a")
	if n := len(h.children("a")); n != 5 {
		t.Errorf("%d children, want 5", n)
	}
	if pl := h.get("a"); pl.Status.SyncedSync != 1 || plCond(pl, v1alpha1.ConditionSynced) != "True Synced" {
		t.Errorf("syncedSync %d Synced %q, want 1, True Synced", pl.Status.SyncedSync, plCond(pl, v1alpha1.ConditionSynced))
	}
}

// A sync's listing is read from the storage once, however many reconciles
// its children take; the next sync reads its own.
func TestPlaylistListingIsReadOncePerSync(t *testing.T) {
	h := newPlaylistHarness(t, PlaylistOptions{CreateBatch: 2}, playlistOf("a"))
	h.start("a")
	h.answer("a", entries(videoIDs(5)...)...)
	for range 4 {
		h.step("a")
	}
	pl := h.get("a")
	if n := len(h.children("a")); n != 5 || pl.Status.SyncedSync != 1 {
		t.Fatalf("%d children, syncedSync %d; want 5 children made over three reconciles, sync 1 done", n, pl.Status.SyncedSync)
	}
	key := playlist.ListingKey(ns, "a", string(pl.UID), 1)
	if n := h.store.opened(key); n != 1 {
		t.Errorf("the listing of sync 1 was read %d times, want once", n)
	}
	h.edit("a", func(pl *v1alpha1.YouTubePlaylist) { pl.Spec.Match = "." })
	h.step("a")
	h.step("a")
	h.answer("a", entries(videoIDs(6)...)...)
	h.step("a")
	h.step("a")
	if n := len(h.children("a")); n != 6 {
		t.Errorf("%d children after sync 2, want 6: sync 2 must read its own listing", n)
	}
}

func TestPlaylistFiltersReachTheChildren(t *testing.T) {
	two := int32(2)
	h := newPlaylistHarness(t, PlaylistOptions{}, playlistOf("a", func(pl *v1alpha1.YouTubePlaylist) {
		pl.Spec.MaxVideos = &two
		pl.Spec.Match = "(?i)^live at"
	}))
	h.start("a")
	h.answer("a",
		resolver.Entry{ID: "video000001", Title: "Studio cut"},
		resolver.Entry{ID: "video000002", Title: "Live at Wembley"},
		resolver.Entry{ID: "video000003", Title: "LIVE AT the Roxy", Live: resolver.LiveNow},
		resolver.Entry{ID: "video000002", Title: "Live at Wembley"},
		resolver.Entry{ID: "video000004", Title: "live at Leeds"},
		resolver.Entry{ID: "video000005", Title: "Live at Budokan"},
	)
	h.step("a")
	if got, want := h.childVideos("a"), []string{"video000002", "video000004"}; !slices.Equal(got, want) {
		t.Errorf("children of %v, want %v: the first two that match, once each, no live stream", got, want)
	}
	if s := h.get("a").Status; s.Videos != 6 || s.Selected != 2 {
		t.Errorf("videos %d selected %d, want 6, 2", s.Videos, s.Selected)
	}
}

func TestPlaylistTemplateReachesTheChildren(t *testing.T) {
	tmpl := v1alpha1.ExtractionTemplate{
		Metadata: v1alpha1.TemplateMetadata{
			Labels:      map[string]string{"team": "radio", playlist.LabelPlaylist: "spoofed", playlist.LabelVideo: "spoofed"},
			Annotations: map[string]string{"owner": "jo", playlist.AnnotationVideoID: "spoofed"},
		},
		Spec: v1alpha1.ExtractionTemplateSpec{
			Audio:          &v1alpha1.AudioSpec{Format: "m4a"},
			Thumbnail:      true,
			Retry:          &v1alpha1.RetrySpec{MaxAttempts: 5},
			ArtifactPolicy: v1alpha1.ArtifactPolicyRetain,
		},
	}
	h := newPlaylistHarness(t, PlaylistOptions{}, playlistOf("a", func(pl *v1alpha1.YouTubePlaylist) { pl.Spec.Template = tmpl }))
	h.start("a")
	id := "video000001"
	h.answer("a", entries(id)...)
	h.step("a")
	x := h.child("a", id)
	if x.Labels["team"] != "radio" || x.Annotations["owner"] != "jo" {
		t.Errorf("labels %v annotations %v, want the template's", x.Labels, x.Annotations)
	}
	if x.Labels[playlist.LabelPlaylist] != "a" || x.Labels[playlist.LabelVideo] != playlist.VideoHash(id) || x.Annotations[playlist.AnnotationVideoID] != id {
		t.Errorf("labels %v annotations %v: the template's replaced ytx's own", x.Labels, x.Annotations)
	}
	day := int32(v1alpha1.DefaultChildTTLSeconds)
	want := v1alpha1.YouTubeExtractionSpec{
		URL: "https://www.youtube.com/watch?v=" + id, Audio: tmpl.Spec.Audio, Thumbnail: true, Retry: tmpl.Spec.Retry,
		TTLSecondsAfterFinished: &day, ArtifactPolicy: v1alpha1.ArtifactPolicyRetain,
		Playlist: &v1alpha1.PlaylistRef{Name: "a", UID: string(uid("a"))},
	}
	if !reflect.DeepEqual(x.Spec, want) {
		t.Errorf("spec %+v, want %+v", x.Spec, want)
	}
	if day != 86400 {
		t.Errorf("the default TTL is %ds, want a day", day)
	}

	zero := int32(0)
	h.edit("a", func(pl *v1alpha1.YouTubePlaylist) { pl.Spec.Template.Spec.TTLSecondsAfterFinished = &zero })
	h.step("a")
	h.step("a")
	h.answer("a", entries("video000002")...)
	h.step("a")
	if ttl := h.child("a", "video000002").Spec.TTLSecondsAfterFinished; ttl == nil || *ttl != 0 {
		t.Errorf("ttl %v, want the template's 0", ttl)
	}
}

// --- failed listings ---

func TestPlaylistRetryableListingFailureStartsANewSyncAfterBackoffUpToListingTries(t *testing.T) {
	h := newPlaylistHarness(t, PlaylistOptions{ListingTries: 3, RetryBackoff: 30 * time.Second}, playlistOf("a"))
	h.start("a")
	at := time.Duration(0)
	for try, backoff := range []time.Duration{30 * time.Second, time.Minute} {
		h.answerFailed("a", v1alpha1.ReasonRateLimited, true)
		if res := h.step("a"); res.RequeueAfter != backoff {
			t.Errorf("try %d: requeue after %v, want %v", try+1, res.RequeueAfter, backoff)
		}
		h.at(at + backoff - time.Second)
		h.step("a")
		if s := h.get("a").Status.Sync; s != int64(try+1) {
			t.Fatalf("try %d: sync %d before the backoff passed", try+1, s)
		}
		h.at(at + backoff)
		at += backoff
		h.step("a")
		pl := h.get("a")
		if pl.Status.Sync != int64(try+2) || pl.Status.SyncAttempts != int32(try+2) || plCond(pl, v1alpha1.ConditionPlaylistFailed) != "" {
			t.Fatalf("try %d: sync %d attempts %d Failed %q, want %d, %d, none", try+1, pl.Status.Sync, pl.Status.SyncAttempts,
				plCond(pl, v1alpha1.ConditionPlaylistFailed), try+2, try+2)
		}
		h.wantSent()
		h.step("a")
		h.wantSent(listingJob("a", 1, int64(try+2)))
	}
	h.answerFailed("a", v1alpha1.ReasonRateLimited, true)
	h.step("a")
	pl := h.get("a")
	if c := plCond(pl, v1alpha1.ConditionPlaylistFailed); c != "True ListingFailed" {
		t.Errorf("Failed %q after 3 tries, want True ListingFailed", c)
	}
	if c := plCond(pl, v1alpha1.ConditionSynced); c != "False ListingFailed" {
		t.Errorf("Synced %q, want False ListingFailed", c)
	}
	if m := condMessage(pl, v1alpha1.ConditionPlaylistFailed); !strings.Contains(m, v1alpha1.ReasonRateLimited) {
		t.Errorf("Failed says %q, want the worker's reason", m)
	}
	h.wantEvents("Warning ListingFailed")
	h.at(time.Hour)
	h.step("a")
	h.wantSent()
	if s := h.get("a").Status.Sync; s != 3 {
		t.Errorf("sync %d an hour later, want 3: no schedule, no new sync", s)
	}
}

func TestPlaylistPermanentListingFailureFailsAtOnce(t *testing.T) {
	h := newPlaylistHarness(t, PlaylistOptions{}, playlistOf("a"))
	h.start("a")
	h.answerFailed("a", v1alpha1.ReasonPlaylistUnavailable, false)
	h.step("a")
	pl := h.get("a")
	if c := plCond(pl, v1alpha1.ConditionPlaylistFailed); c != "True PlaylistUnavailable" {
		t.Errorf("Failed %q, want True PlaylistUnavailable", c)
	}
	if pl.Status.Sync != 1 || pl.Status.SyncedSync != 1 {
		t.Errorf("sync %d syncedSync %d, want 1, 1", pl.Status.Sync, pl.Status.SyncedSync)
	}
	h.wantEvents("Warning PlaylistUnavailable")
	h.at(time.Hour)
	h.step("a")
	h.wantSent()
	if n := len(h.children("a")); n != 0 {
		t.Errorf("%d children of a failed listing", n)
	}
}

func TestPlaylistLaterSuccessClearsFailed(t *testing.T) {
	h := newPlaylistHarness(t, PlaylistOptions{}, playlistOf("a", func(pl *v1alpha1.YouTubePlaylist) { pl.Spec.Schedule = "@every 1h" }))
	h.start("a")
	h.answerFailed("a", v1alpha1.ReasonPlaylistUnavailable, false)
	h.step("a")
	h.at(time.Hour)
	h.step("a")
	h.step("a")
	h.wantSent(listingJob("a", 1, 2))
	h.answer("a", entries(videoIDs(1)...)...)
	h.step("a")
	pl := h.get("a")
	if c := plCond(pl, v1alpha1.ConditionPlaylistFailed); c != "" {
		t.Errorf("Failed %q after a sync succeeded, want none", c)
	}
	if c := plCond(pl, v1alpha1.ConditionSynced); c != "True Synced" {
		t.Errorf("Synced %q, want True Synced", c)
	}
}

// --- invalid specs ---

func TestPlaylistInvalidSpecFailsWithoutAJobUntilFixed(t *testing.T) {
	for _, tc := range []struct {
		reason string
		spoil  func(*v1alpha1.YouTubePlaylist)
		fix    func(*v1alpha1.YouTubePlaylist)
	}{
		{v1alpha1.ReasonInvalidSchedule,
			func(pl *v1alpha1.YouTubePlaylist) { pl.Spec.Schedule = "every day at six" },
			func(pl *v1alpha1.YouTubePlaylist) { pl.Spec.Schedule = "0 6 * * *" }},
		{v1alpha1.ReasonInvalidMatch,
			func(pl *v1alpha1.YouTubePlaylist) { pl.Spec.Match = "(live" },
			func(pl *v1alpha1.YouTubePlaylist) { pl.Spec.Match = "live" }},
		{v1alpha1.ReasonInvalidPublishedAfter,
			func(pl *v1alpha1.YouTubePlaylist) { pl.Spec.PublishedAfter = "2026-02-30" },
			func(pl *v1alpha1.YouTubePlaylist) { pl.Spec.PublishedAfter = "2026-02-28" }},
	} {
		t.Run(tc.reason, func(t *testing.T) {
			h := newPlaylistHarness(t, PlaylistOptions{}, playlistOf("a", tc.spoil))
			for range 3 {
				h.step("a")
			}
			pl := h.get("a")
			if c := plCond(pl, v1alpha1.ConditionPlaylistFailed); c != "True "+tc.reason {
				t.Errorf("Failed %q, want True %s", c, tc.reason)
			}
			if c := plCond(pl, v1alpha1.ConditionSynced); c != "False "+tc.reason {
				t.Errorf("Synced %q, want False %s", c, tc.reason)
			}
			if pl.Status.Sync != 0 || pl.Status.ObservedGeneration != 1 {
				t.Errorf("sync %d observedGeneration %d, want 0, 1", pl.Status.Sync, pl.Status.ObservedGeneration)
			}
			h.wantSent()
			h.wantEvents("Warning " + tc.reason) // once, not at every reconcile

			h.edit("a", tc.fix)
			h.step("a")
			h.step("a")
			pl = h.get("a")
			if c := plCond(pl, v1alpha1.ConditionPlaylistFailed); c != "" {
				t.Errorf("Failed %q once the spec is fixed, want none", c)
			}
			h.wantSent(listingJob("a", 2, 1))
		})
	}
}

// --- the schedule ---

func TestPlaylistScheduleStartsASyncAtEachTime(t *testing.T) {
	for _, tc := range []struct {
		schedule    string
		first, then time.Duration
	}{
		{"@every 1m", time.Minute, 2 * time.Minute},
		{"CRON_TZ=UTC 30 6 * * *", 6*time.Hour + 30*time.Minute, 30*time.Hour + 30*time.Minute},
	} {
		t.Run(tc.schedule, func(t *testing.T) {
			h := newPlaylistHarness(t, PlaylistOptions{}, playlistOf("a", func(pl *v1alpha1.YouTubePlaylist) { pl.Spec.Schedule = tc.schedule }))
			h.start("a")
			h.answer("a", entries(videoIDs(1)...)...)
			if res := h.step("a"); res.RequeueAfter != tc.first {
				t.Errorf("requeue after %v, want %v", res.RequeueAfter, tc.first)
			}
			wantNext(t, h.get("a"), base.Add(tc.first))

			h.at(tc.first - time.Second)
			h.step("a")
			if s := h.get("a").Status.Sync; s != 1 {
				t.Errorf("sync %d before the time, want 1", s)
			}
			h.at(tc.first)
			h.step("a")
			pl := h.get("a")
			if pl.Status.Sync != 2 {
				t.Errorf("sync %d at the time, want 2", pl.Status.Sync)
			}
			wantNext(t, pl, base.Add(tc.then))
			h.wantSent()
			h.step("a")
			h.wantSent(listingJob("a", 1, 2))
		})
	}
}

func TestPlaylistManagerDownAcrossSeveralTimesMakesOneSync(t *testing.T) {
	h := newPlaylistHarness(t, PlaylistOptions{}, playlistOf("a", func(pl *v1alpha1.YouTubePlaylist) { pl.Spec.Schedule = "CRON_TZ=UTC */10 * * * *" }))
	h.start("a")
	h.answer("a", entries(videoIDs(1)...)...)
	h.step("a")
	h.at(35 * time.Minute) // 10, 20 and 30 passed unseen
	for range 3 {
		h.step("a")
	}
	h.wantSent(listingJob("a", 1, 2))
	pl := h.get("a")
	if pl.Status.Sync != 2 {
		t.Errorf("sync %d, want 2", pl.Status.Sync)
	}
	wantNext(t, pl, base.Add(40*time.Minute))
	h.answer("a", entries(videoIDs(1)...)...)
	h.step("a")
	h.step("a")
	h.wantSent()
	if s := h.get("a").Status.Sync; s != 2 {
		t.Errorf("sync %d before 00:40, want 2", s)
	}
}

func wantNext(t *testing.T, pl *v1alpha1.YouTubePlaylist, want time.Time) {
	t.Helper()
	if n := pl.Status.NextSyncTime; n == nil || !n.Time.Equal(want) {
		t.Errorf("nextSyncTime %v, want %v", n, want)
	}
}

// --- the archive ---

// synced is a playlist h has synced once, with a child of each of ids.
func synced(t *testing.T, opts PlaylistOptions, ids []string, mutate ...func(*v1alpha1.YouTubePlaylist)) *plHarness {
	t.Helper()
	h := newPlaylistHarness(t, opts, playlistOf("a", mutate...))
	h.start("a")
	h.answer("a", entries(ids...)...)
	h.step("a")
	if n := len(h.children("a")); n != len(ids) {
		t.Fatalf("%d children, want %d", n, len(ids))
	}
	h.events.Take()
	return h
}

// resync starts a new sync by a spec change and answers it with ids.
func (h *plHarness) resync(name string, ids ...string) {
	h.t.Helper()
	h.edit(name, func(pl *v1alpha1.YouTubePlaylist) { pl.Spec.IncludeLive = !pl.Spec.IncludeLive })
	h.step(name)
	h.step(name)
	h.pub.take()
	h.answer(name, entries(ids...)...)
	h.step(name)
}

func TestPlaylistSucceededChildIsArchived(t *testing.T) {
	ids := videoIDs(2)
	h := synced(t, PlaylistOptions{}, ids)
	h.finish("a", ids[1], childSucceeded)
	h.step("a")
	if got := h.archive("a"); !slices.Equal(got, archived(ids[1])) {
		t.Errorf("archive %q, want %q", got, archived(ids[1]))
	}
	s := h.get("a").Status
	wantURI := h.store.URI(playlist.ArchiveKey(ns, "a", string(uid("a"))))
	if s.Archived != 1 || s.Archive != wantURI {
		t.Errorf("archived %d archive %q, want 1, %q", s.Archived, s.Archive, wantURI)
	}
	if !h.childExists("a", ids[1]) {
		t.Error("the succeeded child was deleted: its TTL decides that")
	}
}

func TestPlaylistChildFailedForGoodIsArchived(t *testing.T) {
	for _, reason := range []string{v1alpha1.ReasonVideoUnavailable, v1alpha1.ReasonLoginRequired} {
		t.Run(reason, func(t *testing.T) {
			ids := videoIDs(2)
			h := synced(t, PlaylistOptions{}, ids)
			// The cache drops a finished child's conditions: the reason
			// is on the API server only.
			h.finish("a", ids[0], childFailed(reason))
			h.step("a")
			if got := h.archive("a"); !slices.Equal(got, archived(ids[0])) {
				t.Errorf("archive %q, want %q", got, archived(ids[0]))
			}
		})
	}
}

func TestPlaylistChildFailedTransientlyIsNotArchivedAndIsMadeAgainOnceDeleted(t *testing.T) {
	for _, reason := range []string{v1alpha1.ReasonAttemptsExhausted, v1alpha1.ReasonDownloadFailed} {
		t.Run(reason, func(t *testing.T) {
			ids := videoIDs(2)
			h := synced(t, PlaylistOptions{}, ids)
			h.finish("a", ids[0], childFailed(reason))
			h.step("a")
			if got := h.archive("a"); got != nil {
				t.Errorf("archive %q, want none", got)
			}
			h.deleteChild("a", ids[0]) // its TTL
			h.step("a")
			if h.childExists("a", ids[0]) {
				t.Fatal("the deleted child is still held by the playlist's finalizer")
			}
			if got := h.archive("a"); got != nil {
				t.Errorf("archive %q, want none", got)
			}
			h.resync("a", ids...)
			if !h.childExists("a", ids[0]) {
				t.Errorf("the next sync did not make the child of %s again", ids[0])
			}
		})
	}
}

func TestPlaylistChildDeletedBeforeItFinishedIsArchived(t *testing.T) {
	for _, tc := range []struct {
		phase string
		state func(*v1alpha1.YouTubeExtraction)
	}{
		{"Pending", func(*v1alpha1.YouTubeExtraction) {}},
		{"Running", childRunning},
	} {
		t.Run(tc.phase, func(t *testing.T) {
			ids := videoIDs(2)
			h := synced(t, PlaylistOptions{}, ids)
			h.finish("a", ids[0], tc.state)
			h.deleteChild("a", ids[0]) // by hand: the user does not want it
			h.step("a")
			if h.childExists("a", ids[0]) {
				t.Error("the deleted child is still held by the playlist's finalizer")
			}
			if got := h.archive("a"); !slices.Equal(got, archived(ids[0])) {
				t.Errorf("archive %q, want %q", got, archived(ids[0]))
			}
		})
	}
}

func TestPlaylistArchivedVideoIsNeverMadeAgain(t *testing.T) {
	ids := videoIDs(3)
	h := synced(t, PlaylistOptions{}, ids)
	h.finish("a", ids[0], childSucceeded)
	h.finish("a", ids[1], childFailed(v1alpha1.ReasonVideoUnavailable))
	h.deleteChild("a", ids[2])
	h.step("a")
	h.deleteChild("a", ids[0]) // their TTL
	h.deleteChild("a", ids[1])
	h.step("a")
	if n := len(h.children("a")); n != 0 {
		t.Fatalf("%d children left, want none", n)
	}
	h.resync("a", ids...)
	if got := h.childVideos("a"); got != nil {
		t.Errorf("a later sync made %v again", got)
	}
	// A new leader reads the archive from its file.
	h.r = newPlaylistReconciler(trimming{h.client}, h.client, h.pub, h.events, PlaylistOptions{Storage: h.store})
	h.r.now = h.clock.Now
	h.resync("a", ids...)
	if got := h.childVideos("a"); got != nil {
		t.Errorf("a later sync of a new leader made %v again", got)
	}
	if s := h.get("a").Status; s.Archived != 3 || s.Selected != 3 {
		t.Errorf("archived %d selected %d, want 3, 3", s.Archived, s.Selected)
	}
}

// --- deleting the playlist ---

func TestPlaylistDeletionDeletesAndRecordsTheChildren(t *testing.T) {
	for _, policy := range []v1alpha1.ArtifactPolicy{v1alpha1.ArtifactPolicyDelete, v1alpha1.ArtifactPolicyRetain} {
		t.Run(string(policy), func(t *testing.T) {
			ids := videoIDs(3)
			h := synced(t, PlaylistOptions{}, ids, func(pl *v1alpha1.YouTubePlaylist) { pl.Spec.Template.Spec.ArtifactPolicy = policy })
			other := "music/other/uid-other/video.m4a"
			h.store.put(t, other)
			// An extraction that names this playlist in spec.playlist
			// without being its child keeps its files: they are its own.
			imposter := playlist.Prefix(ns, "a", string(uid("a"))) + "videos/imposter/uid-imposter/1-1/info.json"
			h.store.put(t, imposter)
			h.finish("a", ids[0], childSucceeded)
			h.finish("a", ids[1], childRunning)
			h.finish("a", ids[2], childFailed(v1alpha1.ReasonDownloadFailed))
			if err := h.client.Delete(context.Background(), h.get("a")); err != nil {
				t.Fatal(err)
			}
			for i := 0; i < 5 && h.exists("a"); i++ {
				h.step("a")
			}
			if h.exists("a") {
				t.Fatalf("the playlist is still there, finalizers %v", h.get("a").Finalizers)
			}
			if n := len(h.children("a")); n != 0 {
				t.Errorf("%d children outlived the playlist", n)
			}
			prefix := playlist.Prefix(ns, "a", string(uid("a")))
			var own []string
			for _, f := range h.store.files(t) {
				if strings.HasPrefix(f, prefix) {
					own = append(own, strings.TrimPrefix(f, prefix))
				}
			}
			for _, f := range []string{other, imposter} {
				if !slices.Contains(h.store.files(t), f) {
					t.Errorf("another resource's file %s went with the playlist", f)
				}
			}
			own = slices.DeleteFunc(own, func(f string) bool { return strings.HasPrefix(f, "videos/imposter/") })
			if policy == v1alpha1.ArtifactPolicyDelete {
				if len(own) > 0 {
					t.Errorf("files %v left under %s, want none", own, prefix)
				}
				return
			}
			if want := []string{"archive.txt", "listings/1.json"}; !slices.Equal(own, want) {
				t.Errorf("files %v under %s, want %v", own, prefix, want)
			}
			// Succeeded and deleted while running: recorded; failed for
			// now: not.
			if got, want := h.archive("a"), archived(ids[0], ids[1]); !slices.Equal(got, want) {
				t.Errorf("archive %q, want %q", got, want)
			}
		})
	}
}

func TestPlaylistOrphanDeletionLeavesTheChildren(t *testing.T) {
	ids := videoIDs(2)
	h := synced(t, PlaylistOptions{}, ids)
	pl := h.get("a")
	pl.Finalizers = append(pl.Finalizers, metav1.FinalizerOrphanDependents)
	if err := h.client.Update(context.Background(), pl); err != nil {
		t.Fatal(err)
	}
	if err := h.client.Delete(context.Background(), pl); err != nil {
		t.Fatal(err)
	}
	// The garbage collector may orphan the children (drop their owner
	// references) before the controller sees the deletion.
	for _, x := range h.children("a") {
		x.OwnerReferences = nil
		if err := h.client.Update(context.Background(), &x); err != nil {
			t.Fatal(err)
		}
	}
	h.step("a")
	h.step("a")
	if f := h.get("a").Finalizers; slices.Contains(f, playlist.Finalizer) {
		t.Errorf("finalizers %v: the playlist still holds itself", f)
	}
	children := h.children("a")
	if len(children) != 2 {
		t.Fatalf("%d children, want the 2 orphans", len(children))
	}
	for _, x := range children {
		if !x.DeletionTimestamp.IsZero() {
			t.Errorf("%s is being deleted", x.Name)
		}
		// No playlist is left to let an orphan go: it must not hold a
		// finalizer only a playlist removes.
		if slices.Contains(x.Finalizers, playlist.Finalizer) {
			t.Errorf("%s keeps the finalizer %s with no playlist to remove it: it can never be deleted", x.Name, playlist.Finalizer)
		}
	}
}

// --- status.children ---

func TestPlaylistStatusCountsChildrenByPhase(t *testing.T) {
	ids := videoIDs(6)
	h := synced(t, PlaylistOptions{}, ids)
	h.finish("a", ids[1], childRunning)
	h.finish("a", ids[2], childSucceeded)
	h.finish("a", ids[3], childSucceeded)
	h.finish("a", ids[4], childFailed(v1alpha1.ReasonDownloadFailed))
	h.finish("a", ids[5], func(x *v1alpha1.YouTubeExtraction) { x.Status.Phase = v1alpha1.PhaseQueued })
	h.step("a")
	want := v1alpha1.ChildCounts{Pending: 2, Running: 1, Succeeded: 2, Failed: 1}
	if got := h.get("a").Status.Children; got != want {
		t.Errorf("children %+v, want %+v", got, want)
	}
}

// --- helpers ---

// condMessage is the message of a playlist's condition.
func condMessage(pl *v1alpha1.YouTubePlaylist, typ string) string {
	for _, c := range pl.Status.Conditions {
		if c.Type == typ {
			return c.Message
		}
	}
	return ""
}

func (h *plHarness) exists(name string) bool {
	h.t.Helper()
	var pl v1alpha1.YouTubePlaylist
	err := h.client.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: name}, &pl)
	return err == nil
}

// putBytes stores body under key.
func (s *store) putBytes(t *testing.T, key, body string) {
	t.Helper()
	if _, err := s.Put(context.Background(), key, strings.NewReader(body), storage.PutOptions{Size: int64(len(body))}); err != nil {
		t.Fatal(err)
	}
}
