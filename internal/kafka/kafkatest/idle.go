// Package kafkatest helps tests make Kafka misbehave.
//
// JoinIdle joins a consumer group as a member that never reads: it
// heart-beats, rejoins every rebalance, holds what it is assigned, and
// fetches nothing. Tests use it to make a partition that the
// group does not consume, the two ways the manager's lost-job rules know:
//
//   - as a member that owns partitions and does not read them (a consumer
//     wedged, or one that joined and never started fetching);
//   - as the group's leader, whose assignment leaves partitions to nobody
//     (LeaveOut): the group is Stable and those partitions have no owner.
//
// It is kafka-go's own ConsumerGroup, so the broker sees an ordinary
// member; only what it does with its generations is different.
package kafkatest

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"
)

// IdleOptions tune an idle member.
type IdleOptions struct {
	// ClientID names it in DescribeGroups.
	ClientID string
	// Dialer dials the brokers; nil for plaintext.
	Dialer *kafka.Dialer
	// LeaveOut are partitions that this member, when it is the leader,
	// assigns to nobody; it then assigns itself nothing either. Join it
	// first, so that it leads (the broker keeps the leader of a group
	// while it rejoins).
	LeaveOut []int
	// SessionTimeout of the member (zero: kafka-go's 30 s).
	SessionTimeout time.Duration
}

// IdleMember is a joined member that never reads. Close it.
type IdleMember struct {
	cancel context.CancelFunc
	done   chan struct{}
	group  *kafka.ConsumerGroup

	mu       sync.Mutex
	id       string
	assigned []int
	gens     int
	err      error
}

// JoinIdle starts a member of group that subscribes to topic. It returns
// at once; Assigned says how many generations it has joined.
func JoinIdle(brokers []string, group, topic string, o IdleOptions) (*IdleMember, error) {
	m := &IdleMember{done: make(chan struct{})}
	dialer := o.Dialer
	if dialer == nil {
		dialer = &kafka.Dialer{Timeout: 10 * time.Second}
	}
	dialer.ClientID = o.ClientID
	cfg := kafka.ConsumerGroupConfig{
		ID: group, Brokers: brokers, Topics: []string{topic}, Dialer: dialer,
		GroupBalancers:   []kafka.GroupBalancer{&partial{leaveOut: o.LeaveOut, self: m.memberID, ownNothing: len(o.LeaveOut) > 0}},
		JoinGroupBackoff: 500 * time.Millisecond, SessionTimeout: o.SessionTimeout, RebalanceTimeout: o.SessionTimeout,
	}
	g, err := kafka.NewConsumerGroup(cfg)
	if err != nil {
		return nil, err
	}
	m.group = g
	ctx, cancel := context.WithCancel(context.Background())
	m.cancel = cancel
	go m.run(ctx)
	return m, nil
}

// run takes each generation and holds it until the next rebalance.
func (m *IdleMember) run(ctx context.Context) {
	defer close(m.done)
	for {
		gen, err := m.group.Next(ctx)
		if ctx.Err() != nil || errors.Is(err, kafka.ErrGroupClosed) {
			return
		}
		if err != nil {
			m.mu.Lock()
			m.err = err
			m.mu.Unlock()
			time.Sleep(200 * time.Millisecond)
			continue
		}
		var ps []int
		for _, as := range gen.Assignments {
			for _, a := range as {
				ps = append(ps, a.ID)
			}
		}
		slices.Sort(ps)
		m.mu.Lock()
		m.id, m.assigned, m.err = gen.MemberID, ps, nil
		m.gens++
		m.mu.Unlock()
	}
}

func (m *IdleMember) memberID() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.id
}

// Assigned returns the partitions of its current generation, and how many
// generations it has joined.
func (m *IdleMember) Assigned() ([]int, int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.assigned), m.gens
}

// Close leaves the group.
func (m *IdleMember) Close() {
	m.cancel()
	m.group.Close() //nolint:errcheck // leaving is best effort
	<-m.done
}

// partial is kafka-go's range balancer under its protocol name, so that
// the workers' readers agree to it, leaving some partitions out.
type partial struct {
	leaveOut   []int
	ownNothing bool
	self       func() string
}

func (p *partial) ProtocolName() string      { return kafka.RangeGroupBalancer{}.ProtocolName() }
func (p *partial) UserData() ([]byte, error) { return nil, nil }

func (p *partial) AssignGroups(members []kafka.GroupMember, partitions []kafka.Partition) kafka.GroupMemberAssignments {
	var keep []kafka.Partition
	for _, pt := range partitions {
		if !slices.Contains(p.leaveOut, pt.ID) {
			keep = append(keep, pt)
		}
	}
	var others []kafka.GroupMember
	for _, gm := range members {
		if !p.ownNothing || gm.ID != p.self() {
			others = append(others, gm)
		}
	}
	out := kafka.RangeGroupBalancer{}.AssignGroups(others, keep)
	for _, gm := range members {
		if _, ok := out[gm.ID]; !ok {
			out[gm.ID] = map[string][]int{}
		}
	}
	return out
}
