package linktest

import "ytx.dev/ytx/internal/resolver"

// Playlist and channel links: a YouTubePlaylist's spec.url, read by
// youtube.ListTarget and by the CEL rule on that field.

const (
	pl  = "PLFgquLnL59alCl_2TQvOiD5Vgm"
	uc  = "UCuAXFkgsw1L7xaCfnd5JJOw"
	uu  = "UUuAXFkgsw1L7xaCfnd5JJOw"
	alb = "OLAK5uy_kPLsb5LwhXo8nRfD_ZTMrjEjcZxkAxVJk"
)

func playlist(id string) resolver.Target {
	return resolver.Target{Kind: resolver.TargetPlaylist, PlaylistID: id}
}

func channelID(id, tab string) resolver.Target {
	return resolver.Target{Kind: resolver.TargetChannel, ChannelID: id, Tab: tab}
}

func handle(h, tab string) resolver.Target {
	return resolver.Target{Kind: resolver.TargetChannel, Handle: h, Tab: tab}
}

func custom(path, tab string) resolver.Target {
	return resolver.Target{Kind: resolver.TargetChannel, Custom: path, Tab: tab}
}

// ListValid are the playlist and channel links users paste, each with what
// it lists.
var ListValid = map[string]resolver.Target{
	// Playlists.
	"https://www.youtube.com/playlist?list=" + pl:                  playlist(pl),
	"https://youtube.com/playlist?list=" + pl + "&si=abc":          playlist(pl),
	"http://m.youtube.com/playlist?list=" + pl:                     playlist(pl),
	"www.youtube.com/playlist?list=" + pl:                          playlist(pl),
	"music.youtube.com/playlist?list=" + alb:                       playlist(alb),
	"HTTPS://WWW.YOUTUBE.COM/playlist?list=" + pl:                  playlist(pl),
	"https://www.youtube.com/playlist?list=" + uu:                  playlist(uu),
	"https://www.youtube.com/playlist?list=" + pl + "#top":         playlist(pl),
	"https://www.youtube.com/playlist?feature=share&list=" + pl:    playlist(pl),
	"https://www.youtube.com/playlist?list=PL":                     playlist("PL"),
	"https://www.youtube.com/playlist?list=FLxyz-_0":               playlist("FLxyz-_0"),
	"https://www.youtube.com/playlist?list=" + pl + "&list_id=RD1": playlist(pl),
	// A watch link with a list: the list wins over the video.
	"https://www.youtube.com/watch?v=dQw4w9WgXcQ&list=" + pl:                  playlist(pl),
	"https://www.youtube.com/watch?list=" + pl + "&v=dQw4w9WgXcQ&index=3":     playlist(pl),
	"https://m.youtube.com/watch?list=" + pl:                                  playlist(pl),
	"https://music.youtube.com/watch?v=dQw4w9WgXcQ&list=" + alb + "&si=x":     playlist(alb),
	"https://www.youtube.com/watch?v=AAAAAAAAAAA&v=BBBBBBBBBBB&list=" + pl:    playlist(pl),
	"https://www.youtube.com/playlist?list=" + pl + "&v=dQw4w9WgXcQ":          playlist(pl),
	"https://www.youtube.com/watch?v=dQw4w9WgXcQ&list=" + pl + "#list=" + alb: playlist(pl),
	// Channels by ID, with and without a tab and a trailing slash.
	"https://www.youtube.com/channel/" + uc:                    channelID(uc, resolver.TabVideos),
	"https://www.youtube.com/channel/" + uc + "/":              channelID(uc, resolver.TabVideos),
	"https://www.youtube.com/channel/" + uc + "/videos":        channelID(uc, resolver.TabVideos),
	"https://www.youtube.com/channel/" + uc + "/featured":      channelID(uc, resolver.TabVideos),
	"https://www.youtube.com/channel/" + uc + "/shorts/":       channelID(uc, resolver.TabShorts),
	"https://m.youtube.com/channel/" + uc + "/streams":         channelID(uc, resolver.TabStreams),
	"music.youtube.com/channel/" + uc:                          channelID(uc, resolver.TabVideos),
	"https://youtube.com/channel/" + uc + "?si=abc&view=0":     channelID(uc, resolver.TabVideos),
	"https://www.youtube.com/channel/" + uc + "/videos#anchor": channelID(uc, resolver.TabVideos),
	// Handles, kept as typed.
	"https://www.youtube.com/@RickAstleyYT":                   handle("@RickAstleyYT", resolver.TabVideos),
	"https://www.youtube.com/@RickAstleyYT/":                  handle("@RickAstleyYT", resolver.TabVideos),
	"https://www.youtube.com/@RickAstleyYT/videos":            handle("@RickAstleyYT", resolver.TabVideos),
	"https://www.youtube.com/@RickAstleyYT/shorts":            handle("@RickAstleyYT", resolver.TabShorts),
	"https://www.youtube.com/@RickAstleyYT/streams/":          handle("@RickAstleyYT", resolver.TabStreams),
	"youtube.com/@rick.astley_official-1?si=x":                handle("@rick.astley_official-1", resolver.TabVideos),
	"https://m.youtube.com/@abc":                              handle("@abc", resolver.TabVideos),
	"https://www.youtube.com/@abcdefghijklmnopqrstuvwxyz0123": handle("@abcdefghijklmnopqrstuvwxyz0123", resolver.TabVideos),
	// Old-style channel links.
	"https://www.youtube.com/c/RickAstleyVEVO":          custom("c/RickAstleyVEVO", resolver.TabVideos),
	"https://www.youtube.com/c/RickAstleyVEVO/shorts":   custom("c/RickAstleyVEVO", resolver.TabShorts),
	"https://www.youtube.com/user/RickAstleyVEVO/":      custom("user/RickAstleyVEVO", resolver.TabVideos),
	"https://www.youtube.com/user/rick_astley-2/videos": custom("user/rick_astley-2", resolver.TabVideos),
	"https://www.youtube.com/user/x/streams":            custom("user/x", resolver.TabStreams),
}

