package kafka

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"
)

func TestCheck(t *testing.T) {
	t.Parallel()
	cluster := newCluster(t)
	cfg := testConfig(t, cluster, 2)

	if err := Check(ctxFor(t, 10*time.Second), cfg); err != nil {
		t.Fatalf("Check: %v", err)
	}
	if err := Check(ctxFor(t, 10*time.Second), cfg, cfg.Topic, cfg.DeadLetterTopic); err != nil {
		t.Fatalf("Check with the dead-letter topic: %v", err)
	}

	for _, tc := range []struct {
		name   string
		cfg    Config
		topics []string
		want   []string
	}{
		{"missing topic", withTopic(cfg, "nope"), nil, []string{`"nope"`, "does not exist", FlagTopic}},
		{"missing listing topic", withListing(cfg, "nope-lists"), []string{cfg.Topic, "nope-lists"}, []string{`"nope-lists"`, FlagListingTopic}},
		{"missing dead-letter topic", withDLQ(cfg, "nope-dlq"), []string{cfg.Topic, "nope-dlq"}, []string{`"nope-dlq"`, FlagDeadLetterTopic}},
		{"invalid config", Config{}, nil, []string{FlagBrokers}},
		{"empty topic name", cfg, []string{""}, []string{"not a topic name"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := Check(ctxFor(t, 10*time.Second), tc.cfg, tc.topics...)
			if err == nil {
				t.Fatal("no error")
			}
			t.Log(err)
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %s", err, w)
				}
			}
		})
	}

	// Check must not create what it checks (kfake auto-creates nothing
	// anyway; this guards the request we send).
	if err := Check(ctxFor(t, 10*time.Second), withTopic(cfg, "nope")); err == nil {
		t.Error("the missing topic exists after Check")
	}
}

func TestCheckUnreachable(t *testing.T) {
	t.Parallel()
	// A port that was just free: nothing listens there.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	start := time.Now()
	err = Check(context.Background(), Config{Brokers: []string{addr, addr}})
	if err == nil || !strings.Contains(err.Error(), "no broker reachable") || !strings.Contains(err.Error(), FlagBrokers) {
		t.Fatalf("got %v, want 'no broker reachable' naming %s", err, FlagBrokers)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("took %s", took)
	}
}

func TestEnsureTopicsIsIdempotent(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t, newCluster(t), 3) // creates them
	ensureTopics(t, cfg, 5)                // exist: left alone
	kc := client(t, cfg)
	if end := endOffsets(t, kc, cfg.Topic, 3); len(end) != 3 {
		t.Errorf("partitions %v, want 3", end)
	}
	if err := EnsureTopics(context.Background(), cfg, 0, "x"); err == nil {
		t.Error("0 partitions accepted")
	}
}

func TestPublishToMissingTopicFails(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t, newCluster(t), 1)
	cfg.Topic = "missing-topic"
	pub := newPublisher(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	err := pub.Publish(ctx, jobMsg("x", 1))
	if err == nil || !strings.Contains(err.Error(), "missing-topic") {
		t.Fatalf("got %v, want an error naming the topic", err)
	}
}

func withTopic(c Config, t string) Config   { c.Topic = t; return c }
func withDLQ(c Config, t string) Config     { c.DeadLetterTopic = t; return c }
func withListing(c Config, t string) Config { c.ListingTopic = t; return c }
