package app

import (
	"context"
	"errors"
	"fmt"
	"time"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"ytx.dev/ytx/controllers"
	"ytx.dev/ytx/internal/httpjobs"
	"ytx.dev/ytx/internal/kafka"
)

// ManagerConfig configures `ytx manager`.
type ManagerConfig struct {
	Kube
	Serving
	Kafka kafka.Config

	// LeaderElection lets several replicas run with one active.
	LeaderElection          bool
	LeaderElectionNamespace string
	LeaderElectionID        string
	// LeaseDuration, RenewDeadline and RetryPeriod time the election
	// (zero: controller-runtime's 15s, 10s and 2s). A standby takes over a
	// killed leader after LeaseDuration; a leader that cannot renew within
	// RenewDeadline (an API server outage longer than that) steps down and
	// exits, to be restarted.
	LeaseDuration, RenewDeadline, RetryPeriod time.Duration

	// Namespaces, when not empty, limits the manager to these namespaces.
	Namespaces []string

	// Storage is the --storage URL the workers write to; the finalizer
	// deletes files there.
	Storage string

	Controller controllers.Options
	// Playlists tunes the playlist controller.
	Playlists controllers.PlaylistOptions

	// Transport is TransportKafka (default) or TransportHTTP; with HTTP
	// jobs are POSTed to WorkerURL.
	Transport string
	WorkerURL string
	// JobTokenFile holds the token sent with every job over HTTP (the
	// workers' must hold the same); required with TransportHTTP.
	JobTokenFile string
	// QueuedTimeout sends an unclaimed attempt again (0: the transport's
	// default, see queuedTimeout; negative: never).
	QueuedTimeout time.Duration
}

// Validate checks what can be checked before connecting anywhere.
func (c *ManagerConfig) Validate() error {
	if c.Controller.HeartbeatTimeout < 0 || c.Controller.RetryBackoff < 0 || c.Controller.RetryBackoffMax < 0 {
		return errors.New("--heartbeat-timeout, --retry-backoff and --retry-backoff-max must not be negative")
	}
	if d := c.durations(); d != "" {
		return errors.New(d)
	}
	if c.Controller.MaxConcurrentReconciles < 0 {
		return fmt.Errorf("--max-concurrent-reconciles %d: must be at least 1", c.Controller.MaxConcurrentReconciles)
	}
	if err := c.lostJobFlags(); err != nil {
		return err
	}
	if c.Controller.MaxInFlightPerNamespace < 0 {
		return fmt.Errorf("--max-in-flight-per-namespace %d: must not be negative (0 for no cap)", c.Controller.MaxInFlightPerNamespace)
	}
	if c.Transport == "" {
		c.Transport = TransportKafka
	}
	if err := checkTransport(c.Transport); err != nil {
		return err
	}
	if c.Transport == TransportHTTP {
		if c.WorkerURL == "" {
			return errors.New("--worker-url is required with --transport=http: the workers' job endpoint, e.g. http://ytx-worker.ytx.svc:8090")
		}
		if _, err := httpjobs.CheckURL(c.WorkerURL); err != nil {
			return err
		}
		return checkJobToken(c.JobTokenFile)
	}
	return c.Kafka.Validate()
}

// lostJobFlags checks the timings of the lost-job rules: a partition is
// seen without progress from two looks at least.
func (c *ManagerConfig) lostJobFlags() error {
	stuck, every := c.Controller.StuckAfter, c.Controller.LagInterval
	switch {
	case stuck < 0 || every < 0:
		return fmt.Errorf("--kafka-stuck-after %s and --kafka-lag-interval %s must not be negative", stuck, every)
	case stuck == 0:
		stuck = controllers.DefaultStuckAfter
	}
	if every == 0 {
		every = controllers.DefaultLagInterval
	}
	if stuck < 2*every {
		return fmt.Errorf("--kafka-stuck-after %s must be at least twice --kafka-lag-interval %s: a partition is found without progress by two looks at least", stuck, every)
	}
	return nil
}

