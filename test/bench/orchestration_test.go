package bench

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"ytx.dev/ytx/internal/youtube/fake"
)

// orchestrationSizes are the numbers of extractions applied at once.
var orchestrationSizes = []int{100, 1000}

// warmUp extractions run before each measured ytx run, so that the
// manager's cache, the workers' connections and the consumer group are
// warm: the figures are those of a running system, not of its start.
const warmUp = 8

// runResult is one measured run of the orchestration benchmark.
type runResult struct {
	t        timings
	requests map[requestKind]int
	// cpu is the cores each process kept busy during the run.
	cpu map[string]float64
}

var orchestrationColumns = []string{"run", "N", "extractions/s", "p50", "p95", "p99", "writes / extraction", "× bound", "× bound at ytx's client limit", "cores busy: apiserver, etcd, bench process"}

// BenchmarkOrchestration applies N metadata-only extractions at once and
// measures how fast they complete: first through ytx on each transport,
// then the API server's bound for the same writes with no operator in the
// loop, on a fresh API server per N.
func BenchmarkOrchestration(b *testing.B) {
	for _, n := range orchestrationSizes {
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) { benchOrchestration(b, n) })
	}
	writesSection()
	results.note(secOrchestration, "Each N runs on a fresh kube-apiserver and etcd (envtest) with kfake and the fake YouTube in this process. "+
		"ytx is one manager (`ytx manager`'s defaults: %d concurrent reconciles, --max-in-flight-per-namespace %d) and %d workers of concurrency %d, "+
		"built by internal/app's NewManager and NewWorker, with their default client limit (%s) and with one high enough not to bind (%s). "+
		"%d clients create the N extractions (spec.url only: %s) at once, after %d warm-up extractions. "+
		"Throughput is N over the time from the first create to the last Complete; latency is from just before each create to when a watch first sees it Complete.",
		managerReconciles, defaultInFlight(), benchWorkers, benchConcurrency, defaultLimit, raisedLimit, creators, fake.ZooID, warmUp)
	results.note(secOrchestration, "The bound makes ytx's writes for the same N with plain clients and no operator: the creates; on a manager client the finalizer (update), Queued (status) and its event; "+
		"on two worker clients Running (status), Succeeded (status, with the metadata and the info.json artifact) and their events; with ytx's concurrency, passing objects in memory. "+
		"\"no client limit\" is the API server's own bound; \"ytx's default client limit\" gives each of those clients ytx's default QPS and burst, as each ytx process has. "+
		"Cores busy is each process's CPU time over the run's wall time; the bench process holds ytx, Kafka, the fake YouTube and the clients.")
}

func benchOrchestration(b *testing.B, n int) {
	cp := startControlPlane(b)
	yt := startFakeYouTube(b)
	o := outcomeOf(b, yt, fake.ZooID)
	bounds := map[string]runResult{}
	for _, lim := range boundLimits {
		b.Run("bound/"+strings.ReplaceAll(lim.name, " ", "_"), func(b *testing.B) {
			r := runBound(b, cp, o, n, lim)
			bounds[lim.name] = r
			reportRun(b, "bound, "+lim.name, n, r, runResult{}, runResult{})
		})
	}
	for _, tr := range transports {
		for _, lim := range ytxLimits {
			b.Run(fmt.Sprintf("%s/qps=%g", tr.name, lim.qps), func(b *testing.B) {
				r := runYtx(b, cp, tr, lim, yt, n)
				label := fmt.Sprintf("ytx (%s), %s", tr.name, lim)
				same := runResult{}
				if lim == defaultLimit {
					label += " (defaults)"
					same = bounds[boundLimits[1].name]
				}
				free := bounds[boundLimits[0].name]
				reportRun(b, label, n, r, free, same)
				ytxRuns = append(ytxRuns, ytxRun{transport: tr.name, limit: lim, n: n, r: r})
				ytxGoal(tr, lim, n, r, free)
			})
		}
	}
}

// ytxGoal records the goal for one ytx run: at least 0.8 of the
// API server's own bound.
func ytxGoal(tr transport, lim clientLimit, n int, r, free runResult) {
	if free.t.created == nil {
		return // the bound did not run (-bench picked ytx alone)
	}
	f := r.t.throughput() / free.t.throughput()
	results.goal(fmt.Sprintf("Orchestration, %s, %s, N=%d: at least 0.8 of the API server's bound", tr.name, lim, n), f >= 0.8,
		"%.2f (%.1f of %.1f extractions/s)", f, r.t.throughput(), free.t.throughput())
}

