package bench

import (
	"context"
	"fmt"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"ytx.dev/ytx/internal/app"
	"ytx.dev/ytx/internal/kafka"
)

// transport carries jobs from the manager to the workers. The
// orchestration benchmark measures each one on its own rows; adding one
// (an HTTP transport, say) is one more entry in transports.
type transport struct {
	name string
	// configure sets, in the manager's and the workers' configurations,
	// what chooses this transport for a run in namespace ns.
	configure func(b *testing.B, cp *controlPlane, ns string, m *app.ManagerConfig, w *app.WorkerConfig)
	// ready, if set, waits until every worker can receive jobs, so that a
	// run does not time the workers' start.
	ready func(ctx context.Context, cp *controlPlane, ns string, workers int) error
}

var transports = []transport{
	{name: "kafka", configure: configureKafka, ready: kafkaGroupReady},
}

// kafkaPartitions of each run's job topic: the chart's default, and more
// than the workers, so that every worker gets some.
const kafkaPartitions = 4

func kafkaConfig(cp *controlPlane, ns string) kafka.Config {
	return kafka.Config{
		Brokers: cp.broker.ListenAddrs(), Topic: "jobs-" + ns, Group: "workers-" + ns,
		DeadLetterTopic: "dlq-" + ns, ClientID: "bench",
	}
}

func configureKafka(b *testing.B, cp *controlPlane, ns string, m *app.ManagerConfig, w *app.WorkerConfig) {
	b.Helper()
	cfg := kafkaConfig(cp, ns)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := kafka.EnsureTopics(ctx, cfg, kafkaPartitions, cfg.Topic, cfg.DeadLetterTopic); err != nil {
		b.Fatal(err)
	}
	m.Kafka, w.Kafka = cfg, cfg
}

// kafkaGroupReady waits until the consumer group is stable with every
// worker holding partitions: before that, the first jobs would wait for
// the group's rebalance.
func kafkaGroupReady(ctx context.Context, cp *controlPlane, ns string, workers int) error {
	cfg := kafkaConfig(cp, ns)
	c := &kafkago.Client{Addr: kafkago.TCP(cfg.Brokers...), Timeout: 10 * time.Second}
	state := "not described"
	for ctx.Err() == nil {
		res, err := c.DescribeGroups(ctx, &kafkago.DescribeGroupsRequest{GroupIDs: []string{cfg.Group}})
		if err == nil && len(res.Groups) == 1 {
			g := res.Groups[0]
			assigned := 0
			for _, m := range g.Members {
				for _, t := range m.MemberAssignments.Topics {
					if len(t.Partitions) > 0 {
						assigned++
						break
					}
				}
			}
			if g.GroupState == "Stable" && assigned == workers {
				return nil
			}
			state = fmt.Sprintf("%s with %d of %d workers assigned", g.GroupState, assigned, workers)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("consumer group %s: %s: %w", cfg.Group, state, ctx.Err())
}
