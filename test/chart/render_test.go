package chart_test

import (
	"context"
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
)

// chartCase is one set of values: what it renders, and that it applies.
type chartCase struct {
	name      string
	release   string
	namespace string
	args      []string
	// fullname is the expected prefix of every object's name.
	fullname string
	// kinds is the exact number of objects of each kind.
	kinds map[string]int
	check func(t *testing.T, r *rendered)
}

func valuesFile(name string) []string {
	return []string{"-f", filepath.Join("testdata", name)}
}

// baseKinds is what every case renders besides Kafka, storage and options.
func baseKinds(extra map[string]int) map[string]int {
	k := map[string]int{
		"CustomResourceDefinition": 2, "ServiceAccount": 2, "Deployment": 2,
		"ClusterRole": 2, "ClusterRoleBinding": 2, "Role": 1, "RoleBinding": 1,
	}
	for kind, n := range extra {
		if n == 0 {
			delete(k, kind)
		} else {
			k[kind] = n
		}
	}
	return k
}

var strimziKinds = map[string]int{"Kafka": 1, "KafkaNodePool": 1, "KafkaTopic": 3, "KafkaUser": 2}

// trialKinds is what the default storage adds: the trial S3 server's
// Deployment (the third), Service, Secret and claim.
var trialKinds = map[string]int{"Deployment": 3, "Service": 1, "Secret": 1, "PersistentVolumeClaim": 1}

func merged(ms ...map[string]int) map[string]int {
	out := map[string]int{}
	for _, m := range ms {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}

var cases = []chartCase{
	{
		name: "defaults", release: "demo", namespace: "chart-defaults", fullname: "demo-ytx",
		kinds: baseKinds(merged(strimziKinds, trialKinds)),
		check: checkDefaults,
	},
	// Files on a ReadWriteMany volume instead.
	{
		name: "pvc", release: "demo", namespace: "chart-pvc", fullname: "demo-ytx",
		args:  []string{"--set", "storage.type=pvc"},
		kinds: baseKinds(merged(strimziKinds, map[string]int{"PersistentVolumeClaim": 1})),
		check: checkPVC,
	},
	// The trial server with a Secret of the user's, a bucket and prefix of
	// its own, and no claim.
	{
		name: "trial-s3-options", release: "try", namespace: "chart-trial-s3", fullname: "try-ytx",
		args: []string{"--set", "storage.s3.credentialsSecret.name=my-s3", "--set", "storage.s3.credentialsSecret.accessKeyKey=user",
			"--set", "storage.s3.credentialsSecret.secretKeyKey=pass", "--set", "storage.s3.bucket=media", "--set", "storage.s3.prefix=ytx",
			"--set", "storage.s3.trialServer.persistence.enabled=false"},
		kinds: baseKinds(merged(strimziKinds, map[string]int{"Deployment": 3, "Service": 1})),
		check: checkTrialS3Options,
	},
	{
		name: "external-kafka", release: "ytx", namespace: "chart-external", fullname: "ytx",
		args:  valuesFile("values-external.yaml"),
		kinds: baseKinds(trialKinds),
		check: checkExternal,
	},
	{
		name: "s3", release: "media", namespace: "chart-s3", fullname: "ytx-s3",
		args:  valuesFile("values-s3.yaml"),
		kinds: baseKinds(strimziKinds),
		check: checkS3,
	},
	{
		name: "optional", release: "ytx-opt", namespace: "chart-optional", fullname: "ytx-opt",
		args: valuesFile("values-optional.yaml"),
		kinds: baseKinds(merged(strimziKinds, map[string]int{
			"PersistentVolumeClaim": 1, "ScaledObject": 1, "TriggerAuthentication": 1,
			"Service": 3, "ServiceMonitor": 2, "NetworkPolicy": 3, "Deployment": 3, "Secret": 1,
		})),
		check: checkOptional,
	},
	{
		name: "namespaced", release: "scoped", namespace: "chart-namespaced", fullname: "scoped-ytx",
		args: valuesFile("values-namespaced.yaml"),
		kinds: baseKinds(merged(strimziKinds, map[string]int{
			"ClusterRole": 0, "ClusterRoleBinding": 0, "Role": 5, "RoleBinding": 5,
		}, trialKinds)),
		check: checkNamespaced,
	},
	{
		name: "production", release: "prod", namespace: "chart-production", fullname: "prod-ytx",
		args:  []string{"-f", filepath.Join("..", "..", "charts", "ytx", "values-production.yaml")},
		kinds: baseKinds(merged(strimziKinds, map[string]int{"NetworkPolicy": 2})),
		check: checkProduction,
	},
	// Every youtube value: resolvers, yt-dlp, cookies and proxies from
	// Secrets, the doctor CronJob, and NetworkPolicies (the doctor's too).
	{
		name: "youtube", release: "tube", namespace: "chart-youtube", fullname: "tube-ytx",
		args: valuesFile("values-youtube.yaml"),
		kinds: baseKinds(merged(strimziKinds, map[string]int{
			"ServiceAccount": 3, "Role": 2, "RoleBinding": 2, "CronJob": 1, "NetworkPolicy": 4,
		}, trialKinds)),
		check: checkYouTube,
	},
	// Transport http as the README installs it: no Kafka, the jobs Service.
	{
		name: "http", release: "ytx", namespace: "chart-http", fullname: "ytx",
		args:  []string{"--set", "transport=http", "--set", "jobToken.secretName=ytx-job-token"},
		kinds: baseKinds(merged(trialKinds, map[string]int{"Service": 2})),
		check: checkHTTP,
	},
	// Transport http with its optional values, NetworkPolicies and
	// ServiceMonitors, and Kafka values that it ignores.
	{
		name: "http-optional", release: "fast", namespace: "chart-http-optional", fullname: "fast-ytx",
		args: valuesFile("values-http.yaml"),
		kinds: baseKinds(map[string]int{
			"PersistentVolumeClaim": 1, "Service": 4, "ServiceMonitor": 2, "NetworkPolicy": 3, "Deployment": 3, "Secret": 1,
		}),
		check: checkHTTPOptional,
	},
}

// TestChart lints and renders every case, checks what it renders, and
// applies every object to the API server.
func TestChart(t *testing.T) {
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			lintArgs := append([]string{"lint", "--strict", chartDir, "--namespace", c.namespace}, c.args...)
			if _, err := helm(lintArgs...); err != nil {
				t.Fatal(err)
			}
			objs, err := render(c.release, c.namespace, c.args...)
			if err != nil {
				t.Fatal(err)
			}
			r := newRendered(t, c, objs)
			checkKinds(t, r, c.kinds)
			checkCommon(t, r)
			c.check(t, r)
			applyAll(t, objs)
		})
	}
}

