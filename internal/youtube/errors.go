package youtube

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"

	kkdai "github.com/kkdai/youtube/v2"

	"ytx.dev/ytx/api/v1alpha1"
	"ytx.dev/ytx/internal/failure"
)

// Classify turns an error from kkdai/youtube, from net/http or from reading
// a stream into a *failure.Error; nil stays nil, and an error that carries a
// *failure.Error already is returned as that. URLs in err's chain are
// redacted first (RedactError): a failure's text never shows a signed query.
//
// The rules, and why:
//   - private video (ErrVideoPrivate): LoginRequired, permanent. Only the
//     owner can change it.
//   - a sign-in demand (ErrLoginRequired, or ErrNotPlayableInEmbed, which
//     kkdai returns wrapped in "can't bypass age restriction" when its
//     embedded-player fallback is refused): by YouTube's words (see
//     LoginRequired), when the player's answer was seen (a LoginError);
//     age-restricted when it was not.
//   - YouTube's playability status (*ErrPlayabiltyStatus, e.g. ERROR "This
//     video is unavailable", UNPLAYABLE): VideoUnavailable, permanent, with
//     YouTube's reason.
//   - HTTP 404 or 410: VideoUnavailable, permanent.
//   - HTTP 403: Forbidden, transient. googlevideo.com answers 403 for expired
//     or IP-bound stream URLs and while it throttles a client; the next
//     attempt fetches fresh URLs and often succeeds. If it keeps failing the
//     retry limit ends the extraction (AttemptsExhausted), and the message
//     says what to check.
//   - a request refused because it, or a redirect, went off YouTube's hosts
//     or to plain HTTP (ErrForeignHost): DownloadFailed, permanent. Only a
//     forged or rewritten answer names such a URL; the next attempt would
//     get the same answer, and the message says what to check.
//   - an answer that did not arrive whole within the page timeout
//     (ErrSlowAnswer): Timeout, transient.
//   - HTTP 429: RateLimited, retried after a longer backoff.
//   - HTTP 5xx, other statuses, network errors, unexpected answers from
//     YouTube (ErrTooLongAnswer, too many redirects): DownloadFailed,
//     transient.
//   - deadlines and network timeouts: Timeout, transient.
//   - an invalid video ID: InvalidURL, permanent.
func Classify(err error) *failure.Error {
	return classify("", err)
}

