package fake

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html"
	"strconv"
	"strings"
	"time"
)

// The types below are the parts of YouTube's player response (the
// /youtubei/v1/player answer and the watch page's ytInitialPlayerResponse)
// that clients read, with YouTube's field names, order and string-typed
// numbers.

type playerResponse struct {
	ResponseContext   responseContext   `json:"responseContext"`
	PlayabilityStatus playabilityStatus `json:"playabilityStatus"`
	StreamingData     *streamingData    `json:"streamingData,omitempty"`
	VideoDetails      *videoDetails     `json:"videoDetails,omitempty"`
	Microformat       *microformat      `json:"microformat,omitempty"`
	TrackingParams    string            `json:"trackingParams"`
}

type responseContext struct {
	VisitorData           string                 `json:"visitorData"`
	ServiceTrackingParams []serviceTrackingParam `json:"serviceTrackingParams"`
	MaxAgeSeconds         int                    `json:"maxAgeSeconds"`
}

type serviceTrackingParam struct {
	Service string     `json:"service"`
	Params  []keyValue `json:"params"`
}

type keyValue struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

type playabilityStatus struct {
	Status          string       `json:"status"`
	Reason          string       `json:"reason,omitempty"`
	Messages        []string     `json:"messages,omitempty"`
	ErrorScreen     *errorScreen `json:"errorScreen,omitempty"`
	PlayableInEmbed bool         `json:"playableInEmbed,omitempty"`
	ContextParams   string       `json:"contextParams"`
}

type errorScreen struct {
	PlayerErrorMessageRenderer struct {
		Reason    simpleText  `json:"reason"`
		Subreason *simpleText `json:"subreason,omitempty"`
		Icon      struct {
			IconType string `json:"iconType"`
		} `json:"icon"`
	} `json:"playerErrorMessageRenderer"`
}

type simpleText struct {
	SimpleText string `json:"simpleText"`
}

type streamingData struct {
	ExpiresInSeconds string       `json:"expiresInSeconds"`
	Formats          []formatJSON `json:"formats"`
	AdaptiveFormats  []formatJSON `json:"adaptiveFormats"`
}

type formatJSON struct {
	Itag             int        `json:"itag"`
	URL              string     `json:"url"`
	MimeType         string     `json:"mimeType"`
	Bitrate          int        `json:"bitrate"`
	Width            int        `json:"width,omitempty"`
	Height           int        `json:"height,omitempty"`
	InitRange        *byteRange `json:"initRange,omitempty"`
	IndexRange       *byteRange `json:"indexRange,omitempty"`
	LastModified     string     `json:"lastModified"`
	ContentLength    string     `json:"contentLength,omitempty"`
	Quality          string     `json:"quality"`
	FPS              int        `json:"fps,omitempty"`
	QualityLabel     string     `json:"qualityLabel,omitempty"`
	ProjectionType   string     `json:"projectionType"`
	AverageBitrate   int        `json:"averageBitrate,omitempty"`
	AudioQuality     string     `json:"audioQuality,omitempty"`
	ApproxDurationMs string     `json:"approxDurationMs"`
	AudioSampleRate  string     `json:"audioSampleRate,omitempty"`
	AudioChannels    int        `json:"audioChannels,omitempty"`
}

type byteRange struct {
	Start string `json:"start"`
	End   string `json:"end"`
}

type thumbnailList struct {
	Thumbnails []thumbnailJSON `json:"thumbnails"`
}

type thumbnailJSON struct {
	URL    string `json:"url"`
	Width  int    `json:"width"`
	Height int    `json:"height"`
}

type videoDetails struct {
	VideoID           string        `json:"videoId"`
	Title             string        `json:"title"`
	LengthSeconds     string        `json:"lengthSeconds"`
	Keywords          []string      `json:"keywords,omitempty"`
	ChannelID         string        `json:"channelId"`
	IsOwnerViewing    bool          `json:"isOwnerViewing"`
	ShortDescription  string        `json:"shortDescription"`
	IsCrawlable       bool          `json:"isCrawlable"`
	Thumbnail         thumbnailList `json:"thumbnail"`
	AllowRatings      bool          `json:"allowRatings"`
	ViewCount         string        `json:"viewCount"`
	Author            string        `json:"author"`
	IsPrivate         bool          `json:"isPrivate"`
	IsUnpluggedCorpus bool          `json:"isUnpluggedCorpus"`
	IsLiveContent     bool          `json:"isLiveContent"`
}

