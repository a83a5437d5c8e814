package controllers

import (
	"cmp"
	"context"
	"slices"
	"sync"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	v1alpha1 "ytx.dev/ytx/api/v1alpha1"
	"ytx.dev/ytx/internal/status"
)

// DefaultMaxInFlightPerNamespace is `ytx manager`'s default cap on the
// extractions of one namespace that are Queued or Running at once.
const DefaultMaxInFlightPerNamespace = 50

// Field indexes of the cache, keyed by namespace, so that counting a
// namespace's slots is an indexed lookup, not a scan of every resource.
const (
	inFlightIndex = "ytx.inflight"
	waitingIndex  = "ytx.waiting"
)

// holdsSlot reports whether x counts against its namespace's cap.
//
// Queued and Running hold a slot: their job is on the topic or on a worker.
// Everything else holds none. In particular a resource waiting out a retry
// backoff is Pending and holds none: the backoff can be minutes
// (--retry-backoff-max), and a namespace whose jobs keep failing would
// otherwise sit on its slots doing nothing while its waiting ones, which may
// well succeed, stay out. Its next attempt takes a slot like any other. A
// resource being deleted holds none either: its worker stops at its next
// status write, and a message still on the topic is dropped unread.
func holdsSlot(x *v1alpha1.YouTubeExtraction) bool {
	return x.DeletionTimestamp.IsZero() &&
		(x.Status.Phase == v1alpha1.PhaseQueued || x.Status.Phase == v1alpha1.PhaseRunning)
}

// waits reports whether x waits for a slot of its namespace.
func waits(x *v1alpha1.YouTubeExtraction) bool {
	return x.DeletionTimestamp.IsZero() && status.Waiting(x)
}

// admission is the attempt that this process moved to Queued.
type admission struct {
	uid        types.UID
	generation int64
	attempt    int32
}

// caughtUp reports whether c, a cached copy, shows admission a or anything
// after it, so that the cache alone counts it from now on. Generations and
// attempts only grow, and before its admission an attempt is Pending; so a
// copy at an earlier attempt, or Pending at this one, is taken as not caught
// up. (Pending at this one may also be a later hand-back: counting it a
// little longer errs on the side of the cap, and the hand-back's own
// reconcile soon takes the slot again or releases it.)
func caughtUp(c *v1alpha1.YouTubeExtraction, a admission) bool {
	switch {
	case c.UID != a.uid:
		return true // deleted and created again: a different resource
	case c.Status.ObservedGeneration != a.generation:
		return c.Status.ObservedGeneration > a.generation
	case c.Status.Attempts != a.attempt:
		return c.Status.Attempts > a.attempt
	}
	return c.Status.Phase == v1alpha1.PhaseQueued || c.Status.Phase == v1alpha1.PhaseRunning ||
		c.Status.Phase.Finished() || status.AttemptEnded(c)
}

// slots enforces the per-namespace cap on jobs in flight.
//
// The count is what the informer cache shows Queued or Running (an indexed
// list), plus the resources this process admitted whose cached copy has not
// caught up yet: the cache lags the writes, and without that memory two
// reconciles in a row, or at once, would both see the last slot free. The
// mutex makes counting and taking one step, so that concurrent reconciles
// (MaxConcurrentReconciles > 1) cannot both take the last slot.
//
// Waiting resources are let in oldest first (creationTimestamp, then name):
// a resource takes a free slot only if fewer older ones wait than there are
// free slots, so that a newcomer does not overtake those already waiting.
type slots struct {
	max   int
	cache client.Reader

	mu       sync.Mutex
	admitted map[string]map[string]admission // namespace → name → attempt
}

func newSlots(perNamespace int, cache client.Reader) *slots {
	return &slots{max: perNamespace, cache: cache, admitted: map[string]map[string]admission{}}
}

// take reserves a slot for the current attempt of x. When it returns false
// x must wait. undo gives the slot back if writing Queued fails.
func (s *slots) take(ctx context.Context, x *v1alpha1.YouTubeExtraction) (ok bool, undo func(), err error) {
	undo = func() {}
	if s.max <= 0 {
		return true, undo, nil
	}
	key := client.ObjectKeyFromObject(x)
	a := admission{uid: x.UID, generation: x.Generation, attempt: x.Status.Attempts}
	s.mu.Lock()
	defer s.mu.Unlock()
	busy, err := s.inFlight(ctx, x.Namespace, x.Name)
	if err != nil || busy >= s.max {
		// Every slot is taken: no need to list those that wait (a
		// channel's thousands, each checking again every WaitRecheck).
		return false, undo, err
	}
	waiting, err := s.waiting(ctx, x.Namespace)
	if err != nil {
		return false, undo, err
	}
	ahead := len(slices.DeleteFunc(waiting, func(w *v1alpha1.YouTubeExtraction) bool { return byAge(w, x) >= 0 }))
	if busy+ahead >= s.max {
		return false, undo, nil
	}
	if s.admitted[x.Namespace][x.Name] == a {
		// This attempt was admitted already and this is a stale read of
		// it: the write that follows loses the conflict, and its undo
		// must not free the slot that the first admission holds.
		return true, undo, nil
	}
	if s.admitted[x.Namespace] == nil {
		s.admitted[x.Namespace] = map[string]admission{}
	}
	s.admitted[x.Namespace][x.Name] = a
	return true, func() { s.release(key) }, nil
}

