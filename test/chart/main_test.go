// Package chart_test checks the Helm chart in charts/ytx: `helm lint
// --strict` and `helm template` over a matrix of values, facts about what
// each case renders, values that must fail, and server-side apply (strict
// field validation) of every rendered object to a real kube-apiserver, with
// small stand-in CRDs for Strimzi and the real CRDs of KEDA and the
// Prometheus Operator.
package chart_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	k8syaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/restmapper"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/yaml"

	"ytx.dev/ytx/internal/devenv"
	"ytx.dev/ytx/test/internal/ytxbin"
)

const fieldManager = "ytx-chart-test"

var (
	// repoRoot is the repository; chartDir its chart.
	repoRoot, chartDir string
	// helmBin is bin/helm (or $HELM); helmHome isolates its config and cache.
	helmBin, helmHome string
	// ytxBin is bin/ytx: its --help lists the flags the chart may pass.
	ytxBin string

	apiServer *devenv.APIServer
	dyn       dynamic.Interface
	mapper    *restmapper.DeferredDiscoveryRESTMapper
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	logf.SetLogger(logr.Discard())
	fail := func(err error) int {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	var err error
	if repoRoot, err = filepath.Abs("../.."); err != nil {
		return fail(err)
	}
	chartDir = filepath.Join(repoRoot, "charts", "ytx")
	if helmBin = os.Getenv("HELM"); helmBin == "" {
		helmBin = filepath.Join(repoRoot, "bin", "helm")
	}
	if _, err := os.Stat(helmBin); err != nil {
		return fail(fmt.Errorf("no helm at %s: run `make tools` (it builds bin/helm) or set HELM", helmBin))
	}
	ytxBin = filepath.Join(repoRoot, "bin", "ytx")
	if helmHome, err = os.MkdirTemp("", "ytx-chart-helm-"); err != nil {
		return fail(err)
	}
	defer os.RemoveAll(helmHome) //nolint:errcheck

	assets := devenv.AssetsDir(filepath.Join(repoRoot, "bin", "k8s"))
	if apiServer, err = devenv.StartAPIServer(assets); err != nil {
		return fail(err)
	}
	defer apiServer.Stop() //nolint:errcheck
	// The CRDs that other operators own: Strimzi's stand-ins, and KEDA's
	// and the Prometheus Operator's own. InstallCRDs waits until they are
	// Established.
	operatorCRDs, err := moduleCRDs()
	if err != nil {
		return fail(err)
	}
	if _, err := envtest.InstallCRDs(apiServer.Config, envtest.CRDInstallOptions{
		Paths: append([]string{filepath.Join("testdata", "crds")}, operatorCRDs...), ErrorIfPathMissing: true,
	}); err != nil {
		return fail(fmt.Errorf("installing the other operators' CRDs: %w", err))
	}
	if dyn, err = dynamic.NewForConfig(apiServer.Config); err != nil {
		return fail(err)
	}
	dc, err := discovery.NewDiscoveryClientForConfig(apiServer.Config)
	if err != nil {
		return fail(err)
	}
	mapper = restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc))
	return m.Run()
}

// crdModules are the CRD files, by the Go module that ships them, of the
// kinds the chart renders for KEDA and the Prometheus Operator. Their
// versions are pinned in hack/tools/crds/go.mod.
var crdModules = map[string][]string{
	"github.com/kedacore/keda/v2": {
		"config/crd/bases/keda.sh_scaledobjects.yaml",
		"config/crd/bases/keda.sh_triggerauthentications.yaml",
	},
	"github.com/prometheus-operator/prometheus-operator": {
		"example/prometheus-operator-crd/monitoring.coreos.com_servicemonitors.yaml",
	},
}

// moduleCRDs downloads (or finds in the module cache) the modules of
// crdModules at the versions of hack/tools/crds/go.mod, checked against its
// go.sum, and returns the paths of their CRD files; a module or file that
// is missing is an error, never a skip.
func moduleCRDs() ([]string, error) {
	dir := filepath.Join(repoRoot, "hack", "tools", "crds")
	args := []string{"mod", "download", "-json"}
	for m := range crdModules {
		args = append(args, m)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=readonly")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	// go mod download -json prints a JSON object per module, with Error
	// set for one it could not get, and exits non-zero then.
	dirs := map[string]string{}
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var m struct{ Path, Version, Dir, Error string }
		if derr := dec.Decode(&m); errors.Is(derr, io.EOF) {
			break
		} else if derr != nil {
			return nil, fmt.Errorf("reading `go %s` in %s: %w\n%s", strings.Join(args, " "), dir, derr, stderr.String())
		}
		if m.Error != "" {
			return nil, fmt.Errorf("downloading the CRDs' module %s@%s (pinned in %s/go.mod): %s", m.Path, m.Version, dir, m.Error)
		}
		dirs[m.Path] = m.Dir
	}
	if err != nil {
		return nil, fmt.Errorf("`go %s` in %s: %w\n%s", strings.Join(args, " "), dir, err, stderr.String())
	}
	var paths []string
	for m, files := range crdModules {
		if dirs[m] == "" {
			return nil, fmt.Errorf("`go %s` in %s gave no directory for %s", strings.Join(args, " "), dir, m)
		}
		for _, f := range files {
			p := filepath.Join(dirs[m], filepath.FromSlash(f))
			if !fileExists(p) {
				return nil, fmt.Errorf("the CRD file %s is not in %s: did the module move it? Find it there and fix crdModules", f, dirs[m])
			}
			paths = append(paths, p)
		}
	}
	return paths, nil
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// helm runs bin/helm and returns its standard output, or an error that
// carries its standard error.
func helm(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, helmBin, args...)
	cmd.Env = append(os.Environ(),
		"HELM_CACHE_HOME="+filepath.Join(helmHome, "cache"),
		"HELM_CONFIG_HOME="+filepath.Join(helmHome, "config"),
		"HELM_DATA_HOME="+filepath.Join(helmHome, "data"),
	)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("helm %s: %w\n%s%s", strings.Join(args, " "), err, stderr.String(), stdout.String())
	}
	return stdout.String(), nil
}

