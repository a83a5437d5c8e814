package chart_test

import (
	"fmt"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// recorder is an errorf that keeps what it was told.
type recorder struct{ errs []string }

func (r *recorder) Helper() {}
func (r *recorder) Errorf(format string, args ...any) {
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

// TestCheckSelectsRefusesEmpty: the selector check of the chart tests
// fails on a selector that selects every pod (empty), none (nil), or the
// other component's pods too, and passes only on one that picks exactly
// its Deployment's pods.
func TestCheckSelectsRefusesEmpty(t *testing.T) {
	dep := func(component string) *appsv1.Deployment {
		d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "demo-ytx-" + component}}
		d.Spec.Template = corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{
			"app.kubernetes.io/name": "ytx", "app.kubernetes.io/instance": "demo", "app.kubernetes.io/component": component,
		}}}
		return d
	}
	ctrl, work := dep("controller"), dep("worker")
	all := []*appsv1.Deployment{ctrl, work}
	fromLabelSelector := func(s *metav1.LabelSelector) labels.Selector {
		return labelSelector(t, s)
	}
	for _, c := range []struct {
		name string
		sel  labels.Selector
		ok   bool
	}{
		{"exact", labels.SelectorFromSet(work.Spec.Template.Labels), true},
		{"exact, expressions", fromLabelSelector(&metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
			{Key: "app.kubernetes.io/component", Operator: metav1.LabelSelectorOpIn, Values: []string{"worker"}},
		}}), true},
		{"empty map", labels.SelectorFromSet(nil), false},
		{"empty podSelector {}", fromLabelSelector(&metav1.LabelSelector{}), false},
		{"empty matchLabels", fromLabelSelector(&metav1.LabelSelector{MatchLabels: map[string]string{}}), false},
		{"nil selector", fromLabelSelector(nil), false},
		{"nil", nil, false},
		{"both components", labels.SelectorFromSet(map[string]string{"app.kubernetes.io/name": "ytx"}), false},
		{"the other component", labels.SelectorFromSet(ctrl.Spec.Template.Labels), false},
		{"no pod of the release", labels.SelectorFromSet(map[string]string{"strimzi.io/cluster": "demo-ytx-kafka"}), false},
	} {
		t.Run(c.name, func(t *testing.T) {
			var r recorder
			checkSelects(&r, "the selector", c.sel, work, all)
			if c.ok && len(r.errs) > 0 {
				t.Errorf("refused: %q", r.errs)
			}
			if !c.ok && len(r.errs) == 0 {
				t.Errorf("passed %v", c.sel)
			}
		})
	}
}
