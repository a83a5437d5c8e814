package controllers

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "ytx.dev/ytx/api/v1alpha1"
	"ytx.dev/ytx/internal/job"
	"ytx.dev/ytx/internal/kafka"
)

// The lost-job rules (lostjobs.go), each test named after one, against a
// queue whose views the test sets and a publisher that says where each
// message lands.

const (
	lagInterval = 10 * time.Second
	stuckAfter  = 5 * time.Minute
	group       = "ytx-workers"
	topic       = "ytx-jobs"
)

// PublishKeyed records m like Publish, with its key, and says where it
// landed: p.place(key), or partition 0 at offset 0.
func (p *publisher) PublishKeyed(ctx context.Context, m job.Message, key string) (kafka.Position, error) {
	if err := p.Publish(ctx, m); err != nil {
		return kafka.Position{}, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.keys = append(p.keys, key)
	if p.place == nil {
		return kafka.Position{}, nil
	}
	return p.place(key), nil
}

func (p *publisher) takeKeys() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	k := p.keys
	p.keys = nil
	return k
}

// queue is a QueueReader whose answer the test sets; it counts the looks.
type queue struct {
	mu    sync.Mutex
	view  kafka.GroupView
	err   error
	looks int
}

func (q *queue) Look(context.Context) (kafka.GroupView, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.looks++
	return q.view, q.err
}

func (q *queue) calls() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.looks
}

// part is a partition: log start and end, committed offset, owner.
type part struct {
	start, end, committed int64
	owner                 string
}

// kafkaHarness is a harness whose controller reads the queue: 4
// partitions, a queued timeout of a minute.
type kafkaHarness struct {
	*harness
	q *queue
}

func newKafkaHarness(t *testing.T, objs ...client.Object) *kafkaHarness {
	t.Helper()
	q := &queue{}
	h := newHarness(t, Options{Queue: topic, QueuedTimeout: time.Minute, QueueReader: q, LagInterval: lagInterval, StuckAfter: stuckAfter}, objs...)
	return &kafkaHarness{harness: h, q: q}
}

// partitionOf is where name's jobs go under their own key.
func partitionOf(name string) int { return kafka.PartitionOf(msg(name, 1, 1).Key(), 4) }

// placeAt makes the next messages land on the partition of their key at
// offset, whatever the key.
func (h *kafkaHarness) placeAt(offset int64) {
	h.pub.mu.Lock()
	defer h.pub.mu.Unlock()
	h.pub.place = func(key string) kafka.Position {
		return kafka.Position{Partition: kafka.PartitionOf(key, 4), Offset: offset}
	}
}

// look sets the queue's view, taken now, with the group Stable: member
// "w-1" owns every partition whose owner is "w-1" (the default for a part
// with no owner given is "w-1"; "-" means none), and so on.
func (h *kafkaHarness) look(parts map[int]part) {
	h.lookAs("Stable", parts)
}

func (h *kafkaHarness) lookAs(state string, parts map[int]part) {
	h.t.Helper()
	v := kafka.GroupView{Taken: h.clock.Now(), Topic: topic, Group: group, State: state, Partitions: map[int]kafka.PartitionView{}}
	owned := map[string][]int{}
	for p := range 4 {
		pt, ok := parts[p]
		if !ok {
			pt = part{start: 0, end: 10, committed: 10}
		}
		owner := pt.owner
		switch owner {
		case "":
			owner = "w-1"
		case "-":
			owner = ""
		}
		if owner != "" {
			owned[owner] = append(owned[owner], p)
		}
		v.Partitions[p] = kafka.PartitionView{Start: pt.start, End: pt.end, Committed: pt.committed, Owner: owner}
	}
	for id, ps := range owned {
		v.Members = append(v.Members, kafka.Member{ID: id, ClientID: "ytx", Host: "/10.0.0.1", Partitions: ps})
	}
	if len(v.Members) == 0 {
		v.Members = []kafka.Member{{ID: "w-idle", ClientID: "ytx", Host: "/10.0.0.2"}}
	}
	h.q.mu.Lock()
	h.q.view = v
	h.q.mu.Unlock()
	h.r.watch.look(context.Background(), logr.Discard())
}

// queueA publishes a's attempt 1 at offset 100 of its partition.
func (h *kafkaHarness) queueA() {
	h.t.Helper()
	h.placeAt(100)
	h.step("a")
	h.wantSent(msg("a", 1, 1))
	h.wantEvents("Normal Queued")
	if keys := h.pub.takeKeys(); len(keys) != 1 || keys[0] != msg("a", 1, 1).Key() {
		h.t.Fatalf("published under keys %q, want [%q]", keys, msg("a", 1, 1).Key())
	}
}

