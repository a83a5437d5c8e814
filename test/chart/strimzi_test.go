package chart_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation"
)

// strimziName is a name that Strimzi derives from the Kafka cluster's and
// the node pool's names, and the Kubernetes rule it must pass.
type strimziName struct {
	name, what string
	valid      func(string) []string
}

// strimziNames lists what Strimzi 1.2.0 makes of a Kafka cluster with one
// node pool, from its source: api/.../KafkaResources.java (pods, Services,
// the entity operator), cluster-operator/.../model/KafkaPool.java (the pod
// set <cluster>-<pool> and its pods), model/WorkloadUtils.java (a pod's
// hostname and label strimzi.io/pod-name are its name),
// model/EntityTopicOperator.java and EntityUserOperator.java (their
// component names, which operator-common's Labels.generateDefaultLabels puts
// in the label strimzi.io/name). Node IDs are 0 to replicas-1, as Strimzi
// gives them to a cluster's only pool.
func strimziNames(cluster, pool string, replicas int) []strimziName {
	label := validation.IsValidLabelValue
	names := []strimziName{
		{cluster, "label strimzi.io/cluster", label},
		{pool, "label strimzi.io/pool-name", label},
		{cluster + "-" + pool, "label strimzi.io/controller-name (the StrimziPodSet)", label},
		{cluster + "-kafka", "label strimzi.io/name of the Kafka nodes", label},
		{cluster + "-entity-operator", "label strimzi.io/name of the entity operator", label},
		{cluster + "-entity-topic-operator", "label strimzi.io/name of the Topic Operator's objects", label},
		{cluster + "-entity-user-operator", "label strimzi.io/name of the User Operator's objects", label},
		{cluster + "-kafka-bootstrap", "Service", validation.IsDNS1035Label},
		{cluster + "-kafka-brokers", "Service", validation.IsDNS1035Label},
	}
	for id := range replicas {
		pod := fmt.Sprintf("%s-%s-%d", cluster, pool, id)
		names = append(names,
			strimziName{pod, "pod hostname", validation.IsDNS1123Label},
			strimziName{pod, "label strimzi.io/pod-name", label})
	}
	return names
}

// strimziNameCase is one release and its values: either every name Strimzi
// derives fits Kubernetes' rules, the longest being longest characters, or
// `helm template` fails naming tooLong and saying what to shorten (want),
// and tooLong is indeed refused by Kubernetes' rules.
type strimziNameCase struct {
	name, release string
	args          []string
	longest       int
	tooLong       string
	want          []string
}

func checkStrimziNames(t *testing.T, cases []strimziNameCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			objs, err := render(c.release, "chart-strimzi-names", c.args...)
			if c.tooLong != "" {
				if err == nil {
					t.Fatalf("helm template succeeded; want it to refuse %s (%d characters)", c.tooLong, len(c.tooLong))
				}
				for _, w := range append([]string{c.tooLong, fmt.Sprintf("(%d characters", len(c.tooLong))}, c.want...) {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("the error does not say %q:\n%v", w, err)
					}
				}
				// The chart's limit is Kubernetes' own: the name it refuses
				// is one that Kubernetes refuses.
				if len(validation.IsValidLabelValue(c.tooLong)) == 0 {
					t.Errorf("%s (%d characters) is a valid label value: the chart refuses what Kubernetes accepts", c.tooLong, len(c.tooLong))
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var cluster, pool *unstructured.Unstructured
			for _, o := range objs {
				switch o.GetKind() {
				case "Kafka":
					cluster = o
				case "KafkaNodePool":
					pool = o
				}
			}
			if cluster == nil || pool == nil {
				t.Fatal("no Kafka or KafkaNodePool rendered")
			}
			if got := pool.GetLabels()["strimzi.io/cluster"]; got != cluster.GetName() {
				t.Fatalf("the KafkaNodePool belongs to %q, not to the Kafka %s", got, cluster.GetName())
			}
			replicas, _, _ := unstructured.NestedInt64(pool.Object, "spec", "replicas")
			longest := 0
			for _, n := range strimziNames(cluster.GetName(), pool.GetName(), int(replicas)) {
				for _, msg := range n.valid(n.name) {
					t.Errorf("Strimzi would make the %s %s: %s", n.what, n.name, msg)
				}
				longest = max(longest, len(n.name))
			}
			if longest != c.longest {
				t.Errorf("the longest name Strimzi would derive has %d characters, want %d", longest, c.longest)
			}
		})
	}
}

