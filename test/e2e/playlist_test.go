package e2e

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "ytx.dev/ytx/api/v1alpha1"
	"ytx.dev/ytx/controllers"
	"ytx.dev/ytx/internal/job"
	"ytx.dev/ytx/internal/kafka"
	"ytx.dev/ytx/internal/playlist"
	"ytx.dev/ytx/internal/youtube/fake"
)

// addPlaylist adds a playlist of n fresh videos to the fake and returns
// its ID and the videos' IDs in order.
func addPlaylist(t *testing.T, n int, mutate ...func(*fake.Playlist)) (string, []string) {
	t.Helper()
	p := fake.Playlist{ID: "PL" + rand.String(32), Title: "Playlist " + rand.String(5), Author: "Test Channel", ChannelID: "UCtestchanneltestchannel"}
	for i := range n {
		p.VideoIDs = append(p.VideoIDs, addVideo(t, fmt.Sprintf("Track %03d", i+1)).ID)
	}
	for _, f := range mutate {
		f(&p)
	}
	if err := youTube.AddPlaylist(p); err != nil {
		t.Fatal(err)
	}
	return p.ID, p.VideoIDs
}

func playlistURL(id string) string { return "https://www.youtube.com/playlist?list=" + id }

func (e *env) createPlaylist(name, link string, mutate ...func(*v1alpha1.YouTubePlaylist)) *v1alpha1.YouTubePlaylist {
	e.t.Helper()
	pl := &v1alpha1.YouTubePlaylist{
		ObjectMeta: metav1.ObjectMeta{Namespace: e.ns, Name: name},
		Spec:       v1alpha1.YouTubePlaylistSpec{URL: link},
	}
	for _, f := range mutate {
		f(pl)
	}
	if err := k8s.Create(e.ctx(10*time.Second), pl); err != nil {
		e.t.Fatalf("creating playlist %s: %v", name, err)
	}
	return pl
}

func (e *env) getPlaylist(name string) *v1alpha1.YouTubePlaylist {
	e.t.Helper()
	var pl v1alpha1.YouTubePlaylist
	if err := k8s.Get(e.ctx(10*time.Second), client.ObjectKey{Namespace: e.ns, Name: name}, &pl); err != nil {
		e.t.Fatalf("getting playlist %s: %v", name, err)
	}
	return &pl
}

// waitPlaylist waits until done holds of the playlist.
func (e *env) waitPlaylist(name string, timeout time.Duration, what string, done func(*v1alpha1.YouTubePlaylist) bool) *v1alpha1.YouTubePlaylist {
	e.t.Helper()
	var last v1alpha1.YouTubePlaylist
	err := wait.PollUntilContextTimeout(e.ctx(timeout+5*time.Second), 100*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		if err := k8s.Get(ctx, client.ObjectKey{Namespace: e.ns, Name: name}, &last); err != nil {
			return false, client.IgnoreNotFound(err)
		}
		return done(&last), nil
	})
	if err != nil {
		e.t.Fatalf("playlist %s: %s did not happen within %s; status %+v", name, what, timeout, last.Status)
	}
	return &last
}

// children lists the playlist's extractions by its label, as a user would.
func (e *env) children(name string) []v1alpha1.YouTubeExtraction {
	e.t.Helper()
	var list v1alpha1.YouTubeExtractionList
	if err := k8s.List(e.ctx(10*time.Second), &list, client.InNamespace(e.ns), client.MatchingLabels{playlist.LabelPlaylist: name}); err != nil {
		e.t.Fatal(err)
	}
	return list.Items
}

// childVideos are the video IDs of the children, sorted.
func childVideos(xs []v1alpha1.YouTubeExtraction) []string {
	var ids []string
	for _, x := range xs {
		ids = append(ids, x.Annotations[playlist.AnnotationVideoID])
	}
	slices.Sort(ids)
	return ids
}

func sorted(s []string) []string {
	c := slices.Clone(s)
	slices.Sort(c)
	return c
}

