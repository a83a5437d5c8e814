package chartrun

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "ytx.dev/ytx/api/v1alpha1"
	"ytx.dev/ytx/controllers"
	"ytx.dev/ytx/internal/app"
	"ytx.dev/ytx/internal/kafka"
	"ytx.dev/ytx/internal/storage"
	"ytx.dev/ytx/internal/youtube"
	"ytx.dev/ytx/internal/youtube/fake"
	"ytx.dev/ytx/workers"
)

// The RBAC kinds the test applies: everything that grants or holds rights.
var rbacKinds = []string{"ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"}

// TestChartRBAC proves the chart's RBAC instead of assuming it: the rendered
// ServiceAccounts, roles and bindings go into a kube-apiserver that
// authorizes with RBAC, and the manager and the worker, built by
// internal/app as `ytx manager` and `ytx worker` build them, run as those
// service accounts (impersonated) through a whole extraction and its
// deletion, and a playlist through a whole sync (listing job on the
// listing topic, children made by the manager and extracted by the worker,
// the archive) and its deletion. Then each identity is refused what it
// must not do.
//
// The tests of this package run one after another: a cluster-wide manager
// acts on every extraction of the API server they share.
func TestChartRBAC(t *testing.T) {
	for _, c := range []*chartCase{&clusterCase, &namespacedCase} {
		t.Run(c.name, func(t *testing.T) { testRBAC(t, c) })
	}
}

