package bench

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"
)

// profiles, when set, is a directory for CPU profiles of what the
// benchmarks measure: the API server during each orchestration run, and
// ytx's download process. (This process's own profile is go test's
// -cpuprofile.)
var profiles = flag.String("bench.profiles", "", "write CPU profiles of the API server (orchestration runs) and of ytx's download process into this directory")

// profilePath is where a profile named name goes; "" when none is asked.
func profilePath(name string) string {
	if *profiles == "" {
		return ""
	}
	dir := *profiles
	if !filepath.IsAbs(dir) {
		dir = filepath.Join(repoRoot, dir)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return ""
	}
	clean := strings.NewReplacer(" ", "-", "'", "", "/", "-", ",", "").Replace(name)
	return filepath.Join(dir, clean+".pprof")
}

// profileAPIServer asks the API server (its /debug/pprof, on by default)
// for a CPU profile of the next d, written to the profile named name; the
// returned func waits for it. It does nothing unless -bench.profiles is set.
func profileAPIServer(b *testing.B, cp *controlPlane, d time.Duration, name string) (wait func()) {
	path := profilePath(name)
	if path == "" {
		return func() {}
	}
	cs, err := kubernetes.NewForConfig(unthrottled(cp.api.Config))
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		raw, err := cs.CoreV1().RESTClient().Get().AbsPath("/debug/pprof/profile").
			Param("seconds", strconv.Itoa(int(d.Seconds()))).DoRaw(context.Background())
		if err == nil {
			err = os.WriteFile(path, raw, 0o644)
		}
		if err != nil {
			b.Logf("API server profile %s: %v", name, err)
		}
	}()
	return func() { <-done }
}

// startCPUProfile writes a CPU profile of this process to path until stop.
func startCPUProfile(t *testing.T, path string) (stop func()) {
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		t.Fatal(err)
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}
}