// waitChildren waits until the playlist has want children, all in phase.
func (e *env) waitChildren(name string, want int, phase v1alpha1.Phase, timeout time.Duration) []v1alpha1.YouTubeExtraction {
	e.t.Helper()
	var xs []v1alpha1.YouTubeExtraction
	deadline := time.Now().Add(timeout)
	for {
		xs = e.children(name)
		n := 0
		for _, x := range xs {
			if x.Status.Phase == phase {
				n++
			}
		}
		if len(xs) == want && n == want {
			return xs
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("playlist %s: %d children, %d %s; want %d %s", name, len(xs), n, phase, want, phase)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func synced(pl *v1alpha1.YouTubePlaylist) bool {
	return pl.Status.ObservedGeneration == pl.Generation && pl.Status.SyncedSync > 0 && pl.Status.SyncedSync == pl.Status.Sync &&
		meta.IsStatusConditionTrue(pl.Status.Conditions, v1alpha1.ConditionSynced)
}

// readArchive reads the playlist's archive.txt from the storage.
func (e *env) readArchive(pl *v1alpha1.YouTubePlaylist) []string {
	e.t.Helper()
	rc, err := e.store.Open(e.ctx(10*time.Second), playlist.ArchiveKey(pl.Namespace, pl.Name, string(pl.UID)))
	if err != nil {
		e.t.Fatalf("reading the archive of %s: %v", pl.Name, err)
	}
	defer rc.Close()
	arc, err := playlist.ParseArchive(rc)
	if err != nil {
		e.t.Fatal(err)
	}
	var ids []string
	for _, line := range strings.Split(strings.TrimSpace(string(arc.Bytes())), "\n") {
		if id, ok := strings.CutPrefix(line, "youtube "); ok {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}

// A playlist of three videos becomes three extractions that succeed; the
// status counts them and `kubectl get playlists` shows it.
func TestPlaylistOfThreeVideosMakesThreeExtractions(t *testing.T) {
	t.Parallel()
	e := newEnv(t, setup{})
	e.startWorker(workerSetup{})
	id, videos := addPlaylist(t, 3)

	e.createPlaylist("three", playlistURL(id))
	xs := e.waitChildren("three", 3, v1alpha1.PhaseSucceeded, time.Minute)
	if got := childVideos(xs); !slices.Equal(got, sorted(videos)) {
		t.Errorf("children are of %v, want %v", got, sorted(videos))
	}
	for _, x := range xs {
		if len(x.OwnerReferences) != 1 || x.OwnerReferences[0].Kind != "YouTubePlaylist" || x.OwnerReferences[0].Name != "three" {
			t.Errorf("%s: owner references %+v, want the playlist", x.Name, x.OwnerReferences)
		}
		if x.Spec.TTLSecondsAfterFinished == nil || *x.Spec.TTLSecondsAfterFinished != v1alpha1.DefaultChildTTLSeconds {
			t.Errorf("%s: ttlSecondsAfterFinished %v, want the default %d", x.Name, x.Spec.TTLSecondsAfterFinished, v1alpha1.DefaultChildTTLSeconds)
		}
	}
	pl := e.waitPlaylist("three", 30*time.Second, "counts of 3 succeeded", func(pl *v1alpha1.YouTubePlaylist) bool {
		return synced(pl) && pl.Status.Children.Succeeded == 3
	})
	// Each extraction's files are under the playlist's, in a directory of
	// its own name and UID.
	for _, x := range xs {
		full := e.get(x.Name)
		under := e.store.URI(playlist.Prefix(e.ns, "three", string(pl.UID)) + "videos/" + x.Name + "/" + string(x.UID) + "/")
		if len(full.Status.Artifacts) == 0 {
			t.Errorf("%s stored nothing", x.Name)
		}
		for _, a := range full.Status.Artifacts {
			if !strings.HasPrefix(a.URI, under) {
				t.Errorf("%s: %s is not under its playlist's %s", x.Name, a.URI, under)
			}
		}
	}
	if pl.Status.Videos != 3 || pl.Status.Selected != 3 || pl.Status.Title == "" || pl.Status.Children.Failed != 0 || pl.Status.Children.Pending != 0 {
		t.Errorf("status %+v: want 3 videos, 3 selected, a title, 3 succeeded and nothing else", pl.Status)
	}
	if got := e.readArchive(pl); !slices.Equal(got, sorted(videos)) {
		t.Errorf("archive holds %v, want every done video %v", got, sorted(videos))
	}
	table := e.kubectl("get", "playlists")
	for _, want := range []string{"TITLE", "VIDEOS", "SUCCEEDED", "FAILED", "LAST SYNC", "AGE", "three", pl.Status.Title} {
		if !strings.Contains(table, want) {
			t.Errorf("`kubectl get playlists` does not show %q:\n%s", want, table)
		}
	}
	if f := strings.Fields(strings.Split(strings.TrimSpace(table), "\n")[1]); !slices.Contains(f, "3") {
		t.Errorf("`kubectl get playlists` row shows no count of 3: %q", f)
	}
	both := e.kubectl("get", "ytx")
	if !strings.Contains(both, "youtubeplaylist.ytx.dev/three") || !strings.Contains(both, "youtubeextraction.ytx.dev/"+xs[0].Name) {
		t.Errorf("`kubectl get ytx` does not list both kinds:\n%s", both)
	}
}

// A listing longer than a page is read page by page; maxVideos takes the
// first N in the playlist's order, match filters titles.
func TestPlaylistIsReadPageByPageAndFiltered(t *testing.T) {
	t.Parallel()
	e := newEnv(t, setup{})
	e.startWorker(workerSetup{})
	id, videos := addPlaylist(t, 250)

	ten := int32(10)
	e.createPlaylist("first-ten", playlistURL(id), func(pl *v1alpha1.YouTubePlaylist) { pl.Spec.MaxVideos = &ten })
	e.createPlaylist("matching", playlistURL(id), func(pl *v1alpha1.YouTubePlaylist) { pl.Spec.Match = `^Track (00[1-3]|250)$` })
	pl := e.waitPlaylist("first-ten", time.Minute, "synced", synced)
	if pl.Status.Videos != 250 || pl.Status.Selected != 10 {
		t.Errorf("first-ten: %d videos, %d selected; want all 250 read and 10 selected", pl.Status.Videos, pl.Status.Selected)
	}
	if got := childVideos(e.waitChildren("first-ten", 10, v1alpha1.PhaseSucceeded, time.Minute)); !slices.Equal(got, sorted(videos[:10])) {
		t.Errorf("maxVideos 10 made %v, want the playlist's first ten %v", got, sorted(videos[:10]))
	}
	want := sorted([]string{videos[0], videos[1], videos[2], videos[249]})
	if got := childVideos(e.waitChildren("matching", 4, v1alpha1.PhaseSucceeded, time.Minute)); !slices.Equal(got, want) {
		t.Errorf("match made %v, want %v (the last page's entry too)", got, want)
	}
}

// addChannel adds a channel whose uploads, newest first, are published a
// day apart, from today back.
func addChannel(t *testing.T, n int) fake.Channel {
	t.Helper()
	c := fake.Channel{ID: "UC" + rand.String(22), Handle: "@ch" + rand.String(8), Title: "Channel " + rand.String(4)}
	today := time.Now().UTC().Truncate(24 * time.Hour)
	for i := range n {
		v := addVideo(t, fmt.Sprintf("Upload %02d", i), func(v *fake.Video) {
			v.PublishDate = today.AddDate(0, 0, -i).Add(12 * time.Hour)
			v.ChannelID, v.Author = c.ID, c.Title
		})
		c.Videos = append(c.Videos, v.ID)
	}
	if err := youTube.AddChannel(c); err != nil {
		t.Fatal(err)
	}
	return c
}

// A channel's maxVideos are its newest; publishedAfter reads the dates the
// listing lacks and keeps the uploads of those days.
func TestChannelNewestAndPublishedAfter(t *testing.T) {
	t.Parallel()
	e := newEnv(t, setup{})
	e.startWorker(workerSetup{})
	c := addChannel(t, 12)

	three := int32(3)
	e.createPlaylist("newest", "https://www.youtube.com/"+c.Handle+"/videos", func(pl *v1alpha1.YouTubePlaylist) { pl.Spec.MaxVideos = &three })
	since := time.Now().UTC().AddDate(0, 0, -4).Format(time.DateOnly)
	e.createPlaylist("recent", "https://www.youtube.com/channel/"+c.ID, func(pl *v1alpha1.YouTubePlaylist) { pl.Spec.PublishedAfter = since })
	if got := childVideos(e.waitChildren("newest", 3, v1alpha1.PhaseSucceeded, time.Minute)); !slices.Equal(got, sorted(c.Videos[:3])) {
		t.Errorf("maxVideos 3 of a channel made %v, want its newest %v", got, sorted(c.Videos[:3]))
	}
	pl := e.waitPlaylist("recent", time.Minute, "synced", synced)
	if got := childVideos(e.waitChildren("recent", 5, v1alpha1.PhaseSucceeded, time.Minute)); !slices.Equal(got, sorted(c.Videos[:5])) {
		t.Errorf("publishedAfter %s made %v, want the uploads of the last five days %v", since, got, sorted(c.Videos[:5]))
	}
	if pl.Status.Videos != 12 || pl.Status.Channel == "" {
		t.Errorf("recent: status %+v, want 12 videos listed and the channel's name", pl.Status)
	}
}

// On a schedule, a new upload becomes a new extraction at the next sync;
// nothing else is made again, not even an extraction deleted by hand.
func TestScheduleMakesOnlyNewUploads(t *testing.T) {
	t.Parallel()
	e := newEnv(t, setup{})
	e.startWorker(workerSetup{})
	c := addChannel(t, 2)

	e.createPlaylist("subscription", "https://www.youtube.com/channel/"+c.ID+"/videos", func(pl *v1alpha1.YouTubePlaylist) { pl.Spec.Schedule = "@every 2s" })
	xs := e.waitChildren("subscription", 2, v1alpha1.PhaseSucceeded, time.Minute)
	first := e.waitPlaylist("subscription", 30*time.Second, "a next sync time", func(pl *v1alpha1.YouTubePlaylist) bool { return synced(pl) && pl.Status.NextSyncTime != nil })
	uids := map[string]string{}
	for _, x := range xs {
		uids[x.Name] = string(x.UID)
	}
	deleted := xs[0]
	if err := k8s.Delete(e.ctx(10*time.Second), &deleted); err != nil {
		t.Fatal(err)
	}
	e.waitGone(deleted.Name, 30*time.Second)
	e.waitPlaylist("subscription", time.Minute, "two more syncs", func(pl *v1alpha1.YouTubePlaylist) bool { return pl.Status.SyncedSync >= first.Status.SyncedSync+2 })
	if got := e.children("subscription"); len(got) != 1 || got[0].Name == deleted.Name {
		t.Fatalf("after two syncs: children %v, want only %s (the deleted one is not made again)", childVideos(got), xs[1].Name)
	}

	upload := addVideo(t, "A New Upload", func(v *fake.Video) { v.ChannelID, v.Author = c.ID, c.Title })
	if err := youTube.AddUpload(c.ID, upload.ID); err != nil {
		t.Fatal(err)
	}
	now := e.waitChildren("subscription", 2, v1alpha1.PhaseSucceeded, time.Minute)
	if got, want := childVideos(now), sorted([]string{upload.ID, xs[1].Annotations[playlist.AnnotationVideoID]}); !slices.Equal(got, want) {
		t.Errorf("children of %v, want the new upload and the one kept %v", got, want)
	}
	for _, x := range now {
		if uid, ok := uids[x.Name]; ok && uid != string(x.UID) {
			t.Errorf("%s was made again", x.Name)
		}
	}
	pl := e.waitPlaylist("subscription", 30*time.Second, "three archived", func(pl *v1alpha1.YouTubePlaylist) bool { return pl.Status.Archived == 3 })
	if got, want := e.readArchive(pl), sorted(append([]string{upload.ID}, c.Videos...)); !slices.Equal(got, want) {
		t.Errorf("archive %v, want every done or deleted video %v", got, want)
	}
	// Earlier syncs' listings are pruned: the last one stays.
	pl = e.waitPlaylist("subscription", 30*time.Second, "one more sync", func(p *v1alpha1.YouTubePlaylist) bool { return synced(p) && p.Status.SyncedSync > pl.Status.SyncedSync })
	keys, err := e.store.List(e.ctx(10*time.Second), playlist.Prefix(pl.Namespace, pl.Name, string(pl.UID))+playlist.ListingsDir)
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) > 2 || len(keys) == 0 {
		t.Errorf("after %d syncs the listings are %v; want the last (and the one being read, at most)", pl.Status.SyncedSync, keys)
	}
}

// Children with ttlSecondsAfterFinished 0 go as soon as they finish; the
// archive keeps them done, so later syncs do not make them again.
func TestChildrenWithTTLZeroVanishAndAreNotMadeAgain(t *testing.T) {
	t.Parallel()
	e := newEnv(t, setup{})
	e.startWorker(workerSetup{})
	id, videos := addPlaylist(t, 3)
	zero := int32(0)
	e.createPlaylist("ephemeral", playlistURL(id), func(pl *v1alpha1.YouTubePlaylist) {
		pl.Spec.Schedule = "@every 2s"
		pl.Spec.Template.Spec.TTLSecondsAfterFinished = &zero
	})
	pl := e.waitPlaylist("ephemeral", time.Minute, "three archived", func(pl *v1alpha1.YouTubePlaylist) bool { return pl.Status.Archived == 3 })
	players := map[string]int64{}
	for _, v := range videos {
		players[v] = youTube.RequestsFor(fake.KindPlayer, v)
	}
	e.waitPlaylist("ephemeral", time.Minute, "two more syncs and no children", func(p *v1alpha1.YouTubePlaylist) bool {
		return p.Status.SyncedSync >= pl.Status.SyncedSync+2 && len(e.children("ephemeral")) == 0
	})
	for _, v := range videos {
		if n := youTube.RequestsFor(fake.KindPlayer, v); n != players[v] {
			t.Errorf("video %s was read %d more times after it was done", v, n-players[v])
		}
	}
	if got := e.readArchive(pl); !slices.Equal(got, sorted(videos)) {
		t.Errorf("archive %v, want %v", got, sorted(videos))
	}
}

// Two workers and a listing job delivered three times: each child is
// created once.
func TestDuplicatedListingJobsMakeEachChildOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t, setup{})
	e.startWorker(workerSetup{})
	e.startWorker(workerSetup{})
	id, videos := addPlaylist(t, 5)
	added := watchAdded(t, e.ns)

	pl := e.createPlaylist("twice", playlistURL(id))
	pl = e.waitPlaylist("twice", 30*time.Second, "a sync number", func(p *v1alpha1.YouTubePlaylist) bool { return p.Status.Sync > 0 })
	e.publishListing(pl)
	e.publishListing(pl)
	e.waitChildren("twice", len(videos), v1alpha1.PhaseSucceeded, time.Minute)
	e.waitPlaylist("twice", 30*time.Second, "synced", synced)
	for name, n := range added() {
		if n != 1 {
			t.Errorf("%s was created %d times", name, n)
		}
	}
}

// A private playlist fails with a reason; a playlist's private and deleted
// entries make extractions that fail, the others succeed, and all are
// archived as done.
func TestPrivatePlaylistAndPrivateEntries(t *testing.T) {
	t.Parallel()
	e := newEnv(t, setup{})
	e.startWorker(workerSetup{})
	private, _ := addPlaylist(t, 2, func(p *fake.Playlist) { p.Private = true })
	e.createPlaylist("secret", playlistURL(private))
	pl := e.waitPlaylist("secret", time.Minute, "Failed", func(p *v1alpha1.YouTubePlaylist) bool {
		return meta.IsStatusConditionTrue(p.Status.Conditions, v1alpha1.ConditionPlaylistFailed)
	})
	if c := meta.FindStatusCondition(pl.Status.Conditions, v1alpha1.ConditionPlaylistFailed); c.Reason != v1alpha1.ReasonPlaylistUnavailable {
		t.Errorf("Failed reason %s (%s), want %s", c.Reason, c.Message, v1alpha1.ReasonPlaylistUnavailable)
	}
	if n := len(e.children("secret")); n != 0 {
		t.Errorf("a private playlist made %d extractions", n)
	}

	mixed, videos := addPlaylist(t, 2, func(p *fake.Playlist) {
		p.VideoIDs = append(p.VideoIDs, fake.PrivateID, fake.UnavailableID)
	})
	e.createPlaylist("mixed", playlistURL(mixed))
	deadline := time.Now().Add(time.Minute)
	for {
		var ok, failed int
		for _, x := range e.children("mixed") {
			switch id := x.Annotations[playlist.AnnotationVideoID]; {
			case x.Status.Phase == v1alpha1.PhaseSucceeded && slices.Contains(videos[:2], id):
				ok++
			case x.Status.Phase == v1alpha1.PhaseFailed && (id == fake.PrivateID || id == fake.UnavailableID):
				failed++
			}
		}
		if ok == 2 && failed == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("mixed: %d succeeded, %d failed; want 2 and 2", ok, failed)
		}
		time.Sleep(200 * time.Millisecond)
	}
	pl = e.waitPlaylist("mixed", 30*time.Second, "four archived", func(p *v1alpha1.YouTubePlaylist) bool { return p.Status.Archived == 4 })
	if pl.Status.Children.Succeeded != 2 || pl.Status.Children.Failed != 2 {
		t.Errorf("mixed: counts %+v, want 2 succeeded and 2 failed", pl.Status.Children)
	}
}

// Deleting a playlist deletes its extractions and, with artifactPolicy
// Delete, their files and the playlist's archive; Retain keeps them.
func TestDeletingAPlaylistDeletesItsExtractions(t *testing.T) {
	t.Parallel()
	e := newEnv(t, setup{})
	e.startWorker(workerSetup{})
	id, _ := addPlaylist(t, 2)
	for _, policy := range []v1alpha1.ArtifactPolicy{v1alpha1.ArtifactPolicyDelete, v1alpha1.ArtifactPolicyRetain} {
		name := strings.ToLower(string(policy))
		e.createPlaylist(name, playlistURL(id), func(pl *v1alpha1.YouTubePlaylist) { pl.Spec.Template.Spec.ArtifactPolicy = policy })
		xs := e.waitChildren(name, 2, v1alpha1.PhaseSucceeded, time.Minute)
		pl := e.waitPlaylist(name, 30*time.Second, "two archived", func(p *v1alpha1.YouTubePlaylist) bool { return p.Status.Archived == 2 })
		if err := k8s.Delete(e.ctx(10*time.Second), pl); err != nil {
			t.Fatal(err)
		}
		for _, x := range xs {
			e.waitGone(x.Name, 30*time.Second)
		}
		e.waitPlaylistGone(name, 30*time.Second)
		keys, err := e.store.List(e.ctx(10*time.Second), e.ns+"/")
		if err != nil {
			t.Fatal(err)
		}
		var left []string
		for _, k := range keys {
			for _, owner := range append([]string{string(pl.UID)}, string(xs[0].UID), string(xs[1].UID)) {
				if strings.Contains(k, "/"+owner+"/") {
					left = append(left, k)
				}
			}
		}
		switch {
		case policy == v1alpha1.ArtifactPolicyDelete && len(left) > 0:
			t.Errorf("Delete: files left after the playlist went: %v", left)
		case policy == v1alpha1.ArtifactPolicyRetain && !slices.ContainsFunc(left, func(k string) bool { return strings.HasSuffix(k, "/archive.txt") }):
			t.Errorf("Retain: the archive is gone; left %v", left)
		}
	}
}

func (e *env) waitPlaylistGone(name string, timeout time.Duration) {
	e.t.Helper()
	err := wait.PollUntilContextTimeout(e.ctx(timeout+5*time.Second), 100*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		err := k8s.Get(ctx, client.ObjectKey{Namespace: e.ns, Name: name}, &v1alpha1.YouTubePlaylist{})
		return apierrors.IsNotFound(err), client.IgnoreNotFound(err)
	})
	if err != nil {
		e.t.Fatalf("playlist %s is still there after %s", name, timeout)
	}
}

