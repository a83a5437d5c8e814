package controllers

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	clocktesting "k8s.io/utils/clock/testing"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	v1alpha1 "ytx.dev/ytx/api/v1alpha1"
	"ytx.dev/ytx/internal/eventtest"
	"ytx.dev/ytx/internal/job"
	"ytx.dev/ytx/internal/kafka"
	"ytx.dev/ytx/internal/storage"
)

// The state-machine tests drive Reconcile one call at a time against
// controller-runtime's fake client (status subresource, resourceVersion
// conflicts, finalizers), a fake clock, a publisher that records what it is
// given and an event recorder that records what it is told. The fake client
// is both the API server and the informer cache here: the cache never lags.

const (
	ns       = "music"
	videoURL = "https://www.youtube.com/watch?v=dQw4w9WgXcQ"
	videoID  = "dQw4w9WgXcQ"
)

type harness struct {
	t      *testing.T
	client client.Client
	clock  *clocktesting.FakeClock
	pub    *publisher
	events *eventtest.Log
	r      *Reconciler

	// beforeStatusWrite, when set, runs once just before the next status
	// write reaches the API server: another writer (a worker) that gets
	// there first.
	mu                sync.Mutex
	beforeStatusWrite func(ctx context.Context, c client.Client)
}

// newHarness builds a Reconciler as New does, on a fake API server holding
// objs, with the clock at base.
func newHarness(t *testing.T, opts Options, objs ...client.Object) *harness {
	t.Helper()
	h := &harness{t: t, clock: clocktesting.NewFakeClock(base), pub: &publisher{}, events: &eventtest.Log{}}
	scheme := runtime.NewScheme()
	if err := v1alpha1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	b := fake.NewClientBuilder().WithScheme(scheme).WithObjects(objs...).
		WithStatusSubresource(&v1alpha1.YouTubeExtraction{}).
		WithInterceptorFuncs(interceptor.Funcs{
			SubResourceUpdate: func(ctx context.Context, c client.Client, sub string, obj client.Object, o ...client.SubResourceUpdateOption) error {
				h.runBeforeStatusWrite(ctx, c)
				return c.SubResource(sub).Update(ctx, obj, o...)
			},
			SubResourcePatch: func(ctx context.Context, c client.Client, sub string, obj client.Object, p client.Patch, o ...client.SubResourcePatchOption) error {
				h.runBeforeStatusWrite(ctx, c)
				return c.SubResource(sub).Patch(ctx, obj, p, o...)
			},
			Delete: deleteWithUIDPrecondition,
		})
	for field, extract := range slotIndexes() {
		b = b.WithIndex(&v1alpha1.YouTubeExtraction{}, field, extract)
	}
	h.client = b.Build()
	// The controller reads through a cache that trims as the manager's
	// does (cache.go); the API server's copy stays whole.
	cached := trimming{h.client}
	h.r = newReconciler(cached, h.client, cached, h.pub, h.events, opts)
	h.r.now = h.clock.Now
	if err := h.r.watchQueue(h.client); err != nil {
		t.Fatal(err)
	}
	return h
}

// trimming reads as the manager's cache does: without the fields Trim
// drops.
type trimming struct{ client.Client }

func (c trimming) Get(ctx context.Context, key client.ObjectKey, obj client.Object, o ...client.GetOption) error {
	if err := c.Client.Get(ctx, key, obj, o...); err != nil {
		return err
	}
	_, err := Trim(obj)
	return err
}

func (c trimming) List(ctx context.Context, list client.ObjectList, o ...client.ListOption) error {
	if err := c.Client.List(ctx, list, o...); err != nil {
		return err
	}
	if l, ok := list.(*v1alpha1.YouTubeExtractionList); ok {
		for i := range l.Items {
			if _, err := Trim(&l.Items[i]); err != nil {
				return err
			}
		}
	}
	return nil
}

