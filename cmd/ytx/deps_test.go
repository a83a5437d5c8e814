package main

import (
	"debug/buildinfo"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// devOnly are the packages and modules that only ytx-dev and the tests
// need, with why. The production binary (bin/ytx, the one in both images)
// must link none of them.
var devOnly = []struct{ prefix, why string }{
	{"ytx.dev/ytx/internal/devenv", "the one-machine environment of ytx-dev"},
	{"ytx.dev/ytx/internal/youtube/fake", "the fake YouTube, its CA and proxy"},
	{"sigs.k8s.io/controller-runtime/pkg/envtest", "envtest starts a kube-apiserver and etcd"},
	{"sigs.k8s.io/controller-runtime/pkg/internal/testing/", "envtest's control plane"},
	{"github.com/twmb/franz-go/", "kfake, the in-process Kafka broker, and its franz-go client (ytx's Kafka client is segmentio/kafka-go)"},
}

// devOnlyWhy says why path is development-only, or "" when it is not.
func devOnlyWhy(path string) string {
	for _, d := range devOnly {
		if path == strings.TrimSuffix(d.prefix, "/") || strings.HasPrefix(path, strings.TrimSuffix(d.prefix, "/")+"/") {
			return d.why
		}
	}
	return ""
}

// goList lists, as `make build` would compile it (CGO_ENABLED=0), what a
// main package links: its packages, or with field "Module" their modules.
func goList(t *testing.T, pkg, format string) []string {
	t.Helper()
	cmd := exec.Command("go", "list", "-deps", "-f", format, pkg)
	cmd.Dir = filepath.Join("..", "..")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list -deps %s: %v", pkg, err)
	}
	return strings.Fields(string(out))
}

// The production binary links no development-only package, and the check
// sees them where they are: ytx-dev, the development command, links every
// one of them.
func TestProductionBinaryLinksNoDevPackages(t *testing.T) {
	const pkgs, mods = "{{.ImportPath}}", "{{with .Module}}{{.Path}}{{end}}"
	prod := append(goList(t, "./cmd/ytx", pkgs), goList(t, "./cmd/ytx", mods)...)
	if len(prod) < 100 {
		t.Fatalf("go list -deps ./cmd/ytx listed %d packages and modules, too few to be the binary's", len(prod))
	}
	for _, p := range prod {
		if why := devOnlyWhy(p); why != "" {
			t.Errorf("bin/ytx links %s (%s): move what imports it to cmd/ytx-dev or a _test.go file", p, why)
		}
	}

	dev := goList(t, "./cmd/ytx-dev", pkgs)
	for _, d := range devOnly {
		found := false
		for _, p := range dev {
			found = found || devOnlyWhy(p) == d.why
		}
		if !found {
			t.Errorf("ytx-dev links nothing under %s: the check cannot see %s, fix the list", d.prefix, d.why)
		}
	}
}

// bin/ytx as built (by `make build`, before the tests in `make test`)
// carries no development-only module: what `go version -m bin/ytx` lists.
func TestBuiltBinaryHasNoDevModules(t *testing.T) {
	bin := filepath.Join("..", "..", "bin", "ytx")
	info, err := buildinfo.ReadFile(bin)
	if err != nil {
		t.Fatalf("reading the build info of bin/ytx: %v (run make build)", err)
	}
	if info.Path != "ytx.dev/ytx/cmd/ytx" {
		t.Fatalf("bin/ytx was built from %s, want ytx.dev/ytx/cmd/ytx", info.Path)
	}
	if len(info.Deps) < 20 {
		t.Fatalf("bin/ytx lists %d modules, too few to be ytx", len(info.Deps))
	}
	for _, m := range info.Deps {
		if why := devOnlyWhy(m.Path); why != "" {
			t.Errorf("bin/ytx links module %s %s (%s); if the sources no longer do, bin/ytx is stale: run make build", m.Path, m.Version, why)
		}
	}
	// Built as `make build` builds it: static, so that it runs on scratch.
	// (Go does not record -ldflags when -trimpath is set.)
	settings := map[string]string{}
	for _, s := range info.Settings {
		settings[s.Key] = s.Value
	}
	if settings["CGO_ENABLED"] != "0" || settings["-trimpath"] != "true" {
		t.Errorf("bin/ytx was built with CGO_ENABLED=%q -trimpath=%q, want 0 and true (make build)", settings["CGO_ENABLED"], settings["-trimpath"])
	}
}
