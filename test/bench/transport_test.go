package bench

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"ytx.dev/ytx/internal/app"
	"ytx.dev/ytx/internal/devenv"
	"ytx.dev/ytx/internal/kafka"
	"ytx.dev/ytx/test/internal/balancer"
	"ytx.dev/ytx/test/internal/freeport"
)

// transport carries jobs from the manager to the workers. The
// orchestration benchmark measures each one on its own rows.
type transport struct {
	name string
	// wire sets, in the manager's configuration and the one the workers
	// share, what chooses this transport for a run in namespace ns.
	wire func(b *testing.B, cp *controlPlane, ns string, m *app.ManagerConfig, w *app.WorkerConfig) wiring
}

// wiring is what a transport needs beyond the shared configuration.
type wiring struct {
	// worker, if set, adds to worker i's own configuration.
	worker func(i int, w *app.WorkerConfig)
	// ready, if set, waits until every worker can receive jobs, so that a
	// run does not time the workers' start.
	ready func(ctx context.Context) error
}

var transports = []transport{
	{name: app.TransportKafka, wire: wireKafka},
	{name: app.TransportHTTP, wire: wireHTTP},
}

// kafkaPartitions of each run's job topic: the chart's default, and more
// than the workers, so that every worker gets some.
const kafkaPartitions = 4

func kafkaConfig(cp *controlPlane, ns string) kafka.Config {
	return kafka.Config{
		Brokers: cp.broker.ListenAddrs(), Topic: "jobs-" + ns, Group: "workers-" + ns,
		DeadLetterTopic: "dlq-" + ns, ListingTopic: "listings-" + ns, ClientID: "bench",
	}
}

func wireKafka(b *testing.B, cp *controlPlane, ns string, m *app.ManagerConfig, w *app.WorkerConfig) wiring {
	b.Helper()
	cfg := kafkaConfig(cp, ns)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := kafka.EnsureTopics(ctx, cfg, kafkaPartitions, cfg.Topic, cfg.ListingTopic, cfg.DeadLetterTopic); err != nil {
		b.Fatal(err)
	}
	m.Kafka, w.Kafka = cfg, cfg
	return wiring{ready: func(ctx context.Context) error { return kafkaGroupReady(ctx, cp, cfg.Group, benchWorkers) }}
}

// kafkaGroupReady waits until the consumer group is stable with every
// worker holding partitions: before that, the first jobs would wait for
// the group's rebalance.
func kafkaGroupReady(ctx context.Context, cp *controlPlane, group string, workers int) error {
	c := &kafkago.Client{Addr: kafkago.TCP(cp.broker.ListenAddrs()...), Timeout: 10 * time.Second}
	state := "not described"
	for ctx.Err() == nil {
		res, err := c.DescribeGroups(ctx, &kafkago.DescribeGroupsRequest{GroupIDs: []string{group}})
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
	return fmt.Errorf("consumer group %s: %s: %w", group, state, ctx.Err())
}

// wireHTTP gives each worker a job endpoint of its own and the manager one
// URL in front of them all, a TCP balancer standing in for the workers'
// Service, as the chart wires them.
func wireHTTP(b *testing.B, cp *controlPlane, ns string, m *app.ManagerConfig, w *app.WorkerConfig) wiring {
	b.Helper()
	addrs := make([]string, benchWorkers)
	for i := range addrs {
		port, err := freeport.Get()
		if err != nil {
			b.Fatal(err)
		}
		addrs[i] = fmt.Sprintf("127.0.0.1:%d", port)
	}
	svc, stop, err := balancer.Start(addrs)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(stop)
	token, err := devenv.WriteJobToken(filepath.Join(b.TempDir(), "job-token"))
	if err != nil {
		b.Fatal(err)
	}
	m.Transport, m.WorkerURL, m.JobTokenFile = app.TransportHTTP, "http://"+svc, token
	w.Transport, w.JobTokenFile = app.TransportHTTP, token
	return wiring{
		worker: func(i int, w *app.WorkerConfig) { w.JobsAddr = addrs[i] },
		ready:  func(ctx context.Context) error { return listening(ctx, addrs) },
	}
}

// listening waits until every address accepts a connection.
func listening(ctx context.Context, addrs []string) error {
	for _, a := range addrs {
		for {
			c, err := net.DialTimeout("tcp", a, time.Second)
			if err == nil {
				c.Close()
				break
			}
			if ctx.Err() != nil {
				return fmt.Errorf("worker's job endpoint %s: %w", a, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return nil
}
