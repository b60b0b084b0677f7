package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/chatbridge/chatbridge/adapters/matrix"
	"github.com/chatbridge/chatbridge/adapters/slack"
	"github.com/chatbridge/chatbridge/internal/config"
)

func init() {
	extraCommands = append(extraCommands, newSlackCmd)
}

// slackConfig maps [slack] to the adapter's configuration.
func slackConfig(cfg config.Config) slack.Config {
	s := cfg.Slack
	return slack.Config{
		BotToken: s.BotToken.Reveal(), AppToken: s.AppToken.Reveal(), SigningSecret: s.SigningSecret.Reveal(),
		Channel: s.Channel, Mode: s.Mode, APIURL: s.APIURL, PublicURL: cfg.Server.PublicURL, BotName: s.BotName,
	}
}

// matrixConfig maps [matrix] to the adapter's configuration.
func matrixConfig(cfg config.Config) matrix.Config {
	m := cfg.Matrix
	return matrix.Config{
		Mode: m.Mode, HomeserverURL: m.HomeserverURL, UserID: m.UserID, AccessToken: m.AccessToken.Reveal(),
		ASToken: m.ASToken.Reveal(), HSToken: m.HSToken.Reveal(), SenderLocalpart: m.SenderLocalpart,
		GhostPrefix: m.GhostPrefix, AppserviceURL: firstNonEmpty(m.AppserviceURL, cfg.Server.BaseURL()), AppserviceID: m.AppserviceID,
		Operators: m.Operators, ServerName: m.ServerName, RoomName: m.RoomName, ForwardTyping: &m.ForwardTyping,
	}
}

// wirePlatforms adds the Slack and Matrix adapters that are configured.
func (a *app) wirePlatforms() error {
	cfg := a.cfg
	if cfg.Slack.Enabled() {
		sl, err := slack.New(slackConfig(cfg), a.engine, a.log.With("component", "slack"))
		if err != nil {
			return err
		}
		a.engine.AddDeliverer(sl)
		a.engine.AddWhisperer(slack.AdapterName, sl)
		a.health = append(a.health, sl)
		a.runners = append(a.runners, sl.Run)
		if cfg.Slack.Mode == "http" {
			a.mux.Handle("POST "+slack.EventsPath, sl.Handler())
		}
		a.banner = append(a.banner, fmt.Sprintf("slack:          channel %s (%s mode)", cfg.Slack.Channel, cfg.Slack.Mode))
	}
	if m := cfg.Matrix; m.Enabled() {
		mx, err := matrix.New(matrixConfig(cfg), a.engine, a.log.With("component", "matrix"))
		if err != nil {
			return err
		}
		a.engine.AddDeliverer(mx)
		a.engine.AddWhisperer("matrix", mx)
		a.health = append(a.health, mx)
		a.runners = append(a.runners, mx.Run)
		if m.Mode == matrix.ModeAppservice {
			a.mux.Handle(matrix.AppservicePrefix, mx.Handler())
		}
		a.banner = append(a.banner, fmt.Sprintf("matrix:         %s on %s (%s mode), inviting %s", m.UserID, m.HomeserverURL, m.Mode, strings.Join(m.Operators, ", ")))
	}
	return nil
}

func newSlackCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "slack", Short: "Slack helpers"}
	cmd.AddCommand(&cobra.Command{
		Use:   "manifest",
		Short: "Print the Slack app manifest (scopes, events, Socket Mode) to create the app with",
		Long: `Print a Slack app manifest for chatbridge.

Create the app at https://api.slack.com/apps → "Create New App" → "From an app
manifest", paste this, install it to your workspace, then put the bot token
(xoxb-…) and, in socket mode, an app-level token with connections:write
(xapp-…) in bridge.toml or the environment, and invite the bot to the support
channel.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, path, err := g.loadConfig()
			var cerr *config.Errors
			if errors.As(err, &cerr) {
				return configError(path, err)
			}
			if err != nil {
				return err
			}
			m, err := slack.Manifest(slackConfig(cfg))
			if err != nil {
				return err
			}
			_, err = fmt.Fprintln(cmd.OutOrStdout(), m)
			return err
		},
	})
	return cmd
}
