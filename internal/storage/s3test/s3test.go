// Package s3test runs a real S3 server for tests: versitygw's posix backend
// over a temporary directory, spoken to over TCP exactly as a worker speaks to
// AWS, MinIO or Ceph. It is ordinary (non-test) code so that end-to-end tests
// in other packages can use it too.
//
// The binary comes from `make tools` (bin/versitygw at the module root), from
// $YTX_VERSITYGW, or from PATH.
//
// Credentials: storage.Open reads them from the environment only (never from
// the URL), so Bucket sets AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY with
// t.Setenv, which Go forbids in parallel tests. Tests that run in parallel
// start one server in TestMain with Launch, call SetEnv once, and create
// buckets with CreateBucket:
//
//	func TestMain(m *testing.M) {
//		srv, err := s3test.Launch()
//		if err != nil { fmt.Fprintln(os.Stderr, err); os.Exit(1) }
//		srv.SetEnv()
//		code := m.Run()
//		srv.Close()
//		os.Exit(code)
//	}
package s3test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// Region is the region versitygw answers for, and the one Bucket's URLs name.
const Region = "us-east-1"

// Server is a real S3 server process (versitygw over a temp directory).
type Server struct {
	Endpoint             string // host:port, plain HTTP
	AccessKey, SecretKey string
	Dir                  string // the posix root: <Dir>/<bucket>/<key> are the objects

	cmd     *exec.Cmd
	out     *lockedBuffer
	tempDir string // removed by Close when Launch made it
	done    chan struct{}
}

// Start launches a server for the test and stops it when the test ends. A
// missing binary fails the test (it is not skipped: a storage test that
// silently does not run hides a broken S3 backend).
func Start(t testing.TB) *Server {
	t.Helper()
	bin, err := Binary()
	if err != nil {
		t.Fatal(err)
	}
	s, err := launch(bin, t.TempDir(), randHex(10), randHex(20))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// Launch starts a server outside of any test, for TestMain; the caller
// calls Close.
func Launch() (*Server, error) {
	return LaunchWithKeys(randHex(10), randHex(20))
}

// LaunchWithKeys is Launch with given credentials, for a second server that
// clients with the first one's environment can reach.
func LaunchWithKeys(access, secret string) (*Server, error) {
	bin, err := Binary()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "s3test-")
	if err != nil {
		return nil, err
	}
	s, err := launch(bin, dir, access, secret)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	s.tempDir = dir
	return s, nil
}

// LaunchOn starts a server on endpoint (host:port) over dir with the given
// credentials, for a test that starts its clients first, pointed at an
// address where nothing listens yet; the caller calls Close.
func LaunchOn(endpoint, dir, access, secret string) (*Server, error) {
	bin, err := Binary()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	s := &Server{Endpoint: endpoint, AccessKey: access, SecretKey: secret, Dir: dir, out: &lockedBuffer{}}
	if err := s.start(bin); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// Binary finds versitygw: $YTX_VERSITYGW, else bin/versitygw in the module
// root (found by walking up from the working directory to go.mod), else PATH.
func Binary() (string, error) {
	if p := os.Getenv("YTX_VERSITYGW"); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("YTX_VERSITYGW=%s: %w", p, err)
		}
		return p, nil
	}
	if dir, err := os.Getwd(); err == nil {
		for {
			if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
				p := filepath.Join(dir, "bin", "versitygw")
				if _, err := os.Stat(p); err == nil {
					return p, nil
				}
				break
			}
			parent := filepath.Dir(dir)
			if parent == dir {
				break
			}
			dir = parent
		}
	}
	if p, err := exec.LookPath("versitygw"); err == nil {
		return p, nil
	}
	return "", errors.New("versitygw not found in $YTX_VERSITYGW, <module root>/bin or PATH: run `make tools` to build it")
}

func launch(bin, base, access, secret string) (*Server, error) {
	var lastErr error
	// The free port is found by listening and closing, so another process
	// may take it before versitygw binds it: try a few ports.
	for range 3 {
		dir := filepath.Join(base, "s3")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, err
		}
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		s := &Server{Endpoint: port, AccessKey: access, SecretKey: secret, Dir: dir, out: &lockedBuffer{}}
		if lastErr = s.start(bin); lastErr == nil {
			return s, nil
		}
		if s.cmd.Process == nil {
			return nil, lastErr
		}
		s.Close()
	}
	return nil, lastErr
}

