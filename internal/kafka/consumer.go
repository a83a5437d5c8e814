package kafka

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	"github.com/segmentio/kafka-go"
)

// Handler processes one message. Its ctx outlives Run's: see Consumer.Run.
type Handler func(ctx context.Context, msg kafka.Message) error

// DefaultDrainTimeout is how long in-flight handlers keep their context
// after Run's context ends, when ConsumerOptions.DrainTimeout is zero. It
// fits in Kubernetes' default 30 s termination grace period.
const DefaultDrainTimeout = 20 * time.Second

// finalCommitTimeout bounds how long a stopping consumer waits for a group
// generation to commit in, when the group is rebalancing as it stops. A
// rebalance waits up to the session timeout for members to rejoin; past
// this, the finished messages are delivered again instead.
const finalCommitTimeout = 10 * time.Second

// commitTimeout bounds one request for the group's offsets.
const commitTimeout = 10 * time.Second

// errNoGeneration: the group is rebalancing, there is no generation to
// commit in; the commit is retried in the next one.
var errNoGeneration = errors.New("no group generation to commit in: the group is rebalancing")

// ConsumerOptions tunes a Consumer. The zero value is usable.
type ConsumerOptions struct {
	// DrainTimeout: once Run's context ends, in-flight handlers have this
	// long to finish before their context is cancelled. Default
	// DefaultDrainTimeout; negative means cancel at once.
	DrainTimeout time.Duration
	// Logger receives the consumer's logs; kafka-go's own go to its
	// "kafka-go" child at V(1) (errors) and V(2) (chatter). Default: none.
	Logger logr.Logger
	// Hooks observe the consumer, e.g. for Prometheus.
	Hooks Hooks
	// SessionTimeout is how long the group coordinator waits for a silent
	// member (a worker killed or frozen) before it gives the member's
	// partitions to the others; it also bounds how long a rebalance waits
	// for members to rejoin. Zero: kafka-go's 30 s.
	SessionTimeout time.Duration

	// heartbeat, when set, is how often the consumer heartbeats the group:
	// this package's tests shorten it so that members learn of a rebalance
	// at once rather than after kafka-go's 3 s.
	heartbeat time.Duration
}

// Hooks are optional callbacks. They run on the consumer's goroutines,
// concurrently, and must be quick.
type Hooks struct {
	// Fetched: a message was fetched and its handler is starting.
	Fetched func(msg kafka.Message)
	// Finished: a message is done (err is the handler's error, nil on
	// success) and counts towards the commit.
	Finished func(msg kafka.Message, err error, took time.Duration)
	// DeadLettered: msg was written to the dead-letter topic.
	DeadLettered func(msg kafka.Message, err error)
	// Committed: the group's offset of partition is now offset (the next
	// offset to read).
	Committed func(partition int, offset int64)
	// CommitFailed: a commit failed; it is retried.
	CommitFailed func(err error)
}

// Stats are counters since the Consumer was created.
type Stats struct {
	Fetched      int64 // messages handed to a handler
	Finished     int64 // messages done (success, handler error or dead-lettered)
	Failed       int64 // of Finished, those whose handler returned an error
	DeadLettered int64 // of Failed, those written to the dead-letter topic
	Redelivered  int64 // handler calls that asked for redelivery (ErrRedeliver)
	InFlight     int64 // handlers running now
	Refetched    int64 // of Fetched, messages fetched again (a rebalance restarted their partition at its committed offset)
	CommitErrors int64 // failed commit attempts
	// Uncommitted are finished messages this consumer could not commit
	// (each logged as LogNotCommitted): they are delivered again.
	Uncommitted int64
	// Committed is the last offset this consumer committed per partition
	// (the next offset to read, Kafka's convention).
	Committed map[int]int64
}

