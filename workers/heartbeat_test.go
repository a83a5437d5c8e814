package workers

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1alpha1 "ytx.dev/ytx/api/v1alpha1"
	"ytx.dev/ytx/internal/status"
)

// beating is a claimed job whose heartbeat loop runs on the fake clock.
type beating struct {
	task *task
	ctx  context.Context
	stop func()
}

// beat claims attempt 1 at base and starts its heartbeat, as Handle does,
// with the default intervals: a status tick every 5 s, a heartbeat at least
// every 30 s. It returns after the first tick (5 s, idle: a read), so that
// the loop has taken its starting point and a test's progress counts as
// progress.
func (h *harness) beat() *beating {
	h.t.Helper()
	c := h.claimed()
	b := &beating{task: newTask(c)}
	ctx, cancel := context.WithCancelCause(context.Background())
	b.ctx = ctx
	var once sync.Once
	stop := h.w.heartbeat(ctx, cancel, b.task)
	b.stop = func() { once.Do(stop) }
	h.t.Cleanup(func() { b.stop(); cancel(nil) })
	eventually(h.t, "the heartbeat's ticker", h.clock.HasWaiters)
	reads := h.reads.Load()
	h.tick()
	eventually(h.t, "the first tick's read", func() bool { return h.reads.Load() > reads })
	return b
}

// tick moves the fake clock one status interval on.
func (h *harness) tick() { h.clock.Step(5 * time.Second) }

func (h *harness) heartbeatAt(d time.Duration) func() bool {
	return func() bool {
		hb := h.get().Status.LastHeartbeatTime
		return hb != nil && hb.Time.Equal(base.Add(d))
	}
}

func TestHeartbeatWritesProgressWhenItMoves(t *testing.T) {
	h := newHarness(t, Options{}, resource(atAttempt(1), queued))
	b := h.beat()
	b.task.bytesTotal.Store(200)
	b.task.bytesDone.Store(50)
	h.tick()
	eventually(t, "the heartbeat at 10s", h.heartbeatAt(10*time.Second))
	if p := h.get().Status.Progress; p == nil || *p != (v1alpha1.Progress{BytesDone: 50, BytesTotal: 200, Percent: 25}) {
		t.Errorf("progress %+v, want 50 of 200 bytes, 25%%", p)
	}
}

// Without progress, a tick only reads (to notice a deletion or a spec
// change), and a heartbeat is written once per heartbeat interval.
// nextHeartbeat ticks an idle job until it writes, each tick a read or a
// write, and returns when (since base) its heartbeat was written.
func (h *harness) nextHeartbeat() time.Duration {
	h.t.Helper()
	for range 10 {
		reads, writes := h.reads.Load(), h.statusWrites.Load()
		h.tick()
		eventually(h.t, "the tick's read or write", func() bool { return h.reads.Load() > reads || h.statusWrites.Load() > writes })
		if h.statusWrites.Load() > writes {
			at := h.clock.Now().Sub(base)
			eventually(h.t, "the heartbeat to land", h.heartbeatAt(at))
			return at
		}
	}
	h.t.Fatal("no heartbeat in 10 ticks")
	return 0
}

// Without progress, a tick only reads (to notice a deletion or a spec
// change), and a heartbeat is written at least once per heartbeat
// interval: on the first tick once the interval passed, so the gap can
// reach the interval plus a status interval (docs/design.md, section 9).
// The loop takes its time after a write, or at its start, a moment after
// the tick, so the test allows the tick after too.
func TestIdleJobReadsEachTickAndWritesOncePerHeartbeatInterval(t *testing.T) {
	h := newHarness(t, Options{}, resource(atAttempt(1), queued))
	h.beat()
	if at := h.nextHeartbeat(); at < 30*time.Second || at > 35*time.Second {
		t.Errorf("the first heartbeat of an idle job came %s after its start, want 30s to 35s", at)
	}
	if n := h.statusWrites.Load(); n != 2 {
		t.Errorf("%d status writes, want the claim and one heartbeat", n)
	}
}

func TestHeartbeatIntervalCountsFromTheLastWrite(t *testing.T) {
	h := newHarness(t, Options{}, resource(atAttempt(1), queued))
	b := h.beat()
	b.task.bytesDone.Store(1)
	h.tick() // 10 s: progress moved, written
	eventually(t, "the heartbeat at 10s", h.heartbeatAt(10*time.Second))
	if at := h.nextHeartbeat(); at < 40*time.Second || at > 45*time.Second {
		t.Errorf("after a write at 10s the next heartbeat came at %s, want 40s to 45s", at)
	}
}

// A resource deleted or superseded meanwhile stops the job within one
// status interval, before more files land.
func TestIdleJobStopsWhenTheAttemptIsNoLongerOurs(t *testing.T) {
	for _, tc := range []struct {
		name string
		lose func(h *harness)
	}{
		{"the resource is gone", func(h *harness) { h.deleted(false) }},
		{"the resource is being deleted", func(h *harness) { h.deleted(true) }},
		{"the spec changed", func(h *harness) { h.specChanged() }},
		{"the manager timed the attempt out", func(h *harness) { h.meanwhile(timedOut) }},
		{"another worker runs the next attempt", func(h *harness) {
			h.meanwhile(func(x *v1alpha1.YouTubeExtraction) {
				timedOut(x)
				status.NextAttempt(x, 2)
				status.Claimed(x, "w-2", metav1.NewTime(base))
			})
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, Options{}, resource(atAttempt(1), queued))
			b := h.beat()
			tc.lose(h)
			h.tick()
			eventually(t, "the job to stop", func() bool { return b.ctx.Err() != nil })
			if cause := context.Cause(b.ctx); !errors.Is(cause, errLostClaim) {
				t.Errorf("the job stopped with %v, want errLostClaim", cause)
			}
			if n := h.statusWrites.Load(); n != 1 {
				t.Errorf("%d status writes, want only the claim", n)
			}
		})
	}
}

