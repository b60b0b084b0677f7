package slack

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/chatbridge/chatbridge/bridge"
)

func TestValidate(t *testing.T) {
	good := Config{BotToken: "xoxb-1", AppToken: "xapp-1", Channel: "C0123ABC"}
	tests := []struct {
		name string
		edit func(*Config)
		want []string // keys with errors
	}{
		{"socket ok", func(*Config) {}, nil},
		{"http ok", func(c *Config) { c.Mode, c.AppToken, c.SigningSecret = ModeHTTP, "", "s" }, nil},
		{"private channel", func(c *Config) { c.Channel = "G0123ABC" }, nil},
		{"empty", func(c *Config) { *c = Config{} }, []string{"slack.bot_token", "slack.app_token", "slack.channel"}},
		{"user token", func(c *Config) { c.BotToken = "xoxp-1" }, []string{"slack.bot_token"}},
		{"bot token as app token", func(c *Config) { c.AppToken = "xoxb-1" }, []string{"slack.app_token"}},
		{"http without secret", func(c *Config) { c.Mode = ModeHTTP }, []string{"slack.signing_secret"}},
		{"bad mode", func(c *Config) { c.Mode = "rtm" }, []string{"slack.mode"}},
		{"channel name", func(c *Config) { c.Channel = "#support" }, []string{"slack.channel"}},
		{"bad api url", func(c *Config) { c.APIURL = "slack.com/api" }, []string{"slack.api_url"}},
		{"bad public url", func(c *Config) { c.PublicURL = "ftp://x" }, []string{"server.public_url"}},
		{"long bot name", func(c *Config) { c.BotName = strings.Repeat("x", 36) }, []string{"slack.bot_name"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := good
			tc.edit(&c)
			var got []string
			for _, err := range c.Validate() {
				key, _, _ := strings.Cut(err.Error(), ":")
				got = append(got, key)
			}
			slices.Sort(got)
			want := slices.Clone(tc.want)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("errors on %v, want %v (%v)", got, want, c.Validate())
			}
		})
	}
}

func TestValidateKeepsSecretsOut(t *testing.T) {
	c := Config{BotToken: "xoxp-secret-value", AppToken: "xoxb-other-secret", Channel: "C1"}
	for _, err := range c.Validate() {
		if strings.Contains(err.Error(), "secret-value") || strings.Contains(err.Error(), "other-secret") {
			t.Errorf("error shows a secret: %v", err)
		}
	}
}

func TestManifest(t *testing.T) {
	out, err := Manifest(Config{BotName: "Support Bot"})
	if err != nil {
		t.Fatal(err)
	}
	var m manifest
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	want := []string{"chat:write", "chat:write.customize", "channels:history", "groups:history",
		"users:read", "files:read", "files:write", "im:write", "reactions:write"}
	if got := m.OAuth.Scopes.Bot; !slices.Equal(got, want) {
		t.Errorf("scopes %v, want exactly %v", got, want)
	}
	if !slices.Equal(m.Settings.EventSubscriptions.BotEvents, []string{"message.channels", "message.groups"}) {
		t.Errorf("events %v", m.Settings.EventSubscriptions.BotEvents)
	}
	if !m.Settings.SocketModeEnabled || m.Settings.EventSubscriptions.RequestURL != "" {
		t.Errorf("socket mode manifest: %+v", m.Settings)
	}
	if m.Display.Name != "Support Bot" || m.Features.BotUser.DisplayName != "Support Bot" {
		t.Errorf("names: %+v %+v", m.Display, m.Features)
	}
	if strings.Contains(out, "xox") {
		t.Error("manifest contains a token")
	}

	out, err = Manifest(Config{Mode: ModeHTTP, PublicURL: "https://chat.example.com/"})
	if err != nil {
		t.Fatal(err)
	}
	m = manifest{}
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		t.Fatal(err)
	}
	if m.Settings.SocketModeEnabled || m.Settings.EventSubscriptions.RequestURL != "https://chat.example.com/slack/events" || m.Display.Name != "chatbridge" {
		t.Errorf("http manifest: %+v", m)
	}
	for _, bad := range []Config{{Mode: ModeHTTP}, {Mode: ModeHTTP, PublicURL: "http://chat.example.com"}, {Mode: "x"}, {BotName: strings.Repeat("x", 40)}} {
		if _, err := Manifest(bad); err == nil {
			t.Errorf("Manifest(%+v) accepted", bad)
		}
	}
}

func TestBrowser(t *testing.T) {
	tests := []struct{ ua, want string }{
		{"Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0", "Firefox 128 on Linux"},
		{"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36", "Chrome 126 on Windows"},
		{"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36 Edg/126.0.2592.68", "Edge 126 on Windows"},
		{"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15", "Safari 17 on macOS"},
		{"Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1", "Safari 17 on iOS"},
		{"Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Mobile Safari/537.36", "Chrome 126 on Android"},
		{"curl/8.5.0", "curl/8.5.0"},
		{"", ""},
	}
	for _, tc := range tests {
		if got := Browser(tc.ua); got != tc.want {
			t.Errorf("Browser(%q) = %q, want %q", tc.ua, got, tc.want)
		}
	}
}

// The context card escapes visitor data and mentions nobody.
func TestContextCardEscapes(t *testing.T) {
	v := bridge.Visitor{Name: "<!channel> *boss*", Email: "<@U1>@x.example", CurrentURL: "https://x.example/<!here>"}
	text, blocks := contextCard(v, bridge.Conversation{ID: "c_1"})
	b, err := json.Marshal(blocks)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{text, string(b)} {
		if strings.Contains(s, "<!") || strings.Contains(s, "<@") {
			t.Errorf("card can ping: %s", s)
		}
	}
	if !strings.Contains(string(b), `"verbatim":true`) {
		t.Errorf("card text is not verbatim: %s", b)
	}
}

func TestWantsMessage(t *testing.T) {
	slackOp := &bridge.Operator{Adapter: AdapterName, ID: "U1"}
	inboxOp := &bridge.Operator{Adapter: "inbox", ID: "alice"}
	tests := []struct {
		name string
		m    bridge.Message
		want bool
	}{
		{"visitor", bridge.Message{From: bridge.FromVisitor, Visibility: bridge.VisibilityPublic}, true},
		{"system", bridge.Message{From: bridge.FromSystem, Visibility: bridge.VisibilityPublic}, true},
		{"inbox reply", bridge.Message{From: bridge.FromOperator, Visibility: bridge.VisibilityPublic, Operator: inboxOp}, true},
		{"inbox note", bridge.Message{From: bridge.FromOperator, Visibility: bridge.VisibilityNote, Operator: inboxOp}, true},
		{"slack reply", bridge.Message{From: bridge.FromOperator, Visibility: bridge.VisibilityPublic, Operator: slackOp}, false},
		{"slack note", bridge.Message{From: bridge.FromOperator, Visibility: bridge.VisibilityNote, Operator: slackOp}, false},
		{"whisper", bridge.Message{From: bridge.FromSystem, Visibility: bridge.VisibilityWhisper}, false},
		{"operator whisper", bridge.Message{From: bridge.FromOperator, Visibility: bridge.VisibilityWhisper, Operator: inboxOp}, false},
		{"system note (a dead letter, for operators)", bridge.Message{From: bridge.FromSystem, Visibility: bridge.VisibilityNote}, true},
	}
	a := &Adapter{}
	for _, tc := range tests {
		if got := a.WantsMessage(tc.m); got != tc.want {
			t.Errorf("%s: WantsMessage = %v, want %v", tc.name, got, tc.want)
		}
	}
}