// rendered is one case's objects with lookups.
type rendered struct {
	c    chartCase
	objs []*unstructured.Unstructured
}

func newRendered(t *testing.T, c chartCase, objs []*unstructured.Unstructured) *rendered {
	t.Helper()
	if len(objs) == 0 {
		t.Fatal("nothing rendered")
	}
	return &rendered{c: c, objs: objs}
}

func (r *rendered) ofKind(kind string) []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	for _, o := range r.objs {
		if o.GetKind() == kind {
			out = append(out, o)
		}
	}
	return out
}

// get finds an object by kind and name (and namespace, when not empty).
func (r *rendered) get(t *testing.T, kind, name string, namespace ...string) *unstructured.Unstructured {
	t.Helper()
	for _, o := range r.ofKind(kind) {
		if o.GetName() == name && (len(namespace) == 0 || o.GetNamespace() == namespace[0]) {
			return o
		}
	}
	t.Fatalf("no %s %s %v rendered", kind, name, namespace)
	return nil
}

func (r *rendered) name(suffix string) string { return r.c.fullname + suffix }

func (r *rendered) deployment(t *testing.T, component string) *appsv1.Deployment {
	t.Helper()
	d := &appsv1.Deployment{}
	fromUnstructured(t, r.get(t, "Deployment", r.name("-"+component)), d)
	return d
}

// pods is a template of pods and what makes them: a Deployment, or the
// doctor's CronJob (its jobTemplate's pod template).
type pods struct {
	kind, name string
	template   corev1.PodTemplateSpec
}

func podsOf(d *appsv1.Deployment) *pods {
	return &pods{kind: "Deployment", name: d.Name, template: d.Spec.Template}
}

func (p *pods) String() string { return p.kind + " " + p.name }

// cronJob is the doctor's CronJob, nil when the case renders none.
func (r *rendered) cronJob(t *testing.T) *batchv1.CronJob {
	t.Helper()
	cjs := r.ofKind("CronJob")
	switch len(cjs) {
	case 0:
		return nil
	case 1:
	default:
		t.Fatalf("%d CronJobs rendered, want at most the doctor's", len(cjs))
	}
	if cjs[0].GetName() != r.name("-doctor") {
		t.Fatalf("CronJob %s, want %s", cjs[0].GetName(), r.name("-doctor"))
	}
	cj := &batchv1.CronJob{}
	fromUnstructured(t, cjs[0], cj)
	return cj
}

func cronJobPods(cj *batchv1.CronJob) *pods {
	return &pods{kind: "CronJob", name: cj.Name, template: cj.Spec.JobTemplate.Spec.Template}
}

// podsFor is a component's pods: the controller's and the workers'
// Deployments, the doctor's CronJob, the trial S3 server's Deployment (s3).
func (r *rendered) podsFor(t *testing.T, component string) *pods {
	t.Helper()
	if component == "s3" {
		d := r.trialServer(t)
		if d == nil {
			t.Fatal("no trial S3 server rendered")
		}
		return podsOf(d)
	}
	if component == "doctor" {
		cj := r.cronJob(t)
		if cj == nil {
			t.Fatal("no doctor CronJob rendered")
		}
		return cronJobPods(cj)
	}
	return podsOf(r.deployment(t, component))
}

// allPods are every pod template of the release: the controller's, the
// workers' and, when rendered, the doctor's and the trial S3 server's.
func (r *rendered) allPods(t *testing.T) []*pods {
	t.Helper()
	out := []*pods{podsOf(r.deployment(t, "controller")), podsOf(r.deployment(t, "worker"))}
	if cj := r.cronJob(t); cj != nil {
		out = append(out, cronJobPods(cj))
	}
	if d := r.trialServer(t); d != nil {
		out = append(out, podsOf(d))
	}
	return out
}

func fromUnstructured(t *testing.T, u *unstructured.Unstructured, into any) {
	t.Helper()
	if err := runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(u.Object, into, true); err != nil {
		t.Fatalf("%s %s: %v", u.GetKind(), u.GetName(), err)
	}
}

func nested(t *testing.T, o *unstructured.Unstructured, path ...string) any {
	t.Helper()
	v, ok, err := unstructured.NestedFieldNoCopy(o.Object, path...)
	if err != nil || !ok {
		t.Fatalf("%s %s: no %s (%v)", o.GetKind(), o.GetName(), strings.Join(path, "."), err)
	}
	return v
}

func checkKinds(t *testing.T, r *rendered, want map[string]int) {
	t.Helper()
	got := map[string]int{}
	for _, o := range r.objs {
		got[o.GetKind()]++
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("kinds rendered:\n got %v\nwant %v", got, want)
	}
}

// container is the one container of a component's Deployment.
func container(t *testing.T, d *appsv1.Deployment) corev1.Container {
	t.Helper()
	return onlyContainer(t, podsOf(d))
}

// onlyContainer is the one container of a pod template.
func onlyContainer(t *testing.T, p *pods) corev1.Container {
	t.Helper()
	if n := len(p.template.Spec.Containers); n != 1 {
		t.Fatalf("%s: %d containers, want 1", p, n)
	}
	return p.template.Spec.Containers[0]
}

// flagArg is one "--name=value" argument.
type flagArg struct{ name, value string }

// parseArgs splits the arguments after the subcommand into "--flag=value"
// strings, in order, and the other arguments.
func parseArgs(c corev1.Container) (fl []flagArg, other []string) {
	for i, a := range c.Args[1:] {
		if a == "--" {
			// As the program reads it: what follows is not a flag.
			return fl, append(other, c.Args[i+2:]...)
		}
		name, value, ok := strings.Cut(a, "=")
		if !ok || !strings.HasPrefix(name, "--") {
			other = append(other, a)
			continue
		}
		fl = append(fl, flagArg{strings.TrimPrefix(name, "--"), value})
	}
	return fl, other
}

// flags maps each "--flag=value" argument to its value. A flag may be given
// twice only if `ytx <command> --help` says it is a stringArray (it
// collects every value: --ytdlp-extractor-args); its value here is then
// every value, one a line.
func flags(t *testing.T, c corev1.Container) map[string]string {
	t.Helper()
	fl, other := parseArgs(c)
	for _, a := range other {
		t.Errorf("%s: argument %q is not one --flag=value string", c.Name, a)
	}
	out := map[string]string{}
	for _, f := range fl {
		if v, dup := out[f.name]; dup {
			if knownFlags(t, c.Args[0])[f.name] != "stringArray" {
				t.Errorf("%s: --%s given twice", c.Name, f.name)
			}
			out[f.name] = v + "\n" + f.value
			continue
		}
		out[f.name] = f.value
	}
	return out
}

