// Package app assembles ytx's processes (the manager and the worker) from
// their configuration. The ytx binary, its dev mode and the end-to-end tests
// all build them here, so the tests run exactly what production runs.
package app

import (
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	v1alpha1 "ytx.dev/ytx/api/v1alpha1"
)

// Scheme knows the Kubernetes built-in types and ytx's own.
var Scheme = func() *runtime.Scheme {
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		panic(err)
	}
	if err := v1alpha1.AddToScheme(s); err != nil {
		panic(err)
	}
	return s
}()

// Client-side limits of API requests. client-go's own defaults (5 per
// second, bursts of 10) throttle a manager with a thousand extractions to a
// crawl: each one takes a few writes. The API server's priority and
// fairness guards it from a flood either way.
const (
	DefaultQPS   = 50
	DefaultBurst = 100
)

// Kube says how to reach the API server.
type Kube struct {
	// Kubeconfig is a kubeconfig file; empty means $KUBECONFIG, then the
	// in-cluster config, then ~/.kube/config.
	Kubeconfig string
	// Config, when set, is used as is (tests and dev mode).
	Config *rest.Config
	// QPS and Burst bound requests to the API server; zero keeps Config's,
	// or else DefaultQPS and DefaultBurst.
	QPS   float32
	Burst int
}

// RESTConfig resolves the API server connection.
func (k Kube) RESTConfig() (*rest.Config, error) {
	cfg, err := k.config()
	if err != nil {
		return nil, err
	}
	switch {
	case k.QPS > 0:
		cfg.QPS = k.QPS
	case cfg.QPS == 0:
		cfg.QPS = DefaultQPS
	}
	switch {
	case k.Burst > 0:
		cfg.Burst = k.Burst
	case cfg.Burst == 0:
		cfg.Burst = DefaultBurst
	}
	return cfg, nil
}

func (k Kube) config() (*rest.Config, error) {
	if k.Config != nil {
		return rest.CopyConfig(k.Config), nil
	}
	if k.Kubeconfig != "" {
		cfg, err := clientcmd.BuildConfigFromFlags("", k.Kubeconfig)
		if err != nil {
			return nil, fmt.Errorf("--kubeconfig %s: %w", k.Kubeconfig, err)
		}
		return cfg, nil
	}
	cfg, err := ctrl.GetConfig()
	if err != nil {
		return nil, fmt.Errorf("no Kubernetes API server configured (set --kubeconfig or KUBECONFIG, or run in a cluster): %w", err)
	}
	return cfg, nil
}

// Serving are the HTTP endpoints every process offers.
type Serving struct {
	// MetricsAddr serves Prometheus metrics; "0" disables it.
	MetricsAddr string
	// ProbeAddr serves /healthz and /readyz; "0" disables it.
	ProbeAddr string
}

// newCtrlManager builds a controller-runtime manager with the endpoints
// that both processes share: metrics, and the probes, whose /readyz tells
// whether ps (the program's peers; the caller runs their watch) are there.
func newCtrlManager(cfg *rest.Config, s Serving, opts manager.Options, ps *peers) (manager.Manager, error) {
	opts.Scheme = Scheme
	opts.Metrics = metricsserver.Options{BindAddress: s.MetricsAddr}
	// The probes are ours (see probeServer): controller-runtime's /readyz
	// would answer 500 with every reason withheld.
	opts.HealthProbeBindAddress = "0"
	if opts.GracefulShutdownTimeout == nil {
		d := 30 * time.Second
		opts.GracefulShutdownTimeout = &d
	}
	probes, err := probeServer(s.ProbeAddr, ps)
	if err != nil {
		return nil, err
	}
	mgr, err := ctrl.NewManager(cfg, opts)
	if err == nil && probes != nil {
		err = mgr.Add(probes)
	}
	if err != nil {
		if probes != nil {
			probes.Listener.Close() //nolint:errcheck // the error above is the one to report
		}
		return nil, err
	}
	return mgr, nil
}
