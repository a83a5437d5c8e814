package chartrun

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"ytx.dev/ytx/internal/app"
	"ytx.dev/ytx/internal/youtube/fake"
	"ytx.dev/ytx/test/internal/ytxbin"
)

// TestChartDoctor runs the doctor as its CronJob would: the container of
// the jobTemplate's pod, resolved as the kubelet would (args, env, the
// cookies Secret mounted under the key the values name), started as
// bin/ytx against the fake YouTube (HTTPS_PROXY and SSL_CERT_FILE, as
// TestChartWiring leads the worker there) and the API server, as the
// doctor's ServiceAccount: with a token the API server issued for it
// (TokenRequest), the chart's RBAC applied and nothing else granted. The
// video (the values' youtube.doctor.video) is the fake's that only the
// cookies' session may watch.
//
// Both runs must exit 0 with kkdai and yt-dlp reading the video and its
// media, each having asked YouTube with the session cookie; the ConfigMap
// FN-doctor must hold the report (working=true, a row per resolver),
// created by the first run and updated by the second, with a Normal Event
// ResolversWork on it for each run; the cookie must show in none of them.
// With the Secret's session replaced by one YouTube refuses, the doctor
// must exit non-zero, the report say working=false, and a Warning Event
// NoWorkingResolver land on it. Then the doctor's identity is refused what
// the report does not need.
//
// Rewritten, as in TestChartWiring: mount paths become the directories
// that stand for the volumes; the in-cluster config becomes a KUBECONFIG
// holding only the ServiceAccount's token.
func TestChartDoctor(t *testing.T) {
	if err := ytxbin.Fresh(repoRoot, ytxBin); err != nil {
		t.Fatal(err)
	}
	c := &doctorCase
	r := c.render
	name := c.fullname() + "-doctor"
	ctx := t.Context()
	createNamespace(t, c.namespace)
	for secret, data := range c.secrets {
		createSecret(t, c.namespace, secret, data)
	}
	applyRBAC(t, c)

	w := cronJobPods(r.cronJob(t, name))
	// The CronJob's Job <name>-<minutes>, and its pod.
	pe := &podEnv{ns: c.namespace, render: r, secrets: secretFromAPI(ctx, c.namespace), claims: map[string]string{}, tmp: func() string { return t.TempDir() }}
	p := pe.resolve(t, w, "doctor", name+"-29433120-x7k2p")
	if got, _ := flagValue(p.args, p.envMap(), "report-configmap"); got != name {
		t.Errorf("--report-configmap=%q, want %q", got, name)
	}
	if _, ok := flagValue(p.args, p.envMap(), "cookies-file"); !ok {
		t.Fatalf("no --cookies-file with youtube.cookies.secretName set; args %q", p.args)
	}
	p.rewrite(nil)
	// Not the test's doing: the file the flag names, here, holds the
	// Secret's cookies only if the chart mounts it where the flag points.
	if f, _ := flagValue(p.args, p.envMap(), "cookies-file"); !strings.HasPrefix(f, os.TempDir()) {
		t.Errorf("--cookies-file=%s is not in a mounted volume (mounts: %v)", f, p.mounts)
	}

	sa := w.template.Spec.ServiceAccountName
	kubeconfig, saClient := serviceAccountKubeconfig(t, c.namespace, sa)
	extra := []string{
		"KUBECONFIG=" + kubeconfig,
		"HTTPS_PROXY=" + youTube.ProxyURL().String(),
		"SSL_CERT_FILE=" + youTubeCAFile,
	}
	t.Logf("doctor, as %s: ytx %s", sa, strings.Join(p.args, " "))

	var cm corev1.ConfigMap
	for run := 1; run <= 2; run++ {
		pr := startProcess(t, p, p.args, extra...)
		if err := pr.waitExit(3 * time.Minute); err != nil {
			t.Fatalf("run %d: `ytx doctor` did not exit 0: %v%s; its output:\n%s", run, err, staleHint(), pr.out.Last(40))
		}
		out := pr.out.String()
		for _, res := range []string{"kkdai", "yt-dlp"} {
			if row := tableRow(out, res); !strings.Contains(row, " ok ok ") {
				t.Errorf("run %d: %s's row %q, want metadata ok and media ok; output:\n%s", run, res, row, out)
			}
		}
		if strings.Contains(out, fake.SessionCookieValue) {
			t.Errorf("run %d: the doctor printed the session cookie", run)
		}
		if err := admin.Get(ctx, client.ObjectKey{Namespace: c.namespace, Name: name}, &cm); err != nil {
			t.Fatalf("run %d: the report's ConfigMap: %v", run, err)
		}
		if cm.Data["working"] != "true" || tableRow(cm.Data["report"], "kkdai") == "" || tableRow(cm.Data["report"], "yt-dlp") == "" {
			t.Errorf("run %d: ConfigMap %s data %q, want working=true and a row per resolver", run, name, cm.Data)
		}
		if _, err := time.Parse(time.RFC3339, cm.Data["time"]); err != nil {
			t.Errorf("run %d: ConfigMap %s time %q: %v", run, name, cm.Data["time"], err)
		}
		for k, v := range cm.Data {
			if strings.Contains(v, fake.SessionCookieValue) {
				t.Errorf("run %d: ConfigMap %s key %s holds the session cookie", run, name, k)
			}
		}
		var evs eventsv1.EventList
		if err := admin.List(ctx, &evs, client.InNamespace(c.namespace)); err != nil {
			t.Fatal(err)
		}
		var works []eventsv1.Event
		for _, ev := range evs.Items {
			if ev.Regarding.Kind != "ConfigMap" || ev.Regarding.Name != name {
				continue
			}
			if ev.Reason != app.ReasonResolversWork || ev.Type != corev1.EventTypeNormal {
				t.Errorf("run %d: Event %s %s on the report: %s", run, ev.Type, ev.Reason, ev.Note)
				continue
			}
			if ev.Regarding.UID != cm.UID {
				t.Errorf("run %d: Event %s regards UID %s, the ConfigMap's is %s", run, ev.Name, ev.Regarding.UID, cm.UID)
			}
			if strings.Contains(ev.Note, fake.SessionCookieValue) {
				t.Errorf("run %d: Event %s shows the session cookie", run, ev.Name)
			}
			works = append(works, ev)
		}
		if len(works) != run {
			t.Errorf("run %d: %d %s Events on ConfigMap %s, want %d (one per run)", run, len(works), app.ReasonResolversWork, name, run)
		}
	}

	// Both resolvers asked the fake with the session cookie: kkdai as its
	// client (ANDROID_VR) and yt-dlp as its (VISIONOS). Without it the
	// video is age-restricted.
	with := map[string]int{}
	for _, q := range youTube.RequestLog() {
		if q.Kind == fake.KindPlayer && q.VideoID == fake.AdultID && q.Cookie {
			with[q.Client]++
		}
	}
	if with["ANDROID_VR"] == 0 || with["VISIONOS"] == 0 {
		t.Errorf("player requests for %s with the session cookie, by client: %v; want kkdai's (ANDROID_VR) and yt-dlp's (VISIONOS)", fake.AdultID, with)
	}

	// A session YouTube no longer takes: the Job fails (the doctor exits
	// non-zero), the report says so, and a Warning Event lands on it.
	t.Run("no working resolver", func(t *testing.T) {
		var s corev1.Secret
		key := client.ObjectKey{Namespace: c.namespace, Name: "youtube-session"}
		if err := admin.Get(ctx, key, &s); err != nil {
			t.Fatal(err)
		}
		s.Data["session.txt"] = bytes.ReplaceAll(s.Data["session.txt"], []byte(fake.SessionCookieValue), []byte("signed-out-long-ago"))
		if err := admin.Update(ctx, &s); err != nil {
			t.Fatal(err)
		}
		p := pe.resolve(t, w, "doctor", name+"-29433480-q4v9m")
		p.rewrite(nil)
		pr := startProcess(t, p, p.args, extra...)
		err := pr.waitExit(3 * time.Minute)
		var exit *exec.ExitError
		if !errors.As(err, &exit) {
			t.Fatalf("`ytx doctor` with a dead session: %v, want a non-zero exit; output:\n%s", err, pr.out.Last(40))
		}
		var failed corev1.ConfigMap
		if err := admin.Get(ctx, client.ObjectKey{Namespace: c.namespace, Name: name}, &failed); err != nil {
			t.Fatal(err)
		}
		if failed.Data["working"] != "false" || !strings.Contains(tableRow(failed.Data["report"], "yt-dlp"), " LoginRequired ") {
			t.Errorf("ConfigMap %s data %q, want working=false and yt-dlp's LoginRequired", name, failed.Data)
		}
		var evs eventsv1.EventList
		if err := admin.List(ctx, &evs, client.InNamespace(c.namespace)); err != nil {
			t.Fatal(err)
		}
		warnings := 0
		for _, ev := range evs.Items {
			if ev.Regarding.Name == name && ev.Reason == app.ReasonNoWorkingResolver && ev.Type == corev1.EventTypeWarning {
				warnings++
			}
		}
		if warnings != 1 {
			t.Errorf("%d Warning %s Events on ConfigMap %s, want 1", warnings, app.ReasonNoWorkingResolver, name)
		}
	})

	t.Run("forbidden", func(t *testing.T) {
		testDoctorForbidden(t, c, saClient, &cm)
	})
}

