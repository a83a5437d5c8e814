package faults

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	"golang.org/x/sync/errgroup"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/rand"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "ytx.dev/ytx/api/v1alpha1"
	"ytx.dev/ytx/internal/kafka"
	"ytx.dev/ytx/internal/storage"
	"ytx.dev/ytx/workers"
)

// system is one scenario's ytx: a namespace, a topic, a dead-letter topic
// and a consumer group of its own, storage, and the manager and worker
// processes, each `bin/ytx` with the flags a Deployment would give it.
type system struct {
	t       *testing.T
	ns      string
	kafka   kafka.Config
	storage string // --storage
	store   storage.Store
	s3      bool
	book    *logBook
	// broker is the suite's, or the scenario's own (systemOptions.broker).
	broker *brokerProcess
	// wire carries the suite's own requests to the broker (kafkaClient,
	// the injected messages). kafka-go's DefaultTransport would keep
	// metadata from earlier scenarios for a few seconds, in which this
	// scenario's new topic does not exist.
	wire *kafkago.Transport

	// Extra flags for every manager and worker, after the defaults.
	managerFlags, workerFlags []string

	mu       sync.Mutex
	managers map[string]*process
	workers  map[string]*process
	scratch  map[string]string // by worker name; kept across restarts
	started  map[string]int    // worker processes started, by name
	reaper   *reaper
	all      []*process // every process started, for the logs
}

type systemOptions struct {
	partitions int  // of the job topic; default 4
	s3         bool // S3 storage instead of a directory
	// broker, when set, is a broker of the scenario's own (one it may
	// wipe); default the suite's.
	broker                    *brokerProcess
	managerFlags, workerFlags []string
}

func newSystem(t *testing.T, o systemOptions) *system {
	t.Helper()
	if o.partitions == 0 {
		o.partitions = 4
	}
	if o.broker == nil {
		o.broker = broker
	}
	ns := "faults-" + rand.String(5)
	s := &system{
		t: t, ns: ns, s3: o.s3, book: &logBook{}, broker: o.broker,
		kafka: kafka.Config{
			Brokers: []string{o.broker.addr}, Topic: "jobs-" + ns, Group: "workers-" + ns,
			DeadLetterTopic: "dlq-" + ns, ListingTopic: "listings-" + ns, ClientID: "faults",
		}.WithDefaults(),
		managerFlags: o.managerFlags, workerFlags: o.workerFlags,
		managers: map[string]*process{}, workers: map[string]*process{}, scratch: map[string]string{},
		started: map[string]int{},
		wire:    &kafkago.Transport{},
	}
	t.Cleanup(s.wire.CloseIdleConnections)
	if o.s3 {
		u, err := s3.CreateBucket(context.Background(), ns, "ytx")
		if err != nil {
			t.Fatal(err)
		}
		s.storage = u
	} else {
		dir := filepath.Join(tmpRoot, "files-"+ns)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		s.storage = "file://" + dir
	}
	s.withS3Env(func() {
		var err error
		if s.store, err = storage.Open(s.storage); err != nil {
			t.Fatal(err)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := kafka.EnsureTopics(ctx, s.kafka, o.partitions, s.kafka.Topic, s.kafka.ListingTopic, s.kafka.DeadLetterTopic); err != nil {
		t.Fatalf("creating the topics: %v", err)
	}
	if err := admin.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.stopAll()
		if t.Failed() {
			s.saveLogs()
		}
	})
	s.startReaper()
	return s
}

// saveLogs writes every process's output to $YTX_FAULTS_LOGS (default
// /tmp/ytx-faults-logs), for a failed scenario.
func (s *system) saveLogs() {
	dir := os.Getenv("YTX_FAULTS_LOGS")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "ytx-faults-logs")
	}
	dir = filepath.Join(dir, s.ns)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		s.t.Log(err)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, p := range s.all {
		os.WriteFile(filepath.Join(dir, fmt.Sprintf("%02d-%s.log", i, p.name)), []byte(p.out.String()), 0o644) //nolint:errcheck
	}
	s.t.Logf("the processes' logs are in %s", dir)
}

// withS3Env runs f with the S3 server's credentials in this process's
// environment, where storage.Open's S3 client looks for them.
var s3EnvOnce sync.Once

