package kafka

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"

	"ytx.dev/ytx/internal/job"
)

// LogNotCommitted is logged, with the message's partition, offset, job
// (when the value is a job message, else its key) and why, for each message
// the consumer finished and could not commit before it left the group:
// whoever owns its partition is given it again (a worker's claim then drops
// it).
const LogNotCommitted = "finished message not committed; it will be delivered again"

// Why a finished message is not committed (the "why" of LogNotCommitted).
const (
	// Kafka commits one offset per partition: a message finished after
	// one that was handed back, or that still ran when the consumer left,
	// cannot be committed.
	WhyBehindUnfinished  = "an earlier message of its partition was left unfinished"
	WhyFinalCommitFailed = "the last commit before leaving the group failed"
)

// LogCommittedRevoked is logged when the consumer commits, for a partition
// that a rebalance gave to another member, messages it finished there
// after the rebalance: the new owner had not committed that far.
const LogCommittedRevoked = "committed what finished on a partition another member owns now"

// fetched is a message read from a partition in a group generation, or an
// error of the group or of a fetch.
type fetched struct {
	msg kafka.Message
	gen int32
	err error
}

// Kafka's classic group protocol, which kafka-go speaks, is eager: at each
// rebalance every member gives up all its partitions and is assigned anew
// in the next generation. The consumer follows the generations itself,
// rather than through a kafka-go Reader, to know which partitions it owns:
// it commits only those, in the generation that assigns them, and it can
// tell which finished messages its commits cannot cover.

// groupConfig is the kafka-go consumer group the consumer joins.
func (c *Consumer) groupConfig(dialer *kafka.Dialer) kafka.ConsumerGroupConfig {
	klog := c.log.WithName("kafka-go")
	gc := kafka.ConsumerGroupConfig{
		ID:      c.cfg.Group,
		Brokers: c.cfg.Brokers,
		Dialer:  dialer,
		Topics:  []string{c.cfg.Topic},
		// A new group starts at the beginning: a job published before the
		// first worker ever joined must not be skipped.
		StartOffset: kafka.FirstOffset,
		// Partitions added to the topic (KafkaTopic spec.partitions) are
		// picked up by a rebalance without a restart.
		WatchPartitionChanges: true,
		// kafka-go's defaults, with range taking partitions in order.
		GroupBalancers:   []kafka.GroupBalancer{rangeBalancer{}, kafka.RoundRobinGroupBalancer{}},
		JoinGroupBackoff: 2 * time.Second,
		Logger:           logAt(klog.V(2)),
		ErrorLogger:      logAt(klog.V(1)),
	}
	if st := c.opts.SessionTimeout; st > 0 {
		gc.SessionTimeout, gc.RebalanceTimeout = st, st
		// Kafka's rule of thumb: heartbeat at most a third of the
		// session; a tenth leaves room for a slow round trip or two.
		gc.HeartbeatInterval = st / 10
	}
	if hb := c.opts.heartbeat; hb > 0 {
		gc.HeartbeatInterval = hb
	}
	return gc
}

// follow takes each generation the group forms, until ctx ends or the group
// is closed, and sends what its partitions' fetchers read to out. Errors of
// the group go to out too, until consumed is closed: kafka-go retries them,
// Run decides whether they are fatal.
func (c *Consumer) follow(ctx context.Context, cg *kafka.ConsumerGroup, dialer *kafka.Dialer, out chan<- fetched, consumed <-chan struct{}) {
	for {
		gen, err := cg.Next(ctx)
		switch {
		case ctx.Err() != nil, errors.Is(err, kafka.ErrGroupClosed):
			return
		case err != nil:
			select {
			case out <- fetched{err: err}:
			case <-consumed:
				// Run is making its last commit: keep following the
				// group, for a generation to commit in.
				c.log.Info("consumer group error; retrying", "error", err.Error())
			case <-ctx.Done():
				return
			}
		default:
			c.startGeneration(gen, dialer, out)
		}
	}
}

// startGeneration makes gen the live generation: its assignment goes to the
// tracker, a fetcher starts per assigned partition (unless Run is
// stopping), and gen's end is watched.
func (c *Consumer) startGeneration(gen *kafka.Generation, dialer *kafka.Dialer, out chan<- fetched) {
	assigned := make(map[int]int64)
	for _, a := range gen.Assignments[c.cfg.Topic] {
		assigned[a.ID] = a.Offset
	}
	c.mu.Lock()
	c.tracker.assign(gen.ID, assigned)
	c.gen = gen
	c.mu.Unlock()
	c.log.V(1).Info("group generation started", "generation", gen.ID, "partitions", fmt.Sprint(assigned))

	gen.Start(func(ctx context.Context) {
		<-ctx.Done()
		c.endGeneration(gen)
	})
	if !c.stopping.Load() {
		for _, a := range gen.Assignments[c.cfg.Topic] {
			gen.Start(func(ctx context.Context) { c.fetchPartition(ctx, dialer, gen.ID, a, out) })
		}
	}
	c.wake()
}

// endGeneration runs when gen ends (a rebalance, or leaving the group),
// before this member joins the next one. The coordinator still accepts
// commits in gen while it prepares the rebalance, and the partitions'
// next owners read their offsets only after this member has joined again:
// what is committed now is not delivered again.
func (c *Consumer) endGeneration(gen *kafka.Generation) {
	c.commitMu.Lock()
	defer c.commitMu.Unlock()
	if err := c.commitIn(gen); err != nil {
		c.log.Info("commit at the end of a group generation failed", "generation", gen.ID, "error", err.Error())
	}
	c.mu.Lock()
	if c.gen == gen {
		c.gen = nil
	}
	c.mu.Unlock()
}

