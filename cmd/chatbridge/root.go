package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

// version is set at build time with -ldflags "-X main.version=…"; without
// it, the module version Go stamped into the binary is used.
var version = "dev"

// globals are the persistent flags shared by every subcommand.
type globals struct {
	configPath string
	dataDir    string
}

// exitError carries a specific exit code out of a command.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

const rootLong = `A self-hosted live chat for your website: visitors chat in a widget, operators
answer from Slack, Matrix or the built-in inbox.

The configuration file is, in this order: --config, else $CHATBRIDGE_CONFIG,
else ./bridge.toml when it exists, else the built-in defaults.

Exit status: 0 success; 1 the command failed (an error, problems found by
config check, an unhealthy server for health); 2 a wrong command line (an
unknown command or flag, a missing or extra argument), nothing was done.`

func newRootCmd(stdout, stderr io.Writer) *cobra.Command {
	g := &globals{}
	root := group(&cobra.Command{
		Use:           "chatbridge",
		Short:         "Website live chat bridged into Slack, Matrix and a built-in inbox",
		Long:          rootLong,
		SilenceUsage:  true,
		SilenceErrors: true,
	})
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error { return usageError{cmd, err.Error()} })
	root.PersistentFlags().StringVarP(&g.configPath, "config", "c", "", "config file (default: $CHATBRIDGE_CONFIG, else ./bridge.toml if it exists, else built-in defaults)")
	root.PersistentFlags().StringVar(&g.dataDir, "data-dir", "", "data directory (overrides server.data_dir)")
	// Every command, in the order `chatbridge help` lists them; each group
	// lives in its own file.
	root.AddCommand(
		newServeCmd(g),         // serve.go
		newHealthCmd(g),        // health.go
		newConfigCmd(g),        // config.go
		newConversationsCmd(g), // conversations.go
		newCannedCmd(g),        // canned.go
		newTicketsCmd(g),       // records.go
		newLeadsCmd(g),         // records.go
		newOutboxCmd(g),        // outbox.go
		newPurgeCmd(g),         // purge.go
		newStoreCmd(g),         // store.go
		newInboxCmd(g),         // inbox.go
		newSlackCmd(g),         // slack.go
		newMatrixCmd(g),        // matrix.go
		newBenchCmd(g),         // bench.go
		newVersionCmd(),        // version.go
	)
	return root
}

// execute runs the CLI and returns the process exit code (see rootLong).
func execute(args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	root := newRootCmd(stdout, stderr)
	root.SetArgs(args)
	if err := root.ExecuteContext(ctx); err != nil {
		var ee exitError
		if errors.As(err, &ee) {
			return ee.code
		}
		// Errors may quote what a visitor wrote or a server answered.
		fmt.Fprintln(stderr, "chatbridge:", escapeText(err.Error()))
		var ue usageError
		if errors.As(err, &ue) {
			return exitUsage
		}
		return exitFailure
	}
	return exitOK
}