func TestHeartbeatWriteThatFindsTheAttemptLostStopsTheJob(t *testing.T) {
	h := newHarness(t, Options{}, resource(atAttempt(1), queued))
	b := h.beat()
	h.meanwhile(timedOut)
	rv := h.get().ResourceVersion
	b.task.bytesDone.Store(1) // progress: the tick writes
	h.tick()
	eventually(t, "the job to stop", func() bool { return b.ctx.Err() != nil })
	if cause := context.Cause(b.ctx); !errors.Is(cause, errLostClaim) {
		t.Errorf("the job stopped with %v, want errLostClaim", cause)
	}
	if h.get().ResourceVersion != rv {
		t.Error("the lost attempt's heartbeat landed")
	}
}

func TestFailedHeartbeatWriteIsTriedAgainAtTheNextTick(t *testing.T) {
	h := newHarness(t, Options{}, resource(atAttempt(1), queued))
	b := h.beat()
	b.task.bytesTotal.Store(100)
	b.task.bytesDone.Store(10)
	h.failNextStatusWrites(1)
	h.tick()
	eventually(t, "the failed write", func() bool { return h.statusWrites.Load() == 2 })
	h.tick()
	eventually(t, "the heartbeat at 15s", h.heartbeatAt(15*time.Second))
	if p := h.get().Status.Progress; p == nil || p.BytesDone != 10 {
		t.Errorf("progress %+v, want 10 bytes done", p)
	}
	if b.ctx.Err() != nil {
		t.Errorf("a failed write stopped the job: %v", context.Cause(b.ctx))
	}
}

// An API server outage must not fail every running job: a read that fails
// counts as "still ours", and the next write tells.
func TestHeartbeatReadThatFailsCountsAsStillOurs(t *testing.T) {
	h := newHarness(t, Options{}, resource(atAttempt(1), queued))
	b := h.beat()
	h.failNextReads(1)
	reads := h.reads.Load()
	h.tick()
	eventually(t, "the failed read", func() bool { return h.reads.Load() == reads+1 })
	h.tick()
	eventually(t, "the next tick's read", func() bool { return h.reads.Load() == reads+2 })
	if b.ctx.Err() != nil {
		t.Errorf("a failed read stopped the job: %v", context.Cause(b.ctx))
	}
}

// The loop stops before the final write, so that no heartbeat races it.
func TestStoppedHeartbeatWritesNoMore(t *testing.T) {
	h := newHarness(t, Options{}, resource(atAttempt(1), queued))
	b := h.beat()
	b.stop()
	b.task.bytesDone.Store(1)
	reads, writes := h.reads.Load(), h.statusWrites.Load()
	for range 7 {
		h.tick()
	}
	if h.reads.Load() != reads || h.statusWrites.Load() != writes {
		t.Error("the heartbeat read or wrote after it was stopped")
	}
}

// --- the storage fence ---

// Before each storage write the fence makes sure the attempt is still
// ours: without a request when the claim was confirmed less than a second
// ago, otherwise with a read.
func TestFenceChecksTheClaimWithAReadOnlyWhenItsConfirmationIsASecondOld(t *testing.T) {
	for _, tc := range []struct {
		name  string
		after time.Duration // since the claim
		setup func(h *harness, c *claim)
		err   error
		reads int32
	}{
		{"confirmed less than a second ago: no read", 999 * time.Millisecond, nil, nil, 0},
		{"confirmed a second ago: a read, and the attempt is ours", time.Second, nil, nil, 1},
		{"the attempt was given away: a read refuses", time.Second, func(h *harness, _ *claim) { h.meanwhile(timedOut) }, errLostClaim, 1},
		{"the resource is gone: a read refuses", time.Second, func(h *harness, _ *claim) { h.deleted(false) }, errLostClaim, 1},
		{"the spec changed: a read refuses", time.Second, func(h *harness, _ *claim) { h.specChanged() }, errLostClaim, 1},
		{"the read fails: the job goes on", time.Second, func(h *harness, _ *claim) { h.failNextReads(1) }, nil, 1},
		{"a status write of ours confirms it too", 10 * time.Second, func(h *harness, c *claim) {
			if err := c.update(context.Background(), func(*v1alpha1.YouTubeExtraction) {}); err != nil {
				h.t.Fatal(err)
			}
		}, nil, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, Options{}, resource(atAttempt(1), queued))
			c := h.claimed()
			r := &run{w: h.w, t: newTask(c)}
			h.clock.Step(tc.after)
			if tc.setup != nil {
				tc.setup(h, c)
			}
			reads := h.reads.Load()
			if err := r.fence(context.Background()); !errors.Is(err, tc.err) || (err == nil) != (tc.err == nil) {
				t.Errorf("fence: %v, want %v", err, tc.err)
			}
			if n := h.reads.Load() - reads; n != tc.reads {
				t.Errorf("%d reads, want %d", n, tc.reads)
			}
		})
	}
}

// A read that shows the attempt ours confirms the claim for another second.
func TestFenceReadRefreshesTheConfirmation(t *testing.T) {
	h := newHarness(t, Options{}, resource(atAttempt(1), queued))
	c := h.claimed()
	r := &run{w: h.w, t: newTask(c)}
	h.clock.Step(time.Minute)
	for i := range 3 {
		if err := r.fence(context.Background()); err != nil {
			t.Fatalf("fence %d: %v", i, err)
		}
	}
	if n := h.reads.Load(); n != 2 {
		t.Errorf("%d reads, want the claim's and one fence read for three fences", n)
	}
}
