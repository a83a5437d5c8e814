package kafka

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
)

// fastGroup makes members learn of a rebalance within 100 ms.
var fastGroup = ConsumerOptions{heartbeat: 100 * time.Millisecond}

// A consumer told to stop commits everything it finished before it leaves
// the group, also when a rebalance (another member joining) made it fetch
// its partition again from the committed offset, and it was stopped before
// it got back to the messages it had finished: the partition's next owner
// is not given them again.
func TestStopCommitsWhatItFinishedAfterARefetch(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t, newCluster(t), 1)
	produce(t, cfg, 0, 4)
	kc := client(t, cfg)

	release, again := make(chan struct{}), make(chan struct{})
	var releaseOnce sync.Once
	calls := newRecorder()
	keeper := startConsumer(t, withClientID(cfg, "keeper"), 2, fastGroup, func(ctx context.Context, m kafka.Message) error {
		switch n := calls.add(m); {
		case m.Offset == 0 && n == 1:
			// A long job, still running when the group rebalances.
			<-release
		case m.Offset == 0 && n == 2:
			// Fetched again after the rebalance; it holds the second
			// slot, so the keeper fetches nothing more until it stops.
			close(again)
			<-release
		}
		return nil
	})
	t.Cleanup(func() { releaseOnce.Do(func() { close(release) }) })
	eventually(t, 10*time.Second, "offsets 1 to 3 finished", func() bool { return calls.count() == 4 })

	// The range balancer gives a lone partition to the last member by ID:
	// the keeper keeps it, and kafka-go fetches it again from the
	// committed offset (none yet: the start).
	joiner := newRecorder()
	startConsumer(t, withClientID(cfg, "joiner"), 2, fastGroup, func(ctx context.Context, m kafka.Message) error {
		joiner.add(m)
		return nil
	})
	select {
	case <-again:
	case <-time.After(20 * time.Second):
		t.Fatal("the keeper was not given offset 0 again after the joiner joined")
	}
	keeper.cancel() // SIGTERM: no more fetching; the running handlers drain
	releaseOnce.Do(func() { close(release) })
	keeper.stop(t)

	if got := committed(t, kc, cfg, 1)[0]; got != 4 {
		t.Errorf("committed offset %d once the keeper left, want 4: it had finished offsets 0 to 3", got)
	}
	produce(t, cfg, 0, 1) // offset 4, for the joiner, which owns the partition now
	eventually(t, 20*time.Second, "the joiner handled offset 4", func() bool { return joiner.seenOffset(0, 4) })
	if got := joiner.offsets(0); !slices.Equal(got, []int64{4}) {
		t.Errorf("the joiner was given offsets %v, want [4]: the keeper had finished 0 to 3 before it left", got)
	}
}

// A message that finishes after a rebalance gave its partition to another
// member is not committed by the member that ran it: that would move the
// group's offset back behind what the new owner committed meanwhile, and
// whoever owns the partition next would be given those messages again.
func TestRevokedPartitionIsNotCommittedByItsFormerOwner(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t, newCluster(t), 2)
	produce(t, cfg, 1, 3)
	kc := client(t, cfg)

	release := make(chan struct{})
	var releaseOnce sync.Once
	calls := newRecorder()
	first := startConsumer(t, withClientID(cfg, "first"), 4, fastGroup, func(ctx context.Context, m kafka.Message) error {
		if n := calls.add(m); m.Partition == 1 && m.Offset == 0 && n == 1 {
			<-release // a long job, still running when its partition goes
		}
		return nil
	})
	t.Cleanup(func() { releaseOnce.Do(func() { close(release) }) })
	eventually(t, 10*time.Second, "partition 1's offsets 1 and 2 finished", func() bool { return calls.count() == 3 })

	// With two members, the range balancer gives partition 0 to the first
	// by ID and partition 1 to the second, which starts it from offset 0:
	// nothing is committed there while offset 0 runs.
	second := newRecorder()
	startConsumer(t, withClientID(cfg, "second"), 4, fastGroup, func(ctx context.Context, m kafka.Message) error {
		second.add(m)
		return nil
	})
	eventually(t, 20*time.Second, "the second member handled partition 1's offsets 0 to 2", func() bool { return second.seenOffset(1, 2) })
	produce(t, cfg, 1, 2)
	eventually(t, 10*time.Second, "the second member committed partition 1 to 5", func() bool { return committed(t, kc, cfg, 2)[1] == 5 })

	releaseOnce.Do(func() { close(release) })
	first.stop(t) // its long job finished before it left
	if got := committed(t, kc, cfg, 2)[1]; got != 5 {
		t.Errorf("partition 1's committed offset is %d once the first member left, want 5 (the second member's): the first no longer owned it when its job finished", got)
	}
}

