package fake

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// How the two clients read listings (seen with kkdai v2.10.6 and yt-dlp
// 2026.11.23, the versions the tests run):
//
//   - kkdai POSTs /youtubei/v1/browse {"browseId": "VL"+ID} as an app
//     client (ANDROID_VR) and reads contents.<first key>.tabs[0]…
//     sectionListRenderer.contents[0].playlistVideoListRenderer, the title
//     and owner from header.playlistHeaderRenderer (it looks under
//     "metadata" first, so app answers carry none), then POSTs
//     {"continuation": TOKEN} while a page ends in a continuationItemRenderer.
//   - yt-dlp GETs /playlist?list=ID or a channel's tab page and reads the
//     page's ytInitialData (web shape: twoColumnBrowseResultsRenderer, an
//     itemSectionRenderer around the list, metadata.playlistMetadataRenderer
//     or channelMetadataRenderer), POSTs browse "VL"+ID once more with
//     params that ask for unavailable videos, then follows continuations.
//
// Web clients get the web shape, app clients the app shape, as YouTube does.

// browseRequest is the part of a browse or resolve_url request the fake reads.
type browseRequest struct {
	Context struct {
		Client struct {
			ClientName string `json:"clientName"`
		} `json:"client"`
	} `json:"context"`
	BrowseID     string `json:"browseId"`
	Params       string `json:"params"`
	Continuation string `json:"continuation"`
	URL          string `json:"url"`
}

func (b *browseRequest) web() bool {
	n := b.Context.Client.ClientName
	return n == "" || strings.HasPrefix(n, "WEB")
}

func readBrowse(r *http.Request) (*browseRequest, error) {
	var req browseRequest
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err == nil {
		err = json.Unmarshal(body, &req)
	}
	return &req, err
}

func (s *Server) serveBrowse(w http.ResponseWriter, r *http.Request) {
	req, err := readBrowse(r)
	kind, list := KindBrowse, req.BrowseID
	if req.Continuation != "" {
		kind = KindContinuation
		list, _, _ = decodeToken(req.Continuation)
	}
	if s.begin(&w, r, Request{Kind: kind, Method: r.Method, List: list}) {
		return
	}
	if r.Method != http.MethodPost || err != nil || (req.BrowseID == "" && req.Continuation == "") {
		writeAPIError(w, http.StatusBadRequest, "Request contains an invalid argument.", "INVALID_ARGUMENT")
		return
	}
	var out any
	switch {
	case req.Continuation != "":
		key, offset, ok := decodeToken(req.Continuation)
		if !ok {
			writeAPIError(w, http.StatusBadRequest, "Request contains an invalid argument.", "INVALID_ARGUMENT")
			return
		}
		out = s.continuationPage(key, offset)
	case strings.HasPrefix(req.BrowseID, "VL"):
		out = s.playlistData(req.BrowseID[2:], req.web())
	default:
		c := s.channel(req.BrowseID)
		if c == nil {
			writeAPIError(w, http.StatusNotFound, "Requested entity was not found.", "NOT_FOUND")
			return
		}
		out = s.channelData(c, tabOfParams(req.Params))
	}
	writeJSON(w, r, out)
}

// serveResolveURL answers yt-dlp's fallback when a page did not load: the
// browse endpoint of a known playlist or channel link, 404 otherwise.
func (s *Server) serveResolveURL(w http.ResponseWriter, r *http.Request) {
	req, err := readBrowse(r)
	if s.begin(&w, r, Request{Kind: KindResolveURL, Method: r.Method, List: req.URL}) {
		return
	}
	if err != nil || req.URL == "" {
		writeAPIError(w, http.StatusBadRequest, "Request contains an invalid argument.", "INVALID_ARGUMENT")
		return
	}
	endpoint := map[string]any{}
	if i := strings.Index(req.URL, "list="); i >= 0 && s.playlist(strings.Split(req.URL[i+5:], "&")[0]) != nil {
		endpoint["browseId"] = "VL" + strings.Split(req.URL[i+5:], "&")[0]
	} else if key, tab := channelKey(urlPath(req.URL)); key != "" && s.channel(key) != nil {
		endpoint["browseId"], endpoint["params"] = s.channel(key).ID, tabParams(orDefault(tab, "featured"))
	} else {
		writeAPIError(w, http.StatusNotFound, "Requested entity was not found.", "NOT_FOUND")
		return
	}
	writeJSON(w, r, map[string]any{"endpoint": map[string]any{"browseEndpoint": endpoint}})
}