type microformat struct {
	PlayerMicroformatRenderer microformatRenderer `json:"playerMicroformatRenderer"`
}

type microformatRenderer struct {
	Thumbnail         thumbnailList `json:"thumbnail"`
	Embed             embedInfo     `json:"embed"`
	Title             simpleText    `json:"title"`
	Description       simpleText    `json:"description"`
	LengthSeconds     string        `json:"lengthSeconds"`
	OwnerProfileURL   string        `json:"ownerProfileUrl,omitempty"`
	ExternalChannelID string        `json:"externalChannelId"`
	IsFamilySafe      bool          `json:"isFamilySafe"`
	IsUnlisted        bool          `json:"isUnlisted"`
	HasYpcMetadata    bool          `json:"hasYpcMetadata"`
	ViewCount         string        `json:"viewCount"`
	Category          string        `json:"category"`
	PublishDate       string        `json:"publishDate"`
	OwnerChannelName  string        `json:"ownerChannelName"`
	UploadDate        string        `json:"uploadDate"`
}

type embedInfo struct {
	IframeURL string `json:"iframeUrl"`
	Width     int    `json:"width"`
	Height    int    `json:"height"`
}

// pacific is the fixed offset YouTube's publishDate carries for the
// fixtures. Real answers use Pacific time with daylight saving; a fixed
// offset keeps the fake independent of the machine's time zone database, and
// kkdai converts to UTC anyway.
var pacific = time.FixedZone("PDT", -7*60*60)

// client names kkdai sends in context.client.clientName.
const (
	clientEmbedded = "WEB_EMBEDDED_PLAYER"
)

// playerFor builds the player response for video v (nil: an ID YouTube does
// not know) as seen by the named client. withMicroformat is set for the watch
// page: the Android clients that kkdai uses get no microformat.
func (s *Server) playerFor(id string, v *Video, client string, withMicroformat bool) *playerResponse {
	return s.playerAs(id, v, client, withMicroformat, playerAsk{})
}

// playerAsk is what a player request carried besides the video and client.
type playerAsk struct {
	cookie   bool // the session cookie a Video.Cookie wants
	botCheck bool // answer with a bot check (Server.BotCheck)
}