// classify is Classify with the video ID, for messages.
func classify(videoID string, err error) *failure.Error {
	if err == nil {
		return nil
	}
	// net/http's errors carry the whole URL, and media URLs are signed.
	RedactError(err)
	if e, ok := failure.As(err); ok {
		return e
	}
	subject := "the video"
	if videoID != "" {
		subject = "video " + videoID
	}
	fail := func(reason string, permanent bool, format string, args ...any) *failure.Error {
		return &failure.Error{Reason: reason, Retryable: !permanent, Message: fmt.Sprintf(format, args...), Cause: err}
	}

	var (
		status   kkdai.ErrUnexpectedStatusCode
		playPtr  *kkdai.ErrPlayabiltyStatus
		playVal  kkdai.ErrPlayabiltyStatus
		netErr   net.Error
		unknown  x509.UnknownAuthorityError
		verifErr *tls.CertificateVerificationError
		foreign  *foreignHostError
		login    *LoginError
	)
	switch {
	case errors.Is(err, kkdai.ErrVideoPrivate):
		return Private(subject, err)
	case errors.As(err, &login):
		return LoginRequired(subject, login.Reason, err)
	case errors.Is(err, kkdai.ErrLoginRequired), errors.Is(err, kkdai.ErrNotPlayableInEmbed):
		return LoginRequired(subject, "Sign in to confirm your age", err)
	case errors.As(err, &playPtr):
		return playability(fail, subject, playPtr.Status, playPtr.Reason)
	case errors.As(err, &playVal):
		return playability(fail, subject, playVal.Status, playVal.Reason)
	case errors.Is(err, kkdai.ErrInvalidCharactersInVideoID), errors.Is(err, kkdai.ErrVideoIDMinLength):
		return fail(v1alpha1.ReasonInvalidURL, true,
			"%s: the video ID is not valid; use a link such as https://www.youtube.com/watch?v=VIDEO_ID with an 11-character ID", subject)
	case errors.As(err, &foreign):
		// Before the network cases: *url.Error is a net.Error.
		how := "YouTube's answer sent the worker"
		if foreign.from != "" {
			how = "a redirect from " + foreign.from + " sent the worker"
		}
		return fail(v1alpha1.ReasonDownloadFailed, true,
			"%s to %s while reading %s, which is not one of YouTube's hosts (youtube.com, *.googlevideo.com, *.ytimg.com, *.ggpht.com, over HTTPS): ytx did not connect, and does not retry. "+
				"A proxy or network device that rewrites YouTube's answers would do this (check HTTPS_PROXY and SSL_CERT_FILE); if not, YouTube may have moved its media and ytx needs an update",
			how, foreign.target, subject)
	case errors.Is(err, ErrSlowAnswer):
		return fail(v1alpha1.ReasonTimeout, false,
			"YouTube's answer while reading %s did not arrive whole in time (it trickled or stalled); ytx retries. If it keeps happening, check the worker's network and proxy (HTTPS_PROXY)", subject)
	case errors.Is(err, ErrTooLongAnswer):
		return fail(v1alpha1.ReasonDownloadFailed, false,
			"YouTube's answer while reading %s was larger than %d MiB, far more than any page YouTube serves; ytx retries. If it keeps happening, a proxy may be rewriting YouTube's answers", subject, MaxPageBytes>>20)
	case errors.As(err, &status):
		return httpStatus(fail, subject, int(status))
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		return fail(v1alpha1.ReasonTimeout, false,
			"reading %s from YouTube timed out; ytx retries. If it keeps happening, check the worker's network and proxy (HTTPS_PROXY)", subject)
	case errors.Is(err, context.Canceled):
		return fail(v1alpha1.ReasonDownloadFailed, false,
			"reading %s was cancelled (the worker is stopping or the job was abandoned); ytx retries", subject)
	case errors.As(err, &unknown), errors.As(err, &verifErr):
		return fail(v1alpha1.ReasonDownloadFailed, false,
			"cannot verify YouTube's TLS certificate while reading %s: if a proxy inspects TLS, add its CA to the file named by SSL_CERT_FILE", subject)
	case errors.As(err, &netErr):
		return fail(v1alpha1.ReasonDownloadFailed, false,
			"cannot reach YouTube while reading %s: check the worker's network, DNS and proxy settings (HTTPS_PROXY, NO_PROXY); ytx retries", subject)
	}
	return fail(v1alpha1.ReasonDownloadFailed, false,
		"reading %s from YouTube failed; ytx retries. If it keeps failing, YouTube may have changed its answers", subject)
}

func playability(fail func(string, bool, string, ...any) *failure.Error, subject, status, reason string) *failure.Error {
	if reason == "" {
		reason = "no reason given"
	}
	// YouTube's text goes into status: keep a forged one from making the
	// status too big to write.
	reason = truncateRunes(reason, 300)
	status = truncateRunes(status, 40)
	f := fail(v1alpha1.ReasonVideoUnavailable, true,
		"%s is unavailable: YouTube says %q (status %s). Check the link; the video may have been removed, or be blocked in the worker's region", subject, reason, status)
	// A region block is about the worker's address, not the video: a
	// proxy elsewhere may read it.
	f.Definitive = !strings.Contains(strings.ToLower(reason), "country")
	return f
}

// LoginError is a player answer with status LOGIN_REQUIRED, as YouTube
// worded it: kkdai keeps only that a sign-in was asked for, and the
// words tell a bot check from an age restriction.
type LoginError struct {
	Reason string // playabilityStatus.reason
	Err    error
}