func urlPath(u string) string {
	u = strings.TrimPrefix(strings.TrimPrefix(u, "https://"), "http://")
	if i := strings.IndexByte(u, '/'); i >= 0 {
		u = u[i:]
	}
	u, _, _ = strings.Cut(u, "?")
	return u
}

func (s *Server) servePlaylistPage(w http.ResponseWriter, r *http.Request) {
	id := r.URL.Query().Get("list")
	if s.begin(&w, r, Request{Kind: KindPlaylistPage, Method: r.Method, List: id}) {
		return
	}
	s.writeInitialData(w, r, s.playlistData(id, true))
}

// isChannelPath reports whether path is a channel page: /@handle,
// /channel/UC…, /c/NAME or /user/NAME, with or without a tab.
func isChannelPath(path string) bool {
	key, _ := channelKey(path)
	return key != ""
}

// channelKey splits a channel page's path into the key that finds the
// channel (an ID, "@handle", "c/name", "user/name") and the tab ("" for
// none).
func channelKey(path string) (key, tab string) {
	parts := strings.Split(strings.Trim(path, "/"), "/")
	switch {
	case len(parts) >= 1 && strings.HasPrefix(parts[0], "@") && len(parts[0]) > 1:
		key, parts = parts[0], parts[1:]
	case len(parts) >= 2 && parts[0] == "channel":
		key, parts = parts[1], parts[2:]
	case len(parts) >= 2 && (parts[0] == "c" || parts[0] == "user"):
		key, parts = parts[0]+"/"+parts[1], parts[2:]
	default:
		return "", ""
	}
	if len(parts) > 1 {
		return "", ""
	}
	if len(parts) == 1 {
		tab = parts[0]
	}
	return key, tab
}

func (s *Server) serveChannelPage(w http.ResponseWriter, r *http.Request) {
	key, tab := channelKey(r.URL.Path)
	if s.begin(&w, r, Request{Kind: KindChannelPage, Method: r.Method, List: key}) {
		return
	}
	c := s.channel(key)
	if c == nil {
		// YouTube answers a missing channel with a 404 page.
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprint(w, `<!DOCTYPE html><html lang="en"><head><title>404 Not Found</title></head><body><p>This page isn't available. Sorry about that.</p></body></html>`)
		return
	}
	s.writeInitialData(w, r, s.channelData(c, orDefault(tab, "featured")))
}

// writeInitialData writes a browse page: ytcfg and ytInitialData in
// scripts, as YouTube's pages carry them.
func (s *Server) writeInitialData(w http.ResponseWriter, r *http.Request, data any) {
	js, err := inlineJSON(data)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	cfg, err := inlineJSON(s.ytcfg())
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	var b bytes.Buffer
	b.WriteString(`<!DOCTYPE html><html lang="en"><head><title>YouTube</title>`)
	b.WriteString(`<script nonce="` + s.nonce + `">ytcfg.set(`)
	b.Write(cfg)
	b.WriteString(`);</script></head><body dir="ltr">`)
	b.WriteString(`<script nonce="` + s.nonce + `">var ytInitialData = `)
	b.Write(js)
	b.WriteString(";</script>\n<ytd-app></ytd-app></body></html>\n")
	writeBody(w, r, "text/html; charset=utf-8", b.Bytes())
}

func writeJSON(w http.ResponseWriter, r *http.Request, v any) {
	out, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	writeBody(w, r, "application/json; charset=UTF-8", out)
}

// writeAPIError answers as the innertube API does.
func writeAPIError(w http.ResponseWriter, status int, message, code string) {
	body, _ := json.Marshal(map[string]any{"error": map[string]any{
		"code": status, "message": message, "status": code,
		"errors": []map[string]string{{"message": message, "domain": "global", "reason": "badRequest"}},
	}})
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(status)
	w.Write(body) //nolint:errcheck
}

// Continuation tokens name the listing and the offset of the page. Real
// ones are protobufs in base64 that start "4qmF"; these only look alike.
const tokenPrefix = "4qmFsgJ"

func encodeToken(key string, offset int) string {
	return tokenPrefix + base64.RawURLEncoding.EncodeToString([]byte(key+"\x00"+strconv.Itoa(offset)))
}

