package workers

import (
	"context"
	"errors"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1alpha1 "ytx.dev/ytx/api/v1alpha1"
)

// heartbeat writes progress and lastHeartbeatTime while t runs: at most once
// per StatusInterval, and at least once per HeartbeatInterval so that the
// controller knows the worker lives. When the attempt turns out to be no
// longer ours it cancels the job with errLostClaim. stop waits for the loop
// to end, so that no heartbeat races the final write.
func (w *Worker) heartbeat(ctx context.Context, cancel context.CancelCauseFunc, t *task) (stop func()) {
	done, finished := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(finished)
		tick := w.clock.NewTicker(w.opts.StatusInterval)
		defer tick.Stop()
		last, lastProgress := w.clock.Now(), t.progress()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-tick.C():
			}
			p := t.progress()
			if p == lastProgress && w.clock.Since(last) < w.opts.HeartbeatInterval {
				// Nothing to write, but look: a resource deleted or
				// superseded meanwhile must stop the job now, so that
				// no file lands after the finalizer cleaned up.
				if w.stillOurs(ctx, t) {
					continue
				}
				cancel(errLostClaim)
				return
			}
			err := t.claim.update(ctx, func(x *v1alpha1.YouTubeExtraction) {
				now := metav1.NewTime(w.clock.Now())
				x.Status.LastHeartbeatTime = &now
				x.Status.Progress = &p
			})
			switch {
			case errors.Is(err, errLostClaim):
				cancel(errLostClaim)
				return
			case err != nil:
				w.log.Info("heartbeat failed; will try again", KeyJob, t.claim.msg.String(), "error", err.Error())
			default:
				last, lastProgress = w.clock.Now(), p
			}
		}
	}()
	return func() {
		close(done)
		<-finished
	}
}

// stillOurs reads the resource and reports whether the attempt is still
// this worker's. A failed read says yes: the next write will tell.
func (w *Worker) stillOurs(ctx context.Context, t *task) bool {
	var x v1alpha1.YouTubeExtraction
	err := w.reader.Get(ctx, t.claim.msg.NamespacedName(), &x)
	switch {
	case apierrors.IsNotFound(err):
		return false
	case err != nil:
		return true
	}
	if !w.owns(&x, t.claim.msg) {
		return false
	}
	t.claim.confirm()
	return true
}