// playerAs is playerFor for one request: a bot check, and a video that
// wants a cookie, answer by what the request carried.
func (s *Server) playerAs(id string, v *Video, client string, withMicroformat bool, ask playerAsk) *playerResponse {
	pr := &playerResponse{
		ResponseContext: responseContext{
			VisitorData: s.visitorData,
			ServiceTrackingParams: []serviceTrackingParam{
				{Service: "GFEEDBACK", Params: []keyValue{{"is_viewed_live", "False"}, {"logged_in", "0"}, {"e", "23804281,24004644,51010235"}}},
				{Service: "CSI", Params: []keyValue{{"c", client}, {"yt_li", "0"}}},
			},
			MaxAgeSeconds: 0,
		},
		TrackingParams: "CAAQu2kiEwj" + id,
	}
	ps := &pr.PlayabilityStatus
	ps.ContextParams = "Q0FFU0FnZ0I="

	if v == nil || v.Playability == Unavailable {
		reason := "This video is unavailable"
		if v != nil && v.Reason != "" {
			reason = v.Reason
		}
		ps.Status, ps.Reason = "ERROR", reason
		ps.ErrorScreen = newErrorScreen(reason, "", "ERROR_OUTLINE")
		return pr
	}

	playability := v.Playability
	if v.Cookie != "" && ask.cookie {
		playability = OK
	}
	switch {
	case ask.botCheck:
		ps.Status, ps.Reason = "LOGIN_REQUIRED", BotCheckReason
		ps.Messages = []string{"This helps protect our community. Learn more"}
		ps.ErrorScreen = newErrorScreen(BotCheckReason, "This helps protect our community. Learn more", "ERROR_OUTLINE")
		return pr
	case v.LoginReason != "" && playability == OK:
		ps.Status, ps.Reason = "LOGIN_REQUIRED", v.LoginReason
		ps.ErrorScreen = newErrorScreen(v.LoginReason, "", "ERROR_OUTLINE")
		return pr
	case playability == Private:
		reason := orDefault(v.Reason, "This video is private")
		ps.Status, ps.Reason = "LOGIN_REQUIRED", reason
		ps.Messages = []string{"This is a private video. Please sign in to verify that you may see it."}
		ps.ErrorScreen = newErrorScreen(reason, "", "PRIVACY_INFO")
		return pr // YouTube tells nothing else about a private video
	case playability == AgeRestricted && client == clientEmbedded && v.NoEmbed:
		reason := "Playback on other websites has been disabled by the video owner."
		ps.Status, ps.Reason = "UNPLAYABLE", reason
		ps.ErrorScreen = newErrorScreen(reason, "Watch on YouTube", "ERROR_OUTLINE")
	case playability == AgeRestricted:
		reason := orDefault(v.Reason, "Sign in to confirm your age")
		ps.Status, ps.Reason = "LOGIN_REQUIRED", reason
		ps.Messages = []string{"This video may be inappropriate for some users."}
		ps.ErrorScreen = newErrorScreen(reason, "This video may be inappropriate for some users.", "ERROR_OUTLINE")
		ps.PlayableInEmbed = !v.NoEmbed
	case client == clientEmbedded && v.NoEmbed:
		reason := "Playback on other websites has been disabled by the video owner."
		ps.Status, ps.Reason = "UNPLAYABLE", reason
		ps.ErrorScreen = newErrorScreen(reason, "Watch on YouTube", "ERROR_OUTLINE")
	default:
		ps.Status = "OK"
		ps.PlayableInEmbed = !v.NoEmbed
		pr.StreamingData = s.streamingDataFor(v, client)
	}

	pr.VideoDetails = &videoDetails{
		VideoID:          v.ID,
		Title:            v.Title,
		LengthSeconds:    strconv.Itoa(v.LengthSeconds),
		Keywords:         v.Keywords,
		ChannelID:        v.ChannelID,
		ShortDescription: v.Description,
		IsCrawlable:      true,
		Thumbnail:        thumbnailsJSON(v),
		AllowRatings:     true,
		ViewCount:        strconv.FormatInt(v.ViewCount, 10),
		Author:           v.Author,
	}
	if withMicroformat {
		published := v.PublishDate.In(pacific).Format(time.RFC3339)
		owner := ""
		if v.ChannelHandle != "" {
			owner = "http://www.youtube.com/" + v.ChannelHandle
		}
		pr.Microformat = &microformat{PlayerMicroformatRenderer: microformatRenderer{
			Thumbnail:         thumbnailList{Thumbnails: []thumbnailJSON{{URL: thumbnailURL(v.ID, "maxresdefault.jpg"), Width: 1280, Height: 720}}},
			Embed:             embedInfo{IframeURL: "https://www.youtube.com/embed/" + v.ID, Width: 1280, Height: 720},
			Title:             simpleText{v.Title},
			Description:       simpleText{v.Description},
			LengthSeconds:     strconv.Itoa(v.LengthSeconds),
			OwnerProfileURL:   owner,
			ExternalChannelID: v.ChannelID,
			IsFamilySafe:      v.Playability != AgeRestricted,
			ViewCount:         strconv.FormatInt(v.ViewCount, 10),
			Category:          orDefault(v.Category, "People & Blogs"),
			PublishDate:       published,
			OwnerChannelName:  v.Author,
			UploadDate:        published,
		}}
	}
	return pr
}

