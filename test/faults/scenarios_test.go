package faults

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/types"

	v1alpha1 "ytx.dev/ytx/api/v1alpha1"
	"ytx.dev/ytx/internal/job"
	"ytx.dev/ytx/internal/youtube/fake"
	"ytx.dev/ytx/workers"
)

// Faster failover than production's defaults, so that each kill costs
// seconds: a dead worker's partitions move after 6 s (the brokers'
// minimum session timeout).
var fastGroup = []string{"--kafka-session-timeout", "6s"}

// clipVideos adds n videos with real media to the fake, their media served
// at bytesPerSecond (0: full speed), and returns their IDs.
func clipVideos(t *testing.T, n int, bytesPerSecond int64) []string {
	t.Helper()
	ids := make([]string, n)
	for i := range ids {
		ids[i] = videoID()
		v, err := fake.ClipVideo(ids[i], fmt.Sprintf("Fault clip %d", i), clips)
		if err == nil {
			err = youTube.AddVideo(v)
		}
		if err != nil {
			t.Fatal(err)
		}
		youTube.Throttle(ids[i], bytesPerSecond)
	}
	return ids
}

// videoID makes a fresh 11-character video ID.
func videoID() string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, 11)
	for i := range b {
		b[i] = alphabet[rand.IntN(len(alphabet))]
	}
	return string(b)
}

func audioM4A(s *v1alpha1.YouTubeExtractionSpec) {
	s.Audio = &v1alpha1.AudioSpec{Format: v1alpha1.AudioM4A}
	s.Thumbnail = true
}

func retries(n int32, next func(*v1alpha1.YouTubeExtractionSpec)) func(*v1alpha1.YouTubeExtractionSpec) {
	return func(s *v1alpha1.YouTubeExtractionSpec) {
		s.Retry = &v1alpha1.RetrySpec{MaxAttempts: n}
		if next != nil {
			next(s)
		}
	}
}

// 1. kill -9 of a worker mid-download, again and again. Every extraction
// completes, no file is left behind, and status.attempts counts exactly the
// attempts that the kills cut short (each one timed out by the controller).
func TestWorkerKilledMidDownload(t *testing.T) {
	n, kills := 6**scale, 4**scale
	s := newSystem(t, systemOptions{workerFlags: fastGroup})
	s.startManager("manager")
	workerNames := []string{"worker-a", "worker-b", "worker-c"}
	for _, w := range workerNames {
		s.startWorker(w)
	}
	ids := clipVideos(t, n, 40_000)
	xs := make([]extraction, n)
	for i, name := range names("kill9", n) {
		xs[i] = extraction{name: name, video: ids[i], spec: retries(10, audioM4A)}
	}
	s.apply(xs)

	// The attempts cut short, by extraction. A restarted worker keeps its
	// name, so an attempt still shown Running on it at a later kill (the
	// controller has not timed it out yet) is the same attempt.
	cut := map[string]map[int32]bool{}
	done := 0
	for done < kills {
		var victim string
		found := waitUntil(30*time.Second, func() bool {
			for _, x := range s.list() {
				if downloadingOn(s, x) {
					victim = x.Status.Worker
					return true
				}
			}
			return false
		})
		if !found {
			break // nothing left downloading
		}
		s.worker(victim).kill()
		// Read after the kill: a dead worker writes nothing more, so what
		// is Running on it now is exactly what its death cuts short.
		for _, x := range s.running(victim) {
			if cut[x.Name] == nil {
				cut[x.Name] = map[int32]bool{}
			}
			cut[x.Name][x.Status.Attempts] = true
		}
		done++
		time.Sleep(200 * time.Millisecond)
		s.startWorker(victim)
	}
	for i := range xs {
		xs[i].want = want{phase: v1alpha1.PhaseSucceeded, attempts: 1 + int32(len(cut[xs[i].name]))}
	}
	s.settle("worker kill -9 mid-download", xs, done, within(3*time.Minute), fmt.Sprintf("%d attempts cut short, each retried", sum(cut)))
	if done == 0 {
		t.Error("no worker was killed: the downloads were over before the first kill")
	}
}

// downloadingOn reports whether x is mid-download on a live worker: bytes
// have moved, and the worker process that heart-beat last is the one
// running now (not an earlier, killed one of the same name).
func downloadingOn(s *system, x *v1alpha1.YouTubeExtraction) bool {
	st := x.Status
	if st.Phase != v1alpha1.PhaseRunning || st.Progress == nil || st.Progress.BytesDone == 0 || st.LastHeartbeatTime == nil {
		return false
	}
	p := s.worker(st.Worker)
	return p != nil && p.alive() && st.LastHeartbeatTime.After(p.started)
}

