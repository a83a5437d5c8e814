// Package status holds the transitions of a YouTubeExtraction's status that
// both the controller and the workers make, so that each phase always comes
// with the same conditions whoever writes it.
package status

import (
	"fmt"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1alpha1 "ytx.dev/ytx/api/v1alpha1"
)

// set records one condition for the observed generation.
func set(x *v1alpha1.YouTubeExtraction, typ string, s metav1.ConditionStatus, reason, msg string) (changed bool) {
	return meta.SetStatusCondition(&x.Status.Conditions, metav1.Condition{
		Type: typ, Status: s, Reason: reason, Message: msg, ObservedGeneration: x.Generation,
	})
}

// StartGeneration resets the status for a new spec generation and makes
// attempt 1 the current one. The caller then queues it, or makes it wait.
func StartGeneration(x *v1alpha1.YouTubeExtraction, videoID string) {
	x.Status = v1alpha1.YouTubeExtractionStatus{
		ObservedGeneration: x.Generation,
		VideoID:            videoID,
		Conditions:         x.Status.Conditions,
	}
	meta.RemoveStatusCondition(&x.Status.Conditions, v1alpha1.ConditionComplete)
	meta.RemoveStatusCondition(&x.Status.Conditions, v1alpha1.ConditionFailed)
	meta.RemoveStatusCondition(&x.Status.Conditions, v1alpha1.ConditionRunning)
	NextAttempt(x, 1)
}

// NextAttempt makes attempt n the current one. It leaves the phase empty:
// the controller follows with Queued (written before it publishes the job,
// see controllers) or Wait, and never writes a status without a phase.
func NextAttempt(x *v1alpha1.YouTubeExtraction, n int32) {
	x.Status.Phase = ""
	x.Status.Attempts = n
	x.Status.Worker = ""
	x.Status.Progress = nil
	x.Status.StartTime = nil
	x.Status.LastHeartbeatTime = nil
}

// Queued records that the job of the current attempt is on the queue.
func Queued(x *v1alpha1.YouTubeExtraction, msg string) {
	x.Status.Phase = v1alpha1.PhaseQueued
	set(x, v1alpha1.ConditionQueued, metav1.ConditionTrue, v1alpha1.ReasonPublished, msg)
}

// PublishFailed makes the resource Pending with a condition that says why.
// It reports whether the status changed, so that a broker outage does not
// rewrite the same condition on every retry.
func PublishFailed(x *v1alpha1.YouTubeExtraction, msg string) (changed bool) {
	changed = x.Status.Phase != v1alpha1.PhasePending
	x.Status.Phase = v1alpha1.PhasePending
	return set(x, v1alpha1.ConditionQueued, metav1.ConditionFalse, v1alpha1.ReasonPublishFailed, msg) || changed
}

// Wait makes the current attempt wait, Pending, for a free slot of its
// namespace (the controller's per-namespace cap on jobs in flight). It
// reports whether the status changed, so that a resource that checks again
// and still finds no slot is not rewritten each time.
func Wait(x *v1alpha1.YouTubeExtraction, msg string) (changed bool) {
	changed = x.Status.Phase != v1alpha1.PhasePending
	x.Status.Phase = v1alpha1.PhasePending
	return set(x, v1alpha1.ConditionQueued, metav1.ConditionFalse, v1alpha1.ReasonNamespaceBusy, msg) || changed
}

// Waiting reports whether the current attempt waits for a slot of its
// namespace. It has not been published: the controller writes it Queued
// before publishing once it has a slot.
func Waiting(x *v1alpha1.YouTubeExtraction) bool {
	c := meta.FindStatusCondition(x.Status.Conditions, v1alpha1.ConditionQueued)
	return x.Status.Phase == v1alpha1.PhasePending && c != nil &&
		c.Status == metav1.ConditionFalse && c.Reason == v1alpha1.ReasonNamespaceBusy
}

// Claimed records that worker runs the current attempt from now.
func Claimed(x *v1alpha1.YouTubeExtraction, worker string, now metav1.Time) {
	x.Status.Phase = v1alpha1.PhaseRunning
	x.Status.Worker = worker
	x.Status.StartTime = &now
	x.Status.LastHeartbeatTime = &now
	x.Status.Progress = nil
	set(x, v1alpha1.ConditionQueued, metav1.ConditionFalse, v1alpha1.ReasonClaimed, "claimed by "+worker)
	set(x, v1alpha1.ConditionRunning, metav1.ConditionTrue, v1alpha1.ReasonClaimed, fmt.Sprintf("attempt %d running on %s", x.Status.Attempts, worker))
}

