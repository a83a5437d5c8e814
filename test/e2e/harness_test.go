package e2e

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "ytx.dev/ytx/api/v1alpha1"
	"ytx.dev/ytx/controllers"
	"ytx.dev/ytx/internal/app"
	"ytx.dev/ytx/internal/devenv"
	"ytx.dev/ytx/internal/download"
	"ytx.dev/ytx/internal/kafka"
	"ytx.dev/ytx/internal/storage"
	"ytx.dev/ytx/internal/youtube"
	"ytx.dev/ytx/workers"
)

// setup describes one test's ytx.
type setup struct {
	partitions int // of the job topic; default 2
	controller controllers.Options
	// brokers, when set, replaces the shared broker (a test that stops it).
	brokers []string
	// storage is the --storage URL; default a fresh directory.
	storage string
	// otherNamespaces is how many more namespaces the manager watches
	// besides the test's own (env.others), sharing its topic and workers.
	otherNamespaces int
	// http: jobs go over the HTTP transport to env.jobsAddr, where one
	// worker at a time listens; queuedTimeout is the manager's
	// --queued-timeout.
	http          bool
	queuedTimeout time.Duration
}

// env is one test's ytx: a namespace, a topic and consumer group of its own,
// a manager that watches only that namespace (and setup.otherNamespaces
// more), and workers started on demand.
type env struct {
	t  *testing.T
	ns string
	// others are more namespaces of the same ytx (setup.otherNamespaces);
	// in(ns) gives the helpers for one of them.
	others []string
	kafka  kafka.Config
	ctrl   controllers.Options
	// storage is the --storage URL of manager and workers; store opens it
	// for the test's own checks.
	storage string
	store   storage.Store
	// transport, and for HTTP the workers' address and the manager's
	// queued timeout.
	transport     string
	jobsAddr      string
	queuedTimeout time.Duration
	// jobToken is the manager's --job-token-file, and the workers' unless
	// workerSetup.jobToken names another.
	jobToken string
	// manager is the manager startManager started last.
	manager *app.Manager
}

// newEnv creates the namespace and topics and starts a manager.
func newEnv(t *testing.T, s setup) *env {
	t.Helper()
	e := &env{t: t, ns: "e2e-" + rand.String(6), transport: app.TransportKafka, queuedTimeout: s.queuedTimeout}
	if s.partitions == 0 {
		s.partitions = 2
	}
	if s.http {
		e.transport, e.jobsAddr = app.TransportHTTP, freeAddr(t)
		var err error
		if e.jobToken, err = devenv.WriteJobToken(filepath.Join(t.TempDir(), "job-token")); err != nil {
			t.Fatal(err)
		}
	}
	e.ctrl = s.controller
	e.ctrl.Name = "ctrl-" + e.ns
	if e.ctrl.CleanupGrace == 0 {
		e.ctrl.CleanupGrace = time.Second
	}
	e.storage = s.storage
	if e.storage == "" {
		e.storage = "file://" + t.TempDir()
	}
	var err error
	if e.store, err = storage.Open(e.storage); err != nil {
		t.Fatal(err)
	}
	if s.brokers == nil {
		s.brokers = broker.ListenAddrs()
	}
	e.kafka = kafka.Config{
		Brokers:         s.brokers,
		Topic:           "jobs-" + e.ns,
		Group:           "workers-" + e.ns,
		DeadLetterTopic: "dlq-" + e.ns,
		ListingTopic:    "listings-" + e.ns,
		ClientID:        "e2e",
	}
	ctx := e.ctx(30 * time.Second)
	if err := kafka.EnsureTopics(ctx, e.kafka, s.partitions, e.kafka.Topic, e.kafka.ListingTopic, e.kafka.DeadLetterTopic); err != nil {
		t.Fatalf("creating topics: %v", err)
	}
	for range s.otherNamespaces {
		e.others = append(e.others, "e2e-"+rand.String(6))
	}
	for _, name := range append([]string{e.ns}, e.others...) {
		if err := k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}); err != nil {
			t.Fatal(err)
		}
	}
	e.startManager()
	return e
}

// in is the same ytx seen from another of its namespaces (one of others):
// create, get, waitFor and the other helpers then work there.
func (e *env) in(ns string) *env {
	c := *e
	c.ns = ns
	return &c
}

// ctx is a context that ends with the test or after d.
func (e *env) ctx(d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(e.t.Context(), d)
	e.t.Cleanup(cancel)
	return ctx
}

var serveNothing = app.Serving{MetricsAddr: "0", ProbeAddr: "0"}

