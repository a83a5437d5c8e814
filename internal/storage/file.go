package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
)

// fileStore keeps objects as files under root, typically a PersistentVolume.
// A key maps to the path root/key; a temporary file starts with "." so that
// List skips it and a crash leaves nothing that looks like an object.
type fileStore struct {
	root string
	loc  string // file:///root, for messages
}

func newFileStore(root string) *fileStore {
	return &fileStore{root: root, loc: (&url.URL{Scheme: "file", Path: root}).String()}
}

func (s *fileStore) URI(key string) string {
	return (&url.URL{Scheme: "file", Path: path.Join(filepath.ToSlash(s.root), key)}).String()
}

func (s *fileStore) path(key string) string {
	return filepath.Join(s.root, filepath.FromSlash(key))
}

func (s *fileStore) Put(ctx context.Context, key string, r io.Reader, opts PutOptions) (Object, error) {
	obj, err := s.put(ctx, key, r, opts)
	if err != nil {
		return Object{}, fmt.Errorf("storing %s in %s: %w", key, s.loc, err)
	}
	return obj, nil
}

func (s *fileStore) put(ctx context.Context, key string, r io.Reader, opts PutOptions) (obj Object, err error) {
	if err := validKey(key); err != nil {
		return Object{}, err
	}
	m, err := newMeter(ctx, r, opts)
	if err != nil {
		return Object{}, err
	}
	// Without this a missing volume mount would silently fill the
	// container's own filesystem.
	if err := s.rootDir(); err != nil {
		return Object{}, err
	}
	dst := s.path(key)
	dir := filepath.Dir(dst)
	f, err := s.createTemp(dir, "."+filepath.Base(dst)+".*.tmp")
	if err != nil {
		return Object{}, err
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
			s.prune(dir)
		}
	}()
	if _, err = io.Copy(f, m); err != nil {
		return Object{}, err
	}
	if err = m.finish(); err != nil {
		return Object{}, err
	}
	// The writer goes on the temporary file, so that the file appears
	// with it.
	if opts.Writer != "" {
		if err = setXattr(f, writerXattr, writerValue(opts.Writer)); err != nil {
			return Object{}, err
		}
	}
	// The file must be on disk before the rename publishes it, and the
	// rename must be on disk before we report success.
	if err = f.Chmod(0o644); err != nil {
		return Object{}, err
	}
	if err = f.Sync(); err != nil {
		return Object{}, err
	}
	if err = f.Close(); err != nil {
		return Object{}, err
	}
	if err = os.Rename(tmp, dst); err != nil {
		return Object{}, err
	}
	if err = syncDir(dir); err != nil {
		os.Remove(dst) // not durable: do not report it, do not leave it
		return Object{}, err
	}
	return m.object(key, s.URI(key)), nil
}

// createTemp makes the key's directory and a temporary file in it. A
// concurrent Delete or failed Put may prune the directory between the two
// steps, so it tries again.
func (s *fileStore) createTemp(dir, pattern string) (f *os.File, err error) {
	for range 3 {
		if err = os.MkdirAll(dir, 0o755); err != nil {
			return nil, err
		}
		if f, err = os.CreateTemp(dir, pattern); !errors.Is(err, fs.ErrNotExist) {
			return f, err
		}
	}
	return nil, err
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

func (s *fileStore) rootDir() error {
	fi, err := os.Stat(s.root)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("directory %s does not exist: create it or mount the volume there", s.root)
	case err != nil:
		return err
	case !fi.IsDir():
		return fmt.Errorf("%s is not a directory", s.root)
	}
	return nil
}

// prune removes dir and its parents while they are empty, stopping at the
// root, which stays even when empty.
func (s *fileStore) prune(dir string) {
	for dir != s.root && strings.HasPrefix(dir, s.root) && dir != filepath.Dir(dir) {
		if os.Remove(dir) != nil {
			return
		}
		dir = filepath.Dir(dir)
	}
}

