package youtube_test

import (
	"errors"
	"slices"
	"testing"

	v1alpha1 "ytx.dev/ytx/api/v1alpha1"
	"ytx.dev/ytx/internal/failure"
	"ytx.dev/ytx/internal/resolver"
	"ytx.dev/ytx/internal/youtube"
	"ytx.dev/ytx/internal/youtube/fake"
)

func startListings(t *testing.T) (*fake.Server, resolver.Request) {
	t.Helper()
	srv, hc := startFake(t)
	if err := srv.AddDefaultListings(); err != nil {
		t.Fatal(err)
	}
	return srv, resolver.Request{HTTP: hc}
}

func listKKDAI(t *testing.T, req resolver.Request, target resolver.Target, max int) (*resolver.Listing, error) {
	t.Helper()
	return youtube.KKDAI{}.List(resolveCtx(t), resolver.ListRequest{Request: req, Target: target, MaxEntries: max})
}

func playlist(id string) resolver.Target {
	return resolver.Target{Kind: resolver.TargetPlaylist, PlaylistID: id}
}

func entryIDs(l *resolver.Listing) []string {
	var out []string
	for _, e := range l.Entries {
		out = append(out, e.ID)
	}
	return out
}

func TestKKDAIReadsA250EntryPlaylistInThreePagesInOrder(t *testing.T) {
	srv, req := startListings(t)
	l, err := listKKDAI(t, req, playlist(fake.BigPlaylistID), 5000)
	if err != nil {
		t.Fatal(err)
	}
	if want := fake.IDs(fake.ManyVideos("big", fake.BigPlaylistSize)); !slices.Equal(entryIDs(l), want) {
		t.Errorf("%d entries, not the playlist's 250 in order", len(l.Entries))
	}
	if b, c := srv.Requests(fake.KindBrowse), srv.Requests(fake.KindContinuation); b != 1 || c != 2 {
		t.Errorf("%d first pages and %d continuations read, want 1 and 2", b, c)
	}
	if l.ID != fake.BigPlaylistID || l.Title != "A big playlist" || l.Channel != fake.ChannelTitle || l.ChannelID != fake.ChannelID || l.Truncated || l.Resolver != resolver.KKDAI {
		t.Errorf("listing %q %q %q %q truncated=%v resolver=%q", l.ID, l.Title, l.Channel, l.ChannelID, l.Truncated, l.Resolver)
	}
	if e := l.Entries[0]; e.Title != "Video 1 of bigxx" || e.Duration.Seconds() != 30 || e.Live != "" || e.Unavailable != "" {
		t.Errorf("first entry %+v", e)
	}
}

func TestKKDAIStopsReadingPagesAtMaxEntries(t *testing.T) {
	srv, req := startListings(t)
	l, err := listKKDAI(t, req, playlist(fake.BigPlaylistID), 150)
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Entries) != 150 || !l.Truncated || l.Entries[149].ID != "bigxx000150" {
		t.Errorf("%d entries, truncated=%v", len(l.Entries), l.Truncated)
	}
	if c := srv.Requests(fake.KindContinuation); c != 1 {
		t.Errorf("%d continuations read for 150 of 250 entries, want 1", c)
	}
	// A cap the playlist fits in exactly is not a truncation.
	l, err = listKKDAI(t, req, playlist(fake.BigPlaylistID), fake.BigPlaylistSize)
	if err != nil || len(l.Entries) != fake.BigPlaylistSize || l.Truncated {
		t.Errorf("cap 250: %v, truncated=%v", err, l != nil && l.Truncated)
	}
}

func TestKKDAIPrivateAndMissingPlaylistsAreDefinitivelyUnavailable(t *testing.T) {
	_, req := startListings(t)
	for _, id := range []string{fake.PrivatePlaylistID, fake.MissingPlaylistID} {
		_, err := listKKDAI(t, req, playlist(id), 100)
		f, ok := failure.As(err)
		if !ok || f.Reason != v1alpha1.ReasonPlaylistUnavailable || f.Retryable || !f.Definitive {
			t.Errorf("%s: %v, want a definitive PlaylistUnavailable", id, err)
		}
	}
}

func TestKKDAIEmptyPlaylistIsAnEmptyListing(t *testing.T) {
	_, req := startListings(t)
	l, err := listKKDAI(t, req, playlist(fake.EmptyPlaylistID), 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Entries) != 0 || l.ID != fake.EmptyPlaylistID {
		t.Errorf("listing %+v", l)
	}
}

