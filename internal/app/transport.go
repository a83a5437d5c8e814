package app

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/go-logr/logr"
	kafkago "github.com/segmentio/kafka-go"
	ctrl "sigs.k8s.io/controller-runtime"

	"ytx.dev/ytx/controllers"
	"ytx.dev/ytx/internal/httpjobs"
	"ytx.dev/ytx/internal/job"
	"ytx.dev/ytx/internal/kafka"
	"ytx.dev/ytx/workers"
)

// The job transports: how a job goes from the manager to a worker. Kafka is
// durable (a job outlives any process); HTTP is direct and keeps a job in
// the memory of the worker that took it (see internal/httpjobs).
const (
	TransportKafka = "kafka"
	TransportHTTP  = "http"
)

func checkTransport(name string) error {
	if name != TransportKafka && name != TransportHTTP {
		return fmt.Errorf("--transport %q: use %s or %s", name, TransportKafka, TransportHTTP)
	}
	return nil
}

// checkJobToken checks the --job-token-file of either program: with the
// HTTP transport it is required, as a job endpoint without a token takes
// jobs from anyone who can reach it, and there is no switch to turn it
// off (`ytx-dev` and the tests write a token file of their own).
func checkJobToken(path string) error {
	if path == "" {
		return errors.New(httpjobs.TokenFlag + " is required with --transport=http: the workers take a job only with this shared token; " +
			"give the manager and the workers the same file (in a cluster the same key of one Secret, the chart's jobToken.secretName), " +
			"e.g. made with `head -c 32 /dev/urandom | base64`")
	}
	_, err := httpjobs.LoadToken(path, logr.Discard())
	return err
}

// publisher sends jobs; the manager closes it when it stops.
type publisher interface {
	controllers.Publisher
	Close() error
}

// newPublisher makes the manager's publisher for its transport; it
// connects when it first publishes. It returns what conditions and events
// call the destination.
func (c *ManagerConfig) newPublisher() (publisher, string, error) {
	if c.Transport == TransportHTTP {
		token, err := httpjobs.LoadToken(c.JobTokenFile, ctrl.Log.WithName("job-token"))
		if err != nil {
			return nil, "", err
		}
		p, err := httpjobs.NewPublisher(c.WorkerURL, token, nil)
		if err != nil {
			return nil, "", err
		}
		return p, p.Where(), nil
	}
	c.Kafka = c.Kafka.WithDefaults()
	p, err := kafka.NewPublisher(c.Kafka)
	return p, c.Kafka.Topic, err
}

// kafkaCheck is the manager's "kafka" peer: the broker takes the
// credentials, the job and listing topics exist and may be written, and, when the
// lost-job rules are on (reader not nil), the group and the topic may be
// described. A reader that cannot look for another reason (a group that
// does not exist yet) is not a reason to wait: the lost-job watch looks
// again every --kafka-lag-interval.
func (c *ManagerConfig) kafkaCheck(reader *kafka.Inspector) func(context.Context) error {
	k := c.Kafka.WithDefaults()
	return func(ctx context.Context) error {
		if err := kafka.Check(ctx, k, k.Topic, k.ListingTopic); err != nil {
			return err
		}
		if reader == nil {
			return nil
		}
		if _, err := reader.Look(ctx); kafka.Refused(err) {
			return err
		}
		return nil
	}
}

// DefaultKafkaQueuedTimeout is --queued-timeout with Kafka: how long an
// attempt waits unclaimed before the manager asks the consumer group
// whether its message can still be on its way. A backlog does not trip
// it (the group's offsets tell a waiting message from a lost one), so it
// is short enough to heal a lost job within minutes.
const DefaultKafkaQueuedTimeout = 5 * time.Minute

// queuedTimeout is --queued-timeout, or its transport's default: HTTP
// loses the jobs a worker held when it dies, so they are sent again after
// the heartbeat timeout; with Kafka, after DefaultKafkaQueuedTimeout, if
// the group's offsets say the message cannot still be waiting.
func (c *ManagerConfig) queuedTimeout() time.Duration {
	switch {
	case c.QueuedTimeout != 0:
		return c.QueuedTimeout
	case c.Transport != TransportHTTP:
		return DefaultKafkaQueuedTimeout
	case c.Controller.HeartbeatTimeout > 0:
		return c.Controller.HeartbeatTimeout
	}
	return 2 * time.Minute
}

// newQueueReader reads the job topic and the workers' group for the
// lost-job rules: with Kafka, unless re-sends are off. Whether it may read
// them is part of the "kafka" peer's check (kafkaCheck), so that a missing
// ACL is one reason in /readyz and the log, not a log line per look.
func (c *ManagerConfig) newQueueReader() (*kafka.Inspector, error) {
	if c.Transport == TransportHTTP || c.queuedTimeout() <= 0 {
		return nil, nil
	}
	return kafka.NewInspector(c.Kafka)
}

// source delivers job messages to a worker, several at once, until ctx
// ends; each transport has one.
type source interface {
	Run(ctx context.Context, concurrency int, handle func(context.Context, job.Message) error) error
}

// handlers run the jobs of each kind: a *workers.Worker.
type handlers interface {
	Handle(ctx context.Context, m job.Message) error
	HandleListing(ctx context.Context, m job.Message) error
}

// dispatch runs a message by its kind. The transports never hand over a
// kind this build does not know (job.Decode refuses it), so what is not a
// listing is an extraction.
func dispatch(h handlers) func(context.Context, job.Message) error {
	return func(ctx context.Context, m job.Message) error {
		if m.Kind == job.KindListing {
			return h.HandleListing(ctx, m)
		}
		return h.Handle(ctx, m)
	}
}