func (s *fileStore) Delete(ctx context.Context, prefix string) error {
	if err := validPrefix(prefix, false); err != nil {
		return fmt.Errorf("deleting %q in %s: %w", prefix, s.loc, err)
	}
	var dirs []string
	err := s.walk(ctx, prefix, true, func(key, p string, isDir bool) error {
		if isDir {
			dirs = append(dirs, p)
			return nil
		}
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("deleting %q in %s: %w", prefix, s.loc, err)
	}
	// Deepest first, so that a directory is empty by the time it is tried.
	for i := len(dirs) - 1; i >= 0; i-- {
		s.prune(dirs[i])
	}
	return nil
}

func (s *fileStore) DeleteIncomplete(ctx context.Context, prefix string, match func(string) bool) error {
	if err := validPrefix(prefix, false); err != nil {
		return fmt.Errorf("sweeping %q in %s: %w", prefix, s.loc, err)
	}
	err := s.walk(ctx, prefix, true, func(key, p string, isDir bool) error {
		if isDir || !isTemporary(path.Base(key)) || (match != nil && !match(key)) {
			return nil
		}
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("sweeping %q in %s: %w", prefix, s.loc, err)
	}
	return nil
}

// isTemporary reports whether a file name is one of put's temporary files.
func isTemporary(name string) bool {
	return strings.HasPrefix(name, ".") && strings.HasSuffix(name, ".tmp")
}

func (s *fileStore) List(ctx context.Context, prefix string) ([]string, error) {
	if err := validPrefix(prefix, true); err != nil {
		return nil, fmt.Errorf("listing %q in %s: %w", prefix, s.loc, err)
	}
	var keys []string
	err := s.walk(ctx, prefix, false, func(key, _ string, isDir bool) error {
		if !isDir {
			keys = append(keys, key)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("listing %q in %s: %w", prefix, s.loc, err)
	}
	sort.Strings(keys)
	return keys, nil
}

// walk calls fn for the regular files whose key starts with prefix and for
// the directories they may lie in, parents before children. Only Delete asks for hidden
// files (temporary files of interrupted Puts), so that they go with the rest.
func (s *fileStore) walk(ctx context.Context, prefix string, hidden bool, fn func(key, p string, isDir bool) error) error {
	// Start at the deepest directory that the prefix names completely.
	start := s.root
	if i := strings.LastIndex(prefix, "/"); i >= 0 {
		start = s.path(prefix[:i])
	}
	return filepath.WalkDir(start, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // nothing there, or removed while we looked
			}
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if p == s.root {
			return nil
		}
		rel, err := filepath.Rel(s.root, p)
		if err != nil {
			return err
		}
		key := filepath.ToSlash(rel)
		if strings.HasPrefix(d.Name(), ".") && !(hidden && d.Type().IsRegular()) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			// Descend only where keys with the prefix can be.
			if !strings.HasPrefix(key+"/", prefix) && !strings.HasPrefix(prefix, key+"/") {
				return filepath.SkipDir
			}
			return fn(key, p, true)
		}
		if d.Type().IsRegular() && strings.HasPrefix(key, prefix) {
			return fn(key, p, false)
		}
		return nil
	})
}

func (s *fileStore) Open(ctx context.Context, key string) (io.ReadCloser, error) {
	if err := validKey(key); err != nil {
		return nil, fmt.Errorf("opening %s in %s: %w", key, s.loc, err)
	}
	f, err := os.Open(s.path(key))
	if err != nil {
		return nil, fmt.Errorf("opening %s in %s: %w", key, s.loc, err)
	}
	return f, nil
}

func (s *fileStore) Stat(ctx context.Context, key string) (Info, error) {
	if err := validKey(key); err != nil {
		return Info{}, fmt.Errorf("reading %s in %s: %w", key, s.loc, err)
	}
	fi, err := os.Stat(s.path(key))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return Info{}, fmt.Errorf("reading %s in %s: %w", key, s.loc, ErrNotFound)
	case err != nil:
		return Info{}, fmt.Errorf("reading %s in %s: %w", key, s.loc, err)
	case !fi.Mode().IsRegular():
		return Info{}, fmt.Errorf("reading %s in %s: not a file: %w", key, s.loc, ErrNotFound)
	}
	return Info{Key: key, Size: fi.Size(), Modified: fi.ModTime()}, nil
}

func (s *fileStore) writer(ctx context.Context, key string) (string, error) {
	p := s.path(key)
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("reading the writer of %s in %s: %w", key, s.loc, err)
	}
	w, err := getXattr(p, writerXattr)
	if err != nil {
		return "", fmt.Errorf("reading the writer of %s in %s: %w", key, s.loc, err)
	}
	return w, nil
}

func (s *fileStore) Check(ctx context.Context) error {
	if err := s.rootDir(); err != nil {
		return fmt.Errorf("storage %s: %w", s.loc, err)
	}
	f, err := os.CreateTemp(s.root, ".ytx-check-*")
	if err == nil {
		os.Remove(f.Name())
		err = f.Close()
	}
	if err != nil {
		return fmt.Errorf("storage %s: directory %s is not writable (check the volume's access mode and the pod's fsGroup): %w", s.loc, s.root, err)
	}
	return nil
}
