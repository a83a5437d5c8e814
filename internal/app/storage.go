package app

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"

	"ytx.dev/ytx/internal/storage"
)

// openStorage opens --storage and checks that it can be used, so that a
// wrong bucket or directory stops the program at start rather than failing
// every job.
func openStorage(ctx context.Context, url string) (storage.Store, error) {
	if url == "" {
		return nil, errors.New("--storage is required: file:///absolute/dir or s3://bucket/prefix?endpoint=host:port")
	}
	store, err := storage.Open(url)
	if err != nil {
		return nil, err
	}
	if err := store.Check(ctx); err != nil {
		return nil, fmt.Errorf("--storage %s: %w", url, err)
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
