package chart_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// TestStandInCRDsRejectMisspeltFields proves that the other operators' CRDs
// the tests load (Strimzi's stand-ins, KEDA's and the Prometheus Operator's
// own) bite: a rendered object with one field misspelt is refused by
// server-side apply with strict field validation, while the object as
// rendered is accepted.
func TestStandInCRDsRejectMisspeltFields(t *testing.T) {
	const ns = "chart-standins"
	objs, err := render("bite", ns, "--set", "keda.enabled=true", "--set", "metrics.serviceMonitor.enabled=true")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := ensureNamespace(ctx, ns); err != nil {
		t.Fatal(err)
	}
	byKind := map[string]*unstructured.Unstructured{}
	for _, o := range objs {
		if _, ok := byKind[o.GetKind()]; !ok {
			byKind[o.GetKind()] = o
		}
	}
	for _, c := range []struct {
		kind     string
		from, to []string // a field path and its misspelling
	}{
		{"Kafka", []string{"spec", "kafka", "listeners"}, []string{"spec", "kafka", "listener"}},
		{"Kafka", []string{"spec", "entityOperator"}, []string{"spec", "entityOperators"}},
		{"KafkaNodePool", []string{"spec", "roles"}, []string{"spec", "role"}},
		{"KafkaNodePool", []string{"spec", "storage", "size"}, []string{"spec", "storage", "sise"}},
		{"KafkaTopic", []string{"spec", "topicName"}, []string{"spec", "topic"}},
		{"KafkaUser", []string{"spec", "authentication"}, []string{"spec", "authentications"}},
		{"ScaledObject", []string{"spec", "minReplicaCount"}, []string{"spec", "minReplicas"}},
		{"TriggerAuthentication", []string{"spec", "secretTargetRef"}, []string{"spec", "secretTargetRefs"}},
		{"ServiceMonitor", []string{"spec", "endpoints"}, []string{"spec", "endpoint"}},
	} {
		orig := byKind[c.kind]
		if orig == nil {
			t.Fatalf("no %s rendered", c.kind)
		}
		bad := orig.DeepCopy()
		v, ok, err := unstructured.NestedFieldCopy(bad.Object, c.from...)
		if err != nil || !ok {
			t.Fatalf("%s has no %s", c.kind, strings.Join(c.from, "."))
		}
		unstructured.RemoveNestedField(bad.Object, c.from...)
		if err := unstructured.SetNestedField(bad.Object, v, c.to...); err != nil {
			t.Fatal(err)
		}
		bad.SetName(bad.GetName() + "-misspelt")
		err = apply(ctx, bad)
		if err == nil {
			t.Errorf("%s with %s instead of %s was accepted", c.kind, strings.Join(c.to, "."), strings.Join(c.from, "."))
		} else if want := "." + strings.Join(c.to, ".") + ": field not declared in schema"; !strings.Contains(err.Error(), want) {
			t.Errorf("%s: the error does not say %s: %v", c.kind, want, err)
		}
		if err := apply(ctx, orig); err != nil {
			t.Errorf("%s as rendered: %v", c.kind, err)
		}
	}

	// A value the real CRD forbids is refused too: a KafkaUser ACL with an
	// operation Kafka does not have.
	u := byKind["KafkaUser"].DeepCopy()
	acls, _, _ := unstructured.NestedSlice(u.Object, "spec", "authorization", "acls")
	acls[0].(map[string]any)["operations"] = []any{"Wirte"}
	if err := unstructured.SetNestedSlice(u.Object, acls, "spec", "authorization", "acls"); err != nil {
		t.Fatal(err)
	}
	if err := apply(ctx, u); err == nil || !strings.Contains(err.Error(), "Unsupported value") {
		t.Errorf("a KafkaUser with operation Wirte: %v, want Unsupported value", err)
	}
}
