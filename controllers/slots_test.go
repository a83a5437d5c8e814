package controllers

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	v1alpha1 "ytx.dev/ytx/api/v1alpha1"
	"ytx.dev/ytx/internal/status"
)

// These tests drive the slot counting against a stand-in for the informer
// cache (controller-runtime's fake client with the same field indexes): a
// cache that lags is one that the test simply does not update. The whole
// controller runs against a real API server in test/e2e.

var base = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// extraction is a resource of ns created at base+age seconds, at attempt 1
// of generation 1, in phase (empty: not reconciled yet).
func extraction(ns, name string, age int, phase v1alpha1.Phase) *v1alpha1.YouTubeExtraction {
	x := &v1alpha1.YouTubeExtraction{ObjectMeta: metav1.ObjectMeta{
		Namespace: ns, Name: name, UID: types.UID(ns + "/" + name), Generation: 1,
		CreationTimestamp: metav1.NewTime(base.Add(time.Duration(age) * time.Second)),
	}}
	if phase != "" {
		x.Status = v1alpha1.YouTubeExtractionStatus{ObservedGeneration: 1, Attempts: 1, Phase: phase}
	}
	return x
}

// waiting is a resource that waits for a slot.
func waiting(ns, name string, age int) *v1alpha1.YouTubeExtraction {
	x := extraction(ns, name, age, v1alpha1.PhasePending)
	status.Wait(x, "busy")
	return x
}

// created is a resource as the cache shows it before its first reconcile.
func created(ns, name string, age int) *v1alpha1.YouTubeExtraction {
	return extraction(ns, name, age, "")
}

// fresh is a new generation's attempt as startGeneration asks for a slot
// (the cache still shows it as created).
func fresh(ns, name string, age int) *v1alpha1.YouTubeExtraction {
	x := created(ns, name, age)
	status.StartGeneration(x, "dQw4w9WgXcQ")
	return x
}

func fakeCache(t *testing.T, objs ...client.Object) client.Client {
	t.Helper()
	scheme := runtime.NewScheme()
	if err := v1alpha1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	b := fake.NewClientBuilder().WithScheme(scheme).WithObjects(objs...)
	for field, extract := range slotIndexes() {
		b = b.WithIndex(&v1alpha1.YouTubeExtraction{}, field, extract)
	}
	return b.Build()
}

func mustTake(t *testing.T, s *slots, x *v1alpha1.YouTubeExtraction, want bool) func() {
	t.Helper()
	ok, undo, err := s.take(context.Background(), x)
	if err != nil {
		t.Fatal(err)
	}
	if ok != want {
		t.Fatalf("take(%s/%s) = %v, want %v", x.Namespace, x.Name, ok, want)
	}
	return undo
}

func TestSlotsCountQueuedAndRunningOnly(t *testing.T) {
	backoff := extraction("a", "backoff", 0, v1alpha1.PhasePending)
	status.AttemptFailed(backoff, v1alpha1.ReasonDownloadFailed, "503", metav1.NewTime(base))
	deleting := extraction("a", "deleting", 0, v1alpha1.PhaseRunning)
	deleting.DeletionTimestamp = &metav1.Time{Time: base}
	deleting.Finalizers = []string{Finalizer}
	cache := fakeCache(t,
		extraction("a", "queued", 0, v1alpha1.PhaseQueued),
		extraction("a", "running", 0, v1alpha1.PhaseRunning),
		extraction("a", "done", 0, v1alpha1.PhaseSucceeded),
		extraction("a", "failed", 0, v1alpha1.PhaseFailed),
		backoff, deleting,
		extraction("b", "running", 0, v1alpha1.PhaseRunning),
		created("a", "one", 1), created("a", "two", 2), created("b", "other", 2),
	)
	s := newSlots(3, cache)
	mustTake(t, s, fresh("a", "one", 1), true)
	// The cache has not seen "one" Queued; the memory counts it.
	mustTake(t, s, fresh("a", "two", 2), false)
	mustTake(t, s, fresh("b", "other", 2), true)
}