// publishListing sends the playlist's current sync's listing job once
// more, as a duplicated delivery would.
func (e *env) publishListing(pl *v1alpha1.YouTubePlaylist) {
	e.t.Helper()
	p, err := kafka.NewPublisher(e.kafka)
	if err != nil {
		e.t.Fatal(err)
	}
	defer p.Close()
	m := job.Message{Kind: job.KindListing, Namespace: pl.Namespace, Name: pl.Name, UID: pl.UID, Generation: pl.Generation, Attempt: int32(pl.Status.Sync)}
	if err := p.Publish(e.ctx(10*time.Second), m); err != nil {
		e.t.Fatal(err)
	}
}

// watchAdded counts, by name, the extractions created in ns from now on.
func watchAdded(t *testing.T, ns string) func() map[string]int {
	t.Helper()
	w, err := k8s.Watch(t.Context(), &v1alpha1.YouTubeExtractionList{}, client.InNamespace(ns))
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	added := map[string]int{}
	go func() {
		for ev := range w.ResultChan() {
			if x, ok := ev.Object.(*v1alpha1.YouTubeExtraction); ok && ev.Type == watch.Added {
				mu.Lock()
				added[x.Name]++
				mu.Unlock()
			}
		}
	}()
	t.Cleanup(w.Stop)
	return func() map[string]int {
		mu.Lock()
		defer mu.Unlock()
		return maps.Clone(added)
	}
}

