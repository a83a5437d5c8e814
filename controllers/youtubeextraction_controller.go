// Package controllers holds the YouTubeExtraction controller: the only writer
// of the Pending→Queued transition and of retry, timeout and TTL decisions.
package controllers

import (
	"context"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/util/workqueue"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/recorder"

	v1alpha1 "ytx.dev/ytx/api/v1alpha1"
	"ytx.dev/ytx/internal/job"
	"ytx.dev/ytx/internal/status"
	"ytx.dev/ytx/internal/storage"
	"ytx.dev/ytx/internal/youtube"
)

// Publisher puts a job on the queue. The Kafka publisher is the production
// one; the call must return only once the queue has the message durably.
type Publisher interface {
	Publish(ctx context.Context, m job.Message) error
}

// Options tune the controller; zero values take the defaults.
type Options struct {
	// HeartbeatTimeout is how long a Running attempt may go without a
	// heartbeat before the controller ends it as timed out and retries it.
	HeartbeatTimeout time.Duration
	// RetryBackoff is the delay before the second attempt; it doubles for
	// each later attempt, up to RetryBackoffMax.
	RetryBackoff, RetryBackoffMax time.Duration
	// RateLimitedBackoff is the delay after the first attempt that YouTube
	// rate-limited (a bot check, HTTP 429); it doubles for each later one,
	// up to RateLimitedBackoffMax. Such attempts do not spend
	// spec.retry.maxAttempts; RateLimitedTimeout bounds them instead: an
	// extraction still rate-limited that long after the first fails with
	// reason RateLimited.
	RateLimitedBackoff, RateLimitedBackoffMax, RateLimitedTimeout time.Duration
	// PublishBackoff and PublishBackoffMax bound the per-resource backoff
	// while the queue refuses messages.
	PublishBackoff, PublishBackoffMax time.Duration
	// MaxConcurrentReconciles is the number of resources reconciled at once.
	MaxConcurrentReconciles int
	// Queue names where jobs go (the Kafka topic, or the workers' URL) in
	// conditions and events, so users know where to look.
	Queue string
	// QueuedTimeout, when positive, sends an attempt again that no worker
	// claimed this long after it was sent. Without a Queue (HTTP, where a
	// worker that dies loses the jobs in its memory) age alone decides;
	// with a QueueReader (Kafka), the lost-job rules do (lostjobs.go): a job that
	// waits its turn behind a backlog is left alone.
	QueuedTimeout time.Duration
	// QueueReader, when set, reads the job topic and the workers' consumer
	// group for the lost-job rules, every LagInterval (default
	// DefaultLagInterval); the publisher must then be a KeyedPublisher.
	// StuckAfter (default DefaultStuckAfter) is how long a partition may
	// go without progress before its queued attempts go elsewhere.
	QueueReader             QueueReader
	LagInterval, StuckAfter time.Duration
	// Name names the controller in logs and metrics. Names must be unique in
	// a process; tests that run several managers in one process set it.
	Name string
	// Storage holds the extractions' files; the finalizer deletes them. Nil
	// means no finalizer (nothing is stored).
	Storage storage.Store
	// CleanupGrace is how long after deleting a Running resource the
	// finalizer cleans again, for files its worker finished meanwhile.
	CleanupGrace time.Duration
	// CleanupTimeout bounds the finalizer's retries while storage fails.
	CleanupTimeout time.Duration
	// MaxInFlightPerNamespace caps the extractions of one namespace that are
	// Queued or Running at once, so that one namespace cannot fill the
	// topic that all share; the others wait, Pending, oldest first. Zero
	// means no cap (`ytx manager` defaults to DefaultMaxInFlightPerNamespace).
	MaxInFlightPerNamespace int
	// WaitRecheck is how often a resource waiting for a slot checks again,
	// besides being woken when a slot of its namespace frees.
	WaitRecheck time.Duration
}