func wantFlag(t *testing.T, f map[string]string, name, value string) {
	t.Helper()
	if got, ok := f[name]; !ok {
		t.Errorf("no --%s (want %q)", name, value)
	} else if got != value {
		t.Errorf("--%s=%q, want %q", name, got, value)
	}
}

func envVar(c corev1.Container, name string) *corev1.EnvVar {
	for i := range c.Env {
		if c.Env[i].Name == name {
			return &c.Env[i]
		}
	}
	return nil
}

func volume(p *pods, name string) *corev1.Volume {
	for i := range p.template.Spec.Volumes {
		if p.template.Spec.Volumes[i].Name == name {
			return &p.template.Spec.Volumes[i]
		}
	}
	return nil
}

// mountAt returns the volume mounted at dir, or nil.
func mountAt(p *pods, c corev1.Container, dir string) *corev1.Volume {
	for _, m := range c.VolumeMounts {
		if m.MountPath == dir {
			return volume(p, m.Name)
		}
	}
	return nil
}

// checkCommon holds for every case: names, labels, namespaces, pod
// security, probes, ports, and flags that agree with the volumes.
func checkCommon(t *testing.T, r *rendered) {
	t.Helper()
	for _, o := range r.objs {
		if o.GetKind() == "CustomResourceDefinition" {
			continue
		}
		if !strings.HasPrefix(o.GetName(), r.c.fullname) {
			t.Errorf("%s %s: name does not start with %q", o.GetKind(), o.GetName(), r.c.fullname)
		}
		l := o.GetLabels()
		if l["app.kubernetes.io/name"] != "ytx" || l["app.kubernetes.io/instance"] != r.c.release || l["app.kubernetes.io/managed-by"] != "Helm" {
			t.Errorf("%s %s: labels %v lack name, instance or managed-by", o.GetKind(), o.GetName(), l)
		}
		switch o.GetKind() {
		case "ClusterRole", "ClusterRoleBinding":
		case "Role", "RoleBinding":
			if o.GetNamespace() == "" {
				t.Errorf("%s %s: no namespace", o.GetKind(), o.GetName())
			}
		default:
			if o.GetNamespace() != r.c.namespace {
				t.Errorf("%s %s: namespace %q, want the release's %q", o.GetKind(), o.GetName(), o.GetNamespace(), r.c.namespace)
			}
		}
	}

	for _, sa := range r.ofKind("ServiceAccount") {
		if v, _, _ := unstructured.NestedBool(sa.Object, "automountServiceAccountToken"); !v {
			t.Errorf("ServiceAccount %s: automountServiceAccountToken is not true", sa.GetName())
		}
	}

	for _, component := range []string{"controller", "worker"} {
		d := r.deployment(t, component)
		p := podsOf(d)
		pod := d.Spec.Template.Spec
		c := container(t, d)
		if pod.ServiceAccountName != r.name("-"+component) {
			t.Errorf("%s: serviceAccountName %q", d.Name, pod.ServiceAccountName)
		}
		r.get(t, "ServiceAccount", pod.ServiceAccountName)
		checkSelects(t, "Deployment "+d.Name+"'s selector", labelSelector(t, d.Spec.Selector), p, r.allPods(t))
		// The controller's image has no ffmpeg, yt-dlp or deno; the workers' has.
		if want := map[string]string{"controller": "ghcr.io/ytx-dev/ytx-manager:0.1.0", "worker": "ghcr.io/ytx-dev/ytx-worker:0.1.0"}[component]; c.Image != want {
			t.Errorf("%s: image %q, want %q", d.Name, c.Image, want)
		}
		checkPodSecurity(t, p)

		// Ports and probes.
		ports := map[string]int32{}
		for _, p := range c.Ports {
			ports[p.Name] = p.ContainerPort
		}
		if ports["metrics"] != 8080 || ports["health"] != 8081 {
			t.Errorf("%s: ports %v, want metrics 8080 and health 8081", d.Name, ports)
		}
		for probe, path := range map[*corev1.Probe]string{c.LivenessProbe: "/healthz", c.ReadinessProbe: "/readyz"} {
			if probe == nil || probe.HTTPGet == nil || probe.HTTPGet.Path != path || probe.HTTPGet.Port.String() != "health" {
				t.Errorf("%s: no %s probe on port health", d.Name, path)
			}
		}

		// Environment.
		for env, field := range map[string]string{"POD_NAME": "metadata.name", "POD_NAMESPACE": "metadata.namespace"} {
			e := envVar(c, env)
			if e == nil || e.ValueFrom == nil || e.ValueFrom.FieldRef == nil || e.ValueFrom.FieldRef.FieldPath != field {
				t.Errorf("%s: %s is not from %s", d.Name, env, field)
			}
		}

		// Arguments: the subcommand, then known flags, one string each.
		command := map[string]string{"controller": "manager", "worker": "worker"}[component]
		if c.Name != map[string]string{"controller": "manager", "worker": "worker"}[component] {
			t.Errorf("%s: container %q", d.Name, c.Name)
		}
		if len(c.Args) == 0 || c.Args[0] != command {
			t.Fatalf("%s: args %q do not start with %q", d.Name, c.Args, command)
		}
		f := flags(t, c)
		known := knownFlags(t, command)
		for name := range f {
			if _, ok := known[name]; !ok {
				t.Errorf("%s: `ytx %s` has no flag --%s", d.Name, command, name)
			}
		}
		wantFlag(t, f, "metrics-bind-address", ":8080")
		wantFlag(t, f, "health-probe-bind-address", ":8081")

		// /tmp is writable (the root file system is not).
		if v := mountAt(p, c, "/tmp"); v == nil || v.EmptyDir == nil {
			t.Errorf("%s: no emptyDir at /tmp", d.Name)
		}

		// Transport http: nothing of Kafka (checkNoKafka); kafka: Kafka
		// files come from Secrets mounted where the flags say.
		http := f["transport"] == "http"
		if http {
			checkNoKafka(t, d, c, f)
		} else if v, ok := f["transport"]; ok && v != "kafka" {
			t.Errorf("%s: --transport=%s", d.Name, v)
		} else {
			checkNoJobToken(t, p, c, f)
		}
		if ca, ok := f["kafka-tls-ca"]; ok {
			if ca != "/etc/ytx/kafka-ca/ca.crt" {
				t.Errorf("%s: --kafka-tls-ca=%s", d.Name, ca)
			}
			checkSecretFile(t, p, c, "/etc/ytx/kafka-ca", "ca.crt")
		}
		if pw, ok := f["kafka-password-file"]; ok {
			if pw != "/etc/ytx/kafka-user/password" {
				t.Errorf("%s: --kafka-password-file=%s", d.Name, pw)
			}
			checkSecretFile(t, p, c, "/etc/ytx/kafka-user", "password")
			if f["kafka-sasl-mechanism"] == "" || f["kafka-username"] == "" {
				t.Errorf("%s: a password file without a SASL mechanism and user", d.Name)
			}
		}
		if !http && (f["kafka-brokers"] == "" || f["kafka-topic"] == "") {
			t.Errorf("%s: no --kafka-brokers or --kafka-topic", d.Name)
		}

		// Storage: a file URL needs the claim mounted there.
		if strings.HasPrefix(f["storage"], "file://") {
			dir := strings.TrimPrefix(f["storage"], "file://")
			v := mountAt(p, c, dir)
			if v == nil || v.PersistentVolumeClaim == nil {
				t.Errorf("%s: --storage=%s but no claim mounted there", d.Name, f["storage"])
			} else {
				r.get(t, "PersistentVolumeClaim", v.PersistentVolumeClaim.ClaimName)
			}
		}

		switch component {
		case "controller":
			wantFlag(t, f, "leader-elect", "true")
			wantFlag(t, f, "leader-election-namespace", r.c.namespace)
		case "worker":
			if _, ok := f["name"]; ok {
				t.Errorf("%s: --name is set; the worker takes $POD_NAME", d.Name)
			}
			if v := mountAt(p, c, "/scratch"); v == nil || v.EmptyDir == nil || v.EmptyDir.SizeLimit == nil {
				t.Errorf("%s: no emptyDir with a sizeLimit at /scratch", d.Name)
			}
			wantFlag(t, f, "scratch-dir", "/scratch")
			grace, err := time.ParseDuration(f["shutdown-grace"])
			if err != nil {
				t.Errorf("%s: --shutdown-grace: %v", d.Name, err)
			}
			if tg := pod.TerminationGracePeriodSeconds; tg == nil || time.Duration(*tg)*time.Second <= grace {
				t.Errorf("%s: terminationGracePeriodSeconds %v is not above --shutdown-grace %s", d.Name, tg, grace)
			}
			needed := []string{"concurrency", "max-artifact-bytes", "mp3-bitrate"}
			if !http {
				needed = append(needed, "kafka-group", "kafka-dead-letter-topic", "kafka-listing-topic", "kafka-listing-group", "listing-concurrency")
			}
			for _, name := range needed {
				if f[name] == "" {
					t.Errorf("%s: no --%s", d.Name, name)
				}
			}
		}
	}

	// Every ServiceAccount is bound to its component's rules.
	for _, component := range []string{"controller", "worker"} {
		sa := r.name("-" + component)
		bound := false
		for _, kind := range []string{"ClusterRoleBinding", "RoleBinding"} {
			for _, b := range r.ofKind(kind) {
				subjects, _, _ := unstructured.NestedSlice(b.Object, "subjects")
				for _, s := range subjects {
					s := s.(map[string]any)
					if s["kind"] == "ServiceAccount" && s["name"] == sa && s["namespace"] == r.c.namespace && !strings.HasSuffix(b.GetName(), "leader-election") {
						bound = true
					}
				}
			}
		}
		if !bound {
			t.Errorf("ServiceAccount %s is bound to no rules", sa)
		}
	}

	// How the workers read YouTube, and the doctor when it is rendered.
	checkYouTubeCommon(t, r)

	// The trial S3 server, when rendered, and where its pods' files go.
	checkStorageCommon(t, r)
}

