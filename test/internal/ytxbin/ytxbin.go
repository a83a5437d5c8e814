// Package ytxbin checks the bin/ytx that `make build` built, for the suites
// that run it as a process (test/faults, test/chartrun, test/bench): a
// binary older than the code would test or measure yesterday's ytx.
package ytxbin

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Newer returns the first Go source of the binary under root (tests, bin/,
// hack/, test/ and hidden directories left out) changed after bin was
// built, relative to root; "" when there is none or bin does not exist.
func Newer(root, bin string) string {
	built, err := os.Stat(bin)
	if err != nil {
		return ""
	}
	var newer string
	filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error { //nolint:errcheck // best effort: a hint
		switch {
		case err != nil:
			return nil
		case d.IsDir() && (d.Name() == "bin" || d.Name() == "hack" || d.Name() == "test" || strings.HasPrefix(d.Name(), ".")):
			return filepath.SkipDir
		case strings.HasSuffix(path, ".go") && !strings.HasSuffix(path, "_test.go"):
			if fi, err := d.Info(); err == nil && fi.ModTime().After(built.ModTime()) {
				newer = strings.TrimPrefix(path, root+string(filepath.Separator))
				return filepath.SkipAll
			}
		}
		return nil
	})
	return newer
}

// Fresh fails when bin is missing or older than a Go source of the binary,
// saying to run `make build`.
func Fresh(root, bin string) error {
	if _, err := os.Stat(bin); err != nil {
		return fmt.Errorf("no %s: run `make build`", bin)
	}
	if newer := Newer(root, bin); newer != "" {
		return fmt.Errorf("%s is older than %s: run `make build`", bin, newer)
	}
	return nil
}
