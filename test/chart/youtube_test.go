package chart_test

import (
	"fmt"
	"path"
	"slices"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/equality"
)

// resolverFlags are the flags of how a worker reads YouTube (resolvers,
// yt-dlp, cookies, proxies, pacing): those `ytx doctor` shares with `ytx
// worker` and `ytx manager` does not have (the manager shares logging and
// the API client's flags). Read from bin/ytx, so that a resolver flag added
// to both programs is compared between the worker and the doctor too.
func resolverFlags(t *testing.T) map[string]bool {
	t.Helper()
	doctor, worker, manager := knownFlags(t, "doctor"), knownFlags(t, "worker"), knownFlags(t, "manager")
	out := map[string]bool{}
	for name := range doctor {
		_, w := worker[name]
		_, m := manager[name]
		if w && !m {
			out[name] = true
		}
	}
	for _, must := range []string{"resolvers", "kkdai-client", "ytdlp-timeout", "ytdlp-max-procs", "ytdlp-extractor-args",
		"cookies-file", "proxy", "proxy-file", "youtube-cooldown", "youtube-min-interval"} {
		if !out[must] {
			t.Fatalf("--%s is not a flag of both `ytx worker` and `ytx doctor` (and not of `ytx manager`); resolver flags read: %v", must, mapKeys(out))
		}
	}
	return out
}

// resolverArgs are a container's resolver flags, in the order the chart
// passes each one's values, sorted by name.
func resolverArgs(t *testing.T, c corev1.Container) []flagArg {
	t.Helper()
	names := resolverFlags(t)
	fl, _ := parseArgs(c)
	var out []flagArg
	for _, f := range fl {
		if names[f.name] {
			out = append(out, f)
		}
	}
	slices.SortStableFunc(out, func(a, b flagArg) int { return strings.Compare(a.name, b.name) })
	return out
}

func ptrString[V any](p *V) string {
	if p == nil {
		return "unset"
	}
	return fmt.Sprint(*p)
}

func mapKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// checkYouTubeCommon holds for every case: the controller's rate-limited
// backoff flags are durations that fit together; the worker always gets
// the resolver flags whose defaults the values hold; every file a flag
// names is in a Secret mounted read-only there, and no Secret is mounted
// that no flag names (no --cookies-file or --proxy-file without their
// Secret, nor the other way round). Where the doctor is rendered,
// checkDoctor.
func checkYouTubeCommon(t *testing.T, r *rendered) {
	t.Helper()
	cf := flags(t, container(t, r.deployment(t, "controller")))
	durations := map[string]time.Duration{}
	for _, name := range []string{"rate-limited-backoff", "rate-limited-backoff-max", "rate-limited-timeout"} {
		v, ok := cf[name]
		if !ok {
			t.Errorf("controller: no --%s", name)
			continue
		}
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			t.Errorf("controller: --%s=%s is not a positive duration (%v)", name, v, err)
		}
		durations[name] = d
	}
	if durations["rate-limited-backoff"] > durations["rate-limited-backoff-max"] {
		t.Errorf("controller: --rate-limited-backoff %s above --rate-limited-backoff-max %s", durations["rate-limited-backoff"], durations["rate-limited-backoff-max"])
	}

	for _, component := range []string{"controller", "worker"} {
		d := r.deployment(t, component)
		c := container(t, d)
		checkSecretFiles(t, podsOf(d), c, flags(t, c))
	}
	wf := flags(t, container(t, r.deployment(t, "worker")))
	for _, name := range []string{"ytdlp-timeout", "ytdlp-max-procs", "youtube-cooldown", "youtube-min-interval"} {
		if _, ok := wf[name]; !ok {
			t.Errorf("worker: no --%s", name)
		}
	}
	if r.cronJob(t) != nil {
		checkDoctor(t, r)
	}
}

// checkSecretFiles: every flag that names a file to read (--*-file,
// --*-ca) names one that a Secret mounted read-only puts there, and every
// Secret mounted is in the directory of such a file.
func checkSecretFiles(t *testing.T, p *pods, c corev1.Container, f map[string]string) {
	t.Helper()
	dirs := map[string]bool{}
	for name, v := range f {
		if !strings.HasSuffix(name, "-file") && !strings.HasSuffix(name, "-ca") {
			continue
		}
		dir, file := path.Split(v)
		dir = strings.TrimSuffix(dir, "/")
		checkSecretFile(t, p, c, dir, file)
		dirs[dir] = true
	}
	for _, m := range c.VolumeMounts {
		if v := volume(p, m.Name); v != nil && v.Secret != nil && !dirs[m.MountPath] {
			t.Errorf("%s: Secret %s is mounted at %s, where no flag of %s names a file", p, v.Secret.SecretName, m.MountPath, c.Name)
		}
	}
}

