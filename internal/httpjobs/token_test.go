package httpjobs_test

import (
	"bytes"
	"context"
	"crypto/subtle"
	"errors"
	"io"
	"net/http"
	"os"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"

	"ytx.dev/ytx/internal/httpjobs"
	"ytx.dev/ytx/internal/job"
)

// answer is what a worker said to one request.
type answer struct {
	code     int
	body     string
	authHint string // WWW-Authenticate
}

// postJob POSTs m to base+path with the Authorization header auth (none
// when empty), as a caller other than the manager's Publisher would.
func postJob(t *testing.T, base, path, auth string, m job.Message) answer {
	t.Helper()
	body, err := job.Encode(m)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodPost, base+path, bytes.NewReader(body))
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
	return answer{resp.StatusCode, string(text), resp.Header.Get("WWW-Authenticate")}
}

// recordingWorker runs a server of one slot that records the jobs it ran,
// in order.
func recordingWorker(t *testing.T, opts httpjobs.ServerOptions) (base string, rec *recorder) {
	t.Helper()
	rec = &recorder{}
	srv, _ := startServer(t, opts, 1, func(_ context.Context, m job.Message) error {
		rec.add(&rec.ran, m)
		return nil
	})
	return "http://" + srv.Addr(), rec
}

// wantRefused checks one refusal: 401, the Bearer challenge, and a body
// that says nothing but "Unauthorized" (not which check failed, not what
// the token looks like).
func wantRefused(t *testing.T, what string, a answer) {
	t.Helper()
	if a.code != http.StatusUnauthorized || a.authHint != "Bearer" || a.body != "Unauthorized\n" {
		t.Errorf("%s: %d %q, WWW-Authenticate %q; want 401 \"Unauthorized\\n\", Bearer", what, a.code, a.body, a.authHint)
	}
}

// wantOnlyRan posts a job with the right token last and waits until it
// ran: the slot takes jobs in order, so a refused job that had been queued
// would have run before it.
func wantOnlyRan(t *testing.T, base string, rec *recorder) {
	t.Helper()
	if a := postJob(t, base, httpjobs.Path, "Bearer "+testToken, msg("accepted")); a.code != http.StatusAccepted {
		t.Fatalf("the right token: %d %q, want 202", a.code, a.body)
	}
	waitFor(t, func() bool { return slices.Contains(rec.get(&rec.ran), "accepted") }, "the accepted job to run")
	if got := rec.get(&rec.ran); !slices.Equal(got, []string{"accepted"}) {
		t.Errorf("ran %v, want only the job sent with the right token", got)
	}
}

func TestRequestWithoutTheTokenIsRefused401(t *testing.T) {
	base, rec := recordingWorker(t, httpjobs.ServerOptions{})
	for _, c := range []struct{ what, path, auth string }{
		{"no Authorization", httpjobs.Path, ""},
		{"Basic credentials", httpjobs.Path, "Basic eXR4OnNlY3JldA=="},
		{"Bearer without a token", httpjobs.Path, "Bearer "},
		{"the token without the Bearer scheme", httpjobs.Path, testToken},
		// Every path: a caller without the token learns nothing of which exist.
		{"no Authorization, another path", "/elsewhere", ""},
	} {
		wantRefused(t, c.what, postJob(t, base, c.path, c.auth, msg("refused")))
	}
	wantOnlyRan(t, base, rec)
}

func TestRequestWithAWrongTokenIsRefused401(t *testing.T) {
	base, rec := recordingWorker(t, httpjobs.ServerOptions{})
	without := postJob(t, base, httpjobs.Path, "", msg("refused"))
	for _, wrong := range []string{
		"another-token-of-enough-length-0000",
		testToken[:len(testToken)-1],                   // a prefix
		testToken + "0",                                // longer
		testToken[:len(testToken)-1] + "X",             // one character off
		strings.ToUpper(testToken[:1]) + testToken[1:], // another case
	} {
		a := postJob(t, base, httpjobs.Path, "Bearer "+wrong, msg("refused"))
		wantRefused(t, "wrong token "+wrong, a)
		if a != without {
			t.Errorf("a wrong token is answered %+v, no token %+v: a caller can tell them apart", a, without)
		}
	}
	wantOnlyRan(t, base, rec)
}