func (s *system) withS3Env(f func()) {
	s3EnvOnce.Do(func() {
		if err := s3.SetEnv(); err != nil {
			s.t.Fatal(err)
		}
	})
	f()
}

// env is a ytx process's whole environment: nothing of the test's leaks in
// but PATH, so every setting is a flag the scenario chose.
func (s *system) env() []string {
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + tmpRoot}
	env = append(env, youTubeEnv...)
	return append(env, s3.Env()...)
}

func (s *system) commonFlags() []string {
	return []string{
		"--kubeconfig", plane.kubeconfig,
		"--kafka-brokers", s.broker.addr, "--kafka-topic", s.kafka.Topic, "--kafka-listing-topic", s.kafka.ListingTopic,
		"--storage", s.storage,
		"--metrics-bind-address", "0", "--health-probe-bind-address", "0",
		"--log-format", "json",
	}
}

// startManager runs `ytx manager` with leader election on, as the chart
// does, and fault-friendly timings: a worker that stops heart-beating for
// 4 s loses its attempt, retries wait 300 ms, doubling to 2 s, and
// rate-limited ones 1 s, doubling to 2 s.
func (s *system) startManager(name string, extra ...string) *process {
	s.t.Helper()
	args := append([]string{"manager"}, s.commonFlags()...)
	args = append(args,
		"--namespaces", s.ns, "--kafka-group", s.kafka.Group,
		"--leader-elect", "--leader-election-namespace", s.ns,
		"--heartbeat-timeout", "4s", "--retry-backoff", "300ms", "--retry-backoff-max", "2s",
		"--rate-limited-backoff", "1s", "--rate-limited-backoff-max", "2s",
		"--artifact-cleanup-timeout", "10s",
	)
	args = append(append(args, s.managerFlags...), extra...)
	p, err := startProcess(name, ytxBin, args, s.env(), s.book)
	if err != nil {
		s.t.Fatal(err)
	}
	s.mu.Lock()
	s.managers[name] = p
	s.all = append(s.all, p)
	s.mu.Unlock()
	return p
}

// startWorker runs `ytx worker` named name, heart-beating every second. A
// worker started again under the same name keeps its scratch directory, as
// a restarted container keeps its emptyDir. Each process has a Kafka client
// ID of its own, so that the reaper can tell a dead one's group members.
func (s *system) startWorker(name string, extra ...string) *process {
	s.t.Helper()
	s.mu.Lock()
	dir := s.scratch[name]
	if dir == "" {
		dir = filepath.Join(tmpRoot, "scratch-"+s.ns+"-"+name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			s.t.Fatal(err)
		}
		s.scratch[name] = dir
	}
	clientID := clientIDOf(name, s.started[name])
	s.started[name]++
	s.mu.Unlock()
	args := append([]string{"worker"}, s.commonFlags()...)
	args = append(args,
		"--kafka-group", s.kafka.Group, "--kafka-dead-letter-topic", s.kafka.DeadLetterTopic,
		"--name", name, "--kafka-client-id", clientID, "--concurrency", "2", "--scratch-dir", dir,
		"--status-interval", "300ms", "--heartbeat-interval", "1s", "--shutdown-grace", "3s",
		"--youtube-cooldown", "1s",
		"--log-level", "debug",
	)
	args = append(append(args, s.workerFlags...), extra...)
	p, err := startProcess(name, ytxBin, args, s.env(), s.book)
	if err != nil {
		s.t.Fatal(err)
	}
	p.clientID, p.sessionTimeout = clientID, sessionTimeout(args)
	s.mu.Lock()
	s.workers[name] = p
	s.all = append(s.all, p)
	s.mu.Unlock()
	return p
}

func (s *system) worker(name string) *process {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.workers[name]
}

func (s *system) manager(name string) *process {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.managers[name]
}

// stopAll ends every process; a scenario's last check is that the
// processes it did not kill are still alive (no crash).
func (s *system) stopAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range s.workers {
		p.kill()
	}
	for _, p := range s.managers {
		p.kill()
	}
}

// crashed lists the processes that exited on their own.
func (s *system) crashed() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, group := range []map[string]*process{s.managers, s.workers} {
		for name, p := range group {
			if !p.alive() && !p.stopped {
				out = append(out, fmt.Sprintf("%s (%v):\n%s", name, p.err, p.out.Last(15)))
			}
		}
	}
	return out
}

