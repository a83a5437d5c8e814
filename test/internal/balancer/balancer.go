// Package balancer is a stand-in for a Kubernetes Service in tests and
// benchmarks: a TCP listener that hands each connection to the next
// backend that accepts it, round robin, as kube-proxy spreads connections
// over a Service's ready pods.
package balancer

import (
	"io"
	"net"
	"sync"
	"time"
)

// Start listens on a free loopback port and forwards each connection to
// one of backends; a backend that refuses is skipped, as a pod that is
// not ready. It returns the address to dial and a function that stops
// listening.
func Start(backends []string) (addr string, stop func(), err error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	var mu sync.Mutex
	next := 0
	pick := func() string {
		mu.Lock()
		defer mu.Unlock()
		a := backends[next%len(backends)]
		next++
		return a
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go forward(c, pick, len(backends))
		}
	}()
	return ln.Addr().String(), func() { ln.Close() }, nil
}

// forward copies c to and from the first of up to tries backends that
// accepts a connection; if none does, c is closed, as a Service with no
// ready pod refuses.
func forward(c net.Conn, pick func() string, tries int) {
	defer c.Close()
	for range tries {
		b, err := net.DialTimeout("tcp", pick(), time.Second)
		if err != nil {
			continue
		}
		defer b.Close()
		go io.Copy(b, c) //nolint:errcheck // ends when either side closes
		io.Copy(c, b)    //nolint:errcheck
		return
	}
}
