package faults

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"ytx.dev/ytx/internal/kafka"
)

// The suite's broker is kfake, and kfake has one way of keeping a dead
// member that Kafka does not: it starts a member's session timer only once
// a JoinGroup or SyncGroup reply reaches the member. A worker killed while
// its JoinGroup waits for the others stays in the group when that reply
// fails, and if the group leader syncs before the pending-sync deadline,
// it keeps the partitions assigned to it for good. Kafka schedules every
// member's expiry when the join completes, whatever became of the reply,
// so the dead member is gone one session timeout later and its partitions
// go to the living. A scenario that kills workers as they join (the crash
// loop) would otherwise test kfake's bug, not ytx.
//
// reaper does for kfake what Kafka's session expiry would: it removes,
// with LeaveGroup, the members of worker processes that exited more than a
// session timeout ago. Each worker process has a client ID of its own
// (startWorker), which is how their members are told apart. The members it
// removes are counted, and the scenario says so in its log.
type reaper struct {
	s       *system
	removed atomic.Int64
}

// startReaper runs the reaper until the scenario ends.
func (s *system) startReaper() {
	r := &reaper{s: s}
	s.reaper = r
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Second):
				r.sweep(ctx)
			}
		}
	}()
	s.t.Cleanup(func() {
		cancel()
		<-done
		if n := r.removed.Load(); n > 0 {
			s.t.Logf("kfake kept %d members of dead workers past their session timeout; the suite removed them, as Kafka's session expiry would", n)
		}
	})
}

// sessionTimeout is the last --kafka-session-timeout among a worker's
// arguments, as its flag parser takes it, or the default.
func sessionTimeout(args []string) time.Duration {
	d := kafka.DefaultSessionTimeout
	for i, a := range args[:max(len(args)-1, 0)] {
		if a == "--kafka-session-timeout" {
			if v, err := time.ParseDuration(args[i+1]); err == nil {
				d = v
			}
		}
	}
	return d
}

// dead lists the client IDs of the worker processes that exited more than
// their session timeout ago.
func (r *reaper) dead() map[string]bool {
	r.s.mu.Lock()
	defer r.s.mu.Unlock()
	out := map[string]bool{}
	for _, p := range r.s.all {
		if p.clientID != "" && !p.alive() && time.Since(p.exited) > p.sessionTimeout {
			out[p.clientID] = true
		}
	}
	return out
}

// sweep removes the dead workers' members from the workers' groups. A
// broker that is down or restarting is tried again at the next sweep.
func (r *reaper) sweep(ctx context.Context) {
	dead := r.dead()
	if len(dead) == 0 {
		return
	}
	c := r.s.kafkaClient()
	groups := []string{r.s.kafka.Group, r.s.kafka.ListingGroup}
	res, err := c.DescribeGroups(ctx, &kafkago.DescribeGroupsRequest{GroupIDs: groups})
	if err != nil {
		return
	}
	for _, g := range res.Groups {
		var leave []kafkago.LeaveGroupRequestMember
		for _, m := range g.Members {
			if dead[m.ClientID] {
				leave = append(leave, kafkago.LeaveGroupRequestMember{ID: m.MemberID})
			}
		}
		if len(leave) == 0 {
			continue
		}
		out, err := c.LeaveGroup(ctx, &kafkago.LeaveGroupRequest{GroupID: g.GroupID, Members: leave})
		if err != nil || out.Error != nil {
			continue
		}
		for _, m := range out.Members {
			if m.Error == nil {
				r.removed.Add(1)
			}
		}
	}
}

// clientIDOf names a worker process to the broker: its name and how many
// processes of that name the scenario started before it.
func clientIDOf(name string, earlier int) string {
	return fmt.Sprintf("%s.%d", name, earlier)
}

// reaped says how many members of dead workers the reaper removed so far.
func (s *system) reaped() string {
	return fmt.Sprintf("%d dead workers' group members that kfake kept past their session timeout removed, as Kafka would", s.reaper.removed.Load())
}
