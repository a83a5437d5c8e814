package faults

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	eventsv1 "k8s.io/api/events/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "ytx.dev/ytx/api/v1alpha1"
	"ytx.dev/ytx/internal/job"
	"ytx.dev/ytx/internal/kafka"
	"ytx.dev/ytx/internal/kafka/kafkatest"
	"ytx.dev/ytx/internal/youtube/fake"
)

// Lost jobs (controllers/lostjobs.go): with Kafka the manager re-sends an
// attempt nobody claimed only when the workers' group says its message
// cannot still arrive. Each scenario runs the manager with its default
// lost-job rules at fault-friendly timings.

// lostJobTimings are the manager's lost-job flags in these scenarios: the
// defaults (5m, 30s, 10m) scaled down to seconds.
func lostJobTimings(queued, every, stuck time.Duration) []string {
	return []string{"--queued-timeout", queued.String(), "--kafka-lag-interval", every.String(), "--kafka-stuck-after", stuck.String()}
}

// resent returns the notes of the scenario's Resent events, one per event
// (an event seen again counts once per occurrence).
func (s *system) resent() []string {
	s.t.Helper()
	var l eventsv1.EventList
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := admin.List(ctx, &l, client.InNamespace(s.ns)); err != nil {
		s.t.Fatal(err)
	}
	var out []string
	for _, e := range l.Items {
		if e.Reason != "Resent" {
			continue
		}
		n := 1
		if e.Series != nil && e.Series.Count > 1 {
			n = int(e.Series.Count)
		}
		for range n {
			out = append(out, e.Regarding.Name+": "+e.Note)
		}
	}
	return out
}

// saying counts the notes that contain what.
func saying(notes []string, what string) int {
	n := 0
	for _, s := range notes {
		if strings.Contains(s, what) {
			n++
		}
	}
	return n
}

// waitPhase waits until every extraction of xs is in phase.
func (s *system) waitPhase(xs []extraction, phase v1alpha1.Phase, limit time.Duration) {
	s.t.Helper()
	if !waitUntil(limit, func() bool {
		all := s.list()
		for _, e := range xs {
			if x := all[e.name]; x == nil || x.Status.Phase != phase {
				return false
			}
		}
		return true
	}) {
		s.t.Fatalf("not every extraction %s after %s: %v", phase, limit, phases(s.list()))
	}
}