// kafkaSource reads the job topic in the workers' consumer group and,
// beside it, the listing topic in the listing group, with
// listingConcurrency handlers of its own, so that listings and
// extractions never wait for each other's slots.
type kafkaSource struct {
	jobs, listings     *kafka.Consumer
	listingConcurrency int
	unknown            *unknownKinds
}

func (k kafkaSource) Run(ctx context.Context, concurrency int, handle func(context.Context, job.Message) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	listed := make(chan error, 1)
	go func() {
		err := k.listings.Run(ctx, k.listingConcurrency, k.handler(handle))
		if err != nil {
			cancel() // what no retry fixes (an ACL): stop the worker
		}
		listed <- err
	}()
	err := k.jobs.Run(ctx, concurrency, k.handler(handle))
	cancel()
	return errors.Join(err, <-listed)
}

// handler decodes a message and runs it. Poison goes to the dead-letter
// topic; a job of a kind this build does not know (a newer manager's,
// during an upgrade) stays uncommitted for the partition's next owner,
// maybe a newer worker, and is logged once.
func (k kafkaSource) handler(handle func(context.Context, job.Message) error) kafka.Handler {
	return func(ctx context.Context, msg kafkago.Message) error {
		m, err := job.Decode(msg.Value)
		switch {
		case errors.Is(err, job.ErrUnknownKind):
			k.unknown.note(msg, m)
			return fmt.Errorf("%w: %v", kafka.ErrRedeliver, err)
		case err != nil:
			return fmt.Errorf("%w: %v", kafka.ErrDeadLetter, err)
		}
		err = handle(ctx, m)
		if errors.Is(err, workers.ErrHandBack) {
			// Not claimed: leave it uncommitted, for the next owner of
			// the partition.
			return fmt.Errorf("%w: %v", kafka.ErrRedeliver, err)
		}
		return err
	}
}

// unknownKinds logs each message of an unknown kind once, however often
// the consumer hands it back: it is called again after every backoff for
// as long as this worker owns the partition.
type unknownKinds struct {
	logger logr.Logger
	mu     sync.Mutex
	seen   map[string]bool
}

// maxUnknownKinds bounds the memory of messages logged; past it the set
// starts again (a message may then be logged a second time).
const maxUnknownKinds = 4096

func newUnknownKinds(log logr.Logger) *unknownKinds {
	return &unknownKinds{logger: log, seen: map[string]bool{}}
}

func (u *unknownKinds) note(msg kafkago.Message, m job.Message) {
	at := fmt.Sprintf("%s/%d/%d", msg.Topic, msg.Partition, msg.Offset)
	u.mu.Lock()
	if u.seen[at] {
		u.mu.Unlock()
		return
	}
	if len(u.seen) >= maxUnknownKinds {
		clear(u.seen)
	}
	u.seen[at] = true
	u.mu.Unlock()
	u.logger.Info("a job of a kind this worker does not know: left uncommitted for a newer worker, not dead-lettered; upgrade the workers before the manager",
		"kind", m.Kind, "job", m.Namespace+"/"+m.Name, "topic", msg.Topic, "partition", msg.Partition, "offset", msg.Offset)
}

// httpSource takes jobs on the worker's HTTP endpoint.
type httpSource struct{ s *httpjobs.Server }

func (h httpSource) Run(ctx context.Context, concurrency int, handle func(context.Context, job.Message) error) error {
	return h.s.Run(ctx, concurrency, func(ctx context.Context, m job.Message) error {
		err := handle(ctx, m)
		if errors.Is(err, workers.ErrHandBack) {
			return fmt.Errorf("%w: %v", httpjobs.ErrNotRun, err)
		}
		return err
	})
}

// newSource sets up the worker's transport. The HTTP endpoint takes jobs
// only while ready says nil (the worker's peers are there).
func (c *WorkerConfig) newSource(w *workers.Worker, ready func() error, log logr.Logger) (source, error) {
	if c.Transport == TransportHTTP {
		token, err := httpjobs.LoadToken(c.JobTokenFile, log.WithName("job-token"))
		if err != nil {
			return nil, err
		}
		s, err := httpjobs.NewServer(httpjobs.ServerOptions{
			Addr: c.JobsAddr, Queue: c.JobsQueue, DrainTimeout: c.ShutdownGrace, Token: token,
			Release: func(ctx context.Context, m job.Message) { release(w, ctx, m) },
			Ready:   ready,
			Log:     log.WithName("http"),
		})
		if err != nil {
			return nil, err
		}
		return httpSource{s}, nil
	}
	c.Kafka = c.Kafka.WithDefaults()
	opts := kafka.ConsumerOptions{DrainTimeout: c.ShutdownGrace, SessionTimeout: c.SessionTimeout, Logger: log.WithName("kafka")}
	jobs, err := kafka.NewConsumer(c.Kafka, opts)
	if err != nil {
		return nil, err
	}
	opts.Logger = log.WithName("kafka-listings")
	listings, err := kafka.NewConsumer(c.Kafka.Listings(), opts)
	if err != nil {
		return nil, err
	}
	return kafkaSource{jobs: jobs, listings: listings, listingConcurrency: c.ListingConcurrency, unknown: newUnknownKinds(log)}, nil
}

// release hands back a job the HTTP server took but will not run. Only an
// extraction has a hand-back (its attempt goes back to Pending); a listing
// that did not run is sent again by the playlist's controller when its sync
// is not done in time.
func release(w *workers.Worker, ctx context.Context, m job.Message) {
	if m.Kind == job.KindExtraction {
		w.Release(ctx, m)
	}
}