// tableRow is the doctor table's row of a resolver, its fields joined by
// one space and framed by spaces (" kkdai v2.10.6 ... ok ok 120ms - - "),
// or "".
func tableRow(out, resolver string) string {
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) > 0 && f[0] == resolver {
			return " " + strings.Join(f, " ") + " "
		}
	}
	return ""
}

// serviceAccountKubeconfig writes a kubeconfig that holds a token the API
// server issued for the ServiceAccount (TokenRequest, as the kubelet gets
// the pod's), and nothing of the administrator's; and returns a client
// that uses it. It checks that the API server takes the token for the
// ServiceAccount.
func serviceAccountKubeconfig(t *testing.T, ns, sa string) (string, client.WithWatch) {
	t.Helper()
	ctx := t.Context()
	expiry := int64(3600)
	tr := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &expiry}}
	if err := admin.SubResource("token").Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: sa, Namespace: ns}}, tr); err != nil {
		t.Fatalf("a token for ServiceAccount %s/%s: %v", ns, sa, err)
	}
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["envtest"] = &clientcmdapi.Cluster{Server: apiServer.Config.Host, CertificateAuthorityData: apiServer.Config.CAData}
	cfg.AuthInfos[sa] = &clientcmdapi.AuthInfo{Token: tr.Status.Token}
	cfg.Contexts[sa] = &clientcmdapi.Context{Cluster: "envtest", AuthInfo: sa, Namespace: ns}
	cfg.CurrentContext = sa
	path := filepath.Join(t.TempDir(), sa+".kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		t.Fatal(err)
	}
	if data, err := os.ReadFile(path); err != nil || bytes.Contains(data, []byte("client-key")) {
		t.Fatalf("kubeconfig %s: %v, or it holds a client key", path, err)
	}
	rc, err := clientcmd.BuildConfigFromFlags("", path)
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.NewWithWatch(rc, client.Options{Scheme: app.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	review := &authenticationv1.SelfSubjectReview{}
	if err := c.Create(ctx, review); err != nil {
		t.Fatalf("who is the token's holder: %v", err)
	}
	if want := "system:serviceaccount:" + ns + ":" + sa; review.Status.UserInfo.Username != want {
		t.Fatalf("the token is %q's, want %q's", review.Status.UserInfo.Username, want)
	}
	return path, c
}

// testDoctorForbidden: the doctor's ServiceAccount may read its report's
// ConfigMap, and is refused everything else a try shows: Secrets (the
// cookies included: the kubelet mounts them, the doctor never reads
// them from the API), other ConfigMaps, listing, deleting or patching its
// own, core/v1 Events, other namespaces.
func testDoctorForbidden(t *testing.T, c *chartCase, doctor client.WithWatch, report *corev1.ConfigMap) {
	ctx := t.Context()
	other := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "app-settings", Namespace: c.namespace}, Data: map[string]string{"k": "v"}}
	if err := admin.Create(ctx, other); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	createNamespace(t, "ytx-doctor-elsewhere")
	elsewhere := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: report.Name, Namespace: "ytx-doctor-elsewhere"}}
	if err := admin.Create(ctx, elsewhere); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	mine := client.ObjectKeyFromObject(report)
	fresh := func(key client.ObjectKey) *corev1.ConfigMap {
		var cm corev1.ConfigMap
		if err := admin.Get(ctx, key, &cm); err != nil {
			t.Fatal(err)
		}
		return &cm
	}
	actions := []rightsCheck{
		{"gets its ConfigMap", true, func() error { return doctor.Get(ctx, mine, &corev1.ConfigMap{}) }},
		{"updates its ConfigMap", true, func() error { return doctor.Update(ctx, fresh(mine)) }},
		{"reads the cookies Secret", false, func() error {
			return doctor.Get(ctx, client.ObjectKey{Namespace: c.namespace, Name: "youtube-session"}, &corev1.Secret{})
		}},
		{"lists Secrets", false, func() error { return doctor.List(ctx, &corev1.SecretList{}, client.InNamespace(c.namespace)) }},
		{"lists ConfigMaps", false, func() error { return doctor.List(ctx, &corev1.ConfigMapList{}, client.InNamespace(c.namespace)) }},
		{"gets another ConfigMap", false, func() error { return doctor.Get(ctx, client.ObjectKeyFromObject(other), &corev1.ConfigMap{}) }},
		{"updates another ConfigMap", false, func() error { return doctor.Update(ctx, fresh(client.ObjectKeyFromObject(other))) }},
		{"patches its ConfigMap", false, func() error {
			return doctor.Patch(ctx, fresh(mine), client.RawPatch(types.MergePatchType, []byte(`{"data":{"working":"false"}}`)))
		}},
		{"deletes its ConfigMap", false, func() error { return doctor.Delete(ctx, fresh(mine)) }},
		{"watches its ConfigMap", false, func() error {
			w, err := doctor.Watch(ctx, &corev1.ConfigMapList{}, client.InNamespace(c.namespace))
			if err == nil {
				w.Stop()
			}
			return err
		}},
		{"gets its ConfigMap's namesake in another namespace", false, func() error {
			return doctor.Get(ctx, client.ObjectKeyFromObject(elsewhere), &corev1.ConfigMap{})
		}},
		{"creates a ConfigMap in another namespace", false, func() error {
			return doctor.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "planted", Namespace: "ytx-doctor-elsewhere"}})
		}},
		{"creates a core/v1 Event", false, func() error {
			return doctor.Create(ctx, &corev1.Event{
				ObjectMeta:     metav1.ObjectMeta{GenerateName: "x-", Namespace: c.namespace},
				InvolvedObject: corev1.ObjectReference{Kind: "ConfigMap", Namespace: c.namespace, Name: report.Name},
				Reason:         "X", Message: "x", Type: corev1.EventTypeNormal,
			})
		}},
		{"lists Events", false, func() error { return doctor.List(ctx, &eventsv1.EventList{}, client.InNamespace(c.namespace)) }},
		{"lists Pods", false, func() error { return doctor.List(ctx, &corev1.PodList{}, client.InNamespace(c.namespace)) }},
	}
	checkRights(t, actions)
}
