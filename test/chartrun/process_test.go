package chartrun

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"ytx.dev/ytx/test/internal/freeport"
	"ytx.dev/ytx/test/internal/tail"
	"ytx.dev/ytx/test/internal/ytxbin"
)

// process is bin/ytx running as one pod's container.
type process struct {
	name string
	cmd  *exec.Cmd
	out  *tail.Buffer
	done chan struct{}
	err  error // of Wait, once done is closed
}

// startProcess runs bin/ytx with the pod's args and exactly its environment
// plus extra (nothing of the test's own environment leaks in but PATH, so
// that a YTX_* variable of the developer's shell cannot stand in for a flag
// the chart forgot).
func startProcess(t *testing.T, p *pod, args []string, extra ...string) *process {
	t.Helper()
	return startBinary(t, ytxBin, p, args, extra...)
}

// startBinary is startProcess for another program than bin/ytx: the pod's
// container runs an image of its own (the trial S3 server's versitygw).
func startBinary(t *testing.T, bin string, p *pod, args []string, extra ...string) *process {
	t.Helper()
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
	for _, e := range p.env {
		env = append(env, e.name+"="+e.value)
	}
	env = append(env, extra...)
	pr := &process{name: p.container.Name, out: &tail.Buffer{Max: 64 << 10}, done: make(chan struct{})}
	pr.cmd = exec.Command(bin, args...)
	pr.cmd.Env = env
	pr.cmd.Dir = t.TempDir()
	var w io.Writer = pr.out
	if os.Getenv("YTX_TEST_LOG") != "" {
		w = io.MultiWriter(pr.out, prefixWriter{"[" + p.container.Name + "] ", os.Stderr})
	}
	pr.cmd.Stdout, pr.cmd.Stderr = w, w
	if err := pr.cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", bin, err)
	}
	go func() {
		pr.err = pr.cmd.Wait()
		close(pr.done)
	}()
	t.Cleanup(func() {
		select {
		case <-pr.done:
		default:
			pr.cmd.Process.Kill() //nolint:errcheck // our own child, by its pid
			<-pr.done
		}
	})
	return pr
}

// alive is nil while the process runs, else an error with how it ended
// and the end of its output.
func (pr *process) alive() error {
	select {
	case <-pr.done:
		return fmt.Errorf("`ytx %s` exited (%v)%s; its last output:\n%s", pr.name, pr.err, staleHint(), pr.out.Last(20))
	default:
		return nil
	}
}

// waitExit waits for the process to end by itself.
func (pr *process) waitExit(timeout time.Duration) error {
	select {
	case <-pr.done:
		return pr.err
	case <-time.After(timeout):
		return fmt.Errorf("`ytx %s` still runs after %s", pr.name, timeout)
	}
}

// stop sends SIGTERM, as the kubelet does, and expects a clean exit.
func (pr *process) stop(t *testing.T, timeout time.Duration) {
	t.Helper()
	if err := pr.alive(); err != nil {
		t.Errorf("before SIGTERM: %v", err)
		return
	}
	pr.cmd.Process.Signal(syscall.SIGTERM) //nolint:errcheck
	select {
	case <-pr.done:
		if pr.err != nil {
			t.Errorf("`ytx %s` did not exit cleanly on SIGTERM: %v; last output:\n%s", pr.name, pr.err, pr.out.Last(20))
		}
	case <-time.After(timeout):
		t.Errorf("`ytx %s` still runs %s after SIGTERM; last output:\n%s", pr.name, timeout, pr.out.Last(20))
	}
}

// staleHint says when bin/ytx is older than the Go sources: a stale binary
// may not know a flag the chart rightly passes.
func staleHint() string {
	if newer := ytxbin.Newer(repoRoot, ytxBin); newer != "" {
		return fmt.Sprintf(" [bin/ytx is older than %s: run make build]", newer)
	}
	return ""
}

// lastLine is a process's final line: cmd/ytx's one-line error.
func lastLine(out *tail.Buffer) string {
	s := strings.TrimRight(out.String(), "\n")
	return s[strings.LastIndexByte(s, '\n')+1:]
}

type prefixWriter struct {
	prefix string
	w      io.Writer
}

func (p prefixWriter) Write(b []byte) (int, error) {
	for _, line := range strings.SplitAfter(string(b), "\n") {
		if line != "" {
			io.WriteString(p.w, p.prefix+line) //nolint:errcheck
		}
	}
	return len(b), nil
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	port, err := freeport.Get()
	if err != nil {
		t.Fatal(err)
	}
	return port
}