// startManager runs a manager for the test's namespace until the test ends
// or stop is called.
func (e *env) startManager() (stop func()) {
	e.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	m, err := app.NewManager(ctx, app.ManagerConfig{
		Kube: app.Kube{Config: apiServer.Config}, Serving: serveNothing,
		Kafka: e.kafka, Namespaces: append([]string{e.ns}, e.others...), Controller: e.ctrl, Storage: e.storage,
		Transport: e.transport, WorkerURL: "http://" + e.jobsAddr, QueuedTimeout: e.queuedTimeout,
		JobTokenFile: e.jobToken,
	})
	if err != nil {
		cancel()
		e.t.Fatalf("NewManager: %v", err)
	}
	e.manager = m
	return e.run("manager", cancel, func() error { return m.Start(ctx) })
}

// workerSetup tunes one worker.
type workerSetup struct {
	name        string
	concurrency int
	options     workers.Options
	download    download.Options
	// youtube tunes the worker's HTTP client; DialContext and RootCAs
	// default to the fake's (every connection lands on the fake).
	youtube youtube.HTTPOptions
	// jobsQueue is --jobs-queue, for the HTTP transport; jobToken its
	// --job-token-file (default the manager's).
	jobsQueue int
	jobToken  string
	// resolve is the resolver chain: by default ytx's own default
	// (kkdai, then yt-dlp), with yt-dlp trusting caFile.
	resolve app.ResolverConfig
	// caFile is the PEM file of the fake's CA for yt-dlp; default the
	// shared fake's.
	caFile string
	// noDial leaves youtube.DialContext unset: the worker dials as in
	// production (through its proxies).
	noDial bool
}

// startWorker runs a worker in the test's consumer group until the test ends
// or stop is called; stop waits until it has shut down.
func (e *env) startWorker(s workerSetup) (stop func()) {
	e.t.Helper()
	if s.name == "" {
		s.name = "worker-" + rand.String(4)
	}
	if s.concurrency == 0 {
		s.concurrency = 2
	}
	s.options.Name = s.name
	if s.options.StatusInterval == 0 {
		s.options.StatusInterval = 200 * time.Millisecond
	}
	if s.options.ScratchDir == "" {
		// Every job's temporary files must be gone once the worker stops,
		// however its jobs ended. (Cleanups run last-in first-out: this
		// check runs after the worker's stop.)
		s.options.ScratchDir = e.t.TempDir()
		e.t.Cleanup(func() {
			if left, _ := os.ReadDir(s.options.ScratchDir); len(left) != 0 {
				e.t.Errorf("worker %s left scratch files: %v", s.name, left)
			}
		})
	}
	if s.youtube.DialContext == nil && !s.noDial {
		s.youtube.DialContext = youTube.DialContext
	}
	if s.youtube.RootCAs == nil {
		s.youtube.RootCAs = youTube.CertPool()
	}
	if s.caFile == "" {
		s.caFile = youTubeCA
	}
	s.resolve.YTDLP.Env = append(s.resolve.YTDLP.Env, "SSL_CERT_FILE="+s.caFile)
	if s.jobToken == "" {
		s.jobToken = e.jobToken
	}
	ctx, cancel := context.WithCancel(context.Background())
	w, err := app.NewWorker(ctx, app.WorkerConfig{
		Kube: app.Kube{Config: apiServer.Config}, Serving: serveNothing, Kafka: e.kafka,
		Concurrency: s.concurrency, ShutdownGrace: 2 * time.Second, Worker: s.options,
		YouTube: s.youtube, Resolve: s.resolve,
		Storage: e.storage, Download: s.download,
		Transport: e.transport, JobsAddr: e.jobsAddr, JobsQueue: s.jobsQueue, JobTokenFile: s.jobToken,
	})
	if err != nil {
		cancel()
		e.t.Fatalf("NewWorker: %v", err)
	}
	return e.run(s.name, cancel, func() error { return w.Start(ctx) })
}

// run runs start in the background; the returned stop (also called when the
// test ends) cancels it and waits for it, failing the test on an error.
func (e *env) run(what string, cancel context.CancelFunc, start func() error) (stop func()) {
	done := make(chan error, 1)
	go func() { done <- start() }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil && !errors.Is(err, context.Canceled) {
					e.t.Errorf("%s stopped with %v", what, err)
				}
			case <-time.After(30 * time.Second):
				e.t.Errorf("%s did not stop within 30s", what)
			}
		})
	}
	e.t.Cleanup(stop)
	return stop
}

