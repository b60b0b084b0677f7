package slack

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// Scopes are the bot token scopes chatbridge needs, exactly: those of the
// Web API methods the adapter calls (TestScopesMatchCalls checks it) and of
// the events it receives.
var Scopes = []string{
	"chat:write",           // chat.postMessage, chat.postEphemeral, chat.update, chat.delete
	"chat:write.customize", // visitors under their own name
	"channels:history",     // message.channels, conversations.replies/history (public channel)
	"groups:history",       // message.groups, conversations.replies/history (private channel)
	"users:read",           // users.info, bots.info
	"files:read",           // files.info, url_private downloads
	"files:write",          // files.getUploadURLExternal, files.completeUploadExternal, files.delete
	"im:write",             // conversations.open (whispers by direct message)
	"reactions:write",      // reactions.add (closed chats)
}

// BotEvents are the events chatbridge subscribes to.
var BotEvents = []string{"message.channels", "message.groups"}

type manifest struct {
	Display  manifestDisplay  `json:"display_information"`
	Features manifestFeatures `json:"features"`
	OAuth    manifestOAuth    `json:"oauth_config"`
	Settings manifestSettings `json:"settings"`
}

type manifestDisplay struct {
	Name        string `json:"name"`
	Description string `json:"description"`
}

type manifestFeatures struct {
	BotUser struct {
		DisplayName  string `json:"display_name"`
		AlwaysOnline bool   `json:"always_online"`
	} `json:"bot_user"`
}

type manifestOAuth struct {
	Scopes struct {
		Bot []string `json:"bot"`
	} `json:"scopes"`
}

type manifestSettings struct {
	EventSubscriptions struct {
		RequestURL string   `json:"request_url,omitempty"`
		BotEvents  []string `json:"bot_events"`
	} `json:"event_subscriptions"`
	Interactivity struct {
		IsEnabled bool `json:"is_enabled"`
	} `json:"interactivity"`
	OrgDeployEnabled     bool `json:"org_deploy_enabled"`
	SocketModeEnabled    bool `json:"socket_mode_enabled"`
	TokenRotationEnabled bool `json:"token_rotation_enabled"`
}

// Manifest returns a Slack app manifest (JSON, which Slack's "create an app
// from a manifest" accepts like YAML) for cfg: the bot user, exactly the
// Scopes, the BotEvents, and Socket Mode or, in HTTP mode, the request URL
// PublicURL + EventsPath. Tokens are not needed and not included.
func Manifest(cfg Config) (string, error) {
	name := strings.TrimSpace(cfg.BotName)
	if name == "" {
		name = "chatbridge"
	}
	if len([]rune(name)) > 35 || strings.ContainsAny(name, "\r\n\t") {
		return "", errors.New("slack manifest: slack.bot_name must be one line of at most 35 characters")
	}
	var m manifest
	m.Display.Name = name
	m.Display.Description = "Website live chat, bridged by chatbridge"
	m.Features.BotUser.DisplayName = name
	m.Features.BotUser.AlwaysOnline = true
	m.OAuth.Scopes.Bot = append([]string(nil), Scopes...)
	m.Settings.EventSubscriptions.BotEvents = append([]string(nil), BotEvents...)
	switch cfg.Mode {
	case "", ModeSocket:
		m.Settings.SocketModeEnabled = true
	case ModeHTTP:
		u, err := url.Parse(cfg.PublicURL)
		if cfg.PublicURL == "" || err != nil || u.Scheme != "https" || u.Host == "" {
			return "", fmt.Errorf("slack manifest: HTTP mode needs server.public_url to be an https URL Slack can reach (got %q)", cfg.PublicURL)
		}
		m.Settings.EventSubscriptions.RequestURL = strings.TrimRight(cfg.PublicURL, "/") + EventsPath
	default:
		return "", fmt.Errorf("slack manifest: slack.mode %q is not \"socket\" or \"http\"", cfg.Mode)
	}
	out, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return "", fmt.Errorf("slack manifest: %w", err)
	}
	return string(out) + "\n", nil
}