// Consumer reads the job topic in the consumer group and runs a handler per
// message, several at once, committing offsets only behind finished
// messages. Create it with NewConsumer and call Run once.
type Consumer struct {
	cfg    Config
	opts   ConsumerOptions
	log    logr.Logger
	ran    atomic.Bool
	notify chan struct{} // wakes the committer; buffered, one pending wake is enough
	// stopping: Run's context has ended; no partition is read any more.
	stopping atomic.Bool

	// commitMu makes commits one at a time, so that the one at the end of
	// a generation comes after any other in it.
	commitMu sync.Mutex
	mu       sync.Mutex
	gen      *kafka.Generation // the live generation; nil while the group rebalances
	client   *kafka.Client     // set by Run
	tracker  *offsetTracker
	stats    Stats
}

// NewConsumer validates cfg. It does not connect; Run does.
func NewConsumer(cfg Config, opts ConsumerOptions) (*Consumer, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if opts.DrainTimeout == 0 {
		opts.DrainTimeout = DefaultDrainTimeout
	}
	log := opts.Logger
	if log.GetSink() == nil {
		log = logr.Discard()
	}
	return &Consumer{
		cfg:     cfg,
		opts:    opts,
		log:     log.WithValues("topic", cfg.Topic, "group", cfg.Group),
		notify:  make(chan struct{}, 1),
		tracker: newOffsetTracker(),
		stats:   Stats{Committed: make(map[int]int64)},
	}, nil
}

// Stats returns a snapshot of the counters.
func (c *Consumer) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.stats
	s.Committed = make(map[int]int64, len(c.stats.Committed))
	for p, o := range c.stats.Committed {
		s.Committed[p] = o
	}
	return s
}

// Run joins the group and handles messages until ctx ends, then drains and
// returns nil; it returns an error only for what retrying cannot fix
// (authentication, authorization, TLS verification). Run may be called once.
//
// Delivery contract:
//   - Up to concurrency handlers run at once, each in its own goroutine;
//     a slow one holds one slot and never blocks the others. Fetching waits
//     only while every slot is busy.
//   - A partition's offset is committed (synchronously, by a committer
//     goroutine) only up to the first message of that partition that is
//     not finished. Messages are therefore delivered at least once: after a
//     crash or a rebalance, everything after the committed offset comes
//     again, possibly to another worker, possibly while an old handler for
//     the same message still runs. Handlers must be idempotent (the worker
//     claims a job with a conditional status update).
//   - nil: the message is finished.
//   - An error wrapping ErrDeadLetter: the message (key, value, headers,
//     plus HeaderDLQ* headers naming its origin and the error) is written
//     to the dead-letter topic, retrying until written, then it is
//     finished. If Run stops before it is written, it stays unfinished.
//   - An error wrapping ErrRedeliver: the message stays unfinished; while
//     Run runs, the handler is called again for it after a backoff.
//   - Any other error: logged, and the message is finished. Retrying is the
//     handler's business; Kafka redelivers only after a crash or rebalance.
//   - A panic in a handler is recovered and treated as an error.
//
// Shutdown: when ctx ends, Run stops fetching and waits for the running
// handlers. Their context is not ctx but one derived from
// context.WithoutCancel(ctx), cancelled ConsumerOptions.DrainTimeout later,
// so jobs can finish or hand back cleanly. Handlers must return soon after
// their context is cancelled: Run waits for them. Then Run commits what is
// finished, leaves the group and closes its connections.
//
// What is finished is committed in the group generation that assigns its
// partition to this consumer, and only then: a message that finishes after
// a rebalance gave its partition to another member (or waited behind one
// that did) stays uncommitted, is delivered again to the new owner, and is
// logged as LogNotCommitted. When Run stops, it commits what is finished
// before it leaves the group; if the group is rebalancing then, it waits
// for the next generation (at most finalCommitTimeout) to commit in.
func (c *Consumer) Run(ctx context.Context, concurrency int, handle Handler) error {
	if concurrency < 1 {
		return fmt.Errorf("kafka consumer: concurrency %d, want at least 1", concurrency)
	}
	if !c.ran.CompareAndSwap(false, true) {
		return errors.New("kafka consumer: Run called twice")
	}
	dialer, err := c.cfg.Dialer()
	if err != nil {
		return err
	}
	dlq, err := NewPublisher(c.cfg)
	if err != nil {
		return err
	}
	defer dlq.Close()
	transport, err := c.cfg.Transport()
	if err != nil {
		return err
	}
	defer transport.CloseIdleConnections()
	// For the group's offsets of partitions gone to other members.
	c.client = &kafka.Client{Addr: kafka.TCP(c.cfg.Brokers...), Transport: transport, Timeout: commitTimeout}
	cg, err := kafka.NewConsumerGroup(c.groupConfig(dialer))
	if err != nil {
		return fmt.Errorf("kafka consumer: %w", err)
	}
	msgs := make(chan fetched)
	// consumed is closed once nothing reads msgs any more; the group is
	// followed until Run has made its last commit.
	consumed := make(chan struct{})
	followCtx, stopFollowing := context.WithCancel(context.Background())
	followed := make(chan struct{})
	go func() {
		defer close(followed)
		c.follow(followCtx, cg, dialer, msgs, consumed)
	}()
	commitCtx, stopCommitter := context.WithCancel(context.Background())
	committerDone := make(chan struct{})
	go func() {
		defer close(committerDone)
		c.commitLoop(commitCtx)
	}()

	runErr := c.consume(ctx, msgs, concurrency, dlq, handle)
	close(consumed)

	stopCommitter()
	<-committerDone
	c.finalCommit()
	// Closing the group ends the generation and sends LeaveGroup, so the
	// partitions go to the other members at once.
	stopFollowing()
	cg.Close()
	<-followed
	return runErr
}

