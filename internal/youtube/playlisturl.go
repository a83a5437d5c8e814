package youtube

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"

	"ytx.dev/ytx/internal/resolver"
)

// A playlist or channel link (a YouTubePlaylist's spec.url) is read by
// structure, in the same steps as the CEL rule on that field
// (api/v1alpha1), so that admission and the worker cannot disagree about
// what a link lists; the tests run one table of links
// (internal/youtube/linktest) and a fuzzer through both.
//
//  1. No whitespace or control characters anywhere.
//  2. The fragment (from the first '#') is ignored.
//  3. A link without a scheme is read as https. Only http and https are
//     accepted.
//  4. The part before the first '?' splits at '/' into scheme, "", the
//     authority and the path. The authority must be youtube.com or its
//     www., m. or music. host, in any letter case, and nothing else: no
//     user, no port, no escapes.
//  5. The path names the shape:
//     - /playlist and /watch are playlists: the raw query holds exactly
//     one list parameter, and its value is the ID. On /watch the list
//     wins over v: the link names the list the video was played in.
//     - /channel/UC + 22 characters, /@handle, /c/NAME and /user/NAME
//     are channels, each optionally followed by a tab (/videos,
//     /featured, /shorts or /streams; none or /featured is the uploads,
//     /videos) and a trailing slash. Their query holds no list
//     parameter: a link naming both a channel and a list is refused
//     rather than guessed at.
//     Handles are 3 to 30 ASCII letters, digits, '.', '_' and '-' (YouTube
//     allows other scripts; such a channel is named by its /channel/UC…
//     link). NAME is 1 to 100 ASCII letters, digits, '_' and '-'.
//  6. A list ID is 2 to 64 characters of A-Z, a-z, 0-9, _ and -, and
//     not one ytx cannot read: "RD…" lists are YouTube's mixes, made up
//     as they play and endless; WL (Watch later), LL (Liked videos) and
//     LM (Liked music) exist only for a signed-in user.
//  7. Kubernetes' URL library (net/url's ParseRequestURI and Parse, which
//     the CEL url() and isURL() functions run) must agree: the link
//     parses, its host is the host read in step 4, and its decoded
//     query's list is exactly the ID (a playlist) or absent (a channel),
//     so that an escaped key (%6Cist) cannot hide a second list.
//
// Other query parameters (v on /playlist and /watch, index, si, …) are
// ignored. As in VideoID, the steps work on substrings of the link, so
// that the CEL rule's cost stays bounded.

