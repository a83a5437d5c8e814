// Package cli holds what every ytx command line shares: flags that
// environment variables can set, and the log flags. `ytx` (cmd/ytx) and
// `ytx-dev` (cmd/ytx-dev) are two binaries, so that the production one does
// not link the development environment, and both use these.
package cli

import (
	"fmt"
	"os"
	"strings"

	"github.com/go-logr/logr"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"go.uber.org/zap/zapcore"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
)

// EnvName is the environment variable that sets a flag: YTX_ and the flag in
// upper snake case (--kafka-brokers is YTX_KAFKA_BROKERS).
func EnvName(flag string) string {
	return "YTX_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// BindEnv sets every flag not given on the command line from its
// environment variable. A bad value is an error that names both.
func BindEnv(fs *pflag.FlagSet) error {
	var err error
	fs.VisitAll(func(f *pflag.Flag) {
		if err != nil || f.Changed {
			return
		}
		v, ok := os.LookupEnv(EnvName(f.Name))
		if !ok {
			return
		}
		if e := fs.Set(f.Name, v); e != nil {
			err = fmt.Errorf("invalid value %q in %s for --%s: %v", v, EnvName(f.Name), f.Name, e)
		}
	})
	return err
}

// WithEnv wraps a command's run so that environment variables apply first
// and the usage text documents them.
func WithEnv(cmd *cobra.Command, run func(cmd *cobra.Command) error) *cobra.Command {
	cmd.Args = cobra.NoArgs
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if err := BindEnv(cmd.Flags()); err != nil {
			return err
		}
		return run(cmd)
	}
	cmd.Long += "\n\nEvery flag can also be set by an environment variable: YTX_ and the flag's name in upper snake case, e.g. --kafka-brokers is YTX_KAFKA_BROKERS."
	// Flag parse errors name the flag already; keep them to one line.
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return err })
	return cmd
}

// LogOptions are --log-level and --log-format.
type LogOptions struct {
	level, format string
}

// LogFlags adds --log-level and --log-format (format is its default).
func LogFlags(fs *pflag.FlagSet, o *LogOptions, format string) {
	fs.StringVar(&o.level, "log-level", "info", "log level: debug, info or error")
	fs.StringVar(&o.format, "log-format", format, "log format: json or console")
}

// Logger checks the options and sets controller-runtime's logger, before
// anything logs.
func (o LogOptions) Logger() (logr.Logger, error) {
	var lvl zapcore.Level
	if err := lvl.UnmarshalText([]byte(o.level)); err != nil {
		return logr.Logger{}, fmt.Errorf("--log-level %q: use debug, info or error", o.level)
	}
	if o.format != "json" && o.format != "console" {
		return logr.Logger{}, fmt.Errorf("--log-format %q: use json or console", o.format)
	}
	enc := zap.JSONEncoder()
	if o.format == "console" {
		enc = zap.ConsoleEncoder()
	}
	l := zap.New(zap.Level(lvl), enc)
	ctrl.SetLogger(l)
	return l, nil
}
