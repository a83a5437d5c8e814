package bench

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"ytx.dev/ytx/controllers"
	"ytx.dev/ytx/internal/app"
	"ytx.dev/ytx/internal/devenv"
	"ytx.dev/ytx/internal/kafka"
	"ytx.dev/ytx/internal/youtube/fake"
	"ytx.dev/ytx/test/internal/freeport"
	"ytx.dev/ytx/test/internal/ytxbin"
)

// resyncN is the number of extractions in the cluster when the manager
// starts, in `make bench`.
const resyncN = 10_000

// scaleSizes are the sizes of `make bench-scale`, which reports them in
// sections of their own, with the cost per extraction between them.
var scaleSizes = flag.String("bench.scale-n", "", "comma-separated numbers of finished extractions for BenchmarkResync, each on a fresh control plane, reported in the section \""+secScaleRuns+"\" with the cost per extraction between consecutive sizes (`make bench-scale`); empty: 10,000, in the section \""+secScale+"\"")

// etcdQuota is etcd's database quota in the resync benchmark: 8 GiB, where
// etcd's default of 2 GiB does not hold 100,000 extractions with their
// history.
const etcdQuota = 8 << 30

var scaleColumns = []string{"extractions", "manager's container limit", "its Go memory limit", "first full resync", "reconciles/s", "manager peak RSS", "manager RSS after", "manager Go heap in use",
	"kube-apiserver RSS", "etcd RSS", "etcd DB size", "etcd DB in use", "manager writes during the resync", "OOM kills", "setup: creating them"}

// BenchmarkResync starts `bin/ytx manager`, a process of its own as in a
// cluster, against 10,000 finished extractions (finalizer set, Succeeded
// for their generation, with metadata and an info.json artifact, as ytx
// leaves them), or each of the sizes of -bench.scale-n on a fresh control
// plane, and measures how long it takes until it has reconciled each once,
// its memory, what the API server and etcd hold, and how many writes it
// made. Such a resync only reads: nothing is left to do for a finished
// extraction.
func BenchmarkResync(b *testing.B) {
	sizes, err := parseSizes(*scaleSizes)
	if err != nil {
		b.Fatalf("-bench.scale-n: %v", err)
	}
	bin := filepath.Join(repoRoot, "bin", "ytx")
	if err := ytxbin.Fresh(repoRoot, bin); err != nil {
		b.Fatal(err)
	}
	o := outcomeOf(b, startFakeYouTube(b), fake.RickrollID)
	load := loadAverage()
	var runs []resyncRun
	for _, n := range sizes {
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			for _, r := range resync(b, bin, o, n) {
				if r.limit != "" {
					b.ReportMetric(r.took.Seconds(), "resync-s")
					b.ReportMetric(mib(r.manager.peak), "manager-peak-RSS-MiB")
					b.ReportMetric(float64(r.writes), "writes")
				}
				runs = append(runs, r)
			}
		})
	}
	if *scaleSizes == "" {
		for _, r := range runs {
			results.row(secScale, scaleColumns, r.cells()...)
		}
		results.note(secScale, resyncNote, defaults.reconciles, app.DefaultQPS, strconv.Itoa(resyncN), fake.RickrollID, strconv.Itoa(resyncN))
		return
	}
	reportScale(runs, sizes, load)
}

// parseSizes reads -bench.scale-n, smallest first; empty is resyncN.
func parseSizes(s string) ([]int, error) {
	if s == "" {
		return []int{resyncN}, nil
	}
	var sizes []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("%q is not a positive number", f)
		}
		sizes = append(sizes, n)
	}
	slices.Sort(sizes)
	return slices.Compact(sizes), nil
}

// resyncRun is what one size measured.
type resyncRun struct {
	n int
	// limit is the manager's container limit (the chart's), "" for none.
	limit    string
	oomKills int
	// goLimit is the manager's Go memory limit (go_gc_gomemlimit_bytes).
	goLimit     float64
	setup, took time.Duration
	// manager, api and etcd are the processes' memory when the resync
	// ended; heap the manager's Go heap in use then.
	manager, api, etcd memory
	heap               int64
	// db and dbInUse are etcd's database file and what of it is in use.
	db, dbInUse int64
	// writes are the manager's POST, PUT, PATCH and DELETE requests until
	// then.
	writes int
}