func testRBAC(t *testing.T, c *chartCase) {
	ctx := t.Context()
	r := c.render
	fn := c.fullname()
	for _, ns := range append([]string{c.namespace, c.extractionNS, c.unwatched}, c.watched...) {
		createNamespace(t, ns)
	}
	applyRBAC(t, c)

	ctrlDep := r.deployment(t, fn+"-controller")
	workerDep := r.deployment(t, fn+"-worker")
	// Args and env as the kubelet resolves them (no Secrets needed here).
	pe := &podEnv{ns: c.namespace, render: r, claims: map[string]string{}, tmp: func() string { return t.TempDir() }}
	ctrlPod := pe.resolve(t, deploymentPods(ctrlDep), "manager", fn+"-controller-6b8f9-x2x7q")
	workerPod := pe.resolve(t, deploymentPods(workerDep), "worker", fn+"-worker-7d9c5-abcde")
	ctrlCfg := impersonate(t, c, ctrlDep, fn+"-controller")
	workerCfg := impersonate(t, c, workerDep, fn+"-worker")

	// Kafka: the case's broker (TLS, SCRAM-SHA-512, the KafkaUsers' ACLs,
	// the KafkaTopics' topics), with the topics, group and user each
	// component's args name.
	kcfg := func(p *pod) kafka.Config {
		env := p.envMap()
		flag := func(name, def string) string {
			if v, ok := flagValue(p.args, env, name); ok {
				return v
			}
			return def
		}
		user := flag("kafka-username", "")
		if user == "" {
			t.Fatalf("%s passes no --kafka-username; args %q", p.owner, p.args)
		}
		return kafka.Config{
			Brokers: c.broker.ListenAddrs(), TLSCAFile: kafkaCAFile,
			SASLMechanism: flag("kafka-sasl-mechanism", ""), Username: user, PasswordFile: userPasswordFile(t, user),
			Topic: flag("kafka-topic", kafka.DefaultTopic), Group: flag("kafka-group", kafka.DefaultGroup),
			DeadLetterTopic: flag("kafka-dead-letter-topic", kafka.DefaultDeadLetterTopic),
			ListingTopic:    flag("kafka-listing-topic", kafka.DefaultListingTopic),
			ListingGroup:    flag("kafka-listing-group", ""),
			ClientID:        flag("kafka-client-id", ""),
		}
	}
	ctrlKafka, workerKafka := kcfg(ctrlPod), kcfg(workerPod)

	// The manager as the chart configures it: leader election on, in the
	// release namespace unless the chart names another, and the watched
	// namespaces.
	if v, ok := flagValue(ctrlPod.args, ctrlPod.envMap(), "leader-elect"); !ok || v != "true" {
		t.Errorf("the controller does not pass --leader-elect (args %q): two replicas would both act", ctrlPod.args)
	}
	leNS := c.namespace
	if v, ok := flagValue(ctrlPod.args, ctrlPod.envMap(), "leader-election-namespace"); ok {
		leNS = v
	}
	var namespaces []string
	if v, ok := flagValue(ctrlPod.args, ctrlPod.envMap(), "namespaces"); ok && v != "" {
		namespaces = strings.Split(v, ",")
	}
	if strings.Join(namespaces, ",") != strings.Join(c.watched, ",") {
		t.Errorf("controller --namespaces = %q, want %q", namespaces, c.watched)
	}

	storageDir := t.TempDir()
	storageURL := "file://" + storageDir
	off := app.Serving{MetricsAddr: "0", ProbeAddr: "0"}
	mctx, stopManager := context.WithCancel(context.Background())
	m, err := app.NewManager(mctx, app.ManagerConfig{
		Kube: app.Kube{Config: ctrlCfg}, Serving: off, Kafka: ctrlKafka,
		LeaderElection: true, LeaderElectionNamespace: leNS, Namespaces: namespaces, Storage: storageURL,
		Controller: controllers.Options{Name: "rbac-" + c.name, CleanupGrace: time.Second},
	})
	if err != nil {
		stopManager()
		t.Fatalf("NewManager as %s: %v", ctrlCfg.Impersonate.UserName, err)
	}
	runInBackground(t, "manager", stopManager, func() error { return m.Start(mctx) })

	wctx, stopWorker := context.WithCancel(context.Background())
	w, err := app.NewWorker(wctx, app.WorkerConfig{
		Kube: app.Kube{Config: workerCfg}, Serving: off, Kafka: workerKafka,
		Concurrency: 2, ShutdownGrace: 2 * time.Second,
		Worker:  workers.Options{Name: workerPod.name, StatusInterval: 200 * time.Millisecond, ScratchDir: t.TempDir()},
		YouTube: youtube.HTTPOptions{DialContext: youTube.DialContext, RootCAs: youTube.CertPool()},
		Storage: storageURL,
	})
	if err != nil {
		stopWorker()
		t.Fatalf("NewWorker as %s: %v", workerCfg.Impersonate.UserName, err)
	}
	runInBackground(t, "worker", stopWorker, func() error { return w.Start(wctx) })

	select {
	case <-m.Elected():
	case <-time.After(20 * time.Second):
		t.Fatalf("the manager, as %s, did not win the leader election in %s within 20s", ctrlCfg.Impersonate.UserName, leNS)
	}
	var lease coordinationv1.Lease
	if err := admin.Get(ctx, client.ObjectKey{Namespace: leNS, Name: "ytx-manager.ytx.dev"}, &lease); err != nil {
		t.Errorf("no leader-election Lease in %s: %v", leNS, err)
	}
	// controller-runtime records the election as a core/v1 Event in the
	// Lease's namespace; without the right to, every election logs "Server
	// rejected event".
	if err := waitUntil(5*time.Second, 50*time.Millisecond, func() (bool, error) {
		var events corev1.EventList
		if err := admin.List(ctx, &events, client.InNamespace(leNS)); err != nil {
			return false, err
		}
		return slices.ContainsFunc(events.Items, func(e corev1.Event) bool { return e.Reason == "LeaderElection" }), nil
	}); err != nil {
		t.Errorf("no LeaderElection Event (core/v1, API group \"\") in %s: the controller may not create events there: %v", leNS, err)
	}

	// A whole extraction, then its deletion: the finalizer deletes the
	// files with the controller's rights.
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
	x = waitPhase(t, client.ObjectKeyFromObject(x), v1alpha1.PhaseSucceeded, 40*time.Second, nil)
	if x.Status.Worker != workerPod.name {
		t.Errorf("status.worker = %q, want %q", x.Status.Worker, workerPod.name)
	}
	// Files live under the extraction's own attempt (the storage layout);
	// the status names the attempt.
	attempt := storage.Attempt{Generation: x.Status.ObservedGeneration, Attempt: x.Status.Attempts}
	for _, f := range []string{"audio.m4a", "info.json"} {
		key := storage.AttemptKey(x.Namespace, x.Name, string(x.UID), attempt, f)
		if fi, err := os.Stat(filepath.Join(storageDir, filepath.FromSlash(key))); err != nil || fi.Size() == 0 {
			t.Errorf("%s not stored at %s: %v", f, key, err)
		}
	}
	files := filepath.Join(storageDir, filepath.FromSlash(storage.NamePrefix(x.Namespace, x.Name)))
	if _, err := os.Stat(files); err != nil {
		t.Fatalf("no files under the extraction's name: %v", err)
	}

	t.Run("forbidden", func(t *testing.T) {
		testForbidden(t, c, ctrlCfg, workerCfg, x)
	})

	if err := admin.Delete(ctx, x); err != nil {
		t.Fatal(err)
	}
	if err := waitUntil(20*time.Second, 50*time.Millisecond, func() (bool, error) {
		err := admin.Get(ctx, client.ObjectKeyFromObject(x), &v1alpha1.YouTubeExtraction{})
		return apierrors.IsNotFound(err), client.IgnoreNotFound(err)
	}); err != nil {
		t.Fatalf("the extraction was not deleted (the controller's finalizer): %v", err)
	}
	var left []string
	_ = filepath.WalkDir(files, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			left = append(left, p)
		}
		return nil
	})
	if len(left) != 0 {
		t.Errorf("the finalizer left files in %s: %v", files, left)
	}

	t.Run("playlist", func(t *testing.T) {
		testPlaylist(t, rbacRun{
			c: c, ctrlCfg: ctrlCfg, workerCfg: workerCfg, workerKafka: workerKafka,
			workerName: workerPod.name, storageDir: storageDir,
		})
	})
}

