// Package faults is ytx's fault-injection suite. It runs the real pieces as
// separate OS processes — kube-apiserver and etcd, a Kafka broker
// (kafkabroker, a small command around kfake that keeps its log on disk so
// it can be killed and started again on the same port), an S3 server
// (versitygw), one or two `ytx manager`s and two or more `ytx worker`s, all
// from the same bin/ytx as production — and hurts them: kill -9, SIGTERM,
// SIGSTOP, outages of the broker, the API server and S3, poison messages,
// and a misbehaving YouTube. The fake YouTube runs in the test process,
// reached by the workers through its HTTPS proxy, because it is the peer
// through which the suite injects YouTube's faults.
//
// Each scenario submits a batch of extractions and counts, at the end:
// completed, failed with the expected reason, lost (never finished),
// doubled (two claims of one attempt that both wrote files, a stale
// attempt that wrote after a newer one was claimed, a stored file whose
// recorded writer is not the attempt and worker that status names, or
// stored files that status does not list) and unexpected (a wrong outcome
// or a wrong status.attempts, or an outcome whose evidence is missing from
// the workers' logs). The suite prints the table and fails on any lost,
// doubled or unexpected.
//
// `make test` runs it with small counts; `make test-faults FAULTS_SCALE=10`
// multiplies them.
package faults

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/klog/v2"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	"ytx.dev/ytx/internal/app"
	"ytx.dev/ytx/internal/devenv"
	"ytx.dev/ytx/internal/storage/s3test"
	"ytx.dev/ytx/internal/youtube/fake"
	"ytx.dev/ytx/test/internal/ytxbin"
)

var (
	scale  = flag.Int("faults.scale", envInt("YTX_FAULTS_SCALE", 1), "multiply every scenario's counts by this")
	report = flag.String("faults.report", os.Getenv("YTX_FAULTS_REPORT"), "also write the table to this file")
)

// Shared by every scenario; scenarios run one after another, each in a
// namespace, topic and consumer group of its own.
var (
	repoRoot, ytxBin string
	tmpRoot          string
	plane            *controlPlane
	admin            client.WithWatch
	broker           *brokerProcess
	s3               *s3test.Server
	youTube          *fake.Server
	// youTubeEnv reaches the fake from a child process: its proxy and CA.
	youTubeEnv []string
	clips      *fake.Clips
	table      results
)

func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}

func TestMain(m *testing.M) {
	flag.Parse()
	logf.SetLogger(logr.Discard())
	klog.SetLogger(logr.Discard())
	code := func() int {
		if err := setup(); err != nil {
			fmt.Fprintln(os.Stderr, "faults:", err)
			return 1
		}
		return m.Run()
	}()
	teardown()
	if len(table.rows) > 0 {
		fmt.Print(table.markdown(*scale))
		if *report != "" {
			if err := os.WriteFile(*report, []byte(table.markdown(*scale)), 0o644); err != nil {
				fmt.Fprintln(os.Stderr, "faults:", err)
			}
		}
	}
	os.Exit(code)
}

var closers []func()

func teardown() {
	for _, c := range slices.Backward(closers) {
		c()
	}
}

func setup() error {
	var err error
	if repoRoot, err = filepath.Abs("../.."); err != nil {
		return err
	}
	ytxBin = filepath.Join(repoRoot, "bin", "ytx")
	if err := ytxbin.Fresh(repoRoot, ytxBin); err != nil {
		return err
	}
	if tmpRoot, err = os.MkdirTemp("", "ytx-faults-"); err != nil {
		return err
	}
	closers = append(closers, func() { os.RemoveAll(tmpRoot) }) //nolint:errcheck

	brokerBin := filepath.Join(tmpRoot, "kafkabroker")
	build := exec.Command("go", "build", "-o", brokerBin, "./kafkabroker")
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("building kafkabroker: %v\n%s", err, out)
	}
	if broker, err = startBroker(brokerBin, filepath.Join(tmpRoot, "kafka")); err != nil {
		return err
	}
	closers = append(closers, broker.close)

	assets := devenv.AssetsDir(filepath.Join(repoRoot, "bin", "k8s"))
	if plane, err = startControlPlane(assets, filepath.Join(tmpRoot, "apiserver")); err != nil {
		return err
	}
	closers = append(closers, plane.stop)
	if admin, err = client.NewWithWatch(plane.config, client.Options{Scheme: app.Scheme}); err != nil {
		return err
	}

	if s3, err = s3test.Launch(); err != nil {
		return fmt.Errorf("starting the S3 server (run `make tools` for versitygw): %w", err)
	}
	closers = append(closers, func() { s3.Close() }) //nolint:errcheck

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if clips, err = fake.MakeClips(ctx, filepath.Join(tmpRoot, "clips"), 3*time.Second); err != nil {
		return fmt.Errorf("making media clips (run `make tools` for ffmpeg): %w", err)
	}
	videos, err := fake.DefaultVideosWithClips(clips)
	if err != nil {
		return err
	}
	if youTube, err = fake.New(videos...); err == nil {
		err = youTube.Start()
	}
	if err != nil {
		return fmt.Errorf("starting the fake YouTube: %w", err)
	}
	closers = append(closers, func() { youTube.Close() }) //nolint:errcheck
	caFile := filepath.Join(tmpRoot, "youtube-ca.pem")
	if err := youTube.WriteCAFile(caFile); err != nil {
		return err
	}
	youTubeEnv = []string{"HTTPS_PROXY=" + youTube.ProxyURL().String(), "SSL_CERT_FILE=" + caFile}
	return nil
}
