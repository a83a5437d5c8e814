package app

import (
	"runtime/debug"

	"github.com/KimMachineGun/automemlimit/memlimit"
)

// DefaultMemoryLimitRatio is `ytx manager`'s default --memory-limit-ratio.
//
// The manager's memory is mostly its informer cache, which grows with the
// extractions in the cluster and is live: the garbage collector cannot free
// it. By default Go lets the heap grow to twice what is live before it
// collects, so a manager whose cache fills half its container's limit is
// killed by the kernel while half of what it holds is garbage. A soft limit
// below the container's makes the collector work harder as it nears it.
// What the soft limit does not count must fit in the rest: the binary's
// pages, about 32 MiB (`make bench-scale`: 224 MiB of RSS at a soft limit
// of 192), and a burst. At 0.6 the chart's 256 MiB container peaks under
// 200 MiB at 100,000 extractions (docs/benchmarks.md).
const DefaultMemoryLimitRatio = 0.6

// SetMemoryLimit gives the Go runtime a soft memory limit (GOMEMLIMIT) of
// ratio × the memory limit that provider reports (the container's cgroup
// for memlimit.FromCgroup), and returns it; math.MaxInt64 means none.
// GOMEMLIMIT or AUTOMEMLIMIT in the environment win, as Go and automemlimit
// document; a ratio of 0 or less sets nothing.
func SetMemoryLimit(ratio float64, provider memlimit.Provider) (int64, error) {
	if ratio <= 0 {
		return debug.SetMemoryLimit(-1), nil
	}
	return memlimit.Set(memlimit.WithRatio(ratio), memlimit.WithProvider(provider))
}