func sum(m map[string]map[int32]bool) int {
	n := 0
	for _, v := range m {
		n += len(v)
	}
	return n
}

// Fast leader failover: a standby takes over 4 s after the leader died.
var fastLease = []string{"--leader-election-lease-duration", "4s", "--leader-election-renew-deadline", "3s", "--leader-election-retry-period", "500ms"}

// 1b. A worker in a crash loop: killed again within a second or so of each
// start, while it joins the consumer group or takes its first jobs. The
// group must not leave a partition with a member that died joining.
func TestWorkerCrashLoop(t *testing.T) {
	n, kills := 8**scale, 6**scale
	s := newSystem(t, systemOptions{workerFlags: fastGroup})
	s.startManager("manager")
	workerNames := []string{"worker-a", "worker-b", "worker-c"}
	for _, w := range workerNames {
		s.startWorker(w)
	}
	ids := clipVideos(t, n, 40_000)
	xs := make([]extraction, n)
	for i, name := range names("loop", n) {
		xs[i] = extraction{name: name, video: ids[i], spec: retries(10, audioM4A), want: want{phase: v1alpha1.PhaseSucceeded}}
	}
	s.apply(xs)
	for i := range kills {
		name := workerNames[i%len(workerNames)]
		time.Sleep(time.Duration(rand.IntN(1500)) * time.Millisecond)
		s.worker(name).kill()
		s.startWorker(name)
	}
	r := s.settle("worker crash loop", xs, kills, within(3*time.Minute))
	table.note(r.scenario, s.reaped())
}

// 2. SIGTERM to a worker, as the kubelet sends it: it stops taking jobs,
// finishes or hands back its in-flight ones within --shutdown-grace, and
// exits. Hand-backs cost no attempt, and no job it finished is delivered
// again.
func TestWorkerTerminated(t *testing.T) {
	n, terms := 6**scale, 2**scale
	const grace = 3 * time.Second // the harness's --shutdown-grace
	s := newSystem(t, systemOptions{workerFlags: fastGroup})
	s.startManager("manager")
	s.startWorker("worker-a")
	s.startWorker("worker-b")
	// Half the downloads take about 2 s and finish within the grace; the
	// others take about 8 s and are handed back.
	ids := append(clipVideos(t, n/2, 40_000), clipVideos(t, n-n/2, 10_000)...)
	xs := make([]extraction, n)
	for i, name := range names("term", n) {
		xs[i] = extraction{name: name, video: ids[i], spec: audioM4A, want: want{phase: v1alpha1.PhaseSucceeded, attempts: 1}}
	}
	s.apply(xs)

	var stopped []*process
	var slowest time.Duration
	for range terms {
		// The worker started in place of the last one stopped joins the
		// group first: a rebalance that cuts into a drain may hand a
		// finished job to another worker before its commit (see below),
		// and the check after the loop is about SIGTERM alone.
		if !waitUntil(30*time.Second, func() bool { return s.groupStable(2) }) {
			t.Fatalf("the consumer group did not settle with 2 workers: %s", s.groupState())
		}
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
		p := s.worker(victim)
		took, err := p.terminate(grace + 15*time.Second)
		if err != nil {
			t.Error(err)
		}
		if took > grace+5*time.Second {
			t.Errorf("%s took %s to stop after SIGTERM; --shutdown-grace is %s", victim, took, grace)
		}
		slowest = max(slowest, took)
		stopped = append(stopped, p)
		s.startWorker(victim)
	}
	r := s.settle("worker SIGTERM", xs, len(stopped), within(3*time.Minute))
	// What a stopped worker finished, it committed before it exited: no
	// other worker is handed the same message afterwards. (A rebalance
	// while it drains, another worker joining, may hand a finished message
	// to someone else before the commit could cover it: Kafka commits one
	// offset per partition, behind the oldest unfinished message. The
	// claim drops it, so nothing runs twice; the table counts them.)
	during := 0
	for _, p := range stopped {
		// Every job the stopped worker claimed, it ended (finished, failed
		// or handed back) or abandoned before it exited: the lines read
		// below are there, so finding no drop after them means something.
		// It was downloading when it was stopped, so it claimed one at
		// least.
		claimed := s.book.from(p, workers.LogClaimed)
		if len(claimed) == 0 {
			t.Errorf("%s was stopped mid-download, yet logged no %q line", p.name, workers.LogClaimed)
			r.unexpected++
		}
		for _, c := range claimed {
			if !s.book.endedBy(p, c) {
				t.Errorf("%s claimed %s and exited without a %q (or %q) line for it", p.name, c.str(workers.KeyJob), workers.LogEnded, workers.LogAbandoned)
				r.unexpected++
			}
		}
		for _, end := range s.book.from(p, workers.LogEnded) {
			if end.str(workers.KeyReason) == v1alpha1.ReasonHandedBack {
				continue
			}
			for _, drop := range s.book.with(workers.LogDropped) {
				switch {
				case drop.str(workers.KeyJob) != end.str(workers.KeyJob) || !drop.ts.After(end.ts):
					continue
				case drop.ts.After(p.exited):
					t.Errorf("%s finished %s and exited, yet %s was given it again (%s)", p.name, end.str(workers.KeyJob), drop.proc, drop.str(workers.KeyWhy))
					r.unexpected++
				default:
					during++
				}
				break
			}
		}
	}
	table.note(r.scenario, fmt.Sprintf("slowest exit %s (grace %s); %d attempts handed back; %d finished jobs seen again during a drain a rebalance cut into, each dropped at the claim",
		slowest.Round(100*time.Millisecond), grace, len(s.book.with(workers.LogEnded, workers.KeyReason, v1alpha1.ReasonHandedBack)), during))
	if len(stopped) == 0 {
		t.Error("no worker was stopped while downloading")
	}
}

