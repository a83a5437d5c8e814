package fake

import (
	"fmt"
	"regexp"
	"strings"
	"sync"
	"time"
)

// Playlists and channels. Their entries are video IDs of the catalogue, so
// that what a listing shows (title, length, live state) and what the player
// answers for the same video agree. An entry whose video is Private is
// listed as "[Private video]", one that is Unavailable or not in the
// catalogue as "[Deleted video]", as YouTube lists them to a client that
// asks to see unavailable videos.

// The listing endpoints, for counters, the request log and faults.
const (
	KindPlaylistPage Kind = "playlist"     // GET /playlist?list=ID
	KindChannelPage  Kind = "channel"      // GET /@handle[/tab], /channel/UC…[/tab], /c/NAME[/tab], /user/NAME[/tab]
	KindBrowse       Kind = "browse"       // POST /youtubei/v1/browse with a browseId: a listing's first page
	KindContinuation Kind = "continuation" // POST /youtubei/v1/browse with a continuation token: a later page
	KindResolveURL   Kind = "resolve_url"  // POST /youtubei/v1/navigation/resolve_url
)

// Page sizes, as YouTube serves them: a playlist's pages hold 100 entries,
// a channel tab's 30.
const (
	PlaylistPageSize = 100
	ChannelPageSize  = 30
)

// Broadcast is a video's live state, as listings show it: badges,
// thumbnail overlays and upcomingEventData. The player ignores it.
type Broadcast int

const (
	// NotBroadcast is a plain upload.
	NotBroadcast Broadcast = iota
	// LiveNow is streaming now: a LIVE badge and overlay, no length.
	LiveNow
	// Upcoming is a premiere or a scheduled stream not started: no length,
	// upcomingEventData with the start time (the Video's PublishDate).
	Upcoming
	// WasLive is a stream that ended: "Streamed 2 days ago", a length.
	WasLive
)

// Playlist is a playlist of the fake.
type Playlist struct {
	// ID is the list ID ("PL" and 16 or 32 characters, "OLAK5uy_…").
	ID          string
	Title       string
	Description string
	// Author and ChannelID name the owner; Handle ("@name") is optional.
	Author, ChannelID, Handle string
	// VideoIDs are the entries in the playlist's order.
	VideoIDs []string
	// Private: every request for it answers the ERROR alert "This playlist
	// is private.".
	Private bool
}

// Channel is a channel of the fake.
type Channel struct {
	// ID is "UC" and 22 characters.
	ID string
	// Handle is "@name" (YouTube matches it without regard to case).
	Handle string
	Title  string
	// Legacy are the old-style paths that also lead to the channel:
	// "c/NAME", "user/NAME".
	Legacy []string
	// Videos, Shorts and Streams are the tabs' entries, newest first. A
	// tab without entries is not shown, except Videos. The uploads
	// playlist ("UU" + ID[2:]) lists Videos.
	Videos, Shorts, Streams []string
}

