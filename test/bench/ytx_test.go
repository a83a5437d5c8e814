package bench

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"ytx.dev/ytx/controllers"
	"ytx.dev/ytx/internal/app"
	"ytx.dev/ytx/internal/youtube"
	"ytx.dev/ytx/internal/youtube/fake"
	"ytx.dev/ytx/workers"
)

// benchWorkers is the number of `ytx worker` processes.
const benchWorkers = 2

// setup is how ytx runs: the knobs that decide how much it does at once.
type setup struct {
	name string
	// limit is every process's --kube-api-qps and --kube-api-burst.
	limit clientLimit
	// reconciles is the manager's --max-concurrent-reconciles.
	reconciles int
	// inFlight is the manager's --max-in-flight-per-namespace (0: no cap).
	inFlight int
	// concurrency is each worker's --concurrency.
	concurrency int
}

// clientLimit is a client-side rate limit of API requests, per client.
type clientLimit struct {
	qps   float32
	burst int
}

var (
	// defaults is ytx as `ytx manager` and `ytx worker` start, but for the
	// workers' concurrency: 8, not 4, so that two workers are not what
	// bounds metadata-only jobs, which mostly wait on the API server.
	defaults = setup{
		name:  "defaults",
		limit: clientLimit{qps: app.DefaultQPS, burst: app.DefaultBurst}, reconciles: 4,
		inFlight: controllers.DefaultMaxInFlightPerNamespace, concurrency: 8,
	}
	// unbound raises every limit of ytx's own so far that none binds:
	// what is left is what ytx costs the API server and the machine.
	unbound = setup{
		name:  "own limits raised",
		limit: clientLimit{qps: 1000, burst: 2000}, reconciles: 16, inFlight: 0, concurrency: 32,
	}
	setups = []setup{defaults, unbound}
)

func (s setup) String() string {
	return fmt.Sprintf("--kube-api-qps %g --kube-api-burst %d --max-concurrent-reconciles %d --max-in-flight-per-namespace %d, 2 workers --concurrency %d",
		s.limit.qps, s.limit.burst, s.reconciles, s.inFlight, s.concurrency)
}

// ytx is a running manager and its workers.
type ytx struct {
	stops []func() error
	// ready, if set, waits until the workers can receive jobs.
	ready func(ctx context.Context) error
}

// startYtx runs ytx for namespace ns on transport tr as set up by su,
// built by internal/app's constructors as the binary builds them;
// requests counts their API requests.
func startYtx(b *testing.B, cp *controlPlane, tr transport, su setup, ns string, yt *fake.Server, requests *requestCounter) *ytx {
	b.Helper()
	storage := "file://" + b.TempDir()
	kube := func(role string) app.Kube {
		return app.Kube{Config: requests.config(cp.api.Config, role), QPS: su.limit.qps, Burst: su.limit.burst}
	}
	off := app.Serving{MetricsAddr: "0", ProbeAddr: "0"}
	m := app.ManagerConfig{
		Kube: kube("manager"), Serving: off, Namespaces: []string{ns}, Storage: storage,
		Controller: controllers.Options{
			// Unique within this process, where every run has a manager.
			Name:                    "bench-" + ns,
			MaxConcurrentReconciles: su.reconciles,
			MaxInFlightPerNamespace: su.inFlight,
		},
	}
	w := app.WorkerConfig{
		Kube: kube("workers"), Serving: off, Storage: storage,
		Concurrency: su.concurrency, ShutdownGrace: 2 * time.Second,
		YouTube: youtube.HTTPOptions{DialContext: yt.DialContext, RootCAs: yt.CertPool()},
		Worker:  workers.Options{MaxArtifactBytes: 8 << 30},
	}
	wired := tr.wire(b, cp, ns, &m, &w)

	y := &ytx{ready: wired.ready}
	b.Cleanup(func() { y.stop(b) })
	ctx := context.Background()
	mgr, err := app.NewManager(ctx, m)
	if err != nil {
		b.Fatalf("NewManager: %v", err)
	}
	y.run(mgr.Start)
	for i := range benchWorkers {
		wc := w
		wc.Worker.Name = fmt.Sprintf("worker-%d", i)
		wc.Worker.ScratchDir = b.TempDir()
		if wired.worker != nil {
			wired.worker(i, &wc)
		}
		wk, err := app.NewWorker(ctx, wc)
		if err != nil {
			b.Fatalf("NewWorker: %v", err)
		}
		y.run(wk.Start)
	}
	return y
}

// run starts a process's Start in the background.
func (y *ytx) run(start func(context.Context) error) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- start(ctx) }()
	y.stops = append(y.stops, func() error {
		cancel()
		select {
		case err := <-done:
			if errors.Is(err, context.Canceled) {
				return nil
			}
			return err
		case <-time.After(30 * time.Second):
			return errors.New("did not stop within 30s")
		}
	})
}

// stop ends every process, workers first.
func (y *ytx) stop(b *testing.B) {
	for i := len(y.stops) - 1; i >= 0; i-- {
		if err := y.stops[i](); err != nil {
			b.Errorf("stopping ytx: %v", err)
		}
	}
	y.stops = nil
}
