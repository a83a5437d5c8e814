// Package bench measures ytx as a whole on one machine, in one run, and
// writes the figures as one markdown report (`make bench`, which writes
// docs/benchmarks.md):
//
//   - Orchestration: metadata-only extractions applied at once to a real
//     kube-apiserver and etcd (envtest), carried by each transport (Kafka:
//     kfake) to workers that ask the fake YouTube; throughput and
//     create→Complete latency, next to the API server's own bound for the
//     same writes done by plain clients with no operator in the loop.
//   - Channel: one YouTubePlaylist of a 1,000-video channel (metadata
//     only) applied to `bin/ytx manager` and two `bin/ytx worker`
//     processes: the time to the listing, to every child created and
//     Succeeded, whether the per-namespace cap held, and the manager's and
//     the API server's memory.
//   - Downloads: a 500 MB stream from the fake YouTube (a child process)
//     fetched by the worker's download path, by Debian's yt-dlp and by curl,
//     all through the fake's CONNECT proxy and TLS.
//   - Worker memory: the real `bin/ytx worker` at --concurrency 32 running
//     64 extractions of large files at once: the memory of its whole
//     process tree (ffmpeg and yt-dlp included) at two file sizes, with
//     every stored file checked against its sha256.
//   - Scale: `bin/ytx manager` started against 10,000 finished extractions
//     (`make bench-scale`: 20,000 and 100,000), with no memory limit and in
//     a memory cgroup with the chart's limit: the time of its first full
//     resync, its memory and writes, the API server's and etcd's memory,
//     and the cost of one more extraction.
//
// Each benchmark records its figures (also with b.ReportMetric) in the
// package's report; TestMain prints it after the run and writes it to
// -bench.report. Benchmarks report numbers and assert none: the goals in
// the report say met or missed, they never fail the run.
//
// Run with -benchtime 1x: every benchmark is one measurement (or the best
// of a few, where it says so), not a loop.
package bench

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/go-logr/logr"
	"k8s.io/klog/v2"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
)

var reportPath = flag.String("bench.report", "", "also write the report (markdown) to this file, relative to the module's root, keeping its hand-written part")

// repoRoot is the module's root, for bin/.
var repoRoot = func() string {
	dir, err := filepath.Abs("../..")
	if err != nil {
		panic(err)
	}
	return dir
}()

func TestMain(m *testing.M) {
	flag.Parse()
	// The manager's and workers' logs would drown the figures; they are
	// not what is measured.
	logf.SetLogger(logr.Discard())
	klog.SetLogger(logr.Discard())
	results.start()
	code := m.Run()
	if results.empty() {
		os.Exit(code)
	}
	md := results.markdown()
	fmt.Print("\n" + md)
	if path := *reportPath; path != "" {
		if !filepath.IsAbs(path) {
			path = filepath.Join(repoRoot, path)
		}
		if err := writeReport(path, md); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			code = 1
		} else {
			fmt.Println("written to", path)
		}
	}
	os.Exit(code)
}
