package config

import (
	"slices"
	"strings"
	"testing"

	"github.com/chatbridge/chatbridge/adapters/webhook"
	"golang.org/x/crypto/bcrypt"
)

// testHash is a real bcrypt hash, so the format check is tested against
// what bcrypt produces.
var testHash = func() string {
	h, err := bcrypt.GenerateFromPassword([]byte("correct horse"), bcrypt.MinCost)
	if err != nil {
		panic(err)
	}
	return string(h)
}()

// Each rule: an invalid value gives exactly the listed errors (path and a
// part of the message); a valid one gives none.
func TestValidation(t *testing.T) {
	op := func(login string) string {
		return "[[inbox.operators]]\nlogin = \"" + login + "\"\npassword_hash = \"" + testHash + "\"\n"
	}
	type want struct{ path, msg string }
	tests := []struct {
		name string
		in   string
		want []want
	}{
		{"defaults", "", nil},
		{"retention in days", "[retention]\nclosed_conversations = \"90d\"", nil},
		{"retention empty", "[retention]\nclosed_conversations = \"\"", nil},
		{"retention too short", "[retention]\nclosed_conversations = \"30m\"", []want{{"retention.closed_conversations", "at least an hour"}}},
		{"retention every zero", "[retention]\nevery = \"0s\"", []want{{"retention.every", "positive"}}},
		{"slack socket ok", "[slack]\nbot_token = \"xoxb-1\"\napp_token = \"xapp-1\"\nchannel = \"C123\"", nil},
		{"slack missing channel and app token", "[slack]\nbot_token = \"xoxb-1\"", []want{{"slack.channel", "is required"}, {"slack.app_token", "socket mode"}}},
		{"slack http needs secret and https", "[slack]\nbot_token = \"xoxb-1\"\nchannel = \"C1\"\nmode = \"http\"", []want{{"slack.signing_secret", "http mode"}, {"server.public_url", "https"}}},
		{"slack bad mode", "[slack]\nmode = \"rtm\"", []want{{"slack.mode", "is not one of"}}},
		{"matrix ok", "[matrix]\nhomeserver_url = \"https://m.example.org\"\nuser_id = \"@bot:example.org\"\naccess_token = \"t\"\noperators = [\"alice\"]", nil},
		{"matrix incomplete", "[matrix]\nhomeserver_url = \"m.example.org\"\nuser_id = \"bot\"", []want{
			{"matrix.homeserver_url", "absolute http"}, {"matrix.user_id", "Matrix user id"}, {"matrix.access_token", "is required"}, {"matrix.operators", "at least one"},
		}},
		{"matrix operator power level", "[matrix]\nhomeserver_url = \"https://m.example.org\"\nuser_id = \"@bot:example.org\"\naccess_token = \"t\"\noperators = [\"alice\"]\noperator_power_level = 50", nil},
		{"matrix negative power level", "[matrix]\nhomeserver_url = \"https://m.example.org\"\nuser_id = \"@bot:example.org\"\naccess_token = \"t\"\noperators = [\"alice\"]\noperator_power_level = -1", []want{{"matrix.operator_power_level", "0 or more"}}},
		{"store etcd ok", "[store]\nbackend = \"etcd\"\nendpoints = [\"http://127.0.0.1:2379\"]", nil},
		{"store etcd tls ok", "[store]\nbackend = \"etcd\"\nendpoints = [\"https://10.0.0.1:2379\"]\nca_file = \"ca.pem\"\ncert_file = \"c.pem\"\nkey_file = \"k.pem\"\nusername = \"cb\"\npassword = \"pw\"", nil},
		{"store bad backend", "[store]\nbackend = \"postgres\"", []want{{"store.backend", "is not one of"}}},
		{"store etcd without endpoints", "[store]\nbackend = \"etcd\"", []want{{"store.endpoints", "client URLs"}}},
		{"store etcd bad endpoints", "[store]\nbackend = \"etcd\"\nendpoints = [\"10.0.0.1\", \"http://u:p@h:2379\", \"http://h\"]", []want{
			{"store.endpoints[0]", "client URL with a port"}, {"store.endpoints[1]", "scheme://host:port only"}, {"store.endpoints[2]", "with a port"},
		}},
		{"store etcd http with tls", "[store]\nbackend = \"etcd\"\nendpoints = [\"http://h:2379\"]\nca_file = \"ca.pem\"", []want{{"store.endpoints[0]", "https://"}}},
		{"store etcd half a client certificate", "[store]\nbackend = \"etcd\"\nendpoints = [\"https://h:2379\"]\ncert_file = \"c.pem\"", []want{{"store.cert_file", "go together"}}},
		{"store etcd user without password", "[store]\nbackend = \"etcd\"\nendpoints = [\"https://h:2379\"]\nusername = \"cb\"", []want{{"store.password", "CHATBRIDGE_ETCD_PASSWORD"}}},
		{"store etcd password without user", "[store]\nbackend = \"etcd\"\nendpoints = [\"https://h:2379\"]\npassword = \"pw\"", []want{{"store.username", "is required"}}},
		{"store etcd limits", "[store]\nbackend = \"etcd\"\nendpoints = [\"https://h:2379\"]\nprefix = \"cb\"\nmax_txn_ops = 4\nmax_request_bytes = 1000\ndial_timeout = \"0s\"", []want{
			{"store.prefix", "start and end"}, {"store.dial_timeout", "positive"}, {"store.max_txn_ops", "at least 16"}, {"store.max_request_bytes", "at least 262144"},
		}},
		{"store etcd message larger than a request", "[store]\nbackend = \"etcd\"\nendpoints = [\"https://h:2379\"]\n[visitor]\nmax_message_bytes = 2000000\nws_max_frame_bytes = 4000000", []want{{"visitor.max_message_bytes", "one etcd request"}}},
		{"store compaction", "[store]\nbackend = \"etcd\"\nendpoints = [\"https://h:2379\"]\ncompact_every = \"-1s\"\nnode = \"a b\"", []want{{"store.compact_every", "0s"}, {"store.node", "without spaces"}}},
		{"store lease", "[store]\nbackend = \"etcd\"\nendpoints = [\"https://h:2379\"]\nlease_ttl = \"1s\"", []want{{"store.lease_ttl", "between"}}},
		{"listen host:port", "[server]\nlisten = \"0.0.0.0:80\"", nil},
		{"listen port only", "[server]\nlisten = \":8080\"", nil},
		{"listen ipv6", "[server]\nlisten = \"[::1]:8080\"", nil},
		{"listen no port", "[server]\nlisten = \"localhost\"", []want{{"server.listen", "must be host:port"}}},
		{"listen bad port", "[server]\nlisten = \"localhost:http\"", []want{{"server.listen", "port must be a number"}}},
		{"listen port too big", "[server]\nlisten = \":70000\"", []want{{"server.listen", "port must be a number"}}},
		{"public url", "[server]\npublic_url = \"https://chat.example.com/base\"", nil},
		{"public url relative", "[server]\npublic_url = \"chat.example.com\"", []want{{"server.public_url", "absolute http"}}},
		{"public url ftp", "[server]\npublic_url = \"ftp://chat.example.com\"", []want{{"server.public_url", "absolute http"}}},
		{"public url query", "[server]\npublic_url = \"https://x.example.com/?a=1\"", []want{{"server.public_url", "query"}}},
		{"public url credentials", "[server]\npublic_url = \"https://u:p@x.example.com/\"", []want{{"server.public_url", "user name"}}},
		{"data dir empty", "[server]\ndata_dir = \" \"", []want{{"server.data_dir", "must not be empty"}}},
		{"log level", "[log]\nlevel = \"trace\"", []want{{"log.level", `"trace" is not one of "debug", "info", "warn", "error"`}}},
		{"log format", "[log]\nformat = \"xml\"", []want{{"log.format", "is not one of"}}},
		{"origin ok", "[visitor]\nallowed_origins = [\"https://a.example\", \"http://localhost:3000\"]", nil},
		{"origin with path", "[visitor]\nallowed_origins = [\"https://a.example\", \"https://b.example/shop\"]", []want{{"visitor.allowed_origins[1]", "is not an origin"}}},
		{"origin wildcard", "[visitor]\nallowed_origins = [\"*\"]", []want{{"visitor.allowed_origins[0]", "is not an origin"}}},
		{"limits zero", "[visitor]\nmax_message_bytes = 0\nmessages_per_minute = -1\nsessions_per_ip_per_hour = 0\nconversations_per_ip_per_day = 0\npageviews_per_minute = 0\nws_max_frame_bytes = 0", []want{
			{"visitor.max_message_bytes", "greater than 0"}, {"visitor.messages_per_minute", "greater than 0"},
			{"visitor.sessions_per_ip_per_hour", "greater than 0"}, {"visitor.conversations_per_ip_per_day", "greater than 0"},
			{"visitor.pageviews_per_minute", "greater than 0"}, {"visitor.ws_max_frame_bytes", "greater than 0"},
		}},
		{"frame smaller than message", "[visitor]\nmax_message_bytes = 70000", []want{{"visitor.ws_max_frame_bytes", "at least visitor.max_message_bytes"}}},
		{"durations positive", "[visitor]\nlong_poll_max = \"0s\"\n[widget]\noffline_after = \"-1m\"\n[email]\naway_after = \"0s\"\n[sinks.webhook]\ntimeout = \"0s\"\n[sinks.odoo]\ntimeout = \"-5s\"", []want{
			{"visitor.long_poll_max", "positive"}, {"widget.offline_after", "positive"}, {"email.away_after", "positive"},
			{"sinks.webhook.timeout", "positive"}, {"sinks.odoo.timeout", "positive"},
		}},
		{"identity secret short", "[visitor]\nidentity_secret = \"short\"", []want{{"visitor.identity_secret", "at least 16"}}},
		{"identity secret ok", "[visitor]\nidentity_secret = \"0123456789abcdef\"", nil},
		{"widget enums", "[widget]\nposition = \"top\"\nprechat_name = \"yes\"\nprechat_email = \"mandatory\"\nlanguage = \"de\"", []want{
			{"widget.position", "is not one of"}, {"widget.prechat_name", `"yes" is not one of "off", "optional", "required"`},
			{"widget.prechat_email", "is not one of"}, {"widget.language", "is not one of"},
		}},
		{"prechat values", "[widget]\nprechat_name = \"off\"\nprechat_email = \"required\"", nil},
		{"inbox language", "[inbox]\nlanguage = \"fr\"", nil},
		{"inbox language unknown", "[inbox]\nlanguage = \"de\"", []want{{"inbox.language", `"de" is not one of "", "en", "fr"`}}},
		{"widget colour short", "[widget]\ncolor = \"#abc\"", nil},
		{"widget colour css injection", "[widget]\ncolor = \"red;} body{display:none\"", []want{{"widget.color", "hex colour"}}},
		{"widget title empty", "[widget]\ntitle = \"\"", []want{{"widget.title", "must not be empty"}}},
		{"email ok", "[email]\nhost = \"smtp.example.com\"\nfrom = \"Support <support@example.com>\"\nusername = \"u\"\npassword = \"p\"", nil},
		{"email from without host", "[email]\nfrom = \"support@example.com\"", []want{{"email.host", "e-mail is disabled"}}},
		{"email host without from", "[email]\nhost = \"smtp.example.com\"", []want{{"email.from", "required"}}},
		{"email bad from", "[email]\nhost = \"smtp.example.com\"\nfrom = \"support\"", []want{{"email.from", "e-mail address"}}},
		{"email host with port", "[email]\nhost = \"smtp.example.com:587\"\nfrom = \"a@example.com\"", []want{{"email.host", "without port"}}},
		{"email user without password", "[email]\nhost = \"smtp.example.com\"\nfrom = \"a@example.com\"\nusername = \"u\"", []want{{"email.password", "CHATBRIDGE_SMTP_PASSWORD"}}},
		{"email port", "[email]\nport = 0", []want{{"email.port", "between 1 and 65535"}}},
		{"operators ok", op("alice") + op("bob"), nil},
		{"operator login empty", op(""), []want{{"inbox.operators[0].login", "must not be empty"}}},
		{"operator login spaces", op("al ice"), []want{{"inbox.operators[0].login", "white space"}}},
		{"operator login duplicate", op("alice") + op("bob") + op("Alice"), []want{{"inbox.operators[2].login", "already used by inbox.operators[0]"}}},
		{"operator hash missing", "[[inbox.operators]]\nlogin = \"a\"", []want{{"inbox.operators[0].password_hash", "bcrypt"}}},
		{"operator hash plain text", "[[inbox.operators]]\nlogin = \"a\"\npassword_hash = \"hunter2\"", []want{{"inbox.operators[0].password_hash", "bcrypt"}}},
		{"operator hash truncated", "[[inbox.operators]]\nlogin = \"a\"\npassword_hash = \"" + testHash[:50] + "\"", []want{{"inbox.operators[0].password_hash", "bcrypt"}}},
		{"operator hash 2y", "[[inbox.operators]]\nlogin = \"a\"\npassword_hash = \"$2y" + testHash[3:] + "\"", nil},
		{"operator hash 2x", "[[inbox.operators]]\nlogin = \"a\"\npassword_hash = \"$2x" + testHash[3:] + "\"", []want{{"inbox.operators[0].password_hash", "bcrypt"}}},
		{"webhook ok", "[sinks.webhook]\nurl = \"https://h.example.com/x\"\nsecret = \"s\"\nevents = [\"ticket\", \"message\", \"conversation.opened\", \"conversation.closed\", \"conversation.waiting\", \"lead\"]", nil},
		{"webhook without secret", "[sinks.webhook]\nurl = \"https://h.example.com/x\"", []want{{"sinks.webhook.secret", "CHATBRIDGE_WEBHOOK_SECRET"}}},
		{"webhook bad url", "[sinks.webhook]\nurl = \"h.example.com\"\nsecret = \"s\"", []want{{"sinks.webhook.url", "absolute http"}}},
		{"webhook bad event", "[sinks.webhook]\nevents = [\"ticket\", \"tickets\", \"ticket\"]", []want{{"sinks.webhook.events[1]", `unknown event "tickets"`}, {"sinks.webhook.events[2]", "listed twice"}}},
		{"webhook no events", "[sinks.webhook]\nurl = \"https://h.example.com/x\"\nsecret = \"s\"\nevents = []", []want{{"sinks.webhook.events", "at least one"}}},
		{"odoo ok", "[sinks.odoo]\nurl = \"https://odoo.example.com\"\ndatabase = \"db\"\nlogin = \"bot@example.com\"\napi_key = \"k\"\nhelpdesk_team_id = 3", nil},
		{"odoo incomplete", "[sinks.odoo]\nurl = \"https://odoo.example.com\"", []want{
			{"sinks.odoo.database", "required"}, {"sinks.odoo.login", "required"}, {"sinks.odoo.api_key", "CHATBRIDGE_ODOO_API_KEY"},
		}},
		{"odoo nothing to create", "[sinks.odoo]\nurl = \"https://odoo.example.com\"\ndatabase = \"db\"\nlogin = \"l\"\napi_key = \"k\"\ntickets = false\nleads = false", []want{{"sinks.odoo.tickets", "both false"}}},
		{"odoo settings without url", "[sinks.odoo]\ndatabase = \"db\"", []want{{"sinks.odoo.url", "sink is disabled"}}},
		{"odoo bad url", "[sinks.odoo]\nurl = \"odoo\"\ndatabase = \"db\"\nlogin = \"l\"\napi_key = \"k\"", []want{{"sinks.odoo.url", "absolute http"}}},
		{"odoo negative team", "[sinks.odoo]\nhelpdesk_team_id = -1", []want{{"sinks.odoo.helpdesk_team_id", "team id"}}},
		{"s3 ok", "[files]\nstorage = \"s3\"\n[files.s3]\nendpoint = \"https://s3.eu-west-1.amazonaws.com\"\nregion = \"eu-west-1\"\nbucket = \"acme-chat\"\nprefix = \"site-a/\"\naccess_key_id = \"AKIA1\"\nsecret_access_key = \"s\"\npath_style = false", nil},
		{"s3 incomplete", "[files]\nstorage = \"s3\"", []want{
			{"files.s3.endpoint", "is required"}, {"files.s3.bucket", "is required"},
			{"files.s3.access_key_id", "CHATBRIDGE_S3_ACCESS_KEY_ID"}, {"files.s3.secret_access_key", "CHATBRIDGE_S3_SECRET_ACCESS_KEY"},
		}},
		{"s3 bucket with storage dir", "[files.s3]\nbucket = \"acme-chat\"", []want{{"files.storage", `is "dir", but [files.s3] names a bucket`}}},
		{"s3 path style auto", "[files.s3]\npath_style = \"auto\"", nil},
		{"s3 storage unknown", "[files]\nstorage = \"gcs\"", []want{{"files.storage", "is not one of"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.in), nil)
			fe := fieldErrors(t, err)
			if len(fe) != len(tt.want) {
				t.Fatalf("got %d errors, want %d:\n%v", len(fe), len(tt.want), err)
			}
			for i, w := range tt.want {
				if fe[i].Path != w.path || !strings.Contains(fe[i].Msg, w.msg) {
					t.Errorf("error %d: got %q, want path %q with message containing %q", i, fe[i].Error(), w.path, w.msg)
				}
			}
		})
	}
}

