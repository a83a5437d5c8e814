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

// The ytx under test: one manager and benchWorkers workers, each with the
// defaults of `ytx manager` and `ytx worker` except where said. Two workers
// of concurrency 8 are what a small cluster runs (the chart's default is
// two replicas of concurrency 4; 8 here so that the workers' concurrency
// is not what bounds metadata-only jobs, which mostly wait on the API
// server).
const (
	benchWorkers     = 2
	benchConcurrency = 8
	// managerReconciles is `ytx manager`'s --max-concurrent-reconciles.
	managerReconciles = 4
)

// clientLimit is a client-side rate limit of API requests, per client.
type clientLimit struct {
	qps   float32
	burst int
}

func (l clientLimit) String() string {
	return fmt.Sprintf("--kube-api-qps %g --kube-api-burst %d", l.qps, l.burst)
}

// ytxLimits are the limits ytx's processes run with: their defaults, and
// one so high that the API server, not the client, bounds them.
var (
	defaultLimit = clientLimit{qps: app.DefaultQPS, burst: app.DefaultBurst}
	raisedLimit  = clientLimit{qps: 1000, burst: 2000}
	ytxLimits    = []clientLimit{defaultLimit, raisedLimit}
)

// ytx is a running manager and its workers.
type ytx struct {
	stops []func() error
}

// startYtx runs ytx for namespace ns on transport tr with the client
// limit lim, built by internal/app's constructors as the binary builds
// them; requests counts their API requests.
func startYtx(b *testing.B, cp *controlPlane, tr transport, lim clientLimit, ns string, yt *fake.Server, requests *requestCounter) *ytx {
	b.Helper()
	storage := "file://" + b.TempDir()
	kube := func(role string) app.Kube {
		return app.Kube{Config: requests.config(cp.api.Config, role), QPS: lim.qps, Burst: lim.burst}
	}
	off := app.Serving{MetricsAddr: "0", ProbeAddr: "0"}
	m := app.ManagerConfig{
		Kube: kube("manager"), Serving: off, Namespaces: []string{ns}, Storage: storage,
		Controller: controllers.Options{
			// Unique within this process, where every run has a manager.
			Name:                    "bench-" + ns,
			MaxConcurrentReconciles: managerReconciles,
			MaxInFlightPerNamespace: controllers.DefaultMaxInFlightPerNamespace,
		},
	}
	w := app.WorkerConfig{
		Kube: kube("workers"), Serving: off, Storage: storage,
		Concurrency: benchConcurrency, ShutdownGrace: 2 * time.Second,
		YouTube: youtube.HTTPOptions{DialContext: yt.DialContext, RootCAs: yt.CertPool()},
		Worker:  workers.Options{MaxArtifactBytes: 8 << 30},
	}
	tr.configure(b, cp, ns, &m, &w)

	y := &ytx{}
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

// defaultInFlight is the manager's per-namespace cap in these runs.
func defaultInFlight() int { return controllers.DefaultMaxInFlightPerNamespace }
