package chart_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"ytx.dev/ytx/internal/devenv"
)

// TestHelmUpgradeUpgradesTheCRD runs the real helm against a real
// kube-apiserver of its own (TestChart's server-side applies would own the
// CRD there): it installs a copy of the chart whose CRD lacks
// spec.thumbnail, as an older release would, and checks that a
// YouTubeExtraction with spec.thumbnail is refused; then `helm upgrade`
// with this chart must serve the field and accept that resource, keep the
// trial S3 server's keys, and `helm uninstall` must leave the CRD (and the
// resource) in place.
func TestHelmUpgradeUpgradesTheCRD(t *testing.T) {
	t.Parallel()
	assets := devenv.AssetsDir(filepath.Join(repoRoot, "bin", "k8s"))
	srv, err := devenv.StartAPIServer(assets, devenv.WithoutCRDs())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Stop() }) //nolint:errcheck
	if _, err := envtest.InstallCRDs(srv.Config, envtest.CRDInstallOptions{
		Paths: []string{filepath.Join("testdata", "crds")}, ErrorIfPathMissing: true,
	}); err != nil {
		t.Fatalf("installing the stand-in CRDs: %v", err)
	}
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	if err := srv.WriteKubeconfig(kubeconfig); err != nil {
		t.Fatal(err)
	}
	dc, err := dynamic.NewForConfig(srv.Config)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	// The older release: this chart with spec.thumbnail cut out of its CRD.
	old := filepath.Join(t.TempDir(), "ytx")
	if err := os.CopyFS(old, os.DirFS(chartDir)); err != nil {
		t.Fatal(err)
	}
	crdFile := filepath.Join(old, "templates", "crds", "ytx.dev_youtubeextractions.yaml")
	data, err := os.ReadFile(crdFile)
	if err != nil {
		t.Fatal(err)
	}
	cut := removeProperty(t, string(data), "thumbnail")
	if err := os.WriteFile(crdFile, []byte(cut), 0o644); err != nil {
		t.Fatal(err)
	}

	const ns, release = "ytx", "ytx"
	h := func(args ...string) string {
		t.Helper()
		out, err := helm(append(args, "--kubeconfig", kubeconfig, "--namespace", ns)...)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	crds := dc.Resource(schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"})
	extractions := dc.Resource(schema.GroupVersionResource{Group: "ytx.dev", Version: "v1alpha1", Resource: "youtubeextractions"}).Namespace(ns)
	servesThumbnail := func() bool {
		crd, err := crds.Get(ctx, "youtubeextractions.ytx.dev", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		versions, _, _ := unstructured.NestedSlice(crd.Object, "spec", "versions")
		for _, v := range versions {
			_, found, _ := unstructured.NestedMap(v.(map[string]any), "schema", "openAPIV3Schema", "properties", "spec", "properties", "thumbnail")
			if !found {
				return false
			}
		}
		return len(versions) > 0
	}
	// A YouTubeExtraction that uses the field, applied as kubectl apply
	// --server-side does: an unknown field is an error.
	applyExtraction := func() error {
		x := fmt.Appendf(nil, `{"apiVersion":"ytx.dev/v1alpha1","kind":"YouTubeExtraction","metadata":{"name":"thumb","namespace":%q},"spec":{"url":"https://www.youtube.com/watch?v=dQw4w9WgXcQ","thumbnail":true}}`, ns)
		_, err := extractions.Patch(ctx, "thumb", types.ApplyPatchType, x, metav1.PatchOptions{FieldManager: "kubectl", FieldValidation: "Strict"})
		return err
	}

	// An install owns the CRD only where none exists (else see the chart
	// README's "Upgrading from a chart with crds/"): this API server has
	// none of ytx's.
	for _, name := range []string{"youtubeextractions.ytx.dev", "youtubeplaylists.ytx.dev"} {
		if _, err := crds.Get(ctx, name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Fatalf("the CRD %s is there before helm install (%v): the install would not own it", name, err)
		}
	}

	out := h("install", release, old, "--create-namespace")
	if !strings.Contains(out, "STATUS: deployed") {
		t.Fatalf("helm install:\n%s", out)
	}
	// The notes say what the chosen storage needs.
	if strings.Contains(out, "crds.enabled is false") {
		t.Error("the notes of a release that manages the CRD say it does not")
	}
	checkNotes(t, out, "Storage: the chart's trial S3 server ytx-s3 (versitygw, bucket ytx)", "NOT for production",
		"the ReadWriteOnce claim ytx-s3 (20Gi, the cluster's default class)", "stays Pending, the cluster has no default", "Installing on kind / minikube / a cloud")
	for _, c := range []struct {
		set  []string
		want []string
	}{
		{[]string{"storage.type=pvc"}, []string{"Storage: the claim notes-ytx-data", "it needs a ReadWriteMany volume", "describe pvc notes-ytx-data",
			"crds.enabled is false", "kubectl apply --server-side --force-conflicts -f config/crd/bases/ytx.dev_youtubeextractions.yaml"}},
		{[]string{"storage.s3.trialServer.enabled=false", "storage.s3.bucket=media", "storage.s3.region=eu-west-1"},
			[]string{"Storage: S3 (AWS), bucket media, which must exist", "from the pods' IAM role", "read, write, list and delete"}},
		{[]string{"storage.s3.trialServer.persistence.enabled=false", "storage.s3.credentialsSecret.name=my-keys"},
			[]string{"Its files are in an emptyDir: they are lost with its pod", "Its keys are in the Secret my-keys."}},
	} {
		// A second release owns no CRD: crds.enabled=false.
		args := []string{"install", "notes", chartDir, "--dry-run=server", "--set", "crds.enabled=false"}
		for _, s := range c.set {
			args = append(args, "--set", s)
		}
		checkNotes(t, h(args...), c.want...)
	}

	if servesThumbnail() {
		t.Fatal("the older release's CRD serves spec.thumbnail: the test's copy did not remove it")
	}
	// The API server may take a moment to serve a new CRD; a refusal that
	// names the field is the old schema's.
	var err0 error
	if err := waitFor(ctx, 10*time.Second, func() bool {
		err0 = applyExtraction()
		return err0 != nil && strings.Contains(err0.Error(), "thumbnail")
	}); err != nil {
		t.Fatalf("with the older CRD, a YouTubeExtraction with spec.thumbnail was not refused for that field: %v", err0)
	}
	keys := secretData(ctx, t, dc, ns, release+"-s3")

	h("upgrade", release, chartDir)
	if !servesThumbnail() {
		t.Fatal("after helm upgrade, the served CRD still lacks spec.thumbnail: the CRD was not upgraded")
	}
	if err := waitFor(ctx, 10*time.Second, func() bool { err0 = applyExtraction(); return err0 == nil }); err != nil {
		t.Fatalf("after helm upgrade, a YouTubeExtraction with spec.thumbnail is refused: %v", err0)
	}
	if now := secretData(ctx, t, dc, ns, release+"-s3"); fmt.Sprint(now) != fmt.Sprint(keys) {
		t.Errorf("helm upgrade changed the trial S3 server's keys: the server and the files were made with the old ones")
	}

	h("uninstall", release)
	if _, err := crds.Get(ctx, "youtubeextractions.ytx.dev", metav1.GetOptions{}); err != nil {
		t.Errorf("after helm uninstall the CRD is gone (crds.keep is true by default): %v", err)
	}
	if _, err := extractions.Get(ctx, "thumb", metav1.GetOptions{}); err != nil {
		t.Errorf("after helm uninstall the YouTubeExtraction is gone: %v", err)
	}
	if _, err := dc.Resource(schema.GroupVersionResource{Version: "v1", Resource: "secrets"}).Namespace(ns).Get(ctx, release+"-s3", metav1.GetOptions{}); err != nil {
		t.Errorf("after helm uninstall the trial S3 server's Secret is gone (its kept claim's files need it): %v", err)
	}
	// The release's other objects are gone: uninstall ran.
	_, err = dc.Resource(schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}).Namespace(ns).Get(ctx, release+"-controller", metav1.GetOptions{})
	if !apierrors.IsNotFound(err) {
		t.Errorf("after helm uninstall the controller's Deployment: %v, want NotFound", err)
	}
}

// removeProperty cuts the property name, and everything indented under it,
// out of a CRD's YAML; it fails the test unless it cut exactly one.
func removeProperty(t *testing.T, crd, name string) string {
	t.Helper()
	lines := strings.Split(crd, "\n")
	re := regexp.MustCompile(`^(\s+)` + regexp.QuoteMeta(name) + `:$`)
	var out []string
	cut := 0
	for i := 0; i < len(lines); i++ {
		m := re.FindStringSubmatch(lines[i])
		if m == nil {
			out = append(out, lines[i])
			continue
		}
		cut++
		for i+1 < len(lines) && len(lines[i+1])-len(strings.TrimLeft(lines[i+1], " ")) > len(m[1]) {
			i++
		}
	}
	if cut != 1 {
		t.Fatalf("found %d properties %q in the CRD, want one", cut, name)
	}
	return strings.Join(out, "\n")
}

func secretData(ctx context.Context, t *testing.T, dc dynamic.Interface, ns, name string) map[string]any {
	t.Helper()
	s, err := dc.Resource(schema.GroupVersionResource{Version: "v1", Resource: "secrets"}).Namespace(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("the trial S3 server's Secret: %v", err)
	}
	data, _, _ := unstructured.NestedMap(s.Object, "data")
	if len(data) != 2 {
		t.Fatalf("Secret %s has %d keys, want 2", name, len(data))
	}
	return data
}

// waitFor polls cond until it holds or timeout passes.
func waitFor(ctx context.Context, timeout time.Duration, cond func() bool) error {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			return fmt.Errorf("not after %s", timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	return nil
}

// checkNotes checks that helm's output (its NOTES) says each of want, on
// one line or across lines.
func checkNotes(t *testing.T, out string, want ...string) {
	t.Helper()
	_, notes, ok := strings.Cut(out, "NOTES:")
	if !ok {
		t.Fatalf("helm printed no NOTES:\n%s", out)
	}
	flat := strings.Join(strings.Fields(notes), " ")
	for _, w := range want {
		if !strings.Contains(flat, w) {
			t.Errorf("the notes do not say %q:\n%s", w, notes)
		}
	}
}