var (
	// channelPath is step 5's channel shapes; its groups are the channel
	// ID, the handle, the old-style path (c/NAME, user/NAME) and the tab.
	channelPath = regexp.MustCompile(`^/(?:channel/(UC[A-Za-z0-9_-]{22})|(@[A-Za-z0-9._-]{3,30})|((?:c|user)/[A-Za-z0-9_-]{1,100}))(?:/(videos|featured|shorts|streams))?/?$`)
	listPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{2,64}$`)
	// signedInLists exist only for the signed-in user.
	signedInLists = []string{"WL", "LL", "LM"}
)

// listLinkHelp is what every refusal ends with: the shapes that work.
const listLinkHelp = "use a playlist link, https://www.youtube.com/playlist?list=LIST_ID, or a channel link, https://www.youtube.com/@HANDLE or https://www.youtube.com/channel/UC…, optionally followed by /videos, /shorts or /streams"

// ListTarget reads the playlist or channel that a YouTubePlaylist's
// spec.url names, or returns an error that says what is wrong and what a
// valid link looks like.
func ListTarget(link string) (resolver.Target, error) {
	t, why := listTarget(link)
	if why != "" {
		return resolver.Target{}, fmt.Errorf("spec.url %q is not a YouTube playlist or channel ytx can list (%s): %s", truncate(link, 100), why, listLinkHelp)
	}
	return t, nil
}

// listTarget applies the rules above; why says which one a link breaks.
func listTarget(link string) (t resolver.Target, why string) {
	abs, p, query, why := linkParts(link)
	if why != "" {
		return t, why
	}
	host := lowerASCII(p[2])
	if !slices.Contains(youtubeHosts, host) {
		return t, unlessVideo(link, "the host must be youtube.com, www.youtube.com, m.youtube.com or music.youtube.com, alone: no user, port or escapes")
	}
	lists := rawParams(query, "list")
	// 5
	path := "/" + strings.Join(p[3:], "/")
	if path == "/playlist" || path == "/watch" {
		t, why = playlist(link, lists)
	} else {
		t, why = channel(link, path, lists)
	}
	if why != "" {
		return resolver.Target{}, why
	}
	// 7
	if err := agreesWithNetURL(abs, host, t.PlaylistID); err != nil {
		return resolver.Target{}, err.Error()
	}
	return t, ""
}

// playlist reads step 5's playlist shapes and step 6's list ID from the
// raw query's list parameters.
func playlist(link string, lists []string) (resolver.Target, string) {
	switch {
	case len(lists) == 0:
		return resolver.Target{}, unlessVideo(link, "it has no list parameter")
	case len(lists) > 1:
		return resolver.Target{}, "it names more than one list"
	case !strings.HasPrefix(lists[0], "list="):
		return resolver.Target{}, "its list parameter has no value"
	}
	id := lists[0][len("list="):]
	switch {
	case !listPattern.MatchString(id):
		return resolver.Target{}, "a list ID is 2 to 64 characters of A-Z, a-z, 0-9, _ and -"
	case strings.HasPrefix(id, "RD"):
		return resolver.Target{}, "list=RD… is a mix, which YouTube makes up as it plays and never ends; save the videos you want to a playlist and use its link"
	case slices.Contains(signedInLists, id):
		return resolver.Target{}, "list=" + id + " (Watch later, Liked videos, Liked music) exists only for a signed-in user; save the videos to a public or unlisted playlist and use its link"
	}
	return resolver.Target{Kind: resolver.TargetPlaylist, PlaylistID: id}, ""
}

// channel reads step 5's channel shapes from the path.
func channel(link, path string, lists []string) (resolver.Target, string) {
	m := channelPath.FindStringSubmatch(path)
	switch {
	case m == nil && strings.HasPrefix(path, "/@"):
		return resolver.Target{}, "a handle is @ and 3 to 30 ASCII letters, digits, '.', '_' and '-', optionally followed by /videos, /shorts or /streams; name another channel by its /channel/UC… link"
	case m == nil:
		return resolver.Target{}, unlessVideo(link, "the path is not /playlist, /watch with a list, /channel/UC…, /@HANDLE, /c/NAME or /user/NAME, optionally followed by /videos, /shorts or /streams")
	case len(lists) > 0:
		return resolver.Target{}, "it names a channel and a list; use one or the other"
	}
	t := resolver.Target{Kind: resolver.TargetChannel, ChannelID: m[1], Handle: m[2], Custom: m[3], Tab: m[4]}
	if t.Tab == "" || t.Tab == "featured" {
		t.Tab = resolver.TabVideos
	}
	return t, ""
}

// unlessVideo is why, or, when VideoID reads a video from link, the
// refusal that points to the kind that takes it. It only chooses which
// refusal to give.
func unlessVideo(link, why string) string {
	if _, notVideo := videoID(link); notVideo == "" {
		return "it links to one video, which a YouTubeExtraction extracts; for the playlist it was played in, use https://www.youtube.com/playlist?list=LIST_ID"
	}
	return why
}

// agreesWithNetURL is step 7: net/url reads the same host and, for a
// playlist, the same list (listID), or, for a channel, none.
func agreesWithNetURL(abs, host, listID string) error {
	invalid := errors.New("it is not a valid URL")
	if _, err := url.ParseRequestURI(abs); err != nil {
		return invalid
	}
	lower, err := url.Parse(lowerASCII(abs))
	if err != nil || lower.Hostname() != host {
		return invalid
	}
	u, err := url.Parse(abs)
	if err != nil {
		return invalid
	}
	q := u.Query()
	switch {
	case listID == "" && q.Has("list"):
		return errors.New("it names a channel and a list; use one or the other")
	case listID != "" && !slices.Equal(q["list"], []string{listID}):
		return errors.New("it names more than one list")
	}
	return nil
}

// lowerASCII lower-cases ASCII letters only, as CEL's lowerAscii does.
// It works on bytes: strings.Map would replace invalid UTF-8.
func lowerASCII(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}
