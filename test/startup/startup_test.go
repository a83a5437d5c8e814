package startup

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "ytx.dev/ytx/api/v1alpha1"
	"ytx.dev/ytx/internal/devenv"
	"ytx.dev/ytx/internal/storage/s3test"
	"ytx.dev/ytx/internal/youtube/fake"
	"ytx.dev/ytx/test/internal/freeport"
	"ytx.dev/ytx/test/internal/tail"
)

// waiting is how long the programs are left alone with no peers before the
// test looks: long enough for a start-up check that exits to have done so.
const waiting = 6 * time.Second

// TestStartBeforePeers starts `ytx manager` and `ytx worker` with a Kafka
// address and an S3 endpoint where nothing listens yet, then brings the
// peers up one by one, as Strimzi and a bucket provisioner would.
//
// With Kafka: both stay up, /healthz 200, /readyz 503 naming kafka and
// storage; once kfake listens the kafka line goes; an extraction applied
// then is published but not taken while the storage is missing (its only
// attempt succeeds later, no failed attempt); once versitygw and the
// bucket exist both are ready and the extractions succeed. The S3 server
// then goes away and comes back: readiness follows it.
//
// With HTTP: the same without a broker; the worker refuses jobs (503)
// until its storage is there, so the manager's first sends fail and it
// sends again.
func TestStartBeforePeers(t *testing.T) {
	for _, transport := range []string{"kafka", "http"} {
		t.Run(transport, func(t *testing.T) { testStartBeforePeers(t, transport) })
	}
}