func TestRequestWithTheRightTokenIsAccepted(t *testing.T) {
	base, rec := recordingWorker(t, httpjobs.ServerOptions{})
	// The scheme in any letter case (RFC 7235), the token as in the file.
	if a := postJob(t, base, httpjobs.Path, "bearer "+testToken, msg("lower-case-scheme")); a.code != http.StatusAccepted {
		t.Errorf("bearer <token>: %d %q, want 202", a.code, a.body)
	}
	pub, err := httpjobs.NewPublisher(base, loadToken(t, tokenFile(t, testToken)), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := pub.Publish(context.Background(), msg("published")); err != nil {
		t.Fatalf("Publish with the workers' token: %v", err)
	}
	waitFor(t, func() bool { return len(rec.get(&rec.ran)) == 2 }, "both jobs to run")
	if got := rec.get(&rec.ran); !slices.Equal(got, []string{"lower-case-scheme", "published"}) {
		t.Errorf("ran %v", got)
	}
}

// A manager whose token is not the workers' gets an error that says so and
// what to check; it is not mistaken for a busy worker.
func TestPublisherReportsARefusedTokenAndWhatToCheck(t *testing.T) {
	base, rec := recordingWorker(t, httpjobs.ServerOptions{})
	const wrong = "the-managers-own-wrong-token-42"
	pub, err := httpjobs.NewPublisher(base, loadToken(t, tokenFile(t, wrong)), nil)
	if err != nil {
		t.Fatal(err)
	}
	err = pub.Publish(context.Background(), msg("refused"))
	if !errors.Is(err, httpjobs.ErrTokenRefused) || errors.Is(err, httpjobs.ErrBusy) {
		t.Fatalf("Publish with a wrong token: %v, want ErrTokenRefused", err)
	}
	for _, want := range []string{"401", "--job-token-file", "same key of the same Secret", "jobToken.secretName"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the error does not say %q: %v", want, err)
		}
	}
	if strings.Contains(err.Error(), wrong) || strings.Contains(err.Error(), testToken) {
		t.Errorf("the error shows a token: %v", err)
	}
	wantOnlyRan(t, base, rec)
}

// clock is a settable time for the rotation window.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// rotation is a worker and a manager whose token files, one per pod, are
// rotated from old to new.
type rotation struct {
	workerFile, managerFile string
	workerClock, mgrClock   *clock
	pub                     *httpjobs.Publisher
	base                    string
	rec                     *recorder
}

const newToken = "ytx-test-token-after-rotation-9876"

func newRotation(t *testing.T) *rotation {
	t.Helper()
	r := &rotation{workerFile: tokenFile(t, testToken), managerFile: tokenFile(t, testToken),
		workerClock: &clock{now: time.Now()}, mgrClock: &clock{now: time.Now()}}
	wt, mt := loadToken(t, r.workerFile), loadToken(t, r.managerFile)
	httpjobs.SetTokenClock(wt, r.workerClock.Now)
	httpjobs.SetTokenClock(mt, r.mgrClock.Now)
	r.base, r.rec = recordingWorker(t, httpjobs.ServerOptions{Token: wt})
	var err error
	if r.pub, err = httpjobs.NewPublisher(r.base, mt, nil); err != nil {
		t.Fatal(err)
	}
	return r
}

func (r *rotation) publish(name string) error {
	return r.pub.Publish(context.Background(), msg(name))
}

// The worker reads its token file again: a new token works at once, and
// the old one until the rotation window has passed since the worker saw
// the change.
func TestWorkerReadsARotatedTokenFileAndTakesTheOldOneForTheWindow(t *testing.T) {
	r := newRotation(t)
	writeToken(t, r.workerFile, newToken)
	if a := postJob(t, r.base, httpjobs.Path, "Bearer "+newToken, msg("new-token")); a.code != http.StatusAccepted {
		t.Errorf("the rotated file's token: %d, want 202 (the file was not read again)", a.code)
	}
	if err := r.publish("old-token-in-window"); err != nil {
		t.Errorf("the manager's old token within the window: %v", err)
	}
	r.workerClock.add(httpjobs.RotationWindow + time.Second)
	if err := r.publish("old-token-after-window"); !errors.Is(err, httpjobs.ErrTokenRefused) {
		t.Errorf("the old token after the window: %v, want ErrTokenRefused", err)
	}
	if a := postJob(t, r.base, httpjobs.Path, "Bearer "+newToken, msg("new-token-after-window")); a.code != http.StatusAccepted {
		t.Errorf("the new token after the window: %d, want 202", a.code)
	}
	waitFor(t, func() bool { return len(r.rec.get(&r.rec.ran)) == 3 }, "the accepted jobs to run")
	if got := r.rec.get(&r.rec.ran); !slices.Equal(got, []string{"new-token", "new-token-after-window", "old-token-in-window"}) {
		t.Errorf("ran %v", got)
	}
}

