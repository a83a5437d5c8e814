package youtube

import (
	"net/url"
	"regexp"
	"strings"
)

// RedactURL returns what logs, events and error messages may show of a URL
// that came from YouTube: its scheme, host and path, without the query, the
// fragment or user info. googlevideo.com's media URLs are signed: their query
// carries the signature and the keys that let anyone fetch the stream from
// the worker's address (sig, signature, lsig, n, ...); the innertube API's
// carries a key; thumbnails carry signed sqp and rs parameters. A dropped
// query is marked with "?…" so that a reader knows there was one.
//
// It works on text, so a URL that does not parse is redacted too.
func RedactURL(raw string) string {
	cut := strings.IndexAny(raw, "?#")
	rest := ""
	if cut >= 0 {
		raw, rest = raw[:cut], "?…"
	}
	// User info sits between "//" and the first "/" after it.
	if i := strings.Index(raw, "//"); i >= 0 {
		auth := raw[i+2:]
		end := strings.IndexByte(auth, '/')
		if end < 0 {
			end = len(auth)
		}
		if at := strings.LastIndexByte(auth[:end], '@'); at >= 0 {
			raw = raw[:i+2] + auth[at+1:]
		}
	}
	return raw + rest
}

// RedactError rewrites, in place, the URL of every *url.Error in err's
// chain with RedactURL, and returns err. net/http puts the whole request URL
// into the errors of Client.Do ("Get \"https://...&sig=...\": EOF"), and
// these travel into *Error.Err, logs and test output. Call it on every error
// that a request to YouTube returned, before it goes anywhere.
func RedactError(err error) error {
	redactChain(err, 0)
	return err
}

func redactChain(err error, depth int) {
	if err == nil || depth > 64 {
		return
	}
	if ue, ok := err.(*url.Error); ok {
		ue.URL = RedactURL(ue.URL)
	}
	switch u := err.(type) {
	case interface{ Unwrap() []error }:
		for _, e := range u.Unwrap() {
			redactChain(e, depth+1)
		}
	case interface{ Unwrap() error }:
		redactChain(u.Unwrap(), depth+1)
	}
}

// urlInText finds URLs in free text (a program's error output).
var urlInText = regexp.MustCompile(`[A-Za-z][A-Za-z0-9+.-]*://[^\s"'<>]+`)

// RedactText applies RedactURL to every URL in s: yt-dlp's error lines
// and Python tracebacks may quote a signed media URL or a proxy's
// credentials.
func RedactText(s string) string {
	return urlInText.ReplaceAllStringFunc(s, RedactURL)
}