// runYtx measures ytx on transport tr with client limit lim for n
// extractions.
func runYtx(b *testing.B, cp *controlPlane, tr transport, lim clientLimit, yt *fake.Server, n int) runResult {
	ns := cp.namespace(b, "ytx-"+tr.name)
	requests := newRequestCounter()
	y := startYtx(b, cp, tr, lim, ns, yt, requests)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	if tr.ready != nil {
		if err := tr.ready(ctx, cp, ns, benchWorkers); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := apply(ctx, cp.admin, ns, "warm", fake.ZooID, warmUp, nil); err != nil {
		b.Fatalf("warm-up: %v", err)
	}
	requests.settled()
	requests.reset()
	cpu := startCPU(cp.processes())
	t, err := apply(ctx, cp.admin, ns, "x", fake.ZooID, n, nil)
	busy := cpu.stop()
	if err != nil {
		b.Fatal(err)
	}
	counts := requests.settled()
	y.stop(b)
	return runResult{t: t, requests: counts, cpu: busy}
}

// reportRun records a run's row; free and same are the bounds to compare
// with (zero for a bound's own row).
func reportRun(b *testing.B, label string, n int, r, free, same runResult) {
	tp := r.t.throughput()
	b.ReportMetric(tp, "extractions/s")
	b.ReportMetric(r.t.latency(0.5).Seconds(), "p50-s")
	b.ReportMetric(r.t.latency(0.99).Seconds(), "p99-s")
	ratio := func(bound runResult) string {
		if bound.t.created == nil {
			return "—"
		}
		f := tp / bound.t.throughput()
		b.ReportMetric(f, "×bound")
		return cell(f)
	}
	results.row(secOrchestration, orchestrationColumns, label, n, tp,
		r.t.latency(0.5), r.t.latency(0.95), r.t.latency(0.99), writesPer(r.requests, n),
		ratio(free), ratio(same),
		fmt.Sprintf("%s, %s, %s", cell(r.cpu["kube-apiserver"]), cell(r.cpu["etcd"]), cell(r.cpu["bench"])))
}

// startFakeYouTube serves the default catalogue in this process.
func startFakeYouTube(b *testing.B) *fake.Server {
	b.Helper()
	yt, err := fake.New(fake.DefaultVideos()...)
	if err == nil {
		err = yt.Start()
	}
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { yt.Close() }) //nolint:errcheck // best effort
	return yt
}

// ytxRuns are the measured ytx runs, for the writes section.
var ytxRuns []ytxRun

type ytxRun struct {
	transport string
	limit     clientLimit
	n         int
	r         runResult
}

// writesSection lists the API requests per extraction of every ytx run.
func writesSection() {
	if len(ytxRuns) == 0 {
		return
	}
	cols := []string{"process", "request"}
	perRun := make([]map[string]float64, len(ytxRuns))
	var keys []requestKind
	seen := map[requestKind]bool{}
	for i, run := range ytxRuns {
		cols = append(cols, fmt.Sprintf("%s, QPS %g, N=%d", run.transport, run.limit.qps, run.n))
		perRun[i] = map[string]float64{}
		for _, l := range perExtraction(run.r.requests, run.n) {
			perRun[i][l.kind.role+l.kind.String()] = l.per
			if !seen[l.kind] {
				seen[l.kind] = true
				keys = append(keys, l.kind)
			}
		}
	}
	sortKinds(keys)
	for _, k := range keys {
		cells := []any{k.role, k.String()}
		for i := range ytxRuns {
			cells = append(cells, perRun[i][k.role+k.String()])
		}
		results.row(secWrites, cols, cells...)
	}
	results.note(secWrites, "Requests of ytx's processes per extraction of the measured run, counted on their HTTP clients (watches, lists and discovery left out). "+
		"Writes (create, update, patch) each cost an etcd write; gets are the workers' uncached reads (the claim's, and the check before each store). "+
		"The benchmark's own create of each extraction is one more write, counted in the table above.")
}
