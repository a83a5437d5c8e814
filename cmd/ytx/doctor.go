package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"ytx.dev/ytx/internal/app"
	"ytx.dev/ytx/internal/cli"
	"ytx.dev/ytx/internal/youtube"
)

func doctorCommand() *cobra.Command {
	var (
		c      app.ResolverConfig
		report app.Report
		log    cli.LogOptions
	)
	cmd := &cobra.Command{
		Use:   "doctor [URL]",
		Short: "Check that the worker's resolvers can read YouTube",
		Long: "Check, for a person whose extractions fail, that each resolver of the worker can read a video and fetch a little of its audio, " +
			"with the worker's own flags and environment (resolvers, proxies, cookies, HTTPS_PROXY). It prints a table with each resolver's version, " +
			"whether metadata and media worked, the time, and the reason code with the fix to try; it exits non-zero when no resolver works. " +
			"URL defaults to " + app.DoctorVideo + ".",
	}
	fs := cmd.Flags()
	rf := addResolveFlags(fs, &c)
	cli.LogFlags(fs, &log, "console")
	kubeFlags(fs, &report.Kube)
	fs.StringVar(&report.ConfigMap, "report-configmap", "", "record the result in this ConfigMap (created if missing) and an Event on it, Warning when no resolver works (in a cluster: the chart's doctor CronJob)")
	fs.StringVar(&report.Namespace, "report-namespace", "", "namespace of --report-configmap (default: $POD_NAMESPACE)")
	cli.WithEnv(cmd, func(cmd *cobra.Command) error {
		if _, err := log.Logger(); err != nil {
			return err
		}
		if err := rf.finish(cmd.Flags()); err != nil {
			return err
		}
		link := ""
		if args := cmd.Flags().Args(); len(args) == 1 {
			link = args[0]
		}
		checks, err := app.Doctor(cmd.Context(), c, youtube.HTTPOptions{}, link)
		if err != nil {
			return err
		}
		var table bytes.Buffer
		app.WriteChecks(&table, checks)
		fmt.Fprint(cmd.OutOrStdout(), table.String())
		if report.ConfigMap != "" {
			if report.Namespace == "" {
				report.Namespace = os.Getenv("POD_NAMESPACE")
			}
			if report.Namespace == "" {
				return errors.New("--report-namespace is empty: set it, or POD_NAMESPACE")
			}
			if err := report.Write(cmd.Context(), checks, table.String()); err != nil {
				return err
			}
		}
		if !app.Working(checks) {
			return errors.New("no resolver could read the video and its media: see the table above")
		}
		return nil
	})
	cmd.Args = cobra.MaximumNArgs(1)
	return cmd
}
