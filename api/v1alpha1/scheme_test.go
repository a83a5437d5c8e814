package v1alpha1_test

import (
	"os/exec"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/runtime"

	"ytx.dev/ytx/api/v1alpha1"
)

// TestAddToSchemeRegistersEveryKind: a client that adds the package to its
// scheme can encode and decode each kind, and list options for it.
func TestAddToSchemeRegistersEveryKind(t *testing.T) {
	s := runtime.NewScheme()
	if err := v1alpha1.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	for _, obj := range []runtime.Object{&v1alpha1.YouTubeExtraction{}, &v1alpha1.YouTubeExtractionList{}, &v1alpha1.YouTubePlaylist{}, &v1alpha1.YouTubePlaylistList{}} {
		gvks, _, err := s.ObjectKinds(obj)
		if err != nil {
			t.Errorf("%T: %v", obj, err)
			continue
		}
		if len(gvks) != 1 || gvks[0].GroupVersion() != v1alpha1.GroupVersion {
			t.Errorf("%T is registered as %v, want one kind in %s", obj, gvks, v1alpha1.GroupVersion)
		}
	}
	// metav1.AddToGroupVersion: the group version knows ListOptions, which
	// clients send with every list and watch.
	if !s.Recognizes(v1alpha1.GroupVersion.WithKind("ListOptions")) {
		t.Error("ListOptions is not registered in the group version")
	}
}

// TestAPIDependsOnApimachineryAlone: a program that imports the API types
// to read or write YouTubeExtractions must not link controller-runtime or
// client-go for it.
func TestAPIDependsOnApimachineryAlone(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "ytx.dev/ytx/api/v1alpha1").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	deps := strings.Fields(string(out))
	if !contains(deps, "k8s.io/apimachinery/pkg/runtime") {
		t.Fatalf("the dependency list has no k8s.io/apimachinery/pkg/runtime; it is not the API's: %v", deps)
	}
	for _, d := range deps {
		for _, banned := range []string{"sigs.k8s.io/controller-runtime", "k8s.io/client-go"} {
			if d == banned || strings.HasPrefix(d, banned+"/") {
				t.Errorf("the API package depends on %s", d)
			}
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
