package fake

import (
	"fmt"
	"regexp"
	"strings"
	"time"
)

// Playability is what YouTube's player answers for a video.
type Playability int

const (
	// OK: status OK with streamingData.
	OK Playability = iota
	// Private: status LOGIN_REQUIRED, reason "This video is private", to
	// every client. kkdai returns ErrVideoPrivate.
	Private
	// AgeRestricted: status LOGIN_REQUIRED, reason "Sign in to confirm your
	// age". kkdai then retries as WEB_EMBEDDED_PLAYER, which gets the same
	// answer (ErrLoginRequired), or UNPLAYABLE with playableInEmbed false
	// when the Video has NoEmbed (ErrNotPlayableInEmbed); either comes back
	// wrapped in "can't bypass age restriction".
	AgeRestricted
	// Unavailable: status ERROR, reason "This video is unavailable", no
	// playableInEmbed, as for a removed or never-existing video. kkdai then
	// reads the watch page and returns *ErrPlayabiltyStatus.
	Unavailable
)

func (p Playability) String() string {
	switch p {
	case OK:
		return "OK"
	case Private:
		return "Private"
	case AgeRestricted:
		return "AgeRestricted"
	case Unavailable:
		return "Unavailable"
	}
	return fmt.Sprintf("Playability(%d)", int(p))
}

// Video is one video in the fake's catalogue. Only ID is required; the rest
// has YouTube-like defaults.
type Video struct {
	ID            string // 11 characters of [A-Za-z0-9_-]
	Title         string
	Author        string // channel name
	ChannelID     string // UC...
	ChannelHandle string // "@RickAstleyYT"; only the watch page's microformat carries it
	Description   string
	Keywords      []string
	Category      string // microformat category, "Music"
	LengthSeconds int
	ViewCount     int64
	PublishDate   time.Time // served in Pacific time, as YouTube does; kkdai converts to UTC
	Thumbnails    []Thumbnail
	Playability   Playability
	// Reason replaces YouTube's reason text for a video that is not OK, e.g.
	// "This video has been removed by the uploader".
	Reason string
	// NoEmbed: the owner disabled embedding, so the embedded player answers
	// UNPLAYABLE.
	NoEmbed bool
	// BotChecks is how many player requests for the video are answered
	// "Sign in to confirm you’re not a bot" (LOGIN_REQUIRED) before it
	// plays, as YouTube does to an address it distrusts for a while.
	BotChecks int
	// Cookie, when set ("name=value"), is a cookie the player wants: a
	// request without it is answered as for an age-restricted video, one
	// with it as for a normal one (a signed-in adult's session).
	Cookie string
	// LoginReason, when set, is the LOGIN_REQUIRED reason the player
	// answers every client: words YouTube may use that ytx does not know.
	LoginReason string
	// Broadcast is the live state listings show (playlists, channel tabs);
	// an Upcoming video starts at PublishDate.
	Broadcast Broadcast
	Formats   []Format
}

// Format is one stream of a video, as listed in streamingData.
type Format struct {
	Itag int
	// MimeType with codecs, exactly as YouTube writes it:
	// `audio/mp4; codecs="mp4a.40.2"`, `audio/webm; codecs="opus"`,
	// `video/mp4; codecs="avc1.4d401e"`, `video/mp4; codecs="avc1.42001E, mp4a.40.2"`.
	MimeType string
	// Progressive formats (audio and video in one file) are listed under
	// streamingData.formats, the others under adaptiveFormats.
	Progressive     bool
	Bitrate         int
	AverageBitrate  int // 0: 95% of Bitrate
	Width, Height   int
	FPS             int
	Quality         string // "": derived from Height ("medium", "hd720"), "tiny" for audio
	QualityLabel    string // "720p"
	AudioQuality    string // "AUDIO_QUALITY_MEDIUM"
	AudioSampleRate int    // 44100
	AudioChannels   int
	// ApproxDurationMs: 0 means LengthSeconds*1000.
	ApproxDurationMs int64
	// ContentLength: 0 means Media.Size(); negative omits the field, as
	// YouTube sometimes does, which makes kkdai download in one request.
	ContentLength int64
	// WrongContentLength, when positive, is what the player answer claims
	// instead of the media's true size, as a broken or hostile answer
	// might: a downloader must notice the difference and not trust it.
	WrongContentLength int64
	// InitRange and IndexRange are the byte ranges of an adaptive stream's
	// init segment and index; listed only when set (End > 0).
	InitRange, IndexRange [2]int64
	// Media is the body. Nil means 64 KiB of Synthetic content seeded by
	// "<ID>/<itag>".
	Media Media
	// URL, when set, is what the player lists as this format's url instead
	// of the fake's own signed googlevideo.com URL: a forged answer that
	// sends clients elsewhere (an internal address, say).
	URL string
}

