package chartrun

import (
	"fmt"
	"net/http"
	"net/url"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"

	"ytx.dev/ytx/internal/httpjobs"
)

// httpTransportFlags are the flags of the HTTP job transport that the chart
// passes (or may pass) to each command.
var httpTransportFlags = []struct {
	command string
	flags   []string
}{
	{"manager", []string{"transport", "worker-url", "queued-timeout", "job-token-file"}},
	{"worker", []string{"transport", "jobs-bind-address", "jobs-queue", "job-token-file"}},
}

// missingHTTPTransport lists what `bin/ytx <command> --help` lacks of the
// HTTP transport's flags, empty when it has them all.
func missingHTTPTransport() ([]string, error) {
	var missing []string
	for _, c := range httpTransportFlags {
		out, err := exec.Command(ytxBin, c.command, "--help").CombinedOutput()
		if err != nil {
			return nil, fmt.Errorf("`%s %s --help`: %v\n%s", ytxBin, c.command, err, out)
		}
		for _, f := range c.flags {
			if !regexp.MustCompile(`(?m)^\s+(?:-\w, )?--` + regexp.QuoteMeta(f) + `[\s=\[]`).Match(out) {
				missing = append(missing, fmt.Sprintf("ytx %s --%s", c.command, f))
			}
		}
	}
	return missing, nil
}

// testWiringHTTP is testWiring for transport http: the rendered
// Deployments' args and env, resolved as the kubelet would, run as bin/ytx,
// and one extraction goes from the controller over HTTP to the worker and
// through to Succeeded, its files on the shared volume, and is cleaned up
// when deleted. There is no Kafka: no broker, no Strimzi stand-in, and
// neither program gets a --kafka-* flag. Both read the job token from
// the Secret the values name, each from its own copy of the mounted key (as
// two pods would): the worker refuses a POST without it, and the job goes
// through only if the controller's token is the worker's.
//
// The worker serves jobs where the chart says (--jobs-bind-address, the
// containerPort "jobs"); the controller reaches it at --worker-url, which
// must name the worker Service the chart renders. Rewritten, besides what
// testWiring rewrites (mount paths, serving ports, the kubeconfig): the
// Service's DNS name in --worker-url, in every form the Service answers to,
// becomes the loopback address of the worker's jobs endpoint, reached
// through the Service's port and targetPort as kube-proxy would route it.
//
// bin/ytx (fresh: TestChartWiring checks) must list every flag of the HTTP
// transport in `ytx manager --help` and `ytx worker --help`; a missing one
// fails the case, it is not skipped.
func testWiringHTTP(t *testing.T, c *chartCase) {
	missing, err := missingHTTPTransport()
	if err != nil {
		t.Fatal(err)
	}
	if len(missing) > 0 {
		t.Fatalf("bin/ytx lacks flags of the HTTP transport: no %s", strings.Join(missing, ", no "))
	}
	r := c.render
	fn := c.fullname()
	createNamespace(t, c.namespace)
	createNamespace(t, c.extractionNS)
	for name, data := range c.secrets {
		createSecret(t, c.namespace, name, data)
	}
	for _, kind := range []string{"Kafka", "KafkaNodePool", "KafkaTopic", "KafkaUser", "ScaledObject", "TriggerAuthentication"} {
		if names := r.names(kind); len(names) > 0 {
			t.Errorf("transport http renders %s %v", kind, names)
		}
	}

	pe := &podEnv{ns: c.namespace, render: r, secrets: secretFromAPI(t.Context(), c.namespace), claims: map[string]string{}, tmp: func() string { return t.TempDir() }}
	ctrl := pe.resolve(t, deploymentPods(r.deployment(t, fn+"-controller")), "manager", fn+"-controller-6b8f9-x2x7q")
	worker := pe.resolve(t, deploymentPods(r.deployment(t, fn+"-worker")), "worker", fn+"-worker-7d9c5-abcde")
	for _, p := range []*pod{ctrl, worker} {
		if v, _ := flagValue(p.args, p.envMap(), "transport"); v != "http" {
			t.Errorf("%s: --transport=%q, want http", p.container.Name, v)
		}
		for _, a := range p.args {
			if strings.HasPrefix(a, "--kafka-") {
				t.Errorf("%s: %s with transport http", p.container.Name, a)
			}
		}
		for name := range p.envMap() {
			if strings.HasPrefix(name, "YTX_KAFKA_") {
				t.Errorf("%s: %s with transport http", p.container.Name, name)
			}
		}
	}

	// The worker Service that --worker-url names, and the container port
	// it routes to.
	workerURL, ok := flagValue(ctrl.args, ctrl.envMap(), "worker-url")
	if !ok {
		t.Fatalf("manager: no --worker-url; args %q", ctrl.args)
	}
	u, err := url.Parse(workerURL)
	if err != nil || u.Scheme != "http" || u.Port() == "" {
		t.Fatalf("manager: --worker-url=%q is not http://host:port (%v)", workerURL, err)
	}
	svc := r.service(t, fn+"-worker")
	for k, v := range svc.Spec.Selector {
		if worker.owner.template.Labels[k] != v {
			t.Errorf("Service %s selector %v does not select the worker pods %v", svc.Name, svc.Spec.Selector, worker.owner.template.Labels)
		}
	}
	if len(svc.Spec.Selector) == 0 {
		t.Errorf("Service %s selects no pods", svc.Name)
	}
	names := regexp.MustCompile(fmt.Sprintf(`^%s(\.%s(\.svc(\.cluster\.local)?)?)?$`, regexp.QuoteMeta(svc.Name), regexp.QuoteMeta(c.namespace)))
	if !names.MatchString(u.Hostname()) {
		t.Errorf("manager: --worker-url=%s does not name the Service %s in %s", workerURL, svc.Name, c.namespace)
	}
	urlPort, _ := strconv.Atoi(u.Port())
	target := targetPort(t, svc, int32(urlPort), worker.container)

	// The worker's serving ports to loopback, the jobs endpoint included;
	// then the Service's name in the controller's args becomes the address
	// the worker's endpoint has here (one rewrite per pod: a second would
	// rewrite the directories that stand for mount paths again).
	worker.rewrite(nil)
	workerPorts := remapServing(t, worker, "jobs-bind-address")
	local, ok := workerPorts[target]
	if !ok {
		t.Fatalf("Service %s routes port %d to the worker's port %d, where it serves nothing (served: %v)", svc.Name, urlPort, target, mapKeysInt(workerPorts))
	}
	host := regexp.MustCompile(fmt.Sprintf(`\b%s(\.%s(\.svc(\.cluster\.local)?)?)?:%d\b`, regexp.QuoteMeta(svc.Name), regexp.QuoteMeta(c.namespace), urlPort))
	ctrl.rewrite(map[*regexp.Regexp]string{host: fmt.Sprintf("127.0.0.1:%d", local)})
	ctrlPorts := remapServing(t, ctrl)
	if _, ok := flagValue(ctrl.args, ctrl.envMap(), "leader-election-namespace"); !ok {
		ctrl.args = append(ctrl.args, "--leader-election-namespace="+c.namespace)
	}

	extra := []string{
		"KUBECONFIG=" + adminKubeconfig,
		"HTTPS_PROXY=" + youTube.ProxyURL().String(),
		"SSL_CERT_FILE=" + youTubeCAFile,
	}
	t.Logf("manager: ytx %s", strings.Join(ctrl.args, " "))
	t.Logf("worker:  ytx %s", strings.Join(worker.args, " "))
	runExtraction(t, c, pe, ctrl, worker, ctrlPorts, workerPorts, extra, func() {
		checkJobEndpointToken(t, c, local)
	})
}

