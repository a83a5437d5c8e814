package bench

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/rand"
	"sigs.k8s.io/yaml"
)

// The manager runs in a cluster with the memory limit the chart gives its
// container, and sets its Go memory limit from it (--memory-limit-ratio).
// The resync benchmark runs it the same way: in a memory cgroup of this
// machine with the chart's limit, where the kernel kills it as it would a
// pod's container, and where the program reads its limit as it does in a
// pod.

// chartManagerLimit is controller.resources.limits.memory of the chart's
// values.yaml: the manager's container limit on a default install.
func chartManagerLimit() (string, int64, error) {
	raw, err := os.ReadFile(filepath.Join(repoRoot, "charts", "ytx", "values.yaml"))
	if err != nil {
		return "", 0, err
	}
	var v struct {
		Controller struct {
			Resources struct {
				Limits struct {
					Memory string `json:"memory"`
				} `json:"limits"`
			} `json:"resources"`
		} `json:"controller"`
	}
	if err := yaml.Unmarshal(raw, &v); err != nil {
		return "", 0, err
	}
	s := v.Controller.Resources.Limits.Memory
	q, err := resource.ParseQuantity(s)
	if err != nil {
		return "", 0, fmt.Errorf("controller.resources.limits.memory %q: %w", s, err)
	}
	return s, q.Value(), nil
}

// memoryCgroup is a cgroup (v1 memory controller, or v2) made for one
// process, with a memory limit.
type memoryCgroup struct {
	dir string
	v2  bool
}

// newMemoryCgroup makes a child of this process's memory cgroup limited to
// limit bytes (swap included where the kernel counts it). It needs root
// and a writable cgroup file system.
func newMemoryCgroup(limit int64) (*memoryCgroup, error) {
	mount, own, v2, err := ownMemoryCgroup()
	if err != nil {
		return nil, err
	}
	c := &memoryCgroup{dir: filepath.Join(mount, own, "ytx-bench-"+rand.String(6)), v2: v2}
	if err := os.Mkdir(c.dir, 0o755); err != nil {
		return nil, err
	}
	file, swapFile := "memory.limit_in_bytes", "memory.memsw.limit_in_bytes"
	if v2 {
		file, swapFile = "memory.max", "memory.swap.max"
	}
	if err := c.write(file, strconv.FormatInt(limit, 10)); err != nil {
		c.remove()
		return nil, err
	}
	// Without swap accounting the file is absent: nothing to limit.
	c.write(swapFile, strconv.FormatInt(limit, 10)) //nolint:errcheck
	if v2 {
		c.write(swapFile, "0") //nolint:errcheck
	}
	return c, nil
}

// ownMemoryCgroup finds the memory controller's mount point and this
// process's cgroup under it.
func ownMemoryCgroup() (mount, own string, v2 bool, err error) {
	f, err := os.Open("/proc/self/cgroup")
	if err != nil {
		return "", "", false, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		parts := strings.SplitN(sc.Text(), ":", 3)
		if len(parts) != 3 {
			continue
		}
		for _, ctl := range strings.Split(parts[1], ",") {
			if ctl == "memory" {
				return "/sys/fs/cgroup/memory", parts[2], false, nil
			}
		}
		if parts[0] == "0" && parts[1] == "" {
			own = parts[2]
		}
	}
	if ctl, err := os.ReadFile("/sys/fs/cgroup/cgroup.controllers"); err == nil && strings.Contains(string(ctl), "memory") && own != "" {
		return "/sys/fs/cgroup", own, true, nil
	}
	return "", "", false, fmt.Errorf("no memory cgroup controller found in /proc/self/cgroup")
}

func (c *memoryCgroup) write(file, value string) error {
	return os.WriteFile(filepath.Join(c.dir, file), []byte(value), 0o644)
}

// hold makes cmd join the cgroup before it runs: a shell writes its own
// PID into the cgroup and execs the command, so that the program reads its
// limit at start as in a container.
func (c *memoryCgroup) hold(cmd *exec.Cmd) {
	args := append([]string{"-c", `echo $$ > "$0/cgroup.procs" && exec "$@"`, c.dir, cmd.Path}, cmd.Args[1:]...)
	cmd.Path, cmd.Args = "/bin/sh", append([]string{"sh"}, args...)
}

// oomKills is how many processes of the cgroup the kernel killed for
// memory.
func (c *memoryCgroup) oomKills() int {
	file := "memory.oom_control"
	if c.v2 {
		file = "memory.events"
	}
	raw, _ := os.ReadFile(filepath.Join(c.dir, file))
	for _, line := range strings.Split(string(raw), "\n") {
		if n, ok := strings.CutPrefix(line, "oom_kill "); ok {
			v, _ := strconv.Atoi(strings.TrimSpace(n))
			return v
		}
	}
	return 0
}

// remove deletes the cgroup once its process is gone.
func (c *memoryCgroup) remove() { os.Remove(c.dir) } //nolint:errcheck // best effort
