// Command ytx is the binary of ytx's images: `ytx manager` runs the
// controller, `ytx worker` runs an extractor and `ytx doctor` checks the
// resolvers. Running everything on one machine is `ytx-dev` (cmd/ytx-dev), a
// binary of its own, so that this one does not link the API server harness,
// the in-process Kafka broker and the fake YouTube.
package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"
	ctrl "sigs.k8s.io/controller-runtime"
)

func main() {
	// The first SIGTERM or SIGINT cancels the context and starts a graceful
	// stop; a second one exits at once.
	os.Exit(run(ctrl.SetupSignalHandler(), os.Args[1:], os.Stdout, os.Stderr))
}

// run executes the command line and returns the exit code. Errors are one
// line on stderr, naming the command and, for a bad value, the flag.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	root := &cobra.Command{
		Use:           "ytx",
		Short:         "Extract metadata, audio and video from YouTube links, the Kubernetes way",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(managerCommand(), workerCommand(), doctorCommand())
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	if cmd, err := root.ExecuteContextC(ctx); err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", cmd.CommandPath(), err)
		return 1
	}
	return 0
}