// The variables the chart sets on the worker itself; every other one (its
// extraEnv: HTTPS_PROXY, NO_PROXY, ...) the doctor must have too.
var chartEnv = map[string]bool{
	"POD_NAME": true, "POD_NAMESPACE": true, "AWS_ACCESS_KEY_ID": true, "AWS_SECRET_ACCESS_KEY": true, "YTX_KAFKA_USERNAME": true,
}

// checkDoctor holds wherever the doctor is rendered: a CronJob that runs
// `ytx doctor` with the workers' image, exactly their resolver flags, the
// same Secrets mounted read-only the same way, their environment and their
// nodes, plus --report-configmap=FN-doctor and their --log-level and
// nothing else; one run at a time (concurrencyPolicy Forbid) and no retry
// (backoffLimit 0, restartPolicy Never: a failed run is the report); under
// a ServiceAccount of its own, bound by one RoleBinding to a Role that
// grants exactly what writing the report takes: create ConfigMaps, get and
// update FN-doctor, create events.k8s.io Events.
func checkDoctor(t *testing.T, r *rendered) {
	t.Helper()
	name := r.name("-doctor")
	cj := r.cronJob(t)
	p := cronJobPods(cj)
	pod := p.template.Spec
	if cj.Spec.ConcurrencyPolicy != batchv1.ForbidConcurrent {
		t.Errorf("CronJob %s: concurrencyPolicy %q, want Forbid", name, cj.Spec.ConcurrencyPolicy)
	}
	if bl := cj.Spec.JobTemplate.Spec.BackoffLimit; bl == nil || *bl != 0 {
		t.Errorf("CronJob %s: backoffLimit %s, want 0", name, ptrString(bl))
	}
	if pod.RestartPolicy != corev1.RestartPolicyNever {
		t.Errorf("CronJob %s: restartPolicy %q, want Never", name, pod.RestartPolicy)
	}
	checkPodSecurity(t, p)

	work := r.deployment(t, "worker")
	wp, wc := podsOf(work), container(t, work)
	c := onlyContainer(t, p)
	if c.Name != "doctor" || c.Image != wc.Image || c.ImagePullPolicy != wc.ImagePullPolicy || len(c.Command) > 0 {
		t.Errorf("CronJob %s: container %s runs %q %v (pull %s), want doctor with the workers' image %q (pull %s)",
			name, c.Name, c.Image, c.Command, c.ImagePullPolicy, wc.Image, wc.ImagePullPolicy)
	}
	if len(c.Args) == 0 || c.Args[0] != "doctor" {
		t.Fatalf("CronJob %s: args %q do not start with doctor", name, c.Args)
	}

	// Flags: each one `ytx doctor` has; the workers' resolver flags, the
	// same values in the same order; then only the report and the log
	// level. At most one other argument: the video.
	fl, other := parseArgs(c)
	known := knownFlags(t, "doctor")
	for _, f := range fl {
		if _, ok := known[f.name]; !ok {
			t.Errorf("CronJob %s: `ytx doctor` has no flag --%s", name, f.name)
		}
	}
	if len(other) > 1 {
		t.Errorf("CronJob %s: arguments %q besides the flags, want at most the video", name, other)
	}
	want := resolverArgs(t, wc)
	if len(want) == 0 {
		t.Fatalf("worker: no resolver flag to compare the doctor's with (args %q)", wc.Args)
	}
	if got := resolverArgs(t, c); !slices.Equal(got, want) {
		t.Errorf("CronJob %s: resolver flags differ from the workers'\n got %v\nwant %v", name, got, want)
	}
	wf := flags(t, wc)
	rest := map[string]string{}
	names := resolverFlags(t)
	for _, f := range fl {
		if !names[f.name] {
			if _, dup := rest[f.name]; dup {
				t.Errorf("CronJob %s: --%s given twice", name, f.name)
			}
			rest[f.name] = f.value
		}
	}
	if wantRest := map[string]string{"report-configmap": name, "log-level": wf["log-level"]}; fmt.Sprint(rest) != fmt.Sprint(wantRest) {
		t.Errorf("CronJob %s: flags besides the resolver flags %v, want %v", name, rest, wantRest)
	}

	// Where the report goes: the pod's namespace, from the downward API.
	if e := envVar(c, "POD_NAMESPACE"); e == nil || e.ValueFrom == nil || e.ValueFrom.FieldRef == nil || e.ValueFrom.FieldRef.FieldPath != "metadata.namespace" {
		t.Errorf("CronJob %s: POD_NAMESPACE (the report's namespace) is not from metadata.namespace", name)
	}
	if _, ok := rest["report-namespace"]; ok {
		t.Errorf("CronJob %s: --report-namespace is set; the report belongs in the release's namespace, the pod's", name)
	}
	// The workers' environment (a proxy to YouTube, NO_PROXY), but none of
	// the chart's own variables of the worker.
	var wantEnv, gotEnv []corev1.EnvVar
	for _, e := range wc.Env {
		if !chartEnv[e.Name] {
			wantEnv = append(wantEnv, e)
		}
	}
	for _, e := range c.Env {
		if e.Name != "POD_NAMESPACE" {
			gotEnv = append(gotEnv, e)
		}
	}
	if !equality.Semantic.DeepEqual(gotEnv, wantEnv) {
		t.Errorf("CronJob %s: environment %v, want the workers' %v", name, gotEnv, wantEnv)
	}

	// Files: the Secrets the resolver flags name, the same Secret and key
	// as the workers', read-only; a writable /tmp; nothing else.
	df := map[string]string{}
	for _, f := range fl {
		df[f.name] = f.value
	}
	checkSecretFiles(t, p, c, df)
	for _, flag := range []string{"cookies-file", "proxy-file"} {
		v, ok := df[flag]
		if !ok {
			continue
		}
		dir := path.Dir(v)
		ds, dk := secretVolume(t, p, c, dir)
		ws, wk := secretVolume(t, wp, wc, dir)
		if ds != ws || dk != wk {
			t.Errorf("CronJob %s: --%s from Secret %s key %s, the workers' from %s key %s", name, flag, ds, dk, ws, wk)
		}
	}
	if v := mountAt(p, c, "/tmp"); v == nil || v.EmptyDir == nil {
		t.Errorf("CronJob %s: no emptyDir at /tmp", name)
	}
	if len(c.VolumeMounts) != len(pod.Volumes) {
		t.Errorf("CronJob %s: %d volumes, %d mounted", name, len(pod.Volumes), len(c.VolumeMounts))
	}

	// Where the workers run: their nodes, and so their way out.
	wpod := wp.template.Spec
	if !equality.Semantic.DeepEqual(pod.NodeSelector, wpod.NodeSelector) || !equality.Semantic.DeepEqual(pod.Tolerations, wpod.Tolerations) ||
		!equality.Semantic.DeepEqual(pod.Affinity, wpod.Affinity) || pod.PriorityClassName != wpod.PriorityClassName {
		t.Errorf("CronJob %s: scheduled by nodeSelector %v, tolerations %v, affinity %v, priority %q; want the workers'",
			name, pod.NodeSelector, pod.Tolerations, pod.Affinity, pod.PriorityClassName)
	}

	checkDoctorRBAC(t, r, pod)
}

