package workers

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	v1alpha1 "ytx.dev/ytx/api/v1alpha1"
	"ytx.dev/ytx/internal/job"
	"ytx.dev/ytx/internal/status"
)

// errLostClaim means the attempt is no longer this worker's: the resource was
// deleted or changed, or the controller gave the attempt to another worker.
var errLostClaim = errors.New("the attempt is no longer this worker's")

// apiBackoff paces retries of API calls that failed for reasons that pass
// (server restarting, timeouts, throttling). It never gives up on its own;
// the context bounds it (see retryAPI).
var apiBackoff = wait.Backoff{Duration: 200 * time.Millisecond, Factor: 2, Jitter: 0.2, Cap: 15 * time.Second, Steps: 1 << 30}

// retryAPI calls f until it reports done or fails, waiting apiBackoff
// between calls, until ctx ends. wait.ExponentialBackoffWithContext would
// give up with ErrWaitTimeout as soon as the backoff reaches its cap
// (Backoff.Step sets Steps to zero there), after about 25 s; here the
// wait stays at the cap instead.
func retryAPI(ctx context.Context, f func(context.Context) (bool, error)) error {
	b := apiBackoff
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		if done, err := f(ctx); err != nil || done {
			return err
		}
		t := time.NewTimer(b.Step())
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// dropReason says why message m does not lead to work on x, or "" when it
// does. Every reason is a normal event of at-least-once delivery, not an
// error: a duplicate, or a message for a resource that moved on.
func dropReason(x *v1alpha1.YouTubeExtraction, m job.Message) string {
	switch {
	case x.UID != m.UID:
		return "the resource was deleted and created again"
	case !x.DeletionTimestamp.IsZero():
		return "the resource is being deleted"
	case x.Generation != m.Generation || x.Status.ObservedGeneration != m.Generation:
		return fmt.Sprintf("superseded by generation %d", x.Generation)
	case x.Status.Attempts != m.Attempt:
		return fmt.Sprintf("superseded by attempt %d", x.Status.Attempts)
	case x.Status.Phase != v1alpha1.PhasePending && x.Status.Phase != v1alpha1.PhaseQueued:
		return fmt.Sprintf("attempt %d is already %s", m.Attempt, x.Status.Phase)
	case status.AttemptEnded(x):
		return fmt.Sprintf("attempt %d already ended", m.Attempt)
	case status.Waiting(x):
		// A duplicate of a message from before the attempt went back to
		// Pending: the controller publishes it again once its namespace
		// has a slot, and running it now would break the cap.
		return fmt.Sprintf("attempt %d waits for a slot of its namespace", m.Attempt)
	}
	return ""
}

// owns reports whether x is still in the attempt that this worker claimed.
func (w *Worker) owns(x *v1alpha1.YouTubeExtraction, m job.Message) bool {
	return x.UID == m.UID && x.DeletionTimestamp.IsZero() &&
		x.Generation == m.Generation && x.Status.Attempts == m.Attempt &&
		x.Status.Phase == v1alpha1.PhaseRunning && x.Status.Worker == w.opts.Name
}

// claim is this worker's hold on one attempt. Every status write of the
// attempt goes through it and carries the resourceVersion last seen, so a
// write can never overwrite a newer attempt or another worker's claim.
type claim struct {
	w   *Worker
	msg job.Message
	mu  sync.Mutex
	obj *v1alpha1.YouTubeExtraction
	// confirmed is when the API server last showed the attempt to be
	// ours: a write of ours that carried the resourceVersion, or a read.
	confirmed time.Time
}

// fenceFresh is how long a confirmation of the claim stands in for a fresh
// read before a storage write. Losing the attempt to a timeout takes the
// controller's heartbeat timeout (minutes) after our last write, so within
// a second of one the attempt is still ours unless the resource was deleted
// or changed in that second; the finalizer cleans twice for the first case
// and the next generation's worker prunes for the second.
const fenceFresh = time.Second

// fresh reports whether the claim was confirmed within fenceFresh.
func (c *claim) fresh() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.w.clock.Since(c.confirmed) < fenceFresh
}

// confirm records that the attempt was seen to be ours just now.
func (c *claim) confirm() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.confirmed = c.w.clock.Now()
}

// claim takes attempt m for this worker, or returns a reason to drop it. A
// duplicate message loses here: either its read already shows Running, or its
// update conflicts and the re-read does.
func (w *Worker) claim(ctx context.Context, m job.Message) (c *claim, drop string, err error) {
	err = retryAPI(ctx, func(ctx context.Context) (bool, error) {
		var x v1alpha1.YouTubeExtraction
		if err := w.reader.Get(ctx, m.NamespacedName(), &x); err != nil {
			if apierrors.IsNotFound(err) {
				drop = "the resource was deleted"
				return true, nil
			}
			w.log.V(1).Info("reading the resource to claim it", KeyJob, m.String(), "error", err.Error())
			return false, nil
		}
		if drop = dropReason(&x, m); drop != "" {
			return true, nil
		}
		status.Claimed(&x, w.opts.Name, metav1.NewTime(w.clock.Now()))
		if err := w.client.Status().Update(ctx, &x); err != nil {
			// A conflict re-reads and decides again; anything else waits.
			w.log.V(1).Info("claiming", KeyJob, m.String(), "error", err.Error())
			return false, nil
		}
		c = &claim{w: w, msg: m, obj: &x, confirmed: w.clock.Now()}
		return true, nil
	})
	return c, drop, err
}

// update applies mutate to the latest copy of the resource and writes it. On
// a conflict it re-reads; when the attempt is no longer ours it returns
// errLostClaim. Other API errors are returned for the caller to retry.
func (c *claim) update(ctx context.Context, mutate func(*v1alpha1.YouTubeExtraction)) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for {
		x := c.obj.DeepCopy()
		mutate(x)
		err := c.w.client.Status().Update(ctx, x)
		if err == nil {
			c.obj, c.confirmed = x, c.w.clock.Now()
			return nil
		}
		if apierrors.IsNotFound(err) {
			return errLostClaim
		}
		if !apierrors.IsConflict(err) {
			return err
		}
		var fresh v1alpha1.YouTubeExtraction
		if err := c.w.reader.Get(ctx, c.msg.NamespacedName(), &fresh); err != nil {
			if apierrors.IsNotFound(err) {
				return errLostClaim
			}
			return err
		}
		if !c.w.owns(&fresh, c.msg) {
			return errLostClaim
		}
		c.obj = &fresh
	}
}

// finish writes the end of the attempt, retrying API errors until ctx ends.
func (c *claim) finish(ctx context.Context, mutate func(*v1alpha1.YouTubeExtraction)) error {
	var last error
	err := retryAPI(ctx, func(ctx context.Context) (bool, error) {
		last = c.update(ctx, mutate)
		if errors.Is(last, errLostClaim) {
			return false, last
		}
		return last == nil, nil
	})
	if err != nil && last != nil {
		return last
	}
	return err
}

// object is the latest copy of the resource written or read by this claim.
func (c *claim) object() *v1alpha1.YouTubeExtraction {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.obj.DeepCopy()
}
