package e2e

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "ytx.dev/ytx/api/v1alpha1"
	"ytx.dev/ytx/controllers"
)

// busy reports whether x waits for a slot of its namespace.
func busy(x *v1alpha1.YouTubeExtraction) bool {
	c := meta.FindStatusCondition(x.Status.Conditions, v1alpha1.ConditionQueued)
	return x.Status.Phase == v1alpha1.PhasePending && c != nil && c.Reason == v1alpha1.ReasonNamespaceBusy
}

func inFlight(x *v1alpha1.YouTubeExtraction) bool {
	return x.Status.Phase == v1alpha1.PhaseQueued || x.Status.Phase == v1alpha1.PhaseRunning
}

// list reads the extractions of the test's namespace.
func (e *env) list() []v1alpha1.YouTubeExtraction {
	e.t.Helper()
	var l v1alpha1.YouTubeExtractionList
	if err := k8s.List(e.ctx(10*time.Second), &l, client.InNamespace(e.ns)); err != nil {
		e.t.Fatal(err)
	}
	return l.Items
}

// waitList polls the namespace's extractions until done says so.
func (e *env) waitList(timeout time.Duration, what string, done func([]v1alpha1.YouTubeExtraction) bool) []v1alpha1.YouTubeExtraction {
	e.t.Helper()
	var last []v1alpha1.YouTubeExtraction
	err := wait.PollUntilContextTimeout(e.t.Context(), 50*time.Millisecond, timeout, true, func(context.Context) (bool, error) {
		last = e.list()
		return done(last), nil
	})
	if err != nil {
		var got []string
		for i := range last {
			got = append(got, last[i].Name+": "+describe(&last[i]))
		}
		e.t.Fatalf("namespace %s: not %s after %s:\n%s", e.ns, what, timeout, strings.Join(got, "\n"))
	}
	return last
}

// admitted is one waiting extraction let in, as a watch saw it.
type admitted struct {
	name string
	// olderWaiting is how many older extractions still waited then.
	olderWaiting int
}

// capStats is what a watch of one namespace saw.
type capStats struct {
	maxInFlight int
	admitted    []admitted // waiting ones that became Queued, in order
}

// watchCap follows every change of the namespace's extractions from before
// the first is created, and records the most that were Queued or Running at
// once and the order in which waiting ones were let in.
func (e *env) watchCap() (stop func() capStats) {
	e.t.Helper()
	w, err := k8s.Watch(e.t.Context(), &v1alpha1.YouTubeExtractionList{}, client.InNamespace(e.ns))
	if err != nil {
		e.t.Fatal(err)
	}
	done := make(chan capStats, 1)
	go func() {
		var s capStats
		seen := map[string]*v1alpha1.YouTubeExtraction{}
		waited := map[string]bool{}
		for ev := range w.ResultChan() {
			x, ok := ev.Object.(*v1alpha1.YouTubeExtraction)
			if !ok {
				continue
			}
			before := seen[x.Name]
			seen[x.Name] = x
			if busy(x) {
				waited[x.Name] = true
			}
			if waited[x.Name] && inFlight(x) && (before == nil || !inFlight(before)) {
				s.admitted = append(s.admitted, admitted{name: x.Name, olderWaiting: countOlderWaiting(seen, x)})
			}
			n := 0
			for _, y := range seen {
				if inFlight(y) {
					n++
				}
			}
			s.maxInFlight = max(s.maxInFlight, n)
		}
		done <- s
	}()
	return func() capStats {
		w.Stop()
		return <-done
	}
}

func countOlderWaiting(seen map[string]*v1alpha1.YouTubeExtraction, x *v1alpha1.YouTubeExtraction) int {
	n := 0
	for _, y := range seen {
		older := y.CreationTimestamp.Before(&x.CreationTimestamp) ||
			y.CreationTimestamp.Equal(&x.CreationTimestamp) && y.Name < x.Name
		if older && busy(y) {
			n++
		}
	}
	return n
}