func decodeToken(t string) (key string, offset int, ok bool) {
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(t, tokenPrefix))
	if err != nil || !strings.HasPrefix(t, tokenPrefix) {
		return "", 0, false
	}
	key, off, found := strings.Cut(string(raw), "\x00")
	offset, err = strconv.Atoi(off)
	return key, offset, found && err == nil && offset > 0
}

// tabParams stands for the params of a channel tab's browse endpoint.
func tabParams(tab string) string { return base64.URLEncoding.EncodeToString([]byte("\x12\x06" + tab)) }

func tabOfParams(p string) string {
	raw, err := base64.URLEncoding.DecodeString(p)
	if err != nil || len(raw) < 2 {
		return "featured"
	}
	return string(raw[2:])
}

// alertData is a browse answer that only says YouTube's words.
func (s *Server) alertData(kind, text string) map[string]any {
	return map[string]any{
		"responseContext": map[string]any{"visitorData": s.visitorData},
		"alerts": []any{map[string]any{"alertRenderer": map[string]any{
			"type": kind, "text": map[string]any{"runs": []any{map[string]any{"text": text}}},
		}}},
	}
}

func runs(text string) map[string]any {
	return map[string]any{"runs": []any{map[string]any{"text": text}}}
}

// ownerRuns is a byline that links the channel.
func ownerRuns(name, channelID, handle string) map[string]any {
	base := "/channel/" + channelID
	if handle != "" {
		base = "/" + handle
	}
	return map[string]any{"runs": []any{map[string]any{
		"text": name,
		"navigationEndpoint": map[string]any{
			"commandMetadata": map[string]any{"webCommandMetadata": map[string]any{"url": base}},
			"browseEndpoint":  map[string]any{"browseId": channelID, "canonicalBaseUrl": base},
		},
	}}}
}

// playlistData is a playlist's first page, as the page's ytInitialData
// (web) or the app's browse answer.
func (s *Server) playlistData(id string, web bool) map[string]any {
	p := s.playlist(id)
	switch {
	case p == nil:
		return s.alertData("ERROR", "The playlist does not exist.")
	case p.Private:
		return s.alertData("ERROR", "This playlist is private.")
	}
	items := s.playlistItems(p, 0)
	list := map[string]any{"playlistVideoListRenderer": map[string]any{
		"contents": items, "playlistId": p.ID, "isEditable": false, "canReorder": false, "targetId": "VL" + p.ID,
	}}
	if len(p.VideoIDs) == 0 {
		// An empty playlist has no list, only a message.
		list = map[string]any{"messageRenderer": map[string]any{"text": runs("There are no videos in this playlist yet")}}
	}
	count := fmt.Sprintf("%d videos", len(p.VideoIDs))
	header := map[string]any{"playlistHeaderRenderer": map[string]any{
		"playlistId":    p.ID,
		"title":         runs(p.Title),
		"numVideosText": runs(count),
		"ownerText":     ownerRuns(p.Author, p.ChannelID, p.Handle),
		"privacy":       "PUBLIC",
		"byline":        []any{map[string]any{"playlistBylineRenderer": map[string]any{"text": runs(count)}}},
	}}
	out := map[string]any{
		"responseContext": map[string]any{"visitorData": s.visitorData},
		"header":          header,
	}
	if !web {
		out["contents"] = map[string]any{"singleColumnBrowseResultsRenderer": map[string]any{"tabs": []any{
			map[string]any{"tabRenderer": map[string]any{"selected": true, "content": map[string]any{
				"sectionListRenderer": map[string]any{"contents": []any{list}},
			}}},
		}}}
		return out
	}
	out["contents"] = map[string]any{"twoColumnBrowseResultsRenderer": map[string]any{"tabs": []any{
		map[string]any{"tabRenderer": map[string]any{"selected": true, "content": map[string]any{
			"sectionListRenderer": map[string]any{"contents": []any{
				map[string]any{"itemSectionRenderer": map[string]any{"contents": []any{list}}},
			}},
		}}},
	}}}
	out["metadata"] = map[string]any{"playlistMetadataRenderer": map[string]any{"title": p.Title, "description": p.Description}}
	out["microformat"] = map[string]any{"microformatDataRenderer": map[string]any{
		"urlCanonical": "https://www.youtube.com/playlist?list=" + p.ID, "title": p.Title, "noindex": false, "unlisted": false,
	}}
	out["sidebar"] = map[string]any{"playlistSidebarRenderer": map[string]any{"items": []any{
		map[string]any{"playlistSidebarPrimaryInfoRenderer": map[string]any{"title": runs(p.Title), "stats": []any{runs(count)}}},
		map[string]any{"playlistSidebarSecondaryInfoRenderer": map[string]any{"videoOwner": map[string]any{
			"videoOwnerRenderer": map[string]any{"title": ownerRuns(p.Author, p.ChannelID, p.Handle)},
		}}},
	}}}
	return out
}

