package youtube

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"

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
//   - age restriction (ErrLoginRequired, or ErrNotPlayableInEmbed, which
//     kkdai returns wrapped in "can't bypass age restriction" when its
//     embedded-player fallback is refused): LoginRequired, permanent. ytx
//     does not sign in.
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
//   - HTTP 429 and 5xx, other statuses, network errors, unexpected answers
//     from YouTube (ErrTooLongAnswer, too many redirects): DownloadFailed,
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
	)
	switch {
	case errors.Is(err, kkdai.ErrVideoPrivate):
		return fail(v1alpha1.ReasonLoginRequired, true,
			"%s is private: YouTube requires the owner's permission; ytx cannot download private videos. Ask the owner to make it public or unlisted", subject)
	case errors.Is(err, kkdai.ErrLoginRequired), errors.Is(err, kkdai.ErrNotPlayableInEmbed):
		return fail(v1alpha1.ReasonLoginRequired, true,
			"%s is age-restricted: YouTube requires a signed-in adult account, and ytx does not sign in, so it cannot download this video", subject)
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
	return fail(v1alpha1.ReasonVideoUnavailable, true,
		"%s is unavailable: YouTube says %q (status %s). Check the link; the video may have been removed, or be blocked in the worker's region", subject, reason, status)
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
		return fail(v1alpha1.ReasonDownloadFailed, false,
			"YouTube is rate-limiting this worker (%s) while reading %s; ytx retries later. Lower the workers' concurrency if it keeps happening", text, subject)
	case code >= 500:
		return fail(v1alpha1.ReasonDownloadFailed, false,
			"YouTube had a server error (%s) while reading %s; ytx retries", text, subject)
	}
	return fail(v1alpha1.ReasonDownloadFailed, false,
		"YouTube answered %s while reading %s; ytx retries. If it persists, YouTube may have changed its API", text, subject)
}