// 11. The broker loses its data: it is restarted without its log (as a
// broker whose disk was lost, its topics made again as Strimzi's Topic
// Operator would). Extractions it had acknowledged, and that no worker had
// read, are gone from the topic; the manager sees their offsets beyond the
// log's end, sends them again, and every extraction completes in its first
// attempt.
func TestBrokerLosesItsData(t *testing.T) {
	before, lost := 4**scale, 6**scale
	own, err := startBroker(broker.bin, filepath.Join(tmpRoot, "kafka-"+t.Name()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(own.close)
	s := newSystem(t, systemOptions{broker: own, workerFlags: fastGroup,
		managerFlags: append(lostJobTimings(5*time.Second, time.Second, 10*time.Second),
			// Every one published before the broker goes, none Pending.
			"--max-in-flight-per-namespace", "0")})
	s.startManager("manager")
	workers := []string{"worker-a", "worker-b"}
	for _, w := range workers {
		s.startWorker(w)
	}
	ids := clipVideos(t, before+lost, 0)
	xs := make([]extraction, before+lost)
	for i, name := range names("lostlog", before+lost) {
		xs[i] = extraction{name: name, video: ids[i], spec: audioM4A, want: want{phase: v1alpha1.PhaseSucceeded, attempts: 1}}
	}
	// Some complete first, so that the group has offsets to lose too.
	s.apply(xs[:before])
	s.waitPhase(xs[:before], v1alpha1.PhaseSucceeded, within(2*time.Minute))
	// The workers stop; the rest are published and acknowledged, and
	// wait in the topic.
	for _, w := range workers {
		if _, err := s.worker(w).terminate(10 * time.Second); err != nil {
			t.Fatal(err)
		}
	}
	s.apply(xs[before:])
	s.waitPhase(xs[before:], v1alpha1.PhaseQueued, within(30*time.Second))

	own.p.kill()
	own.dir = filepath.Join(tmpRoot, "kafka-"+t.Name()+"-wiped")
	if err := own.start(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := kafka.EnsureTopics(ctx, s.kafka, 4, s.kafka.Topic, s.kafka.ListingTopic, s.kafka.DeadLetterTopic); err != nil {
		t.Fatalf("making the topics again: %v", err)
	}
	for _, w := range workers {
		s.startWorker(w)
	}
	r := s.settle("broker restarted without its log", xs, 1, within(3*time.Minute))
	notes := s.resent()
	asLost := saying(notes, "the broker lost it")
	t.Logf("%d Resent events, %d of them for a message the broker lost; %d extractions were lost with the log", len(notes), asLost, lost)
	if asLost < lost {
		// Each lost message can only have come back by a re-send.
		t.Errorf("%d re-sends said the broker lost the message, want at least %d (one per extraction lost with the log): %q", asLost, lost, notes)
		r.unexpected++
	}
	table.note(r.scenario, fmt.Sprintf("%d lost with the log; %d re-sent as lost, %d re-sends in all", lost, asLost, len(notes)))
}

// 12. A backlog of 200×scale extractions (2,000 at -faults.scale=10, the
// size the issue names) queued behind slow jobs that fill every worker
// slot. They wait far longer than --queued-timeout, and the partitions'
// committed offsets stand still for longer than --kafka-stuck-after while
// the slow jobs run: by age alone every one would be sent twice. None is
// re-sent, and all complete.
func TestBacklogIsNotResent(t *testing.T) {
	const slowN, queued, stuck = 8, 3 * time.Second, 8 * time.Second
	backlog := 200 * *scale
	s := newSystem(t, systemOptions{
		managerFlags: append(lostJobTimings(queued, time.Second, stuck),
			// Every one Queued on the topic at once, none Pending.
			"--max-in-flight-per-namespace", "0"),
	})
	s.startManager("manager")
	s.startWorker("worker-a")
	s.startWorker("worker-b")
	if !waitUntil(30*time.Second, func() bool { return s.groupStable(2) }) {
		t.Fatalf("the group did not settle with 2 workers: %s", s.groupState())
	}
	// Twice as many slow jobs as the two workers' four slots, each some
	// 15 s: the partitions they land on wait behind them.
	slow := make([]extraction, slowN)
	for i, id := range clipVideos(t, slowN, 3_000) {
		slow[i] = extraction{name: fmt.Sprintf("slow-%d", i), video: id, spec: audioM4A, want: want{phase: v1alpha1.PhaseSucceeded, attempts: 1}}
	}
	s.apply(slow)
	if !waitUntil(time.Minute, func() bool { return phases(s.list())[v1alpha1.PhaseRunning] > 0 }) {
		t.Fatalf("no slow job Running: %v", phases(s.list()))
	}
	xs := make([]extraction, backlog)
	for i, name := range names("backlog", backlog) {
		xs[i] = extraction{name: name, video: fake.ZooID, want: want{phase: v1alpha1.PhaseSucceeded, attempts: 1}}
	}
	s.apply(xs)
	all := append(slow, xs...)
	r := s.settle(fmt.Sprintf("%d queued behind slow jobs", backlog), all, 0, within(5*time.Minute))

	longest := time.Duration(0)
	for _, x := range s.list() {
		if st := x.Status.StartTime; st != nil && strings.HasPrefix(x.Name, "backlog-") {
			longest = max(longest, st.Sub(x.CreationTimestamp.Time))
		}
	}
	notes := s.resent()
	t.Logf("the longest wait in the backlog was %s (queued timeout %s, stuck after %s); %d Resent events", longest.Round(time.Second), queued, stuck, len(notes))
	if longest < stuck+queued {
		// Else the backlog did not wait long enough to tempt the rules.
		t.Errorf("the longest wait in the backlog was %s, want above %s: the slow jobs did not hold it back", longest, stuck+queued)
		r.unexpected++
	}
	if len(notes) != 0 {
		t.Errorf("%d attempts of a waiting backlog re-sent: %q", len(notes), notes)
		r.unexpected += len(notes)
	}
	table.note(r.scenario, fmt.Sprintf("longest wait %s, queued timeout %s; %d re-sent", longest.Round(time.Second), queued, len(notes)))
}

// 13. A member of the workers' group that owns partitions and never reads
// them: jobs there wait for ever (the kill -9 case in which a partition
// stayed unconsumed). The manager finds the partition stuck (no progress
// for --kafka-stuck-after, its owner running nothing) and sends its jobs
// under keys that land on a partition the workers consume; all complete
// in their first attempt.
func TestStuckPartitionIsDetected(t *testing.T) {
	n := 8 * *scale
	s := newSystem(t, systemOptions{workerFlags: fastGroup,
		managerFlags: append(lostJobTimings(3*time.Second, time.Second, 6*time.Second),
			// Every one published at once, before the partition is found
			// stuck: later ones would be sent around it at once, with no
			// re-send to count.
			"--max-in-flight-per-namespace", "0")})
	s.startManager("manager")
	s.startWorker("worker-a")
	s.startWorker("worker-b")
	if !waitUntil(30*time.Second, func() bool { return s.groupStable(2) }) {
		t.Fatalf("the group did not settle with 2 workers: %s", s.groupState())
	}
	idle, err := kafkatest.JoinIdle(s.kafka.Brokers, s.kafka.Group, s.kafka.Topic, kafkatest.IdleOptions{ClientID: "idle", SessionTimeout: 6 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(idle.Close)
	var owned []int
	if !waitUntil(45*time.Second, func() bool {
		owned, _ = idle.Assigned()
		return len(owned) > 0 && s.groupStable(3)
	}) {
		t.Fatalf("the idle member owns no partition: %s", s.groupState())
	}

	// Names whose jobs hash to the idle member's partitions, half of them.
	ids := clipVideos(t, n, 0)
	xs := make([]extraction, n)
	stuckOn := 0
	for i, k := 0, 0; i < n; k++ {
		name := fmt.Sprintf("stuck-%d", k)
		p := kafka.PartitionOf(job.Message{Namespace: s.ns, Name: name}.Key(), 4)
		onIdle := slices.Contains(owned, p)
		if onIdle != (i%2 == 0) {
			continue
		}
		if onIdle {
			stuckOn++
		}
		xs[i] = extraction{name: name, video: ids[i], spec: audioM4A, want: want{phase: v1alpha1.PhaseSucceeded, attempts: 1}}
		i++
	}
	s.apply(xs)
	r := s.settle(fmt.Sprintf("a member owns partitions %v and never reads", owned), xs, 1, within(3*time.Minute))
	notes := s.resent()
	asStuck := saying(notes, "is stuck")
	t.Logf("%d Resent events, %d for a stuck partition; %d extractions were sent to the idle member's partitions %v", len(notes), asStuck, stuckOn, owned)
	if asStuck < stuckOn {
		t.Errorf("%d re-sends said the partition is stuck, want at least %d (one per extraction on the idle member's partitions): %q", asStuck, stuckOn, notes)
		r.unexpected++
	}
	if still, _ := idle.Assigned(); !slices.Equal(still, owned) {
		t.Errorf("the idle member's partitions changed from %v to %v: the jobs may have healed by a rebalance, not by the manager", owned, still)
	}
	table.note(r.scenario, fmt.Sprintf("%d on the idle partitions; %d re-sent as stuck, %d re-sends in all", stuckOn, asStuck, len(notes)))
}
