package storage

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// setXattr sets the extended attribute name of the open file f. A filesystem
// without extended attributes (ENOTSUP) is not an error: what it records is
// metadata, not data, and the file is stored without it.
func setXattr(f *os.File, name, value string) error {
	err := unix.Fsetxattr(int(f.Fd()), name, []byte(value), 0)
	if errors.Is(err, unix.ENOTSUP) || errors.Is(err, unix.EOPNOTSUPP) {
		return nil
	}
	if err != nil {
		return &os.PathError{Op: "setxattr " + name, Path: f.Name(), Err: err}
	}
	return nil
}

// getXattr reads the extended attribute name of the file at path: "" when
// the file has none or the filesystem has no extended attributes.
func getXattr(path, name string) (string, error) {
	var err error
	for range 3 {
		var n int
		if n, err = unix.Getxattr(path, name, nil); err != nil {
			break
		}
		buf := make([]byte, n)
		if n, err = unix.Getxattr(path, name, buf); err == nil {
			return string(buf[:n]), nil
		}
		if !errors.Is(err, unix.ERANGE) {
			break
		}
		// It grew between the two calls: ask its size again.
	}
	if errors.Is(err, unix.ENODATA) || errors.Is(err, unix.ENOTSUP) || errors.Is(err, unix.EOPNOTSUPP) {
		return "", nil
	}
	return "", &os.PathError{Op: "getxattr " + name, Path: path, Err: err}
}