// runBeforeStatusWrite runs beforeStatusWrite, once.
func (h *harness) runBeforeStatusWrite(ctx context.Context, c client.Client) {
	h.mu.Lock()
	f := h.beforeStatusWrite
	h.beforeStatusWrite = nil
	h.mu.Unlock()
	if f != nil {
		f(ctx, c)
	}
}

// deleteWithUIDPrecondition makes the fake client check a UID precondition
// as the API server does (the fake checks only resourceVersion ones).
func deleteWithUIDPrecondition(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.DeleteOption) error {
	var o client.DeleteOptions
	o.ApplyOptions(opts)
	if p := o.Preconditions; p != nil && p.UID != nil {
		var cur v1alpha1.YouTubeExtraction
		if err := c.Get(ctx, client.ObjectKeyFromObject(obj), &cur); err != nil {
			return err
		}
		if cur.UID != *p.UID {
			return apierrors.NewConflict(schema.GroupResource{Group: "ytx.dev", Resource: "youtubeextractions"}, obj.GetName(),
				fmt.Errorf("precondition failed: UID in precondition: %s, UID in object meta: %s", *p.UID, cur.UID))
		}
	}
	return c.Delete(ctx, obj, opts...)
}

// before sets the hook that runs just before the next status write.
func (h *harness) before(f func(ctx context.Context, c client.Client)) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.beforeStatusWrite = f
}

func (h *harness) reconcile(name string) (ctrl.Result, error) {
	return h.r.Reconcile(context.Background(), ctrl.Request{NamespacedName: types.NamespacedName{Namespace: ns, Name: name}})
}

// step reconciles name once and fails the test on an error.
func (h *harness) step(name string) ctrl.Result {
	h.t.Helper()
	res, err := h.reconcile(name)
	if err != nil {
		h.t.Fatalf("reconciling %s: %v", name, err)
	}
	return res
}

func (h *harness) at(d time.Duration) { h.clock.SetTime(base.Add(d)) }

func (h *harness) get(name string) *v1alpha1.YouTubeExtraction {
	h.t.Helper()
	var x v1alpha1.YouTubeExtraction
	if err := h.client.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: name}, &x); err != nil {
		h.t.Fatalf("reading %s: %v", name, err)
	}
	return &x
}

func (h *harness) exists(name string) bool {
	h.t.Helper()
	var x v1alpha1.YouTubeExtraction
	err := h.client.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: name}, &x)
	if err != nil && !apierrors.IsNotFound(err) {
		h.t.Fatal(err)
	}
	return err == nil
}

// writeStatus changes the stored status as another writer (a worker) does.
func (h *harness) writeStatus(name string, mutate func(*v1alpha1.YouTubeExtraction)) {
	h.t.Helper()
	x := h.get(name)
	mutate(x)
	if err := h.client.Status().Update(context.Background(), x); err != nil {
		h.t.Fatalf("writing the status of %s: %v", name, err)
	}
}

// wantSent checks that exactly msgs were published since the last check.
func (h *harness) wantSent(msgs ...job.Message) {
	h.t.Helper()
	if got := h.pub.take(); !slices.Equal(got, msgs) {
		h.t.Errorf("published %v, want %v", got, msgs)
	}
}

// wantEvents checks that exactly these events ("Type Reason") were recorded
// since the last check, and returns them.
func (h *harness) wantEvents(want ...string) []eventtest.Event {
	h.t.Helper()
	return h.events.Want(h.t, want...)
}

func msg(name string, generation int64, attempt int32) job.Message {
	return job.Message{Namespace: ns, Name: name, UID: uid(name), Generation: generation, Attempt: attempt}
}

func uid(name string) types.UID { return types.UID("uid-" + name) }

// resource is a new resource of ns, created at base, generation 1, asking
// for videoURL, with no status yet.
func resource(name string, mutate ...func(*v1alpha1.YouTubeExtraction)) *v1alpha1.YouTubeExtraction {
	x := &v1alpha1.YouTubeExtraction{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, UID: uid(name), Generation: 1, CreationTimestamp: metav1.NewTime(base)},
		Spec:       v1alpha1.YouTubeExtractionSpec{URL: videoURL},
	}
	for _, f := range mutate {
		f(x)
	}
	return x
}