// The manager reads its token file again and sends the new token; a worker
// that has not seen the rotation yet refuses it, and within the window the
// manager tries the old one, so the job goes through.
func TestManagerReadsARotatedTokenFileAndFallsBackToTheOldOneOn401(t *testing.T) {
	r := newRotation(t)
	writeToken(t, r.managerFile, newToken)
	if err := r.publish("worker-not-rotated-yet"); err != nil {
		t.Errorf("manager rotated, worker not yet, within the window: %v", err)
	}
	writeToken(t, r.workerFile, newToken)
	r.workerClock.add(httpjobs.RotationWindow + time.Second) // the worker takes only the new token now
	if err := r.publish("both-rotated"); err != nil {
		t.Errorf("both rotated: %v (the manager did not send the new token)", err)
	}
	// A worker that never got the new token is refused once the window
	// has passed: the fallback is for a rotation, not for ever.
	writeToken(t, r.workerFile, testToken)
	// The window starts when the worker reads the change, at its next
	// request.
	wantRefused(t, "a wrong token", postJob(t, r.base, httpjobs.Path, "Bearer not-the-token-0123456789", msg("wrong")))
	r.workerClock.add(httpjobs.RotationWindow + time.Second)
	r.mgrClock.add(httpjobs.RotationWindow + time.Second)
	if err := r.publish("after-window"); !errors.Is(err, httpjobs.ErrTokenRefused) {
		t.Errorf("after the window, a worker with the old token: %v, want ErrTokenRefused", err)
	}
	waitFor(t, func() bool { return len(r.rec.get(&r.rec.ran)) == 2 }, "the accepted jobs to run")
	if got := r.rec.get(&r.rec.ran); !slices.Equal(got, []string{"both-rotated", "worker-not-rotated-yet"}) {
		t.Errorf("ran %v", got)
	}
}

// A token file that cannot be read, or holds no valid token, keeps the
// token read before: the endpoint neither opens to anyone nor refuses the
// manager.
func TestUnreadableOrEmptyTokenFileKeepsTheTokenReadBefore(t *testing.T) {
	path := tokenFile(t, testToken)
	base, rec := recordingWorker(t, httpjobs.ServerOptions{Token: loadToken(t, path)})
	for _, c := range []struct {
		what  string
		spoil func()
	}{
		{"removed", func() { os.Remove(path) }},
		{"empty", func() { writeToken(t, path, "") }},
		{"too short", func() { writeToken(t, path, "short") }},
	} {
		c.spoil()
		for _, bad := range []string{"", "short"} {
			auth := "Bearer " + bad
			if bad == "" {
				auth = ""
			}
			wantRefused(t, c.what+", "+auth, postJob(t, base, httpjobs.Path, auth, msg("refused")))
		}
		if a := postJob(t, base, httpjobs.Path, "Bearer "+testToken, msg(c.what)); a.code != http.StatusAccepted {
			t.Errorf("token file %s: the token read before: %d, want 202", c.what, a.code)
		}
	}
	waitFor(t, func() bool { return len(rec.get(&rec.ran)) == 3 }, "the accepted jobs to run")
	if got := rec.get(&rec.ran); !slices.Equal(got, []string{"empty", "removed", "too short"}) {
		t.Errorf("ran %v", got)
	}
}

// Tokens are compared with crypto/subtle's constant-time comparison, on
// their SHA-256 digests (equal lengths whatever the tokens'), so a refusal
// takes the same time however much of a guess is right.
func TestTokensAreComparedInConstantTime(t *testing.T) {
	if reflect.ValueOf(*httpjobs.TokenEqual).Pointer() != reflect.ValueOf(subtle.ConstantTimeCompare).Pointer() {
		t.Fatal("the token comparison is not crypto/subtle.ConstantTimeCompare")
	}
	var mu sync.Mutex
	var lengths [][2]int
	saved := *httpjobs.TokenEqual
	t.Cleanup(func() { *httpjobs.TokenEqual = saved })
	*httpjobs.TokenEqual = func(x, y []byte) int {
		mu.Lock()
		lengths = append(lengths, [2]int{len(x), len(y)})
		mu.Unlock()
		return saved(x, y)
	}
	base, _ := recordingWorker(t, httpjobs.ServerOptions{})
	wantRefused(t, "a one-character token", postJob(t, base, httpjobs.Path, "Bearer x", msg("short")))
	if a := postJob(t, base, httpjobs.Path, "Bearer "+testToken, msg("right")); a.code != http.StatusAccepted {
		t.Fatalf("the right token: %d", a.code)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(lengths) != 2 {
		t.Fatalf("%d comparisons for two requests, want one each", len(lengths))
	}
	for _, l := range lengths {
		if l != [2]int{32, 32} {
			t.Errorf("compared %d with %d bytes, want two SHA-256 digests", l[0], l[1])
		}
	}
}

// lines collects what a logger writes.
type lines struct {
	mu  sync.Mutex
	all []string
}

func (l *lines) logger() logr.Logger {
	return funcr.New(func(prefix, args string) {
		l.mu.Lock()
		defer l.mu.Unlock()
		l.all = append(l.all, prefix+" "+args)
	}, funcr.Options{})
}

func (l *lines) get() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.all)
}

