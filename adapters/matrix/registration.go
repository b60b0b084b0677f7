package matrix

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/chatbridge/chatbridge/bridge"
)

// Registration returns the appservice registration file (YAML) for cfg,
// which the homeserver's administrator installs (Synapse:
// app_service_config_files; Dendrite: app_service_api.config_files). It
// needs the tokens, AppserviceURL and the appservice's user (UserID, or
// SenderLocalpart and ServerName); the mode and homeserver_url are not
// looked at. The users namespace claims the ghost users exclusively.
func Registration(cfg Config) (string, error) {
	errs := cfg.identityErrors()
	switch {
	case cfg.AppserviceURL == "":
		errs = append(errs, errors.New("matrix.appservice_url: is required (where the homeserver reaches chatbridge)"))
	case !httpURL(cfg.AppserviceURL):
		errs = append(errs, fmt.Errorf("matrix.appservice_url: %q is not an absolute http(s) URL", cfg.AppserviceURL))
	}
	if cfg.server() == "" && len(errs) == 0 {
		errs = append(errs, errors.New("matrix.server_name: is required"))
	}
	if len(errs) > 0 {
		return "", fmt.Errorf("matrix registration: %w: %w", bridge.ErrInvalid, errors.Join(errs...))
	}
	asID := cfg.AppserviceID
	if asID == "" {
		asID = DefaultAppserviceID
	}
	var b strings.Builder
	line := func(key, value string) { fmt.Fprintf(&b, "%s: %s\n", key, quote(value)) }
	b.WriteString("# chatbridge appservice registration: install it on the homeserver\n")
	b.WriteString("# (Synapse: app_service_config_files; Dendrite: app_service_api.config_files)\n")
	b.WriteString("# and restart it. It holds secrets: keep it private.\n")
	line("id", asID)
	line("url", strings.TrimRight(cfg.AppserviceURL, "/"))
	line("as_token", cfg.ASToken)
	line("hs_token", cfg.HSToken)
	line("sender_localpart", cfg.botID().Localpart())
	b.WriteString("rate_limited: false\n")
	b.WriteString("namespaces:\n")
	b.WriteString("  users:\n")
	b.WriteString("    - exclusive: true\n")
	fmt.Fprintf(&b, "      regex: %s\n", quote(ghostRegex(cfg.ghostPrefix(), cfg.server())))
	b.WriteString("  aliases: []\n")
	b.WriteString("  rooms: []\n")
	return b.String(), nil
}

// ghostRegex matches the ghost users' ids.
func ghostRegex(prefix, server string) string {
	return "@" + regexp.QuoteMeta(prefix) + ".*:" + regexp.QuoteMeta(server)
}

// quote writes s as a YAML double-quoted scalar; JSON's string escapes are
// a subset of YAML's.
func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
