package bench

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "ytx.dev/ytx/api/v1alpha1"
	"ytx.dev/ytx/internal/status"
)

// creators is how many clients create the extractions at once, as a big
// `kubectl apply` or several users would.
const creators = 8

// timings are one run's measurements: when each extraction was created
// (just before its Create), and when the watch first saw it at each stage.
type timings struct {
	created []time.Time
	// reached[s][i] is when extraction i was first seen at stage s or later.
	reached [stages][]time.Time
	// complete is reached[stageComplete].
	complete []time.Time
}

// The stages of an extraction that the latencies are measured to.
const (
	stageQueued   = iota // Queued, Running or done
	stageRunning         // Running or done
	stageComplete        // the Complete condition
	stages
)

// stage is how far x has come.
func stage(x *v1alpha1.YouTubeExtraction) int {
	switch {
	case status.Is(x, v1alpha1.ConditionComplete):
		return stageComplete
	case x.Status.Phase == v1alpha1.PhaseRunning:
		return stageRunning
	case x.Status.Phase == v1alpha1.PhaseQueued:
		return stageQueued
	}
	return -1
}

// throughput is extractions per second from the first create to the last
// Complete.
func (t timings) throughput() float64 {
	first := slices.MinFunc(t.created, func(a, b time.Time) int { return a.Compare(b) })
	last := slices.MaxFunc(t.complete, func(a, b time.Time) int { return a.Compare(b) })
	return float64(len(t.created)) / last.Sub(first).Seconds()
}

// latency returns the p-quantile (0 < p <= 1) of create→Complete.
func (t timings) latency(p float64) time.Duration { return t.latencyTo(stageComplete, p) }

// latencyTo returns the p-quantile of create→stage s.
func (t timings) latencyTo(s int, p float64) time.Duration {
	d := make([]time.Duration, len(t.created))
	for i := range d {
		d[i] = t.reached[s][i].Sub(t.created[i])
	}
	slices.Sort(d)
	i := int(p*float64(len(d))+0.999999) - 1
	return d[max(0, min(i, len(d)-1))]
}

// apply creates n metadata-only extractions named prefix-0000... at once
// from several clients and waits until each is Complete. A watch, not
// polling, tells when each completes, so that measuring does not load the
// API server. created, if not nil, receives each extraction as created.
func apply(ctx context.Context, c client.WithWatch, ns, prefix, videoID string, n int, created func(*v1alpha1.YouTubeExtraction)) (timings, error) {
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("%s-%04d", prefix, i)
	}
	w, err := watchComplete(ctx, c, ns, names)
	if err != nil {
		return timings{}, err
	}
	t := timings{created: make([]time.Time, n)}
	if err := createAll(ctx, c, ns, names, videoID, t.created, created); err != nil {
		return t, err
	}
	if err := w.wait(ctx); err != nil {
		return t, err
	}
	for s := range stages {
		t.reached[s] = make([]time.Time, n)
		for i, name := range names {
			t.reached[s][i] = w.seen[name][s]
		}
	}
	t.complete = t.reached[stageComplete]
	return t, nil
}

// createAll creates the extractions from `creators` goroutines, recording
// the time just before each Create.
func createAll(ctx context.Context, c client.Client, ns string, names []string, videoID string, at []time.Time, created func(*v1alpha1.YouTubeExtraction)) error {
	next := make(chan int)
	errs := make(chan error, creators)
	var wg sync.WaitGroup
	for range creators {
		wg.Go(func() {
			for i := range next {
				x := extraction(ns, names[i], videoID)
				at[i] = time.Now()
				if err := c.Create(ctx, x); err != nil {
					errs <- fmt.Errorf("creating %s: %w", names[i], err)
					return
				}
				if created != nil {
					created(x)
				}
			}
		})
	}
	go func() {
		defer close(next)
		for i := range names {
			select {
			case next <- i:
			case <-ctx.Done():
				return
			}
		}
	}()
	wg.Wait()
	close(errs)
	return <-errs
}

// completeWatch records when each of a set of extractions is first seen
// at each stage, until each is Complete.
type completeWatch struct {
	mu       sync.Mutex
	seen     map[string]*[stages]time.Time
	complete int
	done     chan struct{}
	err      error
}

// watchComplete starts watching namespace ns; it returns once the watch is
// established, so that no completion is missed.
func watchComplete(ctx context.Context, c client.WithWatch, ns string, names []string) (*completeWatch, error) {
	w := &completeWatch{seen: map[string]*[stages]time.Time{}, done: make(chan struct{})}
	for _, name := range names {
		w.seen[name] = &[stages]time.Time{}
	}
	var list v1alpha1.YouTubeExtractionList
	if err := c.List(ctx, &list, client.InNamespace(ns)); err != nil {
		return nil, err
	}
	wi, err := w.open(ctx, c, ns, list.ResourceVersion)
	if err != nil {
		return nil, err
	}
	go w.run(ctx, c, ns, wi, list.ResourceVersion)
	return w, nil
}

func (w *completeWatch) open(ctx context.Context, c client.WithWatch, ns, rv string) (watch.Interface, error) {
	return c.Watch(ctx, &v1alpha1.YouTubeExtractionList{}, client.InNamespace(ns),
		&client.ListOptions{Raw: &metav1.ListOptions{ResourceVersion: rv, AllowWatchBookmarks: true}})
}

// run consumes the watch, opening it again from the last resourceVersion
// when the API server ends it, until every extraction was seen Complete.
func (w *completeWatch) run(ctx context.Context, c client.WithWatch, ns string, wi watch.Interface, rv string) {
	defer close(w.done)
	for {
		for ev := range wi.ResultChan() {
			x, ok := ev.Object.(*v1alpha1.YouTubeExtraction)
			if !ok {
				continue // an error status: open again from rv
			}
			rv = x.ResourceVersion
			if ev.Type != watch.Bookmark && w.record(x) {
				wi.Stop()
				return
			}
		}
		var err error
		for wi, err = w.open(ctx, c, ns, rv); err != nil; wi, err = w.open(ctx, c, ns, rv) {
			if ctx.Err() != nil {
				w.err = err
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
}

// record notes the stages x reaches for the first time; it reports
// whether all are Complete.
func (w *completeWatch) record(x *v1alpha1.YouTubeExtraction) bool {
	now := time.Now()
	w.mu.Lock()
	defer w.mu.Unlock()
	at := w.seen[x.Name]
	if at == nil {
		return false
	}
	for s := stage(x); s >= 0 && at[s].IsZero(); s-- {
		at[s] = now
		if s == stageComplete {
			w.complete++
		}
	}
	return w.complete == len(w.seen)
}

func (w *completeWatch) wait(ctx context.Context) error {
	select {
	case <-w.done:
		return w.err
	case <-ctx.Done():
		w.mu.Lock()
		defer w.mu.Unlock()
		return fmt.Errorf("%d of %d extractions Complete: %w", w.complete, len(w.seen), ctx.Err())
	}
}
