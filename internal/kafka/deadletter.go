package kafka

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/segmentio/kafka-go"
)

// ErrDeadLetter marks poison input. A Handler returns an error wrapping it
// (for example around a job.ErrInvalid decoding error) for a message that no
// retry can fix: the Consumer copies the message to the dead-letter topic and
// moves on, so that one bad message never blocks its partition.
var ErrDeadLetter = errors.New("dead letter")

// ErrRedeliver marks a message that the handler did not deal with and wants
// delivered again, e.g. a job handed back because the worker is stopping
// before it could claim it. The Consumer leaves the message unfinished, so
// its offset is not committed: if Run is stopping, the partition's next
// owner gets it again; while Run is running, the Consumer calls the handler
// again after a backoff.
var ErrRedeliver = errors.New("redeliver")

// Headers that a dead letter carries besides the original message's own.
const (
	HeaderDLQTopic     = "ytx-dlq-topic"     // topic the message was read from
	HeaderDLQPartition = "ytx-dlq-partition" // its partition, decimal
	HeaderDLQOffset    = "ytx-dlq-offset"    // its offset, decimal
	HeaderDLQGroup     = "ytx-dlq-group"     // consumer group that gave up on it
	HeaderDLQError     = "ytx-dlq-error"     // the handler's error text
	HeaderDLQTime      = "ytx-dlq-time"      // when, RFC 3339
)

// maxDLQErrorLen bounds the error header; a decoding error can quote the
// whole (garbage) payload.
const maxDLQErrorLen = 1024

// deadLetterMessage builds the dead letter of msg: key and value unchanged,
// the original headers plus ours.
func deadLetterMessage(topic, group string, msg kafka.Message, cause error, now time.Time) kafka.Message {
	text := cause.Error()
	if len(text) > maxDLQErrorLen {
		text = text[:maxDLQErrorLen] + "..."
	}
	headers := make([]kafka.Header, 0, len(msg.Headers)+6)
	headers = append(headers, msg.Headers...)
	headers = append(headers,
		kafka.Header{Key: HeaderDLQTopic, Value: []byte(msg.Topic)},
		kafka.Header{Key: HeaderDLQPartition, Value: []byte(strconv.Itoa(msg.Partition))},
		kafka.Header{Key: HeaderDLQOffset, Value: []byte(strconv.FormatInt(msg.Offset, 10))},
		kafka.Header{Key: HeaderDLQGroup, Value: []byte(group)},
		kafka.Header{Key: HeaderDLQError, Value: []byte(text)},
		kafka.Header{Key: HeaderDLQTime, Value: []byte(now.UTC().Format(time.RFC3339))},
	)
	return kafka.Message{Topic: topic, Key: msg.Key, Value: msg.Value, Headers: headers}
}

// writeDeadLetter writes msg's dead letter, retrying until it succeeds or
// ctx ends. It reports whether the dead letter was written: if not, the
// message must stay uncommitted, or it would be lost.
func (c *Consumer) writeDeadLetter(ctx context.Context, p *Publisher, msg kafka.Message, cause error) bool {
	dl := deadLetterMessage(c.cfg.DeadLetterTopic, c.cfg.Group, msg, cause, time.Now())
	for backoff := 500 * time.Millisecond; ; backoff = min(2*backoff, 30*time.Second) {
		err := p.PublishRaw(ctx, dl.Topic, dl.Key, dl.Value, dl.Headers...)
		if err == nil {
			return true
		}
		c.log.Error(err, "cannot write dead letter; retrying", msgValues(msg)...)
		if !sleepCtx(ctx, backoff) {
			return false
		}
	}
}

// sleepCtx sleeps for d; it reports false if ctx ended first.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// msgValues are the log key-value pairs that identify msg (the logger
// names the topic already).
func msgValues(msg kafka.Message) []any {
	return []any{"partition", msg.Partition, "offset", msg.Offset, "key", string(msg.Key)}
}