// spec.playlist says where an extraction's files are, so admission keeps
// it from being set, changed or removed after creation.
func TestSpecPlaylistNeverChanges(t *testing.T) {
	t.Parallel()
	e := newEnv(t, setup{})
	id, _ := addPlaylist(t, 1)
	e.createPlaylist("keeper", playlistURL(id))
	e.startWorker(workerSetup{})
	x := e.waitChildren("keeper", 1, v1alpha1.PhaseSucceeded, time.Minute)[0]
	for what, patch := range map[string]string{
		"changed": `{"spec":{"playlist":{"name":"other"}}}`,
		"removed": `{"spec":{"playlist":null}}`,
	} {
		out, err := e.kubectlErr("patch", "extraction", x.Name, "--type=merge", "-p", patch)
		if err == nil || !strings.Contains(out, "spec.playlist") {
			t.Errorf("spec.playlist %s: kubectl patch gave %v:\n%s\nwant a refusal naming spec.playlist", what, err, out)
		}
	}
	plain := e.create("plain", watchURL(fake.RickrollID))
	out, err := e.kubectlErr("patch", "extraction", plain.Name, "--type=merge", "-p", `{"spec":{"playlist":{"name":"keeper","uid":"x"}}}`)
	if err == nil || !strings.Contains(out, "spec.playlist") {
		t.Errorf("spec.playlist added after creation: kubectl patch gave %v:\n%s", err, out)
	}
}

