// Package freeport finds loopback ports for the processes a test starts.
package freeport

import (
	"fmt"
	"net"
	"sync"
)

var (
	mu sync.Mutex
	// given are the ports Get returned before: the kernel may hand a port
	// that was closed a moment ago out again, and two processes of one
	// test told to listen on the same port fail for nothing.
	given = map[int]bool{}
)

// Get returns a loopback port that was free a moment ago, and never one it
// returned before in this process. Another program may take it before the
// caller binds it; tests that start a process on it see that as the
// process failing to listen.
func Get() (int, error) {
	mu.Lock()
	defer mu.Unlock()
	for range 100 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		port := ln.Addr().(*net.TCPAddr).Port
		ln.Close() //nolint:errcheck
		if !given[port] {
			given[port] = true
			return port, nil
		}
	}
	return 0, fmt.Errorf("freeport: the kernel offered only ports given out before, 100 times")
}
