package bench

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"strconv"

	"golang.org/x/sys/unix"
)

var pin = flag.Bool("bench.pin", true, "in orchestration runs, give kube-apiserver and etcd half of the cores and everything else (ytx, Kafka, the fake YouTube, the clients) the other half")

// cores splits this machine's cores in two: the control plane's and the
// rest's. ok is false when there are fewer than two.
func cores() (controlPlane, rest []int, ok bool) {
	n := runtime.NumCPU()
	if n < 2 {
		return nil, nil, false
	}
	for c := range n {
		if c < n/2 {
			controlPlane = append(controlPlane, c)
		} else {
			rest = append(rest, c)
		}
	}
	return controlPlane, rest, true
}

// pinCores puts the API server and etcd on their own cores and this process
// on the others, as in a cluster where the control plane has machines of
// its own: on a shared machine, what ytx computes would otherwise be taken
// from the API server and show as a lower bound. It returns the undo, and
// a description for the report; with -bench.pin=false or one core it does
// nothing.
func pinCores(cp *controlPlane) (undo func(), layout string, err error) {
	cpCores, rest, ok := cores()
	if !*pin || !ok {
		return func() {}, "not pinned: every process may use every core", nil
	}
	all := append(append([]int{}, cpCores...), rest...)
	for _, pid := range []int{cp.apiserverPID, cp.etcdPID} {
		if err := setAffinity(pid, cpCores); err != nil {
			return nil, "", err
		}
	}
	if err := setAffinity(os.Getpid(), rest); err != nil {
		return nil, "", err
	}
	undo = func() { _ = setAffinity(os.Getpid(), all) } // best effort: the control plane is stopped after the run
	return undo, fmt.Sprintf("kube-apiserver and etcd pinned to cores %v, the benchmark's process to cores %v", cpCores, rest), nil
}

// setAffinity sets the CPU affinity of every thread of pid: affinity is a
// thread's, and threads started later inherit it from the one that
// starts them.
func setAffinity(pid int, cpus []int) error {
	var set unix.CPUSet
	for _, c := range cpus {
		set.Set(c)
	}
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		return err
	}
	for _, t := range tasks {
		tid, err := strconv.Atoi(t.Name())
		if err != nil {
			continue
		}
		if err := unix.SchedSetaffinity(tid, &set); err != nil && err != unix.ESRCH {
			return fmt.Errorf("pinning thread %d of %d to %v: %w", tid, pid, cpus, err)
		}
	}
	return nil
}