// checkDoctorRBAC: the doctor runs as its own ServiceAccount, which one
// RoleBinding in the release's namespace binds to the Role FN-doctor and
// nothing else binds; that Role grants exactly what the report takes and
// is bound to no one else.
func checkDoctorRBAC(t *testing.T, r *rendered, pod corev1.PodSpec) {
	t.Helper()
	name := r.name("-doctor")
	sa := pod.ServiceAccountName
	if sa != name {
		t.Errorf("CronJob %s: serviceAccountName %q, want its own %q", name, sa, name)
	}
	r.get(t, "ServiceAccount", sa)
	if a := pod.AutomountServiceAccountToken; a != nil && !*a {
		t.Errorf("CronJob %s: automountServiceAccountToken false; the doctor writes its report to the API server", name)
	}

	type binding struct {
		kind, name, namespace string
		roleRef               rbacv1.RoleRef
		subjects              []rbacv1.Subject
	}
	var ofSA, toRole []binding
	for _, kind := range []string{"ClusterRoleBinding", "RoleBinding"} {
		for _, u := range r.ofKind(kind) {
			var rb rbacv1.RoleBinding // a ClusterRoleBinding has the same fields
			fromUnstructured(t, u, &rb)
			b := binding{kind, rb.Name, rb.Namespace, rb.RoleRef, rb.Subjects}
			if slices.ContainsFunc(rb.Subjects, func(s rbacv1.Subject) bool {
				return s.Kind == "ServiceAccount" && s.Name == sa && s.Namespace == r.c.namespace
			}) {
				ofSA = append(ofSA, b)
			}
			if rb.RoleRef.Name == name {
				toRole = append(toRole, b)
			}
		}
	}
	if len(ofSA) != 1 {
		t.Fatalf("ServiceAccount %s is bound by %d bindings %v, want one RoleBinding", sa, len(ofSA), ofSA)
	}
	b := ofSA[0]
	if b.kind != "RoleBinding" || b.name != name || b.namespace != r.c.namespace ||
		b.roleRef != (rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: name}) {
		t.Errorf("ServiceAccount %s is bound by %s %s/%s to %+v, want RoleBinding %s/%s to the Role %s", sa, b.kind, b.namespace, b.name, b.roleRef, r.c.namespace, name, name)
	}
	if len(toRole) != 1 || len(toRole[0].subjects) != 1 {
		t.Errorf("bindings to %s: %+v, want one binding of the doctor's ServiceAccount alone", name, toRole)
	}

	got := renderedRules(t, r.get(t, "Role", name, r.c.namespace))
	want := permissions([]rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"create"}},
		{APIGroups: []string{""}, Resources: []string{"configmaps"}, ResourceNames: []string{name}, Verbs: []string{"get", "update"}},
		{APIGroups: []string{"events.k8s.io"}, Resources: []string{"events"}, Verbs: []string{"create"}},
	})
	if !slices.Equal(got, want) {
		t.Errorf("Role %s grants\n %v\nwant exactly\n %v", name, got, want)
	}
}

