package app

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/go-logr/logr"
	"golang.org/x/sync/semaphore"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"ytx.dev/ytx/internal/download"
	"ytx.dev/ytx/internal/kafka"
	"ytx.dev/ytx/internal/media"
	"ytx.dev/ytx/internal/scratch"
	"ytx.dev/ytx/internal/youtube"
	"ytx.dev/ytx/workers"
)

// WorkerConfig configures `ytx worker`.
type WorkerConfig struct {
	Kube
	Serving
	Kafka kafka.Config

	// Concurrency is the number of jobs run at once.
	Concurrency int
	// ListingConcurrency is the number of listing jobs run at once, with
	// Kafka, beside Concurrency extractions (with HTTP they share its
	// slots); 0: DefaultListingConcurrency.
	ListingConcurrency int
	// ShutdownGrace is how long a stopping worker lets running jobs finish
	// before it hands them back.
	ShutdownGrace time.Duration
	// SessionTimeout is the consumer group's session timeout (0: kafka-go's
	// default, 30 s): how soon a dead worker's partitions move on.
	SessionTimeout time.Duration

	// Transport is TransportKafka (default) or TransportHTTP; with HTTP the
	// worker takes jobs on JobsAddr and queues up to JobsQueue of them
	// (0: twice Concurrency).
	Transport string
	JobsAddr  string
	JobsQueue int
	// JobTokenFile holds the token a job request must carry (the
	// manager's must hold the same); required with TransportHTTP.
	JobTokenFile string

	Worker workers.Options

	// YouTube tunes the HTTP client that reaches YouTube; tests and the dev
	// mode point it at the fake.
	YouTube youtube.HTTPOptions
	// Resolve is the resolver chain and how it reaches YouTube.
	Resolve ResolverConfig

	// Storage is the --storage URL where files go.
	Storage string
	FFmpeg  media.FFmpeg
	// FFmpegMaxProcs bounds the ffmpeg runs at once (media.FFmpeg.Procs);
	// 0 means no bound.
	FFmpegMaxProcs int
	Download       download.Options
}

// DefaultListingConcurrency is `ytx worker`'s default --listing-concurrency:
// a listing is a few requests to YouTube per page of a playlist, short
// beside an extraction, and a sync publishes one per playlist.
const DefaultListingConcurrency = 2

// DefaultFFmpegMaxProcs is `ytx worker`'s default --ffmpeg-max-procs: as
// many as --ytdlp-max-procs' default, and as the default --concurrency.
const DefaultFFmpegMaxProcs = 4

// Validate checks what can be checked before connecting anywhere.
func (c *WorkerConfig) Validate() error {
	switch {
	case c.Concurrency < 1 || c.Concurrency > 1024:
		return fmt.Errorf("--concurrency %d: must be between 1 and 1024", c.Concurrency)
	case c.ListingConcurrency < 0 || c.ListingConcurrency > 1024:
		return fmt.Errorf("--listing-concurrency %d: must be between 1 and 1024 (0: %d)", c.ListingConcurrency, DefaultListingConcurrency)
	case c.Worker.Name == "":
		return errors.New("--name is empty: set it, or POD_NAME, or give the host a name")
	case c.ShutdownGrace < 0:
		return fmt.Errorf("--shutdown-grace %s: must not be negative", c.ShutdownGrace)
	case c.SessionTimeout != 0 && (c.SessionTimeout < 6*time.Second || c.SessionTimeout > 5*time.Minute):
		// Brokers refuse what is outside group.min/max.session.timeout.ms
		// (Kafka's defaults: 6 s and 30 min; kfake's: 6 s and 5 min).
		return fmt.Errorf("--kafka-session-timeout %s: must be between 6s and 5m", c.SessionTimeout)
	case c.Worker.StatusInterval < 0 || c.Worker.HeartbeatInterval < 0:
		return errors.New("--status-interval and --heartbeat-interval must not be negative")
	case c.Worker.MaxListingEntries < 0:
		return fmt.Errorf("--max-listing-entries %d: must not be negative (0: %d)", c.Worker.MaxListingEntries, workers.DefaultMaxListingEntries)
	case c.Worker.MaxArtifactBytes < 0:
		return fmt.Errorf("--max-artifact-bytes %d: must not be negative (0: no cap)", c.Worker.MaxArtifactBytes)
	}
	if c.ListingConcurrency == 0 {
		c.ListingConcurrency = DefaultListingConcurrency
	}
	if err := checkScratchDir(c.Worker.ScratchDir); err != nil {
		return err
	}
	if err := checkFFmpeg(c.FFmpeg.Path); err != nil {
		return err
	}
	if c.FFmpegMaxProcs < 0 {
		return fmt.Errorf("--ffmpeg-max-procs %d: must not be negative (0: no bound)", c.FFmpegMaxProcs)
	}
	if err := c.Resolve.Validate(); err != nil {
		return err
	}
	if c.Transport == "" {
		c.Transport = TransportKafka
	}
	if err := checkTransport(c.Transport); err != nil {
		return err
	}
	if c.JobsQueue < 0 {
		return fmt.Errorf("--jobs-queue %d: must not be negative (0: twice --concurrency)", c.JobsQueue)
	}
	if c.Transport == TransportHTTP {
		return checkJobToken(c.JobTokenFile)
	}
	return c.Kafka.Validate()
}

