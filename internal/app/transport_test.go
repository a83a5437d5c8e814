package app

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
	kafkago "github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"

	"ytx.dev/ytx/internal/job"
	"ytx.dev/ytx/internal/kafka"
)

// ran records which handler each job went to.
type ran struct {
	mu   sync.Mutex
	jobs []string // "handle ns/name" or "listing ns/name"
}

func (r *ran) add(how string, m job.Message) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.jobs = append(r.jobs, how+" "+m.Namespace+"/"+m.Name)
}

func (r *ran) has(entry string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, j := range r.jobs {
		if j == entry {
			return true
		}
	}
	return false
}

func (r *ran) Handle(_ context.Context, m job.Message) error {
	r.add("handle", m)
	return nil
}

func (r *ran) HandleListing(_ context.Context, m job.Message) error {
	r.add("listing", m)
	return nil
}

func TestWorkerDispatchesByKind(t *testing.T) {
	var r ran
	run := dispatch(&r)
	song := job.Message{Namespace: "music", Name: "song"}
	mix := job.Message{Kind: job.KindListing, Namespace: "music", Name: "daily-mix"}
	for _, m := range []job.Message{song, mix} {
		if err := run(context.Background(), m); err != nil {
			t.Fatal(err)
		}
	}
	if !r.has("handle music/song") || !r.has("listing music/daily-mix") || len(r.jobs) != 2 {
		t.Errorf("ran %v; want the extraction by Handle and the listing by HandleListing", r.jobs)
	}
}

// kafkaWorker is a worker's Kafka source on a kfake cluster, with topics
// of the test's own.
func kafkaWorker(t *testing.T) (kafka.Config, *kafkago.Client) {
	t.Helper()
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cluster.Close)
	cfg := kafka.Config{Brokers: cluster.ListenAddrs(), Topic: "jobs", ListingTopic: "lists", DeadLetterTopic: "dead", Group: "workers"}.WithDefaults()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := kafka.EnsureTopics(ctx, cfg, 1, cfg.Topic, cfg.ListingTopic, cfg.DeadLetterTopic); err != nil {
		t.Fatal(err)
	}
	tr, err := cfg.Transport()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tr.CloseIdleConnections)
	return cfg, &kafkago.Client{Addr: kafkago.TCP(cfg.Brokers...), Transport: tr, Timeout: 5 * time.Second}
}

func publishRaw(t *testing.T, p *kafka.Publisher, topic, value string) {
	t.Helper()
	if err := p.PublishRaw(context.Background(), topic, []byte("k"), []byte(value)); err != nil {
		t.Fatal(err)
	}
}

// A job of a kind this worker does not know (a newer manager's, during a
// rolling upgrade) is no poison: it stays uncommitted, so that the
// partition's next owner (maybe a newer worker) gets it, never goes to the
// dead-letter topic, and is logged once however often it comes back. The
// jobs behind it still run, listings on their own topic too.
func TestUnknownKindIsRedeliveredNotDeadLettered(t *testing.T) {
	cfg, client := kafkaWorker(t)
	p, err := kafka.NewPublisher(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	const unknown = `{"v":1,"kind":"transcript","namespace":"music","name":"talk","uid":"u","generation":1,"attempt":1}`
	publishRaw(t, p, cfg.Topic, unknown)
	publishRaw(t, p, cfg.Topic, `not a job`)
	for _, m := range []job.Message{
		{Namespace: "music", Name: "song", UID: "u1", Generation: 1, Attempt: 1},
		{Kind: job.KindListing, Namespace: "music", Name: "daily-mix", UID: "u2", Generation: 1, Attempt: 4},
	} {
		if err := p.Publish(context.Background(), m); err != nil {
			t.Fatal(err)
		}
	}

	logs := &logLines{}
	c := WorkerConfig{Kafka: cfg, ListingConcurrency: 1, ShutdownGrace: time.Second}
	src, err := c.newSource(nil, nil, funcr.New(logs.add, funcr.Options{}))
	if err != nil {
		t.Fatal(err)
	}
	k := src.(kafkaSource)
	var r ran
	ctx, stop := context.WithCancel(context.Background())
	t.Cleanup(stop)
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx, 4, dispatch(&r)) }()
	waitUntil(t, 30*time.Second, "the extraction, the listing, the dead letter and two redeliveries", func() bool {
		s := k.jobs.Stats()
		return r.has("handle music/song") && r.has("listing music/daily-mix") && s.DeadLettered == 1 && s.Redelivered >= 2
	})
	stop()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}

	if s := k.jobs.Stats(); s.DeadLettered != 1 {
		t.Errorf("%d dead letters, want only the message that is not a job", s.DeadLettered)
	}
	if got := groupOffset(t, client, cfg.Group, cfg.Topic); got > 0 {
		t.Errorf("the group's offset of the job topic is %d; want none or 0: the job of an unknown kind, at offset 0, stays for the next owner", got)
	}
	if n := logs.count("does not know"); n != 1 {
		t.Errorf("the job of an unknown kind was logged %d times, want once:\n%s", n, logs.all())
	}
	if logs.count(`transcript`) == 0 || logs.count("music/talk") == 0 {
		t.Errorf("the log does not name the kind and the job:\n%s", logs.all())
	}

	// The partition's next owner in the group gets it.
	next, err := kafka.NewConsumer(cfg, kafka.ConsumerOptions{Logger: logr.Discard()})
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan string, 8)
	nctx, nstop := context.WithTimeout(context.Background(), 30*time.Second)
	defer nstop()
	nextDone := make(chan error, 1)
	go func() {
		nextDone <- next.Run(nctx, 1, func(_ context.Context, msg kafkago.Message) error {
			got <- string(msg.Value)
			return nil
		})
	}()
	select {
	case v := <-got:
		if v != unknown {
			t.Errorf("the next owner got %q first, want the job of the unknown kind", v)
		}
	case <-nctx.Done():
		t.Error("the next owner of the partition never got the job of the unknown kind")
	}
	nstop()
	if err := <-nextDone; err != nil {
		t.Errorf("the next owner: %v", err)
	}
}

// groupOffset is group's committed offset of partition 0 of topic (-1: none).
func groupOffset(t *testing.T, c *kafkago.Client, group, topic string) int64 {
	t.Helper()
	res, err := c.OffsetFetch(context.Background(), &kafkago.OffsetFetchRequest{GroupID: group, Topics: map[string][]int{topic: {0}}})
	if err != nil {
		t.Fatal(err)
	}
	if errors.Is(res.Error, kafkago.GroupIdNotFound) {
		return -1
	}
	for _, p := range res.Topics[topic] {
		return p.CommittedOffset
	}
	return -1
}

func waitUntil(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (l *logLines) all() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}