// checkYouTube is testdata/values-youtube.yaml: the workers get exactly
// the flags the values say, with the Secrets' own keys mounted read-only
// where the flags point; the controller its rate-limited backoff; the
// doctor its schedule, video, resources, the workers' environment and
// node; and each NetworkPolicy selects exactly its pods, the doctor's
// letting nothing in.
func checkYouTube(t *testing.T, r *rendered) {
	work := r.deployment(t, "worker")
	wp, wc := podsOf(work), container(t, work)
	want := []flagArg{
		{"cookies-file", "/etc/ytx/youtube-cookies/cookies.txt"},
		{"kkdai-client", "web_embedded"},
		{"proxy", "http://proxy-a.example:3128,socks5h://proxy-b.example:1080"},
		{"proxy-file", "/etc/ytx/youtube-proxies/proxies"},
		{"resolvers", "yt-dlp,kkdai"},
		{"youtube-cooldown", "10m"},
		{"youtube-min-interval", "2s"},
		{"ytdlp-extractor-args", "youtube:player_client=default,web;po_token=web.gvs+TOKEN"},
		{"ytdlp-extractor-args", "youtubetab:skip=webpage"},
		{"ytdlp-max-procs", "2"},
		{"ytdlp-timeout", "90s"},
	}
	if got := resolverArgs(t, wc); !slices.Equal(got, want) {
		t.Errorf("worker resolver flags\n got %v\nwant %v", got, want)
	}
	for dir, want := range map[string]string{"/etc/ytx/youtube-cookies": "youtube-session/session.txt", "/etc/ytx/youtube-proxies": "youtube-proxies/list"} {
		if s, k := secretVolume(t, wp, wc, dir); s+"/"+k != want {
			t.Errorf("worker: %s holds Secret %s key %s, want %s", dir, s, k, want)
		}
	}

	cf := flags(t, container(t, r.deployment(t, "controller")))
	wantFlag(t, cf, "rate-limited-backoff", "2m")
	wantFlag(t, cf, "rate-limited-backoff-max", "30m")
	wantFlag(t, cf, "rate-limited-timeout", "12h")

	cj := r.cronJob(t)
	if cj == nil {
		t.Fatal("no doctor CronJob with youtube.doctor.enabled")
	}
	if cj.Spec.Schedule != "*/30 * * * *" {
		t.Errorf("doctor schedule %q", cj.Spec.Schedule)
	}
	dp := cronJobPods(cj)
	dc := onlyContainer(t, dp)
	if _, other := parseArgs(dc); !slices.Equal(other, []string{"https://www.youtube.com/watch?v=jNQXAC9IVRw"}) {
		t.Errorf("doctor arguments besides flags %q, want the video", other)
	}
	res := dc.Resources
	if res.Requests.Cpu().String() != "20m" || res.Requests.Memory().String() != "96Mi" || res.Limits.Memory().String() != "384Mi" {
		t.Errorf("doctor resources %v", res)
	}
	if e := envVar(dc, "HTTPS_PROXY"); e == nil || e.Value != "http://egress.example:3128" {
		t.Errorf("doctor HTTPS_PROXY %v, want the workers' http://egress.example:3128", e)
	}
	if dp.template.Spec.NodeSelector["ytx.dev/egress"] != "true" {
		t.Errorf("doctor nodeSelector %v, want the workers'", dp.template.Spec.NodeSelector)
	}

	dns := "[namespaces map[kubernetes.io/metadata.name:kube-system]] [53/UDP 53/TCP]"
	api := "[10.0.0.1/32] [443/TCP 6443/TCP]"
	kafka := "[pods map[strimzi.io/cluster:" + r.name("-kafka") + "]] [9093/TCP]"
	// HTTPS: YouTube, and the ports of youtube.proxy.urls.
	https := "[0.0.0.0/0] [443/TCP 3128/TCP 1080/TCP]"
	proxies := "[192.0.2.0/24] [3128/TCP 1080/TCP]"
	metrics := "[] [metrics/TCP health/TCP]"
	checkNetworkPolicy(t, r, "controller", []string{metrics}, []string{dns, api, kafka, trialS3Egress(r), proxies})
	checkNetworkPolicy(t, r, "worker", []string{metrics}, []string{dns, api, kafka, trialS3Egress(r), https, proxies})
	checkNetworkPolicy(t, r, "doctor", nil, []string{dns, api, https, proxies})
}