// render runs `helm template` (with the chart's CRDs) and decodes the objects.
func render(release, namespace string, args ...string) ([]*unstructured.Unstructured, error) {
	out, err := helm(append([]string{"template", release, chartDir, "--namespace", namespace, "--include-crds"}, args...)...)
	if err != nil {
		return nil, err
	}
	return decodeObjects(out)
}

func decodeObjects(stream string) ([]*unstructured.Unstructured, error) {
	reader := k8syaml.NewYAMLReader(bufio.NewReader(strings.NewReader(stream)))
	var objs []*unstructured.Unstructured
	for {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			return objs, nil
		}
		if err != nil {
			return nil, err
		}
		// Through JSON into unstructured, so that integers are int64 as
		// the API machinery has them.
		data, err := yaml.YAMLToJSON(doc)
		if err != nil {
			return nil, err
		}
		if s := strings.TrimSpace(string(data)); s == "null" || s == "{}" {
			continue
		}
		u := &unstructured.Unstructured{}
		if err := u.UnmarshalJSON(data); err != nil {
			return nil, fmt.Errorf("%w in\n%s", err, doc)
		}
		objs = append(objs, u)
	}
}

// restMapping maps an object's kind to its resource, asking discovery again
// once when the kind is new.
func restMapping(gvk schema.GroupVersionKind) (*meta.RESTMapping, error) {
	m, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil && meta.IsNoMatchError(err) {
		mapper.Reset()
		m, err = mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	}
	return m, err
}

// apply sends one object to the API server by server-side apply with strict
// field validation: an unknown or duplicate field is an error, not a
// warning.
func apply(ctx context.Context, obj *unstructured.Unstructured) error {
	m, err := restMapping(obj.GroupVersionKind())
	if err != nil {
		return err
	}
	data, err := obj.MarshalJSON()
	if err != nil {
		return err
	}
	var ri dynamic.ResourceInterface = dyn.Resource(m.Resource)
	if m.Scope.Name() == meta.RESTScopeNameNamespace {
		if obj.GetNamespace() == "" {
			return fmt.Errorf("%s %s: namespaced, but rendered without a namespace", obj.GetKind(), obj.GetName())
		}
		ri = dyn.Resource(m.Resource).Namespace(obj.GetNamespace())
	}
	force := true
	_, err = ri.Patch(ctx, obj.GetName(), types.ApplyPatchType, data, metav1.PatchOptions{
		FieldManager: fieldManager, FieldValidation: "Strict", Force: &force,
	})
	return err
}

// ensureNamespace creates a namespace unless it exists.
func ensureNamespace(ctx context.Context, name string) error {
	ns := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": name},
	}}
	_, err := dyn.Resource(schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}).Create(ctx, ns, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		return nil
	}
	return err
}

var (
	flagsOnce sync.Once
	flagSets  map[string]map[string]string
	flagsErr  error
)

// knownFlags returns the flags `ytx <command> --help` lists (manager,
// worker, doctor), each with its type as the help prints it ("string",
// "duration", "stringArray"; "" for a boolean). It fails the test when
// bin/ytx is missing or older than the sources (the flags of yesterday's
// ytx prove nothing about today's chart), or lists no flags.
func knownFlags(t *testing.T, command string) map[string]string {
	t.Helper()
	flagsOnce.Do(func() {
		if flagsErr = ytxbin.Fresh(repoRoot, ytxBin); flagsErr != nil {
			flagsErr = fmt.Errorf("checking the chart's flags against `ytx --help`: %w", flagsErr)
			return
		}
		flagSets = map[string]map[string]string{}
		re := regexp.MustCompile(`(?m)^\s+(?:-\w, )?--([a-z0-9-]+)(?:\[=[^\]]*\])?(?: ([A-Za-z0-9]+))?`)
		for _, c := range []string{"manager", "worker", "doctor"} {
			out, err := exec.Command(ytxBin, c, "--help").CombinedOutput()
			if err != nil {
				flagsErr = fmt.Errorf("`%s %s --help`: %v\n%s", ytxBin, c, err, out)
				return
			}
			flagSets[c] = map[string]string{}
			for _, m := range re.FindAllStringSubmatch(string(out), -1) {
				flagSets[c][m[1]] = m[2]
			}
			if len(flagSets[c]) == 0 {
				flagsErr = fmt.Errorf("`%s %s --help` lists no flag this test can read:\n%s", ytxBin, c, out)
				return
			}
		}
	})
	if flagsErr != nil {
		t.Fatal(flagsErr)
	}
	if flagSets[command] == nil {
		t.Fatalf("knownFlags: no command %q", command)
	}
	return flagSets[command]
}
