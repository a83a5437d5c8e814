// Package failure is how every part of ytx says why an attempt failed: a
// stable reason code for the resource's status, whether another attempt may
// succeed, a message that tells a person what to do, and the error
// underneath. The parts that meet the outside world (youtube, download,
// media, storage, the worker's scratch disk) each classify their own
// failures here, at the place they happen, so that a full disk is never
// reported as YouTube's fault.
package failure

import (
	"errors"
	"fmt"
	"syscall"

	v1alpha1 "ytx.dev/ytx/api/v1alpha1"
)

// Error is one classified failure.
type Error struct {
	// Reason is one of the v1alpha1 reason codes (ReasonDownloadFailed,
	// ReasonStorageFailed, ...). It is what scripts match on.
	Reason string
	// Retryable failures end only the attempt: the controller tries again
	// while spec.retry.maxAttempts allows. The others end the extraction.
	Retryable bool
	// Message says what happened and what a person can do about it; it
	// goes into the Failed condition and status.lastFailure.
	Message string
	// Cause is the error that was classified, for logs and errors.Is.
	Cause error
	// Definitive marks YouTube's own answer about the video (private,
	// removed, never existed): no other client or resolver would get a
	// different one, so a resolver chain stops at it.
	Definitive bool
}

func (e *Error) Error() string {
	if e.Cause == nil {
		return e.Message
	}
	return e.Message + " (" + e.Cause.Error() + ")"
}

func (e *Error) Unwrap() error { return e.Cause }

// Permanent is a failure that no later attempt can mend: the video is
// private, the spec asks for what does not exist, a cap is passed.
func Permanent(reason string, cause error, format string, args ...any) *Error {
	return &Error{Reason: reason, Message: fmt.Sprintf(format, args...), Cause: cause}
}

// Definitive is Permanent for YouTube's own answer about the video itself
// (private, removed): no other resolver is tried.
func Definitive(reason string, cause error, format string, args ...any) *Error {
	e := Permanent(reason, cause, format, args...)
	e.Definitive = true
	return e
}

// Retryable is a failure that a later attempt may not meet: a network
// error, a server error, a store briefly down.
func Retryable(reason string, cause error, format string, args ...any) *Error {
	return &Error{Reason: reason, Retryable: true, Message: fmt.Sprintf(format, args...), Cause: cause}
}

// As returns the first *Error in err's chain.
func As(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}

// Scratch classifies a failure of the worker's own disk: making, writing or
// reading a file under --scratch-dir. It is retryable: another worker (or
// this one, once space frees) may well succeed.
func Scratch(op, path string, err error) *Error {
	why := ""
	switch {
	case errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EDQUOT):
		why = ": no space left"
	case errors.Is(err, syscall.EACCES), errors.Is(err, syscall.EPERM), errors.Is(err, syscall.EROFS):
		why = ": permission denied or read-only"
	}
	return Retryable(v1alpha1.ReasonScratchFailed, err,
		"%s %s on the worker's scratch disk failed%s; check the worker's --scratch-dir, its free space and permissions; ytx retries", op, path, why)
}

// Storage classifies a failure of the store that keeps the files (the
// directory or S3 bucket of --storage). It is retryable: stores come back.
func Storage(op, uri string, err error) *Error {
	return Retryable(v1alpha1.ReasonStorageFailed, err,
		"%s %s failed; check --storage and the store's health; ytx retries", op, uri)
}
