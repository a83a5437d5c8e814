package main

import (
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"ytx.dev/ytx/internal/app"
	"ytx.dev/ytx/internal/cli"
	"ytx.dev/ytx/internal/httpjobs"
	"ytx.dev/ytx/internal/kafka"
	"ytx.dev/ytx/workers"
)

func workerCommand() *cobra.Command {
	var (
		c   app.WorkerConfig
		log cli.LogOptions
	)
	cmd := &cobra.Command{
		Use:   "worker",
		Short: "Run an extractor worker",
		Long:  "Run an extractor worker: it consumes jobs from Kafka in a consumer group, reads each video from YouTube, and writes the result onto the YouTubeExtraction.",
	}
	fs := cmd.Flags()
	kubeFlags(fs, &c.Kube)
	servingFlags(fs, &c.Serving, ":8080", ":8081")
	kafkaFlags(fs, &c.Kafka)
	cli.LogFlags(fs, &log, "json")
	fs.StringVar(&c.Kafka.Group, "kafka-group", kafka.DefaultGroup, "consumer group of the workers")
	fs.StringVar(&c.Kafka.ListingGroup, "kafka-listing-group", "", "consumer group of the workers on --kafka-listing-topic (default: --kafka-group + \""+kafka.ListingGroupSuffix+"\")")
	fs.StringVar(&c.Kafka.DeadLetterTopic, "kafka-dead-letter-topic", kafka.DefaultDeadLetterTopic, "topic that receives messages that cannot be read")
	fs.DurationVar(&c.SessionTimeout, "kafka-session-timeout", kafka.DefaultSessionTimeout, "how long the consumer group waits for a silent worker before its partitions go to the others (6s to 5m)")
	fs.IntVar(&c.Concurrency, "concurrency", 4, "jobs run at once")
	fs.IntVar(&c.ListingConcurrency, "listing-concurrency", app.DefaultListingConcurrency, "with --transport=kafka: listing jobs (reading a playlist or channel) run at once, beside --concurrency extractions; with http they share --concurrency")
	fs.StringVar(&c.Transport, "transport", app.TransportKafka, "where jobs come from: kafka (the consumer group) or http (POSTs to --jobs-bind-address, queued in memory)")
	fs.StringVar(&c.JobsAddr, "jobs-bind-address", httpjobs.DefaultAddr, "with --transport=http: address of the job endpoint (POST /v1/jobs)")
	fs.StringVar(&c.JobTokenFile, "job-token-file", "", "with --transport=http (required then): file holding the token a job must come with, the same as the manager's; a mounted Secret key, read again when it changes (the token before a change stays valid for "+fmt.Sprint(int(httpjobs.RotationWindow/time.Minute))+" minutes)")
	fs.IntVar(&c.JobsQueue, "jobs-queue", 0, "with --transport=http: jobs held in memory beyond the running ones; when full the worker answers 503 and the manager tries again later (default: twice --concurrency)")
	fs.StringVar(&c.Worker.Name, "name", "", "this worker's name in status and events (default: $POD_NAME, then the host name)")
	fs.DurationVar(&c.ShutdownGrace, "shutdown-grace", 25*time.Second, "on SIGTERM, time given to running jobs to finish before they are handed back")
	fs.DurationVar(&c.Worker.StatusInterval, "status-interval", 5*time.Second, "least time between two progress writes of a job")
	fs.DurationVar(&c.Worker.HeartbeatInterval, "heartbeat-interval", 30*time.Second, "most time between two heartbeats of a job; keep it well under the manager's --heartbeat-timeout")
	storageFlag(fs, &c.Storage)
	c.Worker.MaxArtifactBytes = 8 << 30
	fs.Var(bytesFlag{&c.Worker.MaxArtifactBytes}, "max-artifact-bytes", "largest file a job may download or store, e.g. 500Mi or 8Gi; a larger one fails the job with ArtifactTooLarge; 0: no cap")
	fs.IntVar(&c.Worker.MaxListingEntries, "max-listing-entries", workers.DefaultMaxListingEntries, "most entries one playlist or channel listing reads (about 100 a page); a longer one is cut there and its status says so")
	fs.StringVar(&c.Worker.ScratchDir, "scratch-dir", "", "directory for each job's temporary files, removed when the job ends (default: $TMPDIR or /tmp); needs room for about twice the largest file")
	fs.StringVar(&c.FFmpeg.Path, "ffmpeg", "ffmpeg", "the ffmpeg program, for mp3 transcoding, tagging and muxing")
	fs.StringVar(&c.FFmpeg.MP3Bitrate, "mp3-bitrate", "192k", "bitrate of mp3 audio")
	fs.IntVar(&c.FFmpegMaxProcs, "ffmpeg-max-procs", app.DefaultFFmpegMaxProcs, "ffmpeg runs at once per worker (each holds its stream's index in memory, which grows with the stream's length); more jobs wait their turn; 0: no bound")
	c.Download.ChunkSize = 4 << 20
	fs.Var(bytesFlag{&c.Download.ChunkSize}, "download-chunk-size", "bytes per ranged request to YouTube")
	fs.IntVar(&c.Download.Parallel, "download-parallel", 4, "ranged requests in flight per stream")
	fs.DurationVar(&c.Download.IdleTimeout, "download-idle-timeout", 30*time.Second, "a ranged request that receives nothing for this long is retried")
	rf := addResolveFlags(fs, &c.Resolve)
	return cli.WithEnv(cmd, func(cmd *cobra.Command) error {
		if _, err := log.Logger(); err != nil {
			return err
		}
		if err := rf.finish(cmd.Flags()); err != nil {
			return err
		}
		if c.Worker.Name == "" {
			c.Worker.Name = defaultWorkerName()
		}
		ctx := cmd.Context()
		w, err := app.NewWorker(ctx, c)
		if err != nil {
			return err
		}
		return w.Start(ctx)
	})
}

func defaultWorkerName() string {
	if n := os.Getenv("POD_NAME"); n != "" {
		return n
	}
	n, _ := os.Hostname()
	return n
}
