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

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

// globals are the persistent flags shared by every subcommand.
type globals struct {
	configPath string
	dataDir    string
}

// exitError carries a specific exit code out of a command.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

func newRootCmd(stdout, stderr io.Writer) *cobra.Command {
	g := &globals{}
	root := &cobra.Command{
		Use:           "chatbridge",
		Short:         "Website live chat bridged into Slack, Matrix and a built-in inbox",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.PersistentFlags().StringVarP(&g.configPath, "config", "c", "", "config file (default: ./bridge.toml if it exists, else $CHATBRIDGE_CONFIG, else built-in defaults)")
	root.PersistentFlags().StringVar(&g.dataDir, "data-dir", "", "data directory (overrides server.data_dir)")
	// Every command, in the order `chatbridge help` lists them; each group
	// lives in its own file.
	root.AddCommand(
		newServeCmd(g),         // serve.go
		newConfigCmd(g),        // config.go
		newConversationsCmd(g), // conversations.go
		newCannedCmd(g),        // canned.go
		newTicketsCmd(g),       // records.go
		newLeadsCmd(g),         // records.go
		newOutboxCmd(g),        // outbox.go
		newInboxCmd(g),         // inbox.go
		newSlackCmd(g),         // slack.go
		newMatrixCmd(g),        // matrix.go
		newBenchCmd(g),         // bench.go
		newVersionCmd(),        // root.go
	)
	return root
}

// execute runs the CLI and returns the process exit code.
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
		fmt.Fprintln(stderr, "chatbridge:", err)
		return 1
	}
	return 0
}

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := fmt.Fprintf(cmd.OutOrStdout(), "chatbridge %s\n", version)
			return err
		},
	}
}
