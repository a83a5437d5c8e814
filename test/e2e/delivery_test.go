package e2e

import (
	"context"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "ytx.dev/ytx/api/v1alpha1"
	"ytx.dev/ytx/internal/job"
	"ytx.dev/ytx/internal/kafka"
	"ytx.dev/ytx/internal/youtube/fake"
)

// offsets reads, from the broker, the consumer group's committed offset and
// the end offset of each partition of the test's topic.
func (e *env) offsets(ctx context.Context) (committed, end map[int]int64) {
	e.t.Helper()
	// A Transport of its own: kafka-go's DefaultTransport caches metadata for
	// seconds and would not know the topics that other tests just created.
	t := &kafkago.Transport{}
	defer t.CloseIdleConnections()
	c := &kafkago.Client{Addr: kafkago.TCP(e.kafka.Brokers...), Timeout: 5 * time.Second, Transport: t}
	meta, err := c.Metadata(ctx, &kafkago.MetadataRequest{Topics: []string{e.kafka.Topic}})
	if err != nil || len(meta.Topics) != 1 || meta.Topics[0].Error != nil || len(meta.Topics[0].Partitions) == 0 {
		e.t.Fatalf("metadata of %s: %v %+v", e.kafka.Topic, err, meta)
	}
	var parts []int
	var ask []kafkago.OffsetRequest
	for _, p := range meta.Topics[0].Partitions {
		parts = append(parts, p.ID)
		ask = append(ask, kafkago.LastOffsetOf(p.ID))
	}
	lo, err := c.ListOffsets(ctx, &kafkago.ListOffsetsRequest{Topics: map[string][]kafkago.OffsetRequest{e.kafka.Topic: ask}})
	if err != nil {
		e.t.Fatalf("listing offsets: %v", err)
	}
	end = map[int]int64{}
	for _, p := range lo.Topics[e.kafka.Topic] {
		if p.Error != nil {
			e.t.Fatalf("listing offsets of partition %d: %v", p.Partition, p.Error)
		}
		end[p.Partition] = p.LastOffset
	}
	if len(end) != len(parts) {
		e.t.Fatalf("listing offsets of %s: got %v for partitions %v (%+v)", e.kafka.Topic, end, parts, lo)
	}
	of, err := c.OffsetFetch(ctx, &kafkago.OffsetFetchRequest{GroupID: e.kafka.Group, Topics: map[string][]int{e.kafka.Topic: parts}})
	if err != nil {
		e.t.Fatalf("fetching committed offsets: %v", err)
	}
	if of.Error != nil {
		e.t.Fatalf("fetching committed offsets: %v", of.Error)
	}
	committed = map[int]int64{}
	for _, p := range of.Topics[e.kafka.Topic] {
		if p.Error != nil {
			e.t.Fatalf("fetching committed offset of partition %d: %v", p.Partition, p.Error)
		}
		committed[p.Partition] = max(p.CommittedOffset, 0)
	}
	return committed, end
}

