package chart_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/yaml"
)

// TestChartCRDsAreGenerated: the chart's CRD templates
// (templates/crds/, which `make manifests` writes) render exactly the CRDs
// that controller-gen writes to config/crd/bases, one template for each
// and nothing else: with the keep annotation by default, without it with
// crds.keep=false, and not at all with crds.enabled=false.
func TestChartCRDsAreGenerated(t *testing.T) {
	generated, err := filepath.Glob(filepath.Join(repoRoot, "config", "crd", "bases", "*.yaml"))
	if err != nil || len(generated) == 0 {
		t.Fatalf("no CRDs in config/crd/bases (%v)", err)
	}
	inChart, err := filepath.Glob(filepath.Join(chartDir, "templates", "crds", "*"))
	if err != nil {
		t.Fatal(err)
	}
	var want, got []string
	for _, p := range generated {
		want = append(want, filepath.Base(p))
	}
	for _, p := range inChart {
		got = append(got, filepath.Base(p))
	}
	if !slices.Equal(got, want) {
		t.Fatalf("charts/ytx/templates/crds holds %q, config/crd/bases %q: run `make manifests`", got, want)
	}
	if fileExists(filepath.Join(chartDir, "crds")) {
		t.Error("charts/ytx/crds exists: Helm would install that CRD too, and never upgrade it")
	}
	for _, name := range want {
		data, err := os.ReadFile(filepath.Join(repoRoot, "config", "crd", "bases", name))
		if err != nil {
			t.Fatal(err)
		}
		base, err := decodeObjects(string(data))
		if err != nil || len(base) != 1 {
			t.Fatalf("config/crd/bases/%s: %d objects, %v", name, len(base), err)
		}
		for _, keep := range []bool{true, false} {
			out, err := helm("template", "demo", chartDir, "--show-only", "templates/crds/"+name, "--set", fmt.Sprintf("crds.keep=%v", keep))
			if err != nil {
				t.Fatal(err)
			}
			objs, err := decodeObjects(out)
			if err != nil || len(objs) != 1 {
				t.Fatalf("templates/crds/%s with crds.keep=%v: %d objects, %v", name, keep, len(objs), err)
			}
			wantObj := base[0].DeepCopy()
			if keep {
				a := wantObj.GetAnnotations()
				a["helm.sh/resource-policy"] = "keep"
				wantObj.SetAnnotations(a)
			}
			if !reflect.DeepEqual(objs[0].Object, wantObj.Object) {
				t.Errorf("templates/crds/%s with crds.keep=%v renders\n%v\nwant config/crd/bases/%s%s:\n%v: run `make manifests`", name, keep, objs[0].Object,
					name, map[bool]string{true: " with helm.sh/resource-policy: keep", false: ""}[keep], wantObj.Object)
			}
		}
	}
	objs, err := render("demo", "default", "--set", "crds.enabled=false")
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		if o.GetKind() == "CustomResourceDefinition" {
			t.Errorf("crds.enabled=false renders CustomResourceDefinition %s", o.GetName())
		}
	}
	if len(objs) == 0 {
		t.Error("crds.enabled=false renders nothing at all")
	}
}

// permission is one verb on one resource, the unit RBAC rules grant.
type permission struct{ group, resource, name, verb string }

func permissions(rules []rbacv1.PolicyRule) []permission {
	var out []permission
	for _, r := range rules {
		names := r.ResourceNames
		if len(names) == 0 {
			names = []string{""}
		}
		for _, g := range r.APIGroups {
			for _, res := range r.Resources {
				for _, n := range names {
					for _, v := range r.Verbs {
						out = append(out, permission{g, res, n, v})
					}
				}
			}
		}
		for _, u := range r.NonResourceURLs {
			for _, v := range r.Verbs {
				out = append(out, permission{"", u, "", v})
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return fmt.Sprint(out[i]) < fmt.Sprint(out[j]) })
	return slices.Compact(out)
}

// generatedRules reads config/rbac/<dir>/role.yaml, which controller-gen
// writes from the +kubebuilder:rbac markers.
func generatedRules(t *testing.T, dir string) (leases, others []permission) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot, "config", "rbac", dir, "role.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var role rbacv1.ClusterRole
	if err := yaml.UnmarshalStrict(data, &role); err != nil {
		t.Fatalf("config/rbac/%s/role.yaml: %v", dir, err)
	}
	for _, p := range permissions(role.Rules) {
		if p.group == "coordination.k8s.io" && p.resource == "leases" {
			leases = append(leases, p)
		} else {
			others = append(others, p)
		}
	}
	return leases, others
}

func renderedRules(t *testing.T, u *unstructured.Unstructured) []permission {
	t.Helper()
	var rules struct {
		Rules []rbacv1.PolicyRule `json:"rules"`
	}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &rules); err != nil {
		t.Fatal(err)
	}
	return permissions(rules.Rules)
}

