package youtube_test

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"syscall"
	"testing"

	kkdai "github.com/kkdai/youtube/v2"

	"ytx.dev/ytx/api/v1alpha1"
	"ytx.dev/ytx/internal/failure"
	"ytx.dev/ytx/internal/youtube"
)

// The end-to-end tests drive the common errors through kkdai and the fake;
// this table covers the rest of the mapping, including shapes the fake cannot
// produce (network failures, certificate errors).
func TestClassify(t *testing.T) {
	if youtube.Classify(nil) != nil {
		t.Error("Classify(nil) is not nil")
	}
	already := &failure.Error{Reason: v1alpha1.ReasonForbidden, Message: "kept"}
	if got := youtube.Classify(fmt.Errorf("wrapped: %w", already)); got != already {
		t.Errorf("an *Error in the chain was not kept: %+v", got)
	}

	for _, tc := range []struct {
		name      string
		err       error
		reason    string
		permanent bool
	}{
		{"private", kkdai.ErrVideoPrivate, v1alpha1.ReasonLoginRequired, true},
		{"age", fmt.Errorf("can't bypass age restriction: %w", kkdai.ErrLoginRequired), v1alpha1.ReasonLoginRequired, true},
		{"age, embedding off", fmt.Errorf("can't bypass age restriction: %w", kkdai.ErrNotPlayableInEmbed), v1alpha1.ReasonLoginRequired, true},
		{"playability pointer", &kkdai.ErrPlayabiltyStatus{Status: "UNPLAYABLE", Reason: "Video unavailable"}, v1alpha1.ReasonVideoUnavailable, true},
		{"playability value", kkdai.ErrPlayabiltyStatus{Status: "ERROR", Reason: "gone"}, v1alpha1.ReasonVideoUnavailable, true},
		{"403", kkdai.ErrUnexpectedStatusCode(403), v1alpha1.ReasonForbidden, false},
		{"404", kkdai.ErrUnexpectedStatusCode(404), v1alpha1.ReasonVideoUnavailable, true},
		{"410", kkdai.ErrUnexpectedStatusCode(410), v1alpha1.ReasonVideoUnavailable, true},
		{"429", kkdai.ErrUnexpectedStatusCode(429), v1alpha1.ReasonRateLimited, false},
		{"502", kkdai.ErrUnexpectedStatusCode(502), v1alpha1.ReasonDownloadFailed, false},
		{"400", kkdai.ErrUnexpectedStatusCode(400), v1alpha1.ReasonDownloadFailed, false},
		{"short ID", fmt.Errorf("extractVideoID failed: %w", kkdai.ErrVideoIDMinLength), v1alpha1.ReasonInvalidURL, true},
		{"bad characters", kkdai.ErrInvalidCharactersInVideoID, v1alpha1.ReasonInvalidURL, true},
		{"deadline", &url.Error{Op: "Post", URL: "https://www.youtube.com/youtubei/v1/player", Err: context.DeadlineExceeded}, v1alpha1.ReasonTimeout, false},
		{"net timeout", &net.OpError{Op: "dial", Net: "tcp", Err: timeoutErr{}}, v1alpha1.ReasonTimeout, false},
		{"cancelled", context.Canceled, v1alpha1.ReasonDownloadFailed, false},
		{"refused", &url.Error{Op: "Get", URL: "https://www.youtube.com", Err: &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}}, v1alpha1.ReasonDownloadFailed, false},
		{"untrusted certificate", &url.Error{Op: "Get", URL: "https://www.youtube.com", Err: x509.UnknownAuthorityError{}}, v1alpha1.ReasonDownloadFailed, false},
		{"short chunk", errors.New("chunk at offset 0 has invalid size: expected=10 actual=5"), v1alpha1.ReasonDownloadFailed, false},
	} {
		e := youtube.Classify(tc.err)
		if e == nil || e.Reason != tc.reason || e.Retryable == tc.permanent {
			t.Errorf("%s: %+v, want %s permanent=%v", tc.name, e, tc.reason, tc.permanent)
			continue
		}
		if !errors.Is(e, tc.err) && !errors.Is(e, errors.Unwrap(tc.err)) {
			t.Errorf("%s: the classified error does not wrap the original", tc.name)
		}
		if e.Message == "" || !strings.Contains(e.Error(), e.Message) {
			t.Errorf("%s: message %q, Error() %q", tc.name, e.Message, e.Error())
		}
	}
}

func TestClassifyNamesYouTubesReason(t *testing.T) {
	e := youtube.Classify(&kkdai.ErrPlayabiltyStatus{Status: "ERROR", Reason: "This video has been removed by the uploader"})
	if !strings.Contains(e.Message, "This video has been removed by the uploader") {
		t.Errorf("message %q hides YouTube's reason", e.Message)
	}
}

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

// YouTube's sign-in demands are told apart by their words.
func TestLoginRequiredByYouTubesWords(t *testing.T) {
	for _, tc := range []struct {
		reason     string
		want       string
		retryable  bool
		definitive bool
		says       string
	}{
		{"Sign in to confirm you’re not a bot", v1alpha1.ReasonRateLimited, true, false, "--proxy"},
		{"Sign in to confirm you're not a bot. This helps protect our community.", v1alpha1.ReasonRateLimited, true, false, "not a bot"},
		{"Sign in to confirm your age", v1alpha1.ReasonLoginRequired, false, false, "--cookies-file"},
		{"This video may be inappropriate for some users.", v1alpha1.ReasonLoginRequired, false, false, "adult"},
		{"This video is private", v1alpha1.ReasonLoginRequired, false, true, "private"},
		{"Please sign in to continue watching on this device", v1alpha1.ReasonLoginRequired, true, false, "Please sign in to continue"},
	} {
		f := youtube.LoginRequired("video x", tc.reason, nil)
		if f.Reason != tc.want || f.Retryable != tc.retryable || f.Definitive != tc.definitive || !strings.Contains(f.Message, tc.says) {
			t.Errorf("%q: %s retryable=%v definitive=%v %q", tc.reason, f.Reason, f.Retryable, f.Definitive, f.Message)
		}
	}
}