func (s *Server) streamingDataFor(v *Video, client string) *streamingData {
	sd := &streamingData{ExpiresInSeconds: "21540", Formats: []formatJSON{}, AdaptiveFormats: []formatJSON{}}
	expire := time.Now().Add(6 * time.Hour).Unix()
	for i := range v.Formats {
		f := &v.Formats[i]
		fj := formatJSON{
			Itag:             f.Itag,
			URL:              orDefault(f.URL, s.mediaURL(v, f, expire, client)),
			MimeType:         f.MimeType,
			Bitrate:          f.Bitrate,
			Width:            f.Width,
			Height:           f.Height,
			LastModified:     strconv.FormatInt(v.PublishDate.UnixMicro(), 10),
			Quality:          f.quality(),
			FPS:              f.FPS,
			QualityLabel:     f.QualityLabel,
			ProjectionType:   "RECTANGULAR",
			AverageBitrate:   f.AverageBitrate,
			AudioQuality:     f.AudioQuality,
			ApproxDurationMs: strconv.FormatInt(f.durationMs(v), 10),
			AudioChannels:    f.AudioChannels,
		}
		if fj.AverageBitrate == 0 {
			fj.AverageBitrate = f.Bitrate * 95 / 100
		}
		if f.AudioSampleRate > 0 {
			fj.AudioSampleRate = strconv.Itoa(f.AudioSampleRate)
		}
		switch {
		case f.WrongContentLength > 0:
			fj.ContentLength = strconv.FormatInt(f.WrongContentLength, 10)
		case f.ContentLength >= 0:
			fj.ContentLength = strconv.FormatInt(f.Media.Size(), 10)
		}
		if f.InitRange[1] > 0 {
			fj.InitRange = &byteRange{strconv.FormatInt(f.InitRange[0], 10), strconv.FormatInt(f.InitRange[1], 10)}
		}
		if f.IndexRange[1] > 0 {
			fj.IndexRange = &byteRange{strconv.FormatInt(f.IndexRange[0], 10), strconv.FormatInt(f.IndexRange[1], 10)}
		}
		if f.Progressive {
			sd.Formats = append(sd.Formats, fj)
		} else {
			sd.AdaptiveFormats = append(sd.AdaptiveFormats, fj)
		}
	}
	return sd
}

func (f *Format) durationMs(v *Video) int64 {
	if f.ApproxDurationMs > 0 {
		return f.ApproxDurationMs
	}
	return int64(v.LengthSeconds) * 1000
}

func newErrorScreen(reason, subreason, icon string) *errorScreen {
	es := &errorScreen{}
	es.PlayerErrorMessageRenderer.Reason = simpleText{reason}
	if subreason != "" {
		es.PlayerErrorMessageRenderer.Subreason = &simpleText{subreason}
	}
	es.PlayerErrorMessageRenderer.Icon.IconType = icon
	return es
}

func thumbnailsJSON(v *Video) thumbnailList {
	tl := thumbnailList{Thumbnails: make([]thumbnailJSON, 0, len(v.Thumbnails))}
	for _, t := range v.Thumbnails {
		tl.Thumbnails = append(tl.Thumbnails, thumbnailJSON{URL: orDefault(t.URL, thumbnailURL(v.ID, t.Name)), Width: t.Width, Height: t.Height})
	}
	return tl
}

// thumbnailURL is where YouTube keeps a video's images.
func thumbnailURL(id, name string) string { return "https://i.ytimg.com/vi/" + id + "/" + name }

func orDefault(s, def string) string {
	if s != "" {
		return s
	}
	return def
}

// inlineJSON encodes v for a <script> element on one line. encoding/json
// already writes no newlines and escapes <, > and &; a ';' can only occur
// inside a string, where \u003b means the same. kkdai finds the watch page's
// JSON with the non-greedy `var ytInitialPlayerResponse\s*=\s*(\{.+?\});`,
// which a "};" inside a title or description would otherwise cut short.
func inlineJSON(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return bytes.ReplaceAll(b, []byte(";"), []byte(`\u003b`)), nil
}

// ytcfg is the configuration YouTube's pages set with ytcfg.set(...).
func (s *Server) ytcfg() map[string]any {
	return map[string]any{
		"CLIENT_CANARY_STATE":      "none",
		"HL":                       "en",
		"GL":                       "US",
		"INNERTUBE_API_KEY":        "AIzaSyAO_FJ2SlqU8Q4STEHLGCilw_Y9_11qcW8",
		"INNERTUBE_API_VERSION":    "v1",
		"INNERTUBE_CLIENT_NAME":    "WEB",
		"INNERTUBE_CLIENT_VERSION": "2.20261120.01.00",
		"INNERTUBE_CONTEXT": map[string]any{
			"client": map[string]any{
				"hl": "en", "gl": "US", "remoteHost": "127.0.0.1",
				"visitorData":   s.visitorDataEscaped,
				"userAgent":     "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36,gzip(gfe)",
				"clientName":    "WEB",
				"clientVersion": "2.20261120.01.00",
				"osName":        "X11",
				"platform":      "DESKTOP",
			},
			"user":    map[string]any{"lockedSafetyMode": false},
			"request": map[string]any{"useSsl": true},
		},
		"VISITOR_DATA": s.visitorDataEscaped,
	}
}

