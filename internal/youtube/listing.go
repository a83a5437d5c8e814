package youtube

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	kkdai "github.com/kkdai/youtube/v2"

	"ytx.dev/ytx/api/v1alpha1"
	"ytx.dev/ytx/internal/failure"
	"ytx.dev/ytx/internal/resolver"
)

var _ resolver.Lister = KKDAI{}

var (
	playlistIDPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{13,42}$`)
	channelIDPattern  = regexp.MustCompile(`^UC[A-Za-z0-9_-]{22}$`)
	// externalID finds a channel page's own ID, in ytInitialData's
	// channelMetadataRenderer.externalId (with or without spaces around
	// the colon, as JSON encoders differ), the canonical link or og:url:
	// whichever comes first, since all three name the page's channel.
	externalID = regexp.MustCompile(`"externalId"\s*:\s*"(UC[A-Za-z0-9_-]{22})"|` +
		`<link\s+rel="canonical"\s+href="https://www\.youtube\.com/channel/(UC[A-Za-z0-9_-]{22})"|` +
		`<meta\s+property="og:url"\s+content="https://www\.youtube\.com/channel/(UC[A-Za-z0-9_-]{22})"`)
)

// List reads a playlist, or a channel's uploads, with kkdai's
// GetPlaylist: the browse API, page after page. kkdai has no channel API;
// a channel's uploads are its playlist "UU" + the ID without "UC".
//
// kkdai keeps little of each entry (no live state, and it gives up on the
// whole playlist when an entry has no length, as live, upcoming and
// unavailable ones have not), so the pages are read as they pass too (see
// pageWatch): that is where the live and unavailable marks come from, and
// how MaxEntries stops the continuations.
func (KKDAI) List(ctx context.Context, req resolver.ListRequest) (*resolver.Listing, error) {
	hc := req.HTTP
	if hc == nil {
		hc = defaultHTTPClient()
	}
	id, channelID, err := kkdaiListID(ctx, hc, req.Target)
	if err != nil {
		return nil, err
	}
	watch := &pageWatch{next: hc.Transport, max: req.MaxEntries, marks: map[string]entryMarks{}}
	wrapped := *hc
	wrapped.Transport = watch
	p, err := (&kkdai.Client{HTTPClient: &wrapped}).GetPlaylistContext(ctx, id)
	switch {
	case err != nil && watch.isEmpty():
		// YouTube shows an empty playlist without a list, which kkdai
		// reports as an error; the page said it is empty.
		p = &kkdai.Playlist{ID: id, Title: watch.title()}
	case err != nil:
		return nil, listFailure(id, err)
	}
	out := &resolver.Listing{
		ID: id, Title: p.Title, Channel: p.Author, ChannelID: channelID,
		Resolver: resolver.KKDAI, ResolverVersion: KKDAI{}.Version(),
		Entries: make([]resolver.Entry, 0, len(p.Videos)),
	}
	if out.ChannelID == "" {
		out.ChannelID = watch.owner()
	}
	for _, v := range p.Videos {
		m := watch.mark(v.ID)
		out.Entries = append(out.Entries, resolver.Entry{
			ID: v.ID, Title: v.Title, Duration: v.Duration, Live: m.live, Unavailable: m.unavailable, Published: m.published,
		})
	}
	if req.MaxEntries > 0 && len(out.Entries) > req.MaxEntries {
		out.Entries, out.Truncated = out.Entries[:req.MaxEntries], true
	}
	out.Truncated = out.Truncated || watch.wasCut()
	return out, nil
}

// kkdaiListID is the playlist kkdai reads for a target, and the channel's
// ID when the target is a channel.
//
// A channel named by handle or old-style path is resolved here, with one
// GET of its page (metadata.channelMetadataRenderer.externalId, or the
// canonical link), because kkdai cannot do it and one page is cheap; the
// alternative, failing over to yt-dlp, would leave a worker without yt-dlp
// unable to read any @handle link, the most common kind.
func kkdaiListID(ctx context.Context, hc *http.Client, t resolver.Target) (id, channelID string, err error) {
	if t.Kind == resolver.TargetPlaylist {
		if !playlistIDPattern.MatchString(t.PlaylistID) {
			return "", "", failure.Permanent(v1alpha1.ReasonInvalidURL, nil, "the playlist ID %s is not 13 to 42 characters of A-Z, a-z, 0-9, _ and -", quoteShort(t.PlaylistID))
		}
		return t.PlaylistID, "", nil
	}
	if t.Tab != "" && t.Tab != resolver.TabVideos {
		return "", "", failure.Retryable(v1alpha1.ReasonListingFailed, resolver.ErrUnavailable,
			"kkdai cannot list a channel's %s tab (it reads only the uploads playlist); yt-dlp can: add it to --resolvers", t.Tab)
	}
	channelID = t.ChannelID
	if channelID == "" {
		if channelID, err = resolveChannel(ctx, hc, t); err != nil {
			return "", "", err
		}
	}
	if !channelIDPattern.MatchString(channelID) {
		return "", "", failure.Permanent(v1alpha1.ReasonInvalidURL, nil, "the channel ID %s is not UC and 22 characters of A-Z, a-z, 0-9, _ and -", quoteShort(channelID))
	}
	return "UU" + channelID[2:], channelID, nil
}

// resolveChannel reads the channel ID from the page of a handle or an
// old-style path.
func resolveChannel(ctx context.Context, hc *http.Client, t resolver.Target) (string, error) {
	path := t.Handle
	if path == "" {
		path = t.Custom
	}
	var parts []string
	for _, p := range strings.Split(strings.Trim(path, "/"), "/") {
		parts = append(parts, url.PathEscape(p))
	}
	link := "https://www.youtube.com/" + strings.Join(parts, "/")
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, link, nil)
	if err != nil {
		return "", failure.Permanent(v1alpha1.ReasonInvalidURL, err, "the channel link %s cannot be read", quoteShort(path))
	}
	resp, err := hc.Do(req)
	if err != nil {
		return "", listFailure(path, err)
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotFound:
		return "", failure.Definitive(v1alpha1.ReasonPlaylistUnavailable, nil,
			"YouTube has no channel %s (HTTP 404): check the link", path)
	case resp.StatusCode != http.StatusOK:
		return "", listFailure(path, kkdai.ErrUnexpectedStatusCode(resp.StatusCode))
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxPageBytes))
	if err != nil {
		return "", listFailure(path, err)
	}
	id := channelIDOfPage(body)
	if id == "" {
		return "", failure.Retryable(v1alpha1.ReasonListingFailed, nil,
			"the page of channel %s names no channel ID; YouTube may have changed its pages. ytx retries; yt-dlp may read it", path)
	}
	return id, nil
}

// channelIDOfPage is the channel ID a channel's page names as its own, or
// "" when it names none.
func channelIDOfPage(body []byte) string {
	m := externalID.FindSubmatch(body)
	for _, g := range m[min(1, len(m)):] {
		if len(g) > 0 {
			return string(g)
		}
	}
	return ""
}

// listFailure classifies an error of kkdai's while it read a listing.
// YouTube's own alert ("This playlist is private.", "The playlist does
// not exist.") is definitive: every client gets it.
func listFailure(subject string, err error) error {
	RedactError(err)
	var alert kkdai.ErrPlaylistStatus
	var status kkdai.ErrUnexpectedStatusCode
	switch {
	case errors.As(err, &alert):
		return failure.Definitive(v1alpha1.ReasonPlaylistUnavailable, err,
			"playlist %s is unavailable: YouTube says %q. Check the link; a private playlist can only be read by its owner", subject, truncateRunes(alert.Reason, 300))
	case errors.Is(err, context.Canceled):
		return failure.Retryable(v1alpha1.ReasonListingFailed, err, "reading %s was cancelled; ytx retries", subject)
	case errors.As(err, &status):
		return failure.Retryable(v1alpha1.ReasonListingFailed, err, "YouTube answered HTTP %d while kkdai read %s; ytx retries", int(status), subject)
	}
	return failure.Retryable(v1alpha1.ReasonListingFailed, err,
		"kkdai could not read %s; ytx retries. If it keeps failing, YouTube may have changed its answers", subject)
}

// entryMarks is what an entry's renderer says that kkdai does not keep.
type entryMarks struct {
	live, unavailable string
	published         time.Time
}

// pageWatch reads the browse API's answers as they pass to kkdai: the
// entries' live and unavailable marks, the owner, whether the playlist is
// empty; it fills in the length kkdai insists on ("lengthSeconds", absent
// for live, upcoming and unavailable entries); and once max entries have
// passed it answers further continuations with an empty page itself, so
// that kkdai stops reading.
type pageWatch struct {
	next http.RoundTripper
	max  int

	mu          sync.Mutex
	seen        int
	cut         bool
	empty       bool
	owned, name string
	marks       map[string]entryMarks
}

// emptyPage is a continuation answer with nothing in it: kkdai stops there.
const emptyPage = `{"onResponseReceivedActions":[{"appendContinuationItemsAction":{"continuationItems":[]}}]}`

func (p *pageWatch) RoundTrip(req *http.Request) (*http.Response, error) {
	next := p.next
	if next == nil {
		next = http.DefaultTransport
	}
	if req.URL.Path != "/youtubei/v1/browse" || req.Body == nil {
		return next.RoundTrip(req)
	}
	reqBody, err := io.ReadAll(req.Body)
	req.Body.Close()
	if err != nil {
		return nil, err
	}
	var ask struct{ Continuation string }
	json.Unmarshal(reqBody, &ask) //nolint:errcheck // kkdai wrote it
	p.mu.Lock()
	stop := ask.Continuation != "" && p.max > 0 && p.seen >= p.max
	if stop {
		p.cut = true
	}
	p.mu.Unlock()
	if stop {
		return &http.Response{
			StatusCode: http.StatusOK, Status: "200 OK", Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
			Header: http.Header{"Content-Type": {"application/json"}}, Body: io.NopCloser(strings.NewReader(emptyPage)),
			ContentLength: int64(len(emptyPage)), Request: req,
		}, nil
	}
	clone := req.Clone(req.Context())
	clone.Body = io.NopCloser(bytes.NewReader(reqBody))
	clone.ContentLength = int64(len(reqBody))
	resp, err := next.RoundTrip(clone)
	if err != nil || resp.StatusCode != http.StatusOK {
		return resp, err
	}
	// The host guard has bounded the answer in size already.
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	body = p.read(body, ask.Continuation == "")
	resp.Body = io.NopCloser(bytes.NewReader(body))
	resp.ContentLength = int64(len(body))
	resp.Header.Del("Content-Length")
	return resp, nil
}

// read takes the marks from one page and returns it with the lengths
// filled in.
func (p *pageWatch) read(body []byte, first bool) []byte {
	var page any
	if json.Unmarshal(body, &page) != nil {
		return body // kkdai will say what is wrong with it
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	patched, lists, alerts := false, 0, false
	walkJSON(page, func(m map[string]any) {
		if _, ok := m["alerts"]; ok {
			alerts = true
		}
		if _, ok := m["playlistVideoListRenderer"]; ok {
			lists++
		}
		if h, ok := m["playlistHeaderRenderer"].(map[string]any); ok {
			p.owned = browseID(h["ownerText"])
			p.name = text(h["title"])
		}
		r, ok := m["playlistVideoRenderer"].(map[string]any)
		if !ok {
			return
		}
		p.seen++
		id, _ := r["videoId"].(string)
		p.marks[id] = marksOf(r)
		if _, ok := r["lengthSeconds"].(string); !ok {
			r["lengthSeconds"], patched = "0", true
		}
	})
	if first && lists == 0 && !alerts {
		p.empty = true
	}
	if !patched {
		return body
	}
	out, err := json.Marshal(page)
	if err != nil {
		return body
	}
	return out
}

func (p *pageWatch) isEmpty() bool { p.mu.Lock(); defer p.mu.Unlock(); return p.empty }
func (p *pageWatch) wasCut() bool  { p.mu.Lock(); defer p.mu.Unlock(); return p.cut }
func (p *pageWatch) owner() string { p.mu.Lock(); defer p.mu.Unlock(); return p.owned }
func (p *pageWatch) title() string { p.mu.Lock(); defer p.mu.Unlock(); return p.name }
func (p *pageWatch) mark(id string) entryMarks {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.marks[id]
}

// marksOf reads a playlistVideoRenderer's marks as yt-dlp does: a start
// time is upcoming, a LIVE overlay or badge is live now, "Streamed …"
// was live; the placeholder titles are unavailable videos.
func marksOf(r map[string]any) entryMarks {
	var m entryMarks
	switch text(r["title"]) {
	case "[Private video]":
		m.unavailable = resolver.EntryPrivate
	case "[Deleted video]":
		m.unavailable = resolver.EntryDeleted
	}
	live := false
	walkJSON(r["thumbnailOverlays"], func(o map[string]any) {
		live = live || o["style"] == "LIVE"
	})
	walkJSON(r["badges"], func(o map[string]any) {
		live = live || o["style"] == "BADGE_STYLE_TYPE_LIVE_NOW"
	})
	start := ""
	if u, ok := r["upcomingEventData"].(map[string]any); ok {
		start, _ = u["startTime"].(string)
	}
	switch {
	case start != "":
		m.live = resolver.LiveUpcoming
		if sec, err := strconv.ParseInt(start, 10, 64); err == nil {
			m.published = time.Unix(sec, 0).UTC()
		}
	case live:
		m.live = resolver.LiveNow
	case strings.Contains(strings.ToLower(text(r["videoInfo"])+text(r["publishedTimeText"])), "streamed"):
		m.live = resolver.LiveWas
	}
	return m
}

// text is YouTube's text object as one string: simpleText, or the runs
// joined.
func text(v any) string {
	m, _ := v.(map[string]any)
	if s, ok := m["simpleText"].(string); ok {
		return s
	}
	var b strings.Builder
	runs, _ := m["runs"].([]any)
	for _, r := range runs {
		if rm, ok := r.(map[string]any); ok {
			s, _ := rm["text"].(string)
			b.WriteString(s)
		}
	}
	return b.String()
}

// browseID is the channel a byline links.
func browseID(v any) string {
	id := ""
	walkJSON(v, func(m map[string]any) {
		if b, ok := m["browseEndpoint"].(map[string]any); ok && id == "" {
			id, _ = b["browseId"].(string)
		}
	})
	return id
}

// walkJSON calls f on every object under v.
func walkJSON(v any, f func(map[string]any)) {
	switch x := v.(type) {
	case map[string]any:
		f(x)
		for _, e := range x {
			walkJSON(e, f)
		}
	case []any:
		for _, e := range x {
			walkJSON(e, f)
		}
	}
}