func TestSlotsHoldUnderConcurrency(t *testing.T) {
	var objs []client.Object
	for i := range 40 {
		objs = append(objs, created("a", fmt.Sprintf("x-%02d", i), i))
	}
	s := newSlots(5, fakeCache(t, objs...))
	var won atomic.Int32
	var wg sync.WaitGroup
	for i := range 40 {
		wg.Go(func() {
			ok, _, err := s.take(context.Background(), fresh("a", fmt.Sprintf("x-%02d", i), i))
			if err != nil {
				t.Error(err)
			}
			if ok {
				won.Add(1)
			}
		})
	}
	wg.Wait()
	if won.Load() != 5 {
		t.Fatalf("%d of 40 concurrent takes won a slot, want 5", won.Load())
	}
}

func TestSlotsFreeWhenTheCacheCatchesUp(t *testing.T) {
	one := fresh("a", "one", 1)
	two := fresh("a", "two", 2)
	cache := fakeCache(t, created("a", "one", 1), created("a", "two", 2))
	s := newSlots(1, cache)
	mustTake(t, s, one, true)
	mustTake(t, s, two, false)

	// The cache sees "one" Queued, then Succeeded: its slot frees.
	status.Queued(one, "queued")
	cacheSees(t, cache, one)
	mustTake(t, s, two, false)
	if n := len(s.admitted["a"]); n != 0 {
		t.Errorf("%d admissions remembered after the cache caught up, want 0", n)
	}
	status.Succeeded(one, "done", metav1.NewTime(base))
	cacheSees(t, cache, one)
	mustTake(t, s, two, true)
}

// cacheSees makes the cache show x as it is now.
func cacheSees(t *testing.T, cache client.Client, x *v1alpha1.YouTubeExtraction) {
	t.Helper()
	var c v1alpha1.YouTubeExtraction
	if err := cache.Get(context.Background(), client.ObjectKeyFromObject(x), &c); err != nil {
		t.Fatal(err)
	}
	c.Status = *x.Status.DeepCopy()
	if err := cache.Update(context.Background(), &c); err != nil {
		t.Fatal(err)
	}
}

// An informer updates its cache while a count reads it: the count lists
// those in flight, then reads each admission this process remembers. An
// admission whose Queued status lands in between is in neither the list
// (too early) nor the memory (caught up, so forgotten), unless the count
// goes by what the cache shows of it when it is read.
func TestSlotsCountAnAdmissionThatCatchesUpDuringTheCount(t *testing.T) {
	one, two, three := fresh("a", "one", 1), fresh("a", "two", 2), fresh("a", "three", 3)
	cache := fakeCache(t, created("a", "one", 1), created("a", "two", 2), created("a", "three", 3))
	s := newSlots(2, cache)
	mustTake(t, s, one, true)
	mustTake(t, s, two, true)

	status.Queued(one, "queued")
	s.cache = &landsAfterList{Client: cache, t: t, x: one}
	mustTake(t, s, three, false)
	if !s.cache.(*landsAfterList).landed {
		t.Fatal("the update did not land between the list and the reads: the test proves nothing")
	}
}

// landsAfterList is a cache in which the informer stores x just after the
// first list of those in flight.
type landsAfterList struct {
	client.Client
	t      *testing.T
	x      *v1alpha1.YouTubeExtraction
	landed bool
}

func (c *landsAfterList) List(ctx context.Context, l client.ObjectList, opts ...client.ListOption) error {
	if err := c.Client.List(ctx, l, opts...); err != nil {
		return err
	}
	o := (&client.ListOptions{}).ApplyOptions(opts)
	if !c.landed && o.FieldSelector != nil && strings.Contains(o.FieldSelector.String(), inFlightIndex) {
		c.landed = true
		cacheSees(c.t, c.Client, c.x)
	}
	return nil
}

