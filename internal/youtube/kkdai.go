package youtube

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"

	kkdai "github.com/kkdai/youtube/v2"

	"ytx.dev/ytx/internal/resolver"
)

// KKDAIClients are the InnerTube clients that kkdai/youtube exports, by the
// names --kkdai-client takes.
var KKDAIClients = map[string]*kkdai.ClientInfo{
	"android_vr":   &kkdai.AndroidVRClient,
	"android":      &kkdai.AndroidClient,
	"ios":          &kkdai.IOSClient,
	"web":          &kkdai.WebClient,
	"web_embedded": &kkdai.EmbeddedClient,
}

// KKDAIClientNames lists KKDAIClients' names, sorted.
func KKDAIClientNames() []string {
	names := make([]string, 0, len(KKDAIClients))
	for n := range KKDAIClients {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

var setClientOnce sync.Once

// UseKKDAIClient makes kkdai ask YouTube as the named client ("" keeps the
// library's default, ANDROID_VR). The library keeps this in a package
// variable that every kkdai.Client reads, so it is set once, at start,
// before any request; a second call is an error.
func UseKKDAIClient(name string) error {
	if name == "" {
		return nil
	}
	c, ok := KKDAIClients[name]
	if !ok {
		return fmt.Errorf("--kkdai-client %q: must be one of %s", name, strings.Join(KKDAIClientNames(), ", "))
	}
	done := false
	setClientOnce.Do(func() {
		kkdai.DefaultClient = *c
		done = true
	})
	if !done {
		return errors.New("--kkdai-client: the kkdai client can be chosen once per process")
	}
	return nil
}

// KKDAI is the in-process resolver: github.com/kkdai/youtube/v2.
type KKDAI struct{}

var _ resolver.Resolver = KKDAI{}

// Name is resolver.KKDAI.
func (KKDAI) Name() string { return resolver.KKDAI }

// Version is the library's module version and the client it asks as:
// "v2.10.6 (ANDROID_VR 1.65.10)".
func (KKDAI) Version() string {
	v := "(devel)"
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if d.Path == "github.com/kkdai/youtube/v2" {
				v = d.Version
			}
		}
	}
	return fmt.Sprintf("%s (%s %s)", v, kkdai.DefaultClient.Name, kkdai.DefaultClient.Version)
}

// kkdaiFormat is what MediaURL needs of a kkdai format.
type kkdaiFormat struct {
	video  *kkdai.Video
	format *kkdai.Format
}

// Resolve reads the video with a kkdai client of its own (a kkdai.Client
// must not be shared: see Client.kkdaiClient), through req.HTTP.
func (KKDAI) Resolve(ctx context.Context, req resolver.Request) (*resolver.Video, error) {
	v, err := (&Client{HTTPClient: req.HTTP}).Video(ctx, req.VideoID)
	if err != nil {
		return nil, err
	}
	return FromKKDAI(v), nil
}

// MediaURL finishes the URL of a kkdai format: kkdai may fetch the player
// script to do so.
func (KKDAI) MediaURL(ctx context.Context, req resolver.Request, v *resolver.Video, f *resolver.Format) (string, http.Header, error) {
	src, ok := f.Source.(kkdaiFormat)
	if !ok {
		return "", nil, fmt.Errorf("format %s was not read by kkdai", f.ID)
	}
	u, err := (&Client{HTTPClient: req.HTTP}).StreamURL(ctx, src.video, src.format)
	if err != nil {
		return "", nil, err
	}
	// kkdai's own downloads send these; googlevideo.com checks neither,
	// but a client that looks like the one that asked is less remarkable.
	h := http.Header{}
	h.Set("Origin", "https://youtube.com")
	h.Set("Sec-Fetch-Mode", "navigate")
	if ua := kkdai.DefaultClient.UserAgent; ua != "" {
		h.Set("User-Agent", ua)
	}
	return u, h, nil
}

// FromKKDAI converts kkdai's video into the resolver's.
func FromKKDAI(v *kkdai.Video) *resolver.Video {
	out := &resolver.Video{
		ID:              v.ID,
		Title:           v.Title,
		Description:     v.Description,
		Author:          v.Author,
		ChannelID:       v.ChannelID,
		ChannelHandle:   v.ChannelHandle,
		Duration:        v.Duration,
		Views:           int64(v.Views),
		PublishDate:     v.PublishDate,
		Resolver:        resolver.KKDAI,
		ResolverVersion: KKDAI{}.Version(),
	}
	for _, t := range v.Thumbnails {
		out.Thumbnails = append(out.Thumbnails, resolver.Thumbnail{URL: t.URL, Width: int(t.Width), Height: int(t.Height)})
	}
	for i := range v.Formats {
		f := &v.Formats[i]
		rate, _ := strconv.Atoi(f.AudioSampleRate)
		rf := resolver.Format{
			ID:              strconv.Itoa(f.ItagNo),
			Itag:            f.ItagNo,
			URL:             f.URL,
			MimeType:        f.MimeType,
			Width:           f.Width,
			Height:          f.Height,
			FPS:             f.FPS,
			Bitrate:         f.Bitrate,
			AudioSampleRate: rate,
			AudioChannels:   f.AudioChannels,
			ContentLength:   f.ContentLength,
			QualityLabel:    f.QualityLabel,
			AudioQuality:    f.AudioQuality,
			AudioDefault:    f.AudioTrack == nil || f.AudioTrack.AudioIsDefault,
			Source:          kkdaiFormat{video: v, format: f},
		}
		if f.AudioTrack != nil {
			rf.Language, _, _ = strings.Cut(f.AudioTrack.ID, ".")
		}
		out.Formats = append(out.Formats, rf)
	}
	for _, c := range v.CaptionTracks {
		out.Captions = append(out.Captions, resolver.Caption{
			Language: c.LanguageCode, Name: c.Name.SimpleText, URL: c.BaseURL, Ext: "srv3", Automatic: c.Kind == "asr",
		})
	}
	return out
}

// playerWatch reads the playability status of the player API's answers as
// they pass, because kkdai turns LOGIN_REQUIRED into one error value
// whatever YouTube said, and the words matter: a bot check is not an age
// restriction. The first LOGIN_REQUIRED answer of a job wins (kkdai then
// asks again as the embedded player, whose answer says less).
type playerWatch struct {
	next http.RoundTripper
	mu   sync.Mutex
	// reason is the first LOGIN_REQUIRED answer's reason.
	reason string
	seen   bool
}

func (p *playerWatch) RoundTrip(req *http.Request) (*http.Response, error) {
	next := p.next
	if next == nil {
		next = http.DefaultTransport
	}
	resp, err := next.RoundTrip(req)
	if err != nil || req.URL.Path != "/youtubei/v1/player" || resp.StatusCode != http.StatusOK {
		return resp, err
	}
	// The host guard has bounded the answer in size already.
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	var pr struct {
		PlayabilityStatus struct {
			Status string `json:"status"`
			Reason string `json:"reason"`
		} `json:"playabilityStatus"`
	}
	if json.Unmarshal(body, &pr) == nil && pr.PlayabilityStatus.Status == "LOGIN_REQUIRED" {
		p.mu.Lock()
		if !p.seen {
			p.reason, p.seen = pr.PlayabilityStatus.Reason, true
		}
		p.mu.Unlock()
	}
	return resp, nil
}

// loginReason is the first LOGIN_REQUIRED reason seen, if any.
func (p *playerWatch) loginReason() (string, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.reason, p.seen
}
