package workers

import (
	"context"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	v1alpha1 "ytx.dev/ytx/api/v1alpha1"
)

// abandon removes what this worker's attempt stored that the resource's
// status does not list, once the attempt stopped being its own. Only this
// attempt writes under its prefix (see claim.attemptPrefix), so nothing of
// a newer attempt or another extraction can be touched; what status lists
// stays, for the case where the attempt's own last write went through
// unseen. A stale worker that wakes and finishes an upload after a newer
// attempt succeeded removes it here.
//
// It runs on a context of its own (the job's is usually cancelled by then).
// When the resource cannot be read, nothing is removed: the controller's
// tidy of the finished resource takes what is left.
func (w *Worker) abandon(ctx context.Context, c *claim) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), w.opts.FinishTimeout)
	defer cancel()
	log := w.log.WithValues(KeyJob, c.msg.String(), KeyPrefix, c.attemptPrefix())
	listed := map[string]bool{}
	var x v1alpha1.YouTubeExtraction
	switch err := w.reader.Get(ctx, c.msg.NamespacedName(), &x); {
	case apierrors.IsNotFound(err):
	case err != nil:
		log.Info("not removing the abandoned attempt's files: cannot read which the resource lists", "error", err.Error())
		return
	case x.UID == c.msg.UID:
		for _, a := range x.Status.Artifacts {
			listed[a.URI] = true
		}
	}
	keys, err := w.store.List(ctx, c.attemptPrefix())
	if err != nil {
		log.Info("not removing the abandoned attempt's files: listing them failed", "error", err.Error())
		return
	}
	n := 0
	for _, k := range keys {
		if listed[w.store.URI(k)] {
			continue
		}
		if err := w.store.Delete(ctx, k); err != nil {
			log.Info("removing an abandoned attempt's file failed", KeyKey, k, "error", err.Error())
			continue
		}
		n++
	}
	if err := w.store.DeleteIncomplete(ctx, c.attemptPrefix(), nil); err != nil {
		log.Info("sweeping the abandoned attempt's interrupted uploads failed", "error", err.Error())
	}
	log.Info(LogRemovedOwn, KeyCount, n)
}