// wantWaits checks that a is left alone: nothing published, no event, and
// asked again after the next look.
func (h *kafkaHarness) wantWaits(res ctrl.Result) {
	h.t.Helper()
	if res.RequeueAfter != lagInterval {
		h.t.Errorf("requeue after %s, want the lag interval %s", res.RequeueAfter, lagInterval)
	}
	h.wantSent()
	h.wantEvents()
}

// wantResent checks that a's attempt 1 was sent again, once, under key
// (its own when empty), with a Resent event that says all of says, and
// counted under reason; a Warning, as with Kafka it means the queue
// lost a job or a partition is not consumed.
func (h *kafkaHarness) wantResent(res ctrl.Result, key, reason string, before float64, says ...string) {
	h.t.Helper()
	if key == "" {
		key = msg("a", 1, 1).Key()
	}
	h.wantSent(msg("a", 1, 1))
	if keys := h.pub.takeKeys(); len(keys) != 1 || keys[0] != key {
		h.t.Errorf("sent again under keys %q, want [%q]", keys, key)
	}
	ev := h.wantEvents("Warning Resent")
	for _, s := range says {
		if len(ev) == 1 && !strings.Contains(ev[0].Note, s) {
			h.t.Errorf("Resent event %q does not say %q", ev[0].Note, s)
		}
	}
	if got := value(resentTotal.WithLabelValues(reason)); got != before+1 {
		h.t.Errorf("ytx_jobs_resent_total{reason=%q} went from %v to %v, want one more", reason, before, got)
	}
	if res.RequeueAfter != time.Minute {
		h.t.Errorf("requeue after %s, want the queued timeout again", res.RequeueAfter)
	}
	if x := h.get("a"); x.Status.Phase != v1alpha1.PhaseQueued || x.Status.Attempts != 1 {
		h.t.Errorf("phase %s attempts %d, want Queued at attempt 1", x.Status.Phase, x.Status.Attempts)
	}
}

func resent(reason string) float64 { return value(resentTotal.WithLabelValues(reason)) }

// value reads a counter's or a gauge's value.
func value(m prometheus.Metric) float64 {
	var d dto.Metric
	if err := m.Write(&d); err != nil {
		panic(err)
	}
	if c := d.GetCounter(); c != nil {
		return c.GetValue()
	}
	return d.GetGauge().GetValue()
}

func TestKafkaAttemptWaitingInTheBacklogIsNotResent(t *testing.T) {
	h := newKafkaHarness(t, resource("a"))
	h.queueA()
	p := partitionOf("a")
	// Thousands wait before it, the group consumes slowly but surely: at
	// every look its committed offset has moved.
	for i := range 20 {
		h.at(time.Minute + time.Duration(i)*time.Minute)
		h.look(map[int]part{p: {start: 0, end: 5000, committed: int64(10 + i)}})
		h.wantWaits(h.step("a"))
	}
}

func TestKafkaAttemptTheGroupCommittedPastIsResent(t *testing.T) {
	h := newKafkaHarness(t, resource("a"))
	h.queueA()
	h.at(time.Minute)
	before := resent(resentConsumed)
	h.look(map[int]part{partitionOf("a"): {start: 0, end: 200, committed: 101}})
	h.wantResent(h.step("a"), "", resentConsumed, before, "up to offset 101, past its message's 100", group)
}

func TestKafkaAttemptBeyondTheLogEndIsResentAsLost(t *testing.T) {
	h := newKafkaHarness(t, resource("a"))
	h.queueA()
	h.at(time.Minute)
	before := resent(resentLost)
	// The broker lost its log: the partition ends before the offset the
	// message was written at, and the group has committed nothing.
	h.look(map[int]part{partitionOf("a"): {start: 0, end: 3, committed: -1}})
	h.wantResent(h.step("a"), "", resentLost, before, "now ends at offset 3, before its message's 100", "lost")
}

func TestKafkaAttemptDeletedFromTheLogIsResentAsLost(t *testing.T) {
	h := newKafkaHarness(t, resource("a"))
	h.queueA()
	h.at(time.Minute)
	before := resent(resentLost)
	h.look(map[int]part{partitionOf("a"): {start: 150, end: 300, committed: 120}})
	h.wantResent(h.step("a"), "", resentLost, before, "now starts at offset 150")
}