// create applies an extraction of link in the test's namespace.
func (e *env) create(name, link string, mutate ...func(*v1alpha1.YouTubeExtraction)) *v1alpha1.YouTubeExtraction {
	e.t.Helper()
	x := &v1alpha1.YouTubeExtraction{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: e.ns},
		Spec:       v1alpha1.YouTubeExtractionSpec{URL: link},
	}
	for _, f := range mutate {
		f(x)
	}
	if err := k8s.Create(e.ctx(10*time.Second), x); err != nil {
		e.t.Fatalf("creating %s: %v", name, err)
	}
	return x
}

// get reads an extraction.
func (e *env) get(name string) *v1alpha1.YouTubeExtraction {
	e.t.Helper()
	var x v1alpha1.YouTubeExtraction
	if err := k8s.Get(e.ctx(10*time.Second), client.ObjectKey{Namespace: e.ns, Name: name}, &x); err != nil {
		e.t.Fatalf("reading %s: %v", name, err)
	}
	return &x
}

// waitFor polls an extraction until done says so, failing after timeout
// with the last status seen.
func (e *env) waitFor(name string, timeout time.Duration, what string, done func(*v1alpha1.YouTubeExtraction) bool) *v1alpha1.YouTubeExtraction {
	e.t.Helper()
	var last v1alpha1.YouTubeExtraction
	err := wait.PollUntilContextTimeout(e.t.Context(), 20*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		if err := k8s.Get(ctx, client.ObjectKey{Namespace: e.ns, Name: name}, &last); err != nil {
			return false, client.IgnoreNotFound(err)
		}
		return done(&last), nil
	})
	if err != nil {
		e.t.Fatalf("%s: not %s after %s; status: %s", name, what, timeout, describe(&last))
	}
	return &last
}

// waitPhase waits until the extraction reaches phase.
func (e *env) waitPhase(name string, phase v1alpha1.Phase, timeout time.Duration) *v1alpha1.YouTubeExtraction {
	e.t.Helper()
	return e.waitFor(name, timeout, string(phase), func(x *v1alpha1.YouTubeExtraction) bool { return x.Status.Phase == phase })
}

// waitGone waits until the extraction no longer exists.
func (e *env) waitGone(name string, timeout time.Duration) {
	e.t.Helper()
	err := wait.PollUntilContextTimeout(e.t.Context(), 20*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		err := k8s.Get(ctx, client.ObjectKey{Namespace: e.ns, Name: name}, &v1alpha1.YouTubeExtraction{})
		return apierrors.IsNotFound(err), nil
	})
	if err != nil {
		e.t.Fatalf("%s still exists after %s", name, timeout)
	}
}

// events lists the Events about one extraction, oldest first.
func (e *env) events(name string) []eventsv1.Event {
	e.t.Helper()
	var list eventsv1.EventList
	if err := k8s.List(e.ctx(10*time.Second), &list, client.InNamespace(e.ns)); err != nil {
		e.t.Fatal(err)
	}
	var out []eventsv1.Event
	for _, ev := range list.Items {
		if ev.Regarding.Name == name {
			out = append(out, ev)
		}
	}
	return out
}

// eventReasons are the reasons of the Events about one extraction.
func (e *env) eventReasons(name string) []string {
	var out []string
	for _, ev := range e.events(name) {
		out = append(out, ev.Reason)
	}
	return out
}

// waitEvent waits until an Event with reason exists about name.
func (e *env) waitEvent(name, reason string, timeout time.Duration) eventsv1.Event {
	e.t.Helper()
	var found eventsv1.Event
	err := wait.PollUntilContextTimeout(e.t.Context(), 50*time.Millisecond, timeout, true, func(context.Context) (bool, error) {
		for _, ev := range e.events(name) {
			if ev.Reason == reason {
				found = ev
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		e.t.Fatalf("no %s event about %s after %s; events: %v", reason, name, timeout, e.eventReasons(name))
	}
	return found
}

// describe is a one-line summary of a status for failure messages.
func describe(x *v1alpha1.YouTubeExtraction) string {
	var conds []string
	for _, c := range x.Status.Conditions {
		conds = append(conds, fmt.Sprintf("%s=%s(%s: %s)", c.Type, c.Status, c.Reason, c.Message))
	}
	return fmt.Sprintf("phase=%q attempts=%d worker=%q conditions=[%s]", x.Status.Phase, x.Status.Attempts, x.Status.Worker, strings.Join(conds, "; "))
}

// freeAddr is a loopback address that was free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func watchURL(id string) string { return "https://www.youtube.com/watch?v=" + id }
