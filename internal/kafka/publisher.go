package kafka

import (
	"context"
	"fmt"
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
	return &Publisher{cfg: cfg, transport: t, w: w}, nil
}

// Publish writes m to the job topic, keyed by m.Key(). It returns when all
// in-sync replicas have the message, or with an error; if ctx has no
// deadline, DefaultPublishTimeout applies.
func (p *Publisher) Publish(ctx context.Context, m job.Message) error {
	value, err := job.Encode(m)
	if err != nil {
		return err
	}
	if err := p.PublishRaw(ctx, p.cfg.Topic, []byte(m.Key()), value); err != nil {
		return fmt.Errorf("publish job %s: %w", m, err)
	}
	return nil
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