func (o *Options) defaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&o.HeartbeatTimeout, 2*time.Minute)
	def(&o.RetryBackoff, 10*time.Second)
	def(&o.RetryBackoffMax, 5*time.Minute)
	def(&o.RateLimitedBackoff, DefaultRateLimitedBackoff)
	def(&o.RateLimitedBackoffMax, DefaultRateLimitedBackoffMax)
	def(&o.RateLimitedTimeout, DefaultRateLimitedTimeout)
	def(&o.PublishBackoff, time.Second)
	def(&o.PublishBackoffMax, time.Minute)
	def(&o.WaitRecheck, 30*time.Second)
	def(&o.LagInterval, DefaultLagInterval)
	def(&o.StuckAfter, DefaultStuckAfter)
	if o.Name == "" {
		o.Name = "youtubeextraction"
	}
	if o.MaxConcurrentReconciles <= 0 {
		o.MaxConcurrentReconciles = 4
	}
	cleanupDefaults(o)
}

// Defaults of the rate-limited retries: YouTube's bot checks on an address
// last from minutes to hours.
const (
	DefaultRateLimitedBackoff    = 5 * time.Minute
	DefaultRateLimitedBackoffMax = time.Hour
	DefaultRateLimitedTimeout    = 6 * time.Hour
)

// Reconciler drives each YouTubeExtraction through its attempts.
type Reconciler struct {
	client client.Client
	// reader reads from the API server, past the cache, for the few
	// fields the cache drops that a rule needs (tidy's artifacts).
	reader    client.Reader
	publisher Publisher
	events    recorder.EventRecorder
	opts      Options
	now       func() time.Time

	// published remembers, per resource, the resourceVersion of the Queued
	// status it published a job for, and when. The informer cache may
	// still show an older copy of a Queued status after this process
	// published it; the memory keeps such stale reads from publishing
	// again. A Queued status this process did not publish (it restarted,
	// or lost and regained leadership) is published again: at least once,
	// as designed.
	mu        sync.Mutex
	published map[types.NamespacedName]sent

	// slots holds each namespace to MaxInFlightPerNamespace.
	slots *slots

	// watch tells lost jobs from waiting ones (nil without a QueueReader);
	// keyed is the publisher, when it says where messages land.
	watch *queueWatch
	keyed KeyedPublisher

	// bases are the copies the objects being reconciled were read as
	// (writes.go).
	bases bases
	// tidied remembers the finished resources whose last tidy, after
	// CleanupGrace, is done (tidy).
	tidied tidyMarks
}

// sent is what the controller remembers of a publish.
type sent struct {
	resourceVersion string
	at              time.Time
	placed          placed
}

// +kubebuilder:rbac:groups=ytx.dev,resources=youtubeextractions,verbs=get;list;watch;update;patch;delete
// +kubebuilder:rbac:groups=ytx.dev,resources=youtubeextractions/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=ytx.dev,resources=youtubeextractions/finalizers,verbs=update
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch
// +kubebuilder:rbac:groups=coordination.k8s.io,resources=leases,verbs=get;list;watch;create;update;patch

// New builds the controller and registers it with mgr.
func New(mgr ctrl.Manager, publisher Publisher, opts Options) (*Reconciler, error) {
	r := newReconciler(mgr.GetClient(), mgr.GetAPIReader(), mgr.GetCache(), publisher, mgr.GetEventRecorder("ytx-controller"), opts)
	opts = r.opts
	if err := r.watchQueue(mgr.GetCache()); err != nil {
		return nil, err
	}
	if r.watch != nil {
		if err := mgr.Add(r.watch); err != nil {
			return nil, err
		}
	}
	b := ctrl.NewControllerManagedBy(mgr).
		For(&v1alpha1.YouTubeExtraction{}).
		Named(opts.Name)
	if opts.MaxInFlightPerNamespace > 0 {
		// The indexes must exist before the cache starts; IndexField's
		// context only bounds creating the informer, which does not block.
		if err := indexSlots(context.Background(), mgr.GetFieldIndexer()); err != nil {
			return nil, err
		}
		b = b.Watches(&v1alpha1.YouTubeExtraction{}, r.slots.wakeHandler())
	}
	err := b.
		WithOptions(controller.Options{
			MaxConcurrentReconciles: opts.MaxConcurrentReconciles,
			RateLimiter: workqueue.NewTypedItemExponentialFailureRateLimiter[reconcile.Request](
				opts.PublishBackoff, opts.PublishBackoffMax),
		}).
		Complete(r)
	return r, err
}