// applyRBAC creates the rendered RBAC objects, in the release namespace
// where they name none (as `helm install -n` does).
func applyRBAC(t *testing.T, c *chartCase) {
	t.Helper()
	var applied []string
	for _, kind := range rbacKinds {
		for _, o := range c.render.all(kind) {
			o = o.DeepCopy()
			if o.GetNamespace() == "" && kind != "ClusterRole" && kind != "ClusterRoleBinding" {
				o.SetNamespace(c.namespace)
			}
			if err := admin.Create(t.Context(), o); err != nil {
				t.Fatalf("applying %s %s/%s: %v", kind, o.GetNamespace(), o.GetName(), err)
			}
			applied = append(applied, kind+" "+strings.TrimPrefix(o.GetNamespace()+"/"+o.GetName(), "/"))
		}
	}
	t.Logf("applied %d RBAC objects: %s", len(applied), strings.Join(applied, ", "))
}

// impersonate is a rest.Config that acts as the service account the
// Deployment's pods run as, with the groups the API server gives service
// accounts.
func impersonate(t *testing.T, c *chartCase, dep *appsv1.Deployment, wantSA string) *rest.Config {
	t.Helper()
	sa := dep.Spec.Template.Spec.ServiceAccountName
	if sa != wantSA {
		t.Errorf("Deployment %s runs as service account %q, want %q", dep.Name, sa, wantSA)
	}
	if c.render.find("ServiceAccount", sa) == nil {
		t.Fatalf("Deployment %s runs as service account %q, which the chart does not render (ServiceAccounts: %v)", dep.Name, sa, c.render.names("ServiceAccount"))
	}
	if a := dep.Spec.Template.Spec.AutomountServiceAccountToken; a != nil && !*a {
		t.Errorf("Deployment %s turns automountServiceAccountToken off: the in-cluster client would have no token", dep.Name)
	}
	cfg := rest.CopyConfig(apiServer.Config)
	cfg.Impersonate = rest.ImpersonationConfig{
		UserName: "system:serviceaccount:" + c.namespace + ":" + sa,
		Groups:   []string{"system:serviceaccounts", "system:serviceaccounts:" + c.namespace, "system:authenticated"},
	}
	return cfg
}