// Thumbnail is one image under https://i.ytimg.com/vi/<ID>/<Name>.
type Thumbnail struct {
	Name          string // "hqdefault.jpg"
	Width, Height int
	// Data is the image; nil means a generated JPEG of Width x Height.
	Data []byte
	// URL, when set, is what the player lists for this thumbnail instead of
	// https://i.ytimg.com/vi/<ID>/<Name>: a forged answer.
	URL string
}

// IDs of the videos in DefaultVideos.
const (
	// RickrollID is a normal video with progressive and adaptive formats.
	RickrollID = "dQw4w9WgXcQ"
	// ZooID is a second, short, normal video.
	ZooID = "jNQXAC9IVRw"
	// UnavailableID answers "This video is unavailable".
	UnavailableID = "uNaVa1lAbLe"
	// PrivateID answers "This video is private".
	PrivateID = "pR1vAtEv1d0"
	// AgeRestrictedID needs a signed-in adult; the embedded player answers
	// LOGIN_REQUIRED too.
	AgeRestrictedID = "aG3rEstR1ct"
	// AgeRestrictedNoEmbedID is age-restricted with embedding disabled: the
	// embedded player answers UNPLAYABLE.
	AgeRestrictedNoEmbedID = "aG3n0eMb3d0"
	// BotCheckID is a normal video whose first player requests a test can
	// have answered with a bot check (Server.BotCheck).
	BotCheckID = "b0tCh3ckV1d"
	// AdultID is age-restricted unless the request carries SessionCookie.
	AdultID = "c00k1eAdu1t"
	// StrangeLoginID answers LOGIN_REQUIRED in words ytx does not know.
	StrangeLoginID = "str4ng3L0g1"
)

// SessionCookie is the cookie of a signed-in adult that AdultID wants, in
// the form of a Cookie header's pair.
const (
	SessionCookieName  = "__Secure-3PSID"
	SessionCookieValue = "ytx-fake-adult-session"
	SessionCookie      = SessionCookieName + "=" + SessionCookieValue
)

// BotCheckReason is YouTube's words for a bot check (with its curly
// apostrophe).
const BotCheckReason = "Sign in to confirm you’re not a bot"