// 3a. kill -9 of the manager while it publishes, again and again. The
// successor publishes what its predecessor wrote Queued but may not have
// published; a duplicate is claimed once. No attempt is spent.
func TestManagerKilledWhilePublishing(t *testing.T) {
	rounds, per := 3**scale, 4
	s := newSystem(t, systemOptions{managerFlags: fastLease})
	s.startManager("manager")
	s.startWorker("worker-a")
	s.startWorker("worker-b")
	var xs []extraction
	for round := range rounds {
		ids := clipVideos(t, per, 0)
		batch := make([]extraction, per)
		for i := range batch {
			batch[i] = extraction{name: fmt.Sprintf("pub-%d-%d", round, i), video: ids[i], spec: audioM4A, want: want{phase: v1alpha1.PhaseSucceeded, attempts: 1}}
		}
		s.apply(batch)
		xs = append(xs, batch...)
		time.Sleep(time.Duration(rand.IntN(300)) * time.Millisecond)
		s.manager("manager").kill()
		s.startManager("manager")
	}
	r := s.settle("manager kill -9 while publishing", xs, rounds, within(3*time.Minute))
	table.note(r.scenario, fmt.Sprintf("%d claims for %d extractions", len(s.book.with(workers.LogClaimed)), len(xs)))
	s.claimedOnce(xs)
}

// 3b. Two managers with leader election; the leader is killed. The standby
// takes over and every extraction completes.
func TestLeaderKilled(t *testing.T) {
	n := 6 * *scale
	s := newSystem(t, systemOptions{managerFlags: fastLease})
	s.startManager("manager-a")
	leader := s.waitLeader()
	s.startManager(other(leader, "manager-a", "manager-b"))
	s.startWorker("worker-a")
	s.startWorker("worker-b")
	ids := clipVideos(t, n, 0)
	xs := make([]extraction, n)
	for i, name := range names("leader", n) {
		xs[i] = extraction{name: name, video: ids[i], spec: audioM4A, want: want{phase: v1alpha1.PhaseSucceeded, attempts: 1}}
	}
	s.apply(xs[:n/2])
	time.Sleep(100 * time.Millisecond)
	s.manager(leader).kill()
	s.apply(xs[n/2:])
	next := s.waitLeader()
	s.settle("leader manager kill -9", xs, 1, within(2*time.Minute), fmt.Sprintf("%s took over from %s", next, leader))
	s.claimedOnce(xs)
}

// leaseAcquired is what client-go's leader election logs when a manager
// becomes the leader (k8s.io/client-go/tools/leaderelection). Not ours to
// share as a constant: if a new client-go words it otherwise, waitLeader
// fails, saying what it looked for.
const leaseAcquired = "Successfully acquired lease"

// waitLeader returns the manager that holds the lease now.
func (s *system) waitLeader() string {
	s.t.Helper()
	var name string
	if !waitUntil(30*time.Second, func() bool {
		for _, l := range s.book.with(leaseAcquired) {
			if p := s.manager(l.proc); p != nil && p.alive() && !l.ts.Before(p.started) {
				name = l.proc
			}
		}
		return name != ""
	}) {
		s.t.Fatalf("no manager logged %q within 30s: none became leader, or client-go words it otherwise now", leaseAcquired)
	}
	return name
}

func other(name, a, b string) string {
	if name == a {
		return b
	}
	return a
}