// Worker is a running `ytx worker`: a transport feeding a workers.Worker.
type Worker struct {
	mgr    manager.Manager
	source source
	worker *workers.Worker
	peers  *peers
	cfg    WorkerConfig
}

// NewWorker connects to the API server and sets up the transport. It fails
// only for what its flags say (a jobs address that is taken among them);
// Kafka and the storage may come later (see peers): until both are there
// /readyz says what is missing and the worker takes no job, as each would
// fail for nothing.
func NewWorker(ctx context.Context, c WorkerConfig) (*Worker, error) {
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
	ps := newPeers(ctrl.Log.WithName("start-up").WithValues("worker", c.Worker.Name))
	if c.Transport != TransportHTTP {
		c.Kafka = c.Kafka.WithDefaults()
		ps.add("kafka", func(ctx context.Context) error {
			return kafka.Check(ctx, c.Kafka, c.Kafka.Topic, c.Kafka.ListingTopic, c.Kafka.DeadLetterTopic)
		})
	}
	ps.add("storage", store.Check)
	grace := c.ShutdownGrace + 10*time.Second
	mgr, err := newCtrlManager(cfg, c.Serving, manager.Options{GracefulShutdownTimeout: &grace}, ps)
	if err != nil {
		return nil, err
	}
	log := ctrl.Log.WithName("worker").WithValues("worker", c.Worker.Name)
	sweepScratch(log, c.Worker.ScratchDir)
	res, err := NewResolvers(ctx, c.Resolve, c.YouTube)
	if err != nil {
		return nil, err
	}
	logResolvers(log, res)
	if err := mgr.Add(manager.RunnableFunc(func(ctx context.Context) error {
		<-ctx.Done()
		return res.Close()
	})); err != nil {
		res.Close()
		return nil, err
	}
	ffmpeg := c.FFmpeg
	if c.FFmpegMaxProcs > 0 {
		ffmpeg.Procs = semaphore.NewWeighted(int64(c.FFmpegMaxProcs))
	}
	deps := workers.Deps{
		Client: mgr.GetClient(), Reader: mgr.GetAPIReader(), Events: mgr.GetEventRecorder("ytx-worker"),
		Chain: res.Chain, Clients: res.Clients, Pacer: res.Pacer, Cookies: res.Cookies,
		Download: c.Download, FFmpeg: ffmpeg, Store: store, Log: log,
	}
	w := &Worker{mgr: mgr, worker: workers.New(deps, c.Worker), peers: ps, cfg: c}
	if w.source, err = c.newSource(w.worker, ps.ready, log); err != nil {
		return nil, err
	}
	if err := mgr.Add(manager.RunnableFunc(w.consume)); err != nil {
		return nil, err
	}
	return w, nil
}

// sweepScratch removes the scratch directories of jobs whose process died
// (a container restarted after OOM or kill keeps its emptyDir), so that
// scratch space stays bounded across crashes.
func sweepScratch(log logr.Logger, dir string) {
	removed, err := scratch.Sweep(dir)
	if len(removed) > 0 {
		log.Info("removed the scratch files of jobs that died with an earlier process", "dirs", removed)
	}
	if err != nil {
		log.Info("could not sweep the scratch directory", "dir", dir, "error", err.Error())
	}
}

// consume takes jobs from the transport until ctx ends. With Kafka it
// joins the consumer group only once Kafka and the storage have been there:
// a member takes partitions, and the jobs on them would fail without
// storage. The HTTP endpoint answers at once, and refuses jobs (503) while
// a peer is missing (see newSource).
func (w *Worker) consume(ctx context.Context) error {
	if w.cfg.Transport != TransportHTTP {
		if err := w.peers.wait(ctx); err != nil {
			return nil // stopped before it was ready: nothing was taken
		}
		ctrl.Log.WithName("worker").Info("joining the consumer groups", "worker", w.cfg.Worker.Name, "group", w.cfg.Kafka.Group, "listingGroup", w.cfg.Kafka.ListingGroup)
	}
	return w.source.Run(ctx, w.cfg.Concurrency, dispatch(w.worker))
}

// Start runs the worker until ctx ends.
func (w *Worker) Start(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	watched := w.peers.run(ctx)
	defer func() { cancel(); <-watched }()
	return w.mgr.Start(ctx)
}