// A message that finishes after a rebalance gave its partition to another
// member that has not got that far (its slots are busy, or it was stopped)
// is committed by the member that ran it: no one is given it again.
func TestRevokedPartitionIsCommittedWhereItsNewOwnerIsBehind(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t, newCluster(t), 2)
	produce(t, cfg, 1, 3)
	kc := client(t, cfg)

	releaseFirst, releaseSecond, busy := make(chan struct{}), make(chan struct{}), make(chan struct{})
	var releaseOnce sync.Once
	t.Cleanup(func() { releaseOnce.Do(func() { close(releaseFirst) }) })
	calls := newRecorder()
	first := startConsumer(t, withClientID(cfg, "first"), 4, fastGroup, func(ctx context.Context, m kafka.Message) error {
		if n := calls.add(m); m.Partition == 1 && m.Offset == 0 && n == 1 {
			<-releaseFirst // a long job, still running when its partition goes
		}
		return nil
	})
	eventually(t, 10*time.Second, "partition 1's offsets 1 and 2 finished", func() bool { return calls.count() == 3 })

	// The second member gets partition 1 from offset 0 and holds its only
	// slot with the first message it is given, until the test ends.
	var busyOnce sync.Once
	startConsumer(t, withClientID(cfg, "second"), 1, fastGroup, func(ctx context.Context, m kafka.Message) error {
		busyOnce.Do(func() { close(busy) })
		<-releaseSecond
		return nil
	})
	t.Cleanup(func() { close(releaseSecond) }) // before the second is stopped
	select {
	case <-busy:
	case <-time.After(20 * time.Second):
		t.Fatal("the second member was given nothing")
	}
	// The long job ends: the first member no longer owns partition 1, and
	// the second has committed nothing there.
	releaseOnce.Do(func() { close(releaseFirst) })
	first.stop(t)
	if got := committed(t, kc, cfg, 2)[1]; got != 3 {
		t.Errorf("partition 1's committed offset is %d once the first member left, want 3: it had finished offsets 0 to 2 and the second member had committed none", got)
	}
}

// produce writes n messages to partition of cfg.Topic.
func produce(t *testing.T, cfg Config, partition, n int) {
	t.Helper()
	recs := make([]kafka.Record, n)
	for i := range recs {
		recs[i] = kafka.Record{Key: kafka.NewBytes([]byte(fmt.Sprintf("key-%d", i))), Value: kafka.NewBytes([]byte("job"))}
	}
	res, err := client(t, cfg).Produce(ctxFor(t, 10*time.Second), &kafka.ProduceRequest{
		Topic: cfg.Topic, Partition: partition, RequiredAcks: kafka.RequireAll, Records: kafka.NewRecordReader(recs...),
	})
	if err == nil {
		err = res.Error
	}
	if err != nil {
		t.Fatalf("producing to partition %d: %v", partition, err)
	}
}

// withClientID gives a member its own client ID: kfake's member IDs start
// with it, and the range balancer orders members by ID.
func withClientID(cfg Config, id string) Config {
	cfg.ClientID = id
	return cfg
}

// The range balancer gives each member a run of partitions in numeric
// order, whatever order the broker's metadata lists them in: members are
// ordered by ID, so "a-…" gets the lower half.
func TestRangeBalancerAssignsPartitionsInOrder(t *testing.T) {
	members := []kafka.GroupMember{{ID: "b-2", Topics: []string{"jobs"}}, {ID: "a-1", Topics: []string{"jobs"}}}
	var parts []kafka.Partition
	for _, id := range []int{3, 1, 0, 2} {
		parts = append(parts, kafka.Partition{Topic: "jobs", ID: id})
	}
	got := rangeBalancer{}.AssignGroups(members, parts)
	if a, b := got["a-1"]["jobs"], got["b-2"]["jobs"]; !slices.Equal(a, []int{0, 1}) || !slices.Equal(b, []int{2, 3}) {
		t.Errorf("assigned a-1 %v and b-2 %v, want [0 1] and [2 3]", a, b)
	}
	if name := (rangeBalancer{}).ProtocolName(); name != "range" {
		t.Errorf("protocol %q, want range: members of an older version must agree with it", name)
	}
}
