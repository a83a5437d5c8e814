package kafka

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"

	"ytx.dev/ytx/internal/job"
)

// DefaultPublishTimeout bounds a publish whose context has no deadline.
// kafka-go retries a failed write (MaxAttempts) until its context ends, so
// without a deadline a publish to a missing topic or a dead cluster would
// block the caller (a reconcile) for good.
const DefaultPublishTimeout = 10 * time.Second

// Publisher writes job messages (and dead letters). It is safe for
// concurrent use.
type Publisher struct {
	cfg       Config
	transport *kafka.Transport
	w         *kafka.Writer

	// placed receives, per message being written, where the broker put
	// it. It is keyed by the address of the message's value, the one
	// thing of a message that the Writer's Completion callback is
	// documented to hand back unchanged (its byte slices are the
	// caller's).
	mu     sync.Mutex
	placed map[*byte]*Position
}

// Position is where the broker wrote a message: the job topic's partition
// and the message's offset in it.
type Position struct {
	Partition int
	Offset    int64
}

// NewPublisher validates cfg and returns a Publisher. It does not connect:
// call Check at start for an early, clear error.
func NewPublisher(cfg Config) (*Publisher, error) {
	cfg = cfg.WithDefaults()
	t, err := cfg.Transport()
	if err != nil {
		return nil, err
	}
	w := &kafka.Writer{
		Addr: kafka.TCP(cfg.Brokers...),
		// No Topic: each message names its own, so one Writer serves the
		// job topic and the dead-letter topic.
		//
		// Hash maps the key (namespace/name) to a partition, so all
		// attempts of one resource stay in order on one partition.
		Balancer: &kafka.Hash{},
		// A job must survive the loss of a broker once acknowledged.
		RequiredAcks: kafka.RequireAll,
		// The default 1 s would delay every single publish by a second:
		// the controller publishes one message at a time.
		BatchTimeout: 5 * time.Millisecond,
		WriteTimeout: 10 * time.Second,
		ReadTimeout:  10 * time.Second,
		// Topics come from Strimzi KafkaTopic resources with the right
		// partitions and replication; an auto-created one would have
		// broker defaults and hide a typo in --kafka-topic.
		AllowAutoTopicCreation: false,
		Transport:              t,
	}
	p := &Publisher{cfg: cfg, transport: t, w: w, placed: map[*byte]*Position{}}
	w.Completion = p.completed
	return p, nil
}

// completed records where each message the caller waits for was written.
// The Writer calls it before WriteMessages returns.
func (p *Publisher) completed(msgs []kafka.Message, err error) {
	if err != nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, m := range msgs {
		if len(m.Value) == 0 {
			continue
		}
		if pos := p.placed[&m.Value[0]]; pos != nil {
			*pos = Position{Partition: m.Partition, Offset: m.Offset}
		}
	}
}

// Publish writes m to the topic of its kind (Config.TopicOf), keyed by
// m.Key(). It returns when all
// in-sync replicas have the message, or with an error; if ctx has no
// deadline, DefaultPublishTimeout applies.
func (p *Publisher) Publish(ctx context.Context, m job.Message) error {
	_, err := p.PublishKeyed(ctx, m, m.Key())
	return err
}

// PublishKeyed writes m to the topic of its kind (the job topic for an
// extraction, the listing topic for a listing) under key and returns where
// the broker put it. The key only picks the partition (workers read the
// value alone), so another key than m.Key() sends a job around a
// partition that nobody consumes. The Position is {-1, -1} if the broker
// did not say (a Produce API older than version 3).
func (p *Publisher) PublishKeyed(ctx context.Context, m job.Message, key string) (Position, error) {
	value, err := job.Encode(m)
	if err != nil {
		return Position{}, err
	}
	pos := &Position{Partition: -1, Offset: -1}
	p.mu.Lock()
	p.placed[&value[0]] = pos
	p.mu.Unlock()
	err = p.PublishRaw(ctx, p.cfg.TopicOf(m.Kind), []byte(key), value)
	p.mu.Lock()
	delete(p.placed, &value[0])
	at := *pos
	p.mu.Unlock()
	if err != nil {
		return Position{}, fmt.Errorf("publish job %s: %w", m, err)
	}
	return at, nil
}

// PublishRaw writes one message to topic as is. It is the dead-letter path,
// and a tool for tests and the dev mode.
func (p *Publisher) PublishRaw(ctx context.Context, topic string, key, value []byte, headers ...kafka.Header) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultPublishTimeout)
		defer cancel()
	}
	err := p.w.WriteMessages(ctx, kafka.Message{Topic: topic, Key: key, Value: value, Headers: headers})
	if err != nil {
		return fmt.Errorf("write to kafka topic %q: %w", topic, err)
	}
	return nil
}

// Close flushes nothing (every write is synchronous) and releases the
// connections.
func (p *Publisher) Close() error {
	err := p.w.Close()
	// The Writer does not close a Transport it was given.
	p.transport.CloseIdleConnections()
	return err
}