// checkSecretFile checks that dir is a read-only mount of a Secret volume
// that puts some key at file.
func checkSecretFile(t *testing.T, p *pods, c corev1.Container, dir, file string) {
	t.Helper()
	for _, m := range c.VolumeMounts {
		if m.MountPath != dir {
			continue
		}
		if !m.ReadOnly {
			t.Errorf("%s: %s is not read-only", p, dir)
		}
		v := volume(p, m.Name)
		if v == nil || v.Secret == nil {
			t.Fatalf("%s: %s is not a Secret", p, dir)
		}
		for _, it := range v.Secret.Items {
			if it.Path == file {
				return
			}
		}
		t.Errorf("%s: Secret %s puts nothing at %s/%s", p, v.Secret.SecretName, dir, file)
		return
	}
	t.Errorf("%s: nothing mounted at %s", p, dir)
}

func secretVolume(t *testing.T, p *pods, c corev1.Container, dir string) (name, key string) {
	t.Helper()
	v := mountAt(p, c, dir)
	if v == nil || v.Secret == nil || len(v.Secret.Items) != 1 {
		t.Fatalf("%s: no one-key Secret at %s", p, dir)
	}
	return v.Secret.SecretName, v.Secret.Items[0].Key
}

// checkPodSecurity: the pods run as user 65532 with the runtime's seccomp
// profile, and each container without privilege escalation or any
// capability, on a read-only root file system, with a memory request and
// limit.
func checkPodSecurity(t *testing.T, p *pods) {
	t.Helper()
	pod := p.template.Spec
	psc := pod.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.RunAsUser == nil || *psc.RunAsUser != 65532 ||
		psc.RunAsGroup == nil || *psc.RunAsGroup != 65532 || psc.FSGroup == nil || *psc.FSGroup != 65532 ||
		psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("%s: pod securityContext %+v", p, psc)
	}
	for _, ct := range append(slices.Clone(pod.InitContainers), pod.Containers...) {
		sc := ct.SecurityContext
		if sc == nil || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
			sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
			sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(sc.Capabilities.Add) > 0 {
			t.Errorf("%s/%s: container securityContext %+v", p, ct.Name, sc)
		}
		if ct.Resources.Requests.Memory().IsZero() || ct.Resources.Limits.Memory().IsZero() {
			t.Errorf("%s/%s: no memory request and limit", p, ct.Name)
		}
	}
}