// TestStrimziPodNamesFit: the pod of each Kafka node, <cluster>-<pool>-<id>,
// is also its hostname and a label value, so 63 characters at most;
// `helm template` refuses a release whose pods would be longer, naming the
// pod and the value to shorten. With the pool named after the full name,
// a full name of 27 characters fits with up to 10 nodes.
func TestStrimziPodNamesFit(t *testing.T) {
	fn27 := "r" + strings.Repeat("a", 22) // 23 characters; full name r...-ytx, 27
	checkStrimziNames(t, []strimziNameCase{
		{name: "youtube-extractor-prod", release: "youtube-extractor-prod",
			longest: len("youtube-extractor-prod-ytx-kafka-youtube-extractor-prod-ytx-0")},
		{name: "63-with-10-nodes", release: fn27, args: []string{"--set", "kafka.strimzi.replicas=10"}, longest: 63},
		{name: "64-with-11-nodes", release: fn27, args: []string{"--set", "kafka.strimzi.replicas=11"},
			tooLong: fn27 + "-ytx-kafka-" + fn27 + "-ytx-10",
			want: []string{"pod of Kafka node 10", "the node pool is named after the full name",
				"a release name of at most 22 characters", "fullnameOverride set to a name of at most 26 characters",
				"set kafka.strimzi.poolName to a name of at most 26 characters that no other KafkaNodePool in namespace chart-strimzi-names has"}},
		// A pool name of one's own: 20 + 6 + 1 + 34 + 2 = 63.
		{name: "63-own-pool-name", release: "x", args: []string{"--set", "fullnameOverride=" + strings.Repeat("f", 20),
			"--set", "kafka.strimzi.poolName=" + strings.Repeat("p", 34)}, longest: 63},
		{name: "64-own-pool-name", release: "x", args: []string{"--set", "fullnameOverride=" + strings.Repeat("f", 20),
			"--set", "kafka.strimzi.poolName=" + strings.Repeat("p", 35)},
			tooLong: strings.Repeat("f", 20) + "-kafka-" + strings.Repeat("p", 35) + "-0",
			want: []string{"shorten kafka.strimzi.poolName (" + strings.Repeat("p", 35) + ") to at most 34 characters",
				"or shorten fullnameOverride (" + strings.Repeat("f", 20) + ") to at most 19 characters"}},
		{name: "nameOverride", release: "b", args: []string{"--set", "nameOverride=" + strings.Repeat("n", 26)},
			tooLong: "b-" + strings.Repeat("n", 26) + "-kafka-b-" + strings.Repeat("n", 26) + "-0",
			want:    []string{"(release name, dash, nameOverride) to at most 27 characters: a shorter release name or nameOverride"}},
	})
}