// Over the HTTP transport listing jobs go to the workers' one endpoint,
// with the extractions' jobs.
func TestPlaylistOverHTTP(t *testing.T) {
	t.Parallel()
	e := newEnv(t, setup{http: true})
	e.startWorker(workerSetup{})
	id, videos := addPlaylist(t, 3)
	e.createPlaylist("by-http", playlistURL(id))
	if got := childVideos(e.waitChildren("by-http", 3, v1alpha1.PhaseSucceeded, time.Minute)); !slices.Equal(got, sorted(videos)) {
		t.Errorf("children of %v, want %v", got, sorted(videos))
	}
	e.waitPlaylist("by-http", 30*time.Second, "synced", synced)
}

// Live streams and premieres not yet started have no file: they are
// skipped unless spec.includeLive asks for them; an ended stream is a
// video like any other.
func TestLiveAndPremieresAreSkippedUnlessAsked(t *testing.T) {
	t.Parallel()
	e := newEnv(t, setup{})
	e.startWorker(workerSetup{})
	e.createPlaylist("plain", playlistURL(fake.MixedPlaylistID))
	e.createPlaylist("all", playlistURL(fake.MixedPlaylistID), func(pl *v1alpha1.YouTubePlaylist) { pl.Spec.IncludeLive = true })
	for name, want := range map[string][]string{
		"plain": {fake.RickrollID, fake.PrivateID, fake.UnavailableID, fake.WasLiveID, fake.ZooID},
		"all":   {fake.RickrollID, fake.PrivateID, fake.UnavailableID, fake.LiveNowID, fake.UpcomingID, fake.WasLiveID, fake.ZooID},
	} {
		pl := e.waitPlaylist(name, time.Minute, "synced", synced)
		if got := childVideos(e.children(name)); !slices.Equal(got, sorted(want)) {
			t.Errorf("%s: children of %v, want %v", name, got, sorted(want))
		}
		if pl.Status.Videos != 7 || pl.Status.Selected != int32(len(want)) {
			t.Errorf("%s: %d videos, %d selected; want 7 and %d", name, pl.Status.Videos, pl.Status.Selected, len(want))
		}
	}
}