// consume handles messages until ctx ends (nil) or a fatal error, then
// waits for the running handlers: DrainTimeout, then their context is
// cancelled and they have to return.
func (c *Consumer) consume(ctx context.Context, msgs <-chan fetched, concurrency int, dlq *Publisher, handle Handler) error {
	handlerCtx, cancelHandlers := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelHandlers()
	// running ends with ctx, or when fetching stops on a fatal error:
	// either way, handlers asking for redelivery are now handed back.
	running, stopRunning := context.WithCancel(ctx)
	defer stopRunning()
	var wg sync.WaitGroup
	runErr := c.fetchLoop(running, msgs, concurrency, func(msg kafka.Message, tk ticket, release func()) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer release()
			c.process(running, handlerCtx, dlq, handle, msg, tk)
		}()
	})
	c.stopping.Store(true)
	stopRunning()

	drained := make(chan struct{})
	go func() {
		wg.Wait()
		close(drained)
	}()
	if c.opts.DrainTimeout > 0 {
		t := time.NewTimer(c.opts.DrainTimeout)
		select {
		case <-drained:
		case <-t.C:
			c.log.Info("drain timeout: cancelling running handlers", "drainTimeout", c.opts.DrainTimeout)
		}
		t.Stop()
	}
	cancelHandlers()
	<-drained
	return runErr
}

// fetchLoop takes fetched messages while a handler slot is free and hands
// each to start, until ctx ends (nil) or a fatal error.
func (c *Consumer) fetchLoop(ctx context.Context, msgs <-chan fetched, concurrency int, start func(kafka.Message, ticket, func())) error {
	slots := make(chan struct{}, concurrency)
	release := func() { <-slots }
	for backoff := time.Duration(0); ; {
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			return nil
		}
		var f fetched
		select {
		case f = <-msgs:
		case <-ctx.Done():
			release()
			return nil
		}
		if f.err != nil {
			release()
			if fatal(f.err) {
				c.log.Error(f.err, "cannot consume")
				return fmt.Errorf("kafka consumer (group %q, topic %q): %w", c.cfg.Group, c.cfg.Topic, f.err)
			}
			backoff = min(max(2*backoff, 100*time.Millisecond), 5*time.Second)
			c.log.Info("fetch failed; retrying", "error", f.err.Error(), "backoff", backoff)
			if !sleepCtx(ctx, backoff) {
				return nil
			}
			continue
		}
		backoff = 0
		tk, ok := c.track(f)
		if !ok {
			release()
			continue
		}
		if h := c.opts.Hooks.Fetched; h != nil {
			h(f.msg)
		}
		start(f.msg, tk, release)
	}
}

