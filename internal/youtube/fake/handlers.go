package fake

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Handler serves every host of the fake. Routing goes by path, whose spaces
// do not overlap between YouTube's hosts, so the handler also works behind a
// transport that rewrites hosts, or served over plain HTTP.
func (s *Server) Handler() http.Handler {
	return http.HandlerFunc(s.serveHTTP)
}

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	host := strings.ToLower(r.Host)
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	path := r.URL.Path
	switch {
	case host == "youtu.be" && len(path) > 1:
		// Short links redirect to the watch page, keeping the query (t=42).
		q := r.URL.Query()
		q.Set("v", strings.TrimPrefix(path, "/"))
		http.Redirect(w, r, "https://www.youtube.com/watch?"+q.Encode(), http.StatusMovedPermanently)
	case path == "/videoplayback":
		s.serveMedia(w, r)
	case strings.HasPrefix(path, "/vi/") || strings.HasPrefix(path, "/vi_webp/"):
		s.serveThumbnail(w, r)
	case path == "/":
		s.serveHome(w, r)
	case path == "/youtubei/v1/player":
		s.servePlayer(w, r)
	case path == "/youtubei/v1/next":
		s.serveNext(w, r)
	case path == "/watch":
		s.serveWatch(w, r)
	case path == "/youtubei/v1/browse":
		s.serveBrowse(w, r)
	case path == "/youtubei/v1/navigation/resolve_url":
		s.serveResolveURL(w, r)
	case path == "/playlist":
		s.servePlaylistPage(w, r)
	case isChannelPath(path):
		s.serveChannelPage(w, r)
	case strings.HasPrefix(path, "/embed/"):
		s.serveEmbed(w, r)
	case strings.HasPrefix(path, "/s/player/") && strings.HasSuffix(path, "/base.js"):
		s.serveBaseJS(w, r)
	default:
		http.Error(w, "404. That’s an error.\nThe requested URL was not found on this server. That’s all we know.", http.StatusNotFound)
	}
}

// begin records a request and applies a fault; it reports whether the
// request was answered by a fault.
func (s *Server) begin(w *http.ResponseWriter, r *http.Request, rec Request) bool {
	s.record(rec)
	return s.apply(w, r, rec.Kind, s.takeFault(rec.Kind, rec.VideoID, rec.Itag))
}

// apply applies fault f (nil: none) to a request; it reports whether the
// request was answered. A cut or rate fault wraps w.
func (s *Server) apply(w *http.ResponseWriter, r *http.Request, kind Kind, f *Fault) bool {
	switch {
	case f == nil:
		return false
	case f.Status != 0:
		writeError(*w, kind, f.Status)
		return true
	case f.RedirectTo != "":
		http.Redirect(*w, r, f.RedirectTo, http.StatusFound)
		return true
	}
	if f.CutAfter > 0 {
		*w = &cutWriter{ResponseWriter: *w, left: f.CutAfter}
	}
	if f.Rate > 0 {
		*w = throttledResponse{*w, throttled(r.Context(), *w, f.Rate)}
	}
	return false
}

