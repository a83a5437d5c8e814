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
// on spec.url (api/v1alpha1), which uses Kubernetes' url() library: that is
// net/url's ParseRequestURI, the function VideoID uses. So admission and the
// worker cannot disagree about which video a link names; the admission tests
// run one table of links through both (internal/youtube/linktest).
//
//  1. No whitespace or control characters anywhere.
//  2. The fragment (from the first '#') is ignored: YouTube's player reads
//     "#t=42", never a video from it.
//  3. A link without a scheme is read as https ("www.youtube.com/watch?v=…"
//     is what people copy from an address bar). Only http and https are
//     accepted.
//  4. The authority is exactly the host name (no user info, no port, no
//     percent-encoding) and the host is one of YouTube's video hosts.
//  5. The path names the shape and, except for /watch, the ID.
//  6. The query parameter v names the ID of /watch, and on any other shape
//     must name the same ID or be absent: a link that names two videos is
//     refused rather than guessed at.
//
// Other query parameters (t, list, si, feature, …) are ignored.

var (
	// hasScheme matches a URL scheme (RFC 3986) and its colon.
	hasScheme = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9+.-]*:`)
	// badChars are whitespace and control characters.
	badChars = regexp.MustCompile(`[[:cntrl:][:space:]]`)
	// The path of each shape; the ID is the last non-empty segment.
	ytPath       = regexp.MustCompile(`^/(?:shorts|embed|live|v)/[A-Za-z0-9_-]{11}/?$`)
	shortPath    = regexp.MustCompile(`^/[A-Za-z0-9_-]{11}/?$`)
	noCookiePath = regexp.MustCompile(`^/embed/[A-Za-z0-9_-]{11}/?$`)
	idPattern    = regexp.MustCompile(`^[A-Za-z0-9_-]{11}$`)
)

// The hosts of each family of link shapes.
var (
	youtubeHosts  = []string{"youtube.com", "www.youtube.com", "m.youtube.com", "music.youtube.com"}
	shortHosts    = []string{"youtu.be"}
	noCookieHosts = []string{"youtube-nocookie.com", "www.youtube-nocookie.com"}
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
	if badChars.MatchString(link) {
		return "", "it contains whitespace or control characters"
	}
	abs, _, _ := strings.Cut(link, "#")
	if !hasScheme.MatchString(abs) {
		abs = "https://" + abs
	}
	// As Kubernetes' url(): ParseRequestURI checks, Parse reads.
	if _, err := url.ParseRequestURI(abs); err != nil {
		return "", "it is not a valid URL"
	}
	u, err := url.Parse(abs)
	if err != nil {
		return "", "it is not a valid URL"
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return "", "the scheme must be https or http"
	}
	host := strings.ToLower(u.Hostname())
	if !strings.HasPrefix(strings.ToLower(abs), u.Scheme+"://"+host+"/") {
		return "", "the host must be given alone, with no user, port or escapes"
	}
	path, q := u.EscapedPath(), u.Query()
	segments := strings.Split(path, "/")
	switch {
	case slices.Contains(shortHosts, host) && shortPath.MatchString(path):
		id = segments[1]
	case slices.Contains(youtubeHosts, host) && ytPath.MatchString(path), slices.Contains(noCookieHosts, host) && noCookiePath.MatchString(path):
		id = segments[2]
	case slices.Contains(youtubeHosts, host) && path == "/watch" && q.Has("v"):
		id = q["v"][0]
	case slices.Contains(youtubeHosts, host) || slices.Contains(shortHosts, host) || slices.Contains(noCookieHosts, host):
		return "", "the path names no video; playlist and channel links are not supported"
	default:
		return "", "the host is not YouTube's"
	}
	switch {
	case !idPattern.MatchString(id):
		return "", "the video ID must be 11 characters of A-Z, a-z, 0-9, _ and -"
	case q.Has("v") && (len(q["v"]) != 1 || q["v"][0] != id):
		return "", "it names more than one video"
	}
	return id, ""
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
