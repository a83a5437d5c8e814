package kafka

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"ytx.dev/ytx/internal/job"
)

// Many keys, several attempts each, several partitions: a clean run handles
// every message exactly once, delivers each key's attempts in order, and
// commits every partition to its end.
func TestConsumeAllExactlyOnceInKeyOrder(t *testing.T) {
	t.Parallel()
	const partitions, keys, attempts = 4, 30, 4
	cfg := testConfig(t, newCluster(t), partitions)
	pub := newPublisher(t, cfg)

	// Attempts of one key in order; keys in parallel.
	var wg sync.WaitGroup
	errs := make(chan error, keys)
	for k := range keys {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for a := int32(1); a <= attempts; a++ {
				if err := pub.Publish(context.Background(), jobMsg(fmt.Sprintf("res-%d", k), a)); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	var mu sync.Mutex
	delivered := make(map[string][]int32) // key → attempts, in fetch order
	rec := newRecorder()
	c := startConsumer(t, cfg, 8, ConsumerOptions{Hooks: Hooks{Fetched: func(m kafka.Message) {
		// Fetched runs in the fetch loop, so this is delivery order.
		j, err := job.Decode(m.Value)
		if err != nil {
			t.Errorf("offset %d: %v", m.Offset, err)
			return
		}
		mu.Lock()
		delivered[string(m.Key)] = append(delivered[string(m.Key)], j.Attempt)
		mu.Unlock()
	}}}, func(ctx context.Context, m kafka.Message) error {
		rec.add(m)
		return nil
	})

	eventually(t, 10*time.Second, "all messages handled", func() bool { return rec.count() >= keys*attempts })
	kc := client(t, cfg)
	end := endOffsets(t, kc, cfg.Topic, partitions)
	eventually(t, 10*time.Second, "offsets committed to the end", func() bool { return mapsEqual(committed(t, kc, cfg, partitions), end) })
	c.stop(t)

	if n := rec.count(); n != keys*attempts {
		t.Errorf("handled %d messages, want %d", n, keys*attempts)
	}
	for po, n := range rec.seen {
		if n != 1 {
			t.Errorf("message %s handled %d times", po, n)
		}
	}
	usedPartitions := make(map[int]bool)
	keyPartition := make(map[string]int)
	for _, m := range rec.snapshot() {
		usedPartitions[m.Partition] = true
		if p, ok := keyPartition[string(m.Key)]; ok && p != m.Partition {
			t.Errorf("key %s on partitions %d and %d", m.Key, p, m.Partition)
		}
		keyPartition[string(m.Key)] = m.Partition
	}
	if len(usedPartitions) != partitions {
		t.Errorf("messages used %d partitions, want %d", len(usedPartitions), partitions)
	}
	want := []int32{1, 2, 3, 4}
	for k, got := range delivered {
		if !slices.Equal(got, want) {
			t.Errorf("key %s: attempts delivered in order %v, want %v", k, got, want)
		}
	}
	s := c.Stats()
	if s.Fetched != keys*attempts || s.Finished != keys*attempts || s.Failed != 0 || s.InFlight != 0 || !mapsEqual(s.Committed, end) {
		t.Errorf("stats %+v, want %d fetched and finished, committed %v", s, keys*attempts, end)
	}
}

// A slow handler holds one slot only: the other messages, later ones of
// the same partition included, finish meanwhile; but the group's committed
// offset of that partition stays at the slow message until it finishes.
func TestSlowHandlerDoesNotBlockOthersNorCommitPastIt(t *testing.T) {
	t.Parallel()
	const partitions, n = 2, 30
	cfg := testConfig(t, newCluster(t), partitions)
	pub := newPublisher(t, cfg)
	for i := range n {
		if err := pub.Publish(context.Background(), jobMsg(fmt.Sprintf("res-%d", i), 1)); err != nil {
			t.Fatal(err)
		}
	}
	kc := client(t, cfg)
	end := endOffsets(t, kc, cfg.Topic, partitions)
	const slowPartition, slowOffset = 0, 2
	if end[slowPartition] < slowOffset+4 || end[1-slowPartition] == 0 {
		t.Fatalf("keys spread badly over partitions: %v", end)
	}

	release := make(chan struct{})
	slowStarted := make(chan struct{})
	rec := newRecorder()
	c := startConsumer(t, cfg, 4, ConsumerOptions{}, func(ctx context.Context, m kafka.Message) error {
		if m.Partition == slowPartition && m.Offset == slowOffset {
			close(slowStarted)
			select {
			case <-release:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		rec.add(m)
		return nil
	})

	<-slowStarted
	eventually(t, 10*time.Second, "every other message handled", func() bool { return rec.count() == n-1 })
	// Partition 0 is committed up to the slow message, not past it;
	// partition 1 is committed to its end.
	want := map[int]int64{slowPartition: slowOffset, 1 - slowPartition: end[1-slowPartition]}
	eventually(t, 10*time.Second, "commits up to the slow message", func() bool { return mapsEqual(committed(t, kc, cfg, partitions), want) })
	for range 5 { // and it stays there
		time.Sleep(40 * time.Millisecond)
		if got := committed(t, kc, cfg, partitions); !mapsEqual(got, want) {
			t.Fatalf("committed %v while the slow message runs, want %v", got, want)
		}
	}
	if s := c.Stats(); s.InFlight != 1 || s.Finished != n-1 {
		t.Errorf("stats %+v, want 1 in flight and %d finished", s, n-1)
	}

	close(release)
	eventually(t, 10*time.Second, "commits to the end after release", func() bool { return mapsEqual(committed(t, kc, cfg, partitions), end) })
}

// A consumer stopped with a message unfinished leaves it (and what follows)
// uncommitted; the next consumer of the group gets exactly those again.
// A handler running when Run's context ends may still finish (drain), and
// is committed.
func TestRestartRedeliversUnfinished(t *testing.T) {
	t.Parallel()
	const n = 10
	cfg := testConfig(t, newCluster(t), 1)
	pub := newPublisher(t, cfg)
	for i := range n {
		if err := pub.Publish(context.Background(), jobMsg(fmt.Sprintf("res-%d", i), 1)); err != nil {
			t.Fatal(err)
		}
	}

	stopping := make(chan struct{})
	first := newRecorder()
	a := startConsumer(t, cfg, 4, ConsumerOptions{DrainTimeout: 500 * time.Millisecond}, func(ctx context.Context, m kafka.Message) error {
		switch m.Offset {
		case 1: // running at shutdown, finishes within the drain time
			<-stopping
			time.Sleep(50 * time.Millisecond)
		case 2: // never finishes: handed back when its context ends
			<-ctx.Done()
			return fmt.Errorf("%w: %v", ErrRedeliver, ctx.Err())
		}
		first.add(m)
		return nil
	})
	eventually(t, 10*time.Second, "the other messages handled", func() bool { return first.count() == n-2 })
	close(stopping)
	a.stop(t)
	if got := first.count(); got != n-1 {
		t.Fatalf("first consumer finished %d messages, want %d (offset 1 should finish while draining)", got, n-1)
	}
	kc := client(t, cfg)
	if got := committed(t, kc, cfg, 1); got[0] != 2 {
		t.Fatalf("committed %v after stop, want offset 2 (the unfinished message)", got)
	}
	if s := a.Stats(); s.InFlight != 0 || s.Redelivered != 1 {
		t.Errorf("first consumer stats %+v, want nothing in flight and 1 redelivery", s)
	}

	second := newRecorder()
	startConsumer(t, cfg, 4, ConsumerOptions{}, func(ctx context.Context, m kafka.Message) error {
		second.add(m)
		return nil
	})
	eventually(t, 10*time.Second, "redelivery", func() bool { return second.count() >= n-2 })
	eventually(t, 10*time.Second, "commit to the end", func() bool { return committed(t, kc, cfg, 1)[0] == n })
	var got []int64
	for _, m := range second.snapshot() {
		got = append(got, m.Offset)
	}
	slices.Sort(got)
	if want := []int64{2, 3, 4, 5, 6, 7, 8, 9}; !slices.Equal(got, want) {
		t.Errorf("second consumer got offsets %v, want %v", got, want)
	}
}

// A message the handler dead-letters goes to the dead-letter topic with
// its origin in headers, and its partition keeps moving.
func TestDeadLetter(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t, newCluster(t), 1)
	pub := newPublisher(t, cfg)
	ctx := ctxFor(t, 10*time.Second)
	if err := pub.Publish(ctx, jobMsg("before", 1)); err != nil {
		t.Fatal(err)
	}
	garbage := []byte(`{"v":1,"namespace":"ns"`)
	if err := pub.PublishRaw(ctx, cfg.Topic, []byte("ns/garbage"), garbage, kafka.Header{Key: "trace", Value: []byte("abc")}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"after-1", "after-2"} {
		if err := pub.Publish(ctx, jobMsg(name, 1)); err != nil {
			t.Fatal(err)
		}
	}

	rec := newRecorder()
	var dead []kafka.Message
	var mu sync.Mutex
	c := startConsumer(t, cfg, 2, ConsumerOptions{Hooks: Hooks{DeadLettered: func(m kafka.Message, _ error) {
		mu.Lock()
		dead = append(dead, m)
		mu.Unlock()
	}}}, func(ctx context.Context, m kafka.Message) error {
		if _, err := job.Decode(m.Value); err != nil {
			return fmt.Errorf("%w: %w", ErrDeadLetter, err)
		}
		rec.add(m)
		return nil
	})
	kc := client(t, cfg)
	eventually(t, 10*time.Second, "all committed", func() bool { return committed(t, kc, cfg, 1)[0] == 4 })
	if rec.count() != 3 {
		t.Errorf("handled %d good messages, want 3", rec.count())
	}
	if s := c.Stats(); s.DeadLettered != 1 || s.Failed != 1 || s.Finished != 4 {
		t.Errorf("stats %+v, want 1 dead-lettered of 4 finished", s)
	}
	mu.Lock()
	if len(dead) != 1 || dead[0].Offset != 1 {
		t.Errorf("DeadLettered hook saw %v", dead)
	}
	mu.Unlock()

	// Read the dead-letter topic as any client would.
	dialer, err := cfg.Dialer()
	if err != nil {
		t.Fatal(err)
	}
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: cfg.Brokers, Topic: cfg.DeadLetterTopic, Dialer: dialer, MaxWait: 100 * time.Millisecond})
	defer r.Close()
	dl, err := r.ReadMessage(ctx)
	if err != nil {
		t.Fatalf("reading the dead-letter topic: %v", err)
	}
	if string(dl.Key) != "ns/garbage" || string(dl.Value) != string(garbage) {
		t.Errorf("dead letter key %q value %q, want the original", dl.Key, dl.Value)
	}
	h := make(map[string]string)
	for _, x := range dl.Headers {
		h[x.Key] = string(x.Value)
	}
	for k, want := range map[string]string{
		"trace":            "abc",
		HeaderDLQTopic:     cfg.Topic,
		HeaderDLQPartition: "0",
		HeaderDLQOffset:    "1",
		HeaderDLQGroup:     cfg.Group,
	} {
		if h[k] != want {
			t.Errorf("header %s = %q, want %q", k, h[k], want)
		}
	}
	if e := h[HeaderDLQError]; !strings.Contains(e, "dead letter") || !strings.Contains(e, job.ErrInvalid.Error()) {
		t.Errorf("error header %q should carry the handler's error", e)
	}
	if _, err := time.Parse(time.RFC3339, h[HeaderDLQTime]); err != nil {
		t.Errorf("time header: %v", err)
	}
}

// Handler errors that are not dead letters are logged and count as done;
// a panic is one of them.
func TestHandlerErrorsAndPanicsCountAsFinished(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t, newCluster(t), 1)
	pub := newPublisher(t, cfg)
	for i := range 3 {
		if err := pub.Publish(context.Background(), jobMsg("r"+strconv.Itoa(i), 1)); err != nil {
			t.Fatal(err)
		}
	}
	c := startConsumer(t, cfg, 1, ConsumerOptions{}, func(ctx context.Context, m kafka.Message) error {
		switch m.Offset {
		case 0:
			return errors.New("boom")
		case 1:
			panic("bad")
		}
		return nil
	})
	kc := client(t, cfg)
	eventually(t, 10*time.Second, "all committed", func() bool { return committed(t, kc, cfg, 1)[0] == 3 })
	if s := c.Stats(); s.Failed != 2 || s.Finished != 3 || s.DeadLettered != 0 {
		t.Errorf("stats %+v, want 2 failed of 3", s)
	}
}