// checkYouTubeDefaults: with youtube.* left alone, the workers get the
// programs' defaults for the resolver flags and nothing else of them (no
// --cookies-file, no --proxy-file, no --proxy, no --resolvers: the
// worker's own default chain), the controller the default rate-limited
// backoff, and there is no doctor.
func checkYouTubeDefaults(t *testing.T, r *rendered) {
	t.Helper()
	wc := container(t, r.deployment(t, "worker"))
	want := []flagArg{{"youtube-cooldown", "5m"}, {"youtube-min-interval", "0s"}, {"ytdlp-max-procs", "4"}, {"ytdlp-timeout", "2m"}}
	if got := resolverArgs(t, wc); !slices.Equal(got, want) {
		t.Errorf("worker resolver flags\n got %v\nwant %v", got, want)
	}
	wf := flags(t, wc)
	for _, name := range []string{"cookies-file", "proxy-file"} {
		if v, ok := wf[name]; ok {
			t.Errorf("worker: --%s=%s with no Secret in the values", name, v)
		}
	}
	cf := flags(t, container(t, r.deployment(t, "controller")))
	wantFlag(t, cf, "rate-limited-backoff", "5m")
	wantFlag(t, cf, "rate-limited-backoff-max", "1h")
	wantFlag(t, cf, "rate-limited-timeout", "6h")
	for _, kind := range []string{"CronJob", "ConfigMap"} {
		if n := len(r.ofKind(kind)); n != 0 {
			t.Errorf("%d %s rendered without youtube.doctor.enabled", n, kind)
		}
	}
}

