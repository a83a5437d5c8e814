package faults

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "ytx.dev/ytx/api/v1alpha1"
	"ytx.dev/ytx/internal/playlist"
	"ytx.dev/ytx/internal/youtube/fake"
)

// 3c. kill -9 of the manager, again and again, while it reads a playlist
// and makes its extractions. Its successor carries on from the stored
// listing: every video gets one extraction (its name is a function of the
// playlist and the video), each attempt is claimed once, nothing is lost.
func TestManagerKilledDuringAPlaylistSync(t *testing.T) {
	n, kills := 12**scale, 3
	s := newSystem(t, systemOptions{managerFlags: fastLease})
	s.startManager("manager")
	s.startWorker("worker-a")
	s.startWorker("worker-b")
	ids := clipVideos(t, n, 0)
	list := fake.Playlist{ID: fmt.Sprintf("PLfaults%024d", rand.Int64N(1e18)), Title: "Faults", Author: "Test Channel", ChannelID: "UCtestchanneltestchannel", VideoIDs: ids}
	if err := youTube.AddPlaylist(list); err != nil {
		t.Fatal(err)
	}
	pl := &v1alpha1.YouTubePlaylist{
		ObjectMeta: metav1.ObjectMeta{Name: "kills", Namespace: s.ns},
		Spec: v1alpha1.YouTubePlaylistSpec{
			URL:      "https://www.youtube.com/playlist?list=" + list.ID,
			Template: v1alpha1.ExtractionTemplate{Spec: v1alpha1.ExtractionTemplateSpec{Audio: &v1alpha1.AudioSpec{Format: v1alpha1.AudioM4A}}},
		},
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := admin.Create(ctx, pl); err != nil {
		t.Fatal(err)
	}
	for range kills {
		time.Sleep(time.Duration(200+rand.IntN(600)) * time.Millisecond)
		s.manager("manager").kill()
		s.startManager("manager")
	}
	xs := make([]extraction, n)
	for i, id := range ids {
		xs[i] = extraction{name: playlist.ChildName(pl.Name, id), video: id, want: want{phase: v1alpha1.PhaseSucceeded, attempts: 1}}
	}
	r := s.settle("manager kill -9 during a playlist's sync", xs, kills, within(3*time.Minute))
	s.claimedOnce(xs)
	var children v1alpha1.YouTubeExtractionList
	if err := admin.List(ctx, &children, client.InNamespace(s.ns), client.MatchingLabels{playlist.LabelPlaylist: pl.Name}); err != nil {
		t.Fatal(err)
	}
	if len(children.Items) != n {
		t.Errorf("the playlist has %d extractions, want one per video: %d", len(children.Items), n)
	}
	table.note(r.scenario, fmt.Sprintf("%d extractions for %d videos", len(children.Items), n))
}
