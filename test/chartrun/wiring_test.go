package chartrun

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "ytx.dev/ytx/api/v1alpha1"
	"ytx.dev/ytx/internal/youtube/fake"
	"ytx.dev/ytx/test/internal/ytxbin"
)

// The binary's defaults for the serving flags (cmd/ytx/flags.go; the jobs
// endpoint's is the HTTP transport's contract).
var servingDefaults = map[string]string{"metrics-bind-address": ":8080", "health-probe-bind-address": ":8081", "jobs-bind-address": ":8090"}

// TestChartWiring runs what the chart's Deployments say, with the real
// binary: the rendered args and env of the controller's and the worker's
// containers, every reference resolved as the kubelet would (fieldRef,
// secretKeyRef, the mounted Secrets that Strimzi makes for the chart's
// Kafka and KafkaUsers), start bin/ytx twice, and one extraction must go
// through Kafka (TLS, SCRAM-SHA-512, the chart's topics) to Succeeded, with
// its files on the shared volume, and be cleaned up when deleted.
//
// Only what cannot exist on this machine is rewritten, each in one place:
//   - mount paths (/etc/ytx/..., /var/lib/ytx, /scratch, /tmp) become temp
//     directories holding what the volume would (pod.rewrite);
//   - the bootstrap address <kafka>-kafka-bootstrap.<ns>.svc:<port> becomes
//     the in-process broker's address: there is no cluster DNS here, and
//     the broker speaks the same TLS and SCRAM on its port;
//   - the metrics and health ports become free loopback ports: the chart's
//     fixed 8080/8081 would collide between two processes on one machine
//     (remapServing; a flag the chart leaves to its default is added);
//   - the in-cluster API config (service account token) becomes an
//     administrator's KUBECONFIG: RBAC is TestChartRBAC's job;
//   - HTTPS_PROXY and SSL_CERT_FILE lead the worker to the fake YouTube.
//
// It runs the defaults (a shared volume) and S3 storage (a real S3 server,
// its credentials from a Secret through secretKeyRef), both with transport
// kafka, and transport http (testWiringHTTP). bin/ytx must be there and
// newer than every source: a stale binary runs yesterday's flags.
func TestChartWiring(t *testing.T) {
	if err := ytxbin.Fresh(repoRoot, ytxBin); err != nil {
		t.Fatal(err)
	}
	t.Run("pvc", func(t *testing.T) { testWiring(t, &wiringCase) })
	t.Run("s3", func(t *testing.T) { testWiring(t, &s3Case) })
	t.Run("trial-s3", func(t *testing.T) { testWiring(t, &trialCase) })
	t.Run("http", func(t *testing.T) { testWiringHTTP(t, &httpCase) })
}

