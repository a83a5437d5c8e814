package httpjobs_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/types"

	"ytx.dev/ytx/internal/httpjobs"
	"ytx.dev/ytx/internal/job"
)

func msg(name string) job.Message {
	return job.Message{Namespace: "ns", Name: name, UID: types.UID("uid-" + name), Generation: 1, Attempt: 1}
}

// recorder collects what the handler ran and what the server released.
type recorder struct {
	mu       sync.Mutex
	ran      []string
	released []string
}

func (r *recorder) add(list *[]string, m job.Message) {
	r.mu.Lock()
	defer r.mu.Unlock()
	*list = append(*list, m.Name)
}

func (r *recorder) get(list *[]string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := slices.Clone(*list)
	slices.Sort(out)
	return out
}

// testToken is the token of the tests' manager and workers.
const testToken = "ytx-test-token-0123456789abcdef"

// tokenFile writes text to a new token file and returns its path.
func tokenFile(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "token")
	writeToken(t, path, text)
	return path
}

// writeToken replaces the file at path as the kubelet updates a mounted
// Secret: a new file renamed over the old one.
func writeToken(t *testing.T, path, text string) {
	t.Helper()
	tmp := path + ".new"
	if err := os.WriteFile(tmp, []byte(text+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func loadToken(t *testing.T, path string) *httpjobs.Token {
	t.Helper()
	tok, err := httpjobs.LoadToken(path, logr.Discard())
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// startServer runs a server with handle until the returned stop is
// called. Without opts.Token it takes testToken.
func startServer(t *testing.T, opts httpjobs.ServerOptions, concurrency int, handle httpjobs.Handler) (*httpjobs.Server, func()) {
	t.Helper()
	opts.Addr = "127.0.0.1:0"
	if opts.Token == nil {
		opts.Token = loadToken(t, tokenFile(t, testToken))
	}
	srv, err := httpjobs.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx, concurrency, handle) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return srv, stop
}

// start runs a server as startServer does and returns a publisher to it
// with testToken, read from a file of its own as in another pod.
func start(t *testing.T, opts httpjobs.ServerOptions, concurrency int, handle httpjobs.Handler) (*httpjobs.Publisher, func()) {
	t.Helper()
	srv, stop := startServer(t, opts, concurrency, handle)
	pub, err := httpjobs.NewPublisher("http://"+srv.Addr(), loadToken(t, tokenFile(t, testToken)), nil)
	if err != nil {
		t.Fatal(err)
	}
	return pub, stop
}

func TestPublishedJobsRun(t *testing.T) {
	var rec recorder
	pub, stop := start(t, httpjobs.ServerOptions{}, 2, func(_ context.Context, m job.Message) error {
		rec.add(&rec.ran, m)
		return nil
	})
	for i := range 5 {
		if err := pub.Publish(context.Background(), msg(fmt.Sprint("job-", i))); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(rec.get(&rec.ran)) < 5 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	stop()
	if got := rec.get(&rec.ran); !slices.Equal(got, []string{"job-0", "job-1", "job-2", "job-3", "job-4"}) {
		t.Errorf("ran %v", got)
	}
}

// A slow job holds one slot; the others run past it. The queue holds what
// no slot can take yet, and a full queue answers busy, not a hang.
func TestSlowJobAndFullQueue(t *testing.T) {
	var rec recorder
	release := make(chan struct{})
	pub, stop := start(t, httpjobs.ServerOptions{Queue: 1}, 2, func(ctx context.Context, m job.Message) error {
		if m.Name == "slow" || m.Name == "slow-2" {
			select {
			case <-release:
			case <-ctx.Done():
			}
		}
		rec.add(&rec.ran, m)
		return nil
	})
	ctx := context.Background()
	for _, name := range []string{"slow", "quick"} {
		if err := pub.Publish(ctx, msg(name)); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, func() bool { return slices.Contains(rec.get(&rec.ran), "quick") }, "the quick job to run beside the slow one")
	// Both slots taken (slow, slow-2), one queued: the next is refused.
	if err := pub.Publish(ctx, msg("slow-2")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return pub.Publish(ctx, msg("queued")) == nil }, "one job to be queued")
	err := pub.Publish(ctx, msg("refused"))
	if !errors.Is(err, httpjobs.ErrBusy) {
		t.Errorf("a full queue: %v, want ErrBusy", err)
	}
	close(release)
	waitFor(t, func() bool { return slices.Contains(rec.get(&rec.ran), "queued") }, "the queued job to run")
	stop()
}

// Stopping: running jobs get the drain time, jobs queued but not started
// are released at once, and new jobs are refused.
func TestStopReleasesQueuedJobs(t *testing.T) {
	var rec recorder
	started := make(chan struct{}, 1)
	pub, stop := start(t, httpjobs.ServerOptions{Queue: 3, DrainTimeout: 200 * time.Millisecond,
		Release: func(_ context.Context, m job.Message) { rec.add(&rec.released, m) }}, 1,
		func(ctx context.Context, m job.Message) error {
			started <- struct{}{}
			<-ctx.Done() // runs until cancelled after the drain time
			rec.add(&rec.ran, m)
			return httpjobs.ErrNotRun
		})
	ctx := context.Background()
	for _, name := range []string{"running", "q-1", "q-2"} {
		if err := pub.Publish(ctx, msg(name)); err != nil {
			t.Fatal(err)
		}
	}
	<-started
	began := time.Now()
	stop()
	if took := time.Since(began); took > 3*time.Second {
		t.Errorf("stopping took %s with a 200ms drain", took)
	}
	if got := rec.get(&rec.ran); !slices.Equal(got, []string{"running"}) {
		t.Errorf("ran %v", got)
	}
	// The running job returned ErrNotRun (it had not claimed anything):
	// it is released as well as the queued ones.
	if got := rec.get(&rec.released); !slices.Equal(got, []string{"q-1", "q-2", "running"}) {
		t.Errorf("released %v, want every job that did not run", got)
	}
	if err := pub.Publish(ctx, msg("late")); err == nil {
		t.Error("a stopped worker took a job")
	}
}

func TestBadRequests(t *testing.T) {
	srv, _ := startServer(t, httpjobs.ServerOptions{}, 1, func(context.Context, job.Message) error { return nil })
	base := "http://" + srv.Addr()
	cases := []struct {
		method, path, body string
		want               int
	}{
		{"POST", httpjobs.Path, `{"v":1,"namespace":"ns"}`, http.StatusBadRequest},
		{"POST", httpjobs.Path, `not json`, http.StatusBadRequest},
		{"POST", httpjobs.Path, strings.Repeat("x", job.MaxSize+10), http.StatusBadRequest},
		{"GET", httpjobs.Path, "", http.StatusMethodNotAllowed},
		{"POST", "/elsewhere", "{}", http.StatusNotFound},
	}
	for _, c := range cases {
		req, _ := http.NewRequest(c.method, base+c.path, strings.NewReader(c.body))
		req.Header.Set("Authorization", "Bearer "+testToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.want {
			t.Errorf("%s %s %.20q: %d, want %d", c.method, c.path, c.body, resp.StatusCode, c.want)
		}
	}
}

func TestPublisherURL(t *testing.T) {
	token := loadToken(t, tokenFile(t, testToken))
	for _, bad := range []string{"", "ytx-worker:8090", "ftp://host", "http://", "http://host?x=1"} {
		if _, err := httpjobs.NewPublisher(bad, token, nil); err == nil || !strings.Contains(err.Error(), "--worker-url") {
			t.Errorf("NewPublisher(%q) = %v, want an error naming --worker-url", bad, err)
		}
	}
	if _, err := httpjobs.NewServer(httpjobs.ServerOptions{Addr: "256.0.0.1:1", Token: token}); err == nil || !strings.Contains(err.Error(), "--jobs-bind-address") {
		t.Errorf("a bad address: %v, want an error naming --jobs-bind-address", err)
	}
}

func waitFor(t *testing.T, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A worker whose peers are missing (Ready says why) refuses jobs as busy
// with the reason, so that the manager sends them again later instead of
// the job failing for nothing; once Ready says nil, they run.
func TestNotReadyRefusesJobs(t *testing.T) {
	var rec recorder
	var missing sync.Mutex
	reason := errors.New(`storage s3://media: bucket "media" does not exist at 127.0.0.1:9000: create it`)
	ready := func() error {
		missing.Lock()
		defer missing.Unlock()
		return reason
	}
	pub, stop := start(t, httpjobs.ServerOptions{Ready: ready}, 1, func(_ context.Context, m job.Message) error {
		rec.add(&rec.ran, m)
		return nil
	})
	err := pub.Publish(context.Background(), msg("early"))
	if !errors.Is(err, httpjobs.ErrBusy) || !strings.Contains(err.Error(), `bucket "media" does not exist`) {
		t.Errorf("a job while not ready: %v, want ErrBusy naming the missing bucket", err)
	}
	missing.Lock()
	reason = nil
	missing.Unlock()
	if err := pub.Publish(context.Background(), msg("early")); err != nil {
		t.Fatalf("once ready: %v", err)
	}
	waitFor(t, func() bool { return slices.Contains(rec.get(&rec.ran), "early") }, "the job to run once ready")
	stop()
	if got := rec.get(&rec.ran); !slices.Equal(got, []string{"early"}) {
		t.Errorf("ran %v, want the job once, after ready", got)
	}
}

// A job of a kind this worker does not know (a newer manager's) is not a
// bad request: it is refused as busy, which the manager's publisher takes
// for "try again later", so that another, newer worker behind the Service
// can take it. It never reaches the handler.
func TestUnknownKindIsRefusedAsBusy(t *testing.T) {
	var rec recorder
	srv, _ := startServer(t, httpjobs.ServerOptions{}, 1, func(_ context.Context, m job.Message) error {
		rec.add(&rec.ran, m)
		return nil
	})
	body := `{"v":1,"kind":"transcript","namespace":"ns","name":"talk","uid":"u","generation":1,"attempt":1}`
	req, _ := http.NewRequest(http.MethodPost, "http://"+srv.Addr()+httpjobs.Path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+testToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	text, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Errorf("a job of an unknown kind: %s, Retry-After %q; want 503 with Retry-After, which the publisher retries", resp.Status, resp.Header.Get("Retry-After"))
	}
	if !strings.Contains(string(text), `"transcript"`) {
		t.Errorf("the refusal %q does not name the kind", text)
	}
	// The publisher's reading of that answer: busy, try again.
	stub := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", resp.Header.Get("Retry-After"))
		http.Error(w, string(text), resp.StatusCode)
	}))
	defer stub.Close()
	pub, err := httpjobs.NewPublisher(stub.URL, loadToken(t, tokenFile(t, testToken)), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := pub.Publish(context.Background(), listingMsg("daily-mix")); !errors.Is(err, httpjobs.ErrBusy) {
		t.Errorf("Publish to a worker refusing the kind: %v, want ErrBusy", err)
	}
	if got := rec.get(&rec.ran); len(got) != 0 {
		t.Errorf("the handler ran %v", got)
	}
}

// A listing job reaches a newer worker as any job does.
func TestListingJobsRun(t *testing.T) {
	got := make(chan job.Message, 1)
	pub, _ := start(t, httpjobs.ServerOptions{}, 1, func(_ context.Context, m job.Message) error {
		got <- m
		return nil
	})
	want := listingMsg("daily-mix")
	if err := pub.Publish(context.Background(), want); err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-got:
		want.Version = job.Version
		if m != want {
			t.Errorf("the worker got %+v, want %+v", m, want)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the listing job did not run")
	}
}

// A worker built before job kinds existed answers 400 to a listing (it
// refuses the "kind" field): the publisher takes that for busy too, so
// the job waits for a newer worker instead of failing.
func TestOlderWorkerRefusingAListingIsBusy(t *testing.T) {
	older := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if strings.Contains(string(body), `"kind"`) {
			http.Error(w, `invalid job message: json: unknown field "kind"`, http.StatusBadRequest)
			return
		}
		w.WriteHeader(http.StatusAccepted)
	}))
	defer older.Close()
	pub, err := httpjobs.NewPublisher(older.URL, loadToken(t, tokenFile(t, testToken)), nil)
	if err != nil {
		t.Fatal(err)
	}
	err = pub.Publish(context.Background(), listingMsg("daily-mix"))
	if !errors.Is(err, httpjobs.ErrBusy) || !strings.Contains(err.Error(), `unknown field "kind"`) {
		t.Errorf("a listing refused by an older worker: %v, want ErrBusy with the worker's words", err)
	}
	if err := pub.Publish(context.Background(), msg("song")); err != nil {
		t.Errorf("an extraction to the older worker: %v", err)
	}
}

func listingMsg(name string) job.Message {
	m := msg(name)
	m.Kind = job.KindListing
	return m
}