// track records the start of f's handler. It reports false for a message
// fetched in a generation that has ended, whose partition is not this
// consumer's for now: its owner reads it again.
func (c *Consumer) track(f fetched) (ticket, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	tk, ok, again := c.tracker.start(f.gen, f.msg.Partition, f.msg.Offset)
	if !ok {
		return tk, false
	}
	c.stats.Fetched++
	c.stats.InFlight++
	if again {
		c.stats.Refetched++
	}
	return tk, true
}

// process runs the handler for msg and records the outcome. runCtx is Run's
// context (is Run stopping?), ctx the handlers' one.
func (c *Consumer) process(runCtx, ctx context.Context, dlq *Publisher, handle Handler, msg kafka.Message, tk ticket) {
	began := time.Now()
	var err error
	for backoff := time.Second; ; backoff = min(2*backoff, 30*time.Second) {
		err = c.call(ctx, handle, msg)
		if !errors.Is(err, ErrRedeliver) || errors.Is(err, ErrDeadLetter) {
			break
		}
		c.mu.Lock()
		c.stats.Redelivered++
		c.mu.Unlock()
		if runCtx.Err() != nil || !sleepCtx(runCtx, backoff) || ctx.Err() != nil {
			// Stopping: leave it unfinished, so it is not committed and
			// the partition's next owner gets it again.
			c.log.V(1).Info("message handed back; it stays uncommitted", append(msgValues(msg), "error", err.Error())...)
			c.mu.Lock()
			c.stats.InFlight--
			c.mu.Unlock()
			return
		}
		c.log.V(1).Info("handler asked for redelivery; calling it again", append(msgValues(msg), "error", err.Error())...)
	}

	deadLettered := false
	switch {
	case err == nil:
	case errors.Is(err, ErrDeadLetter):
		if !c.writeDeadLetter(ctx, dlq, msg, err) {
			c.log.Info("stopped before the dead letter was written; the message stays uncommitted", msgValues(msg)...)
			c.mu.Lock()
			c.stats.InFlight--
			c.mu.Unlock()
			return
		}
		deadLettered = true
		c.log.Info("message written to the dead-letter topic", append(msgValues(msg), "deadLetterTopic", c.cfg.DeadLetterTopic, "error", err.Error())...)
	default:
		c.log.Error(err, "handler failed; the message counts as done", msgValues(msg)...)
	}

	c.mu.Lock()
	advanced := c.tracker.finish(tk, label(msg))
	c.stats.InFlight--
	c.stats.Finished++
	if err != nil {
		c.stats.Failed++
	}
	if deadLettered {
		c.stats.DeadLettered++
	}
	c.mu.Unlock()

	if h := c.opts.Hooks.DeadLettered; deadLettered && h != nil {
		h(msg, err)
	}
	if h := c.opts.Hooks.Finished; h != nil {
		h(msg, err, time.Since(began))
	}
	if advanced {
		c.wake()
	}
}

// call runs handle, turning a panic into an error so that one bad message
// cannot take the worker down.
func (c *Consumer) call(ctx context.Context, handle Handler, msg kafka.Message) (err error) {
	defer func() {
		if p := recover(); p != nil {
			c.log.Error(nil, "handler panicked", append(msgValues(msg), "panic", p, "stack", string(debug.Stack()))...)
			err = fmt.Errorf("handler panicked: %v", p)
		}
	}()
	return handle(ctx, msg)
}

// commitLoop commits whenever a commit point moved or a generation started,
// until ctx ends. A failed commit is retried after a backoff (and at the
// next wake).
func (c *Consumer) commitLoop(ctx context.Context) {
	var retry <-chan time.Time
	backoff := time.Duration(0)
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.notify:
		case <-retry:
		}
		retry = nil
		if err := c.commit(); err != nil {
			backoff = min(max(2*backoff, 500*time.Millisecond), 10*time.Second)
			retry = time.After(backoff)
		} else {
			backoff = 0
		}
	}
}

// wake asks the committer to commit.
func (c *Consumer) wake() {
	select {
	case c.notify <- struct{}{}:
	default: // a wake is already pending; it will commit this too
	}
}

