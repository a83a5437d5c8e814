//go:build !linux

package storage

import "os"

// Extended attributes are used on Linux only; elsewhere files are stored
// without them.

func setXattr(*os.File, string, string) error { return nil }

func getXattr(string, string) (string, error) { return "", nil }
