package matrix

import (
	"strings"
	"testing"

	"maunium.net/go/mautrix/id"
)

func TestConfigValidate(t *testing.T) {
	good := Config{HomeserverURL: "https://matrix.example.org", UserID: "@bot:example.org", AccessToken: "syt_x", Operators: []string{"@alice:example.org", "bob"}}
	tests := []struct {
		name string
		edit func(*Config)
		want []string // key of each error, in order
	}{
		{"valid", func(*Config) {}, nil},
		{"empty", func(c *Config) { *c = Config{} }, []string{"matrix.homeserver_url", "matrix.user_id", "matrix.access_token"}},
		{"bad url", func(c *Config) { c.HomeserverURL = "matrix.example.org" }, []string{"matrix.homeserver_url"}},
		{"bad user id", func(c *Config) { c.UserID = "bot" }, []string{"matrix.user_id", "matrix.operators[1]"}},
		{"bad operators", func(c *Config) { c.Operators = []string{"", "@bot:example.org", "bob", "@bob:example.org", "@x"} },
			[]string{"matrix.operators[0]", "matrix.operators[1]", "matrix.operators[3]", "matrix.operators[4]"}},
		{"bad server name", func(c *Config) { c.ServerName = "a b" }, []string{"matrix.server_name", "matrix.operators[1]"}},
		{"blank room name", func(c *Config) { c.RoomName = "  " }, []string{"matrix.room_name"}},
		{"token with a newline", func(c *Config) { c.AccessToken = "syt_x\n" }, []string{"matrix.access_token"}},
		{"power level", func(c *Config) { c.OperatorPowerLevel = ptr(50) }, nil},
		{"negative power level", func(c *Config) { c.OperatorPowerLevel = ptr(-1) }, []string{"matrix.operator_power_level"}},
		{"negative file limit", func(c *Config) { c.MaxFileBytes = -1 }, []string{"files.max_bytes"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := good
			c.Operators = append([]string(nil), good.Operators...)
			tt.edit(&c)
			errs := c.Validate()
			var got []string
			for _, e := range errs {
				key, _, _ := strings.Cut(e.Error(), ":")
				got = append(got, key)
				if strings.Contains(e.Error(), "syt_x") {
					t.Errorf("error reveals the token: %v", e)
				}
			}
			if strings.Join(got, ",") != strings.Join(tt.want, ",") {
				t.Errorf("error keys = %v, want %v (%v)", got, tt.want, errs)
			}
		})
	}
	ops := good.operators()
	if len(ops) != 2 || ops[0] != "@alice:example.org" || ops[1] != id.UserID("@bob:example.org") {
		t.Errorf("operators() = %v", ops)
	}
}

func TestConfigValidateAppservice(t *testing.T) {
	good := Config{Mode: ModeAppservice, HomeserverURL: "https://matrix.example.org", UserID: "@bot:example.org", ASToken: "as_x", HSToken: "hs_x", Operators: []string{"alice"}}
	tests := []struct {
		name string
		edit func(*Config)
		want []string
	}{
		{"valid", func(*Config) {}, nil},
		{"no access token needed", func(c *Config) { c.AccessToken = "" }, nil},
		{"sender and server instead of user id", func(c *Config) { c.UserID, c.SenderLocalpart, c.ServerName = "", "bot", "example.org" }, nil},
		{"no user", func(c *Config) { c.UserID = "" }, []string{"matrix.user_id", "matrix.operators[0]"}},
		{"sender differs", func(c *Config) { c.SenderLocalpart = "other" }, []string{"matrix.sender_localpart"}},
		{"no tokens", func(c *Config) { c.ASToken, c.HSToken = "", "" }, []string{"matrix.as_token", "matrix.hs_token"}},
		{"same tokens", func(c *Config) { c.HSToken = c.ASToken }, []string{"matrix.hs_token"}},
		{"bad ghost prefix", func(c *Config) { c.GhostPrefix = "Live Chat" }, []string{"matrix.ghost_prefix"}},
		{"bot would be a ghost", func(c *Config) { c.GhostPrefix = "b" }, []string{"matrix.ghost_prefix"}},
		{"bad appservice url", func(c *Config) { c.AppserviceURL = "chatbridge:8080" }, []string{"matrix.appservice_url"}},
		{"unknown mode", func(c *Config) { c.Mode = "puppet" }, []string{"matrix.mode"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := good
			tt.edit(&c)
			var got []string
			for _, e := range c.Validate() {
				key, _, _ := strings.Cut(e.Error(), ":")
				got = append(got, key)
				if strings.Contains(e.Error(), "as_x") || strings.Contains(e.Error(), "hs_x") {
					t.Errorf("error reveals a token: %v", e)
				}
			}
			if strings.Join(got, ",") != strings.Join(tt.want, ",") {
				t.Errorf("error keys = %v, want %v", got, tt.want)
			}
		})
	}
}