// homePage is the start of www.youtube.com: kkdai reads the visitor data from
// the JSON after "\nytcfg.set(".
func (s *Server) homePage() ([]byte, error) {
	cfg := s.ytcfg()
	js, err := inlineJSON(cfg)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	b.WriteString(`<!DOCTYPE html><html style="font-size: 10px;font-family: Roboto, Arial, sans-serif;" lang="en" system-icons typography typography-spacing><head>`)
	b.WriteString(`<meta http-equiv="X-UA-Compatible" content="IE=edge"/><title>YouTube</title>`)
	b.WriteString(`<link rel="canonical" href="https://www.youtube.com/"><meta name="description" content="Enjoy the videos and music you love, upload original content, and share it all with friends, family, and the world on YouTube.">`)
	b.WriteString(`<script nonce="` + s.nonce + `">var ytcfg={d:function(){return window.yt&&yt.config_||ytcfg.data_||(ytcfg.data_={})},get:function(k,o){return k in ytcfg.d()?ytcfg.d()[k]:o},set:function(){var a=arguments;if(a.length>1)ytcfg.d()[a[0]]=a[1];else{var k;for(k in a[0])ytcfg.d()[k]=a[0][k]}}}`)
	b.WriteString("\nytcfg.set(")
	b.Write(js)
	b.WriteString(`); window.ytcfg.obfuscatedData_ = [];</script></head><body dir="ltr"><ytd-app></ytd-app></body></html>`)
	return b.Bytes(), nil
}

// watchPage is https://www.youtube.com/watch?v=ID: the player response for
// the web client, with microformat, in a script on one line.
//
// It carries ytcfg too (the innertube context and API key), as YouTube's
// does: yt-dlp reads it for an age-gated video's second try.
func (s *Server) watchPage(id string, v *Video, ask playerAsk) ([]byte, error) {
	js, err := inlineJSON(s.playerAs(id, v, "WEB", true, ask))
	if err != nil {
		return nil, err
	}
	title := "YouTube"
	if v != nil && v.Playability != Unavailable && v.Playability != Private {
		title = v.Title + " - YouTube"
	}
	var b bytes.Buffer
	b.WriteString(`<!DOCTYPE html><html style="font-size: 10px;font-family: Roboto, Arial, sans-serif;" lang="en"><head>`)
	fmt.Fprintf(&b, `<title>%s</title><meta name="title" content="%s">`, html.EscapeString(title), html.EscapeString(strings.TrimSuffix(title, " - YouTube")))
	fmt.Fprintf(&b, `<link rel="canonical" href="https://www.youtube.com/watch?v=%s"><meta property="og:url" content="https://www.youtube.com/watch?v=%s">`, id, id)
	cfg, err := inlineJSON(s.ytcfg())
	if err != nil {
		return nil, err
	}
	b.WriteString(`<script nonce="` + s.nonce + `">ytcfg.set(`)
	b.Write(cfg)
	b.WriteString(`);</script>`)
	b.WriteString(`</head><body dir="ltr"><div id="player">`)
	b.WriteString(`<script nonce="` + s.nonce + `">var ytInitialPlayerResponse = `)
	b.Write(js)
	b.WriteString(`;var meta = document.createElement('meta'); meta.name = 'referrer'; meta.content = 'origin-when-cross-origin'; document.getElementsByTagName('head')[0].appendChild(meta);</script>`)
	b.WriteString("</div>\n")
	data, err := inlineJSON(s.initialData(id, v))
	if err != nil {
		return nil, err
	}
	b.WriteString(`<script nonce="` + s.nonce + `">var ytInitialData = `)
	b.Write(data)
	b.WriteString(";</script>\n<ytd-app></ytd-app></body></html>\n")
	return b.Bytes(), nil
}

