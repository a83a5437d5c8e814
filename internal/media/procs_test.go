package media_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sync/semaphore"

	"ytx.dev/ytx/api/v1alpha1"
	"ytx.dev/ytx/internal/failure"
	"ytx.dev/ytx/internal/media"
)

// countingFFmpeg is a stand-in for ffmpeg that notes how many of its kind
// run at once (in dir/running), stays pause, and writes its output.
func countingFFmpeg(t *testing.T, pause time.Duration) (path, dir string) {
	t.Helper()
	dir = t.TempDir()
	path = filepath.Join(dir, "ffmpeg")
	script := fmt.Sprintf(`#!/bin/sh
for a; do out=$a; done
mkdir -p %[1]s/running
touch %[1]s/running/$$
ls %[1]s/running | wc -l >> %[1]s/seen
sleep %[2]s
ls %[1]s/running | wc -l >> %[1]s/seen
rm %[1]s/running/$$
echo done > "${out#file:}"
`, dir, strconv.FormatFloat(pause.Seconds(), 'f', 2, 64))
	if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return path, dir
}

func TestFFmpegRunsAtMostProcsAtOnce(t *testing.T) {
	bin, dir := countingFFmpeg(t, 300*time.Millisecond)
	ff := media.FFmpeg{Path: bin, Procs: semaphore.NewWeighted(2)}
	var wg sync.WaitGroup
	for i := range 6 {
		wg.Go(func() {
			out := filepath.Join(dir, fmt.Sprintf("out-%d.m4a", i))
			if err := ff.Audio(ctx(t), "in.m4a", out, "m4a", tags, ""); err != nil {
				t.Errorf("run %d: %v", i, err)
			}
		})
	}
	wg.Wait()
	raw, err := os.ReadFile(filepath.Join(dir, "seen"))
	if err != nil {
		t.Fatal(err)
	}
	most := 0
	for _, f := range strings.Fields(string(raw)) {
		n, _ := strconv.Atoi(f)
		most = max(most, n)
	}
	// At most the bound, and the bound reached: the runs did overlap.
	if most != 2 {
		t.Errorf("at most %d ffmpeg ran at once, want 2 (--ffmpeg-max-procs)", most)
	}
}

func TestFFmpegWaitingForASlotEndsWithItsContext(t *testing.T) {
	bin, dir := countingFFmpeg(t, 3*time.Second)
	ff := media.FFmpeg{Path: bin, Procs: semaphore.NewWeighted(1)}
	go ff.Audio(context.Background(), "in.m4a", filepath.Join(dir, "busy.m4a"), "m4a", tags, "") //nolint:errcheck // holds the slot
	time.Sleep(300 * time.Millisecond)
	c, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	began := time.Now()
	err := ff.Audio(c, "in.m4a", filepath.Join(dir, "waits.m4a"), "m4a", tags, "")
	var fe *failure.Error
	if !errors.As(err, &fe) || fe.Reason != v1alpha1.ReasonTimeout || !fe.Retryable || time.Since(began) > 2*time.Second {
		t.Errorf("after %s: %v, want a retryable Timeout once its context ended", time.Since(began).Round(time.Millisecond), err)
	}
	if _, err := os.Stat(filepath.Join(dir, "waits.m4a")); !os.IsNotExist(err) {
		t.Errorf("the waiting run wrote its output: %v", err)
	}
}
