package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"
)

const secretValue = "sup3r-s3cret-value-123"

func secretConfig() Config {
	c := Default()
	c.Visitor.IdentitySecret = secretValue
	c.Email.Password = secretValue
	c.Sinks.Webhook.Secret = secretValue
	c.Sinks.Odoo.APIKey = secretValue
	return c
}

func TestSecretNeverPrinted(t *testing.T) {
	s := Secret(secretValue)
	c := secretConfig()
	outputs := map[string]string{}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%10s", "%-8v"} {
		outputs["secret "+verb] = fmt.Sprintf(verb, s)
		outputs["config "+verb] = fmt.Sprintf(verb, c)
		outputs["pointer "+verb] = fmt.Sprintf(verb, &c)
	}
	outputs["Sprint"] = fmt.Sprint(s, c)
	outputs["String"] = s.String()
	j, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	outputs["json"] = string(j)
	outputs["redacted"] = c.Redacted()
	tb, err := toml.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	outputs["toml"] = string(tb)
	for _, h := range []func(*bytes.Buffer) slog.Handler{
		func(b *bytes.Buffer) slog.Handler { return slog.NewTextHandler(b, nil) },
		func(b *bytes.Buffer) slog.Handler { return slog.NewJSONHandler(b, nil) },
	} {
		var b bytes.Buffer
		log := slog.New(h(&b))
		log.Info("config", "secret", s, "config", c, "webhook", c.Sinks.Webhook, "any", any(s))
		log.Info("config", slog.Any("ptr", &c), slog.String("str", s.String()))
		outputs[fmt.Sprintf("slog %T", log.Handler())] = b.String()
	}
	for name, out := range outputs {
		if strings.Contains(out, secretValue) {
			t.Errorf("%s leaks the secret: %s", name, out)
		}
	}
	for _, name := range []string{"secret %v", "secret %s", "json", "redacted"} {
		if !strings.Contains(outputs[name], "[redacted]") {
			t.Errorf("%s does not show [redacted]: %s", name, outputs[name])
		}
	}
	if s.Reveal() != secretValue {
		t.Errorf("Reveal() = %q", s.Reveal())
	}
}

func TestRedactedRoundTrip(t *testing.T) {
	c := secretConfig()
	c.Sinks.Webhook.URL = "https://h.example.com/"
	out := c.Redacted()
	if got := strings.Count(out, `"[redacted]"`); got != 4 {
		t.Errorf("Redacted() shows %d redacted secrets, want 4:\n%s", got, out)
	}
	// The rendering is a valid configuration (with the placeholders as
	// values) with the same non-secret settings.
	back, err := Parse([]byte(out), func(k string) string {
		if strings.HasPrefix(k, "CHATBRIDGE_SLACK_") || strings.HasPrefix(k, "CHATBRIDGE_MATRIX_") {
			return "" // would enable an adapter that this config does not set up
		}
		return "another-secret-from-env"
	})
	if err != nil {
		t.Fatalf("Redacted() output does not parse: %v\n%s", err, out)
	}
	if back.Sinks.Webhook.URL != c.Sinks.Webhook.URL || back.Visitor.LongPollMax != c.Visitor.LongPollMax {
		t.Errorf("round trip lost settings:\n%s", out)
	}
	if !strings.Contains(Default().Redacted(), `api_key = ""`) {
		t.Errorf("an unset secret should render as empty:\n%s", Default().Redacted())
	}
}

func TestDurationText(t *testing.T) {
	tests := []struct{ in, out string }{
		{"30s", "30s"}, {"2m", "2m"}, {"1h30m", "1h30m"}, {"1h", "1h"}, {"1500ms", "1.5s"}, {"90s", "1m30s"},
	}
	for _, tt := range tests {
		var d Duration
		if err := d.UnmarshalText([]byte(tt.in)); err != nil {
			t.Fatalf("UnmarshalText(%q): %v", tt.in, err)
		}
		if got := d.String(); got != tt.out {
			t.Errorf("Duration(%q).String() = %q, want %q", tt.in, got, tt.out)
		}
	}
}

// The S3 credentials come from the environment like the other secrets,
// and never show in the redacted configuration.
func TestS3CredentialsFromEnv(t *testing.T) {
	env := map[string]string{"CHATBRIDGE_S3_ACCESS_KEY_ID": "AKIAEXAMPLE", "CHATBRIDGE_S3_SECRET_ACCESS_KEY": secretValue}
	c, err := Parse([]byte("[files]\nstorage = \"s3\"\n[files.s3]\nendpoint = \"http://127.0.0.1:9000\"\nbucket = \"chat\"\n"), func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if c.Files.S3.AccessKeyID.Reveal() != "AKIAEXAMPLE" || c.Files.S3.SecretAccessKey.Reveal() != secretValue {
		t.Errorf("credentials from the environment: %q, %q", c.Files.S3.AccessKeyID.Reveal(), c.Files.S3.SecretAccessKey.Reveal())
	}
	if out := c.Redacted(); strings.Contains(out, secretValue) || strings.Contains(out, "AKIAEXAMPLE") {
		t.Errorf("Redacted() shows the S3 credentials:\n%s", out)
	}
}
