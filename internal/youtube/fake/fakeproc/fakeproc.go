// Package fakeproc runs the fake YouTube in a child process, for benchmarks
// whose figures (peak RSS, CPU) must be the client's alone and not the
// server's buffers too, and for clients that are other programs (yt-dlp,
// curl) and reach it through its CONNECT proxy.
//
// The child is the test binary itself, running one test of the calling
// package that serves the videos:
//
//	func TestFakeYouTubeProcess(t *testing.T) { fakeproc.Serve(t, videos()...) }
//
//	func BenchmarkX(b *testing.B) {
//		yt := fakeproc.Start(b, "TestFakeYouTubeProcess")
//		hc := yt.HTTPClient(b)
//		...
//	}
//
// It is ordinary (non-test) code so that the test packages of internal/download
// and test/bench share it.
package fakeproc

import (
	"bufio"
	"context"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"ytx.dev/ytx/internal/youtube"
	"ytx.dev/ytx/internal/youtube/fake"
)

// envVar, set in the child's environment, makes Serve serve instead of
// skipping.
const envVar = "YTX_FAKE_YOUTUBE_PROCESS"

// Process is a fake YouTube running in a child process.
type Process struct {
	// Addr is the TLS listener, host:port.
	Addr string
	// Proxy is the CONNECT proxy that tunnels YouTube's host names to Addr
	// (for HTTPS_PROXY, yt-dlp's --proxy, curl's --proxy).
	Proxy *url.URL
	// CAFile is the PEM file of the CA that signed the fake's certificate;
	// Pool holds the same CA.
	CAFile string
	Pool   *x509.CertPool
	// PID is the child's process ID.
	PID int
}

// Serve is the child's side: when this process was started by Start, it
// serves videos until its stdin closes, after writing where to stdout. In
// any other run of the tests it skips t.
func Serve(t *testing.T, videos ...fake.Video) {
	if os.Getenv(envVar) == "" {
		t.Skip("the fake YouTube of a benchmark's child process")
	}
	srv, err := fake.New(videos...)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := srv.WriteCAFile(ca); err != nil {
		t.Fatal(err)
	}
	fmt.Printf("FAKE %s %s %s\n", srv.Addr(), srv.ProxyURL(), ca)
	io.Copy(io.Discard, os.Stdin) //nolint:errcheck // until the parent goes
}

// Start runs test (a test of this test binary that calls Serve) in a child
// process and returns the fake it serves; tb's cleanup stops it.
func Start(tb testing.TB, test string) *Process {
	tb.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^"+test+"$")
	cmd.Env = append(os.Environ(), envVar+"=1")
	cmd.Stderr = os.Stderr
	// A benchmark killed by its timeout must not leave the server behind.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		tb.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		stdin.Close()
		cmd.Wait() //nolint:errcheck // it ends when stdin closes
	})
	p := &Process{PID: cmd.Process.Pid}
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) == 4 && f[0] == "FAKE" {
			p.Addr, p.CAFile = f[1], f[3]
			if p.Proxy, err = url.Parse(f[2]); err != nil {
				tb.Fatal(err)
			}
			break
		}
	}
	if p.Addr == "" {
		tb.Fatal("the fake YouTube process did not start")
	}
	go io.Copy(io.Discard, stdout) //nolint:errcheck // the test runner's own output
	pem, err := os.ReadFile(p.CAFile)
	if err != nil {
		tb.Fatal(err)
	}
	p.Pool = x509.NewCertPool()
	if !p.Pool.AppendCertsFromPEM(pem) {
		tb.Fatal("no CA certificate from the fake")
	}
	return p
}

// HTTPClient is ytx's client for YouTube (youtube.NewHTTPClient) with every
// connection dialled straight to the fake's TLS listener.
func (p *Process) HTTPClient(tb testing.TB) *http.Client {
	dial := func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "tcp", p.Addr)
	}
	hc := youtube.NewHTTPClient(youtube.HTTPOptions{DialContext: dial, RootCAs: p.Pool})
	tb.Cleanup(hc.CloseIdleConnections)
	return hc
}

// Env is what a child process needs in its environment to reach the fake
// as it would reach YouTube: HTTPS_PROXY and SSL_CERT_FILE.
func (p *Process) Env() []string {
	return []string{"HTTPS_PROXY=" + p.Proxy.String(), "SSL_CERT_FILE=" + p.CAFile}
}