// initialData is the watch page's ytInitialData, which /youtubei/v1/next
// also answers: the primary and secondary info under
// contents.twoColumnWatchNextResults. yt-dlp reads the owner's channel and
// the date from it, and asks /next again until an answer has "contents".
func (s *Server) initialData(id string, v *Video) map[string]any {
	results := []any{}
	if v != nil && v.Playability != Unavailable && v.Playability != Private {
		owner := map[string]any{
			"title": map[string]any{"runs": []any{map[string]any{
				"text": v.Author,
				"navigationEndpoint": map[string]any{"browseEndpoint": map[string]any{
					"browseId": v.ChannelID, "canonicalBaseUrl": "/" + v.ChannelHandle,
				}},
			}}},
		}
		results = append(results,
			map[string]any{"videoPrimaryInfoRenderer": map[string]any{
				"title":     map[string]any{"runs": []any{map[string]any{"text": v.Title}}},
				"viewCount": map[string]any{"videoViewCountRenderer": map[string]any{"viewCount": map[string]any{"simpleText": strconv.FormatInt(v.ViewCount, 10) + " views"}}},
				"dateText":  map[string]any{"simpleText": v.PublishDate.In(pacific).Format("Jan 2, 2006")},
			}},
			map[string]any{"videoSecondaryInfoRenderer": map[string]any{
				"owner": map[string]any{"videoOwnerRenderer": owner},
			}},
		)
	}
	return map[string]any{
		"responseContext": map[string]any{"visitorData": s.visitorData},
		"contents": map[string]any{"twoColumnWatchNextResults": map[string]any{
			"results": map[string]any{"results": map[string]any{"contents": results}},
		}},
		"currentVideoEndpoint": map[string]any{"watchEndpoint": map[string]any{"videoId": id}},
		"trackingParams":       "CAAQg2ciEwj" + id,
	}
}

// playerHash names the fake player version in /s/player/<hash>/.
const playerHash = "f4ce0b5e"

// basePath is the player script the embed page names.
const basePath = "/s/player/" + playerHash + "/player_ias.vflset/en_US/base.js"

// embedPage is https://youtube.com/embed/ID: kkdai only looks for the path of
// the player's base.js in it.
func (s *Server) embedPage(id string) []byte {
	c := s.ytcfg()
	c["PLAYER_JS_URL"] = basePath
	c["WEB_PLAYER_CONTEXT_CONFIGS"] = map[string]any{"WEB_PLAYER_CONTEXT_CONFIG_ID_EMBEDDED_PLAYER": map[string]any{
		"jsUrl": basePath, "cssUrl": "/s/player/" + playerHash + "/www-player.css", "videoId": id,
	}}
	js, _ := inlineJSON(c) // a map of strings and maps: cannot fail
	cfg := string(js)
	return []byte(`<!DOCTYPE html><html lang="en" dir="ltr" data-cast-api-enabled="true"><head><meta name="viewport" content="width=device-width, initial-scale=1"><title>YouTube</title>` +
		`<link rel="canonical" href="https://www.youtube.com/watch?v=` + id + `">` +
		`<link rel="stylesheet" href="/s/player/` + playerHash + `/www-player.css" name="www-player" nonce="` + s.nonce + `">` +
		`<script src="/s/player/` + playerHash + `/player_ias.vflset/en_US/embed.js" nonce="` + s.nonce + `"></script>` +
		`</head><body class="date-20261120 en_US ltr site-center-aligned site-as-giant-card webkit webkit-537" dir="ltr"><div id="player"></div>` +
		`<script nonce="` + s.nonce + `">ytcfg.set(` + cfg + `);</script></body></html>` + "\n")
}

// baseJS stands in for YouTube's player script. kkdai fetches it for every
// stream but only runs its n-function on a `v` query parameter, which the
// fake's media URLs do not carry, and deciphers only signatureCipher formats,
// which the fake does not list. So a stub is enough.
const baseJS = `var _yt_player={};(function(g){var window=this;'use strict';
/* ytx fake YouTube player ` + playerHash + `: media URLs from this server need no signature or n-parameter transform. */
var Xq=function(a){return a};g.ytxFakePlayer={version:"` + playerHash + `",transform:Xq};
})(_yt_player);
`