func testStartBeforePeers(t *testing.T, transport string) {
	ns := "startup-" + transport
	if err := admin.Create(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatal(err)
	}
	kafkaAddr := "127.0.0.1:" + strconv.Itoa(port(t))
	s3Addr := "127.0.0.1:" + strconv.Itoa(port(t))
	const bucket, access, secret = "ytx-media", "startupaccess", "startup-secret-key-0123"
	storageURL := s3test.URL(s3Addr, bucket, "files")
	env := []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(),
		"AWS_ACCESS_KEY_ID=" + access, "AWS_SECRET_ACCESS_KEY=" + secret,
		"HTTPS_PROXY=" + youTube.ProxyURL().String(), "SSL_CERT_FILE=" + youTubeCAFile,
	}
	common := []string{
		"--kubeconfig", kubeconfig, "--storage", storageURL, "--transport", transport,
		"--metrics-bind-address", "0", "--log-format", "console",
	}
	var managerArgs, workerArgs []string
	if transport == "kafka" {
		k := []string{"--kafka-brokers", kafkaAddr, "--kafka-topic", "jobs", "--kafka-listing-topic", "listings", "--kafka-group", "workers"}
		managerArgs = append(managerArgs, k...)
		workerArgs = append(workerArgs, append(k, "--kafka-dead-letter-topic", "dead-letters")...)
	} else {
		token, err := devenv.WriteJobToken(filepath.Join(t.TempDir(), "token"))
		if err != nil {
			t.Fatal(err)
		}
		jobs := "127.0.0.1:" + strconv.Itoa(port(t))
		managerArgs = append(managerArgs, "--worker-url", "http://"+jobs, "--job-token-file", token)
		workerArgs = append(workerArgs, "--jobs-bind-address", jobs, "--job-token-file", token)
	}
	mgr := start(t, "manager", env, append(append(common, managerArgs...), "--namespaces", ns, "--retry-backoff", "1s"))
	worker := start(t, "worker", env, append(append(common, workerArgs...), "--name", "w1", "--scratch-dir", t.TempDir()))
	procs := []*process{mgr, worker}
	alive := func() error {
		for _, p := range procs {
			if err := p.alive(); err != nil {
				return err
			}
		}
		return nil
	}

	// No peers: both wait, alive and not ready, and say why.
	time.Sleep(waiting)
	if err := alive(); err != nil {
		t.Fatalf("with no Kafka and no S3 for %s: %v", waiting, err)
	}
	wantStorage := []string{"storage", bucket, s3Addr}
	for _, p := range procs {
		code, body := p.get(t, "/readyz")
		if code != http.StatusServiceUnavailable {
			t.Errorf("%s /readyz: %d %q, want 503", p.name, code, body)
		}
		want := wantStorage
		if transport == "kafka" {
			want = append(want, "kafka", kafkaAddr)
		} else if strings.Contains(body, "kafka") {
			t.Errorf("%s /readyz names kafka with --transport=http: %q", p.name, body)
		}
		for _, w := range want {
			if !strings.Contains(body, w) {
				t.Errorf("%s /readyz does not say %q: %q", p.name, w, body)
			}
		}
		if code, body := p.get(t, "/healthz"); code != http.StatusOK {
			t.Errorf("%s /healthz while waiting: %d %q, want 200 (the kubelet would restart it)", p.name, code, body)
		}
		if !p.out.Contains("waiting for storage") {
			t.Errorf("%s did not log that it waits for storage; its output:\n%s", p.name, p.out.Last(20))
		}
		t.Logf("%s /readyz after %s: %d %s", p.name, waiting, code, strings.TrimSpace(body))
	}

	ctx := t.Context()
	early := extraction(ns, "applied-before-storage")
	if transport == "kafka" {
		broker, err := devenv.StartKafka(mustPort(t, kafkaAddr), 2, "jobs", "listings", "dead-letters")
		if err != nil {
			t.Fatalf("starting kfake on %s: %v", kafkaAddr, err)
		}
		t.Cleanup(broker.Close)
		up := time.Now()
		for _, p := range procs {
			took := waitReadyz(t, p, up, alive, func(code int, body string) bool {
				return code == http.StatusServiceUnavailable && !strings.Contains(body, "kafka")
			})
			t.Logf("%s: kafka reason gone %s after kfake started", p.name, took.Round(time.Millisecond))
		}
		// Published, but not to be taken: its job would fail without
		// storage.
		if err := admin.Create(ctx, early); err != nil {
			t.Fatal(err)
		}
		waitExtraction(t, early, alive, 30*time.Second, "Queued", func(x *v1alpha1.YouTubeExtraction) bool {
			return x.Status.Phase == v1alpha1.PhaseQueued
		})
		t.Logf("kafka: %s is Queued %s after kfake started", early.Name, time.Since(up).Round(time.Millisecond))
	} else {
		// The manager sends it; the worker refuses it until its storage
		// is there.
		if err := admin.Create(ctx, early); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(2 * time.Second) // time for a worker that takes jobs too early to take it
	if x := get(t, early); x.Status.Worker != "" || x.Status.LastFailure != nil {
		t.Errorf("%s was taken before the storage existed: %s", early.Name, describe(x))
	}

	s3dir := t.TempDir()
	s3srv, err := s3test.LaunchOn(s3Addr, s3dir, access, secret)
	if err != nil {
		t.Fatalf("starting versitygw on %s: %v", s3Addr, err)
	}
	t.Cleanup(func() { s3srv.Close() }) //nolint:errcheck
	// The server answers, the bucket is not there yet: a reason of its own.
	up := time.Now()
	for _, p := range procs {
		took := waitReadyz(t, p, up, alive, func(code int, body string) bool {
			return code == http.StatusServiceUnavailable && strings.Contains(body, fmt.Sprintf("bucket %q does not exist", bucket))
		})
		t.Logf("%s: says the bucket is missing %s after versitygw started", p.name, took.Round(time.Millisecond))
	}
	if err := s3srv.Client().MakeBucket(ctx, bucket, minio.MakeBucketOptions{Region: s3test.Region}); err != nil {
		t.Fatal(err)
	}
	up = time.Now()
	for _, p := range procs {
		took := waitReadyz(t, p, up, alive, func(code int, _ string) bool { return code == http.StatusOK })
		t.Logf("%s: ready %s after the bucket was made", p.name, took.Round(time.Millisecond))
	}

	x := waitExtraction(t, early, alive, 90*time.Second, "Succeeded", func(x *v1alpha1.YouTubeExtraction) bool {
		return x.Status.Phase == v1alpha1.PhaseSucceeded
	})
	if x.Status.LastFailure != nil || x.Status.Attempts != 1 || x.Status.Worker != "w1" {
		t.Errorf("%s: %s; want one attempt, by w1, and no failed one", early.Name, describe(x))
	}
	checkArtifacts(t, s3srv, x)
	later := extraction(ns, "applied-when-ready")
	if err := admin.Create(ctx, later); err != nil {
		t.Fatal(err)
	}
	x = waitExtraction(t, later, alive, 60*time.Second, "Succeeded", func(x *v1alpha1.YouTubeExtraction) bool {
		return x.Status.Phase == v1alpha1.PhaseSucceeded
	})
	checkArtifacts(t, s3srv, x)

	// The storage goes away: not ready again, still alive; and back.
	s3srv.Kill()
	up = time.Now()
	for _, p := range procs {
		took := waitReadyz(t, p, up, alive, func(code int, body string) bool {
			return code == http.StatusServiceUnavailable && strings.Contains(body, "storage")
		})
		t.Logf("%s: 503 naming storage %s after the S3 server died", p.name, took.Round(time.Millisecond))
		if code, body := p.get(t, "/healthz"); code != http.StatusOK {
			t.Errorf("%s /healthz with the storage gone: %d %q", p.name, code, body)
		}
	}
	if err := s3srv.Restart(); err != nil {
		t.Fatal(err)
	}
	up = time.Now()
	for _, p := range procs {
		took := waitReadyz(t, p, up, alive, func(code int, _ string) bool { return code == http.StatusOK })
		t.Logf("%s: ready again %s after the S3 server came back", p.name, took.Round(time.Millisecond))
	}

	for _, p := range procs {
		p.stop(t, 40*time.Second)
	}
}

