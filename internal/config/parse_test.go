package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func fieldErrors(t *testing.T, err error) []FieldError {
	t.Helper()
	if err == nil {
		return nil
	}
	var errs *Errors
	if !errors.As(err, &errs) {
		t.Fatalf("error is %T, want *Errors: %v", err, err)
	}
	return errs.Fields
}

func TestParseEmptyIsDefault(t *testing.T) {
	for _, in := range []string{"", "# nothing\n", "[server]\n[sinks.odoo]\n"} {
		got, err := Parse([]byte(in), nil)
		if err != nil {
			t.Fatalf("Parse(%q): %v", in, err)
		}
		if !reflect.DeepEqual(got, Default()) {
			t.Errorf("Parse(%q) = %+v, want Default()", in, got)
		}
	}
}

func TestParseValues(t *testing.T) {
	in := `
[server]
listen = ":9000"
public_url = "https://chat.example.com/"
[visitor]
allowed_origins = ["https://shop.example.com"]
long_poll_max = "1m30s"
[widget]
language = "fr"
[sinks.webhook]
url = "https://hooks.example.com/chat"
secret = "s3cret"
events = ["message"]
[inbox]
language = "fr"
[[inbox.operators]]
login = "alice"
password_hash = "` + testHash + `"
[[inbox.operators]]
login = "bob"
name = "Bob B."
password_hash = "` + testHash + `"
`
	cfg, err := Parse([]byte(in), nil)
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"listen", cfg.Server.Listen, ":9000"},
		{"base url", cfg.Server.BaseURL(), "https://chat.example.com"},
		{"origins", cfg.Visitor.AllowedOrigins, []string{"https://shop.example.com"}},
		{"long poll", cfg.Visitor.LongPollMax.Duration(), 90 * time.Second},
		{"untouched default", cfg.Visitor.MaxMessageBytes, 10000},
		{"language", cfg.Widget.Language, "fr"},
		{"inbox language", cfg.Inbox.Language, "fr"},
		{"events replaced, not merged", cfg.Sinks.Webhook.Events, []string{"message"}},
		{"secret", cfg.Sinks.Webhook.Secret.Reveal(), "s3cret"},
		{"operators", len(cfg.Inbox.Operators), 2},
		{"display name defaults to login", cfg.Inbox.Operators[0].DisplayName(), "alice"},
		{"display name", cfg.Inbox.Operators[1].DisplayName(), "Bob B."},
		{"webhook enabled", cfg.Sinks.Webhook.Enabled(), true},
		{"odoo disabled", cfg.Sinks.Odoo.Enabled(), false},
	}
	for _, c := range checks {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, c.got, c.want)
		}
	}
	// Decoding must not write into Default()'s slices.
	if d := Default(); !reflect.DeepEqual(d.Sinks.Webhook.Events, []string{"ticket", "lead"}) {
		t.Errorf("Default() events changed: %v", d.Sinks.Webhook.Events)
	}
}

func TestBaseURL(t *testing.T) {
	tests := []struct{ listen, public, want string }{
		{"127.0.0.1:8080", "", "http://127.0.0.1:8080"},
		{":8080", "", "http://localhost:8080"},
		{"[::]:8080", "", "http://localhost:8080"},
		{"[::1]:8080", "", "http://[::1]:8080"},
		{":8080", "https://chat.example.com/", "https://chat.example.com"},
	}
	for _, tt := range tests {
		if got := (Server{Listen: tt.listen, PublicURL: tt.public}).BaseURL(); got != tt.want {
			t.Errorf("BaseURL(%q, %q) = %q, want %q", tt.listen, tt.public, got, tt.want)
		}
	}
}

