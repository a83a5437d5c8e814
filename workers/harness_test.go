package workers

import (
	"context"
	"errors"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	v1alpha1 "ytx.dev/ytx/api/v1alpha1"
	"ytx.dev/ytx/internal/eventtest"
	"ytx.dev/ytx/internal/failure"
	"ytx.dev/ytx/internal/job"
	"ytx.dev/ytx/internal/resolver"
	"ytx.dev/ytx/internal/status"
	"ytx.dev/ytx/internal/storage"
)

// The worker's state-machine tests run a Worker against controller-runtime's
// fake client (status subresource, resourceVersion conflicts) with a fake
// clock and an event recorder that keeps what it is told. The fake client
// can be made to fail reads or status writes, and to let another writer in
// just before the worker's next status write.

func TestMain(m *testing.M) {
	// apiBackoff paces retries against a real API server (200 ms doubling);
	// against the fake one a millisecond keeps the retry tests fast. Only
	// the pace changes, not what is retried.
	apiBackoff = wait.Backoff{Duration: time.Millisecond, Factor: 2, Cap: 2 * time.Millisecond, Steps: 1 << 30}
	os.Exit(m.Run())
}

const (
	ns      = "music"
	videoID = "dQw4w9WgXcQ"
	me      = "w-1"
)

var base = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// errAPI is an API error that passes (the server is restarting).
var errAPI = apierrors.NewInternalError(errors.New("etcdserver: leader changed"))

type harness struct {
	t *testing.T
	// client is the worker's: its calls are counted and can be failed.
	// api is the fake API server itself, for the test and other writers.
	client, api client.Client
	clock       *clocktesting.FakeClock
	events      *eventtest.Log
	w           *Worker
	// store is the worker's: a directory under root.
	store storage.Store
	root  string

	reads, statusWrites atomic.Int32 // the worker's calls that reached the fake API server or were failed

	mu sync.Mutex
	// failReads and failStatusWrites fail the next n reads or status
	// writes with errAPI; -1 fails all.
	failReads, failStatusWrites int
	// beforeStatusWrite, when set, runs once just before the next status
	// write: another writer that gets there first.
	beforeStatusWrite func(ctx context.Context, c client.Client)
}

func newHarness(t *testing.T, opts Options, objs ...client.Object) *harness {
	t.Helper()
	h := &harness{t: t, clock: clocktesting.NewFakeClock(base), events: &eventtest.Log{}}
	scheme := runtime.NewScheme()
	if err := v1alpha1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	api := fake.NewClientBuilder().WithScheme(scheme).WithObjects(objs...).
		WithStatusSubresource(&v1alpha1.YouTubeExtraction{}).Build()
	h.api = api
	h.client = interceptor.NewClient(api, interceptor.Funcs{
		Get: func(ctx context.Context, c client.WithWatch, key client.ObjectKey, obj client.Object, o ...client.GetOption) error {
			h.reads.Add(1)
			if h.failing(&h.failReads) {
				return errAPI
			}
			return c.Get(ctx, key, obj, o...)
		},
		SubResourceUpdate: func(ctx context.Context, c client.Client, sub string, obj client.Object, o ...client.SubResourceUpdateOption) error {
			h.statusWrites.Add(1)
			h.mu.Lock()
			before := h.beforeStatusWrite
			h.beforeStatusWrite = nil
			h.mu.Unlock()
			if before != nil {
				before(ctx, c)
			}
			if h.failing(&h.failStatusWrites) {
				return errAPI
			}
			return c.SubResource(sub).Update(ctx, obj, o...)
		},
	})
	if opts.Name == "" {
		opts.Name = me
	}
	if opts.ScratchDir == "" {
		opts.ScratchDir = t.TempDir()
	}
	h.root = t.TempDir()
	store, err := storage.Open("file://" + h.root)
	if err != nil {
		t.Fatal(err)
	}
	h.store = store
	h.w = New(Deps{Client: h.client, Reader: h.client, Events: h.events, Log: logr.Discard(), Store: store,
		Chain: resolver.NewChain(resolver.ChainOptions{}, resolving(func(context.Context, resolver.Request) (*resolver.Video, error) {
			return nil, failure.Retryable(v1alpha1.ReasonDownloadFailed, nil, "no network in unit tests")
		}))}, opts)
	h.w.clock = h.clock
	return h
}

// resolve makes the worker read every video with f: what YouTube answers,
// and what happens meanwhile.
func (h *harness) resolve(f resolving) {
	h.w.chain = resolver.NewChain(resolver.ChainOptions{}, f)
}

// resolving is a resolver whose answer the test writes. No test here
// downloads anything.
type resolving func(ctx context.Context, req resolver.Request) (*resolver.Video, error)

func (resolving) Name() string    { return "test" }
func (resolving) Version() string { return "0" }

func (f resolving) Resolve(ctx context.Context, req resolver.Request) (*resolver.Video, error) {
	return f(ctx, req)
}