var (
	playlistIDPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{13,42}$`)
	channelIDPattern  = regexp.MustCompile(`^UC[A-Za-z0-9_-]{22}$`)
	handlePattern     = regexp.MustCompile(`^@[A-Za-z0-9._-]{3,30}$`)
)

// listings holds the fake's playlists and channels.
type listings struct {
	mu        sync.Mutex
	playlists map[string]*Playlist
	channels  map[string]*Channel // by ID
	paths     map[string]string   // "@handle" (lower case), "c/name", "user/name" → channel ID
}

func (l *listings) init() {
	if l.playlists == nil {
		l.playlists = map[string]*Playlist{}
		l.channels = map[string]*Channel{}
		l.paths = map[string]string{}
	}
}

// AddPlaylist adds p, or replaces the playlist with its ID.
func (s *Server) AddPlaylist(p Playlist) error {
	if !playlistIDPattern.MatchString(p.ID) {
		return fmt.Errorf("fake playlist ID %q: want 13 to 42 characters of [A-Za-z0-9_-]", p.ID)
	}
	p.VideoIDs = append([]string(nil), p.VideoIDs...)
	l := &s.lists
	l.mu.Lock()
	defer l.mu.Unlock()
	l.init()
	l.playlists[p.ID] = &p
	return nil
}

// AddChannel adds c, or replaces the channel with its ID.
func (s *Server) AddChannel(c Channel) error {
	if !channelIDPattern.MatchString(c.ID) {
		return fmt.Errorf("fake channel ID %q: want UC and 22 characters of [A-Za-z0-9_-]", c.ID)
	}
	if c.Handle != "" && !handlePattern.MatchString(c.Handle) {
		return fmt.Errorf("fake channel %s: handle %q is not @ and 3 to 30 characters", c.ID, c.Handle)
	}
	c.Legacy = append([]string(nil), c.Legacy...)
	c.Videos = append([]string(nil), c.Videos...)
	c.Shorts = append([]string(nil), c.Shorts...)
	c.Streams = append([]string(nil), c.Streams...)
	l := &s.lists
	l.mu.Lock()
	defer l.mu.Unlock()
	l.init()
	for k, id := range l.paths {
		if id == c.ID {
			delete(l.paths, k)
		}
	}
	l.channels[c.ID] = &c
	if c.Handle != "" {
		l.paths[strings.ToLower(c.Handle)] = c.ID
	}
	for _, p := range c.Legacy {
		l.paths[strings.ToLower(p)] = c.ID
	}
	return nil
}

// AddUpload puts videoID first on the channel's Videos tab (and so in its
// uploads playlist), as a new upload appears.
func (s *Server) AddUpload(channelID, videoID string) error {
	l := &s.lists
	l.mu.Lock()
	defer l.mu.Unlock()
	c := l.channels[channelID]
	if c == nil {
		return fmt.Errorf("fake channel %s: not added", channelID)
	}
	c.Videos = append([]string{videoID}, c.Videos...)
	return nil
}

// AddVideos adds each video to the catalogue.
func (s *Server) AddVideos(videos ...Video) error {
	for _, v := range videos {
		if err := s.AddVideo(v); err != nil {
			return err
		}
	}
	return nil
}

// ManyVideos makes n small playable videos for big listings, cheaply (their
// media are Synthetic, made on demand). Their IDs are prefix (cut or padded
// with "x" to 5 characters) and a 6-digit number from 1; the first is the
// newest, a day apart. prefix must be of [A-Za-z0-9_-].
func ManyVideos(prefix string, n int) []Video {
	prefix = (prefix + "xxxxx")[:5]
	newest := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	out := make([]Video, n)
	for i := range out {
		id := fmt.Sprintf("%s%06d", prefix, i+1)
		v := small(id, fmt.Sprintf("Video %d of %s", i+1, prefix))
		v.Formats = v.Formats[1:2] // one audio format is enough for a listing
		v.PublishDate = newest.Add(-time.Duration(i) * 24 * time.Hour)
		out[i] = v
	}
	return out
}

// IDs returns the videos' IDs, in order.
func IDs(videos []Video) []string {
	out := make([]string, len(videos))
	for i, v := range videos {
		out[i] = v.ID
	}
	return out
}

// playlist finds a playlist, or a channel's uploads playlist ("UU…").
func (s *Server) playlist(id string) *Playlist {
	l := &s.lists
	l.mu.Lock()
	defer l.mu.Unlock()
	if p := l.playlists[id]; p != nil {
		cp := *p
		return &cp
	}
	if strings.HasPrefix(id, "UU") {
		if c := l.channels["UC"+id[2:]]; c != nil {
			return &Playlist{
				ID: id, Title: "Uploads from " + c.Title, Author: c.Title, ChannelID: c.ID, Handle: c.Handle,
				VideoIDs: append([]string(nil), c.Videos...),
			}
		}
	}
	return nil
}

// channel finds a channel by ID, by "@handle" or by a legacy path.
func (s *Server) channel(key string) *Channel {
	l := &s.lists
	l.mu.Lock()
	defer l.mu.Unlock()
	if c := l.channels[key]; c != nil {
		cp := *c
		return &cp
	}
	if id, ok := l.paths[strings.ToLower(key)]; ok {
		cp := *l.channels[id]
		return &cp
	}
	return nil
}

// tabVideos are a channel tab's entries; ok is false for a tab the
// channel does not show.
func (c *Channel) tabVideos(tab string) (ids []string, ok bool) {
	switch tab {
	case "videos":
		return c.Videos, true
	case "shorts":
		return c.Shorts, len(c.Shorts) > 0
	case "streams":
		return c.Streams, len(c.Streams) > 0
	}
	return nil, false
}

// IDs of the listings AddDefaultListings adds.
const (
	// BigPlaylistID has 250 entries (BigPlaylistSize): three pages.
	BigPlaylistID   = "PLytxFakeBig250000000000000000000"
	BigPlaylistSize = 250
	// MixedPlaylistID lists, in order: RickrollID, PrivateID ("[Private
	// video]"), UnavailableID ("[Deleted video]"), LiveNowID, UpcomingID,
	// WasLiveID, ZooID.
	MixedPlaylistID = "PLytxFakeMixed000000000000000000"
	// EmptyPlaylistID has no entries.
	EmptyPlaylistID = "PLytxFakeEmpty000000000000000000"
	// PrivatePlaylistID answers "This playlist is private.".
	PrivatePlaylistID = "PLytxFakePrivate0000000000000000"
	// MissingPlaylistID is not there: "The playlist does not exist.".
	MissingPlaylistID = "PLytxFakeMissing0000000000000000"

	// ChannelID is a channel of 45 uploads (ChannelSize; two pages of its
	// Videos tab), two shorts and three streams (LiveNowID, UpcomingID,
	// WasLiveID), reached by ChannelHandle, "c/ytxfake" and "user/ytxfake"
	// too. Its uploads playlist is ChannelUploadsID.
	ChannelID        = "UCytxFakeChannel00000000"
	ChannelHandle    = "@ytxfake"
	ChannelTitle     = "ytx Fake Channel"
	ChannelUploadsID = "UUytxFakeChannel00000000"
	ChannelSize      = 45

	// Videos of the default listings beyond DefaultVideos.
	LiveNowID  = "l1v3N0wV1d0"
	UpcomingID = "upc0m1ngV1d"
	WasLiveID  = "wA5l1v3V1d0"
	Short1ID   = "sh0rtV1d001"
	Short2ID   = "sh0rtV1d002"
)

// AddDefaultListings adds the playlists and the channel named by the
// constants above, and the videos they list (besides DefaultVideos', which
// the Server should hold too).
func (s *Server) AddDefaultListings() error {
	big := ManyVideos("big", BigPlaylistSize)
	uploads := ManyVideos("chan", ChannelSize)
	live := small(LiveNowID, "Live now: the fake's stream")
	live.Broadcast = LiveNow
	upcoming := small(UpcomingID, "Premiere: tomorrow's video")
	upcoming.Broadcast, upcoming.PublishDate = Upcoming, time.Now().Add(24*time.Hour).Truncate(time.Second)
	was := small(WasLiveID, "Yesterday's stream")
	was.Broadcast = WasLive
	extra := []Video{live, upcoming, was, small(Short1ID, "A short #shorts"), small(Short2ID, "Another short #shorts")}
	for _, vs := range [][]Video{big, uploads, extra} {
		for i := range vs {
			vs[i].Author, vs[i].ChannelID, vs[i].ChannelHandle = ChannelTitle, ChannelID, ChannelHandle
		}
		if err := s.AddVideos(vs...); err != nil {
			return err
		}
	}
	owner := func(p Playlist) Playlist {
		p.Author, p.ChannelID, p.Handle = ChannelTitle, ChannelID, ChannelHandle
		return p
	}
	for _, p := range []Playlist{
		owner(Playlist{ID: BigPlaylistID, Title: "A big playlist", Description: "250 videos, three pages.", VideoIDs: IDs(big)}),
		owner(Playlist{ID: MixedPlaylistID, Title: "A mixed playlist", VideoIDs: []string{RickrollID, PrivateID, UnavailableID, LiveNowID, UpcomingID, WasLiveID, ZooID}}),
		owner(Playlist{ID: EmptyPlaylistID, Title: "An empty playlist"}),
		owner(Playlist{ID: PrivatePlaylistID, Title: "A private playlist", VideoIDs: []string{RickrollID}, Private: true}),
	} {
		if err := s.AddPlaylist(p); err != nil {
			return err
		}
	}
	// The channel of the README's subscription sample, with the one upload
	// DefaultVideos has of it.
	rick := DefaultVideos()[0]
	if err := s.AddChannel(Channel{ID: rick.ChannelID, Handle: rick.ChannelHandle, Title: rick.Author, Videos: []string{RickrollID}}); err != nil {
		return err
	}
	return s.AddChannel(Channel{
		ID: ChannelID, Handle: ChannelHandle, Title: ChannelTitle, Legacy: []string{"c/ytxfake", "user/ytxfake"},
		Videos: IDs(uploads), Shorts: []string{Short1ID, Short2ID}, Streams: []string{LiveNowID, UpcomingID, WasLiveID},
	})
}
