package e2e

import (
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"

	v1alpha1 "ytx.dev/ytx/api/v1alpha1"
	"ytx.dev/ytx/controllers"
	"ytx.dev/ytx/internal/devenv"
	"ytx.dev/ytx/internal/youtube/fake"
)

func TestKafkaOutageKeepsResourcesPending(t *testing.T) {
	t.Parallel()
	// A broker of its own, so that stopping it disturbs no other test.
	own, err := devenv.StartKafka(0, 1)
	if err != nil {
		t.Fatal(err)
	}
	addr := own.ListenAddrs()[0]
	_, portText, _ := net.SplitHostPort(addr)
	port, _ := strconv.Atoi(portText)
	e := newEnv(t, setup{brokers: []string{addr}, controller: controllers.Options{PublishBackoff: 100 * time.Millisecond, PublishBackoffMax: 500 * time.Millisecond}})
	topics := []string{e.kafka.Topic, e.kafka.ListingTopic, e.kafka.DeadLetterTopic}

	own.Close()
	e.create("patient", watchURL(fake.ZooID))
	x := e.waitFor("patient", 60*time.Second, "Pending because Kafka is down", func(x *v1alpha1.YouTubeExtraction) bool {
		c := meta.FindStatusCondition(x.Status.Conditions, v1alpha1.ConditionQueued)
		return x.Status.Phase == v1alpha1.PhasePending && c != nil && c.Reason == v1alpha1.ReasonPublishFailed
	})
	c := meta.FindStatusCondition(x.Status.Conditions, v1alpha1.ConditionQueued)
	if !strings.Contains(c.Message, e.kafka.Topic) {
		t.Errorf("the condition should name the topic it cannot reach: %q", c.Message)
	}
	e.waitEvent("patient", v1alpha1.ReasonPublishFailed, 10*time.Second)

	// The broker returns on the same address (empty: kfake keeps no data).
	back, err := devenv.StartKafka(port, 2, topics...)
	if err != nil {
		t.Fatalf("restarting the broker on port %d: %v", port, err)
	}
	t.Cleanup(back.Close)
	e.startWorker(workerSetup{})
	x = e.waitPhase("patient", v1alpha1.PhaseSucceeded, 60*time.Second)
	if x.Status.Attempts != 1 {
		t.Errorf("a publishing failure must not use up attempts: %s", describe(x))
	}
}
