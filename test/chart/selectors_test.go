package chart_test

import (
	"fmt"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
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
// fails on a selector that selects every pod (empty), none (nil), or
// another component's pods too (the controller's, the workers', the doctor
// CronJob's), and passes only on one that picks exactly its component's
// pods: the workers' Deployment's, or the doctor's CronJob's.
func TestCheckSelectsRefusesEmpty(t *testing.T) {
	podLabels := func(component string) map[string]string {
		return map[string]string{
			"app.kubernetes.io/name": "ytx", "app.kubernetes.io/instance": "demo", "app.kubernetes.io/component": component,
		}
	}
	dep := func(component string) *pods {
		d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "demo-ytx-" + component}}
		d.Spec.Template = corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: podLabels(component)}}
		return podsOf(d)
	}
	cj := &batchv1.CronJob{ObjectMeta: metav1.ObjectMeta{Name: "demo-ytx-doctor"}}
	cj.Spec.JobTemplate.Spec.Template = corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: podLabels("doctor")}}
	ctrl, work, doctor := dep("controller"), dep("worker"), cronJobPods(cj)
	all := []*pods{ctrl, work, doctor}
	fromLabelSelector := func(s *metav1.LabelSelector) labels.Selector {
		return labelSelector(t, s)
	}
	for _, c := range []struct {
		name string
		sel  labels.Selector
		of   *pods
		ok   bool
	}{
		{"exact", labels.SelectorFromSet(work.template.Labels), work, true},
		{"exact, expressions", fromLabelSelector(&metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
			{Key: "app.kubernetes.io/component", Operator: metav1.LabelSelectorOpIn, Values: []string{"worker"}},
		}}), work, true},
		{"empty map", labels.SelectorFromSet(nil), work, false},
		{"empty podSelector {}", fromLabelSelector(&metav1.LabelSelector{}), work, false},
		{"empty matchLabels", fromLabelSelector(&metav1.LabelSelector{MatchLabels: map[string]string{}}), work, false},
		{"nil selector", fromLabelSelector(nil), work, false},
		{"nil", nil, work, false},
		{"every component", labels.SelectorFromSet(map[string]string{"app.kubernetes.io/name": "ytx"}), work, false},
		{"the other component", labels.SelectorFromSet(ctrl.template.Labels), work, false},
		{"the workers and the doctor", fromLabelSelector(&metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
			{Key: "app.kubernetes.io/component", Operator: metav1.LabelSelectorOpIn, Values: []string{"worker", "doctor"}},
		}}), work, false},
		{"no pod of the release", labels.SelectorFromSet(map[string]string{"strimzi.io/cluster": "demo-ytx-kafka"}), work, false},
		{"doctor, exact", labels.SelectorFromSet(doctor.template.Labels), doctor, true},
		{"doctor, empty podSelector {}", fromLabelSelector(&metav1.LabelSelector{}), doctor, false},
		{"doctor, every component", labels.SelectorFromSet(map[string]string{"app.kubernetes.io/instance": "demo"}), doctor, false},
		{"doctor, the workers'", labels.SelectorFromSet(work.template.Labels), doctor, false},
		{"doctor, the workers and the doctor", fromLabelSelector(&metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
			{Key: "app.kubernetes.io/component", Operator: metav1.LabelSelectorOpNotIn, Values: []string{"controller"}},
		}}), doctor, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			var r recorder
			checkSelects(&r, "the selector", c.sel, c.of, all)
			if c.ok && len(r.errs) > 0 {
				t.Errorf("refused: %q", r.errs)
			}
			if !c.ok && len(r.errs) == 0 {
				t.Errorf("passed %v", c.sel)
			}
		})
	}

	// Alone, a pod template has nothing to be told from: the check says
	// so rather than pass.
	var r recorder
	checkSelects(&r, "the selector", labels.SelectorFromSet(doctor.template.Labels), doctor, []*pods{doctor})
	if len(r.errs) == 0 {
		t.Error("passed with no other pod template to tell the doctor's from")
	}
}
