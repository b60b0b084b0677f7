package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/chatbridge/chatbridge/adapters/slack"
	"github.com/chatbridge/chatbridge/internal/app"
	"github.com/chatbridge/chatbridge/internal/config"
)

func newSlackCmd(g *globals) *cobra.Command {
	cmd := group(&cobra.Command{Use: "slack", Short: "Slack helpers"})
	cmd.AddCommand(&cobra.Command{
		Use:   "manifest",
		Short: "Print the Slack app manifest (scopes, events, Socket Mode) to create the app with",
		Long: `Print a Slack app manifest for chatbridge.

Create the app at https://api.slack.com/apps → "Create New App" → "From an app
manifest", paste this, install it to your workspace, then put the bot token
(xoxb-…) and, in socket mode, an app-level token with connections:write
(xapp-…) in bridge.toml or the environment, and invite the bot to the support
channel.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, path, err := g.loadConfig()
			var cerr *config.Errors
			if errors.As(err, &cerr) {
				return configError(path, err)
			}
			if err != nil {
				return err
			}
			m, err := slack.Manifest(app.SlackConfig(cfg))
			if err != nil {
				return err
			}
			_, err = fmt.Fprintln(cmd.OutOrStdout(), m)
			return err
		},
	})
	return cmd
}
