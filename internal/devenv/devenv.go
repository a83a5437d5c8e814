// Package devenv runs ytx on one machine without a cluster: a real
// kube-apiserver and etcd (as envtest runs them), an in-process Kafka broker
// (kfake), optionally the fake YouTube, and the manager and a worker built
// exactly as in a cluster. `ytx-dev` (cmd/ytx-dev) and the end-to-end tests
// both use it; bin/ytx, the binary in the images, does not link it.
package devenv

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"golang.org/x/sync/errgroup"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"ytx.dev/ytx/config"
	"ytx.dev/ytx/controllers"
	"ytx.dev/ytx/internal/app"
	"ytx.dev/ytx/internal/kafka"
	"ytx.dev/ytx/internal/youtube"
	"ytx.dev/ytx/internal/youtube/fake"
	"ytx.dev/ytx/workers"
)

// APIServer is a running kube-apiserver and etcd with ytx's CRDs installed.
type APIServer struct {
	env    *envtest.Environment
	Config *rest.Config
}

// AssetsDir is where kube-apiserver, etcd and kubectl are: $KUBEBUILDER_ASSETS
// when set (the Makefile sets it to bin/k8s), else fallback.
func AssetsDir(fallback string) string {
	if d := os.Getenv("KUBEBUILDER_ASSETS"); d != "" {
		return d
	}
	return fallback
}

// APIServerOption changes how StartAPIServer starts kube-apiserver and etcd.
type APIServerOption func(*envtest.Environment)

// WithoutCRDs starts the API server without ytx's CRDs, for a test that
// installs them its own way (helm): deleting them again would wait on the
// API server's finalizer for the CRD, which a loaded machine can hold for
// longer than a test should wait.
func WithoutCRDs() APIServerOption {
	return func(env *envtest.Environment) { env.CRDInstallOptions.CRDs = nil }
}

// EtcdQuota sets etcd's --quota-backend-bytes, the size of its database past
// which it refuses writes (etcd's default is 2 GiB): what holds 100,000
// extractions and their history between compactions needs more.
func EtcdQuota(bytes int64) APIServerOption {
	return func(env *envtest.Environment) {
		if env.ControlPlane.Etcd == nil {
			env.ControlPlane.Etcd = &envtest.Etcd{}
		}
		env.ControlPlane.Etcd.Configure().Set("quota-backend-bytes", strconv.FormatInt(bytes, 10))
	}
}

// StartAPIServer starts kube-apiserver and etcd from the binaries in assets
// (empty: $KUBEBUILDER_ASSETS).
func StartAPIServer(assets string, opts ...APIServerOption) (*APIServer, error) {
	crds, err := config.CRDs()
	if err != nil {
		return nil, err
	}
	if assets == "" {
		assets = AssetsDir("")
	}
	if _, err := os.Stat(filepath.Join(assets, "kube-apiserver")); err != nil {
		return nil, fmt.Errorf("no kube-apiserver in %q: run `make tools` (it builds bin/k8s) or set KUBEBUILDER_ASSETS", assets)
	}
	env := &envtest.Environment{
		BinaryAssetsDirectory: assets,
		CRDInstallOptions:     envtest.CRDInstallOptions{CRDs: crds},
	}
	for _, o := range opts {
		o(env)
	}
	cfg, err := env.Start()
	if err != nil {
		// envtest leaves the processes running when a step after their
		// start fails (installing the CRDs, say).
		env.Stop() //nolint:errcheck // the start's error is the one to report
		return nil, fmt.Errorf("starting kube-apiserver and etcd: %w", err)
	}
	return &APIServer{env: env, Config: cfg}, nil
}

// WriteKubeconfig writes a kubeconfig for an administrator of the API server.
func (a *APIServer) WriteKubeconfig(path string) error {
	user, err := a.env.AddUser(envtest.User{Name: "developer", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return err
	}
	data, err := user.KubeConfig()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, data, 0o600)
}