func testWiring(t *testing.T, c *chartCase) {
	r := c.render
	fn := c.fullname()
	ctx := t.Context()
	createNamespace(t, c.namespace)
	createNamespace(t, c.extractionNS)
	for name, data := range c.secrets {
		createSecret(t, c.namespace, name, data)
	}
	// The Secrets the chart renders, as helm would create them.
	for _, o := range r.all("Secret") {
		var sec corev1.Secret
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, &sec); err != nil {
			t.Fatal(err)
		}
		createSecret(t, c.namespace, sec.Name, sec.Data)
	}

	// What Strimzi's operators make of the chart's Kafka and KafkaUsers:
	// the cluster CA Secret and one Secret per user (TestMain made the
	// users and the KafkaTopics' topics on the case's broker).
	k := r.kafka(t)
	createSecret(t, c.namespace, k.name+"-cluster-ca-cert", map[string][]byte{"ca.crt": kafkaCAPEM})
	for _, u := range r.all("KafkaUser") {
		if auth, _, _ := unstructured.NestedString(u.Object, "spec", "authentication", "type"); auth != "scram-sha-512" {
			t.Errorf("KafkaUser %s authenticates with %q, want scram-sha-512", u.GetName(), auth)
		}
		if ns := u.GetNamespace(); ns != "" && ns != c.namespace {
			t.Errorf("KafkaUser %s is in namespace %s, not the release's", u.GetName(), ns)
		}
		password := scram[u.GetName()]
		createSecret(t, c.namespace, k.userSecretPrefix+u.GetName(), map[string][]byte{
			"password":         []byte(password),
			"sasl.jaas.config": fmt.Appendf(nil, `org.apache.kafka.common.security.scram.ScramLoginModule required username="%s" password="%s";`, u.GetName(), password),
		})
	}
	t.Logf("Strimzi stand-in: Secrets %s-cluster-ca-cert and %v, topics %v", k.name, r.names("KafkaUser"), r.topics())

	pe := &podEnv{ns: c.namespace, render: r, secrets: secretFromAPI(ctx, c.namespace), claims: map[string]string{}, tmp: func() string { return t.TempDir() }}
	ctrl := pe.resolve(t, deploymentPods(r.deployment(t, fn+"-controller")), "manager", fn+"-controller-6b8f9-x2x7q")
	worker := pe.resolve(t, deploymentPods(r.deployment(t, fn+"-worker")), "worker", fn+"-worker-7d9c5-abcde")
	checkTopics(t, c, ctrl, "kafka-topic", "kafka-listing-topic")
	checkTopics(t, c, worker, "kafka-topic", "kafka-listing-topic", "kafka-dead-letter-topic")

	// No cluster DNS here: the bootstrap Service's name becomes the
	// broker's address, in every form the Service answers to.
	svc := regexp.QuoteMeta(k.name + "-kafka-bootstrap")
	nsRe := regexp.QuoteMeta(c.namespace)
	bootstrap := regexp.MustCompile(fmt.Sprintf(`\b%s(\.%s(\.svc(\.cluster\.local)?)?)?:%d\b`, svc, nsRe, k.port))
	rewrites := map[*regexp.Regexp]string{bootstrap: c.broker.ListenAddrs()[0]}
	// The trial S3 server, when the chart runs one: its rendered pod as
	// bin/versitygw, and its Service's name becomes its address.
	if r.find("Deployment", fn+"-s3") != nil {
		service, addr := startTrialS3(t, c, pe)
		rewrites[service] = addr
	}
	for _, p := range []*pod{ctrl, worker} {
		if brokers, _ := flagValue(p.args, p.envMap(), "kafka-brokers"); brokers != k.bootstrap(c.namespace) {
			t.Errorf("%s: --kafka-brokers = %q, want Strimzi's bootstrap Service %q", p.container.Name, brokers, k.bootstrap(c.namespace))
		}
		p.rewrite(rewrites)
	}
	ctrlPorts := remapServing(t, ctrl)
	workerPorts := remapServing(t, worker)
	if _, ok := flagValue(ctrl.args, ctrl.envMap(), "leader-election-namespace"); !ok {
		// In a pod, controller-runtime reads the namespace from the service
		// account's mount; a chart that relies on that is right, and here
		// the flag stands for the file.
		ctrl.args = append(ctrl.args, "--leader-election-namespace="+c.namespace)
		t.Logf("manager: added --leader-election-namespace=%s (stands for the service account's namespace file)", c.namespace)
	}

	extra := []string{
		"KUBECONFIG=" + adminKubeconfig,
		"HTTPS_PROXY=" + youTube.ProxyURL().String(),
		"SSL_CERT_FILE=" + youTubeCAFile,
	}
	t.Logf("manager: ytx %s", strings.Join(ctrl.args, " "))
	t.Logf("worker:  ytx %s", strings.Join(worker.args, " "))

	// The harness itself: a wrong or a missing flag stops the binary at
	// start with a one-line error, and the test sees it.
	t.Run("binary refuses an unknown flag", func(t *testing.T) {
		pr := startProcess(t, worker, append(slices.Clone(worker.args), "--no-such-flag=1"), extra...)
		if err := pr.waitExit(10 * time.Second); err == nil {
			t.Fatalf("exit code 0 with --no-such-flag")
		}
		if line := lastLine(pr.out); !strings.Contains(line, "--no-such-flag") {
			t.Errorf("last line %q does not name the flag", line)
		}
	})
	t.Run("binary refuses a missing --storage", func(t *testing.T) {
		args := slices.DeleteFunc(slices.Clone(ctrl.args), func(a string) bool { return strings.HasPrefix(a, "--storage") })
		saved := ctrl.env
		ctrl.env = slices.DeleteFunc(slices.Clone(ctrl.env), func(e envVar) bool { return e.name == "YTX_STORAGE" })
		pr := startProcess(t, ctrl, args, extra...)
		ctrl.env = saved
		if err := pr.waitExit(10 * time.Second); err == nil {
			t.Fatalf("exit code 0 without --storage")
		}
		if line := lastLine(pr.out); !strings.Contains(line, "--storage") {
			t.Errorf("last line %q does not name --storage", line)
		}
	})

	// A wrong SCRAM password is not a crash loop either (on a first
	// install Strimzi's User Operator may not have set the password yet):
	// each binary stays up, not ready, and says what failed and which flag
	// to fix; once the file holds the right one it is ready, unrestarted.
	for _, pp := range []struct {
		p     *pod
		ports map[int]int
	}{{ctrl, ctrlPorts}, {worker, workerPorts}} {
		t.Run(pp.p.container.Name+" with a wrong password waits, not ready", func(t *testing.T) {
			testWrongPassword(t, pp.p, pp.ports, extra)
		})
	}

	procs := runExtraction(t, c, pe, ctrl, worker, ctrlPorts, workerPorts, extra, nil)

	// Neither process wrote its Kafka password anywhere in its output.
	for _, pr := range procs {
		for user, password := range scram {
			if pr.out.Contains(password) {
				t.Errorf("`ytx %s` printed the SCRAM password of %s", pr.name, user)
			}
		}
	}
}

