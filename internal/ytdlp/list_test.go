package ytdlp_test

import (
	"slices"
	"strings"
	"testing"

	v1alpha1 "ytx.dev/ytx/api/v1alpha1"
	"ytx.dev/ytx/internal/failure"
	"ytx.dev/ytx/internal/resolver"
	"ytx.dev/ytx/internal/youtube/fake"
	"ytx.dev/ytx/internal/ytdlp"
)

func listEnv(t *testing.T) (*env, *ytdlp.Resolver) {
	t.Helper()
	e := newEnv(t)
	if err := e.yt.AddDefaultListings(); err != nil {
		t.Fatal(err)
	}
	return e, e.resolver(t, ytdlp.Options{})
}

func (e *env) list(t *testing.T, r *ytdlp.Resolver, target resolver.Target, max int) (*resolver.Listing, error) {
	t.Helper()
	return r.List(ctx(t), resolver.ListRequest{Request: e.request(t, ""), Target: target, MaxEntries: max})
}

func ids(l *resolver.Listing) []string {
	var out []string
	for _, e := range l.Entries {
		out = append(out, e.ID)
	}
	return out
}

func TestListReadsA250EntryPlaylistPageByPageInOrder(t *testing.T) {
	e, r := listEnv(t)
	l, err := e.list(t, r, resolver.Target{Kind: resolver.TargetPlaylist, PlaylistID: fake.BigPlaylistID}, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ids(l), fake.IDs(fake.ManyVideos("big", fake.BigPlaylistSize))) {
		t.Errorf("%d entries, not the 250 in order", len(l.Entries))
	}
	if l.ID != fake.BigPlaylistID || l.Title != "A big playlist" || l.ChannelID != fake.ChannelID || l.Channel != fake.ChannelTitle || l.Truncated || l.Resolver != resolver.YTDLP || l.ResolverVersion == "" {
		t.Errorf("listing %q %q %q %q truncated=%v %q %q", l.ID, l.Title, l.Channel, l.ChannelID, l.Truncated, l.Resolver, l.ResolverVersion)
	}
	// The page, and the browse answer yt-dlp asks again for unavailable
	// videos, are the first page; two continuations follow.
	if p, c := e.yt.Requests(fake.KindPlaylistPage), e.yt.Requests(fake.KindContinuation); p != 1 || c != 2 {
		t.Errorf("%d pages and %d continuations read, want 1 and 2", p, c)
	}
}

func TestListStopsAtMaxEntriesAndSaysTruncated(t *testing.T) {
	e, r := listEnv(t)
	l, err := e.list(t, r, resolver.Target{Kind: resolver.TargetPlaylist, PlaylistID: fake.BigPlaylistID}, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Entries) != 100 || !l.Truncated {
		t.Errorf("%d entries, truncated=%v", len(l.Entries), l.Truncated)
	}
	if c := e.yt.Requests(fake.KindContinuation); c != 1 {
		t.Errorf("%d continuations read for 101 entries, want 1", c)
	}
}

func TestListPrivateMissingPlaylistAndChannelAreDefinitivelyUnavailable(t *testing.T) {
	e, r := listEnv(t)
	for _, target := range []resolver.Target{
		{Kind: resolver.TargetPlaylist, PlaylistID: fake.PrivatePlaylistID},
		{Kind: resolver.TargetPlaylist, PlaylistID: fake.MissingPlaylistID},
		{Kind: resolver.TargetChannel, Handle: "@nobody-here"},
	} {
		_, err := e.list(t, r, target, 100)
		if f, ok := failure.As(err); !ok || f.Reason != v1alpha1.ReasonPlaylistUnavailable || f.Retryable || !f.Definitive {
			t.Errorf("%+v: %v, want a definitive PlaylistUnavailable", target, err)
		}
	}
}

