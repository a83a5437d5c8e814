package e2e

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"

	v1alpha1 "ytx.dev/ytx/api/v1alpha1"
	"ytx.dev/ytx/controllers"
	"ytx.dev/ytx/internal/devenv"
	"ytx.dev/ytx/internal/httpjobs"
	"ytx.dev/ytx/internal/job"
	"ytx.dev/ytx/internal/youtube/fake"
)

// The HTTP transport runs the same loop: the manager POSTs the job to the
// worker, which queues it in memory.
func TestHTTPTransportEndToEnd(t *testing.T) {
	t.Parallel()
	e := newEnv(t, setup{http: true})
	e.startWorker(workerSetup{})
	v := addClipVideo(t, "Over HTTP")
	e.create("direct", watchURL(v.ID), func(x *v1alpha1.YouTubeExtraction) {
		x.Spec.Audio = &v1alpha1.AudioSpec{Format: v1alpha1.AudioM4A}
	})
	x := e.waitPhase("direct", v1alpha1.PhaseSucceeded, 60*time.Second)
	if x.Status.Metadata == nil || x.Status.Metadata.Title != "Over HTTP" || len(x.Status.Artifacts) != 2 || x.Status.Attempts != 1 {
		t.Errorf("want the title, info.json and the audio in one attempt: %s, artifacts %v", describe(x), x.Status.Artifacts)
	}
	queued := e.waitEvent("direct", "Queued", 10*time.Second)
	if !strings.Contains(queued.Note, "http://"+e.jobsAddr) {
		t.Errorf("the Queued event should say where the job went: %q", queued.Note)
	}
}

// A worker whose queue is full answers 503: the extraction waits in the
// manager, Pending with a condition that says why, not in memory, and
// goes out once there is room.
func TestHTTPTransportFullQueueWaitsInTheManager(t *testing.T) {
	t.Parallel()
	e := newEnv(t, setup{http: true, controller: controllers.Options{PublishBackoff: 100 * time.Millisecond, PublishBackoffMax: 500 * time.Millisecond}})
	e.startWorker(workerSetup{concurrency: 1, jobsQueue: 1})
	held := addClipVideo(t, "Held")
	release := youTube.Hold(held.ID)
	defer release()
	e.create("first", watchURL(held.ID))
	e.waitPhase("first", v1alpha1.PhaseRunning, 30*time.Second)
	e.create("second", watchURL(fake.ZooID))
	e.waitPhase("second", v1alpha1.PhaseQueued, 30*time.Second)
	e.create("third", watchURL(fake.ZooID))
	x := e.waitFor("third", 30*time.Second, "Pending because the worker is full", func(x *v1alpha1.YouTubeExtraction) bool {
		c := meta.FindStatusCondition(x.Status.Conditions, v1alpha1.ConditionQueued)
		return x.Status.Phase == v1alpha1.PhasePending && c != nil && c.Reason == v1alpha1.ReasonPublishFailed
	})
	c := meta.FindStatusCondition(x.Status.Conditions, v1alpha1.ConditionQueued)
	if !strings.Contains(c.Message, "full") || !strings.Contains(c.Message, e.jobsAddr) {
		t.Errorf("the condition should say the workers at %s are full: %q", e.jobsAddr, c.Message)
	}
	release()
	for _, name := range []string{"first", "second", "third"} {
		if x := e.waitPhase(name, v1alpha1.PhaseSucceeded, 60*time.Second); x.Status.Attempts != 1 {
			t.Errorf("%s: a full queue must not cost attempts: %s", name, describe(x))
		}
	}
}

// A worker told to stop hands back the jobs it queued but did not start,
// and the one it runs: they go out again at once, not after the queued
// timeout (an hour here), and cost no attempt.
func TestHTTPTransportStoppingWorkerHandsBack(t *testing.T) {
	t.Parallel()
	e := newEnv(t, setup{http: true, queuedTimeout: time.Hour, controller: controllers.Options{PublishBackoff: 100 * time.Millisecond, PublishBackoffMax: 500 * time.Millisecond}})
	stop := e.startWorker(workerSetup{name: "leaving", concurrency: 1, jobsQueue: 4})
	held := addClipVideo(t, "Held while stopping")
	release := youTube.Hold(held.ID)
	defer release()
	e.create("running", watchURL(held.ID))
	e.waitPhase("running", v1alpha1.PhaseRunning, 30*time.Second)
	for _, name := range []string{"queued-1", "queued-2"} {
		e.create(name, watchURL(fake.ZooID))
		e.waitEvent(name, "Queued", 30*time.Second) // the worker took it
	}
	stop()
	release()
	e.startWorker(workerSetup{name: "arriving"})
	for _, name := range []string{"running", "queued-1", "queued-2"} {
		x := e.waitPhase(name, v1alpha1.PhaseSucceeded, 60*time.Second)
		if x.Status.Attempts != 1 || x.Status.Worker != "arriving" {
			t.Errorf("%s: want attempt 1 run by the new worker: %s", name, describe(x))
		}
	}
}

// A worker that dies loses the jobs it had queued: here a stand-in takes
// them (202) and forgets them. The manager sends each again once it has
// waited --queued-timeout unclaimed, and a real worker runs them.
func TestHTTPTransportQueuedTimeoutResendsLostJobs(t *testing.T) {
	t.Parallel()
	e := newEnv(t, setup{http: true, queuedTimeout: 2 * time.Second})
	var swallowed atomic.Int64
	ln, err := net.Listen("tcp", e.jobsAddr)
	if err != nil {
		t.Fatal(err)
	}
	blackHole := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == httpjobs.Path {
			swallowed.Add(1)
		}
		w.WriteHeader(http.StatusAccepted)
	})}
	go blackHole.Serve(ln) //nolint:errcheck // ends with Close
	names := []string{"lost-1", "lost-2", "lost-3"}
	for _, name := range names {
		e.create(name, watchURL(fake.ZooID))
	}
	for swallowed.Load() < int64(len(names)) {
		time.Sleep(20 * time.Millisecond)
	}
	blackHole.Close()
	e.startWorker(workerSetup{})
	for _, name := range names {
		x := e.waitPhase(name, v1alpha1.PhaseSucceeded, 60*time.Second)
		if x.Status.Attempts != 1 {
			t.Errorf("%s: a lost job costs no attempt: %s", name, describe(x))
		}
		e.waitEvent(name, "Resent", 10*time.Second)
	}
}