// claimedOnce checks that every attempt was claimed by exactly one worker,
// and that each Succeeded extraction's final attempt was claimed: a count
// of zero claims is a check that saw nothing, not a pass.
func (s *system) claimedOnce(xs []extraction) {
	claims := map[string]int{}
	for _, l := range s.book.with(workers.LogClaimed) {
		claims[l.str(workers.KeyJob)]++
	}
	for job, n := range claims {
		if n > 1 {
			s.t.Errorf("%s was claimed %d times", job, n)
		}
	}
	final := s.list()
	for _, e := range xs {
		x := final[e.name]
		if x == nil || x.Status.Phase != v1alpha1.PhaseSucceeded {
			continue // settle reported it
		}
		if job := finalClaim(x); claims[job] == 0 {
			s.t.Errorf("%s Succeeded, yet no worker logged %q for %s", e.name, workers.LogClaimed, job)
		}
	}
}

// 4. The Kafka broker is down for 30 s while extractions are applied. They
// wait Pending with a condition that says why, and all complete once it is
// back; the outage costs no attempt.
func TestKafkaDown(t *testing.T) {
	n := 6 * *scale
	const outage = 30 * time.Second
	s := newSystem(t, systemOptions{workerFlags: fastGroup})
	s.startManager("manager")
	s.startWorker("worker-a")
	s.startWorker("worker-b")
	ids := clipVideos(t, n, 0)
	xs := make([]extraction, n)
	for i, name := range names("kafka", n) {
		xs[i] = extraction{name: name, video: ids[i], spec: audioM4A, want: want{phase: v1alpha1.PhaseSucceeded, attempts: 1}}
	}
	// The outage is for running processes (test/startup covers a broker
	// that is not there yet), so wait until the manager leads and both
	// workers are in the group.
	s.waitLeader()
	if !waitUntil(30*time.Second, func() bool { return s.groupStable(2) }) {
		t.Fatalf("the consumer group did not settle with 2 workers: %s", s.groupState())
	}
	broker.p.kill()
	down := time.Now()
	s.apply(xs)
	explained := map[string]bool{}
	waitUntil(outage-2*time.Second, func() bool {
		for _, x := range s.list() {
			c := meta.FindStatusCondition(x.Status.Conditions, v1alpha1.ConditionQueued)
			if x.Status.Phase == v1alpha1.PhasePending && c != nil && c.Reason == v1alpha1.ReasonPublishFailed && strings.Contains(c.Message, s.kafka.Topic) {
				explained[x.Name] = true
			}
		}
		return len(explained) == n
	})
	if len(explained) != n {
		t.Errorf("only %d of %d extractions said why they waited (Queued=False, reason PublishFailed, naming the topic)", len(explained), n)
	}
	time.Sleep(time.Until(down.Add(outage)))
	if err := broker.start(); err != nil {
		t.Fatal(err)
	}
	s.settle("Kafka broker down 30 s", xs, 1, within(2*time.Minute), fmt.Sprintf("%d of %d said PublishFailed while it was down", len(explained), n))
}

// 5. kube-apiserver restarts (etcd stays). Managers and workers ride it
// out without restarting, and running jobs finish in their attempt.
func TestAPIServerRestart(t *testing.T) {
	n := 6 * *scale
	// A heartbeat timeout longer than the outage, so that it is not taken
	// for dead workers, and a renew deadline well beyond it, so that the
	// leader keeps its lease even on a loaded machine (an outage longer
	// than the renew deadline, 10 s by default, makes the leader step down
	// and exit, to be restarted by the kubelet: nothing lost, but a
	// restart).
	s := newSystem(t, systemOptions{managerFlags: []string{"--heartbeat-timeout", "60s",
		"--leader-election-lease-duration", "60s", "--leader-election-renew-deadline", "45s", "--leader-election-retry-period", "2s"}})
	s.startManager("manager")
	s.startWorker("worker-a")
	s.startWorker("worker-b")
	ids := clipVideos(t, n, 30_000)
	xs := make([]extraction, n)
	for i, name := range names("api", n) {
		xs[i] = extraction{name: name, video: ids[i], spec: audioM4A, want: want{phase: v1alpha1.PhaseSucceeded, attempts: 1}}
	}
	s.apply(xs)
	if !waitUntil(30*time.Second, func() bool {
		for _, x := range s.list() {
			if downloadingOn(s, x) {
				return true
			}
		}
		return false
	}) {
		t.Fatal("nothing started downloading")
	}
	away, err := plane.restartAPIServer(2 * time.Second)
	if err != nil {
		t.Fatalf("restarting kube-apiserver: %v", err)
	}
	s.settle("kube-apiserver restart", xs, 1, within(2*time.Minute), fmt.Sprintf("API server away %s; no process restarted", away.Round(100*time.Millisecond)))
}

