package main

import (
	"fmt"
	"math"

	"github.com/KimMachineGun/automemlimit/memlimit"
	"github.com/spf13/cobra"

	"ytx.dev/ytx/controllers"
	"ytx.dev/ytx/internal/app"
	"ytx.dev/ytx/internal/cli"
	"ytx.dev/ytx/internal/kafka"
)

func managerCommand() *cobra.Command {
	var (
		c        app.ManagerConfig
		log      cli.LogOptions
		memRatio float64
	)
	cmd := &cobra.Command{
		Use:   "manager",
		Short: "Run the YouTubeExtraction controller",
		Long:  "Run the YouTubeExtraction controller: it validates extractions, publishes one job per attempt to Kafka, and decides retries, timeouts and TTLs.",
	}
	fs := cmd.Flags()
	kubeFlags(fs, &c.Kube)
	servingFlags(fs, &c.Serving, ":8080", ":8081")
	kafkaFlags(fs, &c.Kafka)
	fs.StringVar(&c.Kafka.Group, "kafka-group", kafka.DefaultGroup, "consumer group of the workers, whose offsets and members the manager reads (Describe on the group) to tell a lost job from one that waits its turn")
	fs.StringVar(&c.Transport, "transport", app.TransportKafka, "how jobs reach the workers: kafka (durable) or http (POSTed to --worker-url; a worker that dies loses its queued jobs until --queued-timeout sends them again)")
	fs.StringVar(&c.WorkerURL, "worker-url", "", "with --transport=http: the workers' job endpoint, e.g. http://ytx-worker.ytx.svc:8090")
	fs.StringVar(&c.JobTokenFile, "job-token-file", "", "with --transport=http (required then): file holding the token sent with every job (Authorization: Bearer), the same as the workers'; a mounted Secret key, read again when it changes")
	fs.DurationVar(&c.QueuedTimeout, "queued-timeout", 0, "send an attempt again that no worker claimed this long after it was sent; with kafka only if the workers' group says its message cannot still arrive (lost, consumed without a claim, or on a stuck partition), never because it waits behind a backlog (default: --heartbeat-timeout with http, 5m with kafka; negative: never)")
	fs.DurationVar(&c.Controller.LagInterval, "kafka-lag-interval", 0, "with kafka: how often the manager reads the job topic's offsets and the workers' group (Describe on both) to find lost jobs and stuck partitions (default 30s)")
	fs.DurationVar(&c.Controller.StuckAfter, "kafka-stuck-after", 0, "with kafka: a partition with waiting messages whose committed offset has not moved for this long, while its owner runs and claims nothing, is stuck: its queued jobs are sent to another partition (default 10m; at least twice --kafka-lag-interval)")
	cli.LogFlags(fs, &log, "json")
	fs.BoolVar(&c.LeaderElection, "leader-elect", false, "elect one active replica through a Lease, so that several can run")
	fs.StringVar(&c.LeaderElectionNamespace, "leader-election-namespace", "", "namespace of the leader-election Lease (default: the pod's namespace)")
	fs.DurationVar(&c.LeaseDuration, "leader-election-lease-duration", 0, "how long a standby waits before it takes over from a leader that stopped renewing (default 15s); set with the two below")
	fs.DurationVar(&c.RenewDeadline, "leader-election-renew-deadline", 0, "how long the leader keeps trying to renew before it steps down (default 10s)")
	fs.DurationVar(&c.RetryPeriod, "leader-election-retry-period", 0, "how often replicas try to acquire or renew the lease (default 2s)")
	fs.StringSliceVar(&c.Namespaces, "namespaces", nil, "comma-separated namespaces to watch (default: all)")
	fs.DurationVar(&c.Controller.HeartbeatTimeout, "heartbeat-timeout", 0, "time without a worker heartbeat after which a running attempt is retried (default 2m)")
	fs.DurationVar(&c.Controller.RetryBackoff, "retry-backoff", 0, "wait before the second attempt, doubled for each later one (default 10s)")
	fs.DurationVar(&c.Controller.RetryBackoffMax, "retry-backoff-max", 0, "longest wait between attempts (default 5m)")
	fs.DurationVar(&c.Controller.RateLimitedBackoff, "rate-limited-backoff", 0, "wait after the first attempt YouTube rate-limited (a bot check, HTTP 429), doubled for each later one; such attempts do not spend spec.retry.maxAttempts (default 5m)")
	fs.DurationVar(&c.Controller.RateLimitedBackoffMax, "rate-limited-backoff-max", 0, "longest wait between rate-limited attempts (default 1h)")
	fs.DurationVar(&c.Controller.RateLimitedTimeout, "rate-limited-timeout", 0, "how long after its first rate-limited attempt an extraction that YouTube still rate-limits fails with reason RateLimited (default 6h)")
	fs.IntVar(&c.Controller.MaxConcurrentReconciles, "max-concurrent-reconciles", 4, "resources reconciled at once")
	fs.IntVar(&c.Controller.MaxInFlightPerNamespace, "max-in-flight-per-namespace", controllers.DefaultMaxInFlightPerNamespace, "extractions of one namespace Queued or Running at once; the others wait, Pending, oldest first (0: no cap)")
	storageFlag(fs, &c.Storage)
	fs.Float64Var(&memRatio, "memory-limit-ratio", app.DefaultMemoryLimitRatio, "give Go a soft memory limit (GOMEMLIMIT) of this fraction of the container's memory limit (its cgroup), so that the garbage collector works harder before the kernel kills the manager; GOMEMLIMIT in the environment wins; 0: none")
	fs.DurationVar(&c.Controller.CleanupTimeout, "artifact-cleanup-timeout", 0, "how long the finalizer retries deleting a resource's files while storage fails, before it gives up with a Warning event (default 5m)")
	return cli.WithEnv(cmd, func(cmd *cobra.Command) error {
		logger, err := log.Logger()
		if err != nil {
			return err
		}
		if memRatio < 0 || memRatio > 1 {
			return fmt.Errorf("--memory-limit-ratio %g: must be between 0 (none) and 1", memRatio)
		}
		switch limit, err := app.SetMemoryLimit(memRatio, memlimit.FromCgroup); {
		case err != nil:
			logger.Info("no Go memory limit: cannot read the container's", "error", err.Error())
		case limit != math.MaxInt64:
			logger.Info("Go memory limit set", "bytes", limit, "ratio", memRatio)
		}
		ctx := cmd.Context()
		m, err := app.NewManager(ctx, c)
		if err != nil {
			return err
		}
		return m.Start(ctx)
	})
}
