package app

import (
	"errors"
	"fmt"
	"os"
	"os/exec"

	"ytx.dev/ytx/internal/storage"
)

// openStorage opens --storage. A URL that is not one stops the program;
// whether the bucket or directory can be used is the "storage" peer's
// check (see peers): the bucket may be made after the program starts, and
// until it is /readyz says so and the worker takes no job.
func openStorage(url string) (storage.Store, error) {
	if url == "" {
		return nil, errors.New("--storage is required: file:///absolute/dir or s3://bucket/prefix?endpoint=host:port")
	}
	return storage.Open(url)
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