// Decoding problems: each yields one FieldError with the key's path, and
// the message says what was expected.
func TestDecodeErrors(t *testing.T) {
	tests := []struct {
		name, in, path, msg string
	}{
		{"unknown key", "[visitor]\nmax_mesage_bytes = 5", "visitor.max_mesage_bytes", "unknown key"},
		{"unknown section", "[visiter]\nx = 1", "visiter", "unknown key"},
		{"unknown nested", "[sinks.slack]\ntoken = 1", "sinks.slack", "unknown key"},
		{"unknown top-level key", "listen = \":80\"", "listen", "unknown key"},
		{"quoted key", "[server]\n\"my key\" = 1", `server."my key"`, "unknown key"},
		{"empty key", "\"\" = 0", `""`, "unknown key"},
		{"keys are case-sensitive", "[server]\nListen = \":80\"", "server.Listen", "unknown key"},
		{"unknown key in operator", "[[inbox.operators]]\nlogin = \"a\"\npassword_hash = \"" + testHash + "\"\npasword = \"x\"", "inbox.operators[0].pasword", "unknown key"},
		{"string for int", "[visitor]\nmax_message_bytes = \"10k\"", "visitor.max_message_bytes", "expected an integer, got a string"},
		{"int for string", "[server]\nlisten = 8080", "server.listen", "expected a string, got an integer"},
		{"int for bool", "[widget]\nsound = 1", "widget.sound", "expected true or false, got an integer"},
		{"int for toggle", "[server]\ndemo_page = 1", "server.demo_page", `expected true, false or "auto"`},
		{"bad toggle", "[server]\ndemo_page = \"yes\"", "server.demo_page", `expected true, false or "auto"`},
		{"bad duration", "[visitor]\nlong_poll_max = \"30 seconds\"", "visitor.long_poll_max", `invalid duration "30 seconds"`},
		{"duration without unit", "[widget]\noffline_after = 30", "widget.offline_after", `invalid duration "30"`},
		{"array with int", "[sinks.webhook]\nevents = [\"ticket\", 3]", "sinks.webhook.events", "expected an array of strings, got an array containing an integer"},
		{"string for array", "[visitor]\nallowed_origins = \"https://a.example\"", "visitor.allowed_origins", "expected an array of strings, got a string"},
		{"section is a value", "visitor = 5", "visitor", "expected a table [visitor], got an integer"},
		{"nested section is a value", "[sinks]\nodoo = \"x\"", "sinks.odoo", "expected a table [sinks.odoo], got a string"},
		{"operators not tables", "[inbox]\noperators = [\"alice\"]", "inbox.operators[0]", "expected a table, got a string"},
		{"operators a string", "[inbox]\noperators = \"alice\"", "inbox.operators", "expected an array of tables [[inbox.operators]], got a string"},
		{"int out of range", "[email]\nport = 99999999999999999999", "line 2", "syntax error"},
		{"syntax error", "[server]\nlisten = = 1", "line 2", "syntax error"},
		{"duplicate key", "[server]\nlisten = \":1\"\nlisten = \":2\"", "line 3", "syntax error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.in), nil)
			fe := fieldErrors(t, err)
			if len(fe) != 1 {
				t.Fatalf("got %d errors, want 1:\n%v", len(fe), err)
			}
			if fe[0].Path != tt.path || !strings.Contains(fe[0].Msg, tt.msg) {
				t.Errorf("got %q, want path %q with message containing %q", fe[0].Error(), tt.path, tt.msg)
			}
		})
	}
}

// Three different mistakes are three errors, in file order, with their paths.
func TestAllProblemsAtOnce(t *testing.T) {
	in := `
[visitor]
max_mesage_bytes = 5000
long_poll_max = "forever"
[log]
level = "verbose"
`
	_, err := Parse([]byte(in), nil)
	fe := fieldErrors(t, err)
	want := []string{"visitor.max_mesage_bytes", "visitor.long_poll_max", "log.level"}
	if len(fe) != len(want) {
		t.Fatalf("got %d errors, want %d:\n%v", len(fe), len(want), err)
	}
	for i, p := range want {
		if fe[i].Path != p {
			t.Errorf("error %d: got path %q, want %q", i, fe[i].Path, p)
		}
	}
	if lines := strings.Split(err.Error(), "\n"); len(lines) != 3 || !strings.HasPrefix(lines[2], `log.level: "verbose" is not one of`) {
		t.Errorf("Error() = %q, want one line per problem", err.Error())
	}
}