// DefaultVideos returns a small catalogue: two normal videos, one
// unavailable, one private and two age-restricted ones. Media bodies are
// Synthetic and a few hundred KB, so the catalogue costs no memory. Each call
// returns fresh values that the caller may change.
func DefaultVideos() []Video {
	rick := func(name string, size int64) Media { return Synthetic(Seed(RickrollID+"/"+name), size) }
	zoo := func(name string, size int64) Media { return Synthetic(Seed(ZooID+"/"+name), size) }
	return []Video{
		{
			ID:            RickrollID,
			Title:         "Rick Astley - Never Gonna Give You Up (Official Music Video)",
			Author:        "Rick Astley",
			ChannelID:     "UCuAXFkgsw1L7xaCfnd5JJOw",
			ChannelHandle: "@RickAstleyYT",
			Description:   rickDescription,
			Keywords:      []string{"rick astley", "Never Gonna Give You Up", "nggyu", "rick roll", "rickroll", "80s music", "Whenever You Need Somebody", "official music video"},
			Category:      "Music",
			LengthSeconds: 213,
			ViewCount:     1712345678,
			PublishDate:   time.Date(2009, 10, 25, 6, 57, 33, 0, time.UTC),
			Thumbnails:    standardThumbnails(true),
			Formats: []Format{
				{Itag: 18, MimeType: `video/mp4; codecs="avc1.42001E, mp4a.40.2"`, Progressive: true, Bitrate: 503665, Width: 640, Height: 360, FPS: 25, QualityLabel: "360p", AudioQuality: "AUDIO_QUALITY_LOW", AudioSampleRate: 44100, AudioChannels: 2, Media: rick("18", 420_000)},
				{Itag: 137, MimeType: `video/mp4; codecs="avc1.640028"`, Bitrate: 4382569, Width: 1920, Height: 1080, FPS: 25, QualityLabel: "1080p", Media: rick("137", 610_000)},
				{Itag: 136, MimeType: `video/mp4; codecs="avc1.4d401f"`, Bitrate: 1513016, Width: 1280, Height: 720, FPS: 25, QualityLabel: "720p", Media: rick("136", 380_000)},
				{Itag: 247, MimeType: `video/webm; codecs="vp9"`, Bitrate: 1505280, Width: 1280, Height: 720, FPS: 25, QualityLabel: "720p", Media: rick("247", 360_000)},
				{Itag: 134, MimeType: `video/mp4; codecs="avc1.4d401e"`, Bitrate: 352187, Width: 640, Height: 360, FPS: 25, QualityLabel: "360p", Media: rick("134", 210_000)},
				{Itag: 160, MimeType: `video/mp4; codecs="avc1.4d400c"`, Bitrate: 79519, Width: 256, Height: 144, FPS: 25, QualityLabel: "144p", Media: rick("160", 60_000)},
				{Itag: 140, MimeType: `audio/mp4; codecs="mp4a.40.2"`, Bitrate: 130685, AudioQuality: "AUDIO_QUALITY_MEDIUM", AudioSampleRate: 44100, AudioChannels: 2, ApproxDurationMs: 212091, Media: rick("140", 300_000)},
				{Itag: 251, MimeType: `audio/webm; codecs="opus"`, Bitrate: 141816, AudioQuality: "AUDIO_QUALITY_MEDIUM", AudioSampleRate: 48000, AudioChannels: 2, ApproxDurationMs: 212061, Media: rick("251", 290_000)},
				{Itag: 249, MimeType: `audio/webm; codecs="opus"`, Bitrate: 55404, AudioQuality: "AUDIO_QUALITY_LOW", AudioSampleRate: 48000, AudioChannels: 2, ApproxDurationMs: 212061, Media: rick("249", 110_000)},
			},
		},
		{
			ID:            ZooID,
			Title:         "Me at the zoo",
			Author:        "jawed",
			ChannelID:     "UC4QobU6STFB0P71PMvOGN5A",
			ChannelHandle: "@jawed",
			Description:   "The first video on YouTube. While you wait for Part 2, listen to this great song: https://www.youtube.com/watch?v=zj82_v2R6ts",
			Keywords:      []string{"me at the zoo", "jawed karim", "first youtube video"},
			Category:      "Film & Animation",
			LengthSeconds: 19,
			ViewCount:     356789012,
			PublishDate:   time.Date(2005, 4, 24, 3, 31, 52, 0, time.UTC),
			Thumbnails:    standardThumbnails(false),
			Formats: []Format{
				{Itag: 18, MimeType: `video/mp4; codecs="avc1.42001E, mp4a.40.2"`, Progressive: true, Bitrate: 421304, Width: 320, Height: 240, FPS: 15, QualityLabel: "240p", AudioQuality: "AUDIO_QUALITY_LOW", AudioSampleRate: 22050, AudioChannels: 1, Media: zoo("18", 130_000)},
				{Itag: 133, MimeType: `video/mp4; codecs="avc1.4d400d"`, Bitrate: 185041, Width: 320, Height: 240, FPS: 15, QualityLabel: "240p", Media: zoo("133", 90_000)},
				{Itag: 160, MimeType: `video/mp4; codecs="avc1.4d400b"`, Bitrate: 90713, Width: 192, Height: 144, FPS: 15, QualityLabel: "144p", Media: zoo("160", 45_000)},
				{Itag: 140, MimeType: `audio/mp4; codecs="mp4a.40.2"`, Bitrate: 130567, AudioQuality: "AUDIO_QUALITY_MEDIUM", AudioSampleRate: 44100, AudioChannels: 2, ApproxDurationMs: 19087, Media: zoo("140", 120_000)},
				{Itag: 251, MimeType: `audio/webm; codecs="opus"`, Bitrate: 64121, AudioQuality: "AUDIO_QUALITY_MEDIUM", AudioSampleRate: 48000, AudioChannels: 2, ApproxDurationMs: 19061, Media: zoo("251", 100_000)},
			},
		},
		{
			ID:          UnavailableID,
			Playability: Unavailable,
		},
		{
			ID:            PrivateID,
			Title:         "Family holiday 2019",
			Author:        "A. Private Person",
			ChannelID:     "UCpr1vAtEpr1vAtEpr1vAtE",
			LengthSeconds: 95,
			PublishDate:   time.Date(2019, 8, 3, 12, 0, 0, 0, time.UTC),
			Playability:   Private,
			Formats:       []Format{{Itag: 140, MimeType: `audio/mp4; codecs="mp4a.40.2"`, Bitrate: 130000, AudioQuality: "AUDIO_QUALITY_MEDIUM", AudioSampleRate: 44100, AudioChannels: 2}},
		},
		{
			ID:            AgeRestrictedID,
			Title:         "Extreme Stunts Compilation (Age-restricted)",
			Author:        "Stunt Channel",
			ChannelID:     "UCaG3rEstR1ctaG3rEstR1ct",
			Description:   "Do not try this at home.",
			LengthSeconds: 312,
			ViewCount:     48213,
			PublishDate:   time.Date(2021, 3, 14, 15, 9, 26, 0, time.UTC),
			Playability:   AgeRestricted,
			Formats:       []Format{{Itag: 140, MimeType: `audio/mp4; codecs="mp4a.40.2"`, Bitrate: 130000, AudioQuality: "AUDIO_QUALITY_MEDIUM", AudioSampleRate: 44100, AudioChannels: 2}},
		},
		{
			ID:            AgeRestrictedNoEmbedID,
			Title:         "Mature Documentary (Age-restricted, embedding disabled)",
			Author:        "Documentary Channel",
			ChannelID:     "UCaG3n0eMb3d0aG3n0eMb3d0",
			LengthSeconds: 2710,
			ViewCount:     9120,
			PublishDate:   time.Date(2022, 11, 2, 18, 30, 0, 0, time.UTC),
			Playability:   AgeRestricted,
			NoEmbed:       true,
			Formats:       []Format{{Itag: 140, MimeType: `audio/mp4; codecs="mp4a.40.2"`, Bitrate: 130000, AudioQuality: "AUDIO_QUALITY_MEDIUM", AudioSampleRate: 44100, AudioChannels: 2}},
		},
		small(BotCheckID, "A Video YouTube Guards"),
		func() Video {
			v := small(AdultID, "Late Night Comedy Special (Age-restricted)")
			v.Playability, v.Cookie = AgeRestricted, SessionCookie
			return v
		}(),
		func() Video {
			v := small(StrangeLoginID, "A Video Behind New Words")
			v.LoginReason = "Please sign in to continue watching on this device"
			return v
		}(),
	}
}

