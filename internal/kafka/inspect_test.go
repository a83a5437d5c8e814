package kafka

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"ytx.dev/ytx/internal/job"
	"ytx.dev/ytx/internal/kafka/kafkatest"
)

// Each message published at once (so that the Writer batches them) is
// found where PublishKeyed said, on the partition its key hashes to.
func TestPublishKeyedSaysWhereEachMessageLanded(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t, newCluster(t), 4)
	p := newPublisher(t, cfg)
	const n = 40
	at := make([]Position, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			var err error
			m := jobMsg(fmt.Sprintf("x-%d", i), 1)
			if at[i], err = p.PublishKeyed(ctxFor(t, 10*time.Second), m, fmt.Sprintf("key-%d", i)); err != nil {
				t.Errorf("PublishKeyed: %v", err)
			}
		})
	}
	wg.Wait()
	c := client(t, cfg)
	seen := map[Position]bool{}
	for i, pos := range at {
		if want := PartitionOf(fmt.Sprintf("key-%d", i), 4); pos.Partition != want {
			t.Errorf("message %d: partition %d, want %d, where its key hashes to", i, pos.Partition, want)
		}
		if seen[pos] {
			t.Errorf("message %d: position %+v given twice", i, pos)
		}
		seen[pos] = true
		res, err := c.Fetch(ctxFor(t, 10*time.Second), &kafka.FetchRequest{Topic: cfg.Topic, Partition: pos.Partition, Offset: pos.Offset, MinBytes: 1, MaxBytes: 1 << 20, MaxWait: time.Second})
		if err == nil {
			err = res.Error
		}
		if err != nil {
			t.Fatalf("fetching %+v: %v", pos, err)
		}
		// A fetch answers whole record batches: skip to the offset.
		r, err := res.Records.ReadRecord()
		for err == nil && r.Offset < pos.Offset {
			r, err = res.Records.ReadRecord()
		}
		if err != nil {
			t.Fatalf("reading %+v: %v", pos, err)
		}
		if r.Offset != pos.Offset {
			t.Fatalf("no record at offset %d: the next is %d", pos.Offset, r.Offset)
		}
		m, err := job.Decode(readAll(t, r.Value))
		if err != nil || m.Name != fmt.Sprintf("x-%d", i) {
			t.Errorf("message %d is at %+v, where the broker has %v (%v)", i, pos, m, err)
		}
	}
}

func readAll(t *testing.T, b kafka.Bytes) []byte {
	t.Helper()
	out := make([]byte, b.Len())
	if _, err := b.Read(out); err != nil {
		t.Fatal(err)
	}
	return out
}

// KeyOn finds keys for every partition, none of them the key itself.
func TestKeyOnLandsOnTheAskedPartition(t *testing.T) {
	for _, n := range []int{1, 4, 12, 100} {
		for target := range n {
			k := KeyOn("music/never-gonna", target, n)
			if k == "" || PartitionOf(k, n) != target || !strings.HasPrefix(k, "music/never-gonna#") {
				t.Fatalf("KeyOn(%d of %d) = %q, which lands on %d", target, n, k, PartitionOf(k, n))
			}
		}
	}
	if k := KeyOn("a", 4, 4); k != "" {
		t.Errorf("KeyOn a partition that does not exist = %q, want \"\"", k)
	}
}

func look(t *testing.T, cfg Config) GroupView {
	t.Helper()
	in, err := NewInspector(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	v, err := in.Look(ctxFor(t, 10*time.Second))
	if err != nil {
		t.Fatalf("Look: %v", err)
	}
	return v
}

// The view of a topic before any worker, while one consumes and after it
// left.
func TestInspectorReadsOffsetsCommitsAndOwners(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t, newCluster(t), 3)
	p := newPublisher(t, cfg)
	want := map[int]int64{}
	for i := range 9 {
		pos, err := p.PublishKeyed(ctxFor(t, 10*time.Second), jobMsg(fmt.Sprintf("x-%d", i), 1), fmt.Sprintf("k-%d", i))
		if err != nil {
			t.Fatal(err)
		}
		want[pos.Partition] = max(want[pos.Partition], pos.Offset+1)
	}

	v := look(t, cfg)
	if v.Topic != cfg.Topic || v.Group != cfg.Group || len(v.Members) != 0 || len(v.Partitions) != 3 {
		t.Fatalf("before any worker: %+v", v)
	}
	for id, pv := range v.Partitions {
		if pv.Start != 0 || pv.End != want[id] || pv.Committed != -1 || pv.Owner != "" || pv.Lag() != want[id] {
			t.Errorf("before any worker, partition %d: %+v (lag %d), want end %d, nothing committed, no owner", id, pv, pv.Lag(), want[id])
		}
	}

	done := newRecorder()
	c := startConsumer(t, cfg, 2, ConsumerOptions{}, func(_ context.Context, m kafka.Message) error { done.add(m); return nil })
	eventually(t, 20*time.Second, "every message committed by a Stable group of one", func() bool {
		v = look(t, cfg)
		if v.State != "Stable" || len(v.Members) != 1 || !slices.Equal(v.Members[0].Partitions, []int{0, 1, 2}) {
			return false
		}
		for id, pv := range v.Partitions {
			if pv.Committed != want[id] || pv.Owner != v.Members[0].ID || pv.Lag() != 0 {
				return false
			}
		}
		return true
	})
	c.stop(t)
	eventually(t, 20*time.Second, "the group Empty once its member left", func() bool {
		v = look(t, cfg)
		return v.State == "Empty" && len(v.Members) == 0 && v.Partitions[0].Owner == ""
	})
}

