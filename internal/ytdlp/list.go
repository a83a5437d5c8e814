package ytdlp

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"time"

	v1alpha1 "ytx.dev/ytx/api/v1alpha1"
	"ytx.dev/ytx/internal/failure"
	"ytx.dev/ytx/internal/resolver"
	"ytx.dev/ytx/internal/youtube"
)

var _ resolver.Lister = (*Resolver)(nil)

var (
	playlistIDPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{13,42}$`)
	channelIDPattern  = regexp.MustCompile(`^UC[A-Za-z0-9_-]{22}$`)
	handlePattern     = regexp.MustCompile(`^@[\pL\pN._-]{1,100}$`)
	customPattern     = regexp.MustCompile(`^(c|user)/[\pL\pN._-]{1,100}$`)
	videoIDPattern    = regexp.MustCompile(`^[A-Za-z0-9_-]{11}$`)
)

// tabPlaylist is the prefix of the playlist YouTube keeps for a channel
// tab ("UU" uploads, "UUSH" shorts, "UULV" streams), with the channel ID
// without "UC" after it.
var tabPlaylist = map[string]string{resolver.TabVideos: "UU", resolver.TabShorts: "UUSH", resolver.TabStreams: "UULV"}

// List runs `yt-dlp --flat-playlist -J` on the target's link, which ytx
// builds from the target's validated parts: yt-dlp never sees a user's
// text. With MaxEntries, yt-dlp reads one entry more than the cap (and the
// pages that takes), so that ytx can tell a listing that fits from one
// that was cut.
func (r *Resolver) List(ctx context.Context, req resolver.ListRequest) (*resolver.Listing, error) {
	if err := r.Check(); err != nil {
		return nil, failure.Retryable(v1alpha1.ReasonListingFailed, fmt.Errorf("%w: %v", resolver.ErrUnavailable, err), "%s", err.Error())
	}
	link, subject, err := listURL(req.Target)
	if err != nil {
		return nil, err
	}
	mode := []string{"--flat-playlist", "--yes-playlist", "--no-warnings"}
	if req.MaxEntries > 0 {
		mode = append(mode, "--playlist-end", strconv.Itoa(req.MaxEntries+1))
	}
	if err := r.sem.Acquire(ctx, 1); err != nil {
		return nil, youtube.Classify(err)
	}
	defer r.sem.Release(1)
	out, err := r.exec(ctx, req.Request, invocation{
		mode: mode, link: link, subject: subject, what: "any listing",
		classify: func(stderr string, err error) error { return classifyList(subject, stderr, err) },
	})
	if tab := (*missingTab)(nil); errors.As(err, &tab) && req.Target.Kind == resolver.TargetChannel {
		return r.emptyTab(req.Target, tab.tab), nil
	}
	if err != nil {
		return nil, err
	}
	l, err := parseListing(out, req.Target)
	if err != nil {
		return nil, failure.Retryable(v1alpha1.ReasonListingFailed, err,
			"yt-dlp's listing of %s cannot be read (%v); ytx retries. If it keeps happening, yt-dlp and ytx disagree: update them", subject, err)
	}
	if req.MaxEntries > 0 && len(l.Entries) > req.MaxEntries {
		l.Entries, l.Truncated = l.Entries[:req.MaxEntries], true
	}
	l.ResolverVersion = r.version
	return l, nil
}

// emptyTab is the listing of a tab that channel t lacks: nothing. A
// channel that has not streamed yet shows no Live tab, and a subscription
// to its streams must wait for the first, not fail. The channel's ID,
// when the link gives it, makes the listing's ID as for any tab.
func (r *Resolver) emptyTab(t resolver.Target, tab string) *resolver.Listing {
	l := &resolver.Listing{Entries: []resolver.Entry{}, Resolver: resolver.YTDLP, ResolverVersion: r.version, ChannelID: t.ChannelID}
	if channelIDPattern.MatchString(t.ChannelID) {
		l.ID = tabPlaylistID(t.Tab, t.ChannelID)
	}
	if tab == "live" {
		tab = resolver.TabStreams
	}
	l.Note = fmt.Sprintf("channel %s has no %s tab (YouTube shows none until there is something in it): nothing to list", truncate(cmp.Or(t.Handle, t.Custom, t.ChannelID), 110), tab)
	return l
}

// tabPlaylistID is the playlist YouTube keeps for tab of channel
// channelID (a valid UC… ID); no tab means the Videos tab.
func tabPlaylistID(tab, channelID string) string {
	return tabPlaylist[cmp.Or(tab, resolver.TabVideos)] + channelID[2:]
}

// listURL is the link yt-dlp reads for a target, and how messages name it.
func listURL(t resolver.Target) (link, subject string, err error) {
	if t.Kind == resolver.TargetPlaylist {
		if !playlistIDPattern.MatchString(t.PlaylistID) {
			return "", "", failure.Permanent(v1alpha1.ReasonInvalidURL, nil, "the playlist ID %q is not 13 to 42 characters of A-Z, a-z, 0-9, _ and -", truncate(t.PlaylistID, 50))
		}
		return "https://www.youtube.com/playlist?list=" + t.PlaylistID, "playlist " + t.PlaylistID, nil
	}
	tab := t.Tab
	if tab == "" {
		tab = resolver.TabVideos
	}
	if _, ok := tabPlaylist[tab]; !ok {
		return "", "", failure.Permanent(v1alpha1.ReasonInvalidURL, nil, "the channel tab %q is not one ytx lists (videos, shorts, streams)", truncate(tab, 30))
	}
	var path string
	switch {
	case t.ChannelID != "" && channelIDPattern.MatchString(t.ChannelID):
		path = "channel/" + t.ChannelID
	case t.Handle != "" && handlePattern.MatchString(t.Handle):
		path = url.PathEscape(t.Handle)
	case t.Custom != "" && customPattern.MatchString(t.Custom):
		kind, name, _ := cutSlash(t.Custom)
		path = kind + "/" + url.PathEscape(name)
	default:
		return "", "", failure.Permanent(v1alpha1.ReasonInvalidURL, nil, "the channel is named by no valid ID, handle or /c/ or /user/ path")
	}
	return "https://www.youtube.com/" + path + "/" + tab, "channel " + truncate(path, 110) + " (" + tab + ")", nil
}

func cutSlash(s string) (before, after string, found bool) {
	for i := 0; i < len(s); i++ {
		if s[i] == '/' {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}

// flatListing is the part of yt-dlp's --flat-playlist -J ytx reads.
type flatListing struct {
	ID        string      `json:"id"`
	Title     string      `json:"title"`
	Channel   string      `json:"channel"`
	Uploader  string      `json:"uploader"`
	ChannelID string      `json:"channel_id"`
	Entries   []flatEntry `json:"entries"`
}

type flatEntry struct {
	ID               string   `json:"id"`
	Title            string   `json:"title"`
	Duration         *float64 `json:"duration"`
	LiveStatus       string   `json:"live_status"`
	Availability     string   `json:"availability"`
	UploadDate       string   `json:"upload_date"`
	Timestamp        *float64 `json:"timestamp"`
	ReleaseTimestamp *float64 `json:"release_timestamp"`
}

// parseListing reads yt-dlp's listing. A channel's ID becomes the
// playlist of the tab listed.
func parseListing(out []byte, t resolver.Target) (*resolver.Listing, error) {
	var f flatListing
	if err := json.Unmarshal(out, &f); err != nil {
		return nil, err
	}
	if f.ID == "" {
		return nil, fmt.Errorf("no id in yt-dlp's answer")
	}
	l := &resolver.Listing{
		ID: f.ID, Title: f.Title, Channel: f.Channel, ChannelID: f.ChannelID,
		Entries: make([]resolver.Entry, 0, len(f.Entries)), Resolver: resolver.YTDLP,
	}
	if l.Channel == "" {
		l.Channel = f.Uploader
	}
	if t.Kind == resolver.TargetChannel && channelIDPattern.MatchString(f.ID) {
		l.ID, l.ChannelID = tabPlaylistID(t.Tab, f.ID), f.ID
	}
	for _, e := range f.Entries {
		if !videoIDPattern.MatchString(e.ID) {
			continue // a nested playlist or a channel: not a video
		}
		l.Entries = append(l.Entries, entryOf(e))
	}
	return l, nil
}

func entryOf(e flatEntry) resolver.Entry {
	out := resolver.Entry{ID: e.ID, Title: e.Title}
	if e.Duration != nil && *e.Duration > 0 {
		out.Duration = time.Duration(*e.Duration * float64(time.Second))
	}
	switch e.LiveStatus {
	case "is_live":
		out.Live = resolver.LiveNow
	case "is_upcoming":
		out.Live = resolver.LiveUpcoming
	case "was_live", "post_live":
		out.Live = resolver.LiveWas
	}
	// yt-dlp passes YouTube's placeholder titles on; the badge of a
	// private video, when there is one, says so too.
	switch {
	case e.Title == "[Private video]", e.Availability == "private":
		out.Unavailable = resolver.EntryPrivate
	case e.Title == "[Deleted video]":
		out.Unavailable = resolver.EntryDeleted
	}
	switch {
	case e.ReleaseTimestamp != nil:
		out.Published = time.Unix(int64(*e.ReleaseTimestamp), 0).UTC()
	case e.Timestamp != nil:
		out.Published = time.Unix(int64(*e.Timestamp), 0).UTC()
	case e.UploadDate != "":
		out.Published, _ = time.Parse("20060102", e.UploadDate)
	}
	return out
}