func (resolving) MediaURL(context.Context, resolver.Request, *resolver.Video, *resolver.Format) (string, http.Header, error) {
	return "", nil, errors.New("no media in unit tests")
}

func (h *harness) failing(n *int) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case *n < 0:
		return true
	case *n > 0:
		*n--
		return true
	}
	return false
}

func (h *harness) failNextReads(n int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.failReads = n
}

func (h *harness) failNextStatusWrites(n int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.failStatusWrites = n
}

// before lets another writer change the resource just before the worker's
// next status write.
func (h *harness) before(mutate func(*v1alpha1.YouTubeExtraction)) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.beforeStatusWrite = func(ctx context.Context, c client.Client) {
		h.t.Helper()
		var x v1alpha1.YouTubeExtraction
		if err := c.Get(ctx, types.NamespacedName{Namespace: ns, Name: "a"}, &x); err != nil {
			h.t.Error(err)
			return
		}
		mutate(&x)
		if err := c.Status().Update(ctx, &x); err != nil {
			h.t.Error(err)
		}
	}
}

func (h *harness) get() *v1alpha1.YouTubeExtraction {
	h.t.Helper()
	var x v1alpha1.YouTubeExtraction
	if err := h.api.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: "a"}, &x); err != nil {
		h.t.Fatalf("reading the resource: %v", err)
	}
	return &x
}

// meanwhile is another writer (the manager, another worker) changing the
// stored status now.
func (h *harness) meanwhile(mutate func(*v1alpha1.YouTubeExtraction)) {
	h.t.Helper()
	x := h.get()
	mutate(x)
	if err := h.api.Status().Update(context.Background(), x); err != nil {
		h.t.Fatal(err)
	}
}

// deleted makes the user delete the resource: with a finalizer it stays,
// being deleted; without, it is gone.
func (h *harness) deleted(keep bool) {
	h.t.Helper()
	x := h.get()
	if keep {
		x.Finalizers = []string{"ytx.dev/artifacts"}
		if err := h.api.Update(context.Background(), x); err != nil {
			h.t.Fatal(err)
		}
	}
	if err := h.api.Delete(context.Background(), x); err != nil {
		h.t.Fatal(err)
	}
}

// specChanged makes the user change the spec: generation 2.
func (h *harness) specChanged() {
	h.t.Helper()
	x := h.get()
	x.Generation = 2
	x.Spec.Thumbnail = true
	if err := h.api.Update(context.Background(), x); err != nil {
		h.t.Fatal(err)
	}
}

// claimed claims attempt 1 of "a" for this worker and fails the test if it
// cannot.
func (h *harness) claimed() *claim {
	h.t.Helper()
	c, drop, err := h.w.claim(context.Background(), msg(1))
	if err != nil || drop != "" || c == nil {
		h.t.Fatalf("claim: %v, drop %q", err, drop)
	}
	return c
}

func (h *harness) wantEvents(want ...string) []eventtest.Event {
	h.t.Helper()
	return h.events.Want(h.t, want...)
}

// eventually waits, in real time but briefly, for what a goroutine of the
// worker does after the fake clock moved.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// msg is the message of attempt n of generation 1 of "a".
func msg(n int32) job.Message {
	return job.Message{Version: job.Version, Namespace: ns, Name: "a", UID: "uid-a", Generation: 1, Attempt: n}
}

// resource is "a" at generation 1, as the manager left it after states.
func resource(states ...func(*v1alpha1.YouTubeExtraction)) *v1alpha1.YouTubeExtraction {
	x := &v1alpha1.YouTubeExtraction{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "a", UID: "uid-a", Generation: 1, CreationTimestamp: metav1.NewTime(base)},
		Spec:       v1alpha1.YouTubeExtractionSpec{URL: "https://youtu.be/" + videoID},
	}
	for _, f := range states {
		f(x)
	}
	return x
}

func atAttempt(n int32) func(*v1alpha1.YouTubeExtraction) {
	return func(x *v1alpha1.YouTubeExtraction) {
		status.StartGeneration(x, videoID)
		if n > 1 {
			status.NextAttempt(x, n)
		}
	}
}

func queued(x *v1alpha1.YouTubeExtraction) { status.Queued(x, "queued") }

func claimedBy(worker string) func(*v1alpha1.YouTubeExtraction) {
	return func(x *v1alpha1.YouTubeExtraction) { status.Claimed(x, worker, metav1.NewTime(base)) }
}

// timedOut is the manager ending the attempt for want of a heartbeat.
func timedOut(x *v1alpha1.YouTubeExtraction) {
	status.AttemptFailed(x, v1alpha1.ReasonTimeout, "no heartbeat", metav1.NewTime(base))
}

func cond(x *v1alpha1.YouTubeExtraction, typ string) string {
	c := meta.FindStatusCondition(x.Status.Conditions, typ)
	if c == nil {
		return ""
	}
	return string(c.Status) + " " + c.Reason
}
