package scratch_test

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"ytx.dev/ytx/internal/scratch"
)

// A directory whose process was killed (SIGKILL: no deferred cleanup ran)
// is swept; one in use by a live job is not; nothing else is touched.
func TestSweepRemovesOnlyDeadJobsDirectories(t *testing.T) {
	parent := t.TempDir()
	live, err := scratch.New(parent, "live")
	if err != nil {
		t.Fatal(err)
	}
	defer live.Close()
	dead := killedJobDir(t, parent)
	other := filepath.Join(parent, "not-ours")
	// Another program's directory, even one named like ours, without our
	// lock file, is not ours to remove, however old.
	lookalike := filepath.Join(parent, scratch.Prefix+"lookalike")
	for _, d := range []string{other, lookalike} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, "precious"), []byte("keep"), 0o600); err != nil {
			t.Fatal(err)
		}
		old := time.Now().Add(-24 * time.Hour)
		os.Chtimes(d, old, old) //nolint:errcheck
	}

	removed, err := scratch.Sweep(parent)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(removed, []string{dead}) {
		t.Errorf("Sweep removed %q, want only the killed job's %q", removed, dead)
	}
	for _, keep := range []string{live.Path, other, lookalike, filepath.Join(lookalike, "precious")} {
		if _, err := os.Stat(keep); err != nil {
			t.Errorf("%s should stay: %v", keep, err)
		}
	}
	if _, err := os.Stat(dead); !os.IsNotExist(err) {
		t.Errorf("%s should be gone: %v", dead, err)
	}
	if err := live.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(live.Path); !os.IsNotExist(err) {
		t.Errorf("Close left %s: %v", live.Path, err)
	}
}

// killedJobDir runs a child process that makes a job directory with a file
// in it, then kills it with SIGKILL and returns the directory.
func killedJobDir(t *testing.T, parent string) string {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$")
	cmd.Env = append(os.Environ(), "SCRATCH_HELPER_PARENT="+parent)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		cmd.Process.Kill()
		t.Fatalf("helper: %v", err)
	}
	cmd.Process.Kill() //nolint:errcheck
	cmd.Wait()         //nolint:errcheck // killed
	dir := strings.TrimSpace(line)
	if _, err := os.Stat(filepath.Join(dir, "audio.source")); err != nil {
		t.Fatalf("the killed job left no files to sweep: %v", err)
	}
	return dir
}

func TestHelperProcess(t *testing.T) {
	parent := os.Getenv("SCRATCH_HELPER_PARENT")
	if parent == "" {
		t.Skip("helper process for TestSweepRemovesOnlyDeadJobsDirectories")
	}
	d, err := scratch.New(parent, "dQw4w9WgXcQ")
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	os.WriteFile(filepath.Join(d.Path, "audio.source"), []byte("half a download"), 0o600) //nolint:errcheck
	fmt.Println(d.Path)
	time.Sleep(time.Minute)
}
