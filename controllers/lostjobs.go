package controllers

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	v1alpha1 "ytx.dev/ytx/api/v1alpha1"
	"ytx.dev/ytx/internal/job"
	"ytx.dev/ytx/internal/kafka"
)

// Lost jobs. With Kafka an attempt that stays Queued past the queued
// timeout is either waiting its turn behind a backlog, or its message will
// never reach a worker: the broker lost it, the group consumed it without a
// claim, or it sits on a partition that nobody consumes. Age alone cannot
// tell them apart, and re-sending a backlog of thousands would double it.
// The workers' consumer group can: a queueWatch reads, once per
// LagInterval for all resources together, where each partition's log
// starts and ends, where the group has committed and which member owns it
// (kafka.Inspector: four requests whatever the number of extractions), and
// judge decides for one attempt from where its message was written.
//
// The rules, for a message written at offset o of partition p, once the
// queued timeout has passed:
//
//   - p is stuck (below): re-send it under another key, which lands on the
//     healthy partition with the least lag.
//   - o ≥ p's log end, or o < p's log start: the log no longer holds it;
//     re-send it ("lost").
//   - o < the group's committed offset of p: the group consumed it, yet no
//     worker claimed it; re-send it ("consumed").
//   - otherwise it waits in p's backlog: leave it.
//
// Where o is not known, p is the partition its key hashes to, and the
// message is re-sent only if p has no lag at all.
//
// A partition with messages the group has not committed is stuck when:
//
//   - the group's committed offset is beyond the log's end: the broker lost
//     messages the group had read, and its consumers wait for an offset the
//     log does not reach; or, with the group Stable and having members,
//   - no member is assigned it ("unowned"); or
//   - for StuckAfter it made no progress: its committed offset has not
//     moved, no attempt whose message is on it was claimed (a claim sets
//     status.startTime), none is Running now, and its owner runs no attempt
//     from any of its partitions, nor ended one within StuckAfter. A long
//     job at the head of a partition holds its committed offset, but it is
//     Running and heart-beating: the partition is busy, not stuck. A worker
//     whose every slot holds a long job takes nothing from its other
//     partitions meanwhile: busy too, and in the instant between finishing
//     those jobs and claiming the next it runs nothing, but has just ended
//     some. What is left is an owner that runs nothing and takes nothing: a
//     member that joined and does not read, or a reader wedged on the
//     partition (once the owner's other work is done).

// QueueReader reads the job topic and the workers' consumer group
// (kafka.Inspector).
type QueueReader interface {
	Look(ctx context.Context) (kafka.GroupView, error)
}

// KeyedPublisher is a Publisher that says where each message landed and
// can publish under another key (kafka.Publisher): what the lost-job rules
// need.
type KeyedPublisher interface {
	PublishKeyed(ctx context.Context, m job.Message, key string) (kafka.Position, error)
}

// Defaults of the lost-job rules.
const (
	DefaultStuckAfter  = 10 * time.Minute
	DefaultLagInterval = 30 * time.Second
)

// Reasons of a re-send, the label of ytx_jobs_resent_total.
const (
	resentUnclaimed = "unclaimed" // the queued timeout alone (HTTP)
	resentLost      = "lost"
	resentConsumed  = "consumed"
	resentStuck     = "stuck"
)

var (
	resentTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "ytx_jobs_resent_total",
		Help: "Attempts sent again because no worker claimed them within --queued-timeout, by why: unclaimed (HTTP), lost (the broker no longer holds the message), consumed (the group read it without a claim), stuck (its partition is not consumed).",
	}, []string{"reason"})
	stuckPartitions = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "ytx_kafka_stuck_partitions",
		Help: "Partitions of the job topic the manager finds stuck: messages wait, and the workers' group does not consume them.",
	})
)

func init() {
	metrics.Registry.MustRegister(resentTotal, stuckPartitions)
}

// verdict is judge's answer for one attempt.
type verdict struct {
	resend bool
	reason string // resentLost, resentConsumed, resentStuck
	why    string // for the Resent event
	// key, when not empty, is the key to send under (a stuck partition's
	// attempts go elsewhere).
	key string
}

