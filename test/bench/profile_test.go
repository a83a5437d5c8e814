package bench

import (
	"os"
	"runtime/pprof"
	"testing"
)

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