func extraction(ns, name string) *v1alpha1.YouTubeExtraction {
	return &v1alpha1.YouTubeExtraction{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec:       v1alpha1.YouTubeExtractionSpec{URL: "https://www.youtube.com/watch?v=" + fake.RickrollID},
	}
}

func get(t *testing.T, x *v1alpha1.YouTubeExtraction) *v1alpha1.YouTubeExtraction {
	t.Helper()
	var got v1alpha1.YouTubeExtraction
	if err := admin.Get(t.Context(), client.ObjectKeyFromObject(x), &got); err != nil {
		t.Fatal(err)
	}
	return &got
}

// checkArtifacts checks that every artifact x's status lists is in the
// bucket, with the size the status says.
func checkArtifacts(t *testing.T, s3srv *s3test.Server, x *v1alpha1.YouTubeExtraction) {
	t.Helper()
	if len(x.Status.Artifacts) == 0 {
		t.Errorf("%s: no artifacts", x.Name)
	}
	for _, a := range x.Status.Artifacts {
		bucket, key, ok := strings.Cut(strings.TrimPrefix(a.URI, "s3://"), "/")
		if !ok {
			t.Errorf("%s: artifact URI %q is not in S3", x.Name, a.URI)
			continue
		}
		info, err := s3srv.Client().StatObject(t.Context(), bucket, key, minio.StatObjectOptions{})
		if err != nil || info.Size != a.SizeBytes {
			t.Errorf("%s: artifact %s: %v (size %d, status says %d)", x.Name, a.URI, err, info.Size, a.SizeBytes)
		}
	}
}