// TestRBACMatchesGenerated: the chart's roles grant exactly what
// controller-gen generated from the code's markers: the same permissions
// cluster-wide or in each watched namespace, and the leases in the
// leader-election Role.
func TestRBACMatchesGenerated(t *testing.T) {
	cluster, err := render("demo", "rbac", "--set", "kafka.strimzi.enabled=true")
	if err != nil {
		t.Fatal(err)
	}
	scoped, err := render("demo", "rbac", "-f", filepath.Join("testdata", "values-namespaced.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	find := func(objs []*unstructured.Unstructured, kind, name, ns string) *unstructured.Unstructured {
		for _, o := range objs {
			if o.GetKind() == kind && o.GetName() == name && o.GetNamespace() == ns {
				return o
			}
		}
		t.Fatalf("no %s %s/%s rendered", kind, ns, name)
		return nil
	}
	for component, dir := range map[string]string{"controller": "manager", "worker": "worker"} {
		leases, want := generatedRules(t, dir)
		if len(want) == 0 {
			t.Fatalf("config/rbac/%s/role.yaml grants nothing", dir)
		}
		if got := renderedRules(t, find(cluster, "ClusterRole", "demo-ytx-"+component, "")); !slices.Equal(got, want) {
			t.Errorf("ClusterRole demo-ytx-%s:\n got %v\nwant %v (config/rbac/%s/role.yaml without leases)", component, got, want, dir)
		}
		for _, ns := range []string{"ytx-watch-a", "ytx-watch-b"} {
			if got := renderedRules(t, find(scoped, "Role", "demo-ytx-"+component, ns)); !slices.Equal(got, want) {
				t.Errorf("Role %s/demo-ytx-%s:\n got %v\nwant %v", ns, component, got, want)
			}
		}
		// Leases: what the code asks for is granted in the release's namespace.
		for _, objs := range [][]*unstructured.Unstructured{cluster, scoped} {
			granted := renderedRules(t, find(objs, "Role", "demo-ytx-controller-leader-election", "rbac"))
			for _, p := range leases {
				if !slices.Contains(granted, p) {
					t.Errorf("the leader-election Role does not grant %v", p)
				}
			}
		}
	}
}

// TestReadmeListsEveryValue: the values table of charts/ytx/README.md has a
// row for every key of values.yaml, and none for keys that do not exist.
func TestReadmeListsEveryValue(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(chartDir, "values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var values map[string]any
	if err := yaml.Unmarshal(data, &values); err != nil {
		t.Fatal(err)
	}
	// Objects passed on as they are get one row.
	opaque := map[string]bool{"controller.resources": true, "worker.resources": true, "youtube.doctor.resources": true, "kafka.strimzi.storage": true, "storage.s3.trialServer.resources": true}
	var keys []string
	var walk func(prefix string, m map[string]any)
	walk = func(prefix string, m map[string]any) {
		for k, v := range m {
			key := prefix + k
			if sub, ok := v.(map[string]any); ok && len(sub) > 0 && !opaque[key] {
				walk(key+".", sub)
				continue
			}
			keys = append(keys, key)
		}
	}
	walk("", values)
	sort.Strings(keys)

	readme, err := os.ReadFile(filepath.Join(chartDir, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, table, ok := bytes.Cut(readme, []byte("\n## Values\n"))
	if !ok {
		t.Fatal("README.md has no ## Values section")
	}
	table, _, _ = bytes.Cut(table, []byte("\n## "))
	var rows []string
	for _, line := range bytes.Split(table, []byte("\n")) {
		if rest, ok := bytes.CutPrefix(line, []byte("| `")); ok {
			key, _, _ := bytes.Cut(rest, []byte("`"))
			rows = append(rows, string(key))
		}
	}
	sort.Strings(rows)
	if !slices.Equal(rows, keys) {
		for _, k := range keys {
			if !slices.Contains(rows, k) {
				t.Errorf("README.md does not list %s", k)
			}
		}
		for _, k := range rows {
			if !slices.Contains(keys, k) {
				t.Errorf("README.md lists %s, which values.yaml does not have", k)
			}
		}
	}
}

// TestSchemaIsClosed: every object in values.schema.json that declares its
// properties refuses others, so that a misspelt key fails.
func TestSchemaIsClosed(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(chartDir, "values.schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	var root map[string]any
	if err := json.Unmarshal(data, &root); err != nil {
		t.Fatal(err)
	}
	if root["$schema"] != "http://json-schema.org/draft-07/schema#" {
		t.Errorf("$schema %v, want draft-07", root["$schema"])
	}
	var walk func(path string, node any)
	walk = func(path string, node any) {
		switch n := node.(type) {
		case map[string]any:
			if _, ok := n["properties"]; ok && n["additionalProperties"] != false {
				t.Errorf("%s: declares properties but allows others", path)
			}
			for k, v := range n {
				walk(path+"/"+k, v)
			}
		case []any:
			for i, v := range n {
				walk(fmt.Sprintf("%s/%d", path, i), v)
			}
		}
	}
	walk("#", root)
}
