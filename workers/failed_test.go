package workers

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"syscall"
	"testing"

	kkdai "github.com/kkdai/youtube/v2"

	v1alpha1 "ytx.dev/ytx/api/v1alpha1"
	"ytx.dev/ytx/internal/failure"
	"ytx.dev/ytx/internal/storage"
)

// Each failure keeps the reason its part gave it; what reaches the worker
// unclassified is classified as what it is, never as YouTube's fault when
// it is the worker's own disk.
func TestFailedClassifiesEachKindOfError(t *testing.T) {
	for _, tc := range []struct {
		name      string
		err       error
		reason    string
		retryable bool
	}{
		{"a classified failure keeps its reason", fmt.Errorf("audio: %w", failure.Permanent(v1alpha1.ReasonFormatUnavailable, nil, "no opus")), v1alpha1.ReasonFormatUnavailable, false},
		{"a full scratch disk is ScratchFailed", &fs.PathError{Op: "open", Path: "/tmp/ytx-job-1/x", Err: syscall.ENOSPC}, v1alpha1.ReasonScratchFailed, true},
		{"a file over the cap is ArtifactTooLarge", fmt.Errorf("put: %w", storage.ErrTooLarge), v1alpha1.ReasonArtifactTooLarge, false},
		{"a private video is LoginRequired", kkdai.ErrVideoPrivate, v1alpha1.ReasonLoginRequired, false},
		{"a deadline is Timeout", context.DeadlineExceeded, v1alpha1.ReasonTimeout, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := failed(tc.err)
			if o.lost || o.err == nil {
				t.Fatalf("outcome %+v, want a failure", o)
			}
			if o.err.Reason != tc.reason || o.err.Retryable != tc.retryable {
				t.Errorf("reason %s retryable %v, want %s retryable %v (%s)", o.err.Reason, o.err.Retryable, tc.reason, tc.retryable, o.err.Message)
			}
		})
	}
}

func TestFailedOnALostClaimWritesNothing(t *testing.T) {
	if o := failed(fmt.Errorf("store: %w", errLostClaim)); !o.lost || o.err != nil {
		t.Errorf("outcome %+v, want lost", o)
	}
	if o := failed(errors.Join(errors.New("x"), errLostClaim)); !o.lost {
		t.Errorf("outcome %+v, want lost", o)
	}
}
