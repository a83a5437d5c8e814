package bench

import (
	"context"
	"fmt"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"
	corev1 "k8s.io/api/core/v1"
	eventsv1client "k8s.io/client-go/kubernetes/typed/events/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	v1alpha1 "ytx.dev/ytx/api/v1alpha1"
	"ytx.dev/ytx/controllers"
	"ytx.dev/ytx/internal/app"
)

// boundLimit is the client-side rate limit of the bound's clients.
type boundLimit struct {
	name  string
	limit *clientLimit // nil: none
}

// boundLimits: with no client-side limit the bound is the API server's
// own (on this machine, with this etcd); with ytx's default limit on each
// client it is what ytx's processes could do at best with theirs.
var boundLimits = []boundLimit{
	{name: "no client limit"},
	{name: "ytx's default client limit", limit: &defaults.limit},
}

func (l boundLimit) config(cfg *rest.Config) *rest.Config {
	if l.limit != nil {
		return limited(cfg, l.limit.qps, l.limit.burst)
	}
	return unthrottled(cfg)
}

// runBound is the API server's bound for n extractions: with no operator in
// the loop, plain controller-runtime clients make the writes that ytx makes
// for each extraction that succeeds without waiting for a slot (see the
// report's writes per extraction), and nothing else:
//
//   - the benchmark creates it (as for ytx);
//   - a "manager" client adds the finalizer (update), writes Queued
//     (status) and records the Queued event;
//   - a "worker" client writes Running (status, the claim), records its
//     event, writes Succeeded with the metadata and the info.json artifact
//     (status) and records that event.
//
// The concurrency is that of ytx with its own limits raised (unbound):
// reconciles goroutines on one manager client, concurrency on each of
// benchWorkers worker clients, so that the API server, not the bound's
// own concurrency, is what bounds it. Each client has its own rate
// limiter, as each process of ytx has; events go
// through client-go's event broadcaster on clients of their own, as
// controller-runtime's recorder sends them. Objects pass from stage to
// stage in memory: no watch, no cache, no queue, no reads.
func runBound(b *testing.B, cp *controlPlane, o outcome, n int, lim boundLimit) runResult {
	b.Helper()
	ns := cp.namespace(b, "bound")
	requests := newRequestCounter()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	p := startPipeline(ctx, b, cp, o, lim, requests, n+warmUp)
	if _, err := apply(p.ctx, cp.admin, ns, "warm", o.videoID, warmUp, p.feed); err != nil {
		b.Fatalf("bound, warm-up: %v (stages: %v)", err, p.stop())
	}
	requests.settled()
	requests.reset()
	cpu := startCPU(cp.processes())
	wait := profileAPIServer(b, cp, profileFor, fmt.Sprintf("apiserver-n%d-bound-%s", n, lim.name))
	t, err := apply(p.ctx, cp.admin, ns, "x", o.videoID, n, p.feed)
	busy := cpu.stop()
	wait()
	counts := requests.settled()
	if serr := p.stop(); err != nil || serr != nil {
		b.Fatalf("bound: %v (stages: %v)", err, serr)
	}
	return runResult{n: n, t: t, requests: counts, cpu: busy}
}

// pipeline is the bound's stages running: feed hands it a created
// extraction.
type pipeline struct {
	ctx    context.Context
	feed   func(*v1alpha1.YouTubeExtraction)
	cancel context.CancelFunc
	g      *errgroup.Group
}

