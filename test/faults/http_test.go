package faults

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	v1alpha1 "ytx.dev/ytx/api/v1alpha1"
	"ytx.dev/ytx/internal/devenv"
	"ytx.dev/ytx/test/internal/balancer"
	"ytx.dev/ytx/test/internal/freeport"
)

// 11. The HTTP transport: kill -9 of workers mid-download, again and again,
// behind a stand-in for their Service. A killed worker's running attempt
// times out and is retried; the jobs it had queued in memory are lost with
// it, and the manager sends them again after --queued-timeout, without
// spending an attempt. Every extraction completes, none doubled.
func TestHTTPTransportWorkerKilled(t *testing.T) {
	n, kills := 6**scale, 3**scale
	workerNames := []string{"worker-a", "worker-b"}
	addrs := map[string]string{}
	for _, w := range workerNames {
		port, err := freeport.Get()
		if err != nil {
			t.Fatal(err)
		}
		addrs[w] = fmt.Sprintf("127.0.0.1:%d", port)
	}
	svc := startService(t, addrs)
	token, err := devenv.WriteJobToken(filepath.Join(t.TempDir(), "job-token"))
	if err != nil {
		t.Fatal(err)
	}
	s := newSystem(t, systemOptions{managerFlags: []string{"--transport", "http", "--worker-url", "http://" + svc, "--queued-timeout", "4s", "--job-token-file", token}})
	s.startManager("manager")
	workerFlags := func(name string) []string {
		return []string{"--transport", "http", "--jobs-bind-address", addrs[name], "--concurrency", "1", "--jobs-queue", "2", "--job-token-file", token}
	}
	for _, w := range workerNames {
		s.startWorker(w, workerFlags(w)...)
	}
	ids := clipVideos(t, n, 40_000)
	xs := make([]extraction, n)
	for i, name := range names("httpkill", n) {
		xs[i] = extraction{name: name, video: ids[i], spec: retries(10, audioM4A)}
	}
	s.apply(xs)
	cut := map[string]map[int32]bool{}
	done := 0
	for done < kills {
		var victim string
		if !waitUntil(30*time.Second, func() bool {
			for _, x := range s.list() {
				if downloadingOn(s, x) {
					victim = x.Status.Worker
					return true
				}
			}
			return false
		}) {
			break
		}
		s.worker(victim).kill()
		for _, x := range s.running(victim) {
			if cut[x.Name] == nil {
				cut[x.Name] = map[int32]bool{}
			}
			cut[x.Name][x.Status.Attempts] = true
		}
		done++
		time.Sleep(200 * time.Millisecond)
		s.startWorker(victim, workerFlags(victim)...)
	}
	for i := range xs {
		xs[i].want = want{phase: v1alpha1.PhaseSucceeded, attempts: 1 + int32(len(cut[xs[i].name]))}
	}
	r := s.settle("HTTP transport: worker kill -9", xs, done, within(3*time.Minute))
	resent := s.eventCount("Resent")
	table.note(r.scenario, fmt.Sprintf("%d attempts cut short and retried; %d lost queued jobs sent again", sum(cut), resent))
	// The scenario is about what a kill costs: no kill, no attempt cut
	// short or no job sent again means it tested nothing of that.
	if done == 0 {
		t.Error("no worker was killed mid-download: the downloads were over before the first kill")
		r.unexpected++
	}
	if sum(cut) == 0 {
		t.Error("no kill cut an attempt short: the running-attempt timeout and retry went untested")
		r.unexpected++
	}
	if resent == 0 {
		t.Errorf("no %q event: no job lost with a killed worker's queue was sent again after --queued-timeout", "Resent")
		r.unexpected++
	}
}

// startService is a stand-in for the workers' Service (see balancer).
func startService(t *testing.T, backends map[string]string) string {
	t.Helper()
	var addrs []string
	for _, a := range backends {
		addrs = append(addrs, a)
	}
	addr, stop, err := balancer.Start(addrs)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	return addr
}