// release forgets this process's admission of key: it is known not to be
// in flight (it waits, its publish failed, or it is gone).
func (s *slots) release(key types.NamespacedName) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.admitted[key.Namespace], key.Name)
}

// inFlight counts the slots of namespace ns in use, leaving out self (which
// is asking for one). The caller holds s.mu.
func (s *slots) inFlight(ctx context.Context, ns, self string) (int, error) {
	var list v1alpha1.YouTubeExtractionList
	if err := s.cache.List(ctx, &list, client.InNamespace(ns), client.MatchingFields{inFlightIndex: ns}, client.UnsafeDisableDeepCopy); err != nil {
		return 0, err
	}
	names := map[string]bool{}
	for i := range list.Items {
		names[list.Items[i].Name] = true
	}
	for name, a := range s.admitted[ns] {
		var c v1alpha1.YouTubeExtraction
		err := s.cache.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, &c)
		switch {
		case apierrors.IsNotFound(err):
			delete(s.admitted[ns], name)
		case err != nil:
			return 0, err
		case caughtUp(&c, a):
			// The cache shows the admission now, so its memory goes. The
			// list above is an earlier read of a cache that the informer
			// updates meanwhile: it may have shown this one as not yet
			// Queued. Counted by neither, the slot would be given twice.
			delete(s.admitted[ns], name)
			if holdsSlot(&c) {
				names[name] = true
			}
		default:
			names[name] = true
		}
	}
	delete(names, self)
	return len(names), nil
}

// waiting lists the resources of ns that wait for a slot, leaving out those
// this process already admitted. The caller holds s.mu.
func (s *slots) waiting(ctx context.Context, ns string) ([]*v1alpha1.YouTubeExtraction, error) {
	var list v1alpha1.YouTubeExtractionList
	if err := s.cache.List(ctx, &list, client.InNamespace(ns), client.MatchingFields{waitingIndex: ns}, client.UnsafeDisableDeepCopy); err != nil {
		return nil, err
	}
	var out []*v1alpha1.YouTubeExtraction
	for i := range list.Items {
		if _, admitted := s.admitted[ns][list.Items[i].Name]; !admitted {
			out = append(out, &list.Items[i])
		}
	}
	return out, nil
}

// byAge orders resources by creationTimestamp, then name: the order in
// which waiting ones are let in.
func byAge(a, b *v1alpha1.YouTubeExtraction) int {
	return cmp.Or(a.CreationTimestamp.Compare(b.CreationTimestamp.Time), cmp.Compare(a.Name, b.Name))
}

// next is the waiting resources of ns that the free slots can take now,
// oldest first.
func (s *slots) next(ctx context.Context, ns string) ([]reconcile.Request, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	busy, err := s.inFlight(ctx, ns, "")
	if err != nil {
		return nil, err
	}
	waiting, err := s.waiting(ctx, ns)
	if err != nil {
		return nil, err
	}
	slices.SortFunc(waiting, byAge)
	var out []reconcile.Request
	for _, w := range waiting[:min(len(waiting), max(s.max-busy, 0))] {
		out = append(out, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(w)})
	}
	return out, nil
}

// wakeHandler queues the waiting resources of a namespace when a slot of it
// frees: a resource leaves Queued or Running, or goes. It also reacts when a
// resource starts to wait, in case a slot freed between its count and its
// write. Waiting resources also check again every WaitRecheck, as a safety
// net.
func (s *slots) wakeHandler() handler.EventHandler {
	return handler.Funcs{
		UpdateFunc: func(ctx context.Context, e event.UpdateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			o, n := e.ObjectOld.(*v1alpha1.YouTubeExtraction), e.ObjectNew.(*v1alpha1.YouTubeExtraction)
			if holdsSlot(o) && !holdsSlot(n) || !waits(o) && waits(n) {
				s.wake(ctx, n.Namespace, q)
			}
		},
		DeleteFunc: func(ctx context.Context, e event.DeleteEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			s.wake(ctx, e.Object.GetNamespace(), q)
		},
	}
}

func (s *slots) wake(ctx context.Context, ns string, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
	reqs, err := s.next(ctx, ns)
	if err != nil {
		log.FromContext(ctx).Error(err, "finding the extractions that wait for a slot", "namespace", ns)
		return
	}
	for _, r := range reqs {
		q.Add(r)
	}
}

// slotIndexes are the cache's field indexes that slots count with: the
// namespace of each resource that holds a slot, or waits for one.
func slotIndexes() map[string]client.IndexerFunc {
	by := func(match func(*v1alpha1.YouTubeExtraction) bool) client.IndexerFunc {
		return func(o client.Object) []string {
			if x, ok := o.(*v1alpha1.YouTubeExtraction); ok && match(x) {
				return []string{x.Namespace}
			}
			return nil
		}
	}
	return map[string]client.IndexerFunc{inFlightIndex: by(holdsSlot), waitingIndex: by(waits)}
}

// indexSlots registers slotIndexes with the manager's cache.
func indexSlots(ctx context.Context, fi client.FieldIndexer) error {
	for field, extract := range slotIndexes() {
		if err := fi.IndexField(ctx, &v1alpha1.YouTubeExtraction{}, field, extract); err != nil {
			return err
		}
	}
	return nil
}
