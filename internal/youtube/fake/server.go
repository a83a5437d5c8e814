// Package fake is a stand-in for YouTube's HTTP surface, good enough for the
// unmodified github.com/kkdai/youtube/v2 client (v2.10.6), yt-dlp and curl:
// the home page's ytcfg, the innertube player API, the watch page, the embed
// page and player script, ranged media on *.googlevideo.com and thumbnails on
// i.ytimg.com, with YouTube's JSON shapes and field names.
//
// A Server serves TLS on loopback with a certificate for YouTube's hosts,
// signed by a CA it makes at start. Clients in the same process reach it by
// using DialContext and CertPool in their transport; other processes through
// its CONNECT proxy (HTTPS_PROXY=ProxyURL, SSL_CERT_FILE=WriteCAFile's file).
// Tests steer it with Hold, Inject/FailPlayer/FailMedia and read Requests.
package fake

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"
)

// Kind names an endpoint, for counters, the request log and faults.
type Kind string

// The endpoints kkdai and downloaders reach.
const (
	KindHome      Kind = "home"      // GET https://www.youtube.com/
	KindPlayer    Kind = "player"    // POST /youtubei/v1/player
	KindNext      Kind = "next"      // POST /youtubei/v1/next
	KindWatch     Kind = "watch"     // GET /watch?v=ID
	KindEmbed     Kind = "embed"     // GET /embed/ID
	KindBaseJS    Kind = "basejs"    // GET /s/player/<hash>/.../base.js
	KindMedia     Kind = "media"     // GET/HEAD https://*.googlevideo.com/videoplayback
	KindThumbnail Kind = "thumbnail" // GET https://i.ytimg.com/vi/ID/name.jpg
)

// Request is one entry of the request log.
type Request struct {
	Kind    Kind
	Method  string
	VideoID string
	Itag    int // media
	// Client is, for the player, context.client.clientName ("ANDROID_VR",
	// "VISIONOS"); for media, the client the URL was handed to.
	Client string
	Range  string // media: the `range` query parameter or the Range header
	// Cookie: the request carried SessionCookie.
	Cookie bool
	// List is, for the listing endpoints, the playlist's or channel's ID
	// or path ("@handle") asked for.
	List string
}

// maxLog bounds the request log of a long-running demo server.
const maxLog = 10000

// Server is a fake YouTube. Its methods are safe for concurrent use.
type Server struct {
	pki *pki
	// secret signs media URLs, as googlevideo.com's sig does: a URL from
	// another Server, or one whose parameters were edited, gets 403.
	secret []byte
	// visitorData is what YouTube hands out in ytcfg and echoes in
	// responseContext; the home page carries it URL-escaped.
	visitorData, visitorDataEscaped string
	nonce                           string

	mu       sync.Mutex
	videos   map[string]*Video
	counts   map[Kind]int64
	countsBy map[Kind]map[string]int64
	log      []Request
	faults   []*Fault
	holds    map[string]*gate
	rates    map[string]int64  // media bytes per second by video ID
	thumbs   map[string][]byte // generated JPEGs by "<ID>/<name>"
	refused  map[string]bool   // clients whose media answer 403
	bots     map[string]int    // bot checks left by video ID
	lists    listings          // playlists and channels (playlists.go)

	// mediaBytes counts the media body bytes written, by video ID (nil
	// until the first).
	mediaBytes map[string]int64

	httpSrv   *http.Server
	tlsLn     net.Listener
	proxyLn   net.Listener
	mainProxy *Proxy
	tunnels   map[net.Conn]struct{}
	closed    chan struct{}
	closeOne  sync.Once
	wg        sync.WaitGroup
}

// gate holds player requests for one video until every Hold on it is
// released.
type gate struct {
	open chan struct{}
	n    int
}

