package slack

import (
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/chatbridge/chatbridge/bridge"
)

// Modes of receiving Slack events.
const (
	// ModeSocket receives events over Socket Mode (an app-level token, no
	// public URL). The default.
	ModeSocket = "socket"
	// ModeHTTP receives events as signed HTTP requests on Handler.
	ModeHTTP = "http"
)

// DefaultAPIURL is Slack's Web API base URL.
const DefaultAPIURL = "https://slack.com/api/"

// EventsPath is where Handler is meant to be mounted in HTTP mode; the
// manifest points Slack's request URL at PublicURL + EventsPath.
const EventsPath = "/slack/events"

// Config configures the Slack adapter. The comments name the bridge.toml
// keys; wiring-only fields name the Go field.
type Config struct {
	// BotToken is the bot user's OAuth token, xoxb-… (slack.bot_token;
	// env CHATBRIDGE_SLACK_BOT_TOKEN).
	BotToken string
	// AppToken is the app-level token with connections:write, xapp-…, used
	// by Socket Mode (slack.app_token; env CHATBRIDGE_SLACK_APP_TOKEN).
	AppToken string
	// SigningSecret verifies HTTP events (slack.signing_secret; env
	// CHATBRIDGE_SLACK_SIGNING_SECRET). Required in HTTP mode.
	SigningSecret string
	// Channel is the support channel's ID, C… or G… (slack.channel). The
	// bot must be a member.
	Channel string
	// Mode is "socket" (default) or "http" (slack.mode).
	Mode string
	// APIURL is the Web API base URL (slack.api_url; default
	// DefaultAPIURL). Tests point it at a fake.
	APIURL string
	// PublicURL is the server's public base URL (server.public_url); the
	// manifest's request URL in HTTP mode.
	PublicURL string
	// BotName is the app's display name in the manifest and the fallback
	// name of the bot (slack.bot_name; default "chatbridge").
	BotName string
	// HTTPClient makes the Web API calls (default: a client with a 20 s
	// timeout). Wiring and tests only.
	HTTPClient *http.Client
	// ReconnectMax caps the Socket Mode reconnect backoff (default 5 min).
	// Wiring and tests only.
	ReconnectMax time.Duration
	// Blobs keeps the bytes of files: visitors' files are read from it and
	// uploaded into the thread, operators' files are stored in it. Without
	// it no file is relayed, and operators are told. Wiring: the app's
	// blob store ([files]).
	Blobs bridge.BlobStore
	// MaxFileBytes is the largest file an operator may send to a visitor
	// (files.max_bytes; default 10 MB).
	MaxFileBytes int64
	// Language renders system lines for the operators
	// (bridge.SystemLanguages; default English).
	Language string
}

// DefaultMaxFileBytes is MaxFileBytes unless configured.
const DefaultMaxFileBytes = 10 << 20

var channelID = regexp.MustCompile(`^[CG][A-Z0-9]{2,}$`)

// Validate reports every problem of c at once, each naming its bridge.toml
// key.
func (c Config) Validate() []error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...)))
	}
	switch {
	case c.BotToken == "":
		bad("slack.bot_token", "is empty (a bot token, xoxb-…)")
	case !strings.HasPrefix(c.BotToken, "xoxb-"):
		bad("slack.bot_token", "is not a bot token (it must start with xoxb-)")
	}
	mode := c.Mode
	if mode == "" {
		mode = ModeSocket
	}
	switch mode {
	case ModeSocket:
		switch {
		case c.AppToken == "":
			bad("slack.app_token", "is empty: Socket Mode needs an app-level token (xapp-…) with connections:write")
		case !strings.HasPrefix(c.AppToken, "xapp-"):
			bad("slack.app_token", "is not an app-level token (it must start with xapp-)")
		}
	case ModeHTTP:
		if c.SigningSecret == "" {
			bad("slack.signing_secret", "is empty: HTTP mode needs the app's signing secret to verify events")
		}
	default:
		bad("slack.mode", "%q is not \"socket\" or \"http\"", c.Mode)
	}
	switch {
	case c.Channel == "":
		bad("slack.channel", "is empty (the support channel's ID, C…)")
	case !channelID.MatchString(c.Channel):
		bad("slack.channel", "%q is not a channel ID: use the ID (C… or G…, in the channel's details), not its name", c.Channel)
	}
	for key, raw := range map[string]string{"slack.api_url": c.APIURL, "server.public_url": c.PublicURL} {
		if raw == "" {
			continue
		}
		if u, err := url.Parse(raw); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad(key, "%q is not an http(s) URL", raw)
		}
	}
	if strings.ContainsAny(c.BotName, "\r\n\t") || len([]rune(c.BotName)) > 35 {
		bad("slack.bot_name", "must be one line of at most 35 characters")
	}
	if c.ReconnectMax < 0 {
		bad("ReconnectMax", "must not be negative")
	}
	if c.MaxFileBytes < 0 {
		bad("files.max_bytes", "must not be negative")
	}
	return errs
}

func (c *Config) defaults() {
	if c.Mode == "" {
		c.Mode = ModeSocket
	}
	if c.APIURL == "" {
		c.APIURL = DefaultAPIURL
	}
	if !strings.HasSuffix(c.APIURL, "/") {
		c.APIURL += "/"
	}
	if c.BotName == "" {
		c.BotName = "chatbridge"
	}
	if c.HTTPClient == nil {
		c.HTTPClient = &http.Client{Timeout: 20 * time.Second}
	}
	if c.ReconnectMax == 0 {
		c.ReconnectMax = 5 * time.Minute
	}
	if c.MaxFileBytes == 0 {
		c.MaxFileBytes = DefaultMaxFileBytes
	}
}