func TestKKDAIFlagsUnavailableAndLiveEntries(t *testing.T) {
	_, req := startListings(t)
	l, err := listKKDAI(t, req, playlist(fake.MixedPlaylistID), 100)
	if err != nil {
		t.Fatal(err)
	}
	want := []resolver.Entry{
		{ID: fake.RickrollID}, {ID: fake.PrivateID, Unavailable: resolver.EntryPrivate}, {ID: fake.UnavailableID, Unavailable: resolver.EntryDeleted},
		{ID: fake.LiveNowID, Live: resolver.LiveNow}, {ID: fake.UpcomingID, Live: resolver.LiveUpcoming}, {ID: fake.WasLiveID, Live: resolver.LiveWas}, {ID: fake.ZooID},
	}
	if len(l.Entries) != len(want) {
		t.Fatalf("entries %v", entryIDs(l))
	}
	for i, w := range want {
		if e := l.Entries[i]; e.ID != w.ID || e.Live != w.Live || e.Unavailable != w.Unavailable {
			t.Errorf("entry %d: %+v, want %s live=%q unavailable=%q", i, e, w.ID, w.Live, w.Unavailable)
		}
	}
	if up := l.Entries[4]; up.Published.IsZero() {
		t.Error("the premiere's start time is lost")
	}
}

func TestKKDAIListsAChannelByIDAndByHandleThroughItsUploads(t *testing.T) {
	srv, req := startListings(t)
	want := fake.IDs(fake.ManyVideos("chan", fake.ChannelSize))
	for _, target := range []resolver.Target{
		{Kind: resolver.TargetChannel, ChannelID: fake.ChannelID},
		{Kind: resolver.TargetChannel, Handle: fake.ChannelHandle, Tab: resolver.TabVideos},
		{Kind: resolver.TargetChannel, Custom: "c/ytxfake"},
	} {
		l, err := listKKDAI(t, req, target, 100)
		if err != nil {
			t.Fatalf("%+v: %v", target, err)
		}
		if l.ID != fake.ChannelUploadsID || l.ChannelID != fake.ChannelID || !slices.Equal(entryIDs(l), want) {
			t.Errorf("%+v: listing %q %q, %d entries", target, l.ID, l.ChannelID, len(l.Entries))
		}
	}
	if n := srv.Requests(fake.KindChannelPage); n != 2 {
		t.Errorf("%d channel pages read to resolve a handle and a /c/ link, want 2", n)
	}
}

func TestKKDAIMissingChannelIsDefinitivelyUnavailable(t *testing.T) {
	_, req := startListings(t)
	_, err := listKKDAI(t, req, resolver.Target{Kind: resolver.TargetChannel, Handle: "@nobody-here"}, 100)
	if f, ok := failure.As(err); !ok || f.Reason != v1alpha1.ReasonPlaylistUnavailable || !f.Definitive {
		t.Errorf("%v, want a definitive PlaylistUnavailable", err)
	}
}

// kkdai reads only the uploads playlist: another tab is yt-dlp's, and the
// failure says kkdai could not try, so that a chain goes on.
func TestKKDAICannotListShortsAndSaysItCouldNotTry(t *testing.T) {
	srv, req := startListings(t)
	_, err := listKKDAI(t, req, resolver.Target{Kind: resolver.TargetChannel, ChannelID: fake.ChannelID, Tab: resolver.TabShorts}, 100)
	if f, ok := failure.As(err); !ok || f.Reason != v1alpha1.ReasonListingFailed || !errors.Is(err, resolver.ErrUnavailable) {
		t.Errorf("%v, want ListingFailed marked ErrUnavailable", err)
	}
	if n := srv.Requests(fake.KindBrowse); n != 0 {
		t.Errorf("%d browse requests for a tab kkdai cannot read", n)
	}
}

func TestKKDAIServerErrorIsARetryableListingFailure(t *testing.T) {
	srv, req := startListings(t)
	srv.Inject(fake.Fault{Kind: fake.KindContinuation, Status: 503, Times: 1})
	_, err := listKKDAI(t, req, playlist(fake.BigPlaylistID), 1000)
	if f, ok := failure.As(err); !ok || f.Reason != v1alpha1.ReasonListingFailed || !f.Retryable {
		t.Errorf("%v, want a retryable ListingFailed", err)
	}
}