// ErrRedeliver while running: the handler is called again for the message.
func TestRedeliverWhileRunning(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t, newCluster(t), 1)
	if err := newPublisher(t, cfg).Publish(context.Background(), jobMsg("again", 1)); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	calls := 0
	startConsumer(t, cfg, 1, ConsumerOptions{}, func(ctx context.Context, m kafka.Message) error {
		mu.Lock()
		defer mu.Unlock()
		calls++
		if calls == 1 {
			return fmt.Errorf("%w: not now", ErrRedeliver)
		}
		return nil
	})
	kc := client(t, cfg)
	eventually(t, 10*time.Second, "committed after the second call", func() bool { return committed(t, kc, cfg, 1)[0] == 1 })
	mu.Lock()
	defer mu.Unlock()
	if calls != 2 {
		t.Errorf("handler called %d times, want 2", calls)
	}
}

func TestRunArguments(t *testing.T) {
	c, err := NewConsumer(Config{Brokers: []string{"127.0.0.1:1"}}, ConsumerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Run(context.Background(), 0, nil); err == nil {
		t.Error("concurrency 0 accepted")
	}
}

// A second member joins while the first has messages in flight: the group
// rebalances, commits of the old generation may fail or be skipped, and
// still every message is handled (at least once) and every partition ends
// committed to its end.
func TestRebalanceLosesNothing(t *testing.T) {
	t.Parallel()
	const partitions, n = 2, 60
	cfg := testConfig(t, newCluster(t), partitions)
	pub := newPublisher(t, cfg)
	for i := range n {
		if err := pub.Publish(context.Background(), jobMsg(fmt.Sprintf("res-%d", i), 1)); err != nil {
			t.Fatal(err)
		}
	}
	kc := client(t, cfg)
	end := endOffsets(t, kc, cfg.Topic, partitions)

	// kafka-go learns of a rebalance from a heartbeat: beat often, so the
	// test does not wait the default 3 s.
	fast := ConsumerOptions{heartbeat: 100 * time.Millisecond}
	all, recA, recB := newRecorder(), newRecorder(), newRecorder()
	// After a few messages the first member's handlers wait until the
	// second member has handled one, which it can only do once the group
	// has given it a partition: the rebalance happens mid-stream, with
	// messages in flight, whatever the machine's speed.
	gate := make(chan struct{})
	var openGate sync.Once
	a := startConsumer(t, cfg, 2, fast, func(ctx context.Context, m kafka.Message) error {
		if recA.count() >= 6 {
			select {
			case <-gate:
			case <-ctx.Done():
				return fmt.Errorf("%w: %v", ErrRedeliver, ctx.Err())
			}
		}
		time.Sleep(5 * time.Millisecond)
		recA.add(m)
		all.add(m)
		return nil
	})
	eventually(t, 10*time.Second, "the first member at work", func() bool { return recA.count() >= 6 })
	b := startConsumer(t, cfg, 2, fast, func(ctx context.Context, m kafka.Message) error {
		openGate.Do(func() { close(gate) })
		time.Sleep(5 * time.Millisecond)
		recB.add(m)
		all.add(m)
		return nil
	})

	handledAll := func() bool {
		all.mu.Lock()
		defer all.mu.Unlock()
		for p, e := range end {
			for o := int64(0); o < e; o++ {
				if all.seen[fmt.Sprintf("%d/%d", p, o)] == 0 {
					return false
				}
			}
		}
		return true
	}
	eventually(t, 20*time.Second, "every message handled", handledAll)
	eventually(t, 20*time.Second, "every partition committed to its end", func() bool { return mapsEqual(committed(t, kc, cfg, partitions), end) })
	a.stop(t)
	b.stop(t)
	t.Logf("first member: %d handled, %+v; second: %d, %+v; %d handler runs for %d messages",
		recA.count(), a.Stats(), recB.count(), b.Stats(), all.count(), n)
}