// placed is where a message was written; -1 for what is not known.
type placed struct {
	partition int
	offset    int64
}

var unplaced = placed{partition: -1, offset: -1}

// queueWatch keeps the latest GroupView and what it says of each
// partition.
type queueWatch struct {
	queue      QueueReader
	cache      client.Reader
	interval   time.Duration
	stuckAfter time.Duration
	now        func() time.Time
	// placedOf returns where this process last sent each resource's job.
	placedOf func() map[types.NamespacedName]placed

	mu      sync.Mutex
	view    *kafka.GroupView
	err     string // of the last failed look, "" once one worked
	parts   map[int]*partitionWatch
	started time.Time
	noGroup bool
}

// partitionWatch is what the watch remembers of one partition.
type partitionWatch struct {
	committed int64
	movedAt   time.Time // when the committed offset last moved (or watching began)
	stuck     string    // why it is stuck; "" when it is not
}

func newQueueWatch(q QueueReader, cache client.Reader, o Options, now func() time.Time, placedOf func() map[types.NamespacedName]placed) *queueWatch {
	return &queueWatch{queue: q, cache: cache, interval: o.LagInterval, stuckAfter: o.StuckAfter, now: now, placedOf: placedOf, parts: map[int]*partitionWatch{}}
}

// Start looks every interval until ctx ends (a manager.Runnable: only the
// leader runs it).
func (w *queueWatch) Start(ctx context.Context) error {
	l := log.FromContext(ctx).WithName("lostjobs")
	t := time.NewTicker(w.interval)
	defer t.Stop()
	for {
		w.look(ctx, l)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// look reads the queue once and updates what each partition is.
func (w *queueWatch) look(ctx context.Context, l logr.Logger) {
	v, err := w.queue.Look(ctx)
	if err != nil {
		w.failed(l, err)
		return
	}
	now := w.now()
	var ev evidence
	if w.needsEvidence(v, now) {
		ev = w.evidence(ctx, v)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != "" {
		l.Info("reading the consumer group works again", "group", v.Group, "topic", v.Topic)
		w.err = ""
	}
	if w.started.IsZero() {
		w.started = now
	}
	w.noticeGroup(l, v)
	stuck := 0
	for _, p := range v.PartitionIDs() {
		pw := w.partition(p, v.Partitions[p].Committed, now)
		why := w.stuckReason(v, p, pw, ev, now)
		switch {
		case why != "" && pw.stuck == "":
			l.Info("partition stuck: its queued jobs go to other partitions", "topic", v.Topic, "group", v.Group, "partition", p, "why", why)
		case why == "" && pw.stuck != "":
			l.Info("partition no longer stuck", "topic", v.Topic, "group", v.Group, "partition", p)
		}
		pw.stuck = why
		if why != "" {
			stuck++
		}
	}
	stuckPartitions.Set(float64(stuck))
	w.view = &v
}

// failed logs a failed look once per distinct error; the attempts wait
// for a look that works.
func (w *queueWatch) failed(l logr.Logger, err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err.Error() != w.err {
		l.Info("cannot read the consumer group's offsets; queued jobs are not re-sent until it works", "error", err.Error())
		w.err = err.Error()
	}
}

// noticeGroup says once when the group does not exist: every message then
// counts as waiting, which is right if no worker has started yet and wrong
// if --kafka-group names another group than the workers'.
func (w *queueWatch) noticeGroup(l logr.Logger, v kafka.GroupView) {
	dead := v.State == "Dead"
	if dead && !w.noGroup {
		l.Info("the consumer group does not exist (yet): queued jobs count as waiting for it; is --kafka-group the workers' group?", "group", v.Group, "topic", v.Topic)
	}
	w.noGroup = dead
}

// partition returns p's watch, noting when its committed offset moves.
func (w *queueWatch) partition(p int, committed int64, now time.Time) *partitionWatch {
	pw := w.parts[p]
	if pw == nil {
		pw = &partitionWatch{committed: committed, movedAt: now}
		w.parts[p] = pw
	}
	if committed != pw.committed {
		pw.committed, pw.movedAt = committed, now
	}
	return pw
}

// stuckReason says why partition p is stuck, or "".
func (w *queueWatch) stuckReason(v kafka.GroupView, p int, pw *partitionWatch, ev evidence, now time.Time) string {
	pv := v.Partitions[p]
	switch {
	case pv.Committed > pv.End:
		return fmt.Sprintf("the group's committed offset %d is beyond the end of the log (%d): the broker lost messages the group had read, and its consumers wait for an offset the log does not reach", pv.Committed, pv.End)
	case pv.Lag() <= 0 || v.State != "Stable" || len(v.Members) == 0:
		return ""
	case pv.Owner == "":
		return fmt.Sprintf("no member of the group is assigned it (the group is Stable with %d members) while %d messages wait", len(v.Members), pv.Lag())
	case now.Sub(pw.movedAt) < w.stuckAfter || ev.progressed(v, p, now.Add(-w.stuckAfter)):
		return ""
	}
	m, _ := v.Member(pv.Owner)
	return fmt.Sprintf("no progress for %s: %d messages wait, its committed offset %d has not moved, nothing sent to it was claimed, and its owner %s (client %s at %s) runs nothing",
		w.stuckAfter, pv.Lag(), pv.Next(), m.ID, m.ClientID, m.Host)
}

// needsEvidence reports whether some partition may be without progress,
// so that the resources are worth scanning.
func (w *queueWatch) needsEvidence(v kafka.GroupView, now time.Time) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	for p, pv := range v.Partitions {
		pw := w.parts[p]
		if pv.Lag() > 0 && pv.Owner != "" && pw != nil && pw.committed == pv.Committed && now.Sub(pw.movedAt) >= w.stuckAfter {
			return true
		}
	}
	return false
}

// evidence is what the resources say of each partition's progress.
type evidence struct {
	lastClaim map[int]time.Time // the latest claim (status.startTime) of an attempt sent to it
	lastEnd   map[int]time.Time // the latest end (completion or failure) of an attempt sent to it
	running   map[int]int       // attempts sent to it that are Running now
}

// progressed reports whether partition p, or its owner, showed life
// since: a claim from p, or an attempt Running from p or from any
// partition of p's owner, or one of those that ended since. The last is
// the instant between an owner's long jobs and its next claims: it runs
// nothing then, yet it is plainly reading.
func (e evidence) progressed(v kafka.GroupView, p int, since time.Time) bool {
	if e.lastClaim[p].After(since) {
		return true
	}
	m, _ := v.Member(v.Partitions[p].Owner)
	for _, q := range append([]int{p}, m.Partitions...) {
		if e.running[q] > 0 || e.lastEnd[q].After(since) {
			return true
		}
	}
	return false
}

// endOf is when x's latest attempt ended, or zero while none has.
func endOf(x *v1alpha1.YouTubeExtraction) time.Time {
	switch {
	case x.Status.CompletionTime != nil:
		return x.Status.CompletionTime.Time
	case x.Status.LastFailure != nil:
		return x.Status.LastFailure.Time.Time
	}
	return time.Time{}
}

// evidence scans the cached resources (no API request): each one's
// message is where this process last sent it, or on the partition its key
// hashes to.
func (w *queueWatch) evidence(ctx context.Context, v kafka.GroupView) evidence {
	ev := evidence{lastClaim: map[int]time.Time{}, lastEnd: map[int]time.Time{}, running: map[int]int{}}
	var l v1alpha1.YouTubeExtractionList
	if err := w.cache.List(ctx, &l, client.UnsafeDisableDeepCopy); err != nil {
		// No evidence: nothing is called stuck for lack of progress.
		log.FromContext(ctx).Info("listing extractions to find claims", "error", err.Error())
		for p := range v.Partitions {
			ev.running[p] = 1
		}
		return ev
	}
	placedAt := w.placedOf()
	n := len(v.Partitions)
	for i := range l.Items {
		x := &l.Items[i]
		key := types.NamespacedName{Namespace: x.Namespace, Name: x.Name}
		p := kafka.PartitionOf(job.Message{Namespace: x.Namespace, Name: x.Name}.Key(), n)
		if at, ok := placedAt[key]; ok && at.partition >= 0 {
			p = at.partition
		}
		if st := x.Status.StartTime; st != nil && st.After(ev.lastClaim[p]) {
			ev.lastClaim[p] = st.Time
		}
		if end := endOf(x); end.After(ev.lastEnd[p]) {
			ev.lastEnd[p] = end
		}
		if x.Status.Phase == v1alpha1.PhaseRunning {
			ev.running[p]++
		}
	}
	return ev
}

// judge decides whether the attempt of resource key, whose message was
// written at at and sent at sentAt, is to be sent again.
func (w *queueWatch) judge(key string, at placed, sentAt time.Time) verdict {
	w.mu.Lock()
	defer w.mu.Unlock()
	v := w.view
	if v == nil || !v.Taken.After(sentAt) || len(v.Partitions) == 0 {
		return verdict{} // no look since it was sent: it may be anywhere
	}
	p := at.partition
	if _, ok := v.Partitions[p]; !ok {
		p, at.offset = kafka.PartitionOf(key, len(v.Partitions)), -1
	}
	pv := v.Partitions[p]
	if pw := w.parts[p]; pw != nil && pw.stuck != "" {
		return w.elsewhere(v, key, p, pw.stuck)
	}
	o := at.offset
	switch {
	case o >= 0 && o >= pv.End:
		return verdict{resend: true, reason: resentLost, why: fmt.Sprintf("the log of partition %d now ends at offset %d, before its message's %d: the broker lost it", p, pv.End, o)}
	case o >= 0 && o < pv.Start:
		return verdict{resend: true, reason: resentLost, why: fmt.Sprintf("the log of partition %d now starts at offset %d, after its message's %d: it was deleted", p, pv.Start, o)}
	case o >= 0 && o < pv.Committed:
		return verdict{resend: true, reason: resentConsumed, why: fmt.Sprintf("group %s has consumed partition %d up to offset %d, past its message's %d, and no worker claimed it", v.Group, p, pv.Committed, o)}
	case o < 0 && pv.Lag() == 0:
		return verdict{resend: true, reason: resentConsumed, why: fmt.Sprintf("group %s has nothing left to consume on partition %d, where its message went", v.Group, p)}
	}
	return verdict{} // it waits its turn
}

// elsewhere re-sends an attempt of stuck partition p to the healthy
// partition with the least lag, under a key that lands there.
func (w *queueWatch) elsewhere(v *kafka.GroupView, key string, p int, why string) verdict {
	to := w.healthiest(v, p)
	if to < 0 {
		return verdict{} // nowhere better to go
	}
	return verdict{
		resend: true, reason: resentStuck, key: kafka.KeyOn(key, to, len(v.Partitions)),
		why: fmt.Sprintf("partition %d of topic %s is stuck for group %s (%s); sent to partition %d instead", p, v.Topic, v.Group, why, to),
	}
}

// healthiest is the partition other than not that is not stuck, has an
// owner (while the group is Stable), and has the least lag; -1 if none.
func (w *queueWatch) healthiest(v *kafka.GroupView, not int) int {
	best := -1
	for _, p := range v.PartitionIDs() {
		pv := v.Partitions[p]
		switch {
		case p == not, w.parts[p] != nil && w.parts[p].stuck != "",
			v.State == "Stable" && pv.Owner == "":
			continue
		case best < 0 || pv.Lag() < v.Partitions[best].Lag():
			best = p
		}
	}
	return best
}

// keyFor is the key to publish a new attempt of key under: its own, or,
// while the partition it hashes to is stuck, one that lands elsewhere.
func (w *queueWatch) keyFor(key string) string {
	w.mu.Lock()
	defer w.mu.Unlock()
	v := w.view
	if v == nil || len(v.Partitions) == 0 {
		return key
	}
	p := kafka.PartitionOf(key, len(v.Partitions))
	if pw := w.parts[p]; pw == nil || pw.stuck == "" {
		return key
	}
	if to := w.healthiest(v, p); to >= 0 {
		return kafka.KeyOn(key, to, len(v.Partitions))
	}
	return key
}