// waitAllCommitted waits until the group has committed every message of the
// topic: nothing is stuck, nothing will be redelivered.
func (e *env) waitAllCommitted(timeout time.Duration) {
	e.t.Helper()
	var committed, end map[int]int64
	err := wait.PollUntilContextTimeout(e.t.Context(), 50*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		committed, end = e.offsets(ctx)
		for p, last := range end {
			if committed[p] < last {
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		e.t.Fatalf("group %s did not commit every message: committed %v, end %v", e.kafka.Group, committed, end)
	}
}

// claims counts, from a watch, how often an extraction entered Running.
func claims(t *testing.T, ns, name string) (stop func() int) {
	t.Helper()
	w, err := k8s.Watch(t.Context(), &v1alpha1.YouTubeExtractionList{}, client.InNamespace(ns))
	if err != nil {
		t.Fatal(err)
	}
	count := make(chan int, 1)
	go func() {
		n, last := 0, v1alpha1.Phase("")
		for ev := range w.ResultChan() {
			x, ok := ev.Object.(*v1alpha1.YouTubeExtraction)
			if !ok || x.Name != name {
				continue
			}
			if x.Status.Phase == v1alpha1.PhaseRunning && last != v1alpha1.PhaseRunning {
				n++
			}
			last = x.Status.Phase
		}
		count <- n
	}()
	return func() int {
		w.Stop()
		return <-count
	}
}

func TestDuplicateMessageIsClaimedOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t, setup{partitions: 1})
	v := addVideo(t, "Twice Delivered")
	count := claims(t, e.ns, "twice")
	x := e.create("twice", watchURL(v.ID))
	x = e.waitPhase("twice", v1alpha1.PhaseQueued, 30*time.Second)

	// Deliver the same job again, as Kafka may after a rebalance.
	pub, err := kafka.NewPublisher(e.kafka)
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	m := job.Message{Namespace: x.Namespace, Name: x.Name, UID: x.UID, Generation: x.Generation, Attempt: x.Status.Attempts}
	if err := pub.Publish(e.ctx(10*time.Second), m); err != nil {
		t.Fatal(err)
	}
	e.startWorker(workerSetup{concurrency: 4})
	e.waitPhase("twice", v1alpha1.PhaseSucceeded, 30*time.Second)
	e.waitAllCommitted(30 * time.Second)

	if n := count(); n != 1 {
		t.Errorf("entered Running %d times, want 1", n)
	}
	if n := youTube.RequestsFor(fake.KindPlayer, v.ID); n != 1 {
		t.Errorf("the video was read %d times, want 1", n)
	}
	running := 0
	for _, r := range e.eventReasons("twice") {
		if r == "Running" {
			running++
		}
	}
	if running != 1 {
		t.Errorf("%d Running events, want 1: %v", running, e.eventReasons("twice"))
	}
}

func TestDeletedWhileQueuedIsDroppedQuietly(t *testing.T) {
	t.Parallel()
	e := newEnv(t, setup{partitions: 1})
	v := addVideo(t, "Never Fetched")
	e.create("short-notice", watchURL(v.ID))
	e.waitPhase("short-notice", v1alpha1.PhaseQueued, 30*time.Second)
	if err := k8s.Delete(e.ctx(10*time.Second), e.get("short-notice")); err != nil {
		t.Fatal(err)
	}
	e.waitGone("short-notice", 10*time.Second)

	// A later job in the same partition proves the worker moved past it.
	e.create("after", watchURL(fake.ZooID))
	e.startWorker(workerSetup{})
	e.waitPhase("after", v1alpha1.PhaseSucceeded, 30*time.Second)
	e.waitAllCommitted(30 * time.Second)
	if n := youTube.RequestsFor(fake.KindPlayer, v.ID); n != 0 {
		t.Errorf("the deleted extraction's video was read %d times", n)
	}
	for _, ev := range e.events("short-notice") {
		if ev.ReportingController == "ytx-worker" || ev.Type == "Warning" {
			t.Errorf("unexpected event about the deleted extraction: %s %s %q", ev.Type, ev.Reason, ev.Note)
		}
	}
}

func TestSlowJobDoesNotHoldBackOthers(t *testing.T) {
	t.Parallel()
	e := newEnv(t, setup{partitions: 1})
	slow := addVideo(t, "Slow")
	release := youTube.Hold(slow.ID)
	defer release()
	e.startWorker(workerSetup{concurrency: 4})

	e.create("slow", watchURL(slow.ID))
	e.waitPhase("slow", v1alpha1.PhaseRunning, 30*time.Second)
	fast := []string{"fast-1", "fast-2", "fast-3", "fast-4", "fast-5"}
	for _, name := range fast {
		e.create(name, watchURL(addVideo(t, name).ID))
	}
	for _, name := range fast {
		e.waitPhase(name, v1alpha1.PhaseSucceeded, 30*time.Second)
	}
	if x := e.get("slow"); x.Status.Phase != v1alpha1.PhaseRunning {
		t.Fatalf("slow job should still run: %s", describe(x))
	}
	// The slow job is the partition's first message: while it runs, the
	// group must not commit past it, or a crash now would lose it.
	committed, end := e.offsets(e.ctx(10 * time.Second))
	if committed[0] != 0 || end[0] != int64(1+len(fast)) {
		t.Fatalf("while the first message runs: committed %v, end %v; want committed 0", committed, end)
	}

	release()
	e.waitPhase("slow", v1alpha1.PhaseSucceeded, 30*time.Second)
	e.waitAllCommitted(30 * time.Second)
}