// Several type errors in one file are all reported (the TOML library stops
// at the first one of a whole-document decode).
func TestManyTypeErrors(t *testing.T) {
	in := "[server]\nlisten = 1\ndata_dir = 2\ndemo_page = \"yes\"\n[visitor]\nmax_message_bytes = \"a\"\nws_max_frame_bytes = \"b\"\n"
	_, err := Parse([]byte(in), nil)
	fe := fieldErrors(t, err)
	want := []string{"server.listen", "server.data_dir", "server.demo_page", "visitor.max_message_bytes", "visitor.ws_max_frame_bytes"}
	if len(fe) != len(want) {
		t.Fatalf("got %d errors, want %d:\n%v", len(fe), len(want), err)
	}
	for i, p := range want {
		if fe[i].Path != p {
			t.Errorf("error %d: got path %q, want %q", i, fe[i].Path, p)
		}
	}
}

func TestEnvSecretsOverride(t *testing.T) {
	in := `
[visitor]
identity_secret = "file-identity-secret-0123"
[email]
host = "smtp.example.com"
from = "support@example.com"
username = "u"
password = "file-smtp"
[sinks.webhook]
url = "https://hooks.example.com/"
secret = "file-webhook"
[sinks.odoo]
url = "https://odoo.example.com"
database = "db"
login = "bot@example.com"
api_key = "file-odoo"
`
	env := map[string]string{
		"CHATBRIDGE_IDENTITY_SECRET": "env-identity-secret-0123",
		"CHATBRIDGE_SMTP_PASSWORD":   "env-smtp",
		"CHATBRIDGE_WEBHOOK_SECRET":  "env-webhook",
		"CHATBRIDGE_ODOO_API_KEY":    "env-odoo",
	}
	cfg, err := Parse([]byte(in), func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	got := []string{cfg.Visitor.IdentitySecret.Reveal(), cfg.Email.Password.Reveal(), cfg.Sinks.Webhook.Secret.Reveal(), cfg.Sinks.Odoo.APIKey.Reveal()}
	want := []string{"env-identity-secret-0123", "env-smtp", "env-webhook", "env-odoo"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("with env: got %v, want %v", got, want)
	}
	// An empty variable does not erase the file's value.
	cfg, err = Parse([]byte(in), func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Sinks.Odoo.APIKey.Reveal(); got != "file-odoo" {
		t.Errorf("empty env: api_key = %q, want the file's", got)
	}
	// A secret that only comes from the environment satisfies validation.
	cfg, err = Parse([]byte("[sinks.webhook]\nurl = \"https://h.example.com/\"\n"), func(k string) string { return env[k] })
	if err != nil {
		t.Fatalf("secret from env only: %v", err)
	}
	if cfg.Sinks.Webhook.Secret.Reveal() != "env-webhook" {
		t.Errorf("secret from env only: got %q", cfg.Sinks.Webhook.Secret.Reveal())
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "bridge.toml")
	if err := os.WriteFile(p, []byte("[log]\nlevel = \"debug\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("CHATBRIDGE_WEBHOOK_SECRET", "from-env")
	cfg, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Log.Level != "debug" || cfg.Sinks.Webhook.Secret.Reveal() != "from-env" {
		t.Errorf("Load: level %q, webhook secret %q", cfg.Log.Level, cfg.Sinks.Webhook.Secret.Reveal())
	}
	if _, err := Load(filepath.Join(dir, "missing.toml")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Load(missing) = %v, want fs.ErrNotExist", err)
	}
	if err := os.WriteFile(p, []byte("[log]\nlevel = 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(p); len(fieldErrors(t, err)) != 1 {
		t.Errorf("Load(bad) = %v, want one field error", err)
	}
}
