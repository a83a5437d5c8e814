package storage

import "path"

// Prefix is where the files of one extraction live: <namespace>/<name>/, so
// that tenants never share files and one Delete removes them all. The
// trailing slash keeps "ns/name/" from matching "ns/name-2/".
func Prefix(namespace, name string) string {
	return path.Join(namespace, name) + "/"
}

// Key is the key of one file of an extraction.
func Key(namespace, name, file string) string {
	return Prefix(namespace, name) + file
}