// small is a short normal video with one audio format of each kind and one
// progressive video, for videos that tests steer by their ID.
func small(id, title string) Video {
	m := func(name string, size int64) Media { return Synthetic(Seed(id+"/"+name), size) }
	return Video{
		ID: id, Title: title, Author: "Test Channel", ChannelID: "UCtestchanneltestchannel", ChannelHandle: "@testchannel",
		Description: "A video of the fake YouTube.", LengthSeconds: 30, ViewCount: 1234,
		PublishDate: time.Date(2024, 6, 1, 12, 0, 0, 0, time.UTC), Thumbnails: standardThumbnails(false),
		Formats: []Format{
			{Itag: 18, MimeType: `video/mp4; codecs="avc1.42001E, mp4a.40.2"`, Progressive: true, Bitrate: 400000, Width: 640, Height: 360, FPS: 25, QualityLabel: "360p", AudioQuality: "AUDIO_QUALITY_LOW", AudioSampleRate: 44100, AudioChannels: 2, Media: m("18", 90_000)},
			{Itag: 140, MimeType: `audio/mp4; codecs="mp4a.40.2"`, Bitrate: 130000, AudioQuality: "AUDIO_QUALITY_MEDIUM", AudioSampleRate: 44100, AudioChannels: 2, Media: m("140", 60_000)},
			{Itag: 251, MimeType: `audio/webm; codecs="opus"`, Bitrate: 120000, AudioQuality: "AUDIO_QUALITY_MEDIUM", AudioSampleRate: 48000, AudioChannels: 2, Media: m("251", 55_000)},
		},
	}
}

// standardThumbnails are the images YouTube keeps for every video;
// maxresdefault only exists for HD uploads.
func standardThumbnails(hd bool) []Thumbnail {
	t := []Thumbnail{
		{Name: "default.jpg", Width: 120, Height: 90},
		{Name: "mqdefault.jpg", Width: 320, Height: 180},
		{Name: "hqdefault.jpg", Width: 480, Height: 360},
		{Name: "sddefault.jpg", Width: 640, Height: 480},
	}
	if hd {
		t = append(t, Thumbnail{Name: "maxresdefault.jpg", Width: 1280, Height: 720})
	}
	return t
}