func TestKafkaAttemptIsNotJudgedBeforeTheQueuedTimeout(t *testing.T) {
	h := newKafkaHarness(t, resource("a"))
	h.queueA()
	h.at(30 * time.Second)
	h.look(map[int]part{partitionOf("a"): {start: 0, end: 3, committed: -1}})
	if res := h.step("a"); res.RequeueAfter != 30*time.Second {
		t.Errorf("requeue after %s, want the rest of the queued timeout", res.RequeueAfter)
	}
	h.wantSent()
}

// A view read before the message was sent says nothing of it: its log end
// is below the offset because the message came after.
func TestKafkaAttemptWaitsForALookAfterItsSend(t *testing.T) {
	h := newKafkaHarness(t, resource("a"))
	h.look(map[int]part{partitionOf("a"): {start: 0, end: 3, committed: 3}})
	h.queueA()
	h.at(time.Minute)
	h.wantWaits(h.step("a"))
	// And a look that fails leaves it waiting too.
	h.q.mu.Lock()
	h.q.err = fmt.Errorf("broker away")
	h.q.mu.Unlock()
	h.r.watch.look(context.Background(), logr.Discard())
	h.wantWaits(h.step("a"))
}

func TestKafkaAttemptOnAnUnownedPartitionIsResentWithAnotherKey(t *testing.T) {
	h := newKafkaHarness(t, resource("a"))
	h.queueA()
	p := partitionOf("a")
	h.at(time.Minute)
	before := resent(resentStuck)
	parts := map[int]part{p: {start: 0, end: 500, committed: 10, owner: "-"}}
	// The healthy partition with the least lag gets it.
	target := (p + 2) % 4
	for q := range 4 {
		if q != p {
			parts[q] = part{start: 0, end: 100, committed: 50}
		}
	}
	parts[target] = part{start: 0, end: 100, committed: 95}
	h.look(parts)
	want := kafka.KeyOn(msg("a", 1, 1).Key(), target, 4)
	if kafka.PartitionOf(want, 4) != target || want == msg("a", 1, 1).Key() {
		t.Fatalf("KeyOn gave %q, which lands on %d, not %d", want, kafka.PartitionOf(want, 4), target)
	}
	h.wantResent(h.step("a"), want, resentStuck, before,
		fmt.Sprintf("partition %d of topic %s is stuck for group %s", p, topic, group), "no member of the group is assigned it",
		fmt.Sprintf("sent to partition %d instead", target))
	if got := value(stuckPartitions); got != 1 {
		t.Errorf("ytx_kafka_stuck_partitions %v, want 1", got)
	}
}

// While the group rebalances, a partition without an owner is normal.
func TestKafkaUnownedPartitionIsNotStuckWhileTheGroupRebalances(t *testing.T) {
	h := newKafkaHarness(t, resource("a"))
	h.queueA()
	h.at(time.Minute)
	h.lookAs("PreparingRebalance", map[int]part{partitionOf("a"): {start: 0, end: 500, committed: 10, owner: "-"}})
	h.wantWaits(h.step("a"))
}

// noProgress looks twice StuckAfter apart at a's partition, its committed
// offset the same, a's message waiting behind 390 others.
func (h *kafkaHarness) noProgress() {
	p := partitionOf("a")
	h.at(time.Minute)
	h.look(map[int]part{p: {start: 0, end: 500, committed: 10}})
	h.at(time.Minute + stuckAfter)
	h.look(map[int]part{p: {start: 0, end: 500, committed: 10}})
}

func TestKafkaPartitionWithoutProgressAndNothingClaimedIsStuck(t *testing.T) {
	h := newKafkaHarness(t, resource("a"))
	h.queueA()
	before := resent(resentStuck)
	h.noProgress()
	p := partitionOf("a")
	res := h.step("a")
	keys := h.pub.take()
	if len(keys) != 1 {
		t.Fatalf("sent %v, want a's attempt again", keys)
	}
	ev := h.wantEvents("Warning Resent")
	if len(ev) == 1 && !strings.Contains(ev[0].Note, fmt.Sprintf("partition %d of topic %s is stuck for group %s (no progress for %s", p, topic, group, stuckAfter)) {
		t.Errorf("Resent event %q does not say the partition made no progress", ev[0].Note)
	}
	if k := h.pub.takeKeys(); len(k) != 1 || kafka.PartitionOf(k[0], 4) == p {
		t.Errorf("sent again under %q, want a key of another partition than %d", k, p)
	}
	if got := resent(resentStuck); got != before+1 {
		t.Errorf("ytx_jobs_resent_total{reason=stuck} %v, want %v", got, before+1)
	}
	if res.RequeueAfter != time.Minute {
		t.Errorf("requeue after %s", res.RequeueAfter)
	}
}