func (r resyncRun) cells() []any {
	limit := r.limit
	if limit == "" {
		limit = "none"
	}
	goLimit := "—"
	switch {
	case r.goLimit >= 1<<62:
		goLimit = "none"
	case r.goLimit > 0:
		goLimit = cell(mib(int64(r.goLimit))) + " MiB"
	}
	return []any{r.n, limit, goLimit, r.took, float64(r.n) / r.took.Seconds(),
		cell(mib(r.manager.peak)) + " MiB", cell(mib(r.manager.rss)) + " MiB", cell(mib(r.heap)) + " MiB",
		cell(mib(r.api.rss)) + " MiB", cell(mib(r.etcd.rss)) + " MiB", cell(mib(r.db)) + " MiB", cell(mib(r.dbInUse)) + " MiB",
		r.writes, r.oomKills, r.setup}
}

// resync creates n finished extractions on a fresh control plane and
// measures the manager's first full resync against them twice: without a
// memory limit, and in a memory cgroup with the chart's limit, where it
// sets its Go memory limit as in a pod (when this machine lets the
// benchmark make a cgroup; it says so when not).
func resync(b *testing.B, bin string, o outcome, n int) []resyncRun {
	cp := startControlPlane(b, devenv.EtcdQuota(etcdQuota))
	ns := cp.namespace(b, "scale")
	storageURL := "file://" + b.TempDir()
	began := time.Now()
	createFinished(b, cp, ns, o, storageURL, n)
	setup := time.Since(began)
	runs := []resyncRun{resyncOnce(b, cp, bin, storageURL, n, setup, "", nil)}
	name, limit, err := chartManagerLimit()
	if err != nil {
		b.Fatal(err)
	}
	cg, err := newMemoryCgroup(limit)
	if err != nil {
		b.Logf("the manager runs without the chart's memory limit (%s): no memory cgroup: %v", name, err)
		results.note(secScaleRuns, "This machine let the benchmark make no memory cgroup (%v): no row ran under the chart's limit.", err)
		return runs
	}
	defer cg.remove()
	return append(runs, resyncOnce(b, cp, bin, storageURL, n, setup, name, cg))
}

// resyncOnce starts a manager (in cg, when not nil) against the n
// extractions, measures its first full resync, and stops it.
func resyncOnce(b *testing.B, cp *controlPlane, bin, storageURL string, n int, setup time.Duration, limit string, cg *memoryCgroup) resyncRun {
	r := resyncRun{n: n, setup: setup, limit: limit}
	m := startManagerProcess(b, cp, bin, storageURL, cg)
	defer m.stop(b)
	took, err := m.waitReconciled(n, 10*time.Minute+time.Duration(n)*10*time.Millisecond)
	if err != nil {
		if cg != nil {
			err = fmt.Errorf("%w (OOM kills in its cgroup: %d)", err, cg.oomKills())
		}
		b.Fatal(err)
	}
	r.took = took
	r.manager, r.api, r.etcd = memoryOf(m.pid()), memoryOf(cp.apiserverPID), memoryOf(cp.etcdPID)
	heap, err := scrape(m.metrics, "go_memstats_heap_inuse_bytes", "")
	if err != nil {
		b.Fatal(err)
	}
	r.heap = int64(heap)
	if r.goLimit, err = scrape(m.metrics, "go_gc_gomemlimit_bytes", ""); err != nil {
		b.Fatal(err)
	}
	if r.writes, err = writes(m.metrics); err != nil {
		b.Fatal(err)
	}
	if r.db, r.dbInUse, err = cp.etcdDB(); err != nil {
		b.Fatal(err)
	}
	if cg != nil {
		r.oomKills = cg.oomKills()
	}
	return r
}