// extraction is one resource to submit.
type extraction struct {
	name  string
	video string
	spec  func(*v1alpha1.YouTubeExtractionSpec)
	want  want
}

// apply creates the extractions, all at once (from 8 clients, as a big
// `kubectl apply` would), and returns them as created.
func (s *system) apply(xs []extraction) []*v1alpha1.YouTubeExtraction {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	out := make([]*v1alpha1.YouTubeExtraction, len(xs))
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for i, e := range xs {
		g.Go(func() error {
			x := &v1alpha1.YouTubeExtraction{
				ObjectMeta: metav1.ObjectMeta{Name: e.name, Namespace: s.ns},
				Spec:       v1alpha1.YouTubeExtractionSpec{URL: "https://www.youtube.com/watch?v=" + e.video},
			}
			if e.spec != nil {
				e.spec(&x.Spec)
			}
			out[i] = x
			if err := admin.Create(ctx, x); err != nil {
				return fmt.Errorf("creating %s: %w", e.name, err)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		s.t.Fatal(err)
	}
	return out
}

// list reads every extraction of the scenario.
func (s *system) list() map[string]*v1alpha1.YouTubeExtraction {
	s.t.Helper()
	var l v1alpha1.YouTubeExtractionList
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := admin.List(ctx, &l, client.InNamespace(s.ns)); err != nil {
		s.t.Fatal(err)
	}
	out := map[string]*v1alpha1.YouTubeExtraction{}
	for i := range l.Items {
		out[l.Items[i].Name] = &l.Items[i]
	}
	return out
}

// running lists the extractions that worker runs now.
func (s *system) running(worker string) []*v1alpha1.YouTubeExtraction {
	var out []*v1alpha1.YouTubeExtraction
	for _, x := range s.list() {
		if x.Status.Phase == v1alpha1.PhaseRunning && x.Status.Worker == worker {
			out = append(out, x)
		}
	}
	return out
}

// eventCount counts the scenario's Events with reason.
func (s *system) eventCount(reason string) int {
	s.t.Helper()
	var l eventsv1.EventList
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := admin.List(ctx, &l, client.InNamespace(s.ns)); err != nil {
		s.t.Fatal(err)
	}
	n := 0
	for _, e := range l.Items {
		if e.Reason != reason {
			continue
		}
		// An event seen again is one object with a series count.
		if e.Series != nil && e.Series.Count > 1 {
			n += int(e.Series.Count)
		} else {
			n++
		}
	}
	return n
}

// waitUntil polls cond every 50 ms until it holds or limit passes.
func waitUntil(limit time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(limit)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// names returns "prefix-0" ... "prefix-(n-1)".
func names(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s-%d", prefix, i)
	}
	return out
}

func jobName(ns, name string) string { return ns + "/" + name }

// of returns the lines with message msg about jobs of x, oldest first,
// and a problem for each of them whose job field does not read as
// job.Message.String writes it.
func (b *logBook) of(x *v1alpha1.YouTubeExtraction, msg string) (lines []logLine, problems []string) {
	prefix := jobName(x.Namespace, x.Name) + " ("
	for _, l := range b.with(msg) {
		if !strings.HasPrefix(l.str(workers.KeyJob), prefix) {
			continue
		}
		if _, _, _, ok := jobOf(l); !ok {
			problems = append(problems, fmt.Sprintf("%s logged %q with %s=%q, which is no job", l.proc, msg, workers.KeyJob, l.str(workers.KeyJob)))
			continue
		}
		lines = append(lines, l)
	}
	sort.SliceStable(lines, func(i, j int) bool { return lines[i].ts.Before(lines[j].ts) })
	return lines, problems
}

// jobOf parses the "job" field of a worker log line: "ns/name (generation
// G, attempt A)".
func jobOf(l logLine) (key string, generation int64, attempt int32, ok bool) {
	job := l.str(workers.KeyJob)
	i := strings.Index(job, " (generation ")
	if i < 0 {
		return "", 0, 0, false
	}
	if _, err := fmt.Sscanf(job[i:], " (generation %d, attempt %d)", &generation, &attempt); err != nil {
		return "", 0, 0, false
	}
	return job[:i], generation, attempt, true
}