// Another resource of the same partition, claimed within the window: the
// partition's consumer takes its messages, a's turn will come.
func TestKafkaPartitionWithoutProgressButAClaimInTheWindowIsNotStuck(t *testing.T) {
	b := sameKeyPartition(t, "a")
	h := newKafkaHarness(t, resource("a"), resource(b, atAttempt(1), queued, claimed(time.Minute+stuckAfter/2), succeeded(time.Minute+stuckAfter/2+time.Second)))
	h.queueA()
	h.noProgress()
	h.wantWaits(h.step("a"))
}

// A long job at the head of the partition holds its committed offset: it
// was claimed long ago, and it is Running.
func TestKafkaPartitionWithALongJobAtItsHeadIsNotStuck(t *testing.T) {
	b := sameKeyPartition(t, "a")
	h := newKafkaHarness(t, resource("a"), resource(b, atAttempt(1), queued, claimed(0)))
	h.queueA()
	h.noProgress()
	h.wantWaits(h.step("a"))
}

// The partition's owner runs jobs of its other partitions: its slots are
// full, it takes nothing meanwhile. Busy, not stuck.
func TestKafkaPartitionWhoseOwnerIsBusyElsewhereIsNotStuck(t *testing.T) {
	c := otherKeyPartition(t, "a")
	h := newKafkaHarness(t, resource("a"), resource(c, atAttempt(1), queued, claimed(0)))
	h.queueA()
	h.noProgress() // w-1 owns every partition, c's too
	h.wantWaits(h.step("a"))
}

// The owner has just finished the long jobs that filled its slots and has
// not claimed the next ones yet: for that instant it runs nothing, and the
// partition behind them has not moved for the window. It is alive: what
// it finished within the window is progress, as a claim is.
func TestKafkaPartitionWhoseOwnerJustFinishedALongJobIsNotStuck(t *testing.T) {
	c := otherKeyPartition(t, "a")
	h := newKafkaHarness(t, resource("a"), resource(c, atAttempt(1), queued, claimed(0), succeeded(time.Minute+stuckAfter-time.Second)))
	h.queueA()
	h.noProgress() // w-1 owns every partition, c's too
	h.wantWaits(h.step("a"))
}

// An attempt that ended long ago is no sign of life.
func TestKafkaPartitionWhoseOwnerFinishedBeforeTheWindowIsStuck(t *testing.T) {
	c := otherKeyPartition(t, "a")
	h := newKafkaHarness(t, resource("a"), resource(c, atAttempt(1), queued, claimed(0), succeeded(time.Second)))
	h.queueA()
	h.noProgress()
	h.step("a")
	h.wantSent(msg("a", 1, 1))
	h.wantEvents("Warning Resent")
}

// The same without the claim: the owner of the other partition is another
// member, so a's owner runs nothing.
func TestKafkaPartitionWhoseOtherMemberIsBusyIsStuck(t *testing.T) {
	c := otherKeyPartition(t, "a")
	h := newKafkaHarness(t, resource("a"), resource(c, atAttempt(1), queued, claimed(0)))
	h.queueA()
	p, q := partitionOf("a"), partitionOf(c)
	parts := func() map[int]part {
		m := map[int]part{p: {start: 0, end: 500, committed: 10}}
		for o := range 4 {
			if o != p {
				m[o] = part{start: 0, end: 10, committed: 10, owner: "w-2"}
			}
		}
		m[q] = part{start: 0, end: 10, committed: 9, owner: "w-2"}
		return m
	}
	h.at(time.Minute)
	h.look(parts())
	h.at(time.Minute + stuckAfter)
	h.look(parts())
	h.step("a")
	h.wantSent(msg("a", 1, 1))
	h.wantEvents("Warning Resent")
}