// rickDescription is longer than the 200 characters ytx keeps in status, and
// has curly quotes and emoji, so the default video exercises rune-safe
// truncation.
const rickDescription = "The official video for “Never Gonna Give You Up” by Rick Astley. \n\n" +
	"Never: The Autobiography 📚 OUT NOW! \nFollow this link to get your copy and listen to Rick’s ‘Never’ playlist ❤️ #RickAstleyNever\nhttps://linktr.ee/rickastleynever\n\n" +
	"“Never Gonna Give You Up” was a global smash on its release in July 1987, topping the charts in 25 countries including Rick’s native UK and the US Billboard Hot 100.  " +
	"It also won the Brit Award for Best single in 1988. Stock Aitken and Waterman wrote and produced the track which was the lead-off single and lead track from Rick’s debut LP “Whenever You Need Somebody”.  " +
	"The album was itself a UK number one and would go on to sell over 15 million copies worldwide.\n\n" +
	"The legendary video was directed by Simon West – who later went on to make Hollywood blockbusters such as Con Air, Lara Croft – Tomb Raider and The Expendables 2.  " +
	"The video passed the 1bn YouTube views milestone on 28 July 2021.\n\n" +
	"Subscribe to the official Rick Astley YouTube channel: https://RickAstley.lnk.to/YTSubID\n\n" +
	"Follow Rick Astley:\nFacebook: https://RickAstley.lnk.to/FBFollowID \nTwitter: https://RickAstley.lnk.to/TwitterID \nInstagram: https://RickAstley.lnk.to/InstagramID \n" +
	"Website: https://RickAstley.lnk.to/storeID \nTikTok: https://RickAstley.lnk.to/TikTokID\n\n" +
	"Listen to Rick Astley:\nSpotify: https://RickAstley.lnk.to/SpotifyID \nApple Music: https://RickAstley.lnk.to/AppleMusicID \nAmazon Music: https://RickAstley.lnk.to/AmazonMusicID \nDeezer: https://RickAstley.lnk.to/DeezerID \n\n" +
	"#RickAstley #NeverGonnaGiveYouUp #WheneverYouNeedSomebody #OfficialMusicVideo"

var idPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{11}$`)

// normalize checks v and fills in defaults. It works on a copy, so that the
// caller's slices are not shared with the server.
func normalize(v Video) (*Video, error) {
	if !idPattern.MatchString(v.ID) {
		return nil, fmt.Errorf("fake video ID %q: want 11 characters of [A-Za-z0-9_-]", v.ID)
	}
	v.Keywords = append([]string(nil), v.Keywords...)
	v.Thumbnails = append([]Thumbnail(nil), v.Thumbnails...)
	v.Formats = append([]Format(nil), v.Formats...)
	if len(v.Thumbnails) == 0 {
		v.Thumbnails = standardThumbnails(false)
	}
	if v.Playability == OK && len(v.Formats) == 0 {
		// kkdai refuses a player response without formats.
		return nil, fmt.Errorf("fake video %s: a playable video needs at least one format", v.ID)
	}
	seen := map[int]bool{}
	for i := range v.Formats {
		f := &v.Formats[i]
		if f.Itag <= 0 || seen[f.Itag] {
			return nil, fmt.Errorf("fake video %s: itag %d is not positive or not unique", v.ID, f.Itag)
		}
		seen[f.Itag] = true
		if !strings.HasPrefix(f.MimeType, "audio/") && !strings.HasPrefix(f.MimeType, "video/") {
			return nil, fmt.Errorf("fake video %s itag %d: mimeType %q is neither audio/ nor video/", v.ID, f.Itag, f.MimeType)
		}
		if f.Media == nil {
			f.Media = Synthetic(Seed(fmt.Sprintf("%s/%d", v.ID, f.Itag)), 64<<10)
		}
		if f.ContentLength > 0 && f.ContentLength != f.Media.Size() {
			return nil, fmt.Errorf("fake video %s itag %d: contentLength %d differs from the media's %d bytes", v.ID, f.Itag, f.ContentLength, f.Media.Size())
		}
	}
	return &v, nil
}

// mediaType is the MIME type without parameters, as googlevideo.com sends in
// Content-Type ("audio/mp4").
func (f *Format) mediaType() string {
	t, _, _ := strings.Cut(f.MimeType, ";")
	return strings.TrimSpace(t)
}

func (f *Format) isAudioOnly() bool { return strings.HasPrefix(f.MimeType, "audio/") }

// quality derives YouTube's coarse quality name from the height.
func (f *Format) quality() string {
	if f.Quality != "" {
		return f.Quality
	}
	switch h := f.Height; {
	case f.isAudioOnly() || h == 0:
		return "tiny"
	case h <= 144:
		return "tiny"
	case h <= 240:
		return "small"
	case h <= 360:
		return "medium"
	case h <= 480:
		return "large"
	case h <= 720:
		return "hd720"
	case h <= 1080:
		return "hd1080"
	case h <= 1440:
		return "hd1440"
	default:
		return "hd2160"
	}
}