// playlistItems is one page of a playlist from offset: its entries and, if
// more follow, a continuationItemRenderer.
func (s *Server) playlistItems(p *Playlist, offset int) []any {
	end := min(len(p.VideoIDs), offset+PlaylistPageSize)
	items := []any{}
	for i := offset; i < end; i++ {
		items = append(items, map[string]any{"playlistVideoRenderer": s.playlistEntry(p, i)})
	}
	if end < len(p.VideoIDs) {
		items = append(items, continuationItem(encodeToken("VL"+p.ID, end)))
	}
	return items
}

func continuationItem(token string) map[string]any {
	return map[string]any{"continuationItemRenderer": map[string]any{
		"trigger": "CONTINUATION_TRIGGER_ON_ITEM_SHOWN",
		"continuationEndpoint": map[string]any{
			"commandMetadata":     map[string]any{"webCommandMetadata": map[string]any{"sendPost": true, "apiUrl": "/youtubei/v1/browse"}},
			"continuationCommand": map[string]any{"token": token, "request": "CONTINUATION_REQUEST_TYPE_BROWSE"},
		},
	}}
}

// continuationPage answers a continuation token.
func (s *Server) continuationPage(key string, offset int) map[string]any {
	var items []any
	if strings.HasPrefix(key, "VL") {
		if p := s.playlist(key[2:]); p != nil && !p.Private {
			items = s.playlistItems(p, offset)
		}
	} else if id, tab, ok := strings.Cut(key, "/"); ok {
		if c := s.channel(id); c != nil {
			items = s.channelItems(c, tab, offset)
		}
	}
	if items == nil {
		items = []any{}
	}
	return map[string]any{
		"responseContext": map[string]any{"visitorData": s.visitorData},
		"onResponseReceivedActions": []any{map[string]any{
			"clickTrackingParams":           "CBcQ7zsYACITCLs",
			"appendContinuationItemsAction": map[string]any{"continuationItems": items, "targetId": key},
		}},
	}
}

// lengthText is YouTube's "3:33" / "1:02:03".
func lengthText(sec int) string {
	if sec >= 3600 {
		return fmt.Sprintf("%d:%02d:%02d", sec/3600, sec/60%60, sec%60)
	}
	return fmt.Sprintf("%d:%02d", sec/60, sec%60)
}

// ago is YouTube's rough "3 days ago".
func ago(t time.Time) string {
	d := time.Since(t)
	switch {
	case d < 48*time.Hour:
		return "1 day ago"
	case d < 60*24*time.Hour:
		return fmt.Sprintf("%d days ago", int(d.Hours()/24))
	case d < 2*365*24*time.Hour:
		return fmt.Sprintf("%d months ago", int(d.Hours()/24/30))
	}
	return fmt.Sprintf("%d years ago", int(d.Hours()/24/365))
}

// playlistEntry is a playlistVideoRenderer. An unavailable video keeps its
// ID and index but shows only YouTube's placeholder title, with no byline,
// no length and isPlayable false. A live or upcoming one has no length
// either; YouTube marks it with an overlay (and upcomingEventData).
func (s *Server) playlistEntry(p *Playlist, i int) map[string]any {
	id := p.VideoIDs[i]
	v := s.video(id)
	e := map[string]any{
		"videoId":   id,
		"index":     map[string]any{"simpleText": strconv.Itoa(i + 1)},
		"thumbnail": map[string]any{"thumbnails": []any{map[string]any{"url": thumbnailURL(id, "hqdefault.jpg"), "width": 480, "height": 360}}},
		"navigationEndpoint": map[string]any{
			"commandMetadata": map[string]any{"webCommandMetadata": map[string]any{"url": fmt.Sprintf("/watch?v=%s&list=%s&index=%d", id, p.ID, i+1)}},
			"watchEndpoint":   map[string]any{"videoId": id, "playlistId": p.ID, "index": i},
		},
	}
	if title, gone := unavailableTitle(v); gone {
		e["title"] = runs(title)
		e["isPlayable"] = false
		e["thumbnail"] = map[string]any{"thumbnails": []any{map[string]any{"url": "https://i.ytimg.com/img/no_thumbnail.jpg", "width": 120, "height": 90}}}
		return e
	}
	e["title"] = runs(v.Title)
	e["shortBylineText"] = ownerRuns(v.Author, v.ChannelID, v.ChannelHandle)
	e["isPlayable"] = true
	when := ago(v.PublishDate)
	if v.Broadcast == WasLive {
		when = "Streamed " + when
	}
	e["videoInfo"] = map[string]any{"runs": []any{
		map[string]any{"text": strconv.FormatInt(v.ViewCount, 10) + " views"}, map[string]any{"text": " • "}, map[string]any{"text": when},
	}}
	s.markBroadcast(e, v)
	if v.Broadcast == NotBroadcast || v.Broadcast == WasLive {
		e["lengthSeconds"] = strconv.Itoa(v.LengthSeconds)
		e["lengthText"] = map[string]any{"simpleText": lengthText(v.LengthSeconds)}
	}
	return e
}