// cond is a condition as "True Published", or "" when absent.
func cond(x *v1alpha1.YouTubeExtraction, typ string) string {
	c := meta.FindStatusCondition(x.Status.Conditions, typ)
	if c == nil {
		return ""
	}
	return string(c.Status) + " " + c.Reason
}

// publisher records the messages it is given; it fails with err when set.
type publisher struct {
	mu   sync.Mutex
	sent []job.Message
	err  error
	// during, when set, runs inside each Publish: what happens on the API
	// server while the message is on its way.
	during func(job.Message)
	// keys are the keys of PublishKeyed, in order; place says where a
	// message under a key lands (lostjobs_test.go).
	keys  []string
	place func(key string) kafka.Position
}

func (p *publisher) Publish(_ context.Context, m job.Message) error {
	p.mu.Lock()
	during, err := p.during, p.err
	p.mu.Unlock()
	if during != nil {
		during(m)
	}
	if err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.sent = append(p.sent, m)
	return nil
}

func (p *publisher) fail(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.err = err
}

func (p *publisher) take() []job.Message {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.sent
	p.sent = nil
	return s
}

// store is a directory store in a temporary directory that can be made to
// fail.
type store struct {
	storage.Store
	root string

	mu                 sync.Mutex
	deleteErr, listErr error
	opens              map[string]int // reads of each key, by Open
}

func newStore(t *testing.T) *store {
	t.Helper()
	root := t.TempDir()
	s, err := storage.Open("file://" + root)
	if err != nil {
		t.Fatal(err)
	}
	return &store{Store: s, root: root}
}

func (s *store) failing(deleteErr, listErr error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.deleteErr, s.listErr = deleteErr, listErr
}

func (s *store) Delete(ctx context.Context, prefix string) error {
	s.mu.Lock()
	err := s.deleteErr
	s.mu.Unlock()
	if err != nil {
		return err
	}
	return s.Store.Delete(ctx, prefix)
}

func (s *store) Open(ctx context.Context, key string) (io.ReadCloser, error) {
	s.mu.Lock()
	if s.opens == nil {
		s.opens = map[string]int{}
	}
	s.opens[key]++
	s.mu.Unlock()
	return s.Store.Open(ctx, key)
}

// opened is how many times key was opened for reading.
func (s *store) opened(key string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.opens[key]
}

func (s *store) List(ctx context.Context, prefix string) ([]string, error) {
	s.mu.Lock()
	err := s.listErr
	s.mu.Unlock()
	if err != nil {
		return nil, err
	}
	return s.Store.List(ctx, prefix)
}

// put stores a small file under key.
func (s *store) put(t *testing.T, key string) {
	t.Helper()
	if _, err := s.Put(context.Background(), key, strings.NewReader("x"), storage.PutOptions{Size: 1}); err != nil {
		t.Fatal(err)
	}
}

// putAt stores a small file under key, last modified at mtime.
func (s *store) putAt(t *testing.T, key string, mtime time.Time) {
	t.Helper()
	s.put(t, key)
	if err := os.Chtimes(filepath.Join(s.root, filepath.FromSlash(key)), mtime, mtime); err != nil {
		t.Fatal(err)
	}
}

// interrupted leaves what an interrupted Put leaves beside key.
func (s *store) interrupted(t *testing.T, key string) {
	t.Helper()
	dir, name := filepath.Split(filepath.Join(s.root, filepath.FromSlash(key)))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "."+name+".123.tmp"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
}

// files lists every file under the store's root, hidden ones included.
func (s *store) files(t *testing.T) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(s.root, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(s.root, p)
		out = append(out, filepath.ToSlash(rel))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	return out
}