// durations checks the leader-election timings against each other, as
// client-go's leader election would refuse them (by panicking).
func (c *ManagerConfig) durations() string {
	lease, renew, retry := c.LeaseDuration, c.RenewDeadline, c.RetryPeriod
	switch {
	case lease < 0 || renew < 0 || retry < 0:
		return "--leader-election-lease-duration, --leader-election-renew-deadline and --leader-election-retry-period must not be negative"
	case lease == 0 && renew == 0 && retry == 0:
		return ""
	case lease == 0 || renew == 0 || retry == 0:
		return "set all of --leader-election-lease-duration, --leader-election-renew-deadline and --leader-election-retry-period, or none"
	case lease <= renew:
		return fmt.Sprintf("--leader-election-lease-duration %s must be longer than --leader-election-renew-deadline %s", lease, renew)
	case float64(renew) <= 1.2*float64(retry):
		return fmt.Sprintf("--leader-election-renew-deadline %s must be longer than 1.2 × --leader-election-retry-period %s", renew, retry)
	}
	return ""
}

// Manager is a running `ytx manager`: the controller and its publisher.
type Manager struct {
	mgr       manager.Manager
	publisher publisher
	// queue reads the workers' group for the lost-job rules; nil when
	// they are off (HTTP, or re-sends turned off).
	queue *kafka.Inspector
	peers *peers
}

// NewManager connects to the API server and registers the controller. It
// fails only for what its flags say; Kafka and the storage may come later
// (see peers): until they are there /readyz says what is missing, and the
// controller records its failed publishes and tries again.
func NewManager(ctx context.Context, c ManagerConfig) (*Manager, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	store, err := openStorage(ctx, c.Storage)
	if err != nil {
		return nil, err
	}
	cfg, err := c.RESTConfig()
	if err != nil {
		return nil, err
	}
	publisher, queue, err := c.newPublisher()
	if err != nil {
		return nil, err
	}
	reader, err := c.newQueueReader()
	if err != nil {
		publisher.Close()
		return nil, err
	}
	ps := newPeers(ctrl.Log.WithName("start-up"))
	if c.Transport != TransportHTTP {
		ps.add("kafka", c.kafkaCheck(reader))
	}
	ps.add("storage", store.Check)
	m := &Manager{publisher: publisher, queue: reader, peers: ps}
	opts := manager.Options{
		LeaderElection:                c.LeaderElection,
		LeaderElectionID:              c.LeaderElectionID,
		LeaderElectionNamespace:       c.LeaderElectionNamespace,
		LeaderElectionReleaseOnCancel: true,
	}
	for _, d := range []struct {
		v   time.Duration
		opt **time.Duration
	}{{c.LeaseDuration, &opts.LeaseDuration}, {c.RenewDeadline, &opts.RenewDeadline}, {c.RetryPeriod, &opts.RetryPeriod}} {
		if d.v > 0 {
			*d.opt = &d.v
		}
	}
	if opts.LeaderElectionID == "" {
		opts.LeaderElectionID = "ytx-manager.ytx.dev"
	}
	if len(c.Namespaces) > 0 {
		opts.Cache.DefaultNamespaces = map[string]cache.Config{}
		for _, ns := range c.Namespaces {
			opts.Cache.DefaultNamespaces[ns] = cache.Config{}
		}
	}
	opts.Cache = controllers.CacheOptions(opts.Cache)
	if m.mgr, err = newCtrlManager(cfg, c.Serving, opts, ps); err != nil {
		m.close()
		return nil, err
	}
	copts := c.Controller
	copts.Queue = queue
	copts.QueuedTimeout = c.queuedTimeout()
	copts.Storage = store
	if reader != nil {
		copts.QueueReader = reader
	}
	if _, err := controllers.New(m.mgr, publisher, copts); err != nil {
		m.close()
		return nil, err
	}
	popts := c.Playlists
	popts.Storage = store
	if copts.Name != "" && popts.Name == "" {
		popts.Name = copts.Name + "-playlist"
	}
	if _, err := controllers.NewPlaylists(m.mgr, publisher, popts); err != nil {
		m.close()
		return nil, err
	}
	return m, nil
}

// close releases the connections to the transport.
func (m *Manager) close() {
	m.publisher.Close()
	if m.queue != nil {
		m.queue.Close()
	}
}

// Start runs the controller until ctx ends.
func (m *Manager) Start(ctx context.Context) error {
	defer m.close()
	ctx, cancel := context.WithCancel(ctx)
	watched := m.peers.run(ctx)
	defer func() { cancel(); <-watched }()
	ctrl.LoggerFrom(ctx).Info("starting manager")
	return m.mgr.Start(ctx)
}

// Cache is what the controller reads extractions from: the informer
// cache, which holds each one without the fields controllers.DroppedFromCache
// names.
func (m *Manager) Cache() client.Reader { return m.mgr.GetCache() }

// Elected is closed when this replica becomes leader (at once without
// leader election).
func (m *Manager) Elected() <-chan struct{} { return m.mgr.Elected() }