// EtcdURL is etcd's client URL (plain HTTP on loopback), where it also
// serves /metrics.
func (a *APIServer) EtcdURL() string { return a.env.ControlPlane.Etcd.URL.String() }

// Stop stops the API server and etcd and removes their data.
func (a *APIServer) Stop() error { return a.env.Stop() }

// StartKafka starts an in-process Kafka broker on port (0: any free port)
// with the job and dead-letter topics created.
func StartKafka(port int, partitions int32, topics ...string) (*kfake.Cluster, error) {
	opts := []kfake.Opt{kfake.NumBrokers(1), kfake.Ports(port)}
	if len(topics) > 0 {
		opts = append(opts, kfake.SeedTopics(partitions, topics...))
	}
	return kfake.NewCluster(opts...)
}

// Options configure Run.
type Options struct {
	// Dir holds the kubeconfig and the dev mode's files.
	Dir string
	// Assets holds kube-apiserver and etcd (empty: $KUBEBUILDER_ASSETS).
	Assets string
	// KafkaPort is the broker's port (0: any free port).
	KafkaPort int
	// FakeYouTube serves the built-in fake instead of reaching YouTube.
	FakeYouTube bool
	// Concurrency is the worker's number of jobs at once.
	Concurrency int
	// Storage is where files go (empty: a directory under Dir).
	Storage string
	// Transport is app.TransportKafka (default: an in-process broker) or
	// app.TransportHTTP (the worker listens on a free loopback port).
	Transport string
}

// Run starts everything, prints how to use it, and runs until ctx ends.
func Run(ctx context.Context, o Options, out io.Writer) error {
	api, err := StartAPIServer(o.Assets)
	if err != nil {
		return err
	}
	defer api.Stop() //nolint:errcheck // best effort on the way out
	kubeconfig, err := filepath.Abs(filepath.Join(o.Dir, "kubeconfig"))
	if err != nil {
		return err
	}
	if err := api.WriteKubeconfig(kubeconfig); err != nil {
		return fmt.Errorf("writing %s: %w", kubeconfig, err)
	}

	kcfg, jobs, stop, err := startTransport(o)
	if err != nil {
		return err
	}
	defer stop()
	var jobToken string
	if o.Transport == app.TransportHTTP {
		if jobToken, err = WriteJobToken(filepath.Join(o.Dir, "job-token")); err != nil {
			return err
		}
	}

	var yt youtube.HTTPOptions
	var resolve app.ResolverConfig
	source := "https://www.youtube.com"
	if o.FakeYouTube {
		srv, err := startFake(ctx, filepath.Join(o.Dir, "clips"))
		if err != nil {
			return fmt.Errorf("starting the fake YouTube: %w", err)
		}
		defer srv.Close()
		// As YouTube answers since 2026-08-17: kkdai's media is refused,
		// yt-dlp's is served, so the demo shows the chain at work.
		srv.AsSinceAugust2026()
		yt = youtube.HTTPOptions{DialContext: srv.DialContext, RootCAs: srv.CertPool()}
		ca, err := filepath.Abs(filepath.Join(o.Dir, "fake-youtube-ca.pem"))
		if err == nil {
			err = srv.WriteCAFile(ca)
		}
		if err != nil {
			return err
		}
		// yt-dlp trusts what the system trusts (--compat-options
		// no-certifi): the fake's CA, here.
		resolve.YTDLP.Env = []string{"SSL_CERT_FILE=" + ca}
		source = "the built-in fake (offline), answering as YouTube has since 2026-08-17"
	}

	if o.Storage == "" {
		dir, err := filepath.Abs(filepath.Join(o.Dir, "artifacts"))
		if err == nil {
			err = os.MkdirAll(dir, 0o755)
		}
		if err != nil {
			return err
		}
		o.Storage = "file://" + dir
	}

	off := app.Serving{MetricsAddr: "0", ProbeAddr: "0"}
	m, err := app.NewManager(ctx, app.ManagerConfig{
		Kube: app.Kube{Config: api.Config}, Serving: off, Kafka: kcfg, Storage: o.Storage,
		Controller: controllers.Options{MaxInFlightPerNamespace: controllers.DefaultMaxInFlightPerNamespace},
		Transport:  o.Transport, WorkerURL: "http://" + jobs, JobTokenFile: jobToken,
	})
	if err != nil {
		return err
	}
	w, err := app.NewWorker(ctx, app.WorkerConfig{
		Kube: app.Kube{Config: api.Config}, Serving: off, Kafka: kcfg,
		Concurrency: max(o.Concurrency, 1), ShutdownGrace: 5 * time.Second, YouTube: yt, Resolve: resolve,
		Worker:  workers.Options{Name: "dev-worker", StatusInterval: time.Second, MaxArtifactBytes: 8 << 30},
		Storage: o.Storage, Transport: o.Transport, JobsAddr: jobs, JobTokenFile: jobToken,
		FFmpegMaxProcs: app.DefaultFFmpegMaxProcs,
	})
	if err != nil {
		return err
	}

	where := "HTTP, the worker at http://" + jobs + " (the job token is in " + jobToken + ")"
	if o.Transport != app.TransportHTTP {
		where = "Kafka " + kcfg.Brokers[0] + " (topic " + kcfg.Topic + ")"
	}
	fmt.Fprintf(out, `ytx-dev is running.
  Kubernetes API: %s
  Jobs:           %s
  YouTube:        %s
  Files:          %s

In another shell:
  export KUBECONFIG=%s PATH=%s:$PATH
  kubectl apply -f config/samples/
  kubectl get extractions -w

Ctrl-C stops everything.
`, api.Config.Host, where, source, o.Storage, kubeconfig, o.Assets)

	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return m.Start(ctx) })
	g.Go(func() error { return w.Start(ctx) })
	if err := g.Wait(); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}