// New makes a Server with the given catalogue (pass DefaultVideos() for the
// standard one; none gives an empty catalogue, where every ID is unknown).
// It does not listen until Start; Handler works at once.
func New(videos ...Video) (*Server, error) {
	p, err := newPKI()
	if err != nil {
		return nil, fmt.Errorf("fake youtube: make certificates: %w", err)
	}
	s := &Server{
		pki:      p,
		secret:   randomBytes(32),
		nonce:    base64.RawURLEncoding.EncodeToString(randomBytes(16)),
		videos:   map[string]*Video{},
		counts:   map[Kind]int64{},
		countsBy: map[Kind]map[string]int64{},
		holds:    map[string]*gate{},
		rates:    map[string]int64{},
		thumbs:   map[string][]byte{},
		refused:  map[string]bool{},
		bots:     map[string]int{},
		tunnels:  map[net.Conn]struct{}{},
		closed:   make(chan struct{}),
	}
	s.visitorData = newVisitorData()
	s.visitorDataEscaped = url.QueryEscape(s.visitorData)
	for _, v := range videos {
		if err := s.AddVideo(v); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// newVisitorData makes a value shaped like YouTube's: URL-safe base64 of a
// small protobuf holding an 11-character ID and a timestamp.
func newVisitorData() string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	id := randomBytes(11)
	for i := range id {
		id[i] = alphabet[int(id[i])%len(alphabet)]
	}
	b := append([]byte{0x0a, 11}, id...)
	b = append(b, 0x28)
	for ts := uint64(time.Now().Unix()); ; ts >>= 7 {
		if ts < 0x80 {
			b = append(b, byte(ts))
			break
		}
		b = append(b, byte(ts)|0x80)
	}
	return base64.URLEncoding.EncodeToString(b)
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return b
}

// AddVideo adds v to the catalogue, or replaces the video with its ID.
func (s *Server) AddVideo(v Video) error {
	nv, err := normalize(v)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.videos[nv.ID] = nv
	s.bots[nv.ID] = nv.BotChecks
	for k := range s.thumbs {
		if len(k) > len(nv.ID) && k[:len(nv.ID)+1] == nv.ID+"/" {
			delete(s.thumbs, k)
		}
	}
	return nil
}

func (s *Server) video(id string) *Video {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.videos[id]
}

// Start listens on two loopback ports: the TLS server and the CONNECT proxy.
func (s *Server) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tlsLn != nil {
		return errors.New("fake youtube: already started")
	}
	tlsLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	proxyLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tlsLn.Close()
		return err
	}
	s.tlsLn, s.proxyLn = tlsLn, proxyLn
	s.httpSrv = &http.Server{
		Handler: s.Handler(),
		TLSConfig: &tls.Config{
			Certificates: []tls.Certificate{s.pki.leaf},
			NextProtos:   []string{"h2", "http/1.1"},
			MinVersion:   tls.VersionTLS12,
		},
		ReadHeaderTimeout: 10 * time.Second,
		// Handshake failures of clients that do not trust the CA are
		// expected in tests and are not the fake's problem.
		ErrorLog: log.New(io.Discard, "", 0),
	}
	s.wg.Add(2)
	go func() {
		defer s.wg.Done()
		s.httpSrv.ServeTLS(tlsLn, "", "") //nolint:errcheck // ends with ErrServerClosed
	}()
	s.mainProxy = &Proxy{URL: &url.URL{Scheme: "http", Host: proxyLn.Addr().String()}}
	go func(p *Proxy) {
		defer s.wg.Done()
		s.serveProxy(proxyLn, p)
	}(s.mainProxy)
	return nil
}

// Close stops listening, ends tunnels and held requests, and waits for the
// serving goroutines.
func (s *Server) Close() error {
	s.closeOne.Do(func() { close(s.closed) })
	s.mu.Lock()
	srv, proxyLn := s.httpSrv, s.proxyLn
	for c := range s.tunnels {
		c.Close()
	}
	s.mu.Unlock()
	if srv == nil {
		return nil
	}
	proxyLn.Close()
	err := srv.Close()
	s.wg.Wait()
	return err
}

// Addr is the TLS listener's address ("127.0.0.1:port"), empty before Start.
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tlsLn == nil {
		return ""
	}
	return s.tlsLn.Addr().String()
}

// DialContext connects to the fake's TLS listener whatever addr says. Use it
// as an http.Transport's DialContext, together with CertPool as RootCAs, so
// that requests to https://www.youtube.com and the other hosts land here while
// the client verifies the certificate for the real name.
func (s *Server) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	target := s.Addr()
	if target == "" {
		return nil, errors.New("fake youtube: not started")
	}
	var d net.Dialer
	return d.DialContext(ctx, "tcp", target)
}

// Requests returns how many requests of a kind arrived since start. A request
// counts when it arrives, before a Hold or fault applies, so a test can wait
// for a held request to be in flight.
func (s *Server) Requests(kind Kind) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.counts[kind]
}

// RequestsFor is Requests for one video.
func (s *Server) RequestsFor(kind Kind, videoID string) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.countsBy[kind][videoID]
}

// RequestLog returns the latest requests (up to 10000), oldest first.
func (s *Server) RequestLog() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.log...)
}

// MediaBytesFor returns how many bytes of media bodies of videoID the fake
// has written so far, every request and stream counted as the bytes leave:
// a download in progress makes it grow, one that stopped does not.
func (s *Server) MediaBytesFor(videoID string) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mediaBytes[videoID]
}

// ResetCounters zeroes the counters and empties the request log.
func (s *Server) ResetCounters() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.counts = map[Kind]int64{}
	s.countsBy = map[Kind]map[string]int64{}
	s.mediaBytes = nil
	s.log = nil
}

func (s *Server) record(r Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.counts[r.Kind]++
	if s.countsBy[r.Kind] == nil {
		s.countsBy[r.Kind] = map[string]int64{}
	}
	s.countsBy[r.Kind][r.VideoID]++
	if len(s.log) >= maxLog {
		s.log = append(s.log[:0], s.log[len(s.log)-maxLog/2:]...)
	}
	s.log = append(s.log, r)
}

// Throttle serves the media of videoID at about bytesPerSecond per request,
// like a slow network, so that a download takes long enough to watch its
// progress. Zero or less removes the limit.
func (s *Server) Throttle(videoID string, bytesPerSecond int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if bytesPerSecond <= 0 {
		delete(s.rates, videoID)
		return
	}
	s.rates[videoID] = bytesPerSecond
}

