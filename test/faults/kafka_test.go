package faults

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"
)

// kafkaClient talks to the broker behind the processes' backs.
func (s *system) kafkaClient() *kafka.Client {
	return &kafka.Client{Addr: kafka.TCP(s.broker.addr), Timeout: 10 * time.Second, Transport: s.wire}
}

// partitions are the job topic's partition numbers.
func (s *system) partitions(ctx context.Context) ([]int, error) {
	md, err := s.kafkaClient().Metadata(ctx, &kafka.MetadataRequest{Topics: []string{s.kafka.Topic}})
	if err != nil {
		return nil, err
	}
	var ps []int
	for _, t := range md.Topics {
		for _, p := range t.Partitions {
			ps = append(ps, p.ID)
		}
	}
	sort.Ints(ps)
	return ps, nil
}

// lag returns, per partition of the job topic, how many messages the
// group has not committed yet: zero everywhere once every message was
// dealt with, so nothing is stuck.
func (s *system) lag(ctx context.Context) (map[int]int64, error) {
	c := s.kafkaClient()
	ps, err := s.partitions(ctx)
	if err != nil {
		return nil, err
	}
	var ask []kafka.OffsetRequest
	for _, p := range ps {
		ask = append(ask, kafka.LastOffsetOf(p))
	}
	ends, err := c.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{s.kafka.Topic: ask}})
	if err != nil {
		return nil, err
	}
	committed, err := c.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: s.kafka.Group, Topics: map[string][]int{s.kafka.Topic: ps}})
	if err != nil {
		return nil, err
	}
	if committed.Error != nil && !errors.Is(committed.Error, kafka.GroupIdNotFound) {
		return nil, committed.Error
	}
	at := map[int]int64{}
	for _, p := range committed.Topics[s.kafka.Topic] {
		at[p.Partition] = max(p.CommittedOffset, 0)
	}
	out := map[int]int64{}
	for _, p := range ends.Topics[s.kafka.Topic] {
		out[p.Partition] = p.LastOffset - at[p.Partition]
	}
	return out, nil
}

// groupState describes the consumer group for failure messages: its
// members and their partitions, and the lag per partition.
func (s *system) groupState() string {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var b strings.Builder
	res, err := s.kafkaClient().DescribeGroups(ctx, &kafka.DescribeGroupsRequest{GroupIDs: []string{s.kafka.Group}})
	if err != nil {
		return "describing the group: " + err.Error()
	}
	for _, g := range res.Groups {
		fmt.Fprintf(&b, "group %s state %s:", g.GroupID, g.GroupState)
		for _, m := range g.Members {
			var parts []string
			for _, t := range m.MemberAssignments.Topics {
				parts = append(parts, fmt.Sprint(t.Partitions))
			}
			fmt.Fprintf(&b, " [%s %s %s]", m.ClientID, m.MemberID, strings.Join(parts, ","))
		}
	}
	lag, err := s.lag(ctx)
	fmt.Fprintf(&b, "; lag by partition %v %v", lag, err)
	return b.String()
}

// groupStable reports whether the consumer group is Stable with members
// members: no rebalance under way, none about to start for a worker that
// is still joining.
func (s *system) groupStable(members int) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res, err := s.kafkaClient().DescribeGroups(ctx, &kafka.DescribeGroupsRequest{GroupIDs: []string{s.kafka.Group}})
	if err != nil || len(res.Groups) != 1 {
		return false
	}
	g := res.Groups[0]
	return g.GroupState == "Stable" && len(g.Members) == members
}