// TestStrimziClusterNamesFit: of the names Strimzi derives from the Kafka
// cluster's name alone, <cluster>-entity-topic-operator is the longest (a
// label value, and the Topic Operator's certificate name): 63 characters at
// most, so a full name of 35 with a short pool name.
func TestStrimziClusterNamesFit(t *testing.T) {
	fn35, fn36 := "ytx-"+strings.Repeat("a", 31), "ytx-"+strings.Repeat("a", 32) // contain ytx: the full name is the release name
	checkStrimziNames(t, []strimziNameCase{
		{name: "63-release-name", release: fn35, args: []string{"--set", "kafka.strimzi.poolName=p"}, longest: 63},
		{name: "64-release-name", release: fn36, args: []string{"--set", "kafka.strimzi.poolName=p"},
			tooLong: fn36 + "-kafka-entity-topic-operator",
			want: []string{"the Kafka cluster name " + fn36 + "-kafka is too long",
				"shorten the release name (" + fn36 + ", the full name as it contains ytx) to at most 35 characters",
				"or set fullnameOverride to a name of at most 35 characters"}},
		{name: "63-fullnameOverride", release: "x", args: []string{"--set", "fullnameOverride=" + strings.Repeat("f", 35), "--set", "kafka.strimzi.poolName=p"}, longest: 63},
		{name: "64-fullnameOverride", release: "x", args: []string{"--set", "fullnameOverride=" + strings.Repeat("f", 36), "--set", "kafka.strimzi.poolName=p"},
			tooLong: strings.Repeat("f", 36) + "-kafka-entity-topic-operator",
			want:    []string{"shorten fullnameOverride (" + strings.Repeat("f", 36) + ") to at most 35 characters"}},
	})
}

// TestStrimziServesV1Only: like Strimzi 1.x, the stand-in CRDs serve
// kafka.strimzi.io/v1 only, so an object rendered as v1beta2 is refused
// here as on a cluster; and the chart refuses kafka.strimzi.apiVersion
// v1beta2 before rendering anything.
func TestStrimziServesV1Only(t *testing.T) {
	_, err := render("old", "chart-strimzi-v1", "--set", "kafka.strimzi.apiVersion=kafka.strimzi.io/v1beta2")
	if err == nil || !strings.Contains(err.Error(), "/kafka/strimzi/apiVersion") || !strings.Contains(err.Error(), "'kafka.strimzi.io/v1'") {
		t.Errorf("kafka.strimzi.apiVersion=kafka.strimzi.io/v1beta2: %v; want the schema to refuse it and name kafka.strimzi.io/v1", err)
	}
	objs, err := render("old", "chart-strimzi-v1")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := ensureNamespace(ctx, "chart-strimzi-v1"); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, o := range objs {
		if o.GroupVersionKind().Group != "kafka.strimzi.io" || seen[o.GetKind()] {
			continue
		}
		seen[o.GetKind()] = true
		if err := apply(ctx, o); err != nil {
			t.Errorf("%s as rendered (v1): %v", o.GetKind(), err)
		}
		old := o.DeepCopy()
		old.SetAPIVersion("kafka.strimzi.io/v1beta2")
		if err := apply(ctx, old); !meta.IsNoMatchError(err) {
			t.Errorf("%s as kafka.strimzi.io/v1beta2: %v; want no such kind, as Strimzi 1.x serves only v1", o.GetKind(), err)
		}
	}
	if len(seen) != 4 {
		t.Errorf("the chart rendered the Strimzi kinds %v, want Kafka, KafkaNodePool, KafkaTopic and KafkaUser", seen)
	}
}