// newReconciler builds a Reconciler: c writes (and reads through the
// cache), reader reads the API server, cache counts slots.
func newReconciler(c client.Client, reader, cache client.Reader, publisher Publisher, events recorder.EventRecorder, opts Options) *Reconciler {
	opts.defaults()
	return &Reconciler{
		client:    c,
		reader:    reader,
		publisher: publisher,
		events:    events,
		opts:      opts,
		now:       time.Now,
		published: map[types.NamespacedName]sent{},
		slots:     newSlots(opts.MaxInFlightPerNamespace, cache),
	}
}

// Reconcile moves one resource one step on.
//
// Publishing and the Queued status are ordered so that no job is lost: a new
// attempt is written Queued first and published second. If the process dies
// in between, its successor has not published that Queued status (its memory
// of what it published starts empty) and publishes it again. A Pending
// resource (its publish failed, or a worker handed its job back) is
// published first and written Queued second. Either way a crash can only
// cause a duplicate message, and a worker claims each attempt once.
//
// Before either, the attempt takes a slot of its namespace (see slots).
// Without one it waits, Pending with reason NamespaceBusy, unpublished; once
// it has a slot it is written Queued and published, like a new attempt.
// Workers drop messages for a waiting resource, so the cap holds even
// against a message delivered twice.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	var x v1alpha1.YouTubeExtraction
	if err := r.client.Get(ctx, req.NamespacedName, &x); err != nil {
		if apierrors.IsNotFound(err) {
			r.forget(req.NamespacedName)
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	r.bases.track(&x)
	defer r.bases.untrack(&x)
	if !x.DeletionTimestamp.IsZero() {
		r.forget(req.NamespacedName)
		return r.finalize(ctx, &x)
	}
	if wrote, err := r.ensureFinalizer(ctx, &x); wrote || err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	switch {
	case x.Status.ObservedGeneration != x.Generation:
		return r.startGeneration(ctx, &x)
	case status.AttemptEnded(&x):
		return r.retry(ctx, &x)
	case status.Waiting(&x):
		return r.queue(ctx, &x)
	case x.Status.Phase == v1alpha1.PhasePending:
		return r.publishPending(ctx, &x)
	case x.Status.Phase == v1alpha1.PhaseQueued && !r.alreadyPublished(&x):
		return r.publishQueued(ctx, &x)
	case x.Status.Phase == v1alpha1.PhaseQueued:
		return r.checkQueued(ctx, &x)
	case x.Status.Phase == v1alpha1.PhaseRunning:
		return r.checkHeartbeat(ctx, &x)
	case x.Status.Phase.Finished():
		again, err := r.tidy(ctx, &x)
		if err != nil {
			return ctrl.Result{}, err
		}
		res, err := r.expire(ctx, &x)
		if again > 0 && (res.RequeueAfter == 0 || again < res.RequeueAfter) {
			res.RequeueAfter = again
		}
		return res, err
	}
	return ctrl.Result{}, nil
}

// startGeneration validates a new spec and queues its first attempt. A spec
// changed after completion starts over the same way.
func (r *Reconciler) startGeneration(ctx context.Context, x *v1alpha1.YouTubeExtraction) (ctrl.Result, error) {
	id, err := youtube.VideoID(x.Spec.URL)
	if err != nil {
		// Admission refuses such links; this guards objects created before
		// the CRD had its rule, or by a client that skipped validation.
		// The status starts over as for any generation, so that nothing
		// of an earlier one (its video, files, worker) is shown for this
		// one; attempt 1 is the one that failed.
		status.StartGeneration(x, "")
		status.Failed(x, v1alpha1.ReasonInvalidURL, "spec.url: "+err.Error(), r.nowMeta())
		if err := r.writeStatus(ctx, x); err != nil {
			return ctrl.Result{}, client.IgnoreNotFound(err)
		}
		r.event(x, corev1.EventTypeWarning, v1alpha1.ReasonInvalidURL, "spec.url: %v", err)
		return ctrl.Result{}, nil
	}
	status.StartGeneration(x, id)
	return r.queue(ctx, x)
}

// queue writes the current attempt Queued and publishes it, if its namespace
// has a slot free; otherwise the attempt waits for one.
func (r *Reconciler) queue(ctx context.Context, x *v1alpha1.YouTubeExtraction) (ctrl.Result, error) {
	ok, undo, err := r.slots.take(ctx, x)
	if err != nil {
		return ctrl.Result{}, err
	}
	if !ok {
		return r.wait(ctx, x)
	}
	status.Queued(x, r.queuedMessage(x.Status.Attempts))
	if err := r.writeStatus(ctx, x); err != nil {
		undo()
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	return r.publishQueued(ctx, x)
}

// wait leaves the current attempt Pending until a slot of its namespace
// frees. The status is written only when it changes: always for a new
// attempt (whose videoID and observedGeneration a user then sees at once),
// once for a Pending resource, never for one that checks again.
func (r *Reconciler) wait(ctx context.Context, x *v1alpha1.YouTubeExtraction) (ctrl.Result, error) {
	n := r.opts.MaxInFlightPerNamespace
	msg := fmt.Sprintf("namespace %s has %d extractions queued or running (--max-in-flight-per-namespace %d); this one waits its turn", x.Namespace, n, n)
	if status.Wait(x, msg) {
		if err := r.writeStatus(ctx, x); err != nil {
			return ctrl.Result{}, client.IgnoreNotFound(err)
		}
		r.slots.release(client.ObjectKeyFromObject(x))
		r.event(x, corev1.EventTypeNormal, v1alpha1.ReasonNamespaceBusy, "attempt %d waits: %s", x.Status.Attempts, msg)
	}
	return ctrl.Result{RequeueAfter: r.opts.WaitRecheck}, nil
}

// publishQueued publishes the job of a resource already written Queued.
func (r *Reconciler) publishQueued(ctx context.Context, x *v1alpha1.YouTubeExtraction) (ctrl.Result, error) {
	at, err := r.send(ctx, x, r.keyFor(x))
	if err != nil {
		return r.publishFailed(ctx, x, err)
	}
	r.remember(x, at)
	r.event(x, corev1.EventTypeNormal, v1alpha1.EventQueued, "attempt %d of video %s queued on %s", x.Status.Attempts, x.Status.VideoID, r.opts.Queue)
	return ctrl.Result{}, nil
}

// publishPending publishes the job of a Pending resource, then writes Queued.
// It takes a slot first, as the attempt holds none while Pending.
func (r *Reconciler) publishPending(ctx context.Context, x *v1alpha1.YouTubeExtraction) (ctrl.Result, error) {
	ok, undo, err := r.slots.take(ctx, x)
	if err != nil {
		return ctrl.Result{}, err
	}
	if !ok {
		return r.wait(ctx, x)
	}
	at, err := r.send(ctx, x, r.keyFor(x))
	if err != nil {
		undo()
		return r.publishFailed(ctx, x, err)
	}
	status.Queued(x, r.queuedMessage(x.Status.Attempts))
	if err := r.writeStatus(ctx, x); err != nil {
		// A conflict usually means a worker claimed the job already; the
		// slot stays taken, as the message is out.
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	r.remember(x, at)
	r.event(x, corev1.EventTypeNormal, v1alpha1.EventQueued, "attempt %d of video %s queued on %s", x.Status.Attempts, x.Status.VideoID, r.opts.Queue)
	return ctrl.Result{}, nil
}

// publishFailed makes the resource Pending with a condition that says why,
// and returns the error so that the workqueue retries with backoff.
func (r *Reconciler) publishFailed(ctx context.Context, x *v1alpha1.YouTubeExtraction, cause error) (ctrl.Result, error) {
	msg := fmt.Sprintf("cannot publish to %s, will retry: %v", r.opts.Queue, cause)
	if status.PublishFailed(x, msg) {
		r.event(x, corev1.EventTypeWarning, v1alpha1.ReasonPublishFailed, "%s", msg)
		switch err := r.writeStatus(ctx, x); {
		case err == nil:
			// Pending holds no slot; publishing again takes one.
			r.slots.release(client.ObjectKeyFromObject(x))
		case !apierrors.IsConflict(err):
			log.FromContext(ctx).Error(err, "recording the publish failure")
		}
	}
	return ctrl.Result{}, fmt.Errorf("publishing %s/%s: %w", x.Namespace, x.Name, cause)
}

// retry queues the next attempt after backoff, or fails the resource when
// its attempts are spent.
//
// An attempt that YouTube rate-limited spends no attempt: it waits its own,
// longer backoff, and the extraction fails RateLimited only once
// RateLimitedTimeout has passed since the first such attempt.
func (r *Reconciler) retry(ctx context.Context, x *v1alpha1.YouTubeExtraction) (ctrl.Result, error) {
	last := x.Status.LastFailure
	limited := last.Reason == v1alpha1.ReasonRateLimited
	spent := status.SpentAttempts(x)
	switch {
	case limited && x.Status.RateLimitedSince != nil && r.now().Sub(x.Status.RateLimitedSince.Time) >= r.opts.RateLimitedTimeout:
		msg := fmt.Sprintf("YouTube kept rate-limiting this video's attempts for %s (%d attempts; --rate-limited-timeout %s); the last said: %s",
			r.now().Sub(x.Status.RateLimitedSince.Time).Round(time.Second), x.Status.RateLimitedAttempts, r.opts.RateLimitedTimeout, last.Message)
		status.Failed(x, v1alpha1.ReasonRateLimited, msg, r.nowMeta())
		if err := r.writeStatus(ctx, x); err != nil {
			return ctrl.Result{}, client.IgnoreNotFound(err)
		}
		r.event(x, corev1.EventTypeWarning, v1alpha1.ReasonRateLimited, "%s", msg)
		return ctrl.Result{}, nil
	case !limited && spent >= x.MaxAttempts():
		msg := fmt.Sprintf("all %d attempts failed; the last with %s: %s", spent, last.Reason, last.Message)
		status.Failed(x, v1alpha1.ReasonAttemptsExhausted, msg, r.nowMeta())
		if err := r.writeStatus(ctx, x); err != nil {
			return ctrl.Result{}, client.IgnoreNotFound(err)
		}
		r.event(x, corev1.EventTypeWarning, v1alpha1.ReasonAttemptsExhausted, "%s", msg)
		return ctrl.Result{}, nil
	}
	delay := r.retryDelay(spent)
	if limited {
		delay = backoff(r.opts.RateLimitedBackoff, r.opts.RateLimitedBackoffMax, x.Status.RateLimitedAttempts)
	}
	if wait := last.Time.Add(delay).Sub(r.now()); wait > 0 {
		return ctrl.Result{RequeueAfter: wait}, nil
	}
	n := x.Status.Attempts + 1
	status.NextAttempt(x, n)
	r.event(x, corev1.EventTypeNormal, v1alpha1.ReasonRetrying, "attempt %d after %s: %s", n, last.Reason, last.Message)
	return r.queue(ctx, x)
}

func (r *Reconciler) message(x *v1alpha1.YouTubeExtraction) job.Message {
	return job.Message{Namespace: x.Namespace, Name: x.Name, UID: x.UID, Generation: x.Generation, Attempt: x.Status.Attempts}
}

func (r *Reconciler) queuedMessage(attempt int32) string {
	return fmt.Sprintf("attempt %d queued on %s", attempt, r.opts.Queue)
}

// retryDelay is the wait after failed attempt n: RetryBackoff doubled per
// attempt, capped at RetryBackoffMax.
func (r *Reconciler) retryDelay(n int32) time.Duration {
	return backoff(r.opts.RetryBackoff, r.opts.RetryBackoffMax, n)
}

// backoff is first doubled n-1 times, capped at most.
func backoff(first, most time.Duration, n int32) time.Duration {
	b := wait.Backoff{Duration: first, Factor: 2, Steps: int(n), Cap: most}
	var d time.Duration
	for i := int32(0); i < n; i++ {
		d = b.Step()
	}
	return d
}

// checkHeartbeat ends an attempt whose worker stopped reporting, so that a
// crashed or hung worker costs one timeout, not the extraction.
func (r *Reconciler) checkHeartbeat(ctx context.Context, x *v1alpha1.YouTubeExtraction) (ctrl.Result, error) {
	beat := x.Status.LastHeartbeatTime
	if beat == nil {
		beat = x.Status.StartTime
	}
	if beat == nil {
		beat = &x.CreationTimestamp
	}
	if wait := beat.Add(r.opts.HeartbeatTimeout).Sub(r.now()); wait > 0 {
		return ctrl.Result{RequeueAfter: wait}, nil
	}
	msg := fmt.Sprintf("worker %s sent no heartbeat for %s", x.Status.Worker, r.opts.HeartbeatTimeout)
	status.AttemptFailed(x, v1alpha1.ReasonTimeout, msg, r.nowMeta())
	// Updating with the resourceVersion read makes this lose against a
	// heartbeat that arrived meanwhile; the worker is then alive after all,
	// and no Timeout is recorded.
	if err := r.writeStatus(ctx, x); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	r.event(x, corev1.EventTypeWarning, v1alpha1.ReasonTimeout, "attempt %d: %s", x.Status.Attempts, msg)
	return r.retry(ctx, x)
}

// expire deletes a finished resource once spec.ttlSecondsAfterFinished passed.
func (r *Reconciler) expire(ctx context.Context, x *v1alpha1.YouTubeExtraction) (ctrl.Result, error) {
	ttl, done := x.Spec.TTLSecondsAfterFinished, x.Status.CompletionTime
	if ttl == nil || done == nil {
		return ctrl.Result{}, nil
	}
	if wait := done.Add(time.Duration(*ttl) * time.Second).Sub(r.now()); wait > 0 {
		return ctrl.Result{RequeueAfter: wait}, nil
	}
	// The UID precondition keeps a stale read from deleting a new resource
	// that took the same name.
	err := r.client.Delete(ctx, x, client.Preconditions{UID: &x.UID}, client.PropagationPolicy(metav1.DeletePropagationBackground))
	return ctrl.Result{}, client.IgnoreNotFound(err)
}

func (r *Reconciler) alreadyPublished(x *v1alpha1.YouTubeExtraction) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.published[client.ObjectKeyFromObject(x)].resourceVersion == x.ResourceVersion
}

func (r *Reconciler) remember(x *v1alpha1.YouTubeExtraction, at placed) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.published[client.ObjectKeyFromObject(x)] = sent{resourceVersion: x.ResourceVersion, at: r.now(), placed: at}
}

// lastSent is what this process remembers of publishing x's current
// Queued status.
func (r *Reconciler) lastSent(x *v1alpha1.YouTubeExtraction) sent {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.published[client.ObjectKeyFromObject(x)]
}

// checkQueued sends a Queued attempt again that no worker claimed within
// QueuedTimeout, if it cannot still be on its way (see lostjobs.go). The
// same message again is harmless: a worker claims an attempt once. It
// costs no attempt, as the job never ran.
func (r *Reconciler) checkQueued(ctx context.Context, x *v1alpha1.YouTubeExtraction) (ctrl.Result, error) {
	if r.opts.QueuedTimeout <= 0 {
		return ctrl.Result{}, nil
	}
	last := r.lastSent(x)
	if wait := last.at.Add(r.opts.QueuedTimeout).Sub(r.now()); wait > 0 {
		return ctrl.Result{RequeueAfter: wait}, nil
	}
	v := verdict{resend: true, reason: resentUnclaimed}
	if r.watch != nil {
		v = r.watch.judge(r.message(x).Key(), last.placed, last.at)
	}
	if !v.resend {
		// It waits its turn, or the queue could not be read since it
		// was sent: ask again after the next look.
		return ctrl.Result{RequeueAfter: r.opts.LagInterval}, nil
	}
	return r.resend(ctx, x, v)
}

// resend publishes x's attempt again as v says, and records why.
func (r *Reconciler) resend(ctx context.Context, x *v1alpha1.YouTubeExtraction, v verdict) (ctrl.Result, error) {
	key := v.key
	if key == "" {
		key = r.keyFor(x)
	}
	at, err := r.send(ctx, x, key)
	if err != nil {
		return r.publishFailed(ctx, x, err)
	}
	r.remember(x, at)
	resentTotal.WithLabelValues(v.reason).Inc()
	why := ""
	if v.why != "" {
		why = ": " + v.why
	}
	// With HTTP a dead worker's queued jobs come back this way as a
	// matter of course; with Kafka a re-send means the queue lost a job
	// or a partition is not consumed, which someone should look into.
	kind := corev1.EventTypeWarning
	if v.reason == resentUnclaimed {
		kind = corev1.EventTypeNormal
	}
	r.event(x, kind, v1alpha1.EventResent, "attempt %d was not claimed within %s%s; sent again to %s", x.Status.Attempts, r.opts.QueuedTimeout, why, r.opts.Queue)
	return ctrl.Result{RequeueAfter: r.opts.QueuedTimeout}, nil
}

// send publishes x's current attempt under key and says where it landed
// (unplaced when the publisher cannot tell).
func (r *Reconciler) send(ctx context.Context, x *v1alpha1.YouTubeExtraction, key string) (placed, error) {
	if r.keyed == nil {
		return unplaced, r.publisher.Publish(ctx, r.message(x))
	}
	pos, err := r.keyed.PublishKeyed(ctx, r.message(x), key)
	if err != nil {
		return unplaced, err
	}
	return placed{partition: pos.Partition, offset: pos.Offset}, nil
}

// keyFor is the key to publish x's attempt under: its own, unless its
// partition is stuck.
func (r *Reconciler) keyFor(x *v1alpha1.YouTubeExtraction) string {
	key := r.message(x).Key()
	if r.watch == nil {
		return key
	}
	return r.watch.keyFor(key)
}

// watchQueue sets up the lost-job rules when Options.QueueReader is set.
func (r *Reconciler) watchQueue(cache client.Reader) error {
	if r.opts.QueueReader == nil || r.opts.QueuedTimeout <= 0 {
		return nil
	}
	keyed, ok := r.publisher.(KeyedPublisher)
	if !ok {
		return fmt.Errorf("controllers: a QueueReader needs a publisher that says where messages land (a KeyedPublisher), not a %T", r.publisher)
	}
	r.keyed = keyed
	r.watch = newQueueWatch(r.opts.QueueReader, cache, r.opts, r.now, r.placements)
	return nil
}

// placements is where this process last sent each resource's job.
func (r *Reconciler) placements() map[types.NamespacedName]placed {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[types.NamespacedName]placed, len(r.published))
	for k, s := range r.published {
		out[k] = s.placed
	}
	return out
}

func (r *Reconciler) forget(key types.NamespacedName) {
	r.mu.Lock()
	delete(r.published, key)
	r.mu.Unlock()
	r.slots.release(key)
	r.tidied.forget(key)
}

func (r *Reconciler) nowMeta() metav1.Time { return metav1.NewTime(r.now()) }

func (r *Reconciler) event(x *v1alpha1.YouTubeExtraction, typ, reason, format string, args ...any) {
	r.events.Eventf(x, nil, typ, reason, reason, format, args...)
}
