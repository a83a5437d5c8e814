// Package objtest helps tests look at a Kubernetes object as its JSON:
// which of the fields a list of paths names hold a value.
package objtest

import (
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
)

// Held reports, for each JSON path ("status.metadata"), whether obj has a
// value there: present and not null.
func Held(obj runtime.Object, paths []string) (map[string]bool, error) {
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return nil, err
	}
	held := map[string]bool{}
	for _, p := range paths {
		v, found, err := unstructured.NestedFieldNoCopy(m, strings.Split(p, ".")...)
		held[p] = err == nil && found && v != nil
	}
	return held, nil
}
