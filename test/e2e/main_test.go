// Package e2e proves the whole loop on real peers: a real kube-apiserver and
// etcd, a Kafka-protocol broker (kfake) reached over TCP by kafka-go, and the
// fake YouTube reached by the unmodified kkdai client. The manager and the
// worker are built by internal/app, exactly as `ytx manager` and `ytx worker`
// build them.
package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr/funcr"
	"github.com/twmb/franz-go/pkg/kfake"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	"ytx.dev/ytx/internal/app"
	"ytx.dev/ytx/internal/devenv"
	"ytx.dev/ytx/internal/storage/s3test"
	"ytx.dev/ytx/internal/youtube/fake"
)

// Shared by every test of the package; each test works in its own namespace
// with its own topic and consumer group.
var (
	apiServer *devenv.APIServer
	broker    *kfake.Cluster
	youTube   *fake.Server
	k8s       client.WithWatch
	// assetsDir holds kube-apiserver, etcd and kubectl.
	assetsDir string
	// clips are real media made by ffmpeg, served by clip videos.
	clips *fake.Clips
	// catalogue is what the fake served at start: the default videos with
	// the clips as media.
	catalogue []fake.Video
	// s3 is a real S3 server process (versitygw).
	s3 *s3test.Server
	// youTubeCA is the fake's CA as a PEM file, for yt-dlp
	// (SSL_CERT_FILE), which trusts what the system trusts.
	youTubeCA string
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) (code int) {
	// Every log line of every manager and worker passes the leak check;
	// it is printed only when someone asks for it.
	show := os.Getenv("YTX_TEST_LOG") != ""
	logf.SetLogger(funcr.New(func(prefix, args string) {
		line := prefix + " " + args
		logLeaks.check(line)
		logWatchers.see(line)
		if show {
			fmt.Fprintln(os.Stderr, line)
		}
	}, funcr.Options{Verbosity: 1}))
	defer func() {
		if n, first := logLeaks.report(); n > 0 {
			fmt.Fprintf(os.Stderr, "FAIL: %d log lines show a signed URL's query or a key, e.g.:\n%s\n", n, first)
			code = 1
		}
	}()
	k8sBin, _ := filepath.Abs("../../bin/k8s")
	assetsDir = devenv.AssetsDir(k8sBin)
	var err error
	if apiServer, err = devenv.StartAPIServer(assetsDir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer apiServer.Stop() //nolint:errcheck
	if broker, err = devenv.StartKafka(0, 1); err != nil {
		fmt.Fprintln(os.Stderr, "starting kfake:", err)
		return 1
	}
	defer broker.Close()
	dir, err := os.MkdirTemp("", "ytx-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir) //nolint:errcheck
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if clips, err = fake.MakeClips(ctx, dir, 3*time.Second); err != nil {
		fmt.Fprintln(os.Stderr, "making media clips (run `make tools` for ffmpeg):", err)
		return 1
	}
	// The well-known videos serve real media, so that the samples work.
	catalogue, err = fake.DefaultVideosWithClips(clips)
	if err == nil {
		if youTube, err = fake.New(catalogue...); err == nil {
			err = youTube.AddDefaultListings()
		}
		if err == nil {
			err = youTube.Start()
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "starting the fake YouTube:", err)
		return 1
	}
	defer youTube.Close()
	youTubeCA = filepath.Join(dir, "youtube-ca.pem")
	if err := youTube.WriteCAFile(youTubeCA); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if s3, err = s3test.Launch(); err == nil {
		err = s3.SetEnv()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "starting the S3 server (run `make tools` for versitygw):", err)
		return 1
	}
	defer s3.Close() //nolint:errcheck
	if k8s, err = client.NewWithWatch(apiServer.Config, client.Options{Scheme: app.Scheme}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

// logWatchers are the tests' watches on the log lines of every manager
// and worker (watchLog).
var logWatchers watchers

type watchers struct {
	mu   sync.Mutex
	next int
	fs   map[int]func(line string)
}

func (w *watchers) see(line string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, f := range w.fs {
		f(line)
	}
}

// watchLog calls f with every log line of every manager and worker (as
// funcr writes it: "msg"="..." "key"="value" ...) until the test ends. f
// runs under a lock: it must be quick and must not log.
func watchLog(t *testing.T, f func(line string)) {
	logWatchers.mu.Lock()
	defer logWatchers.mu.Unlock()
	if logWatchers.fs == nil {
		logWatchers.fs = map[int]func(string){}
	}
	id := logWatchers.next
	logWatchers.next++
	logWatchers.fs[id] = f
	t.Cleanup(func() {
		logWatchers.mu.Lock()
		defer logWatchers.mu.Unlock()
		delete(logWatchers.fs, id)
	})
}

// logLeaks counts log lines that show what must not be logged: the query
// of a signed googlevideo URL (sig, signature, lsig, n), the innertube key,
// a thumbnail's signed parameters, or the fake's session cookie (the tests
// give it to the workers as --cookies-file). URLs in logs keep host and
// path only (youtube.RedactURL).
var logLeaks leakCounter

type leakCounter struct {
	mu    sync.Mutex
	n     int
	first string
}

var secretQuery = regexp.MustCompile(`[?&](sig|signature|lsig|n|key|sqp|rs|expire)=|` + regexp.QuoteMeta(fake.SessionCookieValue))

func (c *leakCounter) check(line string) {
	if !secretQuery.MatchString(line) {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n++; c.first == "" {
		c.first = line
	}
}

func (c *leakCounter) report() (int, string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n, c.first
}
