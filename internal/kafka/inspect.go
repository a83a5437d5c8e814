package kafka

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"time"

	"github.com/segmentio/kafka-go"
)

// GroupView is what the job topic and the workers' consumer group look like
// at one moment: per partition, where its log starts and ends and where the
// group has committed, and which member of the group owns it. The manager
// reads it to tell a job message that waits its turn from one the broker
// lost, or one on a partition nobody consumes.
type GroupView struct {
	// Taken is when the read began: every message written before it is
	// in the log ends it shows, or lost.
	Taken time.Time
	Topic string
	Group string
	// State is the group's state as the coordinator says it: Stable,
	// PreparingRebalance, CompletingRebalance, Empty or Dead (no such
	// group: it never committed, or the broker lost it).
	State   string
	Members []Member
	// Partitions holds every partition of the topic, by number.
	Partitions map[int]PartitionView
}

// Member is one consumer of the group.
type Member struct {
	ID, ClientID, Host string
	// Partitions are the job topic's partitions assigned to it (only
	// known while the group is Stable).
	Partitions []int
}

// PartitionView is one partition of the job topic.
type PartitionView struct {
	// Start and End are the first offset the log holds and the offset
	// the next message will get (the high watermark).
	Start, End int64
	// Committed is the group's committed offset, the next one it will
	// read; -1 when it has committed none (it then starts at Start).
	Committed int64
	// Owner is the ID of the member assigned the partition, "" if none.
	Owner string
}

// Next is the offset the group will read next on this partition: its
// committed offset, or the start of the log when it has none or the log
// no longer holds it (consumers start at the first offset).
func (p PartitionView) Next() int64 { return max(p.Committed, p.Start) }

// Lag is the number of messages the group has not committed yet; negative
// when its committed offset is beyond the end of the log.
func (p PartitionView) Lag() int64 { return p.End - p.Next() }

// PartitionIDs returns the view's partition numbers, in order.
func (v GroupView) PartitionIDs() []int {
	ids := make([]int, 0, len(v.Partitions))
	for id := range v.Partitions {
		ids = append(ids, id)
	}
	sort.Ints(ids)
	return ids
}

// Member returns the member with id, if the group has it.
func (v GroupView) Member(id string) (Member, bool) {
	for _, m := range v.Members {
		if m.ID == id {
			return m, true
		}
	}
	return Member{}, false
}

// Inspector reads the job topic's offsets and the workers' group with
// kafka-go's Client: four requests per Look (Metadata, ListOffsets,
// OffsetFetch, DescribeGroups), whatever the number of messages or
// resources. The KafkaUser needs Describe on the topic and on the group.
type Inspector struct {
	cfg       Config
	transport *kafka.Transport
	client    *kafka.Client
}

// inspectTimeout bounds one Look whose context has no deadline.
const inspectTimeout = 20 * time.Second

// NewInspector validates cfg; it connects at the first Look. Close it.
func NewInspector(cfg Config) (*Inspector, error) {
	cfg = cfg.WithDefaults()
	t, err := cfg.Transport()
	if err != nil {
		return nil, err
	}
	// Metadata of this topic only, never asking the broker to create it.
	t.MetadataTopics = []string{cfg.Topic}
	return &Inspector{cfg: cfg, transport: t, client: &kafka.Client{Addr: kafka.TCP(cfg.Brokers...), Transport: t}}, nil
}

// Close releases the connections.
func (i *Inspector) Close() { i.transport.CloseIdleConnections() }

// Look reads the topic's partitions, their offsets, the group's committed
// offsets and its members.
func (i *Inspector) Look(ctx context.Context) (GroupView, error) {
	ctx, cancel := withDefaultTimeout(ctx, inspectTimeout)
	defer cancel()
	v := GroupView{Taken: time.Now(), Topic: i.cfg.Topic, Group: i.cfg.Group, Partitions: map[int]PartitionView{}}
	ids, err := i.partitions(ctx)
	if err != nil {
		return v, err
	}
	// Committed offsets before log ends: a group commits only what it
	// read, so read in this order a committed offset is never above the
	// end shown, unless the broker lost what the group had read.
	committed, err := i.committed(ctx, ids)
	if err != nil {
		return v, err
	}
	if err := i.offsets(ctx, &v, ids, committed); err != nil {
		return v, err
	}
	return v, i.members(ctx, &v)
}

func (i *Inspector) partitions(ctx context.Context) ([]int, error) {
	md, err := i.client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{i.cfg.Topic}})
	if err != nil {
		return nil, fmt.Errorf("kafka: reading the partitions of topic %q: %w", i.cfg.Topic, err)
	}
	var ids []int
	for _, t := range md.Topics {
		if t.Name != i.cfg.Topic {
			continue
		}
		if t.Error != nil {
			return nil, fmt.Errorf("kafka: topic %q (%s): %w", i.cfg.Topic, FlagTopic, t.Error)
		}
		for _, p := range t.Partitions {
			ids = append(ids, p.ID)
		}
	}
	if len(ids) == 0 {
		return nil, fmt.Errorf("kafka: topic %q (%s) has no partitions", i.cfg.Topic, FlagTopic)
	}
	sort.Ints(ids)
	return ids, nil
}