// checkJobEndpointToken asks the worker's jobs endpoint (at the loopback
// port local) as someone else would: without a token and with the Secret's
// other key, it answers 401; with the key that jobToken.key names it reads
// the body (a 400 for one that is no job), so the worker holds that key and
// no other. That the extraction then goes through shows that the
// controller holds the same one.
func checkJobEndpointToken(t *testing.T, c *chartCase, local int) {
	t.Helper()
	jt, _ := c.values["jobToken"].(map[string]any)
	name, _ := jt["secretName"].(string)
	key, _ := jt["key"].(string)
	data := c.secrets[name]
	if data[key] == nil {
		t.Fatalf("the case's values name the job token %s/%s, which its Secrets do not hold", name, key)
	}
	others := 0
	for k, v := range data {
		if k != key {
			others++
			postJob(t, local, strings.TrimSpace(string(v)), http.StatusUnauthorized, "the Secret's key "+k)
		}
	}
	if others == 0 {
		t.Fatalf("the Secret %s holds only %s: the test cannot tell a mount of that key from a mount of every key", name, key)
	}
	postJob(t, local, "", http.StatusUnauthorized, "no token")
	postJob(t, local, strings.TrimSpace(string(data[key])), http.StatusBadRequest, "the token of "+key)
}

// postJob POSTs "{}" (no job) to the jobs endpoint with the bearer token
// (none if empty) and expects the status want.
func postJob(t *testing.T, local int, token string, want int, with string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, fmt.Sprintf("http://127.0.0.1:%d%s", local, httpjobs.Path), strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST to the worker's jobs endpoint with %s: %v", with, err)
	}
	resp.Body.Close() //nolint:errcheck
	if resp.StatusCode != want {
		t.Errorf("POST to the worker's jobs endpoint with %s: %s, want %d", with, resp.Status, want)
	}
}

// service returns a rendered Service, typed.
func (r *render) service(t *testing.T, name string) *corev1.Service {
	t.Helper()
	o := r.find("Service", name)
	if o == nil {
		t.Fatalf("the chart renders no Service %q (Services: %v)", name, r.names("Service"))
	}
	var s corev1.Service
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, &s); err != nil {
		t.Fatalf("Service %s: %v", name, err)
	}
	return &s
}

// targetPort is the container port that the Service's port reaches, as
// kube-proxy routes it: the targetPort's number, or the containerPort of
// that name (the port itself when targetPort is empty).
func targetPort(t *testing.T, svc *corev1.Service, port int32, c *corev1.Container) int {
	t.Helper()
	for _, sp := range svc.Spec.Ports {
		if sp.Port != port {
			continue
		}
		switch {
		case sp.TargetPort.Type == intstr.String && sp.TargetPort.StrVal != "":
			for _, cp := range c.Ports {
				if cp.Name == sp.TargetPort.StrVal {
					return int(cp.ContainerPort)
				}
			}
			t.Fatalf("Service %s port %d targets %q, which container %s does not declare", svc.Name, port, sp.TargetPort.StrVal, c.Name)
		case sp.TargetPort.IntValue() != 0:
			return sp.TargetPort.IntValue()
		default:
			return int(sp.Port)
		}
	}
	t.Fatalf("Service %s has no port %d (ports: %+v)", svc.Name, port, svc.Spec.Ports)
	return 0
}
