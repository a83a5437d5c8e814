package bench

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// procValues reads fields of a /proc file of "Name: value" lines, such as
// /proc/<pid>/status or /proc/meminfo, in one read; a field it lacks is
// left out.
func procValues(path string, fields ...string) (map[string]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, line := range strings.Split(string(data), "\n") {
		if name, rest, ok := strings.Cut(line, ":"); ok && slices.Contains(fields, name) {
			out[name] = strings.TrimSpace(rest)
		}
	}
	return out, nil
}

// procValue reads one field of a /proc file.
func procValue(path, field string) (string, error) {
	vs, err := procValues(path, field)
	if err != nil {
		return "", err
	}
	v, ok := vs[field]
	if !ok {
		return "", fmt.Errorf("no %s in %s", field, path)
	}
	return v, nil
}

// procField reads a "kB" field of a /proc file, in bytes.
func procField(path, field string) (int64, error) {
	v, err := procValue(path, field)
	if err != nil {
		return 0, err
	}
	return kilobytes(path, field, v)
}

// kilobytes reads a /proc "N kB" value, in bytes.
func kilobytes(path, field, v string) (int64, error) {
	kb, err := strconv.ParseInt(strings.TrimSuffix(v, " kB"), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s %s: %w", path, field, err)
	}
	return kb << 10, nil
}

// memory is a process's resident memory: now (VmRSS) and at its peak
// (VmHWM), in bytes; zero when it cannot be read.
type memory struct{ rss, peak int64 }

func memoryOf(pid int) memory {
	status := fmt.Sprintf("/proc/%d/status", pid)
	rss, _ := procField(status, "VmRSS")
	peak, _ := procField(status, "VmHWM")
	return memory{rss: rss, peak: peak}
}

// mib writes bytes in MiB for the tables.
func mib(n int64) float64 { return float64(n) / (1 << 20) }

// clockTick is USER_HZ, the unit of /proc/<pid>/stat's CPU times; 100 on
// every Linux architecture Go supports.
const clockTick = 100

// cpuTime is the CPU time (user and system) a process has used so far.
func cpuTime(pid int) time.Duration {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The command name, in parentheses, may hold spaces: count fields
	// after its closing parenthesis. utime and stime are fields 14 and 15.
	s := string(data)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0
	}
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * time.Second / clockTick
}

// childNamed finds the child process of this one that runs program (envtest
// starts kube-apiserver and etcd as children but does not tell their PIDs);
// 0 when there is none. Other programs on the machine may run their own
// kube-apiservers: only this process's children count.
func childNamed(program string) int {
	entries, _ := os.ReadDir("/proc")
	self := os.Getpid()
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		ppid, err := procValue(fmt.Sprintf("/proc/%d/status", pid), "PPid")
		if err != nil || ppid != strconv.Itoa(self) {
			continue
		}
		cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err != nil {
			continue
		}
		if filepath.Base(strings.SplitN(string(cmdline), "\x00", 2)[0]) == program {
			return pid
		}
	}
	return 0
}

// cpuMeter measures the CPU time that processes use during a run.
type cpuMeter struct {
	began time.Time
	pids  map[string]int
	from  map[string]time.Duration
}

// startCPU starts measuring the CPU of the named processes.
func startCPU(pids map[string]int) *cpuMeter {
	m := &cpuMeter{began: time.Now(), pids: pids, from: map[string]time.Duration{}}
	for name, pid := range pids {
		m.from[name] = cpuTime(pid)
	}
	return m
}

// cpuUse is the CPU time each process used during a run, and the run's
// wall time.
type cpuUse struct {
	wall time.Duration
	used map[string]time.Duration
}

func (m *cpuMeter) stop() cpuUse {
	u := cpuUse{wall: time.Since(m.began), used: map[string]time.Duration{}}
	for name, pid := range m.pids {
		u.used[name] = cpuTime(pid) - m.from[name]
	}
	return u
}

// cores is how many cores the named processes kept busy on average.
func (u cpuUse) cores(names ...string) float64 {
	var sum time.Duration
	for _, n := range names {
		sum += u.used[n]
	}
	return float64(sum) / float64(u.wall)
}

// per is the CPU time of the named processes per item, in milliseconds.
func (u cpuUse) per(n int, names ...string) float64 {
	var sum time.Duration
	for _, name := range names {
		sum += u.used[name]
	}
	return float64(sum) / float64(time.Millisecond) / float64(n)
}