// startPipeline starts the manager's stage and the workers' with room for
// size extractions in flight.
func startPipeline(ctx context.Context, b *testing.B, cp *controlPlane, o outcome, lim boundLimit, requests *requestCounter, size int) *pipeline {
	ctx, cancel := context.WithCancel(ctx)
	g, gctx := errgroup.WithContext(ctx)
	storageURL := "file://" + b.TempDir()
	queue, claim := make(chan *v1alpha1.YouTubeExtraction, size), make(chan *v1alpha1.YouTubeExtraction, size)
	mgr := newBoundRole(ctx, b, requests.config(lim.config(cp.api.Config), "manager"), "bound-manager")
	for range unbound.reconciles {
		g.Go(func() error { return mgr.stage(gctx, queue, claim, mgr.queue(o)) })
	}
	for i := range benchWorkers {
		w := newBoundRole(ctx, b, requests.config(lim.config(cp.api.Config), "workers"), "bound-worker")
		name := fmt.Sprintf("bound-worker-%d", i)
		for range unbound.concurrency {
			g.Go(func() error { return w.stage(gctx, claim, nil, w.run(o, name, storageURL)) })
		}
	}
	return &pipeline{ctx: gctx, cancel: cancel, g: g, feed: func(x *v1alpha1.YouTubeExtraction) { queue <- x }}
}

// stop ends the stages and returns the first error of one (they end with
// nil when their context ends).
func (p *pipeline) stop() error {
	p.cancel()
	return p.g.Wait()
}

// boundRole is one of the bound's clients, with an event recorder of its
// own as each of ytx's processes has.
type boundRole struct {
	c   client.Client
	rec events.EventRecorder
}

func newBoundRole(ctx context.Context, b *testing.B, cfg *rest.Config, name string) *boundRole {
	b.Helper()
	c, err := client.New(cfg, client.Options{Scheme: app.Scheme})
	if err != nil {
		b.Fatal(err)
	}
	evc, err := eventsv1client.NewForConfig(cfg)
	if err != nil {
		b.Fatal(err)
	}
	br := events.NewBroadcaster(&events.EventSinkImpl{Interface: evc})
	if err := br.StartRecordingToSinkWithContext(ctx); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(br.Shutdown)
	return &boundRole{c: c, rec: br.NewRecorder(app.Scheme, name)}
}

// stage applies step to each extraction from in and passes it to out.
func (r *boundRole) stage(ctx context.Context, in <-chan *v1alpha1.YouTubeExtraction, out chan<- *v1alpha1.YouTubeExtraction, step func(context.Context, *v1alpha1.YouTubeExtraction) error) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case x := <-in:
			if err := step(ctx, x); err != nil {
				return err
			}
			if out != nil {
				out <- x
			}
		}
	}
}

// queue is the manager's part: finalizer, Queued, its event.
func (r *boundRole) queue(o outcome) func(context.Context, *v1alpha1.YouTubeExtraction) error {
	return func(ctx context.Context, x *v1alpha1.YouTubeExtraction) error {
		controllerutil.AddFinalizer(x, controllers.Finalizer)
		if err := r.c.Update(ctx, x); err != nil {
			return err
		}
		queued(x, o, "jobs")
		if err := r.c.Status().Update(ctx, x); err != nil {
			return err
		}
		r.rec.Eventf(x, nil, corev1.EventTypeNormal, "Queued", "Queued", "attempt %d of video %s queued", x.Status.Attempts, x.Status.VideoID)
		return nil
	}
}

// run is a worker's part: the claim, the result, their events.
func (r *boundRole) run(o outcome, worker, storageURL string) func(context.Context, *v1alpha1.YouTubeExtraction) error {
	return func(ctx context.Context, x *v1alpha1.YouTubeExtraction) error {
		claimed(x, worker)
		if err := r.c.Status().Update(ctx, x); err != nil {
			return err
		}
		r.rec.Eventf(x, nil, corev1.EventTypeNormal, "Running", "Running", "attempt %d claimed by worker %s", x.Status.Attempts, worker)
		msg := succeeded(x, o, storageURL)
		if err := r.c.Status().Update(ctx, x); err != nil {
			return err
		}
		r.rec.Eventf(x, nil, corev1.EventTypeNormal, v1alpha1.ReasonSucceeded, v1alpha1.ReasonSucceeded, "%s", msg)
		return nil
	}
}