// writeError answers like Google does: JSON errors from the API, a short
// page from the others.
func writeError(w http.ResponseWriter, kind Kind, status int) {
	if kind == KindPlayer {
		names := map[int]string{400: "INVALID_ARGUMENT", 403: "PERMISSION_DENIED", 404: "NOT_FOUND", 429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED"}
		body, _ := json.Marshal(map[string]any{"error": map[string]any{
			"code": status, "message": http.StatusText(status), "status": orDefault(names[status], "UNKNOWN"),
			"errors": []map[string]string{{"message": http.StatusText(status), "domain": "global", "reason": "backendError"}},
		}})
		w.Header().Set("Content-Type", "application/json; charset=UTF-8")
		w.WriteHeader(status)
		w.Write(body) //nolint:errcheck
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(status)
	fmt.Fprintf(w, "%d. That’s an error.\n", status)
}

// cutWriter drops the connection after a number of body bytes.
type cutWriter struct {
	http.ResponseWriter
	left int64
}

func (c *cutWriter) Write(p []byte) (int, error) {
	if int64(len(p)) < c.left {
		c.left -= int64(len(p))
		return c.ResponseWriter.Write(p)
	}
	c.ResponseWriter.Write(p[:c.left]) //nolint:errcheck // aborting anyway
	c.left = 0
	if f, ok := c.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
	// net/http recognises this panic: it aborts the response (closes the
	// connection, or resets the HTTP/2 stream) without logging.
	panic(http.ErrAbortHandler)
}

func (s *Server) serveHome(w http.ResponseWriter, r *http.Request) {
	if s.begin(&w, r, Request{Kind: KindHome, Method: r.Method}) {
		return
	}
	body, err := s.homePage()
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	writeBody(w, r, "text/html; charset=utf-8", body)
}

// playerRequest is the part of an innertube request the fake reads.
type playerRequest struct {
	VideoID string `json:"videoId"`
	Context struct {
		Client struct {
			ClientName    string `json:"clientName"`
			ClientVersion string `json:"clientVersion"`
		} `json:"client"`
	} `json:"context"`
}

func (s *Server) servePlayer(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeError(w, KindPlayer, http.StatusMethodNotAllowed)
		return
	}
	var req playerRequest
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err == nil {
		err = json.Unmarshal(body, &req)
	}
	ask := playerAsk{}
	if v := s.video(req.VideoID); v != nil && v.Cookie != "" {
		ask.cookie = hasCookie(r, v.Cookie)
	}
	s.record(Request{Kind: KindPlayer, Method: r.Method, VideoID: req.VideoID, Client: req.Context.Client.ClientName, Cookie: hasCookie(r, SessionCookie)})
	if err != nil || req.VideoID == "" || req.Context.Client.ClientName == "" {
		// What YouTube answers to a request without a client or video.
		writeError(w, KindPlayer, http.StatusBadRequest)
		return
	}
	if !s.wait(r.Context(), req.VideoID) {
		// The client gave up, or the server is closing: drop the
		// connection rather than send an empty 200.
		panic(http.ErrAbortHandler)
	}
	if s.apply(&w, r, KindPlayer, s.takeFault(KindPlayer, req.VideoID, 0)) {
		return
	}
	ask.botCheck = s.takeBotCheck(req.VideoID)
	pr := s.playerAs(req.VideoID, s.video(req.VideoID), req.Context.Client.ClientName, false, ask)
	out, err := json.Marshal(pr)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	writeBody(w, r, "application/json; charset=UTF-8", out)
}

// hasCookie reports whether r carries the cookie "name=value".
func hasCookie(r *http.Request, pair string) bool {
	name, value, _ := strings.Cut(pair, "=")
	c, err := r.Cookie(name)
	return err == nil && c.Value == value
}

// serveNext answers /youtubei/v1/next with the watch page's initial data.
func (s *Server) serveNext(w http.ResponseWriter, r *http.Request) {
	var req playerRequest
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err == nil {
		err = json.Unmarshal(body, &req)
	}
	if s.begin(&w, r, Request{Kind: KindNext, Method: r.Method, VideoID: req.VideoID, Client: req.Context.Client.ClientName}) {
		return
	}
	if err != nil || req.VideoID == "" {
		writeError(w, KindPlayer, http.StatusBadRequest)
		return
	}
	out, err := json.Marshal(s.initialData(req.VideoID, s.video(req.VideoID)))
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	writeBody(w, r, "application/json; charset=UTF-8", out)
}

func (s *Server) serveWatch(w http.ResponseWriter, r *http.Request) {
	id := r.URL.Query().Get("v")
	if id == "" {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	if s.begin(&w, r, Request{Kind: KindWatch, Method: r.Method, VideoID: id, Cookie: hasCookie(r, SessionCookie)}) {
		return
	}
	v, ask := s.video(id), playerAsk{}
	if v != nil && v.Cookie != "" {
		ask.cookie = hasCookie(r, v.Cookie)
	}
	body, err := s.watchPage(id, v, ask)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	writeBody(w, r, "text/html; charset=utf-8", body)
}

func (s *Server) serveEmbed(w http.ResponseWriter, r *http.Request) {
	id := strings.TrimPrefix(r.URL.Path, "/embed/")
	if s.begin(&w, r, Request{Kind: KindEmbed, Method: r.Method, VideoID: id}) {
		return
	}
	// YouTube answers 200 for any ID here; the player script reports errors.
	writeBody(w, r, "text/html; charset=utf-8", s.embedPage(id))
}

func (s *Server) serveBaseJS(w http.ResponseWriter, r *http.Request) {
	if s.begin(&w, r, Request{Kind: KindBaseJS, Method: r.Method}) {
		return
	}
	if r.URL.Path != basePath {
		http.NotFound(w, r) // an older player version
		return
	}
	w.Header().Set("Cache-Control", "public, max-age=31536000")
	writeBody(w, r, "text/javascript; charset=utf-8", []byte(baseJS))
}

func writeBody(w http.ResponseWriter, r *http.Request, contentType string, body []byte) {
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	if r.Method == http.MethodHead {
		return
	}
	w.Write(body) //nolint:errcheck // the client went away
}

// mediaURL is where a format's bytes are, signed like googlevideo.com's: sig
// covers the video, itag and expiry, so edited or stale URLs get 403. There
// is no `v` parameter: kkdai would try to decode it as the n-parameter.
//
// c names the client the URL was handed to, as googlevideo.com's does; it
// is signed too, so that Refuse can refuse the media of some clients.
func (s *Server) mediaURL(v *Video, f *Format, expire int64, client string) string {
	// Built by hand to keep googlevideo.com's parameter order (url.Values
	// would sort it).
	params := [][2]string{
		{"expire", strconv.FormatInt(expire, 10)},
		{"ei", base64.RawURLEncoding.EncodeToString(randomBytes(12))},
		{"ip", "127.0.0.1"},
		{"id", v.ID},
		{"itag", strconv.Itoa(f.Itag)},
		{"source", "youtube"},
		{"requiressl", "yes"},
		{"mime", f.mediaType()},
		{"clen", strconv.FormatInt(f.Media.Size(), 10)},
		{"dur", fmt.Sprintf("%.3f", float64(f.durationMs(v))/1000)},
		{"lmt", strconv.FormatInt(v.PublishDate.UnixMicro(), 10)},
		{"c", client},
		{"sparams", "expire,ei,ip,id,itag,source,requiressl,mime,clen,dur,lmt,c"},
		{"sig", s.sign(v.ID, f.Itag, expire, client)},
	}
	var b strings.Builder
	b.WriteString("https://rr3---sn-fake.googlevideo.com/videoplayback?")
	for i, p := range params {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(p[0] + "=" + url.QueryEscape(p[1]))
	}
	return b.String()
}

func (s *Server) sign(id string, itag int, expire int64, client string) string {
	m := hmac.New(sha256.New, s.secret)
	fmt.Fprintf(m, "%s\x00%d\x00%d\x00%s", id, itag, expire, client)
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// serveMedia answers googlevideo.com's /videoplayback. Three ways to ask for
// bytes are honoured: kkdai's `range=A-B` query parameter (200 with exactly
// those bytes, as googlevideo.com does), a standard Range header (206 with
// Content-Range; 416 when unsatisfiable), and a plain GET or HEAD (200 with
// Content-Length).
func (s *Server) serveMedia(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		writeError(w, KindMedia, http.StatusMethodNotAllowed)
		return
	}
	q := r.URL.Query()
	id := q.Get("id")
	itag, _ := strconv.Atoi(q.Get("itag"))
	expire, _ := strconv.ParseInt(q.Get("expire"), 10, 64)
	rangeParam := q.Get("range")
	client := q.Get("c")
	rec := Request{Kind: KindMedia, Method: r.Method, VideoID: id, Itag: itag, Range: rangeParam, Client: client}
	if rec.Range == "" {
		rec.Range = r.Header.Get("Range")
	}
	if s.begin(&w, r, rec) {
		return
	}
	if !hmac.Equal([]byte(q.Get("sig")), []byte(s.sign(id, itag, expire, client))) || time.Now().Unix() > expire || s.refuses(client) {
		writeError(w, KindMedia, http.StatusForbidden)
		return
	}
	v := s.video(id)
	var f *Format
	if v != nil && (v.Playability == OK || v.Cookie != "") {
		for i := range v.Formats {
			if v.Formats[i].Itag == itag {
				f = &v.Formats[i]
			}
		}
	}
	if f == nil {
		writeError(w, KindMedia, http.StatusNotFound)
		return
	}
	size := f.Media.Size()
	w = &countingResponse{ResponseWriter: w, s: s, videoID: id}
	w.Header().Set("Content-Type", f.mediaType())
	w.Header().Set("Accept-Ranges", "bytes")
	w.Header().Set("Cache-Control", "private, max-age=21298")
	w.Header().Set("Last-Modified", v.PublishDate.UTC().Format(http.TimeFormat))

	if rangeParam != "" {
		start, end, ok := parseRangeParam(rangeParam, size)
		if !ok {
			w.Header().Set("Content-Range", fmt.Sprintf("bytes */%d", size))
			writeError(w, KindMedia, http.StatusRequestedRangeNotSatisfiable)
			return
		}
		w.Header().Set("Content-Length", strconv.FormatInt(end-start+1, 10))
		w.WriteHeader(http.StatusOK)
		if r.Method == http.MethodGet {
			copyMedia(throttled(r.Context(), w, s.rate(id)), f.Media, start, end-start+1)
		}
		return
	}
	// ServeContent implements Range (single and multiple), If-Range, HEAD and
	// 416 as RFC 9110 says; modtime drives Last-Modified and If-Range.
	http.ServeContent(throttledResponse{w, throttled(r.Context(), w, s.rate(id))}, r, "", v.PublishDate, io.NewSectionReader(f.Media, 0, size))
}

// parseRangeParam reads googlevideo.com's "A-B" (inclusive; B is clipped to
// the end, as the real server does).
func parseRangeParam(s string, size int64) (start, end int64, ok bool) {
	a, b, found := strings.Cut(s, "-")
	start, err1 := strconv.ParseInt(a, 10, 64)
	if !found || err1 != nil || start < 0 || start >= size {
		return 0, 0, false
	}
	if b == "" {
		return start, size - 1, true
	}
	end, err := strconv.ParseInt(b, 10, 64)
	if err != nil || end < start {
		return 0, 0, false
	}
	return start, min(end, size-1), true
}

// copyMedia writes n bytes of m from off in large blocks, so that a file
// opened per read (File) is opened rarely.
func copyMedia(w io.Writer, m Media, off, n int64) {
	buf := make([]byte, 256<<10)
	io.CopyBuffer(w, io.NewSectionReader(m, off, n), buf) //nolint:errcheck // the client went away
}

func (s *Server) serveThumbnail(w http.ResponseWriter, r *http.Request) {
	// /vi/<ID>/<name>, or /vi_webp/<ID>/<name>.webp (served as the JPEG's
	// bytes; no client of ytx asks for webp).
	parts := strings.Split(strings.TrimPrefix(r.URL.Path, "/"), "/")
	if len(parts) != 3 {
		http.NotFound(w, r)
		return
	}
	id, name := parts[1], strings.TrimSuffix(parts[2], ".webp")
	if parts[0] == "vi_webp" {
		name += ".jpg"
	}
	if s.begin(&w, r, Request{Kind: KindThumbnail, Method: r.Method, VideoID: id}) {
		return
	}
	data, ok := s.thumbnail(id, name)
	if !ok {
		// i.ytimg.com answers a grey placeholder with status 404.
		w.Header().Set("Content-Type", "image/jpeg")
		w.WriteHeader(http.StatusNotFound)
		if r.Method != http.MethodHead {
			w.Write(placeholder) //nolint:errcheck
		}
		return
	}
	w.Header().Set("Cache-Control", "public, max-age=7200")
	writeBody(w, r, "image/jpeg", data)
}

// thumbnail returns the image, generating (once) a JPEG of the listed size
// for thumbnails without Data.
func (s *Server) thumbnail(id, name string) ([]byte, bool) {
	v := s.video(id)
	if v == nil || v.Playability == Unavailable {
		return nil, false
	}
	for _, t := range v.Thumbnails {
		if t.Name != name {
			continue
		}
		if t.Data != nil {
			return t.Data, true
		}
		key := id + "/" + name
		s.mu.Lock()
		data := s.thumbs[key]
		s.mu.Unlock()
		if data == nil {
			data = makeJPEG(t.Width, t.Height, Seed(key))
			s.mu.Lock()
			s.thumbs[key] = data
			s.mu.Unlock()
		}
		return data, true
	}
	return nil, false
}

// makeJPEG draws a two-tone image whose colours come from seed, so different
// videos get visibly different thumbnails.
func makeJPEG(w, h int, seed uint64) []byte {
	if w <= 0 || h <= 0 {
		w, h = 120, 90
	}
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	c1 := color.RGBA{uint8(seed), uint8(seed >> 8), uint8(seed >> 16), 255}
	c2 := color.RGBA{uint8(seed >> 24), uint8(seed >> 32), uint8(seed >> 40), 255}
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			c := c1
			if (x*4/w+y*3/h)%2 == 1 {
				c = c2
			}
			img.SetRGBA(x, y, c)
		}
	}
	var b bytes.Buffer
	jpeg.Encode(&b, img, &jpeg.Options{Quality: 80}) //nolint:errcheck // cannot fail on a bytes.Buffer
	return b.Bytes()
}