// A namespace that applies many extractions at once gets its cap's worth on
// the shared topic; the rest wait, Pending with reason NamespaceBusy, and go
// in oldest first as slots free. Another namespace is not held back.
func TestNamespaceCapSharesTheQueue(t *testing.T) {
	t.Parallel()
	const limit, many = 2, 12
	e := newEnv(t, setup{
		// No safety-net recheck within the test: waiting ones must be
		// woken when a slot frees.
		controller:      controllers.Options{MaxInFlightPerNamespace: limit, WaitRecheck: time.Hour},
		otherNamespaces: 1,
	})
	a, b := e, e.in(e.others[0])
	slow := addVideo(t, "Slow")
	release := youTube.Hold(slow.ID)
	defer release()
	e.startWorker(workerSetup{concurrency: 4})

	stop := a.watchCap()
	var names []string
	for i := range many {
		names = append(names, fmt.Sprintf("a-%02d", i))
		a.create(names[i], watchURL(slow.ID))
	}
	a.waitList(30*time.Second, fmt.Sprintf("%d running and the rest waiting", limit), func(xs []v1alpha1.YouTubeExtraction) bool {
		running := 0
		for i := range xs {
			switch {
			case xs[i].Status.Phase == v1alpha1.PhaseRunning:
				running++
			case !busy(&xs[i]):
				return false
			}
		}
		return len(xs) == many && running == limit
	})
	var waiting []string
	for _, x := range a.list() {
		if !busy(&x) {
			continue
		}
		waiting = append(waiting, x.Name)
		// A user sees at once what is asked and why it waits.
		c := meta.FindStatusCondition(x.Status.Conditions, v1alpha1.ConditionQueued)
		if x.Status.VideoID != slow.ID || x.Status.ObservedGeneration != 1 || x.Status.Attempts != 1 ||
			c.Status != metav1.ConditionFalse || !strings.Contains(c.Message, a.ns) || !strings.Contains(c.Message, "--max-in-flight-per-namespace 2") {
			t.Errorf("%s waits with videoID %q observedGeneration %d: %s", x.Name, x.Status.VideoID, x.Status.ObservedGeneration, describe(&x))
		}
		ev := a.waitEvent(x.Name, v1alpha1.ReasonNamespaceBusy, 10*time.Second)
		if ev.Type != "Normal" {
			t.Errorf("%s: NamespaceBusy event of type %s", x.Name, ev.Type)
		}
	}

	// A waiting one that is reconciled again (here: a label changes) finds
	// no slot and leaves its status as it is.
	last := waiting[len(waiting)-1]
	x := a.get(last)
	x.Labels = map[string]string{"touched": "yes"}
	if err := k8s.Update(e.ctx(10*time.Second), x); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	if after := a.get(last); after.ResourceVersion != x.ResourceVersion || !busy(after) {
		t.Errorf("%s was rewritten while it waits: %s", last, describe(after))
	}
	if evs := a.events(last); len(evs) != 1 || evs[0].Series != nil {
		t.Errorf("%s: want one NamespaceBusy event, got %v", last, a.eventReasons(last))
	}

	// The other namespace's extraction goes ahead of all that wait.
	b.create("b-0", watchURL(addVideo(t, "Other namespace").ID))
	b.waitPhase("b-0", v1alpha1.PhaseSucceeded, 30*time.Second)
	if slices.Contains(b.eventReasons("b-0"), v1alpha1.ReasonNamespaceBusy) {
		t.Errorf("b-0 waited for a slot of its own, empty namespace")
	}
	if n := len(slices.DeleteFunc(a.list(), func(x v1alpha1.YouTubeExtraction) bool { return !busy(&x) })); n != many-limit {
		t.Errorf("%d of namespace %s still wait after b-0 finished, want %d", n, a.ns, many-limit)
	}

	release()
	deadline := time.Now().Add(60 * time.Second)
	for _, name := range names {
		a.waitPhase(name, v1alpha1.PhaseSucceeded, time.Until(deadline))
	}
	s := stop()
	if s.maxInFlight != limit {
		t.Errorf("at most %d of namespace %s were Queued or Running at once, want %d", s.maxInFlight, a.ns, limit)
	}
	if len(s.admitted) != len(waiting) {
		t.Errorf("the watch saw %d waiting ones let in, want %d", len(s.admitted), len(waiting))
	}
	for _, in := range s.admitted {
		if in.olderWaiting >= limit {
			t.Errorf("%s was let in while %d older ones still waited", in.name, in.olderWaiting)
		}
	}
}

// Without a cap (0, as in the other tests), every extraction is queued at
// once, however many run.
func TestNoNamespaceCapWhenZero(t *testing.T) {
	t.Parallel()
	e := newEnv(t, setup{})
	slow := addVideo(t, "Slow")
	release := youTube.Hold(slow.ID)
	defer release()
	e.startWorker(workerSetup{concurrency: 2})
	const many = 6
	for i := range many {
		e.create(fmt.Sprintf("x-%d", i), watchURL(slow.ID))
	}
	e.waitList(30*time.Second, "all queued or running", func(xs []v1alpha1.YouTubeExtraction) bool {
		n := 0
		for i := range xs {
			if busy(&xs[i]) {
				t.Fatalf("%s waits without a cap: %s", xs[i].Name, describe(&xs[i]))
			}
			if inFlight(&xs[i]) {
				n++
			}
		}
		return n == many
	})
	release()
	for i := range many {
		e.waitPhase(fmt.Sprintf("x-%d", i), v1alpha1.PhaseSucceeded, 30*time.Second)
	}
}