// WriteJobToken writes a fresh random token for the HTTP job endpoint to
// path (readable by its owner only) and returns path: what a Secret holds
// in a cluster, made here so that the manager and the worker share it.
func WriteJobToken(path string) (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return "", err
	}
	if err := os.WriteFile(path, []byte(base64.StdEncoding.EncodeToString(b[:])+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("writing the job token: %w", err)
	}
	return path, nil
}

// startTransport starts what carries jobs: an in-process Kafka broker with
// the topics, or, for HTTP, nothing but a free port for the worker.
func startTransport(o Options) (kafka.Config, string, func(), error) {
	if o.Transport == app.TransportHTTP {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return kafka.Config{}, "", nil, err
		}
		addr := ln.Addr().String()
		ln.Close()
		return kafka.Config{}, addr, func() {}, nil
	}
	broker, err := StartKafka(o.KafkaPort, 4, kafka.DefaultTopic, kafka.DefaultListingTopic, kafka.DefaultDeadLetterTopic)
	if err != nil {
		return kafka.Config{}, "", nil, fmt.Errorf("starting Kafka on port %d: %w", o.KafkaPort, err)
	}
	kcfg := kafka.Config{Brokers: broker.ListenAddrs(), Topic: kafka.DefaultTopic, Group: kafka.DefaultGroup, DeadLetterTopic: kafka.DefaultDeadLetterTopic, ClientID: "ytx-dev"}
	return kcfg, "", broker.Close, nil
}

// startFake serves the built-in catalogue with real media: short clips that
// ffmpeg makes into dir once.
func startFake(ctx context.Context, dir string) (*fake.Server, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	clips, err := fake.MakeClips(ctx, dir, 5*time.Second)
	if err != nil {
		return nil, err
	}
	videos, err := fake.DefaultVideosWithClips(clips)
	if err != nil {
		return nil, err
	}
	srv, err := fake.New(videos...)
	if err == nil {
		// The sample playlist (config/samples) follows a channel.
		err = srv.AddDefaultListings()
	}
	if err == nil {
		err = srv.Start()
	}
	return srv, err
}
