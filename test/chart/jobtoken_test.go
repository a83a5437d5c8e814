package chart_test

import (
	"context"
	"maps"
	"path"
	"reflect"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// tokenRef is where a pod's --job-token-file comes from: a key of a Secret.
type tokenRef struct{ secret, key string }

// jobTokenOf follows a component's --job-token-file to the Secret key the
// kubelet puts there: the flag's directory must be a read-only mount (not
// a subPath, which the kubelet never updates, so a rotation would not
// reach it) of a Secret volume whose items put one key at the flag's file
// name.
func jobTokenOf(t *testing.T, r *rendered, component string) tokenRef {
	t.Helper()
	p := r.podsFor(t, component)
	c := onlyContainer(t, p)
	file, ok := flags(t, c)["job-token-file"]
	if !ok {
		t.Fatalf("%s: no --job-token-file with transport http", p)
	}
	dir, name := path.Split(file)
	dir = path.Clean(dir)
	for _, m := range c.VolumeMounts {
		if m.MountPath != dir {
			continue
		}
		if !m.ReadOnly || m.SubPath != "" || m.SubPathExpr != "" {
			t.Errorf("%s: %s is mounted read-only %v, subPath %q: want read-only and no subPath", p, dir, m.ReadOnly, m.SubPath+m.SubPathExpr)
		}
		v := volume(p, m.Name)
		if v == nil || v.Secret == nil {
			t.Fatalf("%s: --job-token-file=%s, but %s is not a Secret volume", p, file, dir)
		}
		for _, it := range v.Secret.Items {
			if it.Path == name {
				return tokenRef{v.Secret.SecretName, it.Key}
			}
		}
		t.Fatalf("%s: --job-token-file=%s, but the Secret %s puts nothing at %s", p, file, v.Secret.SecretName, name)
	}
	t.Fatalf("%s: --job-token-file=%s, but nothing is mounted at %s", p, file, dir)
	return tokenRef{}
}

// checkJobToken: with transport http, the controller and the workers read
// the same key of the same Secret, the one the values name, each where its
// --job-token-file says; the doctor, which takes no jobs, gets nothing of
// it.
func checkJobToken(t *testing.T, r *rendered, want tokenRef) {
	t.Helper()
	ctrl, work := jobTokenOf(t, r, "controller"), jobTokenOf(t, r, "worker")
	if ctrl != want || work != want {
		t.Errorf("the controller reads the job token from %+v, the workers from %+v; want both from %+v", ctrl, work, want)
	}
	if cj := r.cronJob(t); cj != nil {
		if _, ok := flags(t, onlyContainer(t, cronJobPods(cj)))["job-token-file"]; ok {
			t.Errorf("the doctor gets --job-token-file")
		}
		for _, v := range cj.Spec.JobTemplate.Spec.Template.Spec.Volumes {
			if v.Secret != nil && v.Secret.SecretName == want.secret {
				t.Errorf("the doctor mounts the job token's Secret %s", want.secret)
			}
		}
	}
}

// checkNoJobToken: with transport kafka there is no job endpoint, so no
// token flag and no token volume.
func checkNoJobToken(t *testing.T, p *pods, c corev1.Container, f map[string]string) {
	t.Helper()
	if v, ok := f["job-token-file"]; ok {
		t.Errorf("%s: --job-token-file=%s with transport kafka", p, v)
	}
	if volume(p, "job-token") != nil {
		t.Errorf("%s: a job-token volume with transport kafka", p)
	}
}

// TestJobTokenSurvivesUpgrade installs the chart with transport http and
// upgrades it with other values, as `helm template | kubectl apply` does
// (server-side apply of both renders, which is also what Argo CD and Flux
// amount to): the token Secret is the one the user made, before and after,
// untouched, and both renders wire it to both sides the same way. A chart
// that made the token itself at render time would show a second token
// here.
func TestJobTokenSurvivesUpgrade(t *testing.T) {
	t.Parallel()
	const ns, release, secret, key = "chart-job-token", "relay", "relay-job-token", "shared"
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := ensureNamespace(ctx, ns); err != nil {
		t.Fatal(err)
	}
	secrets := dyn.Resource(schema.GroupVersionResource{Version: "v1", Resource: "secrets"}).Namespace(ns)
	made, err := secrets.Create(ctx, &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "Secret",
		"metadata":   map[string]any{"name": secret},
		"stringData": map[string]any{key: "the-token-made-once-before-install-42"},
	}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}

	c := chartCase{name: "job-token", release: release, namespace: ns, fullname: "relay-ytx"}
	base := []string{"--set", "transport=http", "--set", "jobToken.secretName=" + secret, "--set", "jobToken.key=" + key}
	upgrades := [][]string{
		base, // install
		append(slices.Clone(base), "--set", "image.tag=0.2.0", "--set", "worker.replicas=5", "--set", "controller.heartbeatTimeout=3m"),
	}
	var renders []*rendered
	for _, extra := range upgrades {
		objs, err := render(release, ns, extra...)
		if err != nil {
			t.Fatal(err)
		}
		r := newRendered(t, c, objs)
		checkJobToken(t, r, tokenRef{secret, key})
		renders = append(renders, r)
		applyAll(t, objs)
	}

	// Both renders: the same Secret key on both sides, and the same
	// Secret object if the chart renders one (it renders none).
	for _, r := range renders[1:] {
		for _, component := range []string{"controller", "worker"} {
			if a, b := jobTokenOf(t, renders[0], component), jobTokenOf(t, r, component); a != b {
				t.Errorf("%s: the install reads the token from %+v, the upgrade from %+v", component, a, b)
			}
		}
		if a, b := renderedSecret(renders[0], secret), renderedSecret(r, secret); !reflect.DeepEqual(a, b) {
			t.Errorf("the Secret %s differs between install and upgrade: the token would change with every upgrade", secret)
		}
	}
	// The live Secret: the one made before the install, not written by
	// either apply.
	live, err := secrets.Get(ctx, secret, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	wasData, _, _ := unstructured.NestedMap(made.Object, "data")
	nowData, _, _ := unstructured.NestedMap(live.Object, "data")
	if live.GetResourceVersion() != made.GetResourceVersion() || !maps.Equal(wasData, nowData) {
		t.Errorf("the Secret %s was rewritten by the install or the upgrade (resourceVersion %s → %s)", secret, made.GetResourceVersion(), live.GetResourceVersion())
	}
	if len(nowData) != 1 || nowData[key] == nil {
		t.Errorf("the Secret %s has keys %v, want only %s", secret, slices.Collect(maps.Keys(nowData)), key)
	}
}

// renderedSecret is the data of the Secret name if the render holds one,
// else nil.
func renderedSecret(r *rendered, name string) map[string]any {
	for _, o := range r.ofKind("Secret") {
		if o.GetName() == name {
			out := map[string]any{}
			for _, field := range []string{"data", "stringData"} {
				if m, ok, _ := unstructured.NestedMap(o.Object, field); ok {
					out[field] = m
				}
			}
			return out
		}
	}
	return nil
}