// TestStrimziPoolRenameRefusedOnUpgrade: an upgrade never renames the node
// pool of an installed release (Strimzi would replace the cluster's nodes
// with new, empty ones). A release installed with the pool's old name
// <fullname>-kafka-pool, then upgraded without kafka.strimzi.poolName, is
// refused by `helm upgrade` with the value to set; with it, the upgrade
// goes through and the pool is the same object. A pool whose pods could
// never be created (names too long) is to be deleted instead.
func TestStrimziPoolRenameRefusedOnUpgrade(t *testing.T) {
	t.Parallel()
	const ns = "chart-strimzi-upgrade"
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	if err := apiServer.WriteKubeconfig(kubeconfig); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := ensureNamespace(ctx, ns); err != nil {
		t.Fatal(err)
	}
	pools := dyn.Resource(schema.GroupVersionResource{Group: "kafka.strimzi.io", Version: "v1", Resource: "kafkanodepools"}).Namespace(ns)
	// The test's API server has the CRD already; crds.enabled=false leaves
	// it alone instead of trying to take it over.
	helmIn := func(verb, release string, args ...string) error {
		_, err := helm(append([]string{verb, release, chartDir, "--namespace", ns, "--kubeconfig", kubeconfig, "--set", "crds.enabled=false"}, args...)...)
		return err
	}

	// An install whose pool has the old name, as the chart named it before.
	const release, old = "keep", "keep-ytx-kafka-pool"
	if err := helmIn("install", release, "--set", "kafka.strimzi.poolName="+old); err != nil {
		t.Fatal(err)
	}
	before, err := pools.Get(ctx, old, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("the install made no KafkaNodePool %s: %v", old, err)
	}
	// With values of its own (no values at all would make Helm reuse the
	// install's), as an upgrade with a values file that predates poolName.
	err = helmIn("upgrade", release, "--set", "kafka.strimzi.replicas=3")
	for _, w := range []string{"Kafka cluster keep-ytx-kafka has the node pool " + old, "rename it keep-ytx", "set kafka.strimzi.poolName=" + old} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("helm upgrade without kafka.strimzi.poolName: %v; want it refused, saying %q", err, w)
		}
	}
	if err := helmIn("upgrade", release, "--set", "kafka.strimzi.poolName="+old, "--set", "kafka.strimzi.replicas=3"); err != nil {
		t.Fatalf("helm upgrade that keeps the pool's name: %v", err)
	}
	after, err := pools.Get(ctx, old, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if after.GetUID() != before.GetUID() {
		t.Errorf("the KafkaNodePool %s was replaced by the upgrade", old)
	}
	if r, _, _ := unstructured.NestedInt64(after.Object, "spec", "replicas"); r != 3 {
		t.Errorf("the kept pool has %d replicas after the upgrade, want 3", r)
	}

	// A release whose old pool's pods were too long ever to exist: the
	// message says to delete it. Its pool is made here as the old chart
	// left it (the new chart refuses to render that name).
	const long = "twenty-three-chars-long" // full name long-...-ytx, 27
	if err := helmIn("install", long); err != nil {
		t.Fatal(err)
	}
	oldLong := long + "-ytx-kafka-pool"
	if _, err := pools.Create(ctx, &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "kafka.strimzi.io/v1", "kind": "KafkaNodePool",
		"metadata": map[string]any{
			"name":        oldLong,
			"labels":      map[string]any{"strimzi.io/cluster": long + "-ytx-kafka", "app.kubernetes.io/managed-by": "Helm"},
			"annotations": map[string]any{"meta.helm.sh/release-name": long, "meta.helm.sh/release-namespace": ns},
		},
		"spec": map[string]any{"replicas": int64(1), "roles": []any{"controller", "broker"}, "storage": map[string]any{"type": "ephemeral"}},
	}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	err = helmIn("upgrade", long)
	for _, w := range []string{"has the node pool " + oldLong, "never ran a Kafka node", "kubectl -n " + ns + " delete kafkanodepool " + oldLong} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("helm upgrade with a pool that never ran: %v; want it refused, saying %q", err, w)
		}
	}
	// Once it is deleted, the upgrade goes through; a pool added to the
	// cluster by hand (not Helm's) is none of the chart's business.
	if err := pools.Delete(ctx, oldLong, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := pools.Create(ctx, &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "kafka.strimzi.io/v1", "kind": "KafkaNodePool",
		"metadata": map[string]any{"name": "by-hand", "labels": map[string]any{"strimzi.io/cluster": long + "-ytx-kafka"}},
		"spec":     map[string]any{"replicas": int64(1), "roles": []any{"broker"}, "storage": map[string]any{"type": "ephemeral"}},
	}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := helmIn("upgrade", long); err != nil {
		t.Errorf("helm upgrade with the old pool deleted and a pool added by hand: %v", err)
	}
}
