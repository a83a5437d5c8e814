package bench

import (
	"context"
	"flag"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"ytx.dev/ytx/internal/youtube/fake"
)

// orchestrationSizes are the numbers of extractions applied at once.
var orchestrationSizes = []int{100, 1000}

// warmUp extractions run before each measured run, so that the API server,
// the manager's cache, the workers' connections and the consumer group are
// warm: the figures are those of a running system, not of its start.
const warmUp = 8

// profileFor is how long the API server is profiled from the start of a
// measured run (with -bench.profiles): shorter than any run.
const profileFor = 5 * time.Second

// runResult is one measured run of the orchestration benchmark.
type runResult struct {
	n        int
	t        timings
	requests map[requestKind]int
	cpu      cpuUse
}

var orchestrationColumns = []string{"run", "N", "extractions/s", "p50", "p95", "p99", "p50 to Queued, Running", "writes / extraction",
	"× bound, no client limit", "× bound, ytx's default client limit", "CPU ms / extraction: apiserver + etcd, bench", "cores busy: apiserver + etcd, bench"}

// BenchmarkOrchestration applies N metadata-only extractions at once and
// measures how fast they complete: first the API server's bound for ytx's
// writes with no operator in the loop, then ytx on each transport, on a
// fresh API server per N.
func BenchmarkOrchestration(b *testing.B) {
	for _, n := range orchestrationSizes {
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) { benchOrchestration(b, n) })
	}
	writesSection()
	orchestrationNotes()
}

// coreLayout says how the orchestration runs shared the machine's cores.
var coreLayout string

var rounds = flag.Int("bench.rounds", 3, "orchestration: rounds of every run, each round on a fresh control plane; the fastest of each run counts")

// orchestrationRun is one row of the orchestration table: the bound with
// one client limit, or ytx on one transport set up one way.
type orchestrationRun struct {
	label string
	run   func(b *testing.B, cp *controlPlane, yt *fake.Server, o outcome) runResult
	// ytx, for ytx's runs: the transport and set-up it ran with.
	ytx *ytxRun
}

func orchestrationRuns(n int) []orchestrationRun {
	var runs []orchestrationRun
	for _, lim := range boundLimits {
		runs = append(runs, orchestrationRun{label: "bound, " + lim.name,
			run: func(b *testing.B, cp *controlPlane, _ *fake.Server, o outcome) runResult {
				return runBound(b, cp, o, n, lim)
			}})
	}
	for _, tr := range transports {
		for _, su := range setups {
			runs = append(runs, orchestrationRun{label: fmt.Sprintf("ytx (%s), %s", tr.name, su.name),
				run: func(b *testing.B, cp *controlPlane, yt *fake.Server, _ outcome) runResult {
					return runYtx(b, cp, tr, su, yt, n)
				},
				ytx: &ytxRun{transport: tr, setup: su}})
		}
	}
	return runs
}

// benchOrchestration measures every run for n extractions, -bench.rounds
// times, taking turns, each round on a fresh control plane and in another
// order: the machine's other load and the objects of earlier runs weigh on
// every run alike. The fastest of each run's rounds counts.
func benchOrchestration(b *testing.B, n int) {
	runs := orchestrationRuns(n)
	best := make([]runResult, len(runs))
	for round := range max(*rounds, 1) {
		b.Run(fmt.Sprintf("round=%d", round+1), func(b *testing.B) {
			cp := startControlPlane(b)
			undo, layout, err := pinCores(cp)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(undo)
			coreLayout = layout
			yt := startFakeYouTube(b)
			o := outcomeOf(b, yt, fake.ZooID)
			for k := range runs {
				i := (k + round) % len(runs)
				b.Run(strings.NewReplacer(" ", "_", ",", "", "(", "", ")", "").Replace(runs[i].label), func(b *testing.B) {
					r := runs[i].run(b, cp, yt, o)
					b.ReportMetric(r.t.throughput(), "extractions/s")
					if best[i].t.created == nil || r.t.throughput() > best[i].t.throughput() {
						best[i] = r
					}
				})
			}
		})
	}
	bounds := best[:len(boundLimits)] // orchestrationRuns lists the bounds first
	for i, run := range runs {
		r := best[i]
		if r.t.created == nil {
			continue // -bench left it out
		}
		reportRun(run.label, r, bounds)
		if run.ytx != nil {
			y := *run.ytx
			y.r = r
			ytxRuns = append(ytxRuns, y)
			var own runResult // the API server's own bound, when it is not the one held to
			if i, o := boundFor(y.setup), slices.IndexFunc(boundLimits, func(l boundLimit) bool { return l.limit == nil }); i != o {
				own = bounds[o]
			}
			ytxGoal(y.transport, y.setup, r, bounds[boundFor(y.setup)], own)
		}
	}
}