// Succeeded ends the extraction well.
func Succeeded(x *v1alpha1.YouTubeExtraction, msg string, now metav1.Time) {
	x.Status.Phase = v1alpha1.PhaseSucceeded
	x.Status.CompletionTime = &now
	x.Status.LastHeartbeatTime = &now
	// Done is 100%, also for an extraction that had no bytes to move.
	if x.Status.Progress == nil {
		x.Status.Progress = &v1alpha1.Progress{}
	}
	x.Status.Progress.Percent = 100
	set(x, v1alpha1.ConditionRunning, metav1.ConditionFalse, v1alpha1.ReasonSucceeded, msg)
	set(x, v1alpha1.ConditionComplete, metav1.ConditionTrue, v1alpha1.ReasonSucceeded, msg)
	meta.RemoveStatusCondition(&x.Status.Conditions, v1alpha1.ConditionFailed)
}

// Failed ends the extraction for good with a reason code. lastFailure
// keeps how the current attempt failed when that is already recorded (the
// controller gives up after a transient failure: AttemptsExhausted must
// not hide the DownloadFailed that a person needs to read).
func Failed(x *v1alpha1.YouTubeExtraction, reason, msg string, now metav1.Time) {
	x.Status.Phase = v1alpha1.PhaseFailed
	x.Status.CompletionTime = &now
	if f := x.Status.LastFailure; x.Status.Attempts > 0 && (f == nil || f.Attempt != x.Status.Attempts) {
		x.Status.LastFailure = &v1alpha1.AttemptFailure{Attempt: x.Status.Attempts, Reason: reason, Message: msg, Time: now}
	}
	set(x, v1alpha1.ConditionQueued, metav1.ConditionFalse, reason, msg)
	set(x, v1alpha1.ConditionRunning, metav1.ConditionFalse, reason, msg)
	set(x, v1alpha1.ConditionFailed, metav1.ConditionTrue, reason, msg)
	meta.RemoveStatusCondition(&x.Status.Conditions, v1alpha1.ConditionComplete)
}

// AttemptFailed ends the current attempt with a transient failure: the
// resource goes back to Pending and the controller decides whether and when
// to retry.
//
// An attempt that YouTube rate-limited (RateLimited) is counted apart, in
// rateLimitedAttempts, from the first such one's time: it does not spend
// spec.retry.maxAttempts, as nothing was wrong with the extraction.
func AttemptFailed(x *v1alpha1.YouTubeExtraction, reason, msg string, now metav1.Time) {
	x.Status.Phase = v1alpha1.PhasePending
	x.Status.LastFailure = &v1alpha1.AttemptFailure{Attempt: x.Status.Attempts, Reason: reason, Message: msg, Time: now}
	if reason == v1alpha1.ReasonRateLimited {
		x.Status.RateLimitedAttempts++
		if x.Status.RateLimitedSince == nil {
			x.Status.RateLimitedSince = &now
		}
	}
	set(x, v1alpha1.ConditionRunning, metav1.ConditionFalse, reason, msg)
	set(x, v1alpha1.ConditionQueued, metav1.ConditionFalse, v1alpha1.ReasonRetrying, fmt.Sprintf("attempt %d failed: %s", x.Status.Attempts, msg))
}

// SpentAttempts is the number of attempts that count against
// spec.retry.maxAttempts: all but the rate-limited ones.
func SpentAttempts(x *v1alpha1.YouTubeExtraction) int32 {
	return x.Status.Attempts - x.Status.RateLimitedAttempts
}

// HandedBack returns the current attempt to the queue without counting it
// as failed: a worker told to stop gives back what it cannot finish, and the
// controller publishes the same attempt again.
func HandedBack(x *v1alpha1.YouTubeExtraction, worker string) {
	x.Status.Phase = v1alpha1.PhasePending
	x.Status.Worker = ""
	x.Status.Progress = nil
	x.Status.StartTime = nil
	x.Status.LastHeartbeatTime = nil
	msg := fmt.Sprintf("worker %s stopped before finishing attempt %d; it will be queued again", worker, x.Status.Attempts)
	set(x, v1alpha1.ConditionRunning, metav1.ConditionFalse, v1alpha1.ReasonHandedBack, msg)
	set(x, v1alpha1.ConditionQueued, metav1.ConditionFalse, v1alpha1.ReasonHandedBack, msg)
}

// AttemptEnded reports whether the current attempt ended with a transient
// failure and awaits the controller's retry decision.
func AttemptEnded(x *v1alpha1.YouTubeExtraction) bool {
	f := x.Status.LastFailure
	return x.Status.Phase == v1alpha1.PhasePending && f != nil && f.Attempt == x.Status.Attempts
}

// Is reports whether condition typ is true.
func Is(x *v1alpha1.YouTubeExtraction, typ string) bool {
	return meta.IsStatusConditionTrue(x.Status.Conditions, typ)
}