// testForbidden checks what each identity may and may not do. Each refusal
// is paired with an allowed action of the same identity, so a 403 is not
// the impersonation failing as a whole.
func testForbidden(t *testing.T, c *chartCase, ctrlCfg, workerCfg *rest.Config, x *v1alpha1.YouTubeExtraction) {
	ctx := t.Context()
	ctrl := newClient(t, ctrlCfg)
	worker := newClient(t, workerCfg)
	secretNS := []string{c.namespace, x.Namespace}
	for _, ns := range secretNS {
		s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "db-credentials", Namespace: ns}, StringData: map[string]string{"password": "hunter2"}}
		if err := admin.Create(ctx, s); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
	}
	key := client.ObjectKeyFromObject(x)
	fresh := func() *v1alpha1.YouTubeExtraction {
		var got v1alpha1.YouTubeExtraction
		if err := admin.Get(ctx, key, &got); err != nil {
			t.Fatal(err)
		}
		return &got
	}
	actions := []rightsCheck{
		{"worker gets the extraction", true, func() error { return worker.Get(ctx, key, &v1alpha1.YouTubeExtraction{}) }},
		{"worker patches the status", true, func() error {
			return worker.Status().Patch(ctx, fresh(), client.RawPatch(types.MergePatchType, []byte(`{}`)))
		}},
		{"controller lists extractions", true, func() error {
			return ctrl.List(ctx, &v1alpha1.YouTubeExtractionList{}, client.InNamespace(x.Namespace))
		}},
		{"worker deletes an extraction", false, func() error { return worker.Delete(ctx, fresh()) }},
		{"worker updates the spec", false, func() error {
			got := fresh()
			got.Spec.Thumbnail = true
			return worker.Update(ctx, got)
		}},
		{"worker patches the spec", false, func() error {
			return worker.Patch(ctx, fresh(), client.RawPatch(types.MergePatchType, []byte(`{"spec":{"thumbnail":true}}`)))
		}},
		{"worker creates an extraction", false, func() error {
			return worker.Create(ctx, &v1alpha1.YouTubeExtraction{
				ObjectMeta: metav1.ObjectMeta{Name: "by-worker", Namespace: x.Namespace},
				Spec:       v1alpha1.YouTubeExtractionSpec{URL: "https://youtu.be/" + fake.RickrollID},
			})
		}},
		// The playlist controller makes a playlist's children. A dry run:
		// the API server authorizes it as a create, and nothing is left
		// for a manager to act on.
		{"controller creates an extraction", true, func() error {
			return ctrl.Create(ctx, &v1alpha1.YouTubeExtraction{
				ObjectMeta: metav1.ObjectMeta{Name: "by-controller", Namespace: x.Namespace},
				Spec:       v1alpha1.YouTubeExtractionSpec{URL: "https://youtu.be/" + fake.RickrollID},
			}, client.DryRunAll)
		}},
		{"controller lists Pods", false, func() error { return ctrl.List(ctx, &corev1.PodList{}, client.InNamespace(c.namespace)) }},
		{"worker lists Pods", false, func() error { return worker.List(ctx, &corev1.PodList{}, client.InNamespace(c.namespace)) }},
		{"worker writes a Lease", false, func() error {
			return worker.Create(ctx, &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: "ytx-manager.ytx.dev-hijack", Namespace: c.namespace}})
		}},
	}
	for _, ns := range secretNS {
		k := client.ObjectKey{Namespace: ns, Name: "db-credentials"}
		actions = append(actions,
			rightsCheck{"worker reads a Secret in " + ns, false, func() error { return worker.Get(ctx, k, &corev1.Secret{}) }},
			rightsCheck{"controller reads a Secret in " + ns, false, func() error { return ctrl.Get(ctx, k, &corev1.Secret{}) }},
			rightsCheck{"worker lists Secrets in " + ns, false, func() error { return worker.List(ctx, &corev1.SecretList{}, client.InNamespace(ns)) }},
			rightsCheck{"controller lists Secrets in " + ns, false, func() error { return ctrl.List(ctx, &corev1.SecretList{}, client.InNamespace(ns)) }},
		)
	}
	if c.unwatched != "" {
		out := c.unwatched
		outsider := &v1alpha1.YouTubeExtraction{
			ObjectMeta: metav1.ObjectMeta{Name: "outside", Namespace: out},
			Spec:       v1alpha1.YouTubeExtractionSpec{URL: "https://youtu.be/" + fake.RickrollID},
		}
		if err := admin.Create(ctx, outsider); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
		// Gone before the next test's cluster-wide manager could see it.
		t.Cleanup(func() { admin.Delete(context.Background(), outsider) }) //nolint:errcheck
		okey := client.ObjectKeyFromObject(outsider)
		actions = append(actions,
			rightsCheck{"controller lists extractions in unwatched " + out, false, func() error {
				return ctrl.List(ctx, &v1alpha1.YouTubeExtractionList{}, client.InNamespace(out))
			}},
			rightsCheck{"controller gets an extraction in unwatched " + out, false, func() error { return ctrl.Get(ctx, okey, &v1alpha1.YouTubeExtraction{}) }},
			rightsCheck{"controller updates an extraction in unwatched " + out, false, func() error {
				var got v1alpha1.YouTubeExtraction
				if err := admin.Get(ctx, okey, &got); err != nil {
					return err
				}
				got.Finalizers = append(got.Finalizers, "ytx.dev/artifacts")
				return ctrl.Update(ctx, &got)
			}},
			rightsCheck{"worker gets an extraction in unwatched " + out, false, func() error { return worker.Get(ctx, okey, &v1alpha1.YouTubeExtraction{}) }},
			rightsCheck{"worker patches status in unwatched " + out, false, func() error {
				return worker.Status().Patch(ctx, outsider, client.RawPatch(types.MergePatchType, []byte(`{}`)))
			}},
			rightsCheck{"controller lists extractions cluster-wide", false, func() error { return ctrl.List(ctx, &v1alpha1.YouTubeExtractionList{}) }},
			rightsCheck{"worker lists extractions cluster-wide", false, func() error { return worker.List(ctx, &v1alpha1.YouTubeExtractionList{}) }},
		)
		for _, ns := range c.watched {
			actions = append(actions, rightsCheck{"controller lists extractions in watched " + ns, true, func() error {
				return ctrl.List(ctx, &v1alpha1.YouTubeExtractionList{}, client.InNamespace(ns))
			}})
		}
	}
	checkRights(t, actions)
}

