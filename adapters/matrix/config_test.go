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