// runExtraction starts the manager and the worker as the pods ctrl and
// worker, waits until both are ready by their probes, and takes one
// extraction through to Succeeded, run by that worker, with its files where
// its status says (on the volume or in the bucket the values name); then
// deletes it and checks that the controller's finalizer deleted the files.
// It stops both processes with SIGTERM, as the kubelet does, and returns
// them for checks of their output. up, unless nil, runs once both answer
// their probes, before the extraction.
func runExtraction(t *testing.T, c *chartCase, pe *podEnv, ctrl, worker *pod, ctrlPorts, workerPorts map[int]int, extra []string, up func()) []*process {
	t.Helper()
	ctx := t.Context()
	procs := []*process{startProcess(t, ctrl, ctrl.args, extra...), startProcess(t, worker, worker.args, extra...)}
	mgrProc, workerProc := procs[0], procs[1]
	alive := func() error {
		for _, pr := range procs {
			if err := pr.alive(); err != nil {
				return err
			}
		}
		return nil
	}
	checkProbes(t, mgrProc, ctrl, ctrlPorts, alive)
	checkProbes(t, workerProc, worker, workerPorts, alive)
	if up != nil {
		up()
	}

	x := &v1alpha1.YouTubeExtraction{
		ObjectMeta: metav1.ObjectMeta{Name: "never-gonna", Namespace: c.extractionNS},
		Spec: v1alpha1.YouTubeExtractionSpec{
			URL:   "https://www.youtube.com/watch?v=" + fake.RickrollID,
			Audio: &v1alpha1.AudioSpec{Format: v1alpha1.AudioM4A},
		},
	}
	if err := admin.Create(ctx, x); err != nil {
		t.Fatal(err)
	}
	x = waitPhase(t, client.ObjectKeyFromObject(x), v1alpha1.PhaseSucceeded, 40*time.Second, alive)
	if x.Status.Worker != worker.name {
		t.Errorf("status.worker = %q, want the pod's name %q (POD_NAME)", x.Status.Worker, worker.name)
	}
	kinds := map[v1alpha1.ArtifactKind]bool{}
	var stored []string
	for _, a := range x.Status.Artifacts {
		kinds[a.Kind] = true
		path, err := c.artifactPath(pe, a.URI)
		if err != nil {
			t.Errorf("artifact %s: %v", a.Kind, err)
			continue
		}
		if fi, err := os.Stat(path); err != nil || fi.Size() != a.SizeBytes {
			t.Errorf("artifact %s at %s: %v (status says %d bytes)", a.Kind, a.URI, err, a.SizeBytes)
		}
		stored = append(stored, path)
	}
	if !kinds[v1alpha1.ArtifactAudio] || !kinds[v1alpha1.ArtifactKind("info")] {
		t.Errorf("artifacts %v, want audio and info", x.Status.Artifacts)
	}

	// The controller's finalizer deletes the files the worker stored: both
	// reach the same storage with the same --storage.
	if err := admin.Delete(ctx, x); err != nil {
		t.Fatal(err)
	}
	if err := waitUntil(20*time.Second, 50*time.Millisecond, func() (bool, error) {
		if err := alive(); err != nil {
			return false, err
		}
		err := admin.Get(ctx, client.ObjectKeyFromObject(x), &v1alpha1.YouTubeExtraction{})
		return apierrors.IsNotFound(err), client.IgnoreNotFound(err)
	}); err != nil {
		t.Fatalf("the extraction was not deleted: %v", err)
	}
	for _, path := range stored {
		if _, err := os.Stat(path); !os.IsNotExist(err) {
			t.Errorf("the finalizer left %s", path)
		}
	}

	workerProc.stop(t, 40*time.Second)
	mgrProc.stop(t, 40*time.Second)
	return procs
}