// 6. The S3 server dies mid-transfer and comes back. The attempts that hit
// the outage end as transient StorageFailed, are retried, and complete.
//
// An outage that hits no upload proves nothing, and when one hits is a
// matter of timing (the S3 client retries for some seconds before it gives
// up), so the server stays down until an attempt has failed StorageFailed
// (at most a minute), then comes back.
func TestS3Down(t *testing.T) {
	n := 6 * *scale
	s := newSystem(t, systemOptions{s3: true})
	s.startManager("manager")
	s.startWorker("worker-a")
	s.startWorker("worker-b")
	ids := clipVideos(t, n, 60_000)
	xs := make([]extraction, n)
	for i, name := range names("s3", n) {
		xs[i] = extraction{name: name, video: ids[i], spec: retries(10, audioM4A), want: want{phase: v1alpha1.PhaseSucceeded}}
	}
	s.apply(xs)
	if !waitUntil(30*time.Second, func() bool {
		for _, x := range s.list() {
			if downloadingOn(s, x) {
				return true
			}
		}
		return false
	}) {
		t.Fatal("nothing started downloading")
	}
	s3.Kill()
	down := time.Now()
	hit := waitUntil(time.Minute, func() bool {
		for _, x := range s.list() {
			if f := x.Status.LastFailure; f != nil && f.Reason == v1alpha1.ReasonStorageFailed {
				return true
			}
		}
		return false
	})
	if err := s3.Restart(); err != nil {
		t.Fatal(err)
	}
	away := time.Since(down)
	if !hit {
		t.Errorf("S3 was down %s and no attempt failed StorageFailed: the outage hit no upload", away.Round(time.Second))
	}
	retried := 0
	note := fmt.Sprintf("down %s, until an upload failed", away.Round(100*time.Millisecond))
	if !hit {
		note = fmt.Sprintf("down %s; no upload failed", away.Round(100*time.Millisecond))
	}
	r := s.settle("S3 down", xs, 1, within(2*time.Minute), note)
	defer func() { table.note(r.scenario, fmt.Sprintf("%d retried after StorageFailed", retried)) }()
	for _, x := range s.list() {
		if f := x.Status.LastFailure; f != nil {
			retried++
			if f.Reason != v1alpha1.ReasonStorageFailed {
				t.Errorf("%s: attempt %d failed with %s, want StorageFailed: %s", x.Name, f.Attempt, f.Reason, f.Message)
			}
		}
	}
	if retried == 0 {
		t.Error("no extraction ended with a StorageFailed attempt behind it: the outage was not seen to cost anything")
		r.unexpected++
	}
}

// 7. A worker hangs (SIGSTOP) mid-download: its heartbeat stops, the
// manager times the attempt out, another worker runs the next attempt. When
// the hung worker wakes, it cannot overwrite the newer attempt's result.
func TestWorkerHangs(t *testing.T) {
	runs := *scale
	s := newSystem(t, systemOptions{workerFlags: fastGroup})
	s.startManager("manager")
	s.startWorker("worker-a")
	s.startWorker("worker-b")
	var xs []extraction
	abandoned := 0
	for run := range runs {
		id := clipVideos(t, 1, 20_000)[0]
		x := extraction{name: fmt.Sprintf("hang-%d", run), video: id, spec: audioM4A, want: want{phase: v1alpha1.PhaseSucceeded, attempts: 2, lastFailure: v1alpha1.ReasonTimeout}}
		xs = append(xs, x)
		s.apply([]extraction{x})
		var victim string
		if !waitUntil(30*time.Second, func() bool {
			got := s.list()[x.name]
			if got != nil && downloadingOn(s, got) {
				victim = got.Status.Worker
				return true
			}
			return false
		}) {
			t.Fatalf("%s did not start downloading", x.name)
		}
		p := s.worker(victim)
		p.signal(syscall.SIGSTOP)
		// The next attempt runs elsewhere at full speed.
		youTube.Throttle(id, 0)
		if !waitUntil(90*time.Second, func() bool {
			got := s.list()[x.name]
			return got != nil && got.Status.Phase == v1alpha1.PhaseSucceeded
		}) {
			p.signal(syscall.SIGCONT)
			t.Fatalf("%s did not complete while %s hung: %s", x.name, victim, describe(s.list()[x.name]))
		}
		p.signal(syscall.SIGCONT)
		if waitUntil(20*time.Second, func() bool {
			for _, l := range s.book.from(p, workers.LogAbandoned) {
				if strings.HasPrefix(l.str(workers.KeyJob), jobName(s.ns, x.name)+" ") {
					return true
				}
			}
			return false
		}) {
			abandoned++
		} else {
			t.Errorf("%s woke and did not abandon %s's stale attempt", victim, x.name)
		}
	}
	s.settle("worker SIGSTOP (hangs)", xs, runs, within(time.Minute), fmt.Sprintf("%d woken workers abandoned their stale attempt", abandoned))
}

