package workers

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	v1alpha1 "ytx.dev/ytx/api/v1alpha1"
	"ytx.dev/ytx/internal/job"
	"ytx.dev/ytx/internal/status"
)

// Release hands back a job that this worker took but will not run (it is
// stopping, and its transport kept the job in memory): the attempt goes
// back to Pending, and the controller sends it again at once, without
// counting it. A job that is no longer queued (claimed by another worker,
// superseded, deleted) is left alone. Release gives up when ctx ends; the
// controller's queued timeout then sends the job again.
func (w *Worker) Release(ctx context.Context, m job.Message) {
	log := w.log.WithValues(KeyJob, m.String())
	err := retryAPI(ctx, func(ctx context.Context) (bool, error) {
		var x v1alpha1.YouTubeExtraction
		if err := w.reader.Get(ctx, m.NamespacedName(), &x); err != nil {
			return apierrors.IsNotFound(err), nil
		}
		if dropReason(&x, m) != "" || x.Status.Phase != v1alpha1.PhaseQueued {
			return true, nil
		}
		status.HandedBack(&x, w.opts.Name)
		if err := w.client.Status().Update(ctx, &x); err != nil {
			return false, nil // a conflict: look again
		}
		w.event(&x, corev1.EventTypeNormal, v1alpha1.ReasonHandedBack, "worker %s is stopping; attempt %d handed back before it started", w.opts.Name, m.Attempt)
		log.Info("handed back a job that had not started")
		return true, nil
	})
	if err != nil {
		log.Info("could not hand back a job that had not started; the controller sends it again after its queued timeout", "error", err.Error())
	}
}