func waitExtraction(t *testing.T, x *v1alpha1.YouTubeExtraction, alive func() error, timeout time.Duration, what string, done func(*v1alpha1.YouTubeExtraction) bool) *v1alpha1.YouTubeExtraction {
	t.Helper()
	var got v1alpha1.YouTubeExtraction
	deadline := time.Now().Add(timeout)
	for {
		if err := alive(); err != nil {
			t.Fatal(err)
		}
		if err := admin.Get(t.Context(), client.ObjectKeyFromObject(x), &got); err == nil && done(&got) {
			return &got
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not %s within %s: %s", x.Name, what, timeout, describe(&got))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitReadyz polls p's /readyz until ok says so (as a kubelet would, more
// often) and returns how long after since that was; a generous deadline,
// as the machine may be loaded: the durations are logged, not asserted.
func waitReadyz(t *testing.T, p *process, since time.Time, alive func() error, ok func(code int, body string) bool) time.Duration {
	t.Helper()
	start := time.Now()
	var code int
	var body string
	for time.Since(start) < 60*time.Second {
		if err := alive(); err != nil {
			t.Fatal(err)
		}
		if code, body = p.get(t, "/readyz"); ok(code, body) {
			return time.Since(since)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s /readyz still %d %q after %s; its output:\n%s", p.name, code, body, time.Since(start), p.out.Last(20))
	return 0
}

func describe(x *v1alpha1.YouTubeExtraction) string {
	s := fmt.Sprintf("phase %q, attempts %d, worker %q", x.Status.Phase, x.Status.Attempts, x.Status.Worker)
	if f := x.Status.LastFailure; f != nil {
		s += fmt.Sprintf(", last failure %s: %s", f.Reason, f.Message)
	}
	for _, c := range x.Status.Conditions {
		s += fmt.Sprintf(", %s=%s (%s: %s)", c.Type, c.Status, c.Reason, c.Message)
	}
	return s
}

// process is bin/ytx running.
type process struct {
	name  string
	probe string // host:port of /healthz and /readyz
	cmd   *exec.Cmd
	out   *tail.Buffer
	done  chan struct{}
	err   error
}

// start runs `ytx <name> args...` with exactly env, serving its probes on
// a free port.
func start(t *testing.T, name string, env, args []string) *process {
	t.Helper()
	p := &process{name: name, probe: "127.0.0.1:" + strconv.Itoa(port(t)), out: &tail.Buffer{Max: 256 << 10}, done: make(chan struct{})}
	p.cmd = exec.Command(ytxBin, append(append([]string{name}, args...), "--health-probe-bind-address", p.probe)...)
	p.cmd.Env = env
	var w io.Writer = p.out
	if os.Getenv("YTX_TEST_LOG") != "" {
		w = io.MultiWriter(p.out, os.Stderr)
	}
	p.cmd.Stdout, p.cmd.Stderr = w, w
	// A suite killed by its timeout must not leave them running.
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			p.cmd.Process.Kill() //nolint:errcheck // our own child, by its pid
			<-p.done
		}
		if t.Failed() {
			t.Logf("`ytx %s` output (last lines):\n%s", p.name, p.out.Last(40))
		}
	})
	return p
}

func (p *process) alive() error {
	select {
	case <-p.done:
		return fmt.Errorf("`ytx %s` exited (%v); its last output:\n%s", p.name, p.err, p.out.Last(20))
	default:
		return nil
	}
}

// get answers path on p's probe port; code 0 while nothing answers.
func (p *process) get(t *testing.T, path string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+p.probe+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// stop sends SIGTERM, as the kubelet does, and expects a clean exit.
func (p *process) stop(t *testing.T, timeout time.Duration) {
	t.Helper()
	if err := p.alive(); err != nil {
		t.Error(err)
		return
	}
	p.cmd.Process.Signal(syscall.SIGTERM) //nolint:errcheck
	select {
	case <-p.done:
		if p.err != nil {
			t.Errorf("`ytx %s` did not exit cleanly on SIGTERM: %v; last output:\n%s", p.name, p.err, p.out.Last(20))
		}
	case <-time.After(timeout):
		t.Errorf("`ytx %s` still runs %s after SIGTERM", p.name, timeout)
	}
}

func port(t *testing.T) int {
	t.Helper()
	n, err := freeport.Get()
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func mustPort(t *testing.T, addr string) int {
	t.Helper()
	_, p, _ := strings.Cut(addr, ":")
	n, err := strconv.Atoi(p)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// The peers are checked from the start, not once the API server has
// answered: a program that cannot reach the API server yet still says
// what else is missing.
func TestReadyzNamesPeersBeforeTheAPIServerAnswers(t *testing.T) {
	kc := filepath.Join(t.TempDir(), "kubeconfig")
	nowhere := "127.0.0.1:" + strconv.Itoa(port(t))
	if err := os.WriteFile(kc, []byte(`apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://`+nowhere+`"}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: c, context: {cluster: c, user: u}}]
current-context: c
`), 0o600); err != nil {
		t.Fatal(err)
	}
	s3Addr := "127.0.0.1:" + strconv.Itoa(port(t))
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "AWS_ACCESS_KEY_ID=a-key", "AWS_SECRET_ACCESS_KEY=a-secret"}
	w := start(t, "worker", env, []string{
		"--kubeconfig", kc, "--kafka-brokers", "127.0.0.1:" + strconv.Itoa(port(t)),
		"--storage", s3test.URL(s3Addr, "media", ""), "--metrics-bind-address", "0", "--name", "w1",
	})
	took := waitReadyz(t, w, time.Now(), w.alive, func(code int, body string) bool {
		return code == http.StatusServiceUnavailable && strings.Contains(body, "no broker reachable") && strings.Contains(body, s3Addr)
	})
	t.Logf("the reasons showed %s after start, with the API server at %s not answering", took.Round(time.Millisecond), nowhere)
	if code, body := w.get(t, "/healthz"); code != http.StatusOK {
		t.Errorf("/healthz: %d %q", code, body)
	}
}