// wait returns when the server answers HTTP, or why it never will.
func (s *Server) wait(limit time.Duration) error {
	deadline := time.Now().Add(limit)
	client := &http.Client{Timeout: time.Second}
	for time.Now().Before(deadline) {
		select {
		case <-s.done:
			return fmt.Errorf("versitygw exited at start: %s", s.out.String())
		default:
		}
		if resp, err := client.Get("http://" + s.Endpoint + "/"); err == nil {
			resp.Body.Close()
			return nil // any answer, even 403, means it serves S3
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("versitygw did not answer on %s within %v: %s", s.Endpoint, limit, s.out.String())
}

// Kill stops the server at once (SIGKILL), keeping its directory, as an
// outage would; Restart brings it back.
func (s *Server) Kill() {
	if s.cmd.Process != nil {
		s.cmd.Process.Kill() //nolint:errcheck // it may have exited already
		<-s.done
	}
}

// Restart starts a killed server again on the same address, over the same
// directory, with the same credentials: the objects are still there.
func (s *Server) Restart() error {
	bin, err := Binary()
	if err != nil {
		return err
	}
	return s.start(bin)
}

// start runs versitygw on s.Endpoint over s.Dir and waits until it answers.
func (s *Server) start(bin string) error {
	s.done = make(chan struct{})
	// posix needs extended attributes (user.*) for object metadata;
	// ext4, xfs, btrfs and tmpfs have them. On a filesystem without them
	// add "--nometa" (no Content-Type) or "--sidecar DIR" after "posix".
	s.cmd = exec.Command(bin, "--port", s.Endpoint, "--quiet", "posix", s.Dir)
	s.cmd.Env = append(os.Environ(), "ROOT_ACCESS_KEY="+s.AccessKey, "ROOT_SECRET_KEY="+s.SecretKey)
	s.cmd.Stdout, s.cmd.Stderr = s.out, s.out
	if err := s.cmd.Start(); err != nil {
		return fmt.Errorf("starting %s: %w", bin, err)
	}
	go func() { s.cmd.Wait(); close(s.done) }() //nolint:errcheck // exit status is not interesting: we kill it
	return s.wait(10 * time.Second)
}

// Close stops the server and waits for it to exit.
func (s *Server) Close() error {
	if s.cmd.Process != nil {
		s.cmd.Process.Kill() //nolint:errcheck // it may have exited already
		<-s.done
	}
	if s.tempDir != "" {
		return os.RemoveAll(s.tempDir)
	}
	return nil
}

// Client returns a minio-go client with the root credentials, for checks
// that go behind the Store's back.
func (s *Server) Client() *minio.Client {
	c, err := minio.New(s.Endpoint, &minio.Options{
		Creds:  credentials.NewStaticV4(s.AccessKey, s.SecretKey, ""),
		Region: Region,
	})
	if err != nil {
		panic(err) // only a malformed endpoint, which Start never makes
	}
	return c
}

// Bucket creates a bucket and returns the --storage URL for it with the
// given prefix (which may be empty), and sets AWS_ACCESS_KEY_ID /
// AWS_SECRET_ACCESS_KEY for the test with t.Setenv, so the test must not
// be parallel (see the package doc for parallel tests).
func (s *Server) Bucket(t testing.TB, name, prefix string) string {
	t.Helper()
	u, err := s.CreateBucket(context.Background(), name, prefix)
	if err != nil {
		t.Fatal(err)
	}
	for _, kv := range s.env() {
		t.Setenv(kv[0], kv[1])
	}
	return u
}

// CreateBucket creates a bucket and returns the --storage URL for it with
// the given prefix. It leaves the environment alone.
func (s *Server) CreateBucket(ctx context.Context, name, prefix string) (string, error) {
	if err := s.Client().MakeBucket(ctx, name, minio.MakeBucketOptions{Region: Region}); err != nil {
		return "", fmt.Errorf("creating bucket %s: %w", name, err)
	}
	return URL(s.Endpoint, name, prefix), nil
}

// URL is the --storage URL of bucket (with prefix, which may be empty) on
// a server at endpoint, which need not run yet.
func URL(endpoint, bucket, prefix string) string {
	q := url.Values{"endpoint": {endpoint}, "insecure": {"true"}, "region": {Region}}
	u := url.URL{Scheme: "s3", Host: bucket, Path: "/" + prefix, RawQuery: q.Encode()}
	return u.String()
}

// Env returns the server's credentials as KEY=value entries, for a child
// process's environment (exec.Cmd.Env).
func (s *Server) Env() []string {
	var env []string
	for _, kv := range s.env() {
		env = append(env, kv[0]+"="+kv[1])
	}
	return env
}

// SetEnv puts the server's credentials into this process's environment,
// for TestMain.
func (s *Server) SetEnv() error {
	for _, kv := range s.env() {
		if err := os.Setenv(kv[0], kv[1]); err != nil {
			return err
		}
	}
	return nil
}

// env also blanks a session token from the developer's own AWS setup, which
// versitygw would reject.
func (s *Server) env() [][2]string {
	return [][2]string{
		{"AWS_ACCESS_KEY_ID", s.AccessKey},
		{"AWS_SECRET_ACCESS_KEY", s.SecretKey},
		{"AWS_SESSION_TOKEN", ""},
	}
}

func freePort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b) //nolint:errcheck // crypto/rand.Read never fails
	return hex.EncodeToString(b)
}

// lockedBuffer collects the server's output for error messages.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.buf.Len() > 64<<10 {
		return len(p), nil // enough to tell what went wrong
	}
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
