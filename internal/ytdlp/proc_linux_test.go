package ytdlp_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"ytx.dev/ytx/internal/youtube/fake"
	"ytx.dev/ytx/internal/ytdlp"
)

// A stand-in yt-dlp (the real one cannot be made to hang on purpose) that
// starts a child of its own, as yt-dlp starts a JavaScript runtime, writes
// both PIDs to pids, and hangs.
func hangingYTDLP(t *testing.T, pids string) string {
	t.Helper()
	script := filepath.Join(t.TempDir(), "yt-dlp")
	body := "#!/bin/sh\nif [ \"$1\" = --version ]; then echo 2026.11.23; exit 0; fi\n" +
		"sleep 300 &\necho $$ $! > " + pids + "\nwait\n"
	if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	return script
}

func readPIDs(t *testing.T, path string) []int {
	t.Helper()
	var out []int
	deadline := time.Now().Add(10 * time.Second)
	for len(out) == 0 && time.Now().Before(deadline) {
		b, _ := os.ReadFile(path)
		for _, f := range strings.Fields(string(b)) {
			if n, err := strconv.Atoi(f); err == nil {
				out = append(out, n)
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	if len(out) != 2 {
		t.Fatalf("the stand-in wrote pids %v", out)
	}
	return out
}

// alive reports whether pid runs (a zombie counts as gone).
func alive(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return false
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	return err == nil && !strings.Contains(string(b), ") Z ")
}

func waitGone(t *testing.T, what string, pids []int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		left := 0
		for _, p := range pids {
			if alive(p) {
				left++
			}
		}
		if left == 0 {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Errorf("%s: processes %v still run", what, pids)
}

// A job that ends (its resource deleted, the worker stopping, the run's
// timeout) ends yt-dlp and whatever yt-dlp started.
func TestNoYTDLPOutlivesItsJob(t *testing.T) {
	e := newEnv(t)
	pids := filepath.Join(t.TempDir(), "pids")
	r := ytdlp.New(context.Background(), ytdlp.Options{Path: hangingYTDLP(t, pids), Egress: e.egress})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := r.Resolve(ctx, e.request(t, fake.RickrollID))
		done <- err
	}()
	ps := readPIDs(t, pids)
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Resolve did not return after its job ended")
	}
	waitGone(t, "after the job ended", ps)
}

// The same with the run's own timeout.
func TestNoYTDLPOutlivesItsTimeout(t *testing.T) {
	e := newEnv(t)
	pids := filepath.Join(t.TempDir(), "pids")
	r := ytdlp.New(context.Background(), ytdlp.Options{Path: hangingYTDLP(t, pids), Egress: e.egress, Timeout: time.Second})
	_, err := r.Resolve(context.Background(), e.request(t, fake.RickrollID))
	if err == nil || !strings.Contains(err.Error(), "did not finish") {
		t.Errorf("error %v, want the timeout's", err)
	}
	waitGone(t, "after the timeout", readPIDs(t, pids))
}

// workerEnv makes this test binary a stand-in worker that runs one
// hanging yt-dlp and waits to be killed.
const workerEnv = "YTX_TEST_YTDLP_WORKER"

func TestStandInWorker(t *testing.T) {
	pids := os.Getenv(workerEnv)
	if pids == "" {
		t.Skip("the child of TestNoYTDLPOutlivesItsWorker")
	}
	e := newEnv(t)
	r := ytdlp.New(context.Background(), ytdlp.Options{Path: hangingYTDLP(t, pids), Egress: e.egress})
	r.Resolve(context.Background(), e.request(t, fake.RickrollID)) //nolint:errcheck // killed before it returns
}

// A worker killed with SIGKILL takes its yt-dlp with it (the kernel sends
// it SIGKILL: Pdeathsig).
func TestNoYTDLPOutlivesItsWorker(t *testing.T) {
	pids := filepath.Join(t.TempDir(), "pids")
	cmd := exec.Command(os.Args[0], "-test.run=^TestStandInWorker$")
	cmd.Env = append(os.Environ(), workerEnv+"="+pids)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ps := readPIDs(t, pids)
	cmd.Process.Kill() //nolint:errcheck
	cmd.Wait()         //nolint:errcheck
	// yt-dlp itself; what it started (here a sleep) is orphaned to
	// whatever reaps orphans, and in a pod dies with the container.
	waitGone(t, "after the worker was killed", ps[:1])
}