var placeholder = makeJPEG(120, 90, 0x808080808080)

// throttled paces writes to w at rate bytes per second (0: no pacing).
func throttled(ctx context.Context, w io.Writer, rate int64) io.Writer {
	if rate <= 0 {
		return w
	}
	return &pacer{ctx: ctx, w: w, rate: rate, start: time.Now()}
}

type pacer struct {
	ctx   context.Context
	w     io.Writer
	rate  int64
	start time.Time
	sent  int64
}

// Write sends p in pieces of a tenth of a second's worth, sleeping so that
// the total stays at rate.
func (p *pacer) Write(b []byte) (int, error) {
	n := 0
	for n < len(b) {
		piece := b[n:min(len(b), n+int(max(p.rate/10, 1)))]
		m, err := p.w.Write(piece)
		n += m
		p.sent += int64(m)
		if err != nil {
			return n, err
		}
		if f, ok := p.w.(http.Flusher); ok {
			f.Flush()
		}
		due := p.start.Add(time.Duration(p.sent * int64(time.Second) / p.rate))
		select {
		case <-time.After(time.Until(due)):
		case <-p.ctx.Done():
			return n, p.ctx.Err()
		}
	}
	return n, nil
}

// countingResponse counts the media body bytes written for a video
// (MediaBytesFor).
type countingResponse struct {
	http.ResponseWriter
	s       *Server
	videoID string
}

func (c *countingResponse) Write(b []byte) (int, error) {
	n, err := c.ResponseWriter.Write(b)
	c.s.mu.Lock()
	if c.s.mediaBytes == nil {
		c.s.mediaBytes = map[string]int64{}
	}
	c.s.mediaBytes[c.videoID] += int64(n)
	c.s.mu.Unlock()
	return n, err
}

// Flush keeps the pacer's flushes working through the counter.
func (c *countingResponse) Flush() {
	if f, ok := c.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// throttledResponse is a ResponseWriter whose body goes through a pacer.
type throttledResponse struct {
	http.ResponseWriter
	body io.Writer
}

func (t throttledResponse) Write(b []byte) (int, error) { return t.body.Write(b) }
