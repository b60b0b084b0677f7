package config

import (
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"
)

// Redacted is how a set Secret is shown everywhere except Reveal.
const redacted = "[redacted]"

// Secret is a configuration value that must never be logged: a token, a
// password, an API key. It prints as "[redacted]" through fmt (every verb),
// encoding (text, JSON, TOML) and log/slog; an empty Secret prints as "" so
// that "not set" stays visible. Reveal returns the value.
type Secret string

// Reveal returns the secret's value, for the code that actually uses it.
func (s Secret) Reveal() string { return string(s) }

// String returns "[redacted]", or "" for an empty secret.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return redacted
}

// GoString is the %#v form; it hides the value too.
func (s Secret) GoString() string { return "config.Secret(" + strconv.Quote(s.String()) + ")" }

// Format implements fmt.Formatter so that no verb (%d, %x, …) can print the
// value.
func (s Secret) Format(f fmt.State, verb rune) {
	switch verb {
	case 'q':
		fmt.Fprint(f, strconv.Quote(s.String()))
	case 'v':
		if f.Flag('#') {
			fmt.Fprint(f, s.GoString())
			return
		}
		fmt.Fprint(f, s.String())
	default:
		fmt.Fprint(f, s.String())
	}
}

// MarshalText returns "[redacted]" (or "" when empty): encoded configs and
// JSON never carry the value.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// LogValue implements slog.LogValuer.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// Duration is a time.Duration written as a string in TOML ("30s", "2m",
// "1h30m").
type Duration time.Duration

// Duration returns d as a time.Duration.
func (d Duration) Duration() time.Duration { return time.Duration(d) }

// String formats d like time.Duration, without zero trailing units ("2m",
// "1h30m", "1.5s").
func (d Duration) String() string {
	s := time.Duration(d).String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// MarshalText writes d as "30s".
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText parses "30s", "2m", "1h30m" (time.ParseDuration).
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return errors.New("invalid duration " + strconv.Quote(string(b)) + `: write a number with a unit, e.g. "30s", "2m" or "1h"`)
	}
	*d = Duration(v)
	return nil
}

// Toggle is a switch with an automatic default: true, false or "auto" in
// TOML.
type Toggle string

// Values of a Toggle.
const (
	ToggleAuto Toggle = "auto"
	ToggleOn   Toggle = "true"
	ToggleOff  Toggle = "false"
)

// UnmarshalTOML accepts true, false and "auto".
func (t *Toggle) UnmarshalTOML(v any) error {
	switch v := v.(type) {
	case bool:
		*t = ToggleOff
		if v {
			*t = ToggleOn
		}
		return nil
	case string:
		if v == string(ToggleAuto) {
			*t = ToggleAuto
			return nil
		}
	}
	return errors.New(`expected true, false or "auto"`)
}

// MarshalTOML writes true, false or "auto".
func (t Toggle) MarshalTOML() ([]byte, error) {
	switch t {
	case ToggleOn, ToggleOff:
		return []byte(t), nil
	}
	return []byte(`"auto"`), nil
}