func TestSlotsUndoAndRelease(t *testing.T) {
	one, two := fresh("a", "one", 1), fresh("a", "two", 2)
	s := newSlots(1, fakeCache(t, created("a", "one", 1), created("a", "two", 2)))
	undo := mustTake(t, s, one, true)
	mustTake(t, s, two, false)
	undo() // writing Queued failed
	mustTake(t, s, two, true)
	s.release(client.ObjectKeyFromObject(two)) // it waits after all, or is gone
	mustTake(t, s, one, true)

	// An admission whose resource is gone from the cache frees at once.
	if err := s.cache.(client.Client).Delete(context.Background(), one); err != nil {
		t.Fatal(err)
	}
	mustTake(t, s, two, true)
}

func TestSlotsLetTheOldestWaitingInFirst(t *testing.T) {
	cache := fakeCache(t,
		extraction("a", "running", 0, v1alpha1.PhaseRunning),
		waiting("a", "w-b", 5), waiting("a", "w-a", 5), waiting("a", "w-c", 3),
	)
	s := newSlots(3, cache)
	next, err := s.next(context.Background(), "a")
	if err != nil {
		t.Fatal(err)
	}
	// Two free slots: the oldest, then the first name of the same age.
	if len(next) != 2 || next[0].Name != "w-c" || next[1].Name != "w-a" {
		t.Fatalf("next = %v, want w-c, w-a", next)
	}
	mustTake(t, s, fresh("a", "newcomer", 9), false) // not in the cache yet either
	mustTake(t, s, waiting("a", "w-b", 5), false)
	mustTake(t, s, waiting("a", "w-a", 5), true)
	mustTake(t, s, waiting("a", "w-c", 3), true)
	next, _ = s.next(context.Background(), "a")
	if len(next) != 0 {
		t.Fatalf("next = %v with every slot taken", next)
	}
}

func TestNoCapWhenZero(t *testing.T) {
	var objs []client.Object
	for i := range 100 {
		objs = append(objs, extraction("a", fmt.Sprintf("r-%d", i), 0, v1alpha1.PhaseRunning))
	}
	s := newSlots(0, fakeCache(t, objs...))
	mustTake(t, s, fresh("a", "one-more", 1), true)
}

func TestCaughtUp(t *testing.T) {
	a := admission{uid: "u", generation: 2, attempt: 3}
	at := func(gen int64, attempt int32, phase v1alpha1.Phase, mutate ...func(*v1alpha1.YouTubeExtraction)) *v1alpha1.YouTubeExtraction {
		x := &v1alpha1.YouTubeExtraction{ObjectMeta: metav1.ObjectMeta{UID: "u", Generation: gen}}
		x.Status = v1alpha1.YouTubeExtractionStatus{ObservedGeneration: gen, Attempts: attempt, Phase: phase}
		for _, f := range mutate {
			f(x)
		}
		return x
	}
	cases := []struct {
		name string
		c    *v1alpha1.YouTubeExtraction
		want bool
	}{
		{"older generation", at(1, 5, v1alpha1.PhaseRunning), false},
		{"earlier attempt running", at(2, 2, v1alpha1.PhaseRunning), false},
		{"earlier attempt ended", at(2, 2, v1alpha1.PhasePending), false},
		{"still waiting", at(2, 3, v1alpha1.PhasePending, func(x *v1alpha1.YouTubeExtraction) { status.Wait(x, "busy") }), false},
		{"queued", at(2, 3, v1alpha1.PhaseQueued), true},
		{"running", at(2, 3, v1alpha1.PhaseRunning), true},
		{"succeeded", at(2, 3, v1alpha1.PhaseSucceeded), true},
		{"ended, awaiting retry", at(2, 3, v1alpha1.PhasePending, func(x *v1alpha1.YouTubeExtraction) {
			status.AttemptFailed(x, v1alpha1.ReasonTimeout, "silent", metav1.NewTime(base))
		}), true},
		{"later attempt", at(2, 4, v1alpha1.PhasePending), true},
		{"later generation", at(3, 1, v1alpha1.PhasePending), true},
		{"created again", at(1, 1, v1alpha1.PhasePending, func(x *v1alpha1.YouTubeExtraction) { x.UID = "v" }), true},
	}
	for _, c := range cases {
		if got := caughtUp(c.c, a); got != c.want {
			t.Errorf("%s: caughtUp = %v, want %v", c.name, got, c.want)
		}
	}
}