// 8. Duplicate, out-of-order and stale messages, and garbage: truncated,
// unknown-version, oversized and random ones, injected into the job topic
// beside the controller's. The poison goes to the dead-letter topic, each
// message once; the rest is dropped or claimed once; no worker crashes and
// no partition is left behind.
func TestPoisonAndDuplicateMessages(t *testing.T) {
	n := 6 * *scale
	s := newSystem(t, systemOptions{})
	s.startManager("manager")
	s.startWorker("worker-a")
	s.startWorker("worker-b")
	// The fault here is the messages, not a rebalance: one that hands a
	// partition over while an earlier job of it runs gives the next owner
	// a poison message already dead-lettered (Kafka commits one offset per
	// partition), and it is written again.
	if !waitUntil(30*time.Second, func() bool { return s.groupStable(2) }) {
		t.Fatalf("the group did not settle with 2 workers: %s", s.groupState())
	}
	ids := clipVideos(t, n, 0)
	xs := make([]extraction, n)
	for i, name := range names("poison", n) {
		xs[i] = extraction{name: name, video: ids[i], spec: audioM4A, want: want{phase: v1alpha1.PhaseSucceeded, attempts: 1}}
	}
	created := s.apply(xs)

	w := &kafka.Writer{Addr: kafka.TCP(broker.addr), Topic: s.kafka.Topic, Balancer: &kafka.Hash{}, RequiredAcks: kafka.RequireAll, BatchTimeout: time.Millisecond, Transport: s.wire}
	defer w.Close()
	var msgs []kafka.Message
	put := func(key string, value []byte) { msgs = append(msgs, kafka.Message{Key: []byte(key), Value: value}) }
	poison := 0
	for i, x := range created {
		m := job.Message{Namespace: x.Namespace, Name: x.Name, UID: x.UID, Generation: 1, Attempt: 1}
		good, _ := job.Encode(m)
		put(m.Key(), good) // a duplicate of what the controller sends
		future := m
		future.Attempt = 2
		v, _ := job.Encode(future)
		put(m.Key(), v) // an attempt that does not exist (yet)
		stale := m
		stale.UID = types.UID(fmt.Sprintf("00000000-0000-0000-0000-%012d", i))
		v, _ = job.Encode(stale)
		put(m.Key(), v)                                                         // a resource of the same name that was deleted
		put(m.Key(), good[:len(good)/2])                                        // truncated
		put(m.Key(), bytes.Replace(good, []byte(`"v":1`), []byte(`"v":99`), 1)) // unknown version
		poison += 2
	}
	for i := range 3 * *scale {
		junk := make([]byte, 1+rand.IntN(300))
		for j := range junk {
			junk[j] = byte(rand.IntN(256))
		}
		put(fmt.Sprintf("junk-%d", i), junk)
		poison++
	}
	put("huge", bytes.Repeat([]byte("x"), job.MaxSize+1))
	poison++
	rand.Shuffle(len(msgs), func(i, j int) { msgs[i], msgs[j] = msgs[j], msgs[i] })
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		t.Fatal(err)
	}

	r := s.settle("duplicate, stale and poison messages", xs, len(msgs), within(2*time.Minute))
	s.claimedOnce(xs)
	// Each extraction got three messages that must lead to no work (a
	// duplicate of attempt 1, attempt 2, another UID) besides the one the
	// controller sent: one of the two good ones is claimed, the others
	// dropped, and the drops are logged. A message behind the claimed one
	// in its partition is dropped after the extraction has succeeded, so
	// settling does not mean its line is written yet: wait for it a while.
	waitUntil(within(20*time.Second), func() bool {
		for _, x := range created {
			if dropped, _ := s.book.of(x, workers.LogDropped); len(dropped) < 3 {
				return false
			}
		}
		return true
	})
	drops := 0
	for _, x := range created {
		dropped, bad := s.book.of(x, workers.LogDropped)
		for _, b := range bad {
			t.Error(b)
		}
		drops += len(dropped)
		if len(dropped) < 3 {
			t.Errorf("%s: %d %q lines, want 3 at least (the duplicate, the future attempt, the other UID)", x.Name, len(dropped), workers.LogDropped)
			r.unexpected++
		}
	}
	dead := s.countTopic(s.kafka.DeadLetterTopic)
	if dead != poison {
		t.Errorf("%d messages in the dead-letter topic, want the %d poison ones", dead, poison)
		r.unexpected++
	}
	var lag map[int]int64
	if !waitUntil(30*time.Second, func() bool {
		var err error
		lag, err = s.lag(ctx)
		return err == nil && sumLag(lag) == 0
	}) {
		t.Errorf("partitions left behind (uncommitted messages by partition): %v", lag)
		r.unexpected++
	}
	table.note(r.scenario, fmt.Sprintf("%d poison → %d dead letters; %d dropped at the claim; lag at the end %d", poison, dead, drops, sumLag(lag)))
}