// A link that is not a playlist or a channel is refused by `kubectl
// apply` itself, with a message that names the field.
func TestKubectlRefusesAPlaylistOfAVideoLink(t *testing.T) {
	t.Parallel()
	e := newEnv(t, setup{})
	manifest := filepath.Join(t.TempDir(), "pl.yaml")
	for _, link := range []string{watchURL(fake.RickrollID), "https://www.youtube.com/watch?v=" + fake.RickrollID + "&list=RDdQw4w9WgXcQ", "https://example.com/playlist?list=PL0123456789abcdef"} {
		doc := "apiVersion: ytx.dev/v1alpha1\nkind: YouTubePlaylist\nmetadata:\n  name: not-a-list\nspec:\n  url: " + strconv.Quote(link) + "\n"
		if err := os.WriteFile(manifest, []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := e.kubectlErr("apply", "-f", manifest)
		if err == nil || !strings.Contains(out, "spec.url") {
			t.Errorf("kubectl apply of a playlist of %s: %v\n%s\nwant a refusal naming spec.url", link, err, out)
		}
	}
}

// A playlist's extractions wait their turn like any other: the per-
// namespace cap holds however many the playlist makes at once, and
// another namespace's extraction runs meanwhile.
func TestABigPlaylistDoesNotStarveAnotherNamespace(t *testing.T) {
	t.Parallel()
	const limit, many = 3, 40
	e := newEnv(t, setup{controller: controllers.Options{MaxInFlightPerNamespace: limit}, otherNamespaces: 1})
	other := e.in(e.others[0])
	id, videos := addPlaylist(t, many)
	var releases []func()
	for _, v := range videos {
		releases = append(releases, youTube.Hold(v))
	}
	releaseAll := func() {
		for _, r := range releases {
			r()
		}
	}
	defer releaseAll()
	e.startWorker(workerSetup{concurrency: 4})
	stop := e.watchCap()
	e.createPlaylist("big", playlistURL(id))
	e.waitList(30*time.Second, fmt.Sprintf("%d children, %d of them running, the rest waiting", many, limit), func(xs []v1alpha1.YouTubeExtraction) bool {
		running, waiting := 0, 0
		for i := range xs {
			switch {
			case xs[i].Status.Phase == v1alpha1.PhaseRunning:
				running++
			case busy(&xs[i]):
				waiting++
			}
		}
		return len(xs) == many && running == limit && waiting == many-limit
	})
	other.create("meanwhile", watchURL(addVideo(t, "Another Namespace's Video").ID))
	other.waitPhase("meanwhile", v1alpha1.PhaseSucceeded, 30*time.Second)
	releaseAll()
	e.waitChildren("big", many, v1alpha1.PhaseSucceeded, time.Minute)
	if got := stop().maxInFlight; got > limit || got == 0 {
		t.Errorf("at most %d of the playlist's extractions were Queued or Running at once; want %d, the cap", got, limit)
	}
}

// A subscription to a channel's streams before its first stream: YouTube
// shows no Live tab yet, so the playlist is Synced with no video and says
// why, rather than Failed; once the channel streams, the next sync makes
// the stream's extraction.
func TestAChannelTabNotThereYetIsSyncedEmpty(t *testing.T) {
	t.Parallel()
	e := newEnv(t, setup{})
	e.startWorker(workerSetup{})
	c := addChannel(t, 2)
	e.createPlaylist("streams", "https://www.youtube.com/"+c.Handle+"/streams")
	pl := e.waitPlaylist("streams", time.Minute, "synced", synced)
	s := meta.FindStatusCondition(pl.Status.Conditions, v1alpha1.ConditionSynced)
	if pl.Status.Videos != 0 || meta.FindStatusCondition(pl.Status.Conditions, v1alpha1.ConditionPlaylistFailed) != nil ||
		!strings.Contains(s.Message, "no streams tab") {
		t.Errorf("a channel without streams: status %+v", pl.Status)
	}
	if n := len(e.children("streams")); n != 0 {
		t.Errorf("%d extractions made of a tab that is not there", n)
	}

	c.Streams = []string{addVideo(t, "First stream", func(v *fake.Video) { v.ChannelID, v.Author = c.ID, c.Title }).ID}
	if err := youTube.AddChannel(c); err != nil {
		t.Fatal(err)
	}
	pl.Spec.IncludeLive = true // a new generation: a new sync
	if err := k8s.Update(e.ctx(10*time.Second), pl); err != nil {
		t.Fatal(err)
	}
	if got := childVideos(e.waitChildren("streams", 1, v1alpha1.PhaseSucceeded, time.Minute)); !slices.Equal(got, c.Streams) {
		t.Errorf("after the first stream: children of %v, want %v", got, c.Streams)
	}
}