func (e *LoginError) Error() string { return "LOGIN_REQUIRED: " + e.Reason + ": " + e.Err.Error() }
func (e *LoginError) Unwrap() error { return e.Err }

// rateLimitAdvice is what a person can do about RateLimited.
const rateLimitAdvice = "If it keeps happening, spread the workers over several addresses (--proxy), give them a signed-in account's cookies (--cookies-file), or slow them down (--youtube-min-interval)"

// Private is the failure for a private video.
func Private(subject string, cause error) *failure.Error {
	return failure.Definitive(v1alpha1.ReasonLoginRequired, cause,
		"%s is private: YouTube requires the owner's permission; ytx cannot download private videos. Ask the owner to make it public or unlisted", subject)
}

// LoginRequired classifies YouTube's demand to sign in by its words:
//   - "Sign in to confirm you're not a bot": RateLimited. YouTube
//     suspects the address or client; waiting, another address or a
//     signed-in account's cookies mend it, so it is retried.
//   - an age restriction ("Sign in to confirm your age", "inappropriate
//     for some users"): LoginRequired, permanent; an adult account's
//     cookies may read it.
//   - private: LoginRequired, permanent, and no other client can help.
//   - words ytx does not know: LoginRequired, but retried like a passing
//     failure, as it may be a bot check in new words; YouTube's text is in
//     the message.
func LoginRequired(subject, reason string, cause error) *failure.Error {
	words := strings.ToLower(reason)
	quoted := truncateRunes(reason, 200)
	switch {
	case strings.Contains(words, "not a bot"):
		return failure.Retryable(v1alpha1.ReasonRateLimited, cause,
			"YouTube asked the worker to prove it is not a bot (%q) while reading %s; ytx waits and retries later. %s", quoted, subject, rateLimitAdvice)
	case strings.Contains(words, "private"):
		return Private(subject, cause)
	case strings.Contains(words, "confirm your age"), strings.Contains(words, "inappropriate for some users"), strings.Contains(words, "age-restricted"), strings.Contains(words, "age restricted"):
		return failure.Permanent(v1alpha1.ReasonLoginRequired, cause,
			"%s is age-restricted (YouTube says %q): only a signed-in adult account may watch it. Give the workers the cookies of an adult account (--cookies-file; see the README's section on cookies) to extract it", subject, quoted)
	}
	return failure.Retryable(v1alpha1.ReasonLoginRequired, cause,
		"YouTube wants a sign-in to read %s and says %q, words ytx does not know; ytx retries in case it is a passing check. If it persists, a signed-in account's cookies (--cookies-file) may help", subject, quoted)
}

func httpStatus(fail func(string, bool, string, ...any) *failure.Error, subject string, code int) *failure.Error {
	text := fmt.Sprintf("HTTP %d %s", code, http.StatusText(code))
	switch {
	case code == http.StatusForbidden:
		return fail(v1alpha1.ReasonForbidden, false,
			"YouTube refused access to %s (%s): stream URLs expire and are tied to the worker's address, and YouTube blocks some networks; ytx retries with fresh URLs. If it persists, the video may be region-locked or the worker's IP blocked", subject, text)
	case code == http.StatusNotFound, code == http.StatusGone:
		return fail(v1alpha1.ReasonVideoUnavailable, true,
			"YouTube does not have %s (%s): check the link", subject, text)
	case code == http.StatusTooManyRequests:
		return fail(v1alpha1.ReasonRateLimited, false,
			"YouTube is rate-limiting this worker (%s) while reading %s; ytx waits and retries later. %s", text, subject, rateLimitAdvice)
	case code >= 500:
		return fail(v1alpha1.ReasonDownloadFailed, false,
			"YouTube had a server error (%s) while reading %s; ytx retries", text, subject)
	}
	return fail(v1alpha1.ReasonDownloadFailed, false,
		"YouTube answered %s while reading %s; ytx retries. If it persists, YouTube may have changed its API", text, subject)
}