func checkDefaults(t *testing.T, r *rendered) {
	ns := r.c.namespace
	ctrl, work := r.deployment(t, "controller"), r.deployment(t, "worker")
	cc, wc := container(t, ctrl), container(t, work)
	if *ctrl.Spec.Replicas != 1 || *work.Spec.Replicas != 2 {
		t.Errorf("replicas %d and %d, want 1 and 2", *ctrl.Spec.Replicas, *work.Spec.Replicas)
	}
	if tg := *work.Spec.Template.Spec.TerminationGracePeriodSeconds; tg != 40 {
		t.Errorf("worker terminationGracePeriodSeconds %d, want 40", tg)
	}
	cf, wf := flags(t, cc), flags(t, wc)
	for component, f := range map[string]map[string]string{"controller": cf, "worker": wf} {
		wantFlag(t, f, "kafka-brokers", "demo-ytx-kafka-kafka-bootstrap."+ns+".svc:9093")
		wantFlag(t, f, "kafka-tls-ca", "/etc/ytx/kafka-ca/ca.crt")
		wantFlag(t, f, "kafka-sasl-mechanism", "SCRAM-SHA-512")
		wantFlag(t, f, "kafka-username", "demo-ytx-"+component)
		wantFlag(t, f, "kafka-password-file", "/etc/ytx/kafka-user/password")
		wantFlag(t, f, "kafka-topic", "ytx.extractions")
		wantFlag(t, f, "kafka-listing-topic", "ytx.listings")
		wantFlag(t, f, "storage", "s3://ytx?endpoint=demo-ytx-s3."+ns+".svc:7070&region=us-east-1&insecure=true")
	}
	// Both read the workers' group: the controller to find lost jobs.
	wantFlag(t, wf, "kafka-group", "ytx-workers")
	wantFlag(t, cf, "kafka-group", "ytx-workers")
	wantFlag(t, cf, "kafka-lag-interval", "30s")
	wantFlag(t, cf, "kafka-stuck-after", "10m")
	wantFlag(t, wf, "kafka-dead-letter-topic", "ytx.extractions.dlq")
	wantFlag(t, wf, "kafka-listing-group", "ytx-workers.listings")
	wantFlag(t, wf, "concurrency", "4")
	wantFlag(t, wf, "listing-concurrency", "2")
	wantFlag(t, wf, "max-artifact-bytes", "8Gi")
	wantFlag(t, wf, "mp3-bitrate", "192k")
	wantFlag(t, wf, "shutdown-grace", "25s")
	checkYouTubeDefaults(t, r)
	if _, ok := cf["namespaces"]; ok {
		t.Error("--namespaces set in cluster mode")
	}
	for d, c := range map[*appsv1.Deployment]corev1.Container{ctrl: cc, work: wc} {
		p := podsOf(d)
		if s, k := secretVolume(t, p, c, "/etc/ytx/kafka-ca"); s != "demo-ytx-kafka-cluster-ca-cert" || k != "ca.crt" {
			t.Errorf("%s: CA from %s/%s", d.Name, s, k)
		}
		if s, k := secretVolume(t, p, c, "/etc/ytx/kafka-user"); s != d.Name || k != "password" {
			t.Errorf("%s: password from %s/%s, want the KafkaUser's Secret %s/password", d.Name, s, k, d.Name)
		}
	}
	if v := mountAt(podsOf(work), wc, "/scratch"); v.EmptyDir.SizeLimit.String() != "20Gi" {
		t.Errorf("scratch sizeLimit %s, want 20Gi", v.EmptyDir.SizeLimit)
	}

	// Storage: the trial S3 server, and no ReadWriteMany claim, which
	// kind's, minikube's, k3s's and most clouds' default classes lack.
	checkTrialS3(t, r, trialS3Want{bucket: "ytx", secret: "demo-ytx-s3", accessKey: "AWS_ACCESS_KEY_ID", secretKey: "AWS_SECRET_ACCESS_KEY", madeSecret: true, claim: true})
	checkNoReadWriteMany(t, r)

	// Strimzi.
	k := r.get(t, "Kafka", "demo-ytx-kafka")
	if k.GetAPIVersion() != "kafka.strimzi.io/v1" {
		t.Errorf("Kafka apiVersion %s", k.GetAPIVersion())
	}
	listeners := nested(t, k, "spec", "kafka", "listeners").([]any)
	want := map[string]any{"name": "tls", "port": int64(9093), "type": "internal", "tls": true, "authentication": map[string]any{"type": "scram-sha-512"}}
	if len(listeners) != 1 || fmt.Sprint(listeners[0]) != fmt.Sprint(want) {
		t.Errorf("Kafka listeners %v, want [%v]", listeners, want)
	}
	if a := nested(t, k, "spec", "kafka", "authorization", "type"); a != "simple" {
		t.Errorf("Kafka authorization %v", a)
	}
	nested(t, k, "spec", "entityOperator", "topicOperator")
	nested(t, k, "spec", "entityOperator", "userOperator")

	// The pool is named after the full name: short, and unique in the
	// namespace (see TestStrimziPodNamesFit).
	pool := r.get(t, "KafkaNodePool", "demo-ytx")
	if pool.GetLabels()["strimzi.io/cluster"] != "demo-ytx-kafka" {
		t.Errorf("KafkaNodePool labels %v", pool.GetLabels())
	}
	if fmt.Sprint(nested(t, pool, "spec", "roles")) != "[controller broker]" || nested(t, pool, "spec", "replicas") != int64(1) {
		t.Errorf("KafkaNodePool spec %v", pool.Object["spec"])
	}
	if s := nested(t, pool, "spec", "storage").(map[string]any); s["type"] != "persistent-claim" || s["size"] != "10Gi" {
		t.Errorf("KafkaNodePool storage %v", s)
	}
	for name, want := range map[string]string{"demo-ytx-jobs": "ytx.extractions 12 1", "demo-ytx-listings": "ytx.listings 4 1", "demo-ytx-dead-letters": "ytx.extractions.dlq 1 1"} {
		tp := r.get(t, "KafkaTopic", name)
		got := fmt.Sprint(nested(t, tp, "spec", "topicName"), " ", nested(t, tp, "spec", "partitions"), " ", nested(t, tp, "spec", "replicas"))
		if got != want || tp.GetLabels()["strimzi.io/cluster"] != "demo-ytx-kafka" {
			t.Errorf("KafkaTopic %s: %s (labels %v), want %s", name, got, tp.GetLabels(), want)
		}
	}
	for name, want := range map[string][]string{
		// Describe on the workers' group: the controller reads its
		// committed offsets and members to find lost jobs.
		"demo-ytx-controller": {
			"group ytx-workers literal [Describe]",
			"topic ytx.extractions literal [Describe Write]",
			"topic ytx.listings literal [Describe Write]",
		},
		"demo-ytx-worker": {
			"group ytx-workers literal [Read]",
			"group ytx-workers.listings literal [Read]",
			"topic ytx.extractions literal [Describe Read]",
			"topic ytx.extractions.dlq literal [Describe Write]",
			"topic ytx.listings literal [Describe Read]",
		},
	} {
		u := r.get(t, "KafkaUser", name)
		if nested(t, u, "spec", "authentication", "type") != "scram-sha-512" || nested(t, u, "spec", "authorization", "type") != "simple" {
			t.Errorf("KafkaUser %s: spec %v", name, u.Object["spec"])
		}
		if u.GetLabels()["strimzi.io/cluster"] != "demo-ytx-kafka" {
			t.Errorf("KafkaUser %s: labels %v", name, u.GetLabels())
		}
		if got := acls(t, u); !slices.Equal(got, want) {
			t.Errorf("KafkaUser %s: ACLs\n got %q\nwant %q", name, got, want)
		}
	}

	// RBAC: cluster-wide roles; leases, and the core/v1 Events leader
	// election records, only in the release's namespace.
	le := r.get(t, "Role", "demo-ytx-controller-leader-election", ns)
	rules := nested(t, le, "rules").([]any)
	if len(rules) != 2 || fmt.Sprint(rules[0].(map[string]any)["resources"]) != "[leases]" ||
		fmt.Sprint(rules[0].(map[string]any)["verbs"]) != "[get list watch create update patch delete]" ||
		fmt.Sprint(rules[1]) != "map[apiGroups:[] resources:[events] verbs:[create patch]]" {
		t.Errorf("leader-election rules %v", rules)
	}
}