// rate is the media rate of videoID, 0 for full speed.
func (s *Server) rate(videoID string) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rates[videoID]
}

// Hold makes player requests for videoID block until release is called (or
// the request's context ends, or the server closes), to make one job slow
// while others run. Holds nest: requests pass once every Hold on the video is
// released. release may be called more than once.
func (s *Server) Hold(videoID string) (release func()) {
	s.mu.Lock()
	g := s.holds[videoID]
	if g == nil {
		g = &gate{open: make(chan struct{})}
		s.holds[videoID] = g
	}
	g.n++
	s.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			s.mu.Lock()
			defer s.mu.Unlock()
			if g.n--; g.n == 0 {
				close(g.open)
				delete(s.holds, videoID)
			}
		})
	}
}

// wait blocks while videoID is held; it reports false if the request ended
// first.
func (s *Server) wait(ctx context.Context, videoID string) bool {
	s.mu.Lock()
	g := s.holds[videoID]
	s.mu.Unlock()
	if g == nil {
		return true
	}
	select {
	case <-g.open:
		return true
	case <-ctx.Done():
		return false
	case <-s.closed:
		return false
	}
}

// KKDAIClients are the InnerTube clients kkdai/youtube v2.10.6 can send
// (its exported ClientInfos, and the WEB_EMBEDDED_PLAYER it falls back to).
var KKDAIClients = []string{"ANDROID_VR", "ANDROID", "IOS", "WEB", "WEB_EMBEDDED_PLAYER"}

// Refuse makes media URLs handed to the named clients answer 403, as
// googlevideo.com does to clients YouTube stopped serving.
func (s *Server) Refuse(clients ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range clients {
		s.refused[c] = true
	}
}

// AsSinceAugust2026 makes the fake answer as YouTube has since 2026-08-17:
// the media of every client kkdai v2.10.6 can send is refused (ANDROID_VR
// is 403'd outright, the web clients need PO tokens kkdai does not have),
// while yt-dlp's default clients (VISIONOS, TVHTML5) are served.
func (s *Server) AsSinceAugust2026() { s.Refuse(KKDAIClients...) }

func (s *Server) refuses(client string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.refused[client]
}

// BotCheck makes the next n player requests for videoID answer "Sign in to
// confirm you’re not a bot".
func (s *Server) BotCheck(videoID string, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.bots[videoID] = n
}

// takeBotCheck uses one of videoID's bot checks, if any are left.
func (s *Server) takeBotCheck(videoID string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.bots[videoID] > 0 {
		s.bots[videoID]--
		return true
	}
	return false
}

// Forever as Fault.Times makes a fault permanent.
const Forever = -1

// Fault makes matching requests fail.
type Fault struct {
	Kind    Kind
	VideoID string // "" matches every video
	Itag    int    // media only; 0 matches every format
	// Status is the HTTP status to answer (503, 403, 429, ...). Zero with
	// CutAfter set serves the normal answer but drops the connection after
	// CutAfter bytes of body, like a network failure mid-download.
	Status   int
	CutAfter int64
	// RedirectTo, when set, answers 302 Found with this Location, e.g. a
	// host that is not YouTube's.
	RedirectTo string
	// Rate, when positive, serves the normal answer at about Rate bytes per
	// second; 1 is a trickle that keeps a connection busy for as long as
	// the client waits.
	Rate int64
	// Times is how many matching requests fail; Forever for all of them.
	// A Fault with none of Status, CutAfter, RedirectTo and Rate lets its
	// requests through untouched: added first, it aims the next fault at a
	// later request, say the third chunk of a download.
	Times int
}

// Inject adds a fault. Faults apply in the order added; each request takes at
// most one.
func (s *Server) Inject(f Fault) {
	if f.Times == 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, &f)
}

// FailPlayer makes the next times player requests for videoID ("" for any)
// answer status (Forever: all of them).
func (s *Server) FailPlayer(videoID string, status, times int) {
	s.Inject(Fault{Kind: KindPlayer, VideoID: videoID, Status: status, Times: times})
}

// FailMedia makes the next times media requests for videoID and itag (0 for
// any format) answer status (Forever: all of them). Each of kkdai's chunks is
// one request.
func (s *Server) FailMedia(videoID string, itag, status, times int) {
	s.Inject(Fault{Kind: KindMedia, VideoID: videoID, Itag: itag, Status: status, Times: times})
}

// ClearFaults removes every fault.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = nil
}

// takeFault returns the first fault matching the request and uses one of its
// times.
func (s *Server) takeFault(kind Kind, videoID string, itag int) *Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, f := range s.faults {
		if f.Kind != kind || (f.VideoID != "" && f.VideoID != videoID) || (f.Itag != 0 && f.Itag != itag) {
			continue
		}
		taken := *f
		if f.Times > 0 {
			if f.Times--; f.Times == 0 {
				s.faults = append(s.faults[:i:i], s.faults[i+1:]...)
			}
		}
		return &taken
	}
	return nil
}
