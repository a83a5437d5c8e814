package resolver

import (
	"context"
	"time"
)

// What a listing is: the videos of one playlist, or of one tab of a
// channel, in the order YouTube shows them (a playlist's own order; a
// channel's newest first). A worker reads it for a YouTubePlaylist and
// stores it; the manager makes the extractions from the stored copy.

// Target kinds.
const (
	TargetPlaylist = "playlist"
	TargetChannel  = "channel"
)

// Channel tabs.
const (
	TabVideos  = "videos"
	TabShorts  = "shorts"
	TabStreams = "streams"
)

// Target is a playlist or channel link, read by structure (never user
// text passed on as it is).
type Target struct {
	// Kind is TargetPlaylist or TargetChannel.
	Kind string
	// PlaylistID is the list ID of a playlist ("PL…", "UU…", "OLAK5uy_…").
	PlaylistID string
	// A channel is named by exactly one of: ChannelID ("UC" and 22
	// characters), Handle ("@name", as typed), or Custom, the path of
	// an old-style link ("c/NAME" or "user/NAME").
	ChannelID string
	Handle    string
	Custom    string
	// Tab is the channel tab to list: TabVideos (also for a link
	// without a tab), TabShorts or TabStreams.
	Tab string
}

// Lister reads the entries of a playlist or a channel. A resolver may
// implement it beside Resolver.
type Lister interface {
	// Name is the resolver's name (KKDAI, YTDLP).
	Name() string
	// List reads the target's entries, following continuation pages,
	// and stops after req.MaxEntries (setting Listing.Truncated).
	// Errors are *failure.Error: a private or missing playlist or
	// channel is ReasonPlaylistUnavailable, not retryable.
	List(ctx context.Context, req ListRequest) (*Listing, error)
}

// ListRequest is what one listing job asks of a lister.
type ListRequest struct {
	// Request carries the job's network identity (Proxy, Cookies,
	// Scratch, HTTP); its VideoID is empty.
	Request
	Target Target
	// MaxEntries caps one listing (the worker's --max-listing-entries).
	MaxEntries int
}

// Listing is what a lister read.
type Listing struct {
	// ID is the playlist's ID; for a channel, the playlist of the tab
	// listed (its uploads are "UU" + the channel ID without "UC").
	ID    string `json:"id"`
	Title string `json:"title,omitempty"`
	// Channel and ChannelID are the owner's name and ID, when known.
	Channel   string `json:"channel,omitempty"`
	ChannelID string `json:"channelID,omitempty"`
	// Entries in YouTube's order.
	Entries []Entry `json:"entries"`
	// Truncated: there were more than MaxEntries.
	Truncated bool `json:"truncated,omitempty"`
	// Note says why a listing is not what one would expect, such as
	// empty because the channel has no such tab.
	Note string `json:"note,omitempty"`

	Resolver        string `json:"resolver,omitempty"`
	ResolverVersion string `json:"resolverVersion,omitempty"`
}

// Live states of an entry.
const (
	LiveNow      = "live"     // streaming now
	LiveUpcoming = "upcoming" // a premiere or a scheduled stream, not started
	LiveWas      = "was_live" // a stream that ended: a file like any other
)

// Unavailable states of an entry: YouTube lists it without a video.
const (
	EntryPrivate = "private" // "[Private video]"
	EntryDeleted = "deleted" // "[Deleted video]"
)

// Entry is one video of a listing.
type Entry struct {
	// ID is the 11-character video ID.
	ID    string `json:"id"`
	Title string `json:"title,omitempty"`
	// Duration is zero when unknown (and for live streams).
	Duration time.Duration `json:"duration,omitempty"`
	// Published is zero when the listing does not say (most do not).
	Published time.Time `json:"published,omitzero"`
	// Live is "" for a plain video, else LiveNow, LiveUpcoming or LiveWas.
	Live string `json:"live,omitempty"`
	// Unavailable is "" for a video that can be read, else EntryPrivate
	// or EntryDeleted.
	Unavailable string `json:"unavailable,omitempty"`
}
