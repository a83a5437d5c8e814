// Package workers runs extraction jobs: it claims the attempt a job message
// names, reads the video, stores what the spec asks for, and ends the attempt
// on the resource's status. It does not know where messages come from; the
// transport (Kafka in production) calls Handle.
package workers

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/recorder"

	v1alpha1 "ytx.dev/ytx/api/v1alpha1"
	"ytx.dev/ytx/internal/download"
	"ytx.dev/ytx/internal/failure"
	"ytx.dev/ytx/internal/job"
	"ytx.dev/ytx/internal/media"
	"ytx.dev/ytx/internal/resolver"
	"ytx.dev/ytx/internal/status"
	"ytx.dev/ytx/internal/storage"
	"ytx.dev/ytx/internal/youtube"
)

// Options tune a worker; zero values take the defaults.
type Options struct {
	// Name identifies this worker in status.worker and Events (the pod name
	// in a cluster).
	Name string
	// StatusInterval is the least time between two progress writes of a job.
	StatusInterval time.Duration
	// HeartbeatInterval is the most time between two status writes of a
	// running job; it must be well under the controller's heartbeat timeout.
	HeartbeatInterval time.Duration
	// FinishTimeout bounds the retries of the write that ends an attempt
	// (the API server may be restarting); after it the controller's
	// heartbeat timeout takes over.
	FinishTimeout time.Duration
	// ScratchDir holds each job's temporary files (downloads before ffmpeg);
	// empty means the system's temporary directory.
	ScratchDir string
	// MaxArtifactBytes caps every stored file and every download; 0 means
	// no cap.
	MaxArtifactBytes int64
	// MaxListingEntries caps one playlist listing (0:
	// DefaultMaxListingEntries); a longer playlist is cut, and its
	// status says so.
	MaxListingEntries int
}

func (o *Options) defaults() {
	if o.StatusInterval <= 0 {
		o.StatusInterval = 5 * time.Second
	}
	if o.HeartbeatInterval <= 0 {
		o.HeartbeatInterval = 30 * time.Second
	}
	if o.FinishTimeout <= 0 {
		o.FinishTimeout = 2 * time.Minute
	}
}

// Worker handles job messages. It is safe for concurrent use: the transport
// calls Handle once per message, several at a time.
type Worker struct {
	client   client.Client // writes
	reader   client.Reader // uncached reads: a claim must see the latest state
	events   recorder.EventRecorder
	chain    *resolver.Chain
	clients  *youtube.Clients
	pacer    *youtube.Pacer
	cookies  *youtube.Cookies // nil: none
	download *download.Downloader
	ffmpeg   media.FFmpeg
	store    storage.Store
	opts     Options
	log      logr.Logger
	// clock is time.Now and the heartbeat's ticker; tests set a fake one.
	clock clock.WithTicker
}

// Deps are the peers a worker talks to.
type Deps struct {
	// Client writes status; Reader reads without a cache, because a claim
	// must see the latest state.
	Client client.Client
	Reader client.Reader
	Events recorder.EventRecorder
	// Chain reads videos (nil: kkdai alone). Clients hands out the HTTP
	// clients of each route to YouTube (nil: youtube.NewClients with
	// the defaults); Pacer picks a job's route and paces starts (nil: the
	// worker's own route, unpaced); Cookies, when set, go to YouTube.
	Chain    *resolver.Chain
	Clients  *youtube.Clients
	Pacer    *youtube.Pacer
	Cookies  *youtube.Cookies
	Download download.Options
	FFmpeg   media.FFmpeg
	Store    storage.Store
	Log      logr.Logger
}

// +kubebuilder:rbac:groups=ytx.dev,resources=youtubeextractions,verbs=get;list;watch
// +kubebuilder:rbac:groups=ytx.dev,resources=youtubeextractions/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// New returns a worker.
func New(d Deps, opts Options) *Worker {
	opts.defaults()
	dl := d.Download
	dl.MaxBytes = opts.MaxArtifactBytes
	if d.Chain == nil {
		d.Chain = resolver.NewChain(resolver.ChainOptions{}, youtube.KKDAI{})
	}
	if d.Clients == nil {
		d.Clients = youtube.NewClients(youtube.HTTPOptions{})
	}
	if d.Pacer == nil {
		d.Pacer = youtube.NewPacer(nil, 0, 0)
	}
	return &Worker{
		client: d.Client, reader: d.Reader, events: d.Events,
		chain: d.Chain, clients: d.Clients, pacer: d.Pacer, cookies: d.Cookies,
		download: &download.Downloader{Options: dl},
		ffmpeg:   d.FFmpeg, store: d.Store,
		opts: opts, log: d.Log,
		clock: clock.RealClock{},
	}
}