// fetchPartition reads the partition assignment a gives, from the offset it
// starts at, and sends each message to out, until gen ends.
func (c *Consumer) fetchPartition(ctx context.Context, dialer *kafka.Dialer, gen int32, a kafka.PartitionAssignment, out chan<- fetched) {
	klog := c.log.WithName("kafka-go")
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers:   c.cfg.Brokers,
		Topic:     c.cfg.Topic,
		Partition: a.ID,
		Dialer:    dialer,
		// The broker answers a fetch as soon as there is one message
		// (MinBytes 1) or after MaxWait; short, so a generation ends
		// promptly.
		MinBytes:    1,
		MaxBytes:    1 << 20,
		MaxWait:     500 * time.Millisecond,
		Logger:      logAt(klog.V(2)),
		ErrorLogger: logAt(klog.V(1)),
	})
	defer r.Close()
	if err := r.SetOffset(a.Offset); err != nil {
		c.log.Error(err, "cannot start reading a partition", "partition", a.ID, "offset", a.Offset)
		<-ctx.Done() // returning would end the generation for every member
		return
	}
	for {
		msg, err := r.FetchMessage(ctx)
		if ctx.Err() != nil {
			return
		}
		select {
		case out <- fetched{msg: msg, gen: gen, err: err}:
		case <-ctx.Done():
			return
		}
	}
}

// commitAhead commits, in gen, those of cps that are ahead of the group's
// offset. A partition's owner and, for what it finished there after a
// rebalance, its former owner may both commit it: each commits only where
// the other has not got further, so the group's offset does not move back
// and what one finished is not delivered again. Everything below a commit
// point was finished by whoever commits it, so nothing is skipped. (A
// commit of the other landing between the read and the commit may still be
// moved back; what is between is delivered again, and dropped by the
// claim.)
func (c *Consumer) commitAhead(gen *kafka.Generation, cps []commitPoint) error {
	parts := make([]int, len(cps))
	for i, cp := range cps {
		parts[i] = cp.partition
	}
	ctx, cancel := context.WithTimeout(context.Background(), commitTimeout)
	defer cancel()
	res, err := c.client.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: c.cfg.Group, Topics: map[string][]int{c.cfg.Topic: parts}})
	if err == nil {
		err = res.Error
	}
	if err != nil {
		c.log.Info("reading the group's offsets failed; will retry", "error", err.Error())
		return err
	}
	group := make(map[int]int64)
	for _, p := range res.Topics[c.cfg.Topic] {
		if p.Error != nil {
			c.log.Info("reading the group's offsets failed; will retry", "partition", p.Partition, "error", p.Error.Error())
			return p.Error
		}
		group[p.Partition] = p.CommittedOffset
	}
	var ahead []commitPoint
	c.mu.Lock()
	for _, cp := range cps {
		if g, ok := group[cp.partition]; ok && g >= cp.offset {
			// The new owner is as far: forget what is behind it.
			c.tracker.committed(commitPoint{partition: cp.partition, offset: g, epoch: cp.epoch})
		} else {
			ahead = append(ahead, cp)
		}
	}
	c.mu.Unlock()
	if len(ahead) == 0 {
		return nil
	}
	if err := c.commitPoints(gen, ahead); err != nil {
		return err
	}
	c.mu.Lock()
	var revoked []commitPoint
	for _, cp := range ahead {
		if p := c.tracker.parts[cp.partition]; p != nil && !p.owned {
			revoked = append(revoked, cp)
		}
	}
	c.mu.Unlock()
	for _, cp := range revoked {
		c.log.Info(LogCommittedRevoked, "partition", cp.partition, "offset", cp.offset, "groupOffset", group[cp.partition])
	}
	return nil
}

// logNotCommitted logs LogNotCommitted for each of ms.
func (c *Consumer) logNotCommitted(ms []uncommitted, why string) {
	for _, m := range ms {
		c.log.Info(LogNotCommitted, "partition", m.partition, "offset", m.offset, "job", m.label, "why", why)
	}
}

// label names msg in LogNotCommitted: its job, as workers log it, or its key
// when it is not a job message.
func label(msg kafka.Message) string {
	if j, err := job.Decode(msg.Value); err == nil {
		return j.String()
	}
	return "key " + string(msg.Key)
}

// rangeBalancer is kafka-go's range balancer fed the partitions in numeric
// order, as Kafka's own RangeAssignor takes them. kafka-go's takes them in
// the order the broker's metadata lists them, which need not be sorted (kfake
// lists them from a map), so with nothing changed a rebalance could move
// every partition to another member. Its protocol name stays "range": members
// of an older worker version still agree on it.
type rangeBalancer struct{ kafka.RangeGroupBalancer }

func (b rangeBalancer) AssignGroups(members []kafka.GroupMember, partitions []kafka.Partition) kafka.GroupMemberAssignments {
	sorted := slices.Clone(partitions)
	slices.SortFunc(sorted, func(x, y kafka.Partition) int {
		return cmp.Or(strings.Compare(x.Topic, y.Topic), cmp.Compare(x.ID, y.ID))
	})
	return b.RangeGroupBalancer.AssignGroups(members, sorted)
}
