package config

import (
	"slices"
	"strings"
	"testing"
)

// Each unsafe setting is named by its key; a trial on one's own machine
// gets no warning.
func TestWarnings(t *testing.T) {
	const hash = "$2a$04$abcdefghijklmnopqrstuuABCDEFGHIJKLMNOPQRSTUVWXYZ01234"
	const op = "\n[[inbox.operators]]\nlogin = \"alice\"\npassword_hash = \"" + hash + "\"\n"
	const prod = "[server]\nlisten = \"127.0.0.1:8080\"\npublic_url = \"https://chat.example.com\"\n" +
		"[visitor]\nallowed_origins = [\"https://shop.example.com\"]\ntrust_proxy_headers = true\n" + op
	for _, tc := range []struct {
		name string
		toml string
		want []string // key paths warned about, in order
	}{
		{"defaults: a trial on this machine", "", nil},
		{"loopback with an http public URL on this machine", "[server]\npublic_url = \"http://localhost:8080\"", nil},
		{"a production setup", prod, nil},
		{"plain http public URL", strings.Replace(prod, "https://chat", "http://chat", 1), []string{"server.public_url"}},
		{"every interface without public URL", "[server]\nlisten = \":8080\"\n" + op, []string{"server.public_url", "visitor.allowed_origins"}},
		{"demo page forced on", strings.Replace(prod, "[server]\n", "[server]\ndemo_page = true\n", 1), []string{"server.demo_page"}},
		{"open admin listener", strings.Replace(prod, "[server]\n", "[server]\nadmin_listen = \"0.0.0.0:9090\"\n", 1), []string{"server.admin_listen"}},
		{"no allowed origins", strings.Replace(prod, "allowed_origins = [\"https://shop.example.com\"]\n", "", 1), []string{"visitor.allowed_origins"}},
		{"proxy headers ignored behind TLS", strings.Replace(prod, "trust_proxy_headers = true", "trust_proxy_headers = false", 1), []string{"visitor.trust_proxy_headers"}},
		{"proxy headers trusted on every interface", strings.Replace(prod, "127.0.0.1:8080", "0.0.0.0:8080", 1), []string{"visitor.trust_proxy_headers"}},
		{"plain SMTP to another host", prod + "[email]\nhost = \"smtp.example.com\"\nfrom = \"s@example.com\"\ntls = \"none\"\n", []string{"email.tls"}},
		{"plain SMTP to a local relay", prod + "[email]\nhost = \"localhost\"\nfrom = \"s@example.com\"\ntls = \"none\"\n", nil},
		{"no operators", strings.Replace(prod, op, "", 1), []string{"inbox.operators"}},
		{"cluster with files in a directory", prod + "[store]\nbackend = \"etcd\"\nendpoints = [\"http://10.0.0.1:2379\"]\n", []string{"files.storage"}},
		{"cluster with files in S3", prod + "[store]\nbackend = \"etcd\"\nendpoints = [\"http://10.0.0.1:2379\"]\n[files]\nstorage = \"s3\"\n[files.s3]\nendpoint = \"https://s3.example.com\"\nbucket = \"chat\"\naccess_key_id = \"a\"\nsecret_access_key = \"s\"\n", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := Parse([]byte(tc.toml), nil)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, w := range cfg.Warnings() {
				got = append(got, w.Path)
				if w.Msg == "" {
					t.Errorf("%s: empty message", w.Path)
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("warnings about %v, want %v: %v", got, tc.want, cfg.Warnings())
			}
		})
	}
}

func TestDemoEnabled(t *testing.T) {
	for _, tc := range []struct {
		listen, public string
		demo           Toggle
		want           bool
	}{
		{"127.0.0.1:8080", "", ToggleAuto, true},
		{"[::1]:8080", "", ToggleAuto, true},
		{"localhost:8080", "", ToggleAuto, true},
		{"127.0.0.1:8080", "https://chat.example.com", ToggleAuto, false},
		{":8080", "", ToggleAuto, false},
		{"0.0.0.0:8080", "", ToggleAuto, false},
		{"192.0.2.1:8080", "", ToggleAuto, false},
		{"127.0.0.1:8080", "https://chat.example.com", ToggleOn, true},
		{"127.0.0.1:8080", "", ToggleOff, false},
	} {
		s := Server{Listen: tc.listen, PublicURL: tc.public, DemoPage: tc.demo}
		if got := s.DemoEnabled(); got != tc.want {
			t.Errorf("listen %s, public_url %q, demo_page %s: DemoEnabled = %v, want %v", tc.listen, tc.public, tc.demo, got, tc.want)
		}
	}
}

func TestEmailTLS(t *testing.T) {
	const base = "[email]\nhost = \"smtp.example.com\"\nfrom = \"s@example.com\"\n"
	for _, tc := range []struct {
		name, extra, wantMode, wantErr string
	}{
		{"default on 587", "", TLSStartTLS, ""},
		{"default on 465", "port = 465", TLSImplicit, ""},
		{"explicit none", `tls = "none"`, TLSNone, ""},
		{"explicit implicit", `tls = "implicit"`, TLSImplicit, ""},
		{"old starttls = true", "starttls = true", TLSStartTLS, ""},
		{"old starttls = false", "starttls = false", "", "email.starttls"},
		{"unknown mode", `tls = "ssl"`, "", "email.tls"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := Parse([]byte(base+tc.extra+"\n"), nil)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Parse = %v, want an error about %s", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := cfg.Email.TLSMode(); got != tc.wantMode {
				t.Errorf("TLSMode = %q, want %q", got, tc.wantMode)
			}
		})
	}
}

// The effective configuration that --print shows parses back to itself.
func TestRedactedToggleRoundTrip(t *testing.T) {
	for _, in := range []string{"", "[server]\ndemo_page = true\n", "[server]\ndemo_page = false\n[email]\nstarttls = true\n"} {
		cfg, err := Parse([]byte(in), nil)
		if err != nil {
			t.Fatal(err)
		}
		back, err := Parse([]byte(cfg.Redacted()), nil)
		if err != nil {
			t.Fatalf("--print output of %q does not parse: %v\n%s", in, err, cfg.Redacted())
		}
		if back.Server.DemoPage != cfg.Server.DemoPage || back.Email.TLSMode() != cfg.Email.TLSMode() {
			t.Errorf("round trip of %q changed demo_page or tls: %+v", in, back.Server)
		}
	}
}