func sumLag(lag map[int]int64) int64 {
	var n int64
	for _, v := range lag {
		n += v
	}
	return n
}

// countTopic counts the messages in every partition of topic.
func (s *system) countTopic(topic string) int {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	md, err := s.kafkaClient().Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil || len(md.Topics) == 0 {
		s.t.Fatalf("reading %s: %v", topic, err)
	}
	var ask []kafka.OffsetRequest
	for _, p := range md.Topics[0].Partitions {
		ask = append(ask, kafka.FirstOffsetOf(p.ID), kafka.LastOffsetOf(p.ID))
	}
	res, err := s.kafkaClient().ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{topic: ask}})
	if err != nil {
		s.t.Fatal(err)
	}
	n := 0
	for _, p := range res.Topics[topic] {
		n += int(p.LastOffset - p.FirstOffset)
	}
	return n
}

// 9. A misbehaving YouTube: bursts of 429 and 5xx, slow answers, cut
// bodies, a lying content length, a persistent 403. Bursts are retried
// within bounds and complete; what does not mend fails with a reason code;
// and the requests per video stay bounded (no hot loop).
func TestYouTubeMisbehaves(t *testing.T) {
	s := newSystem(t, systemOptions{})
	s.startManager("manager")
	s.startWorker("worker-a")
	s.startWorker("worker-b")
	type fault struct {
		name   string
		inject func(id string)
		want   want
		// kind and bound: at most this many requests of the kind for the
		// video, over every attempt.
		kind  fake.Kind
		bound int64
	}
	exhausted := want{phase: v1alpha1.PhaseFailed, reason: v1alpha1.ReasonAttemptsExhausted, lastFailure: v1alpha1.ReasonDownloadFailed, attempts: 3}
	// yt-dlp asks the player as one client or more, each after the other
	// when one fails (two, TVHTML5 and VISIONOS, once deno lets it solve
	// the TV client's challenges): the faults that must outlast an attempt
	// are sized from what a healthy extraction asks.
	k := s.ytdlpPlayerClients()
	faults := []fault{
		// kkdai's 429 falls back to yt-dlp, whose clients get the others:
		// the attempt ends RateLimited, the next (after the rate-limited
		// backoff) succeeds.
		{"player 429 for each client", func(id string) { youTube.FailPlayer(id, 429, 1+k) }, want{phase: v1alpha1.PhaseSucceeded, lastFailure: v1alpha1.ReasonRateLimited, attempts: 2}, fake.KindPlayer, int64(2*(1+k) + 2)},
		// A bot check for kkdai's two player requests (its own client,
		// then the embedded player) and each of yt-dlp's: RateLimited,
		// then the next attempt succeeds without spending one of the three.
		{"bot check on the first attempt", func(id string) { youTube.BotCheck(id, 2+k) }, want{phase: v1alpha1.PhaseSucceeded, lastFailure: v1alpha1.ReasonRateLimited, attempts: 2}, fake.KindPlayer, int64(3 + 2*k)},
		// Each attempt: kkdai once, then yt-dlp, which tries its API page
		// four times for each client.
		{"player 503 always", func(id string) { youTube.FailPlayer(id, 503, fake.Forever) }, exhausted, fake.KindPlayer, int64(3 * (1 + 4*k))},
		{"player held 3 s", func(id string) {
			release := youTube.Hold(id)
			time.AfterFunc(3*time.Second, release)
		}, want{phase: v1alpha1.PhaseSucceeded, attempts: 1}, fake.KindPlayer, 2},
		{"media 503 three times", func(id string) { youTube.FailMedia(id, 0, 503, 3) }, want{phase: v1alpha1.PhaseSucceeded, attempts: 1}, fake.KindMedia, 12},
		{"media cut mid-body twice", func(id string) {
			youTube.Inject(fake.Fault{Kind: fake.KindMedia, VideoID: id, CutAfter: 2000, Times: 2})
		}, want{phase: v1alpha1.PhaseSucceeded, attempts: 1}, fake.KindMedia, 12},
		{"media slow (40 KB/s)", func(id string) { youTube.Throttle(id, 40_000) }, want{phase: v1alpha1.PhaseSucceeded, attempts: 1}, fake.KindMedia, 12},
		{"media 403 always", func(id string) { youTube.FailMedia(id, 0, 403, fake.Forever) },
			want{phase: v1alpha1.PhaseFailed, reason: v1alpha1.ReasonForbidden, attempts: 1}, fake.KindMedia, 12},
		{"content length larger than the stream", func(id string) { lieAboutLength(t, id) }, exhausted, fake.KindMedia, 36},
	}
	var xs []extraction
	vids := map[string]string{}
	for i, f := range faults {
		id := clipVideos(t, 1, 0)[0]
		f.inject(id)
		name := fmt.Sprintf("youtube-%d", i)
		vids[name] = id
		xs = append(xs, extraction{name: name, video: id, spec: audioM4A, want: f.want})
	}
	s.apply(xs)
	r := s.settle("YouTube misbehaves", xs, len(faults), 3*time.Minute)
	var counts []string
	for i, f := range faults {
		got := youTube.RequestsFor(f.kind, vids[xs[i].name])
		counts = append(counts, fmt.Sprintf("%s: %d %s", f.name, got, f.kind))
		switch {
		case got > f.bound:
			t.Errorf("%s: %d %s requests, want at most %d (a retry loop?)", f.name, got, f.kind, f.bound)
			r.unexpected++
		case got == 0:
			// Every extraction asks at least once: a count of 0 is a
			// counter that saw nothing, and a bound it cannot break.
			t.Errorf("%s: no %s request counted for video %s", f.name, f.kind, vids[xs[i].name])
			r.unexpected++
		}
	}
	youTube.ClearFaults()
	table.note(r.scenario, "requests: "+strings.Join(counts, ", "))
}