// offsets fills each partition's Start and End, with its committed offset
// (-1 when absent from committed).
func (i *Inspector) offsets(ctx context.Context, v *GroupView, ids []int, committed map[int]int64) error {
	ask := make([]kafka.OffsetRequest, 0, 2*len(ids))
	for _, id := range ids {
		ask = append(ask, kafka.FirstOffsetOf(id), kafka.LastOffsetOf(id))
	}
	res, err := i.client.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{i.cfg.Topic: ask}})
	if err != nil {
		return fmt.Errorf("kafka: reading the offsets of topic %q: %w", i.cfg.Topic, err)
	}
	for _, p := range res.Topics[i.cfg.Topic] {
		if p.Error != nil {
			return fmt.Errorf("kafka: reading the offsets of partition %d of topic %q: %w", p.Partition, i.cfg.Topic, p.Error)
		}
		c, ok := committed[p.Partition]
		if !ok {
			c = -1
		}
		v.Partitions[p.Partition] = PartitionView{Start: p.FirstOffset, End: p.LastOffset, Committed: c}
	}
	for _, id := range ids {
		if _, ok := v.Partitions[id]; !ok {
			return fmt.Errorf("kafka: the broker gave no offsets for partition %d of topic %q", id, i.cfg.Topic)
		}
	}
	return nil
}

// committed reads the group's committed offset of each partition that has
// one.
func (i *Inspector) committed(ctx context.Context, ids []int) (map[int]int64, error) {
	out := map[int]int64{}
	res, err := i.client.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: i.cfg.Group, Topics: map[string][]int{i.cfg.Topic: ids}})
	if err == nil {
		err = res.Error
	}
	switch {
	case errors.Is(err, kafka.GroupIdNotFound):
		return out, nil // nothing committed: every partition starts at its Start
	case err != nil:
		return nil, i.groupError("reading the committed offsets of", err)
	}
	for _, p := range res.Topics[i.cfg.Topic] {
		if p.Error != nil {
			return nil, i.groupError(fmt.Sprintf("reading partition %d's committed offset in", p.Partition), p.Error)
		}
		if p.CommittedOffset >= 0 {
			out[p.Partition] = p.CommittedOffset
		}
	}
	return out, nil
}

// members fills the group's state, members and owners.
func (i *Inspector) members(ctx context.Context, v *GroupView) error {
	res, err := i.client.DescribeGroups(ctx, &kafka.DescribeGroupsRequest{GroupIDs: []string{i.cfg.Group}})
	if err != nil {
		return i.groupError("describing", err)
	}
	for _, g := range res.Groups {
		if g.GroupID != i.cfg.Group {
			continue
		}
		switch {
		case errors.Is(g.Error, kafka.GroupIdNotFound):
			v.State = "Dead"
			return nil
		case g.Error != nil:
			return i.groupError("describing", g.Error)
		}
		v.State = g.GroupState
		for _, gm := range g.Members {
			m := Member{ID: gm.MemberID, ClientID: gm.ClientID, Host: gm.ClientHost}
			for _, t := range gm.MemberAssignments.Topics {
				if t.Topic == i.cfg.Topic {
					m.Partitions = append(m.Partitions, t.Partitions...)
				}
			}
			sort.Ints(m.Partitions)
			for _, p := range m.Partitions {
				if pv, ok := v.Partitions[p]; ok {
					pv.Owner = m.ID
					v.Partitions[p] = pv
				}
			}
			v.Members = append(v.Members, m)
		}
	}
	return nil
}

// Refused tells whether err is the broker refusing the user (a missing
// ACL or failed authentication), which waiting will not cure, from an
// outage, which it will.
func Refused(err error) bool {
	return errors.Is(err, kafka.GroupAuthorizationFailed) ||
		errors.Is(err, kafka.TopicAuthorizationFailed) ||
		errors.Is(err, kafka.SASLAuthenticationFailed)
}

// groupError says which ACL is missing when the broker refuses, and how
// to do without it.
func (i *Inspector) groupError(what string, err error) error {
	if errors.Is(err, kafka.GroupAuthorizationFailed) || errors.Is(err, kafka.TopicAuthorizationFailed) {
		return explained{err, fmt.Sprintf("kafka: user %q may not describe group %q (%s) and topic %q (%s), which the manager reads to tell a lost job from one that waits its turn: grant Describe on both in the KafkaUser's ACLs, or turn re-sends off with --queued-timeout=-1",
			i.cfg.Username, i.cfg.Group, FlagGroup, i.cfg.Topic, FlagTopic)}
	}
	return fmt.Errorf("kafka: %s group %q (%s): %w", what, i.cfg.Group, FlagGroup, err)
}

// PartitionOf is the partition the Publisher writes key to, of a topic
// with n partitions: kafka-go's Hash balancer, as the Publisher uses.
func PartitionOf(key string, n int) int {
	ps := make([]int, n)
	for i := range ps {
		ps[i] = i
	}
	return (&kafka.Hash{}).Balance(kafka.Message{Key: []byte(key)}, ps...)
}

// KeyOn returns a key made of key and a suffix that the Publisher writes
// to partition target of a topic with n partitions, or "" if target is not
// one of them. (Each suffix lands on target with odds 1/n, so 64·n tries
// miss it with odds below e⁻⁶⁴.)
func KeyOn(key string, target, n int) string {
	if target < 0 || target >= n {
		return ""
	}
	for s := 1; s <= 64*n; s++ {
		k := key + "#" + strconv.Itoa(s)
		if PartitionOf(k, n) == target {
			return k
		}
	}
	return ""
}
