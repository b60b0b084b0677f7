package config

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
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

// UnmarshalText parses "30s", "2m", "1h30m" (time.ParseDuration), and
// days: "90d", "1d12h".
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := parseDuration(string(b))
	if err != nil {
		return errors.New("invalid duration " + strconv.Quote(string(b)) + `: write a number with a unit, e.g. "30s", "2m", "1h" or "90d"`)
	}
	*d = Duration(v)
	return nil
}

// parseDuration is time.ParseDuration with a leading number of days
// ("90d", "1d12h").
func parseDuration(s string) (time.Duration, error) {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	if i == 0 || i >= len(s) || s[i] != 'd' {
		return time.ParseDuration(s)
	}
	days, err := strconv.ParseInt(s[:i], 10, 64)
	if err != nil || days > int64(math.MaxInt64/(24*time.Hour)) {
		return 0, errors.New("too many days")
	}
	v := time.Duration(days) * 24 * time.Hour
	if rest := s[i+1:]; rest != "" {
		r, err := time.ParseDuration(rest)
		if err != nil || r < 0 || v > math.MaxInt64-r {
			return 0, errors.New("invalid duration")
		}
		v += r
	}
	return v, nil
}

// Period is a Duration where "" and "0" mean none (for ever): retention.
type Period Duration

// Duration returns p as a time.Duration (0: none).
func (p Period) Duration() time.Duration { return time.Duration(p) }

// String writes whole days as "90d", none as "0", else like Duration.
func (p Period) String() string {
	day := 24 * time.Hour
	switch d := time.Duration(p); {
	case d == 0:
		return "0"
	case d%day == 0:
		return strconv.FormatInt(int64(d/day), 10) + "d"
	}
	return Duration(p).String()
}

// MarshalText writes p as String does.
func (p Period) MarshalText() ([]byte, error) { return []byte(p.String()), nil }

// UnmarshalText parses "", "0", "90d", "2160h".
func (p *Period) UnmarshalText(b []byte) error {
	if len(b) == 0 {
		*p = 0
		return nil
	}
	var d Duration
	if err := d.UnmarshalText(b); err != nil {
		return err
	}
	*p = Period(d)
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