// A leader that assigns a partition to nobody: the group is Stable, the
// worker owns the others, and that partition has no owner.
func TestInspectorSeesAPartitionNoMemberOwns(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t, newCluster(t), 3)
	m, err := kafkatest.JoinIdle(cfg.Brokers, cfg.Group, cfg.Topic, kafkatest.IdleOptions{ClientID: "idle", LeaveOut: []int{1}, SessionTimeout: 6 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	eventually(t, 20*time.Second, "the idle member leading the group", func() bool { _, gens := m.Assigned(); return gens > 0 })
	c := startConsumer(t, cfg, 1, ConsumerOptions{}, func(context.Context, kafka.Message) error { return nil })
	var v GroupView
	eventually(t, 30*time.Second, "a Stable group of two in which partition 1 has no owner", func() bool {
		v = look(t, cfg)
		return v.State == "Stable" && len(v.Members) == 2 && v.Partitions[1].Owner == "" &&
			v.Partitions[0].Owner != "" && v.Partitions[0].Owner == v.Partitions[2].Owner
	})
	owner, _ := v.Member(v.Partitions[0].Owner)
	if owner.ClientID != cfg.ClientID || !slices.Equal(owner.Partitions, []int{0, 2}) {
		t.Errorf("partition 0's owner %+v, want the worker (client %q) with partitions [0 2]", owner, cfg.ClientID)
	}
	c.stop(t)
}

// The manager's user needs Describe on the group: without it Look fails
// saying which grant is missing, and how to do without.
func TestInspectorNeedsDescribeOnTheGroup(t *testing.T) {
	t.Parallel()
	const topic, group = "jobs-acl", "workers-acl"
	topicACL := func(op kmsg.ACLOperation) kfake.ACL {
		return kfake.ACL{Resource: kmsg.ACLResourceTypeTopic, Name: topic, Pattern: kmsg.ACLResourcePatternTypeLiteral, Operation: op, Allow: true}
	}
	groupDescribe := kfake.ACL{Resource: kmsg.ACLResourceTypeGroup, Name: group, Pattern: kmsg.ACLResourcePatternTypeLiteral, Operation: kmsg.ACLOperationDescribe, Allow: true}
	cluster := newCluster(t, kfake.EnableSASL(), kfake.EnableACLs(),
		kfake.Superuser(MechanismSCRAMSHA512, "admin", "admin-password"),
		kfake.User(MechanismSCRAMSHA512, "before", "before-password", topicACL(kmsg.ACLOperationWrite), topicACL(kmsg.ACLOperationDescribe)),
		kfake.User(MechanismSCRAMSHA512, "after", "after-password", topicACL(kmsg.ACLOperationWrite), topicACL(kmsg.ACLOperationDescribe), groupDescribe),
	)
	as := func(user string) Config {
		return Config{Brokers: cluster.ListenAddrs(), Topic: topic, Group: group, SASLMechanism: MechanismSCRAMSHA512,
			Username: user, PasswordFile: writeFile(t, "password", user+"-password")}.WithDefaults()
	}
	ensureTopics(t, as("admin"), 2)

	in, err := NewInspector(as("before"))
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	_, err = in.Look(ctxFor(t, 10*time.Second))
	if err == nil {
		t.Fatal("Look without Describe on the group worked")
	}
	for _, want := range []string{`user "before"`, "Describe", `group "workers-acl"`, FlagGroup, "--queued-timeout=-1"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %s", err, want)
		}
	}
	if v := look(t, as("after")); len(v.Partitions) != 2 {
		t.Errorf("with Describe on the group: %+v", v)
	}
}

// A missing ACL or a refused login will not cure itself, and stops the
// manager at start; a broker that cannot be reached yet will.
func TestRefusedIsAMissingGrantNotAnOutage(t *testing.T) {
	for _, c := range []struct {
		err  error
		want bool
	}{
		{fmt.Errorf("describe: %w", kafka.GroupAuthorizationFailed), true},
		{fmt.Errorf("metadata: %w", kafka.TopicAuthorizationFailed), true},
		{kafka.SASLAuthenticationFailed, true},
		{fmt.Errorf("dial tcp 127.0.0.1:9092: %w", syscall.ECONNREFUSED), false},
		{context.DeadlineExceeded, false},
		{nil, false},
	} {
		if got := Refused(c.err); got != c.want {
			t.Errorf("Refused(%v) = %t, want %t", c.err, got, c.want)
		}
	}
}