// ytdlpPlayerClients runs one extraction of m4a whose first player
// request (kkdai's) fails with a 503, so that yt-dlp serves it, and returns
// how many clients yt-dlp asked the player as.
func (s *system) ytdlpPlayerClients() int {
	s.t.Helper()
	id := clipVideos(s.t, 1, 0)[0]
	youTube.FailPlayer(id, 503, 1)
	x := extraction{name: "youtube-healthy", video: id, spec: audioM4A, want: want{phase: v1alpha1.PhaseSucceeded, attempts: 1}}
	s.apply([]extraction{x})
	s.waitPhase([]extraction{x}, v1alpha1.PhaseSucceeded, time.Minute)
	clients := map[string]bool{}
	for _, q := range youTube.RequestLog() {
		if q.Kind == fake.KindPlayer && q.VideoID == id && !slices.Contains(fake.KKDAIClients, q.Client) {
			clients[q.Client] = true
		}
	}
	if len(clients) == 0 {
		s.t.Fatalf("a healthy extraction of %s asked the player as no yt-dlp client: did yt-dlp serve it?", id)
	}
	s.t.Logf("yt-dlp asks the player as %d clients: %v", len(clients), slices.Sorted(maps.Keys(clients)))
	return len(clients)
}

// lieAboutLength makes the fake's answer for video id claim an audio
// stream 4 KiB longer than it is.
func lieAboutLength(t *testing.T, id string) {
	t.Helper()
	v, err := fake.ClipVideo(id, "A lying clip", clips)
	if err != nil {
		t.Fatal(err)
	}
	for i := range v.Formats {
		if v.Formats[i].Itag == 140 {
			v.Formats[i].WrongContentLength = v.Formats[i].Media.Size() + 4096
		}
	}
	if err := youTube.AddVideo(v); err != nil {
		t.Fatal(err)
	}
}

// 10. A huge batch: 1,000 extractions applied at once in one namespace.
// The manager neither crashes nor passes the memory limit the chart gives
// it (256 MiB); every extraction completes.
func TestHugeBatch(t *testing.T) {
	const limitMiB = 256
	n := 1000
	s := newSystem(t, systemOptions{})
	m := s.startManager("manager")
	s.startWorker("worker-a", "--concurrency", "8")
	s.startWorker("worker-b", "--concurrency", "8")
	xs := make([]extraction, n)
	for i, name := range names("batch", n) {
		xs[i] = extraction{name: name, video: fake.ZooID, want: want{phase: v1alpha1.PhaseSucceeded, attempts: 1}}
	}
	began := time.Now()
	s.apply(xs)
	r := s.settle("1,000 applied at once", xs, 0, 10*time.Minute)
	took := time.Since(began)
	peak, err := m.peakRSS()
	peak >>= 20
	switch {
	case err != nil:
		t.Errorf("the manager's peak RSS, to hold against the chart's limit of %d MiB: %v", limitMiB, err)
		r.unexpected++
	case peak > limitMiB:
		t.Errorf("the manager's peak RSS was %d MiB, above the chart's limit of %d MiB", peak, limitMiB)
		r.unexpected++
	}
	rss := fmt.Sprintf("%d MiB", peak)
	if err != nil {
		rss = "unknown"
	}
	table.note(r.scenario, fmt.Sprintf("manager peak RSS %s (limit %d MiB); %.0f extractions/s", rss, limitMiB, float64(n)/took.Seconds()))
}