// boundFor is the index in boundLimits of the bound to hold su to: the one
// with su's client limit, or else the one with none.
func boundFor(su setup) int {
	for i, l := range boundLimits {
		if l.limit != nil && *l.limit == su.limit {
			return i
		}
	}
	return slices.IndexFunc(boundLimits, func(l boundLimit) bool { return l.limit == nil })
}

// ytxGoal records the goal for one ytx run: at least 0.8 of the
// bound with the same client limit. It also says the fraction of the API
// server's own bound (no client limit), which ytx's defaults are not held
// to but which says what its own limits cost.
func ytxGoal(tr transport, su setup, r, bound, own runResult) {
	if bound.t.created == nil {
		return // the bound did not run (-bench picked ytx alone)
	}
	f := r.t.throughput() / bound.t.throughput()
	also := ""
	if own.t.created != nil {
		also = fmt.Sprintf("; %.2f of the API server's own bound, with no client limit (%.1f extractions/s)", r.t.throughput()/own.t.throughput(), own.t.throughput())
	}
	results.goal(fmt.Sprintf("Orchestration, %s, %s, N=%d: at least 0.8 of the bound with the same client limit", tr.name, su.name, r.n), f >= 0.8,
		"%.2f (%.1f of %.1f extractions/s)%s", f, r.t.throughput(), bound.t.throughput(), also)
}

