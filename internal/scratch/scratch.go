// Package scratch gives each job a private temporary directory that goes when
// the job ends, and lets a restarted worker remove what a killed one left.
//
// A job's directory holds a lock file that the job's process keeps locked
// (flock) while the directory is in use. The kernel drops the lock when the
// process dies, however it dies, so Sweep can tell a dead job's directory
// from a live one even when several workers share one scratch directory.
package scratch

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// Prefix starts the name of every job directory. Sweep also needs the lock
// file inside, so it never touches what another program keeps in a shared
// temporary directory.
const Prefix = "ytx-job-"

const lockName = ".ytx-job.lock"

// Dir is one job's scratch directory.
type Dir struct {
	Path string
	lock *os.File
}

// New makes a directory under parent (the system's temporary directory when
// empty) named Prefix+name+random, and locks it.
func New(parent, name string) (*Dir, error) {
	if parent == "" {
		parent = os.TempDir()
	}
	path, err := os.MkdirTemp(parent, Prefix+name+"-")
	if err != nil {
		return nil, err
	}
	lock, err := os.OpenFile(filepath.Join(path, lockName), os.O_CREATE|os.O_RDWR, 0o600)
	if err == nil {
		err = syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	}
	if err != nil {
		if lock != nil {
			lock.Close()
		}
		os.RemoveAll(path) //nolint:errcheck // best effort; we just made it
		return nil, fmt.Errorf("locking scratch directory %s: %w", path, err)
	}
	return &Dir{Path: path, lock: lock}, nil
}

// Close removes the directory and everything in it.
func (d *Dir) Close() error {
	err := os.RemoveAll(d.Path)
	d.lock.Close() // closing drops the lock
	return err
}

// Sweep removes the job directories under parent whose process is gone, and
// returns their paths. A directory that another live process holds is left
// alone.
func Sweep(parent string) ([]string, error) {
	if parent == "" {
		parent = os.TempDir()
	}
	entries, err := os.ReadDir(parent)
	if err != nil {
		return nil, err
	}
	var removed []string
	var errs []error
	for _, e := range entries {
		if !e.IsDir() || !strings.HasPrefix(e.Name(), Prefix) {
			continue
		}
		path := filepath.Join(parent, e.Name())
		stale, err := abandoned(path)
		if err == nil && stale {
			err = os.RemoveAll(path)
			if err == nil {
				removed = append(removed, path)
			}
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	return removed, errors.Join(errs...)
}

// abandoned reports whether the directory is a job's (it has the lock file)
// and no live process holds its lock. A directory without the lock file is
// not ours, or is one a process died making before it locked it: empty,
// and left alone.
func abandoned(path string) (bool, error) {
	lock, err := os.OpenFile(filepath.Join(path, lockName), os.O_RDWR, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	defer lock.Close()
	err = syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	if errors.Is(err, syscall.EWOULDBLOCK) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return true, nil // we hold it now; RemoveAll follows, Close unlocks
}
