package youtube

import (
	"context"
	"net/http"
	"regexp"
	"strconv"
	"sync"

	kkdai "github.com/kkdai/youtube/v2"

	"ytx.dev/ytx/api/v1alpha1"
	"ytx.dev/ytx/internal/failure"
)

// Client reads videos with kkdai/youtube. It is safe for concurrent use.
type Client struct {
	// HTTPClient carries every request; nil means NewHTTPClient(HTTPOptions{}).
	HTTPClient *http.Client
}

// NewClient returns a Client that sends its requests through hc.
func NewClient(hc *http.Client) *Client { return &Client{HTTPClient: hc} }

// kkdaiClient makes a kkdai client for one call. A kkdai.Client must not be
// shared: it is not safe for concurrent use, caches the visitor ID and player
// script without locks, and after one LOGIN_REQUIRED answer it switches
// itself to the embedded player for good, which would change how every later
// video is read. A fresh one costs one request for the home page.
func (c *Client) kkdaiClient() *kkdai.Client {
	hc := c.HTTPClient
	if hc == nil {
		hc = defaultHTTPClient()
	}
	return &kkdai.Client{HTTPClient: hc}
}

// defaultHTTPClient is shared by Clients without an HTTPClient, so that they
// share its connection pool.
var defaultHTTPClient = sync.OnceValue(func() *http.Client { return NewHTTPClient(HTTPOptions{}) })

var validID = regexp.MustCompile(`^[A-Za-z0-9_-]{11}$`)

// Video reads a video's metadata and formats. Errors are *failure.Error.
//
// ctx bounds the player API call and the watch page; kkdai fetches the home
// page (for a visitor ID) without a context, so that one request is bounded
// only by the transport's timeouts.
func (c *Client) Video(ctx context.Context, videoID string) (*kkdai.Video, error) {
	if !validID.MatchString(videoID) {
		return nil, failure.Permanent(v1alpha1.ReasonInvalidURL, nil,
			"the video ID %s is not 11 characters of A-Z, a-z, 0-9, _ and -; use a link such as https://www.youtube.com/watch?v=VIDEO_ID", quoteShort(videoID))
	}
	kc := c.kkdaiClient()
	watch := &playerWatch{next: kc.HTTPClient.Transport}
	hc := *kc.HTTPClient
	hc.Transport = watch
	kc.HTTPClient = &hc
	v, err := kc.GetVideoContext(ctx, videoID)
	if err != nil {
		if reason, ok := watch.loginReason(); ok {
			err = &LoginError{Reason: reason, Err: err}
		}
		// kkdai returns a partly filled Video with some errors; callers
		// must not mistake it for a result.
		return nil, classify(videoID, err)
	}
	return v, nil
}

// StreamURL resolves the URL of one format of v, for a downloader that
// fetches it with Range requests through the same HTTP client. kkdai loads the
// embed page and player script to do so.
func (c *Client) StreamURL(ctx context.Context, v *kkdai.Video, f *kkdai.Format) (string, error) {
	u, err := c.kkdaiClient().GetStreamURLContext(ctx, v, f)
	if err != nil {
		return "", classify(v.ID, err)
	}
	return u, nil
}

func quoteShort(s string) string { return strconv.Quote(truncateRunes(s, 40)) }