// testWrongPassword starts p with its Kafka user's password file holding
// a wrong one and expects: the process runs on; /readyz answers 503 with a
// line that says authentication failed and names the user and
// --kafka-password-file; /healthz answers 200; the log says the same; the
// password shows nowhere. Then the file gets the right password, as the
// kubelet updates a mounted Secret, and /readyz turns 200 without a
// restart.
func testWrongPassword(t *testing.T, p *pod, ports map[int]int, extra []string) {
	user, ok := flagValue(p.args, p.envMap(), "kafka-username")
	if !ok {
		t.Fatalf("%s: no --kafka-username", p.container.Name)
	}
	if _, ok := flagValue(p.args, p.envMap(), "kafka-password-file"); !ok {
		t.Fatalf("%s: no --kafka-password-file", p.container.Name)
	}
	health, ok := ports[8081]
	if !ok {
		t.Fatalf("%s: no health port (served: %v)", p.container.Name, mapKeysInt(ports))
	}
	get := func(path string) (int, string) {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d%s", health, path)) //nolint:noctx
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	const wrong = "wr0ng-passw0rd-4-test"
	file := filepath.Join(t.TempDir(), "password")
	if err := os.WriteFile(file, []byte(wrong), 0o600); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	pr := startProcess(t, p, append(slices.Clone(p.args), "--kafka-password-file="+file), extra...)
	var code int
	var body string
	if err := waitUntil(30*time.Second, 100*time.Millisecond, func() (bool, error) {
		if err := pr.alive(); err != nil {
			return false, err
		}
		code, body = get("/readyz")
		return code == http.StatusServiceUnavailable && strings.Contains(body, "authentication failed"), nil
	}); err != nil {
		t.Fatalf("/readyz with a wrong password: %v; last %d %q", err, code, body)
	}
	t.Logf("/readyz %s after start: %d %s", time.Since(start).Round(time.Millisecond), code, strings.TrimSpace(body))
	for _, want := range []string{"authentication failed", fmt.Sprintf("%q", user), "--kafka-password-file"} {
		if !strings.Contains(body, want) {
			t.Errorf("/readyz %q does not say %s", body, want)
		}
		if !pr.out.Contains(strings.ReplaceAll(want, `"`, `\"`)) && !pr.out.Contains(want) {
			t.Errorf("the log does not say %s:\n%s", want, pr.out.Last(20))
		}
	}
	if code, body := get("/healthz"); code != http.StatusOK {
		t.Errorf("/healthz with a wrong password: %d %q, want 200 (the kubelet would restart it)", code, body)
	}

	// The Secret is corrected: the kubelet swaps the mounted file.
	if err := os.WriteFile(file+".new", []byte(scram[user]), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(file+".new", file); err != nil {
		t.Fatal(err)
	}
	fixed := time.Now()
	if err := waitUntil(60*time.Second, 100*time.Millisecond, func() (bool, error) {
		if err := pr.alive(); err != nil {
			return false, err
		}
		code, body = get("/readyz")
		return code == http.StatusOK, nil
	}); err != nil {
		t.Fatalf("/readyz once the password file is right: %v; last %d %q", err, code, body)
	}
	t.Logf("ready %s after the password file was corrected", time.Since(fixed).Round(time.Millisecond))
	if pr.out.Contains(wrong) || pr.out.Contains(scram[user]) {
		t.Errorf("the output shows a password: %s", pr.out.Last(20))
	}
	// It frees the ports for the next process.
	pr.stop(t, 40*time.Second)
}

// artifactPath is where an artifact's URI lands on this machine: in the
// directory that stands for the chart's volume, or in the S3 server's.
func (c *chartCase) artifactPath(pe *podEnv, uri string) (string, error) {
	u, err := url.Parse(uri)
	if err != nil {
		return "", err
	}
	switch u.Scheme {
	case "file":
		dir := pe.claims[c.fullname()+"-data"]
		if dir == "" {
			return "", fmt.Errorf("%s: no pod mounts the PersistentVolumeClaim %s-data (claims mounted: %v)", uri, c.fullname(), mapKeys(pe.claims))
		}
		if !strings.HasPrefix(u.Path, dir+"/") {
			return "", fmt.Errorf("%s is not on the volume %s-data (%s)", uri, c.fullname(), dir)
		}
		return u.Path, nil
	case "s3":
		if c.trialDir != "" {
			// A bucket of the trial server is a directory of the volume
			// it serves.
			return filepath.Join(c.trialDir, u.Host, u.Path), nil
		}
		bucket, _, _ := unstructured.NestedString(c.values, "storage", "s3", "bucket")
		if u.Host != bucket {
			return "", fmt.Errorf("%s is not in the bucket %q of the values", uri, bucket)
		}
		return filepath.Join(s3srv.Dir, u.Host, u.Path), nil
	}
	return "", fmt.Errorf("%s: unexpected scheme", uri)
}

// checkTopics checks that the topics a component uses (by flag, else the
// binary's default) are the chart's KafkaTopics.
func checkTopics(t *testing.T, c *chartCase, p *pod, flags ...string) {
	t.Helper()
	defaults := map[string]string{"kafka-topic": "ytx.extractions", "kafka-listing-topic": "ytx.listings", "kafka-dead-letter-topic": "ytx.extractions.dlq"}
	topics := c.render.topics()
	for _, f := range flags {
		v, ok := flagValue(p.args, p.envMap(), f)
		if !ok {
			v = defaults[f]
		}
		if _, ok := topics[v]; !ok {
			t.Errorf("%s: --%s=%s is not a topic of the chart's KafkaTopics (%v)", p.container.Name, f, v, mapKeys(topics))
		}
	}
}

func createSecret(t *testing.T, ns, name string, data map[string][]byte) {
	t.Helper()
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, Data: data}
	if err := admin.Create(t.Context(), s); err != nil {
		t.Fatalf("creating Secret %s/%s: %v", ns, name, err)
	}
}

// remapServing moves the metrics and health endpoints (and the endpoints
// of the extra bind-address flags) to free loopback ports, wherever the
// chart sets them (flag or YTX_ variable), and returns the local port that
// stands for each container port.
func remapServing(t *testing.T, p *pod, extra ...string) map[int]int {
	t.Helper()
	ports := map[int]int{}
	for _, flag := range append([]string{"metrics-bind-address", "health-probe-bind-address"}, extra...) {
		v, set := flagValue(p.args, p.envMap(), flag)
		if !set {
			v = servingDefaults[flag]
		}
		if v == "0" {
			continue // disabled
		}
		host, portStr, err := net.SplitHostPort(v)
		if err != nil {
			t.Fatalf("%s: --%s=%q: %v", p.container.Name, flag, v, err)
		}
		if ip := net.ParseIP(host); host == "localhost" || ip != nil && ip.IsLoopback() {
			t.Errorf("%s: --%s=%s listens on loopback only: the kubelet's probes and Prometheus reach the pod's IP", p.container.Name, flag, v)
		}
		port, _ := strconv.Atoi(portStr)
		local := freePort(t)
		ports[port] = local
		addr := fmt.Sprintf("127.0.0.1:%d", local)
		if !set {
			p.args = append(p.args, "--"+flag+"="+addr)
			t.Logf("%s: the chart leaves --%s at its default %s; added --%s=%s", p.container.Name, flag, v, flag, addr)
			continue
		}
		replaced := false
		for i, a := range p.args {
			if strings.HasPrefix(a, "--"+flag+"=") {
				p.args[i], replaced = "--"+flag+"="+addr, true
			} else if a == "--"+flag && i+1 < len(p.args) {
				p.args[i+1], replaced = addr, true
			}
		}
		if !replaced {
			for i := range p.env {
				if p.env[i].name == envName(flag) {
					p.env[i].value = addr
				}
			}
		}
	}
	for _, cp := range p.container.Ports {
		if _, ok := ports[int(cp.ContainerPort)]; !ok {
			t.Errorf("%s declares containerPort %d (%s) but serves nothing there (served: %v)", p.container.Name, cp.ContainerPort, cp.Name, mapKeysInt(ports))
		}
	}
	return ports
}

// checkProbes waits until the readiness probe passes, as the kubelet would
// poll it, then checks the liveness and startup probes once.
func checkProbes(t *testing.T, pr *process, p *pod, ports map[int]int, alive func() error) {
	t.Helper()
	c := p.container
	probeURL := func(kind string, probe *corev1.Probe) string {
		if probe == nil {
			return ""
		}
		if probe.HTTPGet == nil {
			t.Errorf("%s: %s probe is not an HTTP GET: %+v", c.Name, kind, probe.ProbeHandler)
			return ""
		}
		port := probe.HTTPGet.Port
		n := port.IntValue()
		if port.Type == intstr.String {
			n = 0
			for _, cp := range c.Ports {
				if cp.Name == port.StrVal {
					n = int(cp.ContainerPort)
				}
			}
			if n == 0 {
				t.Errorf("%s: %s probe names port %q that the container does not declare", c.Name, kind, port.StrVal)
				return ""
			}
		}
		local, ok := ports[n]
		if !ok {
			t.Errorf("%s: %s probe targets port %d where the process serves nothing (served: %v)", c.Name, kind, n, mapKeysInt(ports))
			return ""
		}
		return fmt.Sprintf("http://127.0.0.1:%d%s", local, probe.HTTPGet.Path)
	}
	get := func(u string) (int, error) {
		resp, err := http.Get(u) //nolint:noctx
		if err != nil {
			return 0, err
		}
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	ready := probeURL("readiness", c.ReadinessProbe)
	if c.ReadinessProbe == nil {
		t.Errorf("%s has no readiness probe", c.Name)
	}
	if ready == "" {
		// Still wait for the process to get going, through its health port.
		if local, ok := ports[8081]; ok {
			ready = fmt.Sprintf("http://127.0.0.1:%d/readyz", local)
		}
	}
	if ready != "" {
		var last string
		if err := waitUntil(30*time.Second, 100*time.Millisecond, func() (bool, error) {
			if err := alive(); err != nil {
				return false, err
			}
			code, err := get(ready)
			last = fmt.Sprint(code, err)
			return err == nil && code == http.StatusOK, nil
		}); err != nil {
			t.Fatalf("%s not ready at %s (last: %s): %v", c.Name, ready, last, err)
		}
	}
	for kind, probe := range map[string]*corev1.Probe{"liveness": c.LivenessProbe, "startup": c.StartupProbe} {
		if u := probeURL(kind, probe); u != "" {
			if code, err := get(u); err != nil || code != http.StatusOK {
				t.Errorf("%s: %s probe %s: %d %v", c.Name, kind, u, code, err)
			}
		}
	}
	if c.LivenessProbe == nil {
		t.Errorf("%s has no liveness probe", c.Name)
	}
	if err := pr.alive(); err != nil {
		t.Fatal(err)
	}
}

func mapKeysInt[V any](m map[int]V) []int {
	var out []int
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