func TestListEmptyPlaylistAndMarkedEntries(t *testing.T) {
	e, r := listEnv(t)
	l, err := e.list(t, r, resolver.Target{Kind: resolver.TargetPlaylist, PlaylistID: fake.EmptyPlaylistID}, 100)
	if err != nil || len(l.Entries) != 0 {
		t.Fatalf("empty playlist: %v, %v", err, l)
	}
	l, err = e.list(t, r, resolver.Target{Kind: resolver.TargetPlaylist, PlaylistID: fake.MixedPlaylistID}, 100)
	if err != nil {
		t.Fatal(err)
	}
	want := []resolver.Entry{
		{ID: fake.RickrollID}, {ID: fake.PrivateID, Unavailable: resolver.EntryPrivate}, {ID: fake.UnavailableID, Unavailable: resolver.EntryDeleted},
		{ID: fake.LiveNowID, Live: resolver.LiveNow}, {ID: fake.UpcomingID, Live: resolver.LiveUpcoming}, {ID: fake.WasLiveID, Live: resolver.LiveWas}, {ID: fake.ZooID},
	}
	if len(l.Entries) != len(want) {
		t.Fatalf("entries %v", ids(l))
	}
	for i, w := range want {
		if got := l.Entries[i]; got.ID != w.ID || got.Live != w.Live || got.Unavailable != w.Unavailable {
			t.Errorf("entry %d: %+v, want %s live=%q unavailable=%q", i, got, w.ID, w.Live, w.Unavailable)
		}
	}
	if l.Entries[0].Duration.Seconds() != 213 || l.Entries[4].Published.IsZero() {
		t.Errorf("durations and premiere times lost: %+v", l.Entries)
	}
}

func TestListChannelTabsByHandleIDAndOldPath(t *testing.T) {
	e, r := listEnv(t)
	uploads := fake.IDs(fake.ManyVideos("chan", fake.ChannelSize))
	for _, c := range []struct {
		target resolver.Target
		id     string
		want   []string
	}{
		{resolver.Target{Kind: resolver.TargetChannel, Handle: fake.ChannelHandle}, fake.ChannelUploadsID, uploads},
		{resolver.Target{Kind: resolver.TargetChannel, Custom: "user/ytxfake", Tab: resolver.TabVideos}, fake.ChannelUploadsID, uploads},
		{resolver.Target{Kind: resolver.TargetChannel, ChannelID: fake.ChannelID, Tab: resolver.TabStreams}, "UULV" + fake.ChannelID[2:], []string{fake.LiveNowID, fake.UpcomingID, fake.WasLiveID}},
		{resolver.Target{Kind: resolver.TargetChannel, Handle: fake.ChannelHandle, Tab: resolver.TabShorts}, "UUSH" + fake.ChannelID[2:], []string{fake.Short1ID, fake.Short2ID}},
	} {
		l, err := e.list(t, r, c.target, 1000)
		if err != nil {
			t.Errorf("%+v: %v", c.target, err)
			continue
		}
		if l.ID != c.id || l.ChannelID != fake.ChannelID || !slices.Equal(ids(l), c.want) {
			t.Errorf("%+v: listing %q of %q, entries %v", c.target, l.ID, l.ChannelID, ids(l))
		}
	}
	if l, err := e.list(t, r, resolver.Target{Kind: resolver.TargetChannel, ChannelID: fake.ChannelID, Tab: resolver.TabStreams}, 10); err == nil && l.Entries[0].Live != resolver.LiveNow {
		t.Errorf("a stream live now is not marked: %+v", l.Entries[0])
	}
}

// A channel without the tab asked for lists nothing, as YouTube shows it:
// the channel exists, its streams (or shorts) do not yet. A subscription
// to a channel's streams is then Synced with no video, not Failed; its
// next sync finds the first stream. The note says why it is empty.
func TestListOfATabTheChannelLacksIsEmpty(t *testing.T) {
	e, r := listEnv(t)
	rick := fake.DefaultVideos()[0]
	for _, target := range []resolver.Target{
		{Kind: resolver.TargetChannel, ChannelID: rick.ChannelID, Tab: resolver.TabStreams},
		{Kind: resolver.TargetChannel, Handle: rick.ChannelHandle, Tab: resolver.TabShorts},
	} {
		l, err := e.list(t, r, target, 100)
		if err != nil {
			t.Errorf("%+v: %v", target, err)
			continue
		}
		if len(l.Entries) != 0 || !strings.Contains(l.Note, "no "+target.Tab+" tab") || l.Resolver != resolver.YTDLP {
			t.Errorf("%+v: listing %+v", target, l)
		}
	}
	// A channel that is not there is still unavailable.
	_, err := e.list(t, r, resolver.Target{Kind: resolver.TargetChannel, Handle: "@nosuchchannelytx", Tab: resolver.TabStreams}, 100)
	if f, ok := failure.As(err); !ok || f.Reason != v1alpha1.ReasonPlaylistUnavailable {
		t.Errorf("a missing channel's streams: %v, want PlaylistUnavailable", err)
	}
}
