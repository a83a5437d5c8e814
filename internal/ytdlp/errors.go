package ytdlp

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	v1alpha1 "ytx.dev/ytx/api/v1alpha1"
	"ytx.dev/ytx/internal/failure"
	"ytx.dev/ytx/internal/resolver"
	"ytx.dev/ytx/internal/youtube"
)

// classify turns a failed run into a failure by yt-dlp's error line
// ("ERROR: [youtube] ID: ..."), which quotes YouTube's own words. stderr
// has been redacted. A run that printed no such line did not get as far as
// YouTube (a crash, a missing module): yt-dlp is broken, which says
// nothing about the video.
func classify(id, stderr string, runErr error) error {
	line := errorLine(stderr)
	if line == "" {
		return broken(v1alpha1.ReasonForbidden, stderr, runErr)
	}
	cause := fmt.Errorf("%s: %w", truncate(line, 500), runErr)
	subject := "video " + id
	quoted := truncate(youtubeWords(line, id), 300)
	has := saysAny(line)
	switch {
	case has("private video", "video is private"):
		return youtube.Private(subject, cause)
	case has("not a bot", "sign in to confirm", "confirm your age", "age-restricted", "inappropriate for some users", "members-only", "join this channel"):
		if has("members-only", "join this channel") {
			return failure.Permanent(v1alpha1.ReasonLoginRequired, cause,
				"%s is for the channel's members only (yt-dlp says %q): give the workers the cookies of a member's account (--cookies-file) to extract it", subject, quoted)
		}
		return youtube.LoginRequired(subject, quoted, cause)
	case has("http error 429", "too many requests"):
		return failure.Retryable(v1alpha1.ReasonRateLimited, cause,
			"YouTube is rate-limiting this worker (HTTP 429) while yt-dlp reads %s; ytx waits and retries later. If it keeps happening, spread the workers over several addresses (--proxy) or slow them down (--youtube-min-interval)", subject)
	case has("in your country", "not available in your country", "geo restrict", "geo-restrict"):
		return failure.Permanent(v1alpha1.ReasonVideoUnavailable, cause,
			"%s is blocked in the worker's region (yt-dlp says %q): run the workers through a proxy in another region (--proxy)", subject, quoted)
	case has("video unavailable", "this video is unavailable", "has been removed", "no longer available", "does not exist", "is not available", "account associated with this video has been terminated", "incomplete youtube id"):
		return failure.Definitive(v1alpha1.ReasonVideoUnavailable, cause,
			"%s is unavailable: yt-dlp says %q. Check the link; the video may have been removed", subject, quoted)
	case has("http error 403", "forbidden"):
		return failure.Retryable(v1alpha1.ReasonForbidden, cause,
			"YouTube refused yt-dlp's request for %s (HTTP 403): %q; ytx retries. If it persists, update yt-dlp, or give it a PO token (--ytdlp-extractor-args) or cookies (--cookies-file)", subject, quoted)
	case has("unable to download api page", "no video formats found") && httpError(stderr) != 0:
		// yt-dlp's generic line after every client failed: the HTTP
		// status its warnings name tells why.
		return classifyStatus(subject, httpError(stderr), cause)
	case has("requested format is not available", "no video formats found"):
		return failure.Permanent(v1alpha1.ReasonFormatUnavailable, cause,
			"yt-dlp found no downloadable format of %s: %q. It may need a JavaScript runtime (deno) or a PO token (--ytdlp-extractor-args)", subject, quoted)
	case has("timed out", "timeout"):
		return failure.Retryable(v1alpha1.ReasonTimeout, cause,
			"yt-dlp timed out reading %s: %q; ytx retries. If it keeps happening, check the worker's network and proxy", subject, quoted)
	case has("unable to download", "connection", "network", "name resolution", "http error 5"):
		return failure.Retryable(v1alpha1.ReasonDownloadFailed, cause,
			"yt-dlp could not reach YouTube for %s: %q; ytx retries. Check the worker's network and proxy (--proxy, HTTPS_PROXY)", subject, quoted)
	}
	return failure.Retryable(v1alpha1.ReasonDownloadFailed, cause,
		"yt-dlp failed to read %s: %q; ytx retries. If it keeps failing, YouTube may have changed: update yt-dlp", subject, quoted)
}

// httpError is the last HTTP error status yt-dlp's output names ("HTTP
// Error 503"), 0 for none.
func httpError(stderr string) int {
	i := strings.LastIndex(stderr, "HTTP Error ")
	if i < 0 {
		return 0
	}
	code, err := strconv.Atoi(strings.TrimSpace(stderr[i+len("HTTP Error ") : min(len(stderr), i+len("HTTP Error ")+3)]))
	if err != nil {
		return 0
	}
	return code
}