// writes counts the requests of the manager's client that change
// something: client-go's rest_client_requests_total by method.
func writes(metrics string) (int, error) {
	// Without the metric every count would read 0, as if nothing was
	// written: the manager's reads must show in it.
	if all, err := scrape(metrics, "rest_client_requests_total", ""); err != nil || all == 0 {
		return 0, fmt.Errorf("no rest_client_requests_total on %s (%v)", metrics, err)
	}
	total := 0
	for _, method := range []string{"POST", "PUT", "PATCH", "DELETE"} {
		v, err := scrape(metrics, "rest_client_requests_total", `method="`+method+`"`)
		if err != nil {
			return 0, err
		}
		total += int(v)
	}
	return total, nil
}

// resyncNote says how the figures of a resync row are measured.
const resyncNote = "`bin/ytx manager` with its defaults (all namespaces, --max-concurrent-reconciles %d, --kube-api-qps %d) starts against a fresh API server that holds %s extractions, each finished as ytx leaves one " +
	"(finalizer, Succeeded for its generation, metadata of %s, an info.json artifact). " +
	"The resync is the time from the process's start until its controller_runtime_reconcile_total (scraped from its /metrics every 100 ms) reaches %s. " +
	"Peak RSS is the manager's VmHWM, RSS after its VmRSS at that moment, and the Go heap in use its go_memstats_heap_inuse_bytes then (live objects and garbage not yet collected); the API server's and etcd's are their VmRSS then. " +
	"The manager's writes are its POST, PUT, PATCH and DELETE requests until then (client-go's rest_client_requests_total on its /metrics): a resync of finished extractions has nothing to write. " +
	"etcd's DB size and DB in use are its etcd_mvcc_db_total_size_in_bytes and etcd_mvcc_db_total_size_in_use_in_bytes after a compaction to its latest revision (the API server compacts so every 5 minutes; a run whose setup is shorter would otherwise count each object's history); etcd's quota is raised to 8 GiB. " +
	"Setup is the time to create them from 16 unthrottled clients, each extraction a create and a status update. " +
	"Each size runs the manager twice against the same extractions, one after the other: with no memory limit, and in a memory cgroup of this machine limited to the chart's controller.resources.limits.memory, " +
	"where `ytx manager` sets its Go memory limit from the cgroup's as in a pod (--memory-limit-ratio, default 0.6) and the kernel kills it as it would the container (OOM kills: the cgroup's count)."

// reportScale writes the rows of `make bench-scale`, each with its date
// and commit (the report's header is `make bench`'s), and the cost per
// extraction between consecutive sizes.
func reportScale(runs []resyncRun, sizes []int, load string) {
	date, at := time.Now().UTC().Format("2006-01-02"), commit()
	for _, r := range runs {
		results.row(secScaleRuns, append([]string{"date", "commit"}, scaleColumns...), append([]any{date, at}, r.cells()...)...)
	}
	var ns []string
	for _, n := range sizes {
		ns = append(ns, strconv.Itoa(n))
	}
	results.note(secScaleRuns, resyncNote, defaults.reconciles, app.DefaultQPS, strings.Join(ns, " or "), fake.RickrollID, "that number")
	results.note(secScaleRuns, "Each size ran on a fresh kube-apiserver and etcd, smallest first, by `make bench-scale` (-bench.scale-n=%s). %s. Load average (1, 5, 15 min) at the start: %s; at the end: %s.",
		strings.Join(ns, ","), strings.Join(machine(), "; "), load, loadAverage())
	slopeColumns := []string{"date", "commit", "between", "manager's container limit", "manager peak RSS", "manager Go heap in use", "kube-apiserver RSS", "etcd DB size", "etcd DB in use"}
	// Like with like: each limit's runs, consecutive sizes.
	last := map[string]resyncRun{}
	for _, z := range runs {
		a, ok := last[z.limit]
		last[z.limit] = z
		if !ok {
			continue
		}
		results.row(secScaleSlope, slopeColumns, date, at, fmt.Sprintf("%d and %d", a.n, z.n), z.cells()[1],
			slope(a.n, z.n, a.manager.peak, z.manager.peak), slope(a.n, z.n, a.heap, z.heap),
			slope(a.n, z.n, a.api.rss, z.api.rss), slope(a.n, z.n, a.db, z.db), slope(a.n, z.n, a.dbInUse, z.dbInUse))
	}
	results.note(secScaleSlope, "Bytes per finished extraction: (figure at the larger size − figure at the smaller) / (larger − smaller), from the rows of \"%s\" above, whose figures it shows in MiB.", secScaleRuns)
}