// A flood of refused requests (a scanner, a manager with the wrong token)
// logs one line per interval, which counts them and shows no token.
func TestRefusedRequestsAreLoggedOncePerInterval(t *testing.T) {
	var log lines
	base, _ := recordingWorker(t, httpjobs.ServerOptions{Log: log.logger(), RefusalLogEvery: time.Hour})
	const guess = "a-guessed-token-of-some-length"
	for range 30 {
		wantRefused(t, "a guess", postJob(t, base, httpjobs.Path, "Bearer "+guess, msg("guess")))
	}
	got := log.get()
	if len(got) != 1 {
		t.Fatalf("%d log lines for 30 refusals within the interval, want 1:\n%s", len(got), strings.Join(got, "\n"))
	}
	for _, want := range []string{"refused job requests", "--job-token-file", `"refused"=1`, `"lastWhy"="wrong token"`, "127.0.0.1"} {
		if !strings.Contains(got[0], want) {
			t.Errorf("the line does not say %s: %s", want, got[0])
		}
	}
	if strings.Contains(got[0], guess) || strings.Contains(got[0], testToken) {
		t.Errorf("the line shows a token: %s", got[0])
	}
}

func TestLoadTokenRefusesWhatIsNotAToken(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct{ what, content string }{
		{"empty", ""},
		{"white space", " \n\t\n"},
		{"too short", "abc123"},
		{"a space inside", "0123456789 abcdefghij"},
		{"a control character", "0123456789\x01abcdefghij"},
		{"not ASCII", "0123456789abcdefghijé"},
	} {
		path := dir + "/" + strings.ReplaceAll(c.what, " ", "-")
		if err := os.WriteFile(path, []byte(c.content), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := httpjobs.LoadToken(path, logr.Discard())
		if err == nil || !strings.Contains(err.Error(), "--job-token-file") || !strings.Contains(err.Error(), "head -c 32 /dev/urandom | base64") {
			t.Errorf("%s: %v, want an error naming --job-token-file and how to make a token", c.what, err)
		}
		if err != nil && len(strings.TrimSpace(c.content)) > 3 && strings.Contains(err.Error(), strings.TrimSpace(c.content)) {
			t.Errorf("%s: the error shows the file's content: %v", c.what, err)
		}
	}
	for _, path := range []string{"", dir + "/missing"} {
		if _, err := httpjobs.LoadToken(path, logr.Discard()); err == nil || !strings.Contains(err.Error(), "--job-token-file") {
			t.Errorf("LoadToken(%q): %v, want an error naming --job-token-file", path, err)
		}
	}
	// The newline that echo and editors add, and surrounding blanks, are
	// not part of the token.
	path := dir + "/with-newline"
	if err := os.WriteFile(path, []byte("  "+testToken+"\n\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if tok, err := httpjobs.LoadToken(path, logr.Discard()); err != nil || !tok.Check(testToken) {
		t.Errorf("a token with a newline: %v, or it does not check", err)
	}
}

// Neither side runs without a token.
func TestServerAndPublisherNeedAToken(t *testing.T) {
	if _, err := httpjobs.NewServer(httpjobs.ServerOptions{Addr: "127.0.0.1:0"}); err == nil || !strings.Contains(err.Error(), "--job-token-file") {
		t.Errorf("NewServer without a token: %v, want an error naming --job-token-file", err)
	}
	if _, err := httpjobs.NewPublisher("http://127.0.0.1:1", nil, nil); err == nil || !strings.Contains(err.Error(), "--job-token-file") {
		t.Errorf("NewPublisher without a token: %v, want an error naming --job-token-file", err)
	}
}
