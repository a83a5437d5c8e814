package app

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"

	"ytx.dev/ytx/internal/storage"
)

// openStorage opens --storage. A URL that is not one stops the program, and
// so does a directory (file://) that cannot be written: it is the pod's own
// volume, mounted before the program starts, so a missing or read-only one
// is a mistake in the pod's spec that waiting does not mend. An S3 bucket is
// a peer: it may be made after the program starts, so whether it can be
// used is the "storage" peer's check (see peers), and until it can /readyz
// says why and the worker takes no job.
func openStorage(ctx context.Context, url string) (storage.Store, error) {
	if url == "" {
		return nil, errors.New("--storage is required: file:///absolute/dir or s3://bucket/prefix?endpoint=host:port")
	}
	store, err := storage.Open(url)
	if err != nil {
		return nil, err
	}
	if strings.HasPrefix(url, "file:") {
		if err := store.Check(ctx); err != nil {
			return nil, fmt.Errorf("--storage %s: %w", url, err)
		}
	}
	return store, nil
}

// checkScratchDir checks --scratch-dir, when set, names a directory.
func checkScratchDir(dir string) error {
	if dir == "" {
		return nil
	}
	fi, err := os.Stat(dir)
	if err == nil && !fi.IsDir() {
		err = errors.New("not a directory")
	}
	if err != nil {
		return fmt.Errorf("--scratch-dir %s: %w", dir, err)
	}
	return nil
}

// checkFFmpeg checks that --ffmpeg names a program, so that a worker image
// without ffmpeg stops at start instead of failing every audio job.
func checkFFmpeg(path string) error {
	if path == "" {
		path = "ffmpeg"
	}
	if _, err := exec.LookPath(path); err != nil {
		return fmt.Errorf("--ffmpeg %s: not found; install ffmpeg (Debian: apt-get install ffmpeg) or point --ffmpeg at it: %w", path, err)
	}
	return nil
}