func newClient(t *testing.T, cfg *rest.Config) client.Client {
	t.Helper()
	c, err := client.New(cfg, client.Options{Scheme: app.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func createNamespace(t *testing.T, name string) {
	t.Helper()
	if name == "" {
		return
	}
	err := admin.Create(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
}

// runInBackground runs start until the test ends; then it cancels it and
// waits, failing the test on an error.
func runInBackground(t *testing.T, what string, cancel context.CancelFunc, start func() error) {
	done := make(chan error, 1)
	go func() { done <- start() }()
	var once sync.Once
	t.Cleanup(func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil && !errors.Is(err, context.Canceled) {
					t.Errorf("%s stopped with %v", what, err)
				}
			case <-time.After(30 * time.Second):
				t.Errorf("%s did not stop within 30s", what)
			}
		})
	})
}

// waitPhase polls an extraction until it reaches phase; alive, when set,
// is called on each poll and fails the wait with its error (a process that
// died).
func waitPhase(t *testing.T, key client.ObjectKey, phase v1alpha1.Phase, timeout time.Duration, alive func() error) *v1alpha1.YouTubeExtraction {
	t.Helper()
	var x v1alpha1.YouTubeExtraction
	err := waitUntil(timeout, 50*time.Millisecond, func() (bool, error) {
		if alive != nil {
			if err := alive(); err != nil {
				return false, err
			}
		}
		if err := admin.Get(t.Context(), key, &x); err != nil {
			return false, client.IgnoreNotFound(err)
		}
		return x.Status.Phase == phase, nil
	})
	if err != nil {
		t.Fatalf("%s: not %s: %v; status: %s", key, phase, err, describe(&x))
	}
	return &x
}

// describe is a one-line summary of a status.
func describe(x *v1alpha1.YouTubeExtraction) string {
	var conds []string
	for _, c := range x.Status.Conditions {
		conds = append(conds, c.Type+"="+string(c.Status)+"("+c.Reason+": "+c.Message+")")
	}
	return "phase=" + string(x.Status.Phase) + " worker=" + x.Status.Worker + " conditions=[" + strings.Join(conds, "; ") + "]"
}

// rightsCheck is one request made with a rendered ServiceAccount's own
// rights, and whether RBAC must allow it.
type rightsCheck struct {
	name    string
	allowed bool
	do      func() error
}

// checkRights makes each request and fails on one allowed that was refused,
// or one refused with anything but 403 Forbidden.
func checkRights(t *testing.T, checks []rightsCheck) {
	t.Helper()
	for _, a := range checks {
		err := a.do()
		switch {
		case a.allowed && err != nil:
			t.Errorf("%s: refused, want allowed: %v", a.name, err)
		case !a.allowed && !apierrors.IsForbidden(err):
			t.Errorf("%s: got %v, want 403 Forbidden", a.name, err)
		}
	}
}
