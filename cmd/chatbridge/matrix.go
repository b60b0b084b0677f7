package main

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"

	"github.com/spf13/cobra"
	"maunium.net/go/mautrix/id"

	"github.com/chatbridge/chatbridge/adapters/matrix"
)

// matrixRegistrationFlags are the appservice settings of `chatbridge
// matrix registration`; empty ones fall back to the configuration.
type matrixRegistrationFlags struct {
	url, asToken, hsToken, sender, serverName, ghostPrefix, id string
}

func newMatrixCmd(g *globals) *cobra.Command {
	cmd := group(&cobra.Command{Use: "matrix", Short: "Matrix helpers"})
	var f matrixRegistrationFlags
	reg := &cobra.Command{
		Use:   "registration",
		Short: "Print the appservice registration file (YAML) to install on the homeserver",
		Long: `Print the Matrix appservice registration file for chatbridge.

The homeserver's administrator saves it (for example as
chatbridge-registration.yaml), lists it in the homeserver's configuration
(Synapse: app_service_config_files; Dendrite: app_service_api.config_files)
and restarts the homeserver. Visitors then appear as ghost users
@livechat_<visitor id>:<server>, and the homeserver pushes operators'
messages to chatbridge at <url>/_matrix/app/v1/transactions.

Values come from the flags, else from the environment
(CHATBRIDGE_MATRIX_AS_TOKEN, CHATBRIDGE_MATRIX_HS_TOKEN), else from the
configuration ([matrix] user_id and server_name, [server] public_url). Tokens
that are not given are generated: put the printed values into bridge.toml
([matrix] as_token, hs_token) or the environment, so that chatbridge and the
homeserver agree.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, path, err := g.loadConfig()
			if err != nil {
				return configError(path, err)
			}
			mc := matrix.Config{
				Mode:          matrix.ModeAppservice,
				AppserviceURL: firstNonEmpty(f.url, cfg.Matrix.AppserviceURL, cfg.Server.BaseURL()),
				ASToken:       firstNonEmpty(f.asToken, cfg.Matrix.ASToken.Reveal()),
				HSToken:       firstNonEmpty(f.hsToken, cfg.Matrix.HSToken.Reveal()),
				GhostPrefix:   firstNonEmpty(f.ghostPrefix, cfg.Matrix.GhostPrefix),
				AppserviceID:  firstNonEmpty(f.id, cfg.Matrix.AppserviceID),
			}
			server := firstNonEmpty(f.serverName, cfg.Matrix.ServerName)
			local := firstNonEmpty(f.sender, cfg.Matrix.SenderLocalpart)
			if l, hs, err := id.UserID(cfg.Matrix.UserID).ParseAndValidateRelaxed(); err == nil {
				server = firstNonEmpty(server, hs)
				local = firstNonEmpty(local, l)
			}
			if server == "" {
				return fmt.Errorf("matrix registration: no server name: give --server-name, or set [matrix] user_id or server_name")
			}
			mc.SenderLocalpart, mc.ServerName = firstNonEmpty(local, "chatbridge"), server
			var generated []string
			for _, tok := range []struct {
				key   string
				value *string
			}{{"as_token", &mc.ASToken}, {"hs_token", &mc.HSToken}} {
				if *tok.value == "" {
					if *tok.value, err = newMatrixToken(); err != nil {
						return err
					}
					generated = append(generated, tok.key)
				}
			}
			yaml, err := matrix.Registration(mc)
			if err != nil {
				return err
			}
			if _, err := fmt.Fprint(cmd.OutOrStdout(), yaml); err != nil {
				return err
			}
			if len(generated) > 0 {
				errOut := cmd.ErrOrStderr()
				fmt.Fprintln(errOut, "Generated new tokens. Put them into bridge.toml, section [matrix], (or the environment) so that chatbridge uses the same ones:")
				fmt.Fprintf(errOut, "  mode = %q\n  as_token = %q   # or CHATBRIDGE_MATRIX_AS_TOKEN\n  hs_token = %q   # or CHATBRIDGE_MATRIX_HS_TOKEN\n",
					matrix.ModeAppservice, mc.ASToken, mc.HSToken)
			}
			return nil
		},
	}
	fl := reg.Flags()
	fl.StringVar(&f.url, "url", "", "where the homeserver reaches chatbridge (default: [server] public_url)")
	fl.StringVar(&f.asToken, "as-token", "", "the appservice's token towards the homeserver (default: generated)")
	fl.StringVar(&f.hsToken, "hs-token", "", "the homeserver's token towards chatbridge (default: generated)")
	fl.StringVar(&f.sender, "sender", "", "localpart of the bot user (default: from [matrix] user_id, else chatbridge)")
	fl.StringVar(&f.serverName, "server-name", "", "the homeserver's name (default: [matrix] server_name, else user_id's server)")
	fl.StringVar(&f.ghostPrefix, "ghost-prefix", "", "localpart prefix of the visitors' ghost users (default "+matrix.DefaultGhostPrefix+")")
	fl.StringVar(&f.id, "id", "", "the registration's id (default "+matrix.DefaultAppserviceID+")")
	cmd.AddCommand(reg)
	return cmd
}

// firstNonEmpty returns the first non-empty value.
func firstNonEmpty(values ...string) string {
	for _, v := range values {
		if v != "" {
			return v
		}
	}
	return ""
}

// newMatrixToken returns 32 random bytes in hex.
func newMatrixToken() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("generate token: %w", err)
	}
	return hex.EncodeToString(b), nil
}