// unavailableTitle is the placeholder YouTube lists for a video that cannot
// be watched.
func unavailableTitle(v *Video) (string, bool) {
	switch {
	case v == nil, v.Playability == Unavailable:
		return "[Deleted video]", true
	case v.Playability == Private:
		return "[Private video]", true
	}
	return "", false
}

// markBroadcast adds the overlay, badge and event data of a live state, or
// the length overlay of a plain video.
func (s *Server) markBroadcast(e map[string]any, v *Video) {
	overlay := func(style, text string) {
		e["thumbnailOverlays"] = []any{map[string]any{"thumbnailOverlayTimeStatusRenderer": map[string]any{
			"text": map[string]any{"simpleText": text}, "style": style,
		}}}
	}
	switch v.Broadcast {
	case LiveNow:
		overlay("LIVE", "LIVE")
		e["badges"] = []any{map[string]any{"metadataBadgeRenderer": map[string]any{"style": "BADGE_STYLE_TYPE_LIVE_NOW", "label": "LIVE"}}}
	case Upcoming:
		overlay("UPCOMING", "UPCOMING")
		e["upcomingEventData"] = map[string]any{
			"startTime": strconv.FormatInt(v.PublishDate.Unix(), 10), "isReminderSet": false,
			"upcomingEventText": map[string]any{"runs": []any{map[string]any{"text": "Scheduled for "}, map[string]any{"text": "DATE_PLACEHOLDER"}}},
		}
	default:
		overlay("DEFAULT", lengthText(v.LengthSeconds))
	}
}

// channelTabs are the tabs a channel page shows, in YouTube's order.
var channelTabs = []struct{ id, title string }{
	{"featured", "Home"}, {"videos", "Videos"}, {"shorts", "Shorts"}, {"streams", "Live"}, {"playlists", "Playlists"},
}

// channelData is a channel's page with tab selected: its tabs, the selected
// one's first page, and the channel's metadata.
func (s *Server) channelData(c *Channel, selected string) map[string]any {
	base := "/channel/" + c.ID
	if c.Handle != "" {
		base = "/" + c.Handle
	}
	if _, ok := c.tabVideos(selected); !ok && selected != "playlists" {
		// YouTube shows the Home tab for a tab the channel lacks.
		selected = "featured"
	}
	var tabs []any
	for _, t := range channelTabs {
		if _, ok := c.tabVideos(t.id); !ok && t.id != "featured" && t.id != "playlists" {
			continue
		}
		tab := map[string]any{
			"title": t.title,
			"endpoint": map[string]any{
				"commandMetadata": map[string]any{"webCommandMetadata": map[string]any{"url": base + "/" + t.id}},
				"browseEndpoint":  map[string]any{"browseId": c.ID, "params": tabParams(t.id), "canonicalBaseUrl": base},
			},
		}
		if t.id == selected {
			tab["selected"] = true
			if _, ok := c.tabVideos(t.id); ok {
				tab["content"] = map[string]any{"richGridRenderer": map[string]any{"contents": s.channelItems(c, t.id, 0), "targetId": "browse-feed" + c.ID + t.id}}
			} else {
				tab["content"] = map[string]any{"sectionListRenderer": map[string]any{"contents": []any{}}}
			}
		}
		tabs = append(tabs, map[string]any{"tabRenderer": tab})
	}
	vanity := ""
	if c.Handle != "" {
		vanity = "http://www.youtube.com/" + c.Handle
	}
	return map[string]any{
		"responseContext": map[string]any{"visitorData": s.visitorData},
		"contents":        map[string]any{"twoColumnBrowseResultsRenderer": map[string]any{"tabs": tabs}},
		"header": map[string]any{"pageHeaderRenderer": map[string]any{
			"pageTitle": c.Title,
			"content": map[string]any{"pageHeaderViewModel": map[string]any{
				"title": map[string]any{"dynamicTextViewModel": map[string]any{"text": map[string]any{"content": c.Title}}},
			}},
		}},
		"metadata": map[string]any{"channelMetadataRenderer": map[string]any{
			"title": c.Title, "description": "", "externalId": c.ID,
			"channelUrl":       "https://www.youtube.com/channel/" + c.ID,
			"vanityChannelUrl": vanity, "isFamilySafe": true,
		}},
		"microformat": map[string]any{"microformatDataRenderer": map[string]any{
			"urlCanonical": "https://www.youtube.com/channel/" + c.ID, "title": c.Title, "noindex": false, "unlisted": false,
		}},
	}
}

