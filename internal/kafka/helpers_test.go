package kafka

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/testr"
	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"
	"k8s.io/apimachinery/pkg/types"

	"ytx.dev/ytx/internal/job"
)

// TestMain fails the package if goroutines of kafka-go, kfake or this
// package outlive the tests: every Reader, Writer, Transport and cluster
// must be closed.
func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		if leaked := waitForLeaks(5 * time.Second); leaked != "" {
			fmt.Fprintf(os.Stderr, "leaked goroutines:\n%s\n", leaked)
			code = 1
		}
	}
	os.Exit(code)
}

func waitForLeaks(d time.Duration) string {
	deadline := time.Now().Add(d)
	for {
		var leaked []string
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		for _, g := range strings.Split(string(buf), "\n\n") {
			if strings.Contains(g, "waitForLeaks") || strings.Contains(g, "testing.(*M)") {
				continue
			}
			if strings.Contains(g, "segmentio/kafka-go") || strings.Contains(g, "pkg/kfake") || strings.Contains(g, "ytx/internal/kafka") {
				leaked = append(leaked, g)
			}
		}
		if len(leaked) == 0 {
			return ""
		}
		if time.Now().After(deadline) {
			return strings.Join(leaked, "\n\n")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// newCluster starts a one-broker kfake cluster, closed when the test ends.
func newCluster(t *testing.T, opts ...kfake.Opt) *kfake.Cluster {
	t.Helper()
	c, err := kfake.NewCluster(append([]kfake.Opt{kfake.NumBrokers(1)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// testConfig returns a Config with the test's own topic, dead-letter topic
// and group on c, and creates the topics.
func testConfig(t *testing.T, c *kfake.Cluster, partitions int) Config {
	t.Helper()
	name := strings.NewReplacer("/", "-", "_", "-").Replace(t.Name())
	cfg := Config{
		Brokers:         c.ListenAddrs(),
		Topic:           "jobs-" + name,
		DeadLetterTopic: "dlq-" + name,
		Group:           "workers-" + name,
		ClientID:        "test",
	}
	ensureTopics(t, cfg, partitions)
	return cfg
}

func ensureTopics(t *testing.T, cfg Config, partitions int) {
	t.Helper()
	if err := EnsureTopics(ctxFor(t, 10*time.Second), cfg, partitions, cfg.Topic, cfg.DeadLetterTopic); err != nil {
		t.Fatalf("EnsureTopics: %v", err)
	}
}

func testLogger(t *testing.T) logr.Logger {
	return testr.NewWithOptions(t, testr.Options{Verbosity: 1, LogTimestamp: true})
}

// ctxFor is a context that ends after d or with the test.
func ctxFor(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), d)
	t.Cleanup(cancel)
	return ctx
}

func newPublisher(t *testing.T, cfg Config) *Publisher {
	t.Helper()
	p, err := NewPublisher(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func jobMsg(name string, attempt int32) job.Message {
	return job.Message{Namespace: "ns", Name: name, UID: types.UID("uid-" + name), Generation: 1, Attempt: attempt}
}

// running is a Consumer whose Run runs in a goroutine.
type running struct {
	*Consumer
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
}

// startConsumer runs a Consumer until stop (or the end of the test).
func startConsumer(t *testing.T, cfg Config, concurrency int, opts ConsumerOptions, h Handler) *running {
	t.Helper()
	if opts.Logger.GetSink() == nil {
		opts.Logger = testLogger(t)
	}
	c, err := NewConsumer(cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{Consumer: c, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- c.Run(ctx, concurrency, h) }()
	t.Cleanup(func() { r.stop(t) })
	return r
}

// stop cancels Run and waits for it to return; it fails the test if Run
// returned an error or took too long.
func (r *running) stop(t *testing.T) {
	t.Helper()
	r.once.Do(func() {
		r.cancel()
		select {
		case err := <-r.done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Fatal("Run did not return within 15s of cancellation")
		}
	})
}

// client is a kafka-go Client on cfg's cluster, for checks made outside the
// Consumer (committed offsets, end offsets).
func client(t *testing.T, cfg Config) *kafka.Client {
	t.Helper()
	tr, err := cfg.Transport()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &kafka.Client{Addr: kafka.TCP(cfg.Brokers...), Transport: tr, Timeout: 5 * time.Second}
}

// committed returns the group's committed offsets of cfg.Topic as the
// broker has them (-1: none).
func committed(t *testing.T, c *kafka.Client, cfg Config, partitions int) map[int]int64 {
	t.Helper()
	ps := make([]int, partitions)
	for i := range ps {
		ps[i] = i
	}
	res, err := c.OffsetFetch(context.Background(), &kafka.OffsetFetchRequest{GroupID: cfg.Group, Topics: map[string][]int{cfg.Topic: ps}})
	if err != nil {
		t.Fatalf("OffsetFetch: %v", err)
	}
	out := make(map[int]int64)
	if errors.Is(res.Error, kafka.GroupIdNotFound) {
		// kfake's answer before the group's first join; Apache Kafka
		// answers -1 offsets instead.
		for _, p := range ps {
			out[p] = -1
		}
		return out
	}
	if res.Error != nil {
		t.Fatalf("OffsetFetch: %v", res.Error)
	}
	for _, p := range res.Topics[cfg.Topic] {
		if p.Error != nil {
			t.Fatalf("OffsetFetch partition %d: %v", p.Partition, p.Error)
		}
		out[p.Partition] = p.CommittedOffset
	}
	return out
}

// endOffsets returns the next offset to be written per partition of topic.
func endOffsets(t *testing.T, c *kafka.Client, topic string, partitions int) map[int]int64 {
	t.Helper()
	var ask []kafka.OffsetRequest
	for p := 0; p < partitions; p++ {
		ask = append(ask, kafka.LastOffsetOf(p))
	}
	res, err := c.ListOffsets(context.Background(), &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{topic: ask}})
	if err != nil {
		t.Fatalf("ListOffsets: %v", err)
	}
	out := make(map[int]int64)
	for _, p := range res.Topics[topic] {
		if p.Error != nil {
			t.Fatalf("ListOffsets partition %d: %v", p.Partition, p.Error)
		}
		out[p.Partition] = p.LastOffset
	}
	return out
}

// eventually polls cond every 20ms until it holds or d passes.
func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func mapsEqual(a, b map[int]int64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// recorder collects what handlers saw, safely across goroutines.
type recorder struct {
	mu   sync.Mutex
	seen map[string]int // "partition/offset" → times handled
	msgs []kafka.Message
}

func newRecorder() *recorder { return &recorder{seen: make(map[string]int)} }

// add records m and returns how many times m has been handled.
func (r *recorder) add(m kafka.Message) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	po := fmt.Sprintf("%d/%d", m.Partition, m.Offset)
	r.seen[po]++
	r.msgs = append(r.msgs, m)
	return r.seen[po]
}

// offsets returns the offsets of partition handled, in order, with repeats.
func (r *recorder) offsets(partition int) []int64 {
	var out []int64
	for _, m := range r.snapshot() {
		if m.Partition == partition {
			out = append(out, m.Offset)
		}
	}
	return out
}

func (r *recorder) seenOffset(partition int, offset int64) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.seen[fmt.Sprintf("%d/%d", partition, offset)] > 0
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.msgs)
}

func (r *recorder) snapshot() []kafka.Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]kafka.Message(nil), r.msgs...)
}