// ListRefused are links that name no playlist or channel ytx can list,
// each with a part of the reason youtube.ListTarget gives.
var ListRefused = map[string]string{
	"":                            "not a link to a page of YouTube",
	pl:                            "not a link to a page of YouTube", // a bare ID is not a link
	"@RickAstleyYT":               "not a link to a page of YouTube",
	"https://vimeo.com/123456789": "the host must be",
	// A link to one video belongs to a YouTubeExtraction.
	"https://www.youtube.com/watch?v=dQw4w9WgXcQ":               "YouTubeExtraction",
	"https://youtu.be/dQw4w9WgXcQ":                              "YouTubeExtraction",
	"https://youtu.be/dQw4w9WgXcQ?list=" + pl:                   "YouTubeExtraction",
	"https://www.youtube.com/shorts/aqz-KE-bpKQ":                "YouTubeExtraction",
	"https://www.youtube.com/shorts/aqz-KE-bpKQ?list=" + pl:     "YouTubeExtraction",
	"https://www.youtube-nocookie.com/embed/M7lc1UVf-VE":        "YouTubeExtraction",
	"https://www.youtube.com/watch?v=dQw4w9WgXcQ&list_id=" + pl: "YouTubeExtraction",
	"https://www.youtube.com/watch?v=dQw4w9WgXcQ#list=" + pl:    "YouTubeExtraction",
	"https://www.youtube.com/live/jfKfPfyJRdk":                  "YouTubeExtraction",
	// Lists ytx cannot read: mixes never end, and the signed-in user's
	// own lists need a login.
	"https://www.youtube.com/watch?v=dQw4w9WgXcQ&list=RDdQw4w9WgXcQ": "mix",
	"https://www.youtube.com/playlist?list=RDMM":                     "mix",
	"music.youtube.com/watch?v=dQw4w9WgXcQ&list=RDAMVMdQw4w9WgXcQ":   "mix",
	"https://www.youtube.com/playlist?list=RD":                       "mix",
	"https://www.youtube.com/playlist?list=WL":                       "signed-in",
	"https://www.youtube.com/playlist?list=LL":                       "signed-in",
	"https://music.youtube.com/playlist?list=LM":                     "signed-in",
	// List IDs that are not IDs.
	"https://www.youtube.com/playlist?list=":                     "2 to 64 characters",
	"https://www.youtube.com/playlist?list=P":                    "2 to 64 characters",
	"https://www.youtube.com/playlist?list=PL" + sixtyThree:      "2 to 64 characters",
	"https://www.youtube.com/playlist?list=PL!x":                 "2 to 64 characters",
	"https://www.youtube.com/playlist?list=PL%2Dx":               "2 to 64 characters",
	"https://www.youtube.com/playlist?list=" + pl + ";x=1":       "2 to 64 characters",
	"https://www.youtube.com/playlist?list=" + pl + "%20":        "2 to 64 characters",
	"https://www.youtube.com/playlist?list":                      "no value",
	"https://www.youtube.com/playlist":                           "no list parameter",
	"https://www.youtube.com/playlist?List=" + pl:                "no list parameter",
	"https://www.youtube.com/playlist?xlist=" + pl:               "no list parameter",
	"https://www.youtube.com/watch?list_id=" + pl:                "no list parameter",
	"https://www.youtube.com/playlist#list=" + pl:                "no list parameter",
	"https://www.youtube.com/playlist?next=/playlist?list=" + pl: "no list parameter",
	// Two lists, or a list hidden by an escaped key (%6C is l), or a
	// channel and a list: refused rather than guessed at.
	"https://www.youtube.com/playlist?list=PLA&list=PLB":        "more than one list",
	"https://www.youtube.com/playlist?list=PLA&list=PLA":        "more than one list",
	"https://www.youtube.com/watch?v=dQw4w9WgXcQ&list=PLA&list": "more than one list",
	"https://www.youtube.com/playlist?list=PLA&%6Cist=PLB":      "more than one list",
	"https://www.youtube.com/channel/" + uc + "?list=" + pl:     "a channel and a list",
	"https://www.youtube.com/@RickAstleyYT/videos?list=" + pl:   "a channel and a list",
	"https://www.youtube.com/@RickAstleyYT?%6Cist=" + pl:        "a channel and a list",
	// Paths that are not one of the shapes.
	"https://www.youtube.com/playlist/?list=" + pl:                  "the path is not",
	"https://www.youtube.com/Playlist?list=" + pl:                   "the path is not",
	"https://www.youtube.com//playlist?list=" + pl:                  "the path is not",
	"https://www.youtube.com/%70laylist?list=" + pl:                 "the path is not",
	"https://www.youtube.com/playlists?list=" + pl:                  "the path is not",
	"https://www.youtube.com/channel/" + uc + "/playlists":          "the path is not",
	"https://www.youtube.com/channel/" + uc + "/community":          "the path is not",
	"https://www.youtube.com/channel/" + uc + "/about":              "the path is not",
	"https://www.youtube.com/channel/" + uc + "/live":               "the path is not",
	"https://www.youtube.com/channel/" + uc + "/Videos":             "the path is not",
	"https://www.youtube.com/channel/" + uc + "//":                  "the path is not",
	"https://www.youtube.com/channel/" + uc + "/videos/x":           "the path is not",
	"https://www.youtube.com/channel/UCuAXFkgsw1L7xaCfnd5JJO":       "the path is not", // 21 after UC
	"https://www.youtube.com/channel/UCuAXFkgsw1L7xaCfnd5JJOww":     "the path is not", // 23 after UC
	"https://www.youtube.com/channel/UUuAXFkgsw1L7xaCfnd5JJOw":      "the path is not",
	"https://www.youtube.com/channel/UCuAXFkgsw1L7xaCfnd5JJO!":      "the path is not",
	"https://www.youtube.com/channel/":                              "the path is not",
	"https://www.youtube.com/Channel/" + uc:                         "the path is not",
	"https://www.youtube.com/c/":                                    "the path is not",
	"https://www.youtube.com/c/Rick.Astley":                         "the path is not",
	"https://www.youtube.com/c/..":                                  "the path is not",
	"https://www.youtube.com/user/%2E%2E":                           "the path is not",
	"https://www.youtube.com/c/" + hundredAndOne:                    "the path is not",
	"https://www.youtube.com/user/RickAstleyVEVO/featured/videos":   "the path is not",
	"https://www.youtube.com/RickAstleyVEVO":                        "the path is not",
	"https://www.youtube.com/results?search_query=rick":             "the path is not",
	"https://www.youtube.com/feed/subscriptions":                    "the path is not",
	"https://www.youtube.com/":                                      "the path is not",
	"https://www.youtube.com/channel/" + uc + "/../../redirect?q=x": "the path is not",
	// Handles: 3 to 30 ASCII letters, digits, '.', '_', '-'.
	"https://www.youtube.com/@ab":                              "a handle is",
	"https://www.youtube.com/@abcdefghijklmnopqrstuvwxyz01234": "a handle is",
	"https://www.youtube.com/@rick astley":                     "whitespace",
	"https://www.youtube.com/@rick%20astley":                   "a handle is",
	"https://www.youtube.com/@%E3%83%AA%E3%83%83%E3%82%AF":     "a handle is",
	"https://www.youtube.com/@リック":                             "a handle is",
	"https://www.youtube.com/@RickAstleyYT/live":               "a handle is",
	"https://www.youtube.com/@RickAstleyYT/@other":             "a handle is",
	"https://www.youtube.com/@":                                "a handle is",
	// Hosts, schemes and characters as the video links' rules refuse them.
	"https://youtu.be/playlist?list=" + pl:                               "the host must be",
	"https://gaming.youtube.com/playlist?list=" + pl:                     "the host must be",
	"https://studio.youtube.com/channel/" + uc:                           "the host must be",
	"https://www.youtube-nocookie.com/playlist?list=" + pl:               "the host must be",
	"https://youtube.com.evil.example/playlist?list=" + pl:               "the host must be",
	"https://evil.example/www.youtube.com/playlist?list=" + pl:           "the host must be",
	"https://www.youtube.com@169.254.169.254/playlist?list=" + pl:        "the host must be",
	"https://user:pass@www.youtube.com/playlist?list=" + pl:              "the host must be",
	"https://www.youtube.com:443/playlist?list=" + pl:                    "the host must be",
	"https://www.youtube.com./@RickAstleyYT":                             "the host must be",
	"https://%77%77%77.youtube.com/@RickAstleyYT":                        "the host must be",
	"https://www.youtube.com%2F@evil.example/@RickAstleyYT":              "the host must be",
	"https://www.youtube.com\\@169.254.169.254/@RickAstleyYT":            "the host must be",
	"https://www.youtube.com#@evil.example/@RickAstleyYT":                "not a link to a page of YouTube",
	"https://[::1]:8443/playlist?list=" + pl:                             "the host must be",
	"http://169.254.169.254/playlist?list=" + pl:                         "the host must be",
	"https://\uff57\uff57\uff57.youtube.com/playlist?list=" + pl:         "the host must be",
	"https://www.youtube.com/redirect?q=http://10.0.0.1/&list=" + pl:     "the path is not",
	"ftp://www.youtube.com/playlist?list=" + pl:                          "scheme",
	"javascript:alert(1)//www.youtube.com/playlist?list=" + pl:           "scheme",
	"file:///etc/passwd?list=" + pl:                                      "scheme",
	"//www.youtube.com/playlist?list=" + pl:                              "the host must be",
	"https:/www.youtube.com/playlist?list=" + pl:                         "not a link to a page of YouTube",
	"https:www.youtube.com/@RickAstleyYT":                                "not a link to a page of YouTube",
	" https://www.youtube.com/playlist?list=" + pl:                       "whitespace",
	"https://www.youtube.com/playlist?list=" + pl + "\n":                 "whitespace",
	"https://www.youtube.com/@RickAstleyYT\t":                            "whitespace",
	"https://www.youtube.com/@RickAstleyYT\x00":                          "whitespace",
	"https://www.youtube.com/@RickAstleyYT\u00a0":                        "a handle is", // not an ASCII space
	"https://www.youtube.com/playlist?list=" + pl + "\r\nHost: 10.0.0.1": "whitespace",
}

const (
	sixtyThree    = "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijk"
	hundredAndOne = sixtyThree + "abcdefghijklmnopqrstuvwxyzabcdefghijkl"
)