// channelItems is one page of a channel tab from offset.
func (s *Server) channelItems(c *Channel, tab string, offset int) []any {
	ids, _ := c.tabVideos(tab)
	end := min(len(ids), offset+ChannelPageSize)
	items := []any{}
	for _, id := range ids[min(offset, end):end] {
		var content map[string]any
		if tab == "shorts" {
			content = map[string]any{"shortsLockupViewModel": s.shortsEntry(id)}
		} else {
			content = map[string]any{"videoRenderer": s.channelEntry(id)}
		}
		items = append(items, map[string]any{"richItemRenderer": map[string]any{"content": content}})
	}
	if end < len(ids) {
		items = append(items, continuationItem(encodeToken(c.ID+"/"+tab, end)))
	}
	return items
}

// channelEntry is a videoRenderer of a channel's Videos or Live tab.
func (s *Server) channelEntry(id string) map[string]any {
	v := s.video(id)
	e := map[string]any{
		"videoId":   id,
		"thumbnail": map[string]any{"thumbnails": []any{map[string]any{"url": thumbnailURL(id, "hqdefault.jpg"), "width": 480, "height": 360}}},
		"navigationEndpoint": map[string]any{
			"commandMetadata": map[string]any{"webCommandMetadata": map[string]any{"url": "/watch?v=" + id}},
			"watchEndpoint":   map[string]any{"videoId": id},
		},
	}
	if title, gone := unavailableTitle(v); gone {
		// A channel does not list what cannot be watched; a test that
		// puts such an ID on a tab gets YouTube's placeholder.
		e["title"] = runs(title)
		return e
	}
	e["title"] = runs(v.Title)
	s.markBroadcast(e, v)
	switch v.Broadcast {
	case LiveNow:
		e["viewCountText"] = runs(strconv.FormatInt(v.ViewCount, 10) + " watching")
	case Upcoming:
		e["viewCountText"] = runs("0 waiting")
	default:
		when := ago(v.PublishDate)
		if v.Broadcast == WasLive {
			when = "Streamed " + when
		}
		e["publishedTimeText"] = map[string]any{"simpleText": when}
		e["lengthText"] = map[string]any{"simpleText": lengthText(v.LengthSeconds)}
		e["viewCountText"] = map[string]any{"simpleText": strconv.FormatInt(v.ViewCount, 10) + " views"}
	}
	return e
}

// shortsEntry is a shortsLockupViewModel of a channel's Shorts tab.
func (s *Server) shortsEntry(id string) map[string]any {
	title := "[Deleted video]"
	if v := s.video(id); v != nil {
		title = v.Title
	}
	return map[string]any{
		"entityId":          "shorts-shelf-item-" + id,
		"accessibilityText": title + ", 1,234 views - play Short",
		"onTap": map[string]any{"innertubeCommand": map[string]any{
			"commandMetadata":   map[string]any{"webCommandMetadata": map[string]any{"url": "/shorts/" + id}},
			"reelWatchEndpoint": map[string]any{"videoId": id},
		}},
		"overlayMetadata": map[string]any{
			"primaryText":   map[string]any{"content": title},
			"secondaryText": map[string]any{"content": "1.2K views"},
		},
		"thumbnailViewModel": map[string]any{"thumbnailViewModel": map[string]any{"image": map[string]any{"sources": []any{
			map[string]any{"url": thumbnailURL(id, "oardefault.jpg"), "width": 405, "height": 720},
		}}}},
	}
}