// Validate also checks configurations built in code.
func TestValidateInCode(t *testing.T) {
	c := Default()
	if err := c.Validate(); err != nil {
		t.Fatalf("Default() does not validate: %v", err)
	}
	c.Log.Level = "loud"
	if fe := fieldErrors(t, c.Validate()); len(fe) != 1 || fe[0].Path != "log.level" {
		t.Errorf("got %v, want one log.level error", fe)
	}
}

// The accepted webhook events are exactly the ones the webhook sink knows.
func TestWebhookEventsMatchSink(t *testing.T) {
	if !slices.Equal(WebhookEvents, webhook.Types) {
		t.Errorf("config.WebhookEvents = %v, webhook.Types = %v", WebhookEvents, webhook.Types)
	}
}

func TestPeriodAndDays(t *testing.T) {
	for in, want := range map[string]string{"90d": "2160h0m0s", "1d12h": "36h0m0s", "": "0s", "0": "0s", "36h": "36h0m0s"} {
		var p Period
		if err := p.UnmarshalText([]byte(in)); err != nil || p.Duration().String() != want {
			t.Errorf("Period(%q) = %v, %v; want %s", in, p.Duration(), err, want)
		}
	}
	for _, in := range []string{"d", "-1d", "1dx", "99999999999999999d", "1d-5h"} {
		var d Duration
		if err := d.UnmarshalText([]byte(in)); err == nil {
			t.Errorf("Duration(%q) = %v, want an error", in, d.Duration())
		}
	}
	if s := Period(90 * 24 * 3600e9).String(); s != "90d" {
		t.Errorf("Period(90 days).String() = %q", s)
	}
}
