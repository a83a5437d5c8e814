package failure_test

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"syscall"
	"testing"

	v1alpha1 "ytx.dev/ytx/api/v1alpha1"
	"ytx.dev/ytx/internal/failure"
)

func TestPermanentIsNotRetryable(t *testing.T) {
	e := failure.Permanent(v1alpha1.ReasonFormatUnavailable, nil, "no %s stream", "opus")
	if e.Retryable || e.Reason != v1alpha1.ReasonFormatUnavailable || e.Message != "no opus stream" {
		t.Errorf("got %+v", e)
	}
}

func TestRetryableIsRetryable(t *testing.T) {
	cause := errors.New("boom")
	e := failure.Retryable(v1alpha1.ReasonDownloadFailed, cause, "try again")
	if !e.Retryable || !errors.Is(e, cause) {
		t.Errorf("got %+v, want retryable and wrapping its cause", e)
	}
	if e.Error() != "try again (boom)" {
		t.Errorf("Error() = %q", e.Error())
	}
}

func TestAsFindsAFailureWrappedByOtherErrors(t *testing.T) {
	inner := failure.Permanent(v1alpha1.ReasonLoginRequired, nil, "private")
	got, ok := failure.As(fmt.Errorf("step: %w", inner))
	if !ok || got != inner {
		t.Fatalf("As = %v, %v", got, ok)
	}
	if _, ok := failure.As(errors.New("plain")); ok {
		t.Error("As found a failure in a plain error")
	}
}

// A full disk, a read-only volume or a missing directory on the worker is
// the worker's scratch disk failing, not YouTube: the reason says so, the
// message names --scratch-dir and the path, and it is retried.
func TestScratchFailuresNameTheWorkersDisk(t *testing.T) {
	for _, tc := range []struct {
		errno syscall.Errno
		says  string
	}{
		{syscall.ENOSPC, "no space left"},
		{syscall.EDQUOT, "no space left"},
		{syscall.EROFS, "read-only"},
		{syscall.EACCES, "permission denied"},
		{syscall.ENOENT, "--scratch-dir"},
	} {
		err := &fs.PathError{Op: "write", Path: "/scratch/ytx-job-1/audio.source", Err: tc.errno}
		e := failure.Scratch("writing the download", err.Path, err)
		if e.Reason != v1alpha1.ReasonScratchFailed || !e.Retryable {
			t.Errorf("%v: reason %s retryable %v, want ScratchFailed, retryable", tc.errno, e.Reason, e.Retryable)
		}
		for _, want := range []string{tc.says, "--scratch-dir", err.Path} {
			if !strings.Contains(e.Message, want) {
				t.Errorf("%v: message %q does not say %q", tc.errno, e.Message, want)
			}
		}
		if strings.Contains(e.Message, "YouTube") {
			t.Errorf("%v: message %q blames YouTube for the worker's disk", tc.errno, e.Message)
		}
		if !errors.Is(e, tc.errno) {
			t.Errorf("%v: the cause is lost", tc.errno)
		}
	}
}

func TestStorageFailuresNameTheStore(t *testing.T) {
	e := failure.Storage("storing", "s3://media/ns/x/info.json", errors.New("connection refused"))
	if e.Reason != v1alpha1.ReasonStorageFailed || !e.Retryable || !strings.Contains(e.Message, "s3://media/ns/x/info.json") || !strings.Contains(e.Message, "--storage") {
		t.Errorf("got %+v", e)
	}
}