// classifyStatus is the failure for an HTTP status that YouTube answered
// yt-dlp.
func classifyStatus(subject string, code int, cause error) error {
	switch {
	case code == 429:
		return failure.Retryable(v1alpha1.ReasonRateLimited, cause,
			"YouTube is rate-limiting this worker (HTTP 429) while yt-dlp reads %s; ytx waits and retries later. If it keeps happening, spread the workers over several addresses (--proxy) or slow them down (--youtube-min-interval)", subject)
	case code == 403:
		return failure.Retryable(v1alpha1.ReasonForbidden, cause,
			"YouTube refused yt-dlp's requests for %s (HTTP 403); ytx retries. If it persists, update yt-dlp, or give it a PO token (--ytdlp-extractor-args) or cookies (--cookies-file)", subject)
	}
	return failure.Retryable(v1alpha1.ReasonDownloadFailed, cause,
		"YouTube answered yt-dlp HTTP %d while it read %s; ytx retries", code, subject)
}

// errorLine is yt-dlp's last "ERROR:" line, "" when there is none.
func errorLine(stderr string) string {
	lines := strings.Split(stderr, "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if l := strings.TrimSpace(lines[i]); strings.HasPrefix(l, "ERROR:") {
			return l
		}
	}
	return ""
}

// youtubeWords is the part of yt-dlp's error line after its prefixes
// ("ERROR: [youtube] ID: ").
func youtubeWords(line, id string) string {
	line = strings.TrimPrefix(line, "ERROR:")
	line = strings.TrimSpace(line)
	if strings.HasPrefix(line, "[") {
		if i := strings.IndexByte(line, ']'); i >= 0 {
			line = strings.TrimSpace(line[i+1:])
		}
	}
	line = strings.TrimPrefix(line, id+":")
	// yt-dlp's advice on its own command line and its request to report
	// the error upstream are not for ytx's users.
	for _, tail := range []string{"; please report this issue", " Use --cookies", " See  https://"} {
		if i := strings.Index(line, tail); i >= 0 {
			line = line[:i]
		}
	}
	return strings.TrimSpace(line)
}

// noTab is yt-dlp's error for a channel that exists but does not show
// the tab asked for (a channel that never streamed has no Live tab).
var noTab = regexp.MustCompile(`(?i)this channel does not have an? (videos|shorts|streams|live) tab`)

// missingTab is the cause of a listing failure that says the channel
// lacks tab: the channel is there, and the tab lists nothing (yet).
type missingTab struct {
	tab string
	err error
}

func (e *missingTab) Error() string { return e.err.Error() }
func (e *missingTab) Unwrap() error { return e.err }

// ErrBroken reports whether err says yt-dlp could not run at all.
func ErrBroken(err error) bool { return errors.Is(err, resolver.ErrUnavailable) }

// classifyList is classify for a listing run. YouTube's words about the
// playlist or channel itself (private, does not exist, no such tab, a
// channel page that is not there) are definitive: any client gets them.
func classifyList(subject, stderr string, runErr error) error {
	line := errorLine(stderr)
	if line == "" {
		return broken(v1alpha1.ReasonListingFailed, stderr, runErr)
	}
	cause := fmt.Errorf("%s: %w", truncate(line, 500), runErr)
	quoted := truncate(youtubeWords(line, ""), 300)
	has := saysAny(line)
	if m := noTab.FindStringSubmatch(line); m != nil {
		return failure.Definitive(v1alpha1.ReasonPlaylistUnavailable, &missingTab{tab: m[1], err: cause},
			"%s is unavailable: yt-dlp says %q", subject, quoted)
	}
	switch {
	case has("playlist is private", "does not exist", "does not have a", "http error 404", "unable to recognize tab page"):
		return failure.Definitive(v1alpha1.ReasonPlaylistUnavailable, cause,
			"%s is unavailable: yt-dlp says %q. Check the link; a private playlist can only be read by its owner", subject, quoted)
	case has("not a bot", "sign in to confirm", "http error 429", "too many requests"):
		return failure.Retryable(v1alpha1.ReasonRateLimited, cause,
			"YouTube is rate-limiting this worker while yt-dlp reads %s (%q); ytx waits and retries later", subject, quoted)
	}
	return failure.Retryable(v1alpha1.ReasonListingFailed, cause,
		"yt-dlp failed to read %s: %q; ytx retries. If it keeps failing, YouTube may have changed: update yt-dlp", subject, quoted)
}

// broken is the failure of a run that printed no error line: yt-dlp did
// not get as far as YouTube (a crash, a missing module), which says
// nothing about the video or the playlist, so the chain goes on to the
// next resolver (ErrUnavailable). reason is the failure's code if none
// is left.
func broken(reason, stderr string, runErr error) error {
	why := lastLine(stderr)
	if why == "" {
		why = runErr.Error()
	}
	return failure.Retryable(reason, fmt.Errorf("%w: %v", resolver.ErrUnavailable, runErr),
		"yt-dlp failed without an error from YouTube (%s): it may be broken; check that `yt-dlp --version` runs on the worker, or reinstall yt-dlp %s or newer", truncate(why, 300), MinVersion)
}

// saysAny returns whether yt-dlp's error line holds any of the given
// lower-case phrases, in any letter case.
func saysAny(line string) func(phrases ...string) bool {
	words := strings.ToLower(line)
	return func(phrases ...string) bool {
		for _, p := range phrases {
			if strings.Contains(words, p) {
				return true
			}
		}
		return false
	}
}
