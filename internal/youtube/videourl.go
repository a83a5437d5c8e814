// Package youtube reads videos through github.com/kkdai/youtube/v2: it parses
// video links, builds the HTTP client the library uses, and turns the
// library's answers and errors into ytx's metadata and reason codes.
package youtube

import (
	"fmt"
	"regexp"
	"strings"
)

// VideoURLPattern is the rule for spec.url. The CRD's CEL rule carries the same
// text (see api/v1alpha1), so admission and the controller agree on what a
// video link is; a test fails when the two drift. It is written without
// backslashes so that it reads the same in Go, in a CEL string and in a
// kubebuilder marker.
const VideoURLPattern = `^(?i:https?://)?(?:(?i:(?:www[.]|m[.]|music[.])?youtube[.]com)/(?:watch[?](?:[^#]*&)?v=|(?:shorts|embed|live|v)/)|(?i:(?:www[.])?youtube-nocookie[.]com)/embed/|(?i:youtu[.]be)/)[A-Za-z0-9_-]{11}(?:[?&#/].*)?$`

var (
	videoURL = regexp.MustCompile(VideoURLPattern)
	// videoID finds the ID in a link that matched VideoURLPattern: it is the
	// 11 characters after "v=" or after the path segment that names it.
	videoID = regexp.MustCompile(`(?:[?&]v=|/(?:shorts|embed|live|v)/|youtu[.]be/)([A-Za-z0-9_-]{11})(?:[?&#/]|$)`)
)

// VideoID returns the 11-character video ID of a YouTube video link, or an
// error that says what a valid link looks like.
func VideoID(link string) (string, error) {
	if !videoURL.MatchString(link) {
		return "", fmt.Errorf("%q is not a link to one YouTube video: use https://www.youtube.com/watch?v=VIDEO_ID or https://youtu.be/VIDEO_ID, where VIDEO_ID is 11 characters", truncate(link, 100))
	}
	m := videoID.FindStringSubmatch(caseFoldHost(link))
	if m == nil {
		// Unreachable for links that match VideoURLPattern; kept as an error
		// rather than a panic because the link is user input.
		return "", fmt.Errorf("no video ID found in %q", truncate(link, 100))
	}
	return m[1], nil
}

// caseFoldHost lower-cases the scheme and host, which VideoURLPattern accepts in
// any case, and leaves the rest (the ID is case-sensitive) alone.
func caseFoldHost(link string) string {
	rest := link
	scheme := ""
	if i := strings.Index(rest, "://"); i >= 0 {
		scheme, rest = rest[:i+3], rest[i+3:]
	}
	host, path, _ := strings.Cut(rest, "/")
	return strings.ToLower(scheme+host) + "/" + path
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
