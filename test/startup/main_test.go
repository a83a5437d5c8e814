// Package startup runs the real bin/ytx manager and worker before their
// peers exist, as on a first `helm install` where Strimzi needs minutes to
// bring Kafka up and the bucket may come later: the programs must stay up,
// not ready, say why on /readyz, and be ready within seconds of the peers
// appearing (kfake on the port they were given, versitygw on its own).
//
// It fails, never skips, when bin/ytx is missing or older than the sources:
// run `make build` first (`make test` does).
package startup

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"ytx.dev/ytx/internal/app"
	"ytx.dev/ytx/internal/devenv"
	"ytx.dev/ytx/internal/youtube/fake"
	"ytx.dev/ytx/test/internal/ytxbin"
)

// Shared by every test of the package.
var (
	repoRoot, ytxBin, tmpRoot string
	apiServer                 *devenv.APIServer
	kubeconfig                string
	admin                     client.Client
	youTube                   *fake.Server
	youTubeCAFile             string
)

var closers []func()

func TestMain(m *testing.M) {
	err := setup()
	code := 1
	if err == nil {
		code = m.Run()
	} else {
		fmt.Fprintln(os.Stderr, "startup:", err)
	}
	for _, c := range slices.Backward(closers) {
		c()
	}
	os.Exit(code)
}

func setup() error {
	var err error
	if repoRoot, err = filepath.Abs("../.."); err != nil {
		return err
	}
	ytxBin = filepath.Join(repoRoot, "bin", "ytx")
	if err := ytxbin.Fresh(repoRoot, ytxBin); err != nil {
		return err
	}
	if tmpRoot, err = os.MkdirTemp("", "ytx-startup-"); err != nil {
		return err
	}
	closers = append(closers, func() { os.RemoveAll(tmpRoot) }) //nolint:errcheck

	assets := devenv.AssetsDir(filepath.Join(repoRoot, "bin", "k8s"))
	if apiServer, err = devenv.StartAPIServer(assets); err != nil {
		return err
	}
	closers = append(closers, func() { apiServer.Stop() }) //nolint:errcheck
	kubeconfig = filepath.Join(tmpRoot, "kubeconfig")
	if err := apiServer.WriteKubeconfig(kubeconfig); err != nil {
		return err
	}
	if admin, err = client.New(apiServer.Config, client.Options{Scheme: app.Scheme}); err != nil {
		return err
	}

	// Metadata-only extractions: the default videos, no media clips.
	if youTube, err = fake.New(fake.DefaultVideos()...); err == nil {
		err = youTube.Start()
	}
	if err != nil {
		return fmt.Errorf("starting the fake YouTube: %w", err)
	}
	closers = append(closers, func() { youTube.Close() }) //nolint:errcheck
	youTubeCAFile = filepath.Join(tmpRoot, "youtube-ca.crt")
	return youTube.WriteCAFile(youTubeCAFile)
}
