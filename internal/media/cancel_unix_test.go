//go:build unix

package media_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"ytx.dev/ytx/internal/failure"
	"ytx.dev/ytx/internal/media"
)

// TestCancelRemovesPartialOutput feeds ffmpeg through a FIFO that is never
// closed, so ffmpeg has opened its output and encoded what it got, and waits
// for more input; cancelling the context must kill it and remove the partial
// file. (ffmpeg holds the first 64 KiB or so of output in its write buffer,
// so with a 2 s clip the file on disk is still empty when it is killed.)
func TestCancelRemovesPartialOutput(t *testing.T) {
	t.Parallel()
	c := clips(t)
	dir := t.TempDir()
	fifo := filepath.Join(dir, "in.webm")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skip("no FIFOs here:", err)
	}
	data, err := os.ReadFile(c.AudioOpus)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := filepath.Join(dir, "audio.mp3")
	done := make(chan error, 1)
	go func() { done <- (media.FFmpeg{}).Audio(ctx, fifo, out, "mp3", tags, "") }()

	w, err := os.OpenFile(fifo, os.O_WRONLY, 0) // blocks until ffmpeg opens it
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}

	// Wait for ffmpeg's partial output to appear.
	var partial string
	for deadline := time.Now().Add(20 * time.Second); partial == "" && time.Now().Before(deadline); {
		matches, _ := filepath.Glob(filepath.Join(dir, ".audio.mp3.*.part"))
		for _, m := range matches {
			if fi, err := os.Stat(m); err == nil && fi.Mode().IsRegular() {
				partial = m
			}
		}
		select {
		case err := <-done:
			t.Fatalf("ffmpeg ended before the input did: %v", err)
		case <-time.After(20 * time.Millisecond):
		}
	}
	if partial == "" {
		t.Fatal("ffmpeg wrote no partial output")
	}

	cancel()
	var ye *failure.Error
	select {
	case err := <-done:
		if !errors.As(err, &ye) || !errors.Is(err, context.Canceled) || !ye.Retryable {
			t.Errorf("error %v, want a transient *failure.Error wrapping context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("ffmpeg was not stopped")
	}
	if _, err := os.Stat(partial); !os.IsNotExist(err) {
		t.Errorf("partial output %s: %v", partial, err)
	}
	noLeftovers(t, dir, "in.webm")
}