// The broker lost what the group had read: its committed offset is beyond
// the log's end, and its consumers wait there. A message re-sent to that
// partition lands below the committed offset and would never be read, so
// it goes elsewhere.
func TestKafkaPartitionCommittedBeyondTheLogEndIsStuck(t *testing.T) {
	h := newKafkaHarness(t, resource("a"))
	h.placeAt(2)
	h.step("a")
	h.wantSent(msg("a", 1, 1))
	h.wantEvents("Normal Queued")
	h.pub.takeKeys()
	p := partitionOf("a")
	h.at(time.Minute)
	h.look(map[int]part{p: {start: 0, end: 3, committed: 57}})
	h.step("a")
	h.wantSent(msg("a", 1, 1))
	ev := h.wantEvents("Warning Resent")
	if len(ev) == 1 && !strings.Contains(ev[0].Note, "committed offset 57 is beyond the end of the log (3)") {
		t.Errorf("Resent event %q does not say why", ev[0].Note)
	}
	if k := h.pub.takeKeys(); len(k) != 1 || kafka.PartitionOf(k[0], 4) == p {
		t.Errorf("sent again under %q, want a key of another partition than %d", k, p)
	}
}

// While a partition is stuck, new attempts of keys that hash to it go
// elsewhere at once, rather than wait out the queued timeout there.
func TestKafkaNewAttemptAvoidsAStuckPartition(t *testing.T) {
	b := sameKeyPartition(t, "a")
	h := newKafkaHarness(t, resource("a"), resource(b))
	h.queueA()
	p := partitionOf("a")
	h.at(time.Minute)
	h.look(map[int]part{p: {start: 0, end: 500, committed: 10, owner: "-"}})
	h.step(b)
	h.wantSent(msg(b, 1, 1))
	if k := h.pub.takeKeys(); len(k) != 1 || kafka.PartitionOf(k[0], 4) == p {
		t.Errorf("%s published under %q, want a key of another partition than the stuck %d", b, k, p)
	}
}

// After a restart nothing says where a message went: it is judged by the
// partition its key hashes to, and sent again only when that partition
// has nothing left for the group.
func TestKafkaAttemptOfUnknownOffsetIsResentOnlyWhenItsPartitionHasNoLag(t *testing.T) {
	h := newKafkaHarness(t, resource("a"))
	h.pub.place = func(string) kafka.Position { return kafka.Position{Partition: -1, Offset: -1} }
	h.step("a")
	h.wantSent(msg("a", 1, 1))
	h.wantEvents("Normal Queued")
	h.pub.takeKeys()
	p := partitionOf("a")
	h.at(time.Minute)
	h.look(map[int]part{p: {start: 0, end: 500, committed: 10}})
	h.wantWaits(h.step("a"))
	h.at(2 * time.Minute)
	before := resent(resentConsumed)
	h.look(map[int]part{p: {start: 0, end: 500, committed: 500}})
	h.wantResent(h.step("a"), "", resentConsumed, before, fmt.Sprintf("nothing left to consume on partition %d", p))
}

// One look serves every queued resource: a thousand of them judged cost no
// request to the brokers of their own.
func TestKafkaThousandQueuedAttemptsShareOneLook(t *testing.T) {
	var objs []client.Object
	for i := range 1000 {
		objs = append(objs, resource(fmt.Sprintf("x-%d", i)))
	}
	h := newKafkaHarness(t, objs...)
	h.placeAt(100)
	for i := range 1000 {
		h.step(fmt.Sprintf("x-%d", i))
	}
	h.at(time.Minute)
	h.look(map[int]part{0: {end: 5000, committed: 10}, 1: {end: 5000, committed: 10}, 2: {end: 5000, committed: 10}, 3: {end: 5000, committed: 10}})
	looks := h.q.calls()
	for i := range 1000 {
		if res := h.step(fmt.Sprintf("x-%d", i)); res.RequeueAfter != lagInterval {
			t.Fatalf("x-%d: requeue after %s, want the lag interval", i, res.RequeueAfter)
		}
	}
	if got := h.q.calls(); got != looks {
		t.Errorf("judging 1,000 queued attempts made %d looks, want none: one look per interval serves them all", got-looks)
	}
	if sent := h.pub.take(); len(sent) != 1000 {
		t.Errorf("%d published, want the 1,000 first sends and no re-send", len(sent))
	}
}

// sameKeyPartition is a resource name whose key lands on name's partition.
func sameKeyPartition(t *testing.T, name string) string {
	return keyPartition(t, func(o string) bool { return partitionOf(o) == partitionOf(name) })
}

// otherKeyPartition is a resource name whose key lands elsewhere.
func otherKeyPartition(t *testing.T, name string) string {
	return keyPartition(t, func(o string) bool { return partitionOf(o) != partitionOf(name) })
}

func keyPartition(t *testing.T, ok func(string) bool) string {
	t.Helper()
	for i := range 100 {
		if n := fmt.Sprintf("b-%d", i); ok(n) {
			return n
		}
	}
	t.Fatal("no name found")
	return ""
}