// A worker whose token is not the manager's refuses every job with 401.
// Nothing is queued or claimed; the extraction waits Pending, with a
// condition and a Warning event that say the token is wrong and what to
// check, and the manager keeps sending it, with backoff, without spending
// an attempt. Others without the token, or with a wrong one, are refused
// the same way. Once the worker's token file is rewritten with the
// manager's token (a Secret fixed in place; no restart), the job goes
// through in attempt 1.
func TestHTTPTransportWrongTokenIsRefusedUntilFixed(t *testing.T) {
	t.Parallel()
	e := newEnv(t, setup{http: true, controller: controllers.Options{PublishBackoff: 100 * time.Millisecond, PublishBackoffMax: 500 * time.Millisecond}})
	workerToken, err := devenv.WriteJobToken(filepath.Join(t.TempDir(), "job-token"))
	if err != nil {
		t.Fatal(err)
	}
	// One slot: jobs run in the order the worker took them.
	e.startWorker(workerSetup{name: "guarded", concurrency: 1, jobToken: workerToken})
	e.create("refused", watchURL(fake.ZooID))
	x := e.waitFor("refused", 30*time.Second, "Pending because the workers refused the token", tokenRefused)
	c := meta.FindStatusCondition(x.Status.Conditions, v1alpha1.ConditionQueued)
	for _, want := range []string{"401", "--job-token-file", "same key of the same Secret", "jobToken.secretName", e.jobsAddr} {
		if !strings.Contains(c.Message, want) {
			t.Errorf("the condition does not say %q: %q", want, c.Message)
		}
	}
	if ev := e.waitEvent("refused", v1alpha1.ReasonPublishFailed, 10*time.Second); ev.Type != "Warning" || !strings.Contains(ev.Note, "refused the job token") {
		t.Errorf("event %s %q, want a Warning that the token was refused", ev.Type, ev.Note)
	}

	// The refused job's own message, sent by someone without the token or
	// with a wrong one: 401, nothing more said.
	refusedJob := jobOf(x)
	for _, auth := range []string{"", "Bearer not-the-workers-token-0123456789"} {
		if code, body := postJob(t, e.jobsAddr, auth, refusedJob); code != http.StatusUnauthorized || body != "Unauthorized\n" {
			t.Errorf("Authorization %q: %d %q, want 401 Unauthorized", auth, code, body)
		}
	}
	// The control: a message of another waiting extraction, sent with the
	// worker's token, is taken and run. Had a refused message been queued
	// before it, the one slot would have claimed that one first.
	e.create("control", watchURL(fake.ZooID))
	ctl := e.waitFor("control", 30*time.Second, "Pending because the workers refused the token", tokenRefused)
	token, err := os.ReadFile(workerToken)
	if err != nil {
		t.Fatal(err)
	}
	if code, body := postJob(t, e.jobsAddr, "Bearer "+strings.TrimSpace(string(token)), jobOf(ctl)); code != http.StatusAccepted {
		t.Fatalf("the worker's own token: %d %q, want 202", code, body)
	}
	e.waitPhase("control", v1alpha1.PhaseSucceeded, 60*time.Second)
	x = e.get("refused")
	if x.Status.Phase != v1alpha1.PhasePending || x.Status.Worker != "" || x.Status.Attempts != 1 || !tokenRefused(x) {
		t.Errorf("after the refusals: %s, want Pending, refused, unclaimed, attempt 1", describe(x))
	}

	// The Secret fixed in place: the worker's file now holds the
	// manager's token. The manager's next try goes through.
	fixed, err := os.ReadFile(e.jobToken)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(workerToken+".new", fixed, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(workerToken+".new", workerToken); err != nil {
		t.Fatal(err)
	}
	x = e.waitPhase("refused", v1alpha1.PhaseSucceeded, 60*time.Second)
	if x.Status.Attempts != 1 || x.Status.Worker != "guarded" {
		t.Errorf("after the fix: %s, want attempt 1 run by the worker", describe(x))
	}
}

// tokenRefused: Pending, its Queued condition saying the workers refused
// the job token.
func tokenRefused(x *v1alpha1.YouTubeExtraction) bool {
	c := meta.FindStatusCondition(x.Status.Conditions, v1alpha1.ConditionQueued)
	return x.Status.Phase == v1alpha1.PhasePending && c != nil && c.Reason == v1alpha1.ReasonPublishFailed &&
		strings.Contains(c.Message, "refused the job token")
}

// jobOf is the job message of an extraction's current attempt, as the
// manager sends it.
func jobOf(x *v1alpha1.YouTubeExtraction) job.Message {
	return job.Message{Namespace: x.Namespace, Name: x.Name, UID: x.UID, Generation: x.Generation, Attempt: x.Status.Attempts}
}

// postJob POSTs m to the worker's job endpoint at addr, with the
// Authorization header auth (none when empty).
func postJob(t *testing.T, addr, auth string, m job.Message) (int, string) {
	t.Helper()
	body, err := job.Encode(m)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, "http://"+addr+httpjobs.Path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	text, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(text)
}