// ErrHandBack is returned by Handle when the worker was stopped before it
// claimed the job: the transport must not mark the message done, so that it
// is delivered again.
var ErrHandBack = errors.New("worker stopped before claiming the job")

// Handle runs the attempt that m names, if it is still to be run. It returns
// nil when the message is dealt with: done, dropped as a duplicate or stale,
// or handed back on the resource. Cancelling ctx stops the job; a claimed job
// is then handed back to the controller.
func (w *Worker) Handle(ctx context.Context, m job.Message) error {
	log := w.log.WithValues(KeyJob, m.String())
	c, drop, err := w.claim(ctx, m)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrHandBack, err)
	}
	if drop != "" {
		log.V(1).Info(LogDropped, KeyWhy, drop)
		return nil
	}
	log.Info(LogClaimed)
	w.event(c.object(), corev1.EventTypeNormal, v1alpha1.EventRunning, "attempt %d claimed by worker %s", m.Attempt, w.opts.Name)

	start := w.clock.Now()
	t := newTask(c)
	runCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	stopBeat := w.heartbeat(runCtx, cancel, t)
	result := w.extract(runCtx, t)
	stopBeat()

	if result.lost || errors.Is(context.Cause(runCtx), errLostClaim) {
		log.Info(LogAbandoned, KeyWhy, errLostClaim.Error())
		w.abandon(ctx, c)
		return nil
	}
	if ctx.Err() != nil && result.err != nil {
		result = outcome{handBack: true}
	}
	return w.end(ctx, c, t, result, w.clock.Since(start))
}

// outcome is how an attempt ended.
type outcome struct {
	err *failure.Error // nil on success
	// handBack: the worker is stopping; the attempt goes back to the queue.
	handBack bool
	// lost: the attempt stopped being this worker's; nothing is written.
	lost bool
}

// end writes the outcome onto the resource. It runs on a context of its own:
// the job's may already be cancelled, and the outcome must still be written.
func (w *Worker) end(ctx context.Context, c *claim, t *task, result outcome, took time.Duration) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), w.opts.FinishTimeout)
	defer cancel()
	now := metav1.NewTime(w.clock.Now())
	var mutate func(*v1alpha1.YouTubeExtraction)
	var typ, reason, note string
	switch e := result.err; {
	case result.handBack:
		mutate = func(x *v1alpha1.YouTubeExtraction) { status.HandedBack(x, w.opts.Name) }
		typ, reason, note = corev1.EventTypeNormal, v1alpha1.ReasonHandedBack, "worker "+w.opts.Name+" is stopping; attempt handed back"
	case e == nil:
		msg := fmt.Sprintf("extracted %q in %s", t.metadata.Title, took.Round(time.Millisecond))
		mutate = func(x *v1alpha1.YouTubeExtraction) {
			t.apply(x)
			status.Succeeded(x, msg, now)
		}
		typ, reason, note = corev1.EventTypeNormal, v1alpha1.ReasonSucceeded, msg
	case !e.Retryable:
		mutate = func(x *v1alpha1.YouTubeExtraction) {
			t.apply(x)
			status.Failed(x, e.Reason, e.Message, now)
		}
		typ, reason, note = corev1.EventTypeWarning, e.Reason, e.Message
	default:
		mutate = func(x *v1alpha1.YouTubeExtraction) { status.AttemptFailed(x, e.Reason, e.Message, now) }
		typ, reason, note = corev1.EventTypeWarning, e.Reason, fmt.Sprintf("attempt %d failed, may be retried: %s", c.msg.Attempt, e.Message)
	}
	if err := c.finish(ctx, mutate); err != nil {
		if errors.Is(err, errLostClaim) {
			w.log.Info(LogAbandonedAtEnd, KeyJob, c.msg.String(), KeyWhy, err.Error())
			if !result.handBack {
				// A hand-back that went through unseen makes the attempt
				// another worker's to claim, under the same keys.
				w.abandon(ctx, c)
			}
			return nil
		}
		// The controller's heartbeat timeout retries the attempt.
		return fmt.Errorf("writing the end of %s: %w", c.msg, err)
	}
	w.log.Info(LogEnded, KeyJob, c.msg.String(), KeyReason, reason, "took", took.String())
	w.event(c.object(), typ, reason, "%s", note)
	return nil
}

func (w *Worker) event(x *v1alpha1.YouTubeExtraction, typ, reason, format string, args ...any) {
	w.events.Eventf(x, nil, typ, reason, reason, format, args...)
}
