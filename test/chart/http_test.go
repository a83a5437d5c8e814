package chart_test

import (
	"net"
	"net/url"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// The workers' job endpoint with transport http.
const (
	jobsPort     = 8090
	jobsPortName = "jobs"
)

// checkNoKafka: with transport http a component has no Kafka flag, no Kafka
// environment variable and no Kafka Secret mounted.
func checkNoKafka(t *testing.T, d *appsv1.Deployment, c corev1.Container, f map[string]string) {
	t.Helper()
	for name := range f {
		if strings.HasPrefix(name, "kafka-") {
			t.Errorf("%s: --%s with transport http", d.Name, name)
		}
	}
	for _, e := range c.Env {
		if strings.HasPrefix(e.Name, "YTX_KAFKA_") {
			t.Errorf("%s: env %s with transport http", d.Name, e.Name)
		}
	}
	for _, m := range c.VolumeMounts {
		if strings.Contains(m.MountPath, "kafka") {
			t.Errorf("%s: %s mounted with transport http", d.Name, m.MountPath)
		}
	}
	for _, v := range d.Spec.Template.Spec.Volumes {
		if strings.Contains(v.Name, "kafka") || v.Secret != nil && strings.Contains(v.Secret.SecretName, "kafka") {
			t.Errorf("%s: volume %s with transport http", d.Name, v.Name)
		}
	}
}

// checkHTTP holds for every case with transport http: no Strimzi or KEDA
// objects; the worker serves jobs on a declared port behind the Service
// FN-worker, which selects the worker pods only; the controller's
// --worker-url is that Service's DNS name and port.
func checkHTTP(t *testing.T, r *rendered) {
	t.Helper()
	for _, o := range r.objs {
		if g := o.GroupVersionKind().Group; strings.HasSuffix(g, "strimzi.io") || g == "keda.sh" {
			t.Errorf("transport http renders %s %s", o.GetKind(), o.GetName())
		}
	}
	ctrl, work := r.deployment(t, "controller"), r.deployment(t, "worker")
	cc, wc := container(t, ctrl), container(t, work)
	cf, wf := flags(t, cc), flags(t, wc)
	wantFlag(t, cf, "transport", "http")
	wantFlag(t, wf, "transport", "http")

	// The worker listens on the jobs port, which its container declares.
	wantFlag(t, wf, "jobs-bind-address", ":8090")
	var declared *corev1.ContainerPort
	for i, p := range wc.Ports {
		if p.Name == jobsPortName {
			declared = &wc.Ports[i]
		}
	}
	if declared == nil || declared.ContainerPort != jobsPort || declared.Protocol != corev1.ProtocolTCP {
		t.Errorf("%s: containerPort %s is %+v, want %d/TCP", work.Name, jobsPortName, declared, jobsPort)
	}
	if _, port, err := net.SplitHostPort(wf["jobs-bind-address"]); err != nil || port != "8090" {
		t.Errorf("%s: --jobs-bind-address=%s does not listen on the declared port %d", work.Name, wf["jobs-bind-address"], jobsPort)
	}
	for _, p := range cc.Ports {
		if p.Name == jobsPortName {
			t.Errorf("%s declares a jobs port", ctrl.Name)
		}
	}
	for _, name := range []string{"jobs-bind-address", "jobs-queue"} {
		if _, ok := cf[name]; ok {
			t.Errorf("%s: --%s is the worker's", ctrl.Name, name)
		}
	}
	if _, ok := wf["worker-url"]; ok {
		t.Errorf("%s: --worker-url is the controller's", work.Name)
	}

	// The Service: ClusterIP, port 8090 "jobs" to the container port
	// "jobs", selecting the worker pods and not the controller's.
	svc := &corev1.Service{}
	fromUnstructured(t, r.get(t, "Service", r.name("-worker")), svc)
	if svc.Spec.Type != corev1.ServiceTypeClusterIP {
		t.Errorf("Service %s type %q, want ClusterIP", svc.Name, svc.Spec.Type)
	}
	if len(svc.Spec.Ports) != 1 {
		t.Fatalf("Service %s ports %+v, want one", svc.Name, svc.Spec.Ports)
	}
	sp := svc.Spec.Ports[0]
	if sp.Name != jobsPortName || sp.Port != jobsPort || sp.Protocol != corev1.ProtocolTCP || sp.TargetPort != intstr.FromString(jobsPortName) {
		t.Errorf("Service %s port %+v, want %s %d/TCP to targetPort %s", svc.Name, sp, jobsPortName, jobsPort, jobsPortName)
	}
	checkSelects(t, "Service "+svc.Name+"'s selector", labels.SelectorFromSet(svc.Spec.Selector), podsOf(work), r.allPods(t))

	// --worker-url resolves to that Service: http://<name>.<namespace>.svc:<port>.
	u, err := url.Parse(cf["worker-url"])
	if err != nil {
		t.Fatalf("%s: --worker-url=%q: %v", ctrl.Name, cf["worker-url"], err)
	}
	wantHost := svc.Name + "." + svc.Namespace + ".svc"
	if u.Scheme != "http" || u.Hostname() != wantHost || u.Port() != "8090" || strings.Trim(u.Path, "/") != "" || u.RawQuery != "" {
		t.Errorf("%s: --worker-url=%s, want http://%s:%d (the Service %s)", ctrl.Name, cf["worker-url"], wantHost, sp.Port, svc.Name)
	}
	if svc.Namespace != r.c.namespace {
		t.Errorf("Service %s in namespace %q, want the release's %q", svc.Name, svc.Namespace, r.c.namespace)
	}
	// Defaults: --queued-timeout and --jobs-queue are left to the programs;
	// the job token's key is "token".
	if r.c.name == "http" {
		checkJobToken(t, r, tokenRef{"ytx-job-token", "token"})
		for flag, v := range map[string]string{"queued-timeout": cf["queued-timeout"], "jobs-queue": wf["jobs-queue"]} {
			if v != "" {
				t.Errorf("--%s=%s passed by default", flag, v)
			}
		}
	}
}

// checkHTTPOptional is testdata/values-http.yaml: transport http with its
// optional values, NetworkPolicies and ServiceMonitors, and Kafka values
// (both modes on, no brokers) that transport http ignores.
func checkHTTPOptional(t *testing.T, r *rendered) {
	t.Helper()
	checkHTTP(t, r)
	cf := flags(t, container(t, r.deployment(t, "controller")))
	wf := flags(t, container(t, r.deployment(t, "worker")))
	wantFlag(t, cf, "queued-timeout", "90s")
	wantFlag(t, wf, "jobs-queue", "16")
	checkJobToken(t, r, tokenRef{"jobs-token", "shared"})

	// The ServiceMonitors pick the metrics Services, never the jobs Service
	// that has the worker's component labels too.
	checkServiceMonitors(t, r)

	// Workers: jobs only from the controller's pods; controller: out to
	// the workers' jobs port; neither talks to Kafka.
	ctrl, work := r.name("-controller"), r.name("-worker")
	api := "[10.0.0.1/32] [443/TCP 6443/TCP]"
	dns := "[namespaces map[kubernetes.io/metadata.name:kube-system]] [53/UDP 53/TCP]"
	metrics := "[] [metrics/TCP health/TCP]"
	checkNetworkPolicy(t, r, "controller", []string{metrics},
		[]string{dns, api, "[pods of " + work + "] [8090/TCP]", trialS3Egress(r)})
	checkNetworkPolicy(t, r, "worker", []string{metrics, "[pods of " + ctrl + "] [jobs/TCP]"},
		[]string{dns, api, trialS3Egress(r), "[0.0.0.0/0] [443/TCP]"})
}