// acls lists a KafkaUser's ACLs as "type name pattern [operations]", sorted.
func acls(t *testing.T, u *unstructured.Unstructured) []string {
	var out []string
	for _, a := range nested(t, u, "spec", "authorization", "acls").([]any) {
		a := a.(map[string]any)
		res := a["resource"].(map[string]any)
		var ops []string
		for _, op := range a["operations"].([]any) {
			ops = append(ops, op.(string))
		}
		sort.Strings(ops)
		out = append(out, fmt.Sprintf("%s %s %s %v", res["type"], res["name"], res["patternType"], ops))
	}
	sort.Strings(out)
	return out
}

func checkExternal(t *testing.T, r *rendered) {
	for _, o := range r.objs {
		if strings.HasSuffix(o.GroupVersionKind().Group, "strimzi.io") {
			t.Errorf("external Kafka renders %s %s", o.GetKind(), o.GetName())
		}
	}
	for _, component := range []string{"controller", "worker"} {
		d := r.deployment(t, component)
		c := container(t, d)
		f := flags(t, c)
		wantFlag(t, f, "kafka-brokers", "kafka-0.kafka.example:9093,kafka-1.kafka.example:9093")
		wantFlag(t, f, "kafka-tls-ca", "/etc/ytx/kafka-ca/ca.crt")
		wantFlag(t, f, "kafka-sasl-mechanism", "SCRAM-SHA-512")
		wantFlag(t, f, "kafka-username", "ytx")
		wantFlag(t, f, "kafka-password-file", "/etc/ytx/kafka-user/password")
		if s, k := secretVolume(t, podsOf(d), c, "/etc/ytx/kafka-ca"); s != "kafka-ca" || k != "tls-ca.pem" {
			t.Errorf("%s: CA from %s/%s, want kafka-ca/tls-ca.pem", d.Name, s, k)
		}
		if s, k := secretVolume(t, podsOf(d), c, "/etc/ytx/kafka-user"); s != "kafka-ytx" || k != "pw" {
			t.Errorf("%s: password from %s/%s, want kafka-ytx/pw", d.Name, s, k)
		}
	}
}

func checkS3(t *testing.T, r *rendered) {
	if n := len(r.ofKind("PersistentVolumeClaim")); n != 0 {
		t.Errorf("%d PVCs with S3 storage", n)
	}
	for _, component := range []string{"controller", "worker"} {
		d := r.deployment(t, component)
		c := container(t, d)
		wantFlag(t, flags(t, c), "storage", "s3://media/ytx?endpoint=minio.storage:9000&region=eu-west-1&insecure=true")
		for env, key := range map[string]string{"AWS_ACCESS_KEY_ID": "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY": "AWS_SECRET_ACCESS_KEY"} {
			e := envVar(c, env)
			if e == nil || e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil || e.ValueFrom.SecretKeyRef.Name != "s3-creds" || e.ValueFrom.SecretKeyRef.Key != key {
				t.Errorf("%s: %s is not from Secret s3-creds key %s", d.Name, env, key)
			}
		}
		if mountAt(podsOf(d), c, "/var/lib/ytx") != nil {
			t.Errorf("%s: a volume at /var/lib/ytx with S3 storage", d.Name)
		}
	}
}

func checkOptional(t *testing.T, r *rendered) {
	work := r.deployment(t, "worker")
	wc := container(t, work)
	wf := flags(t, wc)
	if work.Spec.Replicas != nil {
		t.Errorf("worker replicas %d set while KEDA scales it", *work.Spec.Replicas)
	}

	so := r.get(t, "ScaledObject", "ytx-opt-worker")
	if nested(t, so, "spec", "scaleTargetRef", "name") != work.Name || nested(t, so, "spec", "scaleTargetRef", "kind") != "Deployment" {
		t.Errorf("ScaledObject target %v", nested(t, so, "spec", "scaleTargetRef"))
	}
	if nested(t, so, "spec", "minReplicaCount") != int64(1) || nested(t, so, "spec", "maxReplicaCount") != int64(12) {
		t.Errorf("ScaledObject replicas %v..%v", nested(t, so, "spec", "minReplicaCount"), nested(t, so, "spec", "maxReplicaCount"))
	}
	// One trigger per topic the workers read in a group: without the
	// listing topic's, workers scaled to zero would never read a playlist.
	triggers := nested(t, so, "spec", "triggers").([]any)
	want := [][2]string{{wf["kafka-topic"], wf["kafka-group"]}, {wf["kafka-listing-topic"], wf["kafka-listing-group"]}}
	if len(triggers) != len(want) {
		t.Fatalf("ScaledObject triggers %v, want one for each of %v", triggers, want)
	}
	var ta *unstructured.Unstructured
	for i, w := range want {
		tr := triggers[i].(map[string]any)
		md := tr["metadata"].(map[string]any)
		if tr["type"] != "kafka" || md["bootstrapServers"] != wf["kafka-brokers"] || md["topic"] != w[0] || md["consumerGroup"] != w[1] ||
			md["lagThreshold"] != "20" || md["sasl"] != "scram_sha512" || md["tls"] != "enable" || w[0] == "" || w[1] == "" {
			t.Errorf("kafka trigger %v does not match the worker's flags %v (topic %q, group %q)", tr, wf, w[0], w[1])
		}
		ta = r.get(t, "TriggerAuthentication", tr["authenticationRef"].(map[string]any)["name"].(string))
	}
	refs := map[string]string{}
	for _, s := range nested(t, ta, "spec", "secretTargetRef").([]any) {
		s := s.(map[string]any)
		refs[s["parameter"].(string)] = s["name"].(string) + "/" + s["key"].(string)
	}
	caS, caK := secretVolume(t, podsOf(work), wc, "/etc/ytx/kafka-ca")
	pwS, pwK := secretVolume(t, podsOf(work), wc, "/etc/ytx/kafka-user")
	if refs["ca"] != caS+"/"+caK || refs["password"] != pwS+"/"+pwK {
		t.Errorf("TriggerAuthentication secrets %v, want the worker's ca %s/%s and password %s/%s", refs, caS, caK, pwS, pwK)
	}
	env := nested(t, ta, "spec", "env").([]any)
	if len(env) != 1 || env[0].(map[string]any)["parameter"] != "username" {
		t.Fatalf("TriggerAuthentication env %v", env)
	}
	e := envVar(wc, env[0].(map[string]any)["name"].(string))
	if e == nil || e.Value != wf["kafka-username"] {
		t.Errorf("KEDA's user name from %v, want %q", e, wf["kafka-username"])
	}

	checkServiceMonitors(t, r)
	checkNetworkPolicies(t, r, "ytx-opt-kafka", []string{"10.0.0.1/32"})
}

