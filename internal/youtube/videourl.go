// Package youtube reads videos through github.com/kkdai/youtube/v2: it parses
// video links, builds the HTTP client the library uses, and turns the
// library's answers and errors into ytx's metadata and reason codes.
package youtube

import (
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
)

// A video link is read by structure, in the same steps as the CRD's CEL rule
// on spec.url (api/v1alpha1), so that admission and the worker cannot
// disagree about which video a link names; the tests run one table of links
// (internal/youtube/linktest) and a fuzzer through both.
//
//  1. No whitespace or control characters anywhere.
//  2. The fragment (from the first '#') is ignored: YouTube's player reads
//     "#t=42", never a video from it.
//  3. A link without a scheme is read as https ("www.youtube.com/watch?v=…"
//     is what people copy from an address bar). Only http and https are
//     accepted.
//  4. The part before the first '?' splits at '/' into scheme, "", the
//     authority and the path's segments. The authority must be one of
//     YouTube's video hosts, in any letter case, and nothing else: no user,
//     no port, no escapes.
//  5. The segments name the shape and, except for /watch, the ID: youtu.be
//     /ID; /shorts/ID, /embed/ID, /live/ID and /v/ID on the youtube.com
//     hosts; /embed/ID on the nocookie hosts (each with an optional
//     trailing slash); /watch, whose ID is the one v parameter.
//  6. The raw query holds at most one v parameter, and on any shape but
//     /watch it names the same ID.
//  7. Kubernetes' URL library (net/url's ParseRequestURI and Parse, which
//     the CEL url() and isURL() functions run) must agree: the link parses,
//     its host is the host read in step 4, and its decoded query's v, if
//     any, is exactly the ID, so that an escaped key (%76) cannot hide a
//     second video.
//
// Other query parameters (t, list, si, feature, …) are ignored.
//
// The steps work on substrings of the link rather than on net/url's
// results because the API server bounds a CEL rule's cost by the sizes of
// the strings it works on, and it cannot bound what url() returns.

var (
	// hasScheme matches a URL scheme (RFC 3986) and its colon.
	hasScheme = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9+.-]*:`)
	// badChars are whitespace and control characters.
	badChars  = regexp.MustCompile(`[[:cntrl:][:space:]]`)
	idPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{11}$`)
)

// The hosts of each family of link shapes.
var (
	youtubeHosts  = []string{"youtube.com", "www.youtube.com", "m.youtube.com", "music.youtube.com"}
	noCookieHosts = []string{"youtube-nocookie.com", "www.youtube-nocookie.com"}
	pathShapes    = []string{"shorts", "embed", "live", "v"}
)

// VideoID returns the 11-character video ID that a YouTube video link
// names, or an error that says what is wrong and what a valid link looks
// like.
func VideoID(link string) (string, error) {
	id, why := videoID(link)
	if why != "" {
		return "", fmt.Errorf("%q is not a link to one YouTube video (%s): use https://www.youtube.com/watch?v=VIDEO_ID or https://youtu.be/VIDEO_ID, where VIDEO_ID is 11 characters", truncate(link, 100), why)
	}
	return id, nil
}

// videoID applies the rules above; why says which one a link breaks.
func videoID(link string) (id, why string) {
	abs, p, query, why := linkParts(link)
	if why != "" {
		return "", why
	}
	host := strings.ToLower(p[2])
	vs := rawParams(query, "v")
	// 5
	short, path := p[3], ""
	if len(p) > 4 {
		path = p[4]
	}
	switch {
	case host == "youtu.be" && (len(p) == 4 || len(p) == 5 && path == ""):
		id = short
	case (slices.Contains(youtubeHosts, host) && slices.Contains(pathShapes, short) || slices.Contains(noCookieHosts, host) && short == "embed") &&
		(len(p) == 5 || len(p) == 6 && p[5] == ""):
		id = path
	case slices.Contains(youtubeHosts, host) && len(p) == 4 && short == "watch" && len(vs) == 1 && strings.HasPrefix(vs[0], "v="):
		id = vs[0][2:]
	case host != "youtu.be" && !slices.Contains(youtubeHosts, host) && !slices.Contains(noCookieHosts, host):
		return "", "the host must be one of YouTube's, alone: no user, port or escapes"
	default:
		return "", "the path names no video; playlist and channel links are not supported"
	}
	if !idPattern.MatchString(id) {
		return "", "the video ID must be 11 characters of A-Z, a-z, 0-9, _ and -"
	}
	// 6
	if len(vs) > 1 || len(vs) == 1 && vs[0] != "v="+id {
		return "", "it names more than one video"
	}
	// 7
	if _, err := url.ParseRequestURI(abs); err != nil {
		return "", "it is not a valid URL"
	}
	lower, err := url.Parse(strings.ToLower(abs))
	if err != nil || lower.Hostname() != host {
		return "", "it is not a valid URL"
	}
	u, err := url.Parse(abs)
	if err != nil {
		return "", "it is not a valid URL"
	}
	if q := u.Query(); q.Has("v") && !slices.Equal(q["v"], []string{id}) {
		return "", "it names more than one video"
	}
	return id, ""
}

// linkParts applies steps 1 to 4 that every link rule shares (video,
// playlist and channel links): no whitespace or control characters, the
// fragment dropped, https added to a link without a scheme, and the part
// before the first '?' split at '/' into an http or https scheme, "", the
// authority and the path's segments. abs is the link without its fragment,
// with its scheme; why says which step the link breaks.
func linkParts(link string) (abs string, parts []string, query, why string) {
	// 1, 2, 3
	if badChars.MatchString(link) {
		return "", nil, "", "it contains whitespace or control characters"
	}
	abs, _, _ = strings.Cut(link, "#")
	if !hasScheme.MatchString(abs) {
		abs = "https://" + abs
	}
	// 4
	pre, query, _ := strings.Cut(abs, "?")
	parts = strings.Split(pre, "/")
	if len(parts) < 4 || parts[1] != "" {
		return "", nil, "", "it is not a link to a page of YouTube"
	}
	if scheme := lowerASCII(parts[0]); scheme != "http:" && scheme != "https:" {
		return "", nil, "", "the scheme must be https or http"
	}
	return abs, parts, query, ""
}

// rawParams is the raw query's parameters named key, as written ("key" or
// "key=value"), escapes and all: the rules count them before net/url
// decodes anything.
func rawParams(query, key string) []string {
	var out []string
	for _, kv := range strings.Split(query, "&") {
		if kv == key || strings.HasPrefix(kv, key+"=") {
			out = append(out, kv)
		}
	}
	return out
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