// commit commits every pending commit point in the live generation.
func (c *Consumer) commit() error {
	c.commitMu.Lock()
	defer c.commitMu.Unlock()
	c.mu.Lock()
	gen := c.gen
	c.mu.Unlock()
	if gen == nil {
		return errNoGeneration
	}
	return c.commitIn(gen)
}

// commitIn commits, in one request, the pending commit points of the
// partitions gen assigns to this consumer. The coordinator refuses it once
// the group has moved to a later generation. commitMu must be held.
func (c *Consumer) commitIn(gen *kafka.Generation) error {
	c.mu.Lock()
	cps := append(c.tracker.pending(gen.ID), c.tracker.revoked()...)
	c.mu.Unlock()
	if len(cps) == 0 {
		return nil
	}
	return c.commitAhead(gen, cps)
}

// commitPoints commits cps in gen, in one request.
func (c *Consumer) commitPoints(gen *kafka.Generation, cps []commitPoint) error {
	offsets := make(map[int]int64, len(cps))
	for _, cp := range cps {
		offsets[cp.partition] = cp.offset
	}
	if err := gen.CommitOffsets(map[string]map[int]int64{c.cfg.Topic: offsets}); err != nil {
		c.mu.Lock()
		c.stats.CommitErrors++
		c.mu.Unlock()
		c.log.Info("commit failed; will retry", "generation", gen.ID, "error", err.Error())
		if h := c.opts.Hooks.CommitFailed; h != nil {
			h(err)
		}
		return err
	}
	c.mu.Lock()
	for _, cp := range cps {
		c.tracker.committed(cp)
		c.stats.Committed[cp.partition] = cp.offset
	}
	c.mu.Unlock()
	if h := c.opts.Hooks.Committed; h != nil {
		for _, cp := range cps {
			h(cp.partition, cp.offset)
		}
	}
	return nil
}

// finalCommit commits what is finished before Run leaves the group. If the
// group is rebalancing, it waits for the next generation, at most
// finalCommitTimeout. What it cannot commit is logged as LogNotCommitted:
// finished messages behind one handed back unfinished (Kafka commits one
// offset per partition), or all of them if no commit went through.
func (c *Consumer) finalCommit() {
	deadline := time.Now().Add(finalCommitTimeout)
	for {
		err := c.commit()
		c.mu.Lock()
		// Everything committable is committed in the live generation.
		settled := err == nil && c.gen != nil && len(c.tracker.pending(c.gen.ID)) == 0 && len(c.tracker.revoked()) == 0
		left := c.tracker.uncommitted()
		c.mu.Unlock()
		if len(left) == 0 {
			return
		}
		why := ""
		switch {
		case settled:
			why = WhyBehindUnfinished
		case time.Now().After(deadline):
			if err == nil {
				err = errNoGeneration // committed in a generation that ended meanwhile
			}
			c.log.Info("final commit failed", "error", err.Error())
			why = WhyFinalCommitFailed
		default:
			time.Sleep(100 * time.Millisecond)
			continue
		}
		c.mu.Lock()
		c.stats.Uncommitted += int64(len(left))
		c.mu.Unlock()
		c.logNotCommitted(left, why)
		return
	}
}

// logAt adapts a logr level to kafka-go's Printf-style Logger.
func logAt(l logr.Logger) kafka.Logger {
	return kafka.LoggerFunc(func(format string, args ...any) {
		if l.Enabled() {
			l.Info(fmt.Sprintf(format, args...))
		}
	})
}

// fatal reports errors that no retry fixes: wrong credentials, missing
// ACLs, a certificate that does not verify.
func fatal(err error) bool {
	var unknownCA x509.UnknownAuthorityError
	var hostname x509.HostnameError
	var verify *tls.CertificateVerificationError
	switch {
	case errors.Is(err, kafka.SASLAuthenticationFailed),
		errors.Is(err, kafka.UnsupportedSASLMechanism),
		errors.Is(err, kafka.TopicAuthorizationFailed),
		errors.Is(err, kafka.GroupAuthorizationFailed),
		errors.As(err, &unknownCA),
		errors.As(err, &hostname),
		errors.As(err, &verify):
		return true
	}
	return false
}