// checkServiceMonitors: each ServiceMonitor selects exactly one Service, its
// Deployment's metrics Service.
func checkServiceMonitors(t *testing.T, r *rendered) {
	t.Helper()
	for _, component := range []string{"controller", "worker"} {
		d := r.deployment(t, component)
		sm := r.get(t, "ServiceMonitor", r.name("-"+component))
		if sm.GetLabels()["release"] != "prometheus" {
			t.Errorf("ServiceMonitor %s: labels %v", sm.GetName(), sm.GetLabels())
		}
		sel := nested(t, sm, "spec", "selector", "matchLabels").(map[string]any)
		var svc *corev1.Service
		for _, s := range r.ofKind("Service") {
			if matches(sel, s.GetLabels()) {
				if svc != nil {
					t.Errorf("ServiceMonitor %s selects two Services", sm.GetName())
				}
				svc = &corev1.Service{}
				fromUnstructured(t, s, svc)
			}
		}
		if svc == nil {
			t.Fatalf("ServiceMonitor %s selects no Service", sm.GetName())
		}
		checkSelects(t, "Service "+svc.Name+"'s selector", labels.SelectorFromSet(svc.Spec.Selector), podsOf(d), r.allPods(t))
		if len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Name != "metrics" || svc.Spec.Ports[0].TargetPort.String() != "metrics" {
			t.Errorf("Service %s ports %v", svc.Name, svc.Spec.Ports)
		}
		endpoints := nested(t, sm, "spec", "endpoints").([]any)
		if len(endpoints) != 1 || endpoints[0].(map[string]any)["port"] != "metrics" {
			t.Errorf("ServiceMonitor %s endpoints %v", sm.GetName(), endpoints)
		}
	}
}

// labelSelector reads a rendered metav1.LabelSelector; nil selects
// nothing, and checkSelects refuses it.
func labelSelector(t *testing.T, s *metav1.LabelSelector) labels.Selector {
	t.Helper()
	if s == nil {
		return labels.Nothing()
	}
	sel, err := metav1.LabelSelectorAsSelector(s)
	if err != nil {
		t.Errorf("selector %v: %v", s, err)
		return labels.Nothing()
	}
	return sel
}

// errorf is the part of *testing.T that checkSelects reports through (so
// that its own test can watch it fail).
type errorf interface {
	Helper()
	Errorf(format string, args ...any)
}

// checkSelects checks a selector that must pick the pods of p and of no
// other pod template of all (the Deployments', the doctor CronJob's): it
// selects something (an empty selector selects every pod of the namespace,
// Kafka's brokers and anyone else's included), it matches p's pod
// template, and no other's.
func checkSelects(t errorf, what string, sel labels.Selector, p *pods, all []*pods) {
	t.Helper()
	if sel == nil || sel.Empty() {
		t.Errorf("%s is empty: it selects every pod in the namespace, not %s's", what, p)
		return
	}
	if reqs, ok := sel.Requirements(); !ok || len(reqs) == 0 {
		t.Errorf("%s (%s) selects nothing, not %s's pods", what, sel, p)
		return
	}
	if !sel.Matches(labels.Set(p.template.Labels)) {
		t.Errorf("%s (%s) does not select %s's pods %v", what, sel, p, p.template.Labels)
	}
	if len(all) < 2 {
		t.Errorf("checkSelects: %d pod templates to tell %s's from", len(all), p)
	}
	for _, o := range all {
		if (o.kind != p.kind || o.name != p.name) && sel.Matches(labels.Set(o.template.Labels)) {
			t.Errorf("%s (%s) selects %s's pods too", what, sel, o)
		}
	}
}

func matches(selector map[string]any, labels map[string]string) bool {
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return len(selector) > 0
}

// checkNetworkPolicies checks the policies of both components (transport
// kafka): in, only the metrics and health ports; out, only DNS, the API
// server, the Strimzi brokers, S3 (the trial server's pods, or S3 on 443
// for both), and (worker) HTTPS; and the trial server's own policy.
func checkNetworkPolicies(t *testing.T, r *rendered, kafkaCluster string, apiCIDRs []string) {
	t.Helper()
	common := []string{
		"[namespaces map[kubernetes.io/metadata.name:kube-system]] [53/UDP 53/TCP]",
		fmt.Sprintf("%v [443/TCP 6443/TCP]", apiCIDRs),
		fmt.Sprintf("[pods map[strimzi.io/cluster:%s]] [9093/TCP]", kafkaCluster),
	}
	in := []string{"[] [metrics/TCP health/TCP]"}
	if r.trialServer(t) != nil {
		common = append(common, trialS3Egress(r))
		checkNetworkPolicy(t, r, "controller", in, common)
		checkNetworkPolicy(t, r, "worker", in, append(slices.Clone(common), "[0.0.0.0/0] [443/TCP]"))
		checkTrialS3NetworkPolicy(t, r)
		return
	}
	// S3 on AWS (443), behind httpsCIDRs.
	checkNetworkPolicy(t, r, "controller", in, append(slices.Clone(common), "[0.0.0.0/0] [443/TCP]"))
	checkNetworkPolicy(t, r, "worker", in, append(slices.Clone(common), "[0.0.0.0/0] [443/TCP]"))
}

