package controllers

import (
	"context"
	"slices"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	v1alpha1 "ytx.dev/ytx/api/v1alpha1"
	"ytx.dev/ytx/internal/status"
)

// A watch wakes the resources that wait for a slot when one of their
// namespace frees: oldest first, as many as there are free slots. It also
// reacts when a resource starts to wait, in case a slot freed between its
// count and its write.
func TestWaitingAttemptsAreWokenOldestFirstWhenASlotFrees(t *testing.T) {
	age := func(s int) func(*v1alpha1.YouTubeExtraction) {
		return func(x *v1alpha1.YouTubeExtraction) {
			x.CreationTimestamp = metav1.NewTime(base.Add(time.Duration(s) * time.Second))
		}
	}
	waits := func(x *v1alpha1.YouTubeExtraction) { status.Wait(x, "busy") }
	running := []func(*v1alpha1.YouTubeExtraction){atAttempt(1), queued, claimed(0)}
	// Two slots: r1 holds one; w1 to w3 wait, oldest first.
	waiters := []client.Object{
		resource("w3", age(3), atAttempt(1), waits),
		resource("w1", age(1), atAttempt(1), waits),
		resource("w2", age(2), atAttempt(1), waits),
	}
	for _, tc := range []struct {
		name     string
		old, new *v1alpha1.YouTubeExtraction // new nil: deleted
		want     []string
		// spare is a slot free before the change: a change that frees
		// none must wake none even then (each wake lists the namespace;
		// every heartbeat would).
		spare bool
	}{
		{"a Running one succeeds",
			resource("r2", running...), resource("r2", append(running, succeeded(0))...), []string{"w1"}, false},
		{"a Running one fails and waits out its retry",
			resource("r2", running...), resource("r2", append(running, attemptFailed(v1alpha1.ReasonDownloadFailed, 0))...), []string{"w1"}, false},
		{"a Queued one is handed back",
			resource("r2", atAttempt(1), queued), resource("r2", atAttempt(1), queued, handedBack), []string{"w1"}, false},
		{"a Running one is deleted",
			resource("r2", running...), nil, []string{"w1"}, false},
		{"a Running one heart-beats: nothing frees",
			resource("r2", running...), resource("r2", append(running, func(x *v1alpha1.YouTubeExtraction) {
				x.Status.LastHeartbeatTime = &metav1.Time{Time: base.Add(time.Minute)}
			})...), nil, true},
		{"a Queued one is claimed: nothing frees",
			resource("r2", atAttempt(1), queued), resource("r2", running...), nil, true},
		{"a new one starts to wait while a slot is free",
			resource("w0", age(0)), resource("w0", age(0), atAttempt(1), waits), []string{"w0"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			objs := append([]client.Object{resource("r1", running...)}, waiters...)
			if tc.new != nil {
				objs = append(objs, tc.new) // the cache shows the new state
			}
			max := 2
			if tc.spare {
				max = 3
			}
			h := newHarness(t, Options{MaxInFlightPerNamespace: max}, objs...)
			q := workqueue.NewTypedRateLimitingQueue(workqueue.DefaultTypedControllerRateLimiter[reconcile.Request]())
			defer q.ShutDown()
			ctx := context.Background()
			if tc.new == nil {
				h.r.slots.wakeHandler().Delete(ctx, event.DeleteEvent{Object: tc.old}, q)
			} else {
				h.r.slots.wakeHandler().Update(ctx, event.UpdateEvent{ObjectOld: tc.old, ObjectNew: tc.new}, q)
			}
			var got []string
			for q.Len() > 0 {
				r, _ := q.Get()
				got = append(got, r.Name)
				q.Done(r)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("woken %v, want %v", got, tc.want)
			}
		})
	}
}