// runYtx measures ytx on transport tr, set up as su, for n extractions.
func runYtx(b *testing.B, cp *controlPlane, tr transport, su setup, yt *fake.Server, n int) runResult {
	ns := cp.namespace(b, "ytx-"+tr.name)
	requests := newRequestCounter()
	y := startYtx(b, cp, tr, su, ns, yt, requests)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	if y.ready != nil {
		if err := y.ready(ctx); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := apply(ctx, cp.admin, ns, "warm", fake.ZooID, warmUp, nil); err != nil {
		b.Fatalf("warm-up: %v", err)
	}
	requests.settled()
	requests.reset()
	cpu := startCPU(cp.processes())
	wait := profileAPIServer(b, cp, profileFor, fmt.Sprintf("apiserver-n%d-ytx-%s-%s", n, tr.name, su.name))
	t, err := apply(ctx, cp.admin, ns, "x", fake.ZooID, n, nil)
	busy := cpu.stop()
	wait()
	if err != nil {
		b.Fatal(err)
	}
	counts := requests.settled()
	y.stop(b)
	return runResult{n: n, t: t, requests: counts, cpu: busy}
}

// reportRun records a run's row, compared with the bounds that ran.
func reportRun(label string, r runResult, bounds []runResult) {
	tp := r.t.throughput()
	cells := []any{label, r.n, tp, r.t.latency(0.5), r.t.latency(0.95), r.t.latency(0.99),
		seconds(r.t.latencyTo(stageQueued, 0.5)) + ", " + seconds(r.t.latencyTo(stageRunning, 0.5)), writesPer(r.requests, r.n)}
	for _, bound := range bounds {
		if bound.t.created == nil || strings.HasPrefix(label, "bound") {
			cells = append(cells, "—")
			continue
		}
		cells = append(cells, tp/bound.t.throughput())
	}
	cells = append(cells,
		fmt.Sprintf("%.1f, %.1f", r.cpu.per(r.n, "kube-apiserver", "etcd"), r.cpu.per(r.n, "bench")),
		fmt.Sprintf("%.2f, %.2f", r.cpu.cores("kube-apiserver", "etcd"), r.cpu.cores("bench")))
	results.row(secOrchestration, orchestrationColumns, cells...)
}

func orchestrationNotes() {
	results.note(secOrchestration, "Every run runs %d times for each N, in rounds: each round on a fresh kube-apiserver and etcd (envtest), with kfake and the fake YouTube in this process, runs every run once, in an order that turns by one each round; "+
		"each row is its run's fastest round (its latencies are that round's). "+
		"%d clients create the N extractions (spec.url only: %s) at once, after %d warm-up extractions. "+
		"Throughput is N over the time from the first create to the last Complete; latency is from just before each create to when a watch first sees it Complete (and, for the medians to Queued and Running, first sees it there or beyond).",
		max(*rounds, 1), creators, fake.ZooID, warmUp)
	results.note(secOrchestration, "ytx is one manager and %d workers built by internal/app's NewManager and NewWorker, as `ytx manager` and `ytx worker` build them, "+
		"with their defaults (%s; the workers' concurrency is 8, not 4, so that two workers are not what bounds metadata-only jobs), "+
		"and with every limit of ytx's own raised so far that none binds (%s).", benchWorkers, defaults, unbound)
	results.note(secOrchestration, "The bound makes ytx's writes for the same N with plain clients and no operator: the create; on a manager client the finalizer (update), Queued (status) and its event; "+
		"on two worker clients Running (status), Succeeded (status, with the metadata and the info.json artifact) and their events; with the concurrency of ytx with its limits raised, passing objects in memory. "+
		"\"No client limit\" is the API server's own bound; \"ytx's default client limit\" gives each of those clients ytx's default QPS and burst, as each ytx process has. "+
		"Each ytx run's goal is against the bound with its client limit: the defaults against the second, ytx with its limits raised against the first.")
	results.note(secOrchestration, "Cores: %s (`make bench BENCH_ARGS=-bench.pin=false` lets them share). "+
		"Pinned, each side has its own cores, as in a cluster where the control plane runs on machines of its own: what ytx computes (Kafka, the fake YouTube and the metadata's parsing included) is not taken from the API server, "+
		"so the fraction of the bound measures what ytx costs the API server and how well it keeps it busy.", coreLayout)
	results.note(secOrchestration, "CPU is each process's CPU time during the run (from /proc); the bench process holds ytx, Kafka, the fake YouTube and the clients. "+
		"CPU per extraction moves little with the load of other programs on the machine; throughput and latency move a lot.")
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
	transport transport
	setup     setup
	r         runResult
}

// writesSection lists the API requests per extraction of every ytx run.
func writesSection() {
	if len(ytxRuns) == 0 {
		return
	}
	cols := []string{"process", "request"}
	per := make([]map[requestKind]float64, len(ytxRuns))
	var kinds []requestKind
	for i, run := range ytxRuns {
		cols = append(cols, fmt.Sprintf("%s, %s, N=%d", run.transport.name, run.setup.name, run.r.n))
		per[i] = map[requestKind]float64{}
		for _, l := range perExtraction(run.r.requests, run.r.n) {
			if !slices.Contains(kinds, l.kind) {
				kinds = append(kinds, l.kind)
			}
			per[i][l.kind] = l.per
		}
	}
	sortKinds(kinds)
	for _, k := range kinds {
		cells := []any{k.role, k.String()}
		for i := range ytxRuns {
			cells = append(cells, per[i][k])
		}
		results.row(secWrites, cols, cells...)
	}
	results.note(secWrites, "Requests of ytx's processes per extraction of the measured run, counted on their HTTP clients (watches, lists and discovery left out). "+
		"Writes (create, update, patch) each cost an etcd write; gets are the workers' uncached reads (the claim's, and the check before each store). "+
		"The benchmark's own create of each extraction is one more write, counted in the table above.")
}