// slope is the cost of one more extraction between sizes n1 and n2, in
// bytes, with both totals in MiB.
func slope(n1, n2 int, v1, v2 int64) string {
	per := float64(v2-v1) / float64(n2-n1)
	return fmt.Sprintf("%.0f B (%s → %s MiB)", per, cell(mib(v1)), cell(mib(v2)))
}

// createClients is how many unthrottled clients create the extractions.
const createClients = 16

// createFinished creates n extractions, each with the finalizer and then a
// finished status, from createClients unthrottled clients, and says so
// every 10,000: at 100,000 this takes 15 minutes or more.
func createFinished(b *testing.B, cp *controlPlane, ns string, o outcome, storageURL string, n int) {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute+time.Duration(n)*20*time.Millisecond)
	defer cancel()
	began := time.Now()
	var created atomic.Int64
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(createClients)
	for i := range n {
		g.Go(func() error {
			x := extraction(ns, fmt.Sprintf("done-%06d", i), o.videoID)
			x.Finalizers = []string{controllers.Finalizer}
			if err := cp.admin.Create(ctx, x); err != nil {
				return err
			}
			queued(x, o, "ytx.extractions")
			claimed(x, "worker-0")
			succeeded(x, o, storageURL)
			x.Status.ObservedGeneration = x.Generation
			if err := cp.admin.Status().Update(ctx, x); err != nil {
				return err
			}
			if c := created.Add(1); c%10_000 == 0 {
				// Straight to stderr: b.Logf shows only when the
				// benchmark ends.
				fmt.Fprintf(os.Stderr, "bench: created %d of %d finished extractions in %s\n", c, n, time.Since(began).Round(time.Second))
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		b.Fatal(err)
	}
}

// managerProcess is `bin/ytx manager` running.
type managerProcess struct {
	*process
	started time.Time
	metrics string // URL of its /metrics
}

// startManagerProcess runs `ytx manager` with the flags a Deployment gives
// it, metrics on a free port, and every other setting at its default; in
// cg, when not nil.
func startManagerProcess(b *testing.B, cp *controlPlane, bin, storageURL string, cg *memoryCgroup) *managerProcess {
	b.Helper()
	kubeconfig := filepath.Join(b.TempDir(), "kubeconfig")
	if err := cp.api.WriteKubeconfig(kubeconfig); err != nil {
		b.Fatal(err)
	}
	cfg := kafka.Config{Brokers: cp.broker.ListenAddrs(), Topic: kafka.DefaultTopic}.WithDefaults()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := kafka.EnsureTopics(ctx, cfg, kafkaPartitions, cfg.Topic, cfg.ListingTopic); err != nil {
		b.Fatal(err)
	}
	port, err := freeport.Get()
	if err != nil {
		b.Fatal(err)
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	p := newProcess("ytx manager", bin, []string{"PATH=" + os.Getenv("PATH"), "HOME=" + b.TempDir()},
		"manager", "--kubeconfig", kubeconfig,
		"--kafka-brokers", strings.Join(cfg.Brokers, ","), "--storage", storageURL,
		"--metrics-bind-address", addr, "--health-probe-bind-address", "0", "--log-format", "json")
	if cg != nil {
		cg.hold(p.cmd)
	}
	m := &managerProcess{process: p, started: time.Now(), metrics: "http://" + addr + "/metrics"}
	p.start(b)
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
		select {
		case <-m.exited:
			return 0, fmt.Errorf("ytx manager exited: %v\n%s", m.cmd.ProcessState, m.out.Last(20))
		default:
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
