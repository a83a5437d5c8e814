// Command ytx-dev runs ytx on this machine without a cluster: a local
// kube-apiserver and etcd, an in-process Kafka broker, the controller and a
// worker (`make dev`). It is a binary of its own, not a subcommand of ytx,
// so that the production binary does not link envtest, kfake and the fake
// YouTube (a test in cmd/ytx lists its dependencies to keep it so).
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
	ctrl "sigs.k8s.io/controller-runtime"

	"ytx.dev/ytx/internal/cli"
	"ytx.dev/ytx/internal/devenv"
)

func main() {
	// The first SIGTERM or SIGINT cancels the context and stops everything
	// gracefully; a second one exits at once.
	os.Exit(run(ctrl.SetupSignalHandler(), os.Args[1:], os.Stdout, os.Stderr))
}

// run executes the command line and returns the exit code; an error is one
// line on stderr.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cmd := devCommand()
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	cmd.SetArgs(args)
	cmd.SetOut(stdout)
	cmd.SetErr(stderr)
	if err := cmd.ExecuteContext(ctx); err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", cmd.CommandPath(), err)
		return 1
	}
	return 0
}

func devCommand() *cobra.Command {
	var (
		o   devenv.Options
		log cli.LogOptions
	)
	cmd := &cobra.Command{
		Use:   "ytx-dev",
		Short: "Run ytx on this machine: API server, Kafka, controller and a worker",
		Long: "Run ytx on this machine without a cluster: a local kube-apiserver and etcd (the binaries `make tools` builds into bin/k8s), " +
			"an in-process Kafka broker, the controller and one worker, with the CRD installed. It prints the KUBECONFIG to use.",
	}
	fs := cmd.Flags()
	fs.StringVar(&o.Dir, "dir", "bin/dev", "directory for the kubeconfig")
	fs.StringVar(&o.Assets, "assets", "", "directory with kube-apiserver, etcd and kubectl (default $KUBEBUILDER_ASSETS, then k8s/ next to this binary)")
	fs.IntVar(&o.KafkaPort, "kafka-port", 9092, "port of the local Kafka broker")
	fs.BoolVar(&o.FakeYouTube, "fake-youtube", false, "serve the built-in fake YouTube instead of the real one (works offline)")
	fs.IntVar(&o.Concurrency, "concurrency", 4, "jobs the worker runs at once")
	fs.StringVar(&o.Storage, "storage", "", "where files go, as for `ytx worker` (default: file://<dir>/artifacts)")
	fs.StringVar(&o.Transport, "transport", "kafka", "how jobs reach the worker: kafka (an in-process broker) or http")
	cli.LogFlags(fs, &log, "console")
	return cli.WithEnv(cmd, func(cmd *cobra.Command) error {
		if _, err := log.Logger(); err != nil {
			return err
		}
		if o.Assets == "" {
			o.Assets = defaultAssets()
		}
		return devenv.Run(cmd.Context(), o, cmd.OutOrStdout())
	})
}

// defaultAssets finds the binaries `make tools` builds: bin/k8s sits next to
// bin/ytx-dev.
func defaultAssets() string {
	exe, err := os.Executable()
	if err != nil {
		return devenv.AssetsDir("")
	}
	return devenv.AssetsDir(filepath.Join(filepath.Dir(exe), "k8s"))
}
