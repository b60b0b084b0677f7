package matrix

import (
	"errors"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/chatbridge/chatbridge/bridge"
	"maunium.net/go/mautrix/id"
)

func TestRegistration(t *testing.T) {
	cfg := Config{Mode: ModeAppservice, UserID: "@support:chat.example.org", ASToken: `as"tok`, HSToken: "hs-tok", AppserviceURL: "https://bridge.example.org/"}
	yaml, err := Registration(cfg)
	if err != nil {
		t.Fatal(err)
	}
	// Every top-level key once, with its value (double-quoted scalars).
	values := map[string]string{}
	for _, line := range strings.Split(yaml, "\n") {
		key, value, ok := strings.Cut(strings.TrimSpace(line), ": ")
		if !ok || strings.HasPrefix(line, "#") {
			continue
		}
		if s, err := strconv.Unquote(value); err == nil {
			value = s
		}
		values[key] = value
	}
	for key, want := range map[string]string{
		"id": DefaultAppserviceID, "url": "https://bridge.example.org", "as_token": `as"tok`, "hs_token": "hs-tok",
		"sender_localpart": "support", "rate_limited": "false", "- exclusive": "true",
	} {
		if values[key] != want {
			t.Errorf("%s = %q, want %q\n%s", key, values[key], want, yaml)
		}
	}
	re, err := regexp.Compile("^" + values["regex"] + "$")
	if err != nil {
		t.Fatalf("users regex %q: %v", values["regex"], err)
	}
	a := &Adapter{cfg: cfg, as: true}
	for u, want := range map[string]bool{
		string(a.ghostID("v_abc123")):          true,
		"@livechat_x:chat.example.org":         true,
		"@support:chat.example.org":            false,
		"@livechat_x:chatxexample.org":         false,
		"@alice:chat.example.org":              false,
		"@livechat_x:chat.example.org.evil.io": false,
	} {
		if re.MatchString(u) != want {
			t.Errorf("regex %q matches %s: %v, want %v", values["regex"], u, !want, want)
		}
		if a.isGhost(idOf(u)) != want {
			t.Errorf("isGhost(%s) = %v, want %v", u, !want, want)
		}
	}

	bad := cfg
	bad.AppserviceURL, bad.HSToken = "", ""
	_, err = Registration(bad)
	if !errors.Is(err, bridge.ErrInvalid) || !strings.Contains(err.Error(), "matrix.appservice_url") || !strings.Contains(err.Error(), "matrix.hs_token") {
		t.Errorf("registration without url and hs_token: %v", err)
	}
}

func idOf(s string) id.UserID { return id.UserID(s) }
