package main

import (
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"ytx.dev/ytx/internal/devenv"
)

func devCommand() *cobra.Command {
	var (
		o   devenv.Options
		log logOptions
	)
	cmd := &cobra.Command{
		Use:   "dev",
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
	logFlags(fs, &log, "console")
	return withEnv(cmd, func(cmd *cobra.Command) error {
		if _, err := log.logger(); err != nil {
			return err
		}
		if o.Assets == "" {
			o.Assets = defaultAssets()
		}
		return devenv.Run(cmd.Context(), o, cmd.OutOrStdout())
	})
}

// defaultAssets finds the binaries `make tools` builds: bin/k8s sits next to
// bin/ytx.
func defaultAssets() string {
	if d := os.Getenv("KUBEBUILDER_ASSETS"); d != "" {
		return d
	}
	exe, err := os.Executable()
	if err != nil {
		return ""
	}
	return filepath.Join(filepath.Dir(exe), "k8s")
}