// checkNetworkPolicy checks that the component's NetworkPolicy selects its
// pods, restricts both directions, and has exactly the rules wantIn and
// wantOut, each described as "[peers] [ports]" (policyRules).
func checkNetworkPolicy(t *testing.T, r *rendered, component string, wantIn, wantOut []string) {
	t.Helper()
	p := r.podsFor(t, component)
	u := r.get(t, "NetworkPolicy", r.name("-"+component))
	np := &networkingv1.NetworkPolicy{}
	fromUnstructured(t, u, np)
	checkSelects(t, "NetworkPolicy "+np.Name+"'s podSelector", labelSelector(t, &np.Spec.PodSelector), p, r.allPods(t))
	if fmt.Sprint(np.Spec.PolicyTypes) != "[Ingress Egress]" {
		t.Errorf("NetworkPolicy %s policyTypes %v", u.GetName(), np.Spec.PolicyTypes)
	}
	in, out := policyRules(t, r, np)
	if !slices.Equal(in, wantIn) {
		t.Errorf("NetworkPolicy %s ingress\n got %q\nwant %q", u.GetName(), in, wantIn)
	}
	if !slices.Equal(out, wantOut) {
		t.Errorf("NetworkPolicy %s egress\n got %q\nwant %q", u.GetName(), out, wantOut)
	}
}

// policyRules describes each rule of a NetworkPolicy as "[peers] [ports]":
// a CIDR, "pods of <name>" for a pod selector that selects exactly the pods
// of that Deployment or CronJob (else "pods <labels>"), "namespaces
// <labels>"; ports as "port/protocol".
func policyRules(t *testing.T, r *rendered, np *networkingv1.NetworkPolicy) (in, out []string) {
	t.Helper()
	all := r.allPods(t)
	describe := func(peers []networkingv1.NetworkPolicyPeer, ports []networkingv1.NetworkPolicyPort) string {
		var ps, pp []string
		for _, peer := range peers {
			switch {
			case peer.IPBlock != nil:
				ps = append(ps, peer.IPBlock.CIDR)
			case peer.PodSelector != nil:
				var of []string
				for _, p := range all {
					sel := map[string]any{}
					for k, v := range peer.PodSelector.MatchLabels {
						sel[k] = v
					}
					if len(peer.PodSelector.MatchExpressions) == 0 && matches(sel, p.template.Labels) {
						of = append(of, p.name)
					}
				}
				if len(of) == 1 && peer.NamespaceSelector == nil {
					ps = append(ps, "pods of "+of[0])
				} else {
					ps = append(ps, fmt.Sprintf("pods %v", peer.PodSelector.MatchLabels))
				}
			case peer.NamespaceSelector != nil:
				ps = append(ps, fmt.Sprintf("namespaces %v", peer.NamespaceSelector.MatchLabels))
			}
		}
		for _, p := range ports {
			pp = append(pp, fmt.Sprintf("%s/%s", p.Port, *p.Protocol))
		}
		return fmt.Sprintf("%v %v", ps, pp)
	}
	for _, rule := range np.Spec.Ingress {
		in = append(in, describe(rule.From, rule.Ports))
	}
	for _, rule := range np.Spec.Egress {
		out = append(out, describe(rule.To, rule.Ports))
	}
	return in, out
}

func checkNamespaced(t *testing.T, r *rendered) {
	watched := []string{"ytx-watch-a", "ytx-watch-b"}
	f := flags(t, container(t, r.deployment(t, "controller")))
	wantFlag(t, f, "namespaces", strings.Join(watched, ","))
	for _, ns := range watched {
		for _, component := range []string{"controller", "worker"} {
			r.get(t, "Role", r.name("-"+component), ns)
			rb := r.get(t, "RoleBinding", r.name("-"+component), ns)
			if nested(t, rb, "roleRef", "kind") != "Role" || nested(t, rb, "roleRef", "name") != r.name("-"+component) {
				t.Errorf("RoleBinding %s/%s refers to %v", ns, rb.GetName(), rb.Object["roleRef"])
			}
		}
	}
	r.get(t, "Role", r.name("-controller-leader-election"), r.c.namespace)
}

func checkProduction(t *testing.T, r *rendered) {
	ctrl, work := r.deployment(t, "controller"), r.deployment(t, "worker")
	if *ctrl.Spec.Replicas != 2 || *work.Spec.Replicas != 4 {
		t.Errorf("replicas %d and %d, want 2 and 4", *ctrl.Spec.Replicas, *work.Spec.Replicas)
	}
	pool := r.get(t, "KafkaNodePool", "prod-ytx")
	if nested(t, pool, "spec", "replicas") != int64(3) {
		t.Errorf("KafkaNodePool replicas %v, want 3", nested(t, pool, "spec", "replicas"))
	}
	for _, tp := range r.ofKind("KafkaTopic") {
		if nested(t, tp, "spec", "replicas") != int64(3) {
			t.Errorf("KafkaTopic %s replicas %v, want 3", tp.GetName(), nested(t, tp, "spec", "replicas"))
		}
	}
	cfg := nested(t, r.get(t, "Kafka", "prod-ytx-kafka"), "spec", "kafka", "config").(map[string]any)
	if cfg["min.insync.replicas"] != int64(2) || cfg["default.replication.factor"] != int64(3) || cfg["offsets.topic.replication.factor"] != int64(3) {
		t.Errorf("Kafka config %v, want replication 3 and min.insync.replicas 2", cfg)
	}
	checkNetworkPolicies(t, r, "prod-ytx-kafka", nil)
}

var dnsLabel = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)

// applyAll creates the namespaces the objects name and applies every object.
func applyAll(t *testing.T, objs []*unstructured.Unstructured) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	namespaces := map[string]bool{}
	for _, o := range objs {
		if ns := o.GetNamespace(); ns != "" {
			if !dnsLabel.MatchString(ns) {
				t.Fatalf("%s %s: bad namespace %q", o.GetKind(), o.GetName(), ns)
			}
			namespaces[ns] = true
		}
	}
	for ns := range namespaces {
		if err := ensureNamespace(ctx, ns); err != nil {
			t.Fatal(err)
		}
	}
	for _, o := range objs {
		if err := apply(ctx, o); err != nil {
			t.Errorf("applying %s %s/%s: %v", o.GetKind(), o.GetNamespace(), o.GetName(), err)
		}
	}
}
