// Package freeport finds loopback ports for the processes a test starts.
package freeport

import "net"

// Get returns a loopback port that was free a moment ago. Another program
// may take it before the caller binds it; tests that start a process on it
// see that as the process failing to listen.
func Get() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