// TestYouTubeValuesOneByOne renders one youtube value at a time: each
// Secret brings its own flag and mount and not the other's, proxies
// without a Secret bring no --proxy-file, extractor args reach the flag as
// written (YAML would cut a plain " #x" off as a comment), the doctor
// with its defaults passes no video and gets the same flags as the
// workers (checkDoctor, through checkYouTubeCommon), and its NetworkPolicy
// lets it reach DNS, the API server and HTTPS only, whatever the transport
// and storage (no S3, no workers' jobs port).
func TestYouTubeValuesOneByOne(t *testing.T) {
	defaults := []flagArg{{"youtube-cooldown", "5m"}, {"youtube-min-interval", "0s"}, {"ytdlp-max-procs", "4"}, {"ytdlp-timeout", "2m"}}
	with := func(more ...flagArg) []flagArg {
		out := append(slices.Clone(defaults), more...)
		slices.SortStableFunc(out, func(a, b flagArg) int { return strings.Compare(a.name, b.name) })
		return out
	}
	for _, c := range []struct {
		name   string
		set    []string
		want   []flagArg
		doctor bool
		// doctorEgress, when set, are the doctor NetworkPolicy's egress
		// rules (policyRules); it lets nothing in.
		doctorEgress []string
	}{
		{"cookies Secret", []string{"youtube.cookies.secretName=yt-cookies"},
			with(flagArg{"cookies-file", "/etc/ytx/youtube-cookies/cookies.txt"}), false, nil},
		{"proxy Secret", []string{"youtube.proxy.secretName=yt-proxies"},
			with(flagArg{"proxy-file", "/etc/ytx/youtube-proxies/proxies"}), false, nil},
		{"proxy URLs", []string{"youtube.proxy.urls={http://a.example:3128,https://b.example}"},
			with(flagArg{"proxy", "http://a.example:3128,https://b.example"}), false, nil},
		{"one resolver", []string{"youtube.resolvers={kkdai}", "youtube.kkdaiClient=ios"},
			with(flagArg{"resolvers", "kkdai"}, flagArg{"kkdai-client", "ios"}), false, nil},
		{"doctor with its defaults", []string{"youtube.doctor.enabled=true", "youtube.cookies.secretName=yt-cookies"},
			with(flagArg{"cookies-file", "/etc/ytx/youtube-cookies/cookies.txt"}), true, nil},
		{"extractor args as written", []string{`youtube.ytdlp.extractorArgs=["youtube:lang=en #x","youtube:player_client=web; po_token=a: b"]`, "youtube.doctor.enabled=true"},
			with(flagArg{"ytdlp-extractor-args", "youtube:lang=en #x"}, flagArg{"ytdlp-extractor-args", "youtube:player_client=web; po_token=a: b"}), true, nil},
		{"doctor NetworkPolicy with http and S3", []string{"youtube.doctor.enabled=true", "networkPolicy.enabled=true", "transport=http",
			"jobToken.secretName=ytx-job-token", "storage.type=s3", "storage.s3.bucket=media", "storage.s3.endpoint=minio.storage:9000", "storage.s3.trialServer.enabled=false"},
			defaults, true, []string{
				"[namespaces map[kubernetes.io/metadata.name:kube-system]] [53/UDP 53/TCP]",
				"[] [443/TCP 6443/TCP]",
				"[0.0.0.0/0] [443/TCP]",
			}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			var args []string
			for _, s := range c.set {
				flag := "--set"
				if strings.Contains(s, "=[") {
					flag = "--set-json"
				}
				args = append(args, flag, s)
			}
			objs, err := render("one", "chart-youtube-one", args...)
			if err != nil {
				t.Fatal(err)
			}
			r := newRendered(t, chartCase{name: c.name, release: "one", namespace: "chart-youtube-one", fullname: "one-ytx"}, objs)
			checkYouTubeCommon(t, r)
			wc := container(t, r.deployment(t, "worker"))
			if got := resolverArgs(t, wc); !slices.Equal(got, c.want) {
				t.Errorf("worker resolver flags\n got %v\nwant %v", got, c.want)
			}
			cj := r.cronJob(t)
			if (cj != nil) != c.doctor {
				t.Fatalf("doctor CronJob rendered: %v, want %v", cj != nil, c.doctor)
			}
			if cj != nil {
				if _, other := parseArgs(onlyContainer(t, cronJobPods(cj))); len(other) != 0 {
					t.Errorf("doctor arguments %q without youtube.doctor.video", other)
				}
			}
			if slices.Contains(c.set, "transport=http") {
				// The token is the controller's and the workers', not the doctor's.
				checkJobToken(t, r, tokenRef{"ytx-job-token", "token"})
			}
			if c.doctorEgress != nil {
				checkNetworkPolicy(t, r, "doctor", nil, c.doctorEgress)
			} else if n := len(r.ofKind("NetworkPolicy")); n != 0 {
				t.Errorf("%d NetworkPolicies without networkPolicy.enabled", n)
			}
		})
	}
}
