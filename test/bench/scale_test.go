package bench

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"ytx.dev/ytx/controllers"
	"ytx.dev/ytx/internal/app"
	"ytx.dev/ytx/internal/kafka"
	"ytx.dev/ytx/internal/youtube/fake"
	"ytx.dev/ytx/test/internal/freeport"
	"ytx.dev/ytx/test/internal/ytxbin"
)

// resyncN is the number of extractions in the cluster when the manager
// starts.
const resyncN = 10_000

var scaleColumns = []string{"extractions", "first full resync", "reconciles/s", "manager peak RSS", "manager RSS after", "manager Go heap in use", "kube-apiserver RSS", "etcd RSS", "setup: creating them"}

// BenchmarkResync starts `bin/ytx manager`, a process of its own as in a
// cluster, against 10,000 finished extractions (finalizer set, Succeeded
// for their generation, with metadata and an info.json artifact, as ytx
// leaves them), and measures how long it takes until it has reconciled
// each once, and its memory. Such a resync only reads: nothing is left to
// do for a finished extraction.
func BenchmarkResync(b *testing.B) {
	bin := filepath.Join(repoRoot, "bin", "ytx")
	if err := ytxbin.Fresh(repoRoot, bin); err != nil {
		b.Fatal(err)
	}
	cp := startControlPlane(b)
	o := outcomeOf(b, startFakeYouTube(b), fake.RickrollID)
	ns := cp.namespace(b, "scale")
	storageURL := "file://" + b.TempDir()
	began := time.Now()
	createFinished(b, cp, ns, o, storageURL, resyncN)
	setup := time.Since(began)

	m := startManagerProcess(b, cp, bin, storageURL)
	took, err := m.waitReconciled(resyncN, 10*time.Minute)
	if err != nil {
		b.Fatal(err)
	}
	mem, api, etcd := memoryOf(m.pid()), memoryOf(cp.apiserverPID), memoryOf(cp.etcdPID)
	heap, _ := scrape(m.metrics, "go_memstats_heap_inuse_bytes", "")
	b.ReportMetric(took.Seconds(), "resync-s")
	b.ReportMetric(mib(mem.peak), "manager-peak-RSS-MiB")
	results.row(secScale, scaleColumns, resyncN, took, float64(resyncN)/took.Seconds(),
		cell(mib(mem.peak))+" MiB", cell(mib(mem.rss))+" MiB", cell(mib(int64(heap)))+" MiB",
		cell(mib(api.rss))+" MiB", cell(mib(etcd.rss))+" MiB", setup)
	results.note(secScale, "`bin/ytx manager` with its defaults (all namespaces, --max-concurrent-reconciles %d, --kube-api-qps %d) starts against a fresh API server that holds %d extractions, each finished as ytx leaves one "+
		"(finalizer, Succeeded for its generation, metadata of %s, an info.json artifact). "+
		"The resync is the time from the process's start until its controller_runtime_reconcile_total (scraped from its /metrics every 100 ms) reaches %d. "+
		"Peak RSS is the manager's VmHWM, RSS after its VmRSS at that moment, and the Go heap in use its go_memstats_heap_inuse_bytes then (live objects and garbage not yet collected); the API server's and etcd's are their VmRSS then.",
		defaults.reconciles, app.DefaultQPS, resyncN, fake.RickrollID, resyncN)
}

// createFinished creates n extractions, each with the finalizer and then a
// finished status, from 16 unthrottled clients.
func createFinished(b *testing.B, cp *controlPlane, ns string, o outcome, storageURL string, n int) {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(16)
	for i := range n {
		g.Go(func() error {
			x := extraction(ns, fmt.Sprintf("done-%05d", i), o.videoID)
			x.Finalizers = []string{controllers.Finalizer}
			if err := cp.admin.Create(ctx, x); err != nil {
				return err
			}
			queued(x, o, "ytx.extractions")
			claimed(x, "worker-0")
			succeeded(x, o, storageURL)
			x.Status.ObservedGeneration = x.Generation
			return cp.admin.Status().Update(ctx, x)
		})
	}
	if err := g.Wait(); err != nil {
		b.Fatal(err)
	}
}

// managerProcess is `bin/ytx manager` running.
type managerProcess struct {
	cmd     *exec.Cmd
	started time.Time
	metrics string // URL of its /metrics
}

func (m *managerProcess) pid() int { return m.cmd.Process.Pid }

// startManagerProcess runs `ytx manager` with the flags a Deployment gives
// it, metrics on a free port, and every other setting at its default.
func startManagerProcess(b *testing.B, cp *controlPlane, bin, storageURL string) *managerProcess {
	b.Helper()
	kubeconfig := filepath.Join(b.TempDir(), "kubeconfig")
	if err := cp.api.WriteKubeconfig(kubeconfig); err != nil {
		b.Fatal(err)
	}
	cfg := kafka.Config{Brokers: cp.broker.ListenAddrs(), Topic: kafka.DefaultTopic}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := kafka.EnsureTopics(ctx, cfg, kafkaPartitions, cfg.Topic); err != nil {
		b.Fatal(err)
	}
	port, err := freeport.Get()
	if err != nil {
		b.Fatal(err)
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	cmd := exec.Command(bin, "manager", "--kubeconfig", kubeconfig,
		"--kafka-brokers", strings.Join(cfg.Brokers, ","), "--storage", storageURL,
		"--metrics-bind-address", addr, "--health-probe-bind-address", "0", "--log-format", "json")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + b.TempDir()}
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	var logs strings.Builder
	cmd.Stdout, cmd.Stderr = &logs, &logs
	m := &managerProcess{cmd: cmd, started: time.Now(), metrics: "http://" + addr + "/metrics"}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM) //nolint:errcheck // it may be gone
		if err := cmd.Wait(); err != nil && b.Failed() {
			b.Logf("ytx manager: %v\n%s", err, logs.String())
		}
	})
	return m
}

// waitReconciled waits until the manager has reconciled n times, and
// returns how long after its start that was.
func (m *managerProcess) waitReconciled(n int, limit time.Duration) (time.Duration, error) {
	deadline := m.started.Add(limit)
	var last int
	for time.Now().Before(deadline) {
		if c, err := reconciles(m.metrics); err == nil {
			if last = c; c >= n {
				return time.Since(m.started), nil
			}
		}
		if m.cmd.ProcessState != nil {
			return 0, fmt.Errorf("ytx manager exited: %v", m.cmd.ProcessState)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return 0, fmt.Errorf("ytx manager reconciled %d of %d extractions in %s", last, n, limit)
}

// reconciles sums controller_runtime_reconcile_total of the
// youtubeextraction controller over its results.
func reconciles(url string) (int, error) {
	v, err := scrape(url, "controller_runtime_reconcile_total", `controller="youtubeextraction"`)
	return int(v), err
}

// scrape sums the samples of a Prometheus metric whose labels contain
// match, from the text exposition at url.
func scrape(url, metric, match string) (float64, error) {
	resp, err := http.Get(url) //nolint:noctx // loopback, answered at once
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	total := 0.0
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		i := strings.LastIndexByte(line, ' ')
		if i < 0 || strings.HasPrefix(line, "#") {
			continue
		}
		series := line[:i] // name{labels}
		if series != metric && !strings.HasPrefix(series, metric+"{") || !strings.Contains(series, match) {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			return 0, err
		}
		total += v
	}
	io.Copy(io.Discard, resp.Body) //nolint:errcheck
	return total, sc.Err()
}
