package app

import (
	"errors"
	"math"
	"os"
	"runtime/debug"
	"testing"

	"github.com/KimMachineGun/automemlimit/memlimit"
)

// keepMemoryLimit restores the process's Go memory limit after a test.
func keepMemoryLimit(t *testing.T) {
	before := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(before) })
}

// unsetEnv unsets the variables for the test (an empty one is not unset).
func unsetEnv(t *testing.T, keys ...string) {
	for _, k := range keys {
		t.Setenv(k, "")
		os.Unsetenv(k) //nolint:errcheck // t.Setenv restores it
	}
}

func limitOf(n uint64) memlimit.Provider { return func() (uint64, error) { return n, nil } }

func TestMemoryLimitIsTheRatioOfTheContainersLimit(t *testing.T) {
	keepMemoryLimit(t)
	unsetEnv(t, "GOMEMLIMIT", "AUTOMEMLIMIT")
	got, err := SetMemoryLimit(0.75, limitOf(256<<20))
	if want := int64(192 << 20); err != nil || got != want || debug.SetMemoryLimit(-1) != want {
		t.Errorf("SetMemoryLimit(0.75) of a 256 MiB container = %d, %v; the runtime's limit %d; want %d", got, err, debug.SetMemoryLimit(-1), want)
	}
}

func TestMemoryLimitWithoutAContainerLimitIsNone(t *testing.T) {
	keepMemoryLimit(t)
	unsetEnv(t, "GOMEMLIMIT", "AUTOMEMLIMIT")
	debug.SetMemoryLimit(1 << 30)
	got, err := SetMemoryLimit(DefaultMemoryLimitRatio, func() (uint64, error) { return 0, memlimit.ErrNoLimit })
	if err != nil || got != math.MaxInt64 || debug.SetMemoryLimit(-1) != math.MaxInt64 {
		t.Errorf("without a container limit: %d, %v; the runtime's limit %d; want none", got, err, debug.SetMemoryLimit(-1))
	}
}

func TestGOMEMLIMITInTheEnvironmentWins(t *testing.T) {
	keepMemoryLimit(t)
	t.Setenv("GOMEMLIMIT", "100MiB")
	debug.SetMemoryLimit(100 << 20) // what the runtime read from it at start
	asked := false
	got, err := SetMemoryLimit(DefaultMemoryLimitRatio, func() (uint64, error) { asked = true; return 256 << 20, nil })
	if err != nil || got != 100<<20 || asked {
		t.Errorf("with GOMEMLIMIT=100MiB: %d, %v (container limit read: %v); want 100 MiB, unread", got, err, asked)
	}
}

func TestMemoryLimitRatioZeroSetsNothing(t *testing.T) {
	keepMemoryLimit(t)
	unsetEnv(t, "GOMEMLIMIT", "AUTOMEMLIMIT")
	debug.SetMemoryLimit(math.MaxInt64)
	got, err := SetMemoryLimit(0, func() (uint64, error) { return 0, errors.New("must not be asked") })
	if err != nil || got != math.MaxInt64 {
		t.Errorf("ratio 0: %d, %v; want no limit and no question", got, err)
	}
}
