package config

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// Config is the whole of bridge.toml. Each section is a plain struct; the
// components take their own Config types, which cmd/chatbridge fills from
// these.
type Config struct {
	Server    Server    `toml:"server"`
	Store     Store     `toml:"store"`
	Log       Log       `toml:"log"`
	Visitor   Visitor   `toml:"visitor"`
	Widget    Widget    `toml:"widget"`
	Email     Email     `toml:"email"`
	Inbox     Inbox     `toml:"inbox"`
	Outbox    Outbox    `toml:"outbox"`
	Retention Retention `toml:"retention"`
	Files     Files     `toml:"files"`
	Sinks     Sinks     `toml:"sinks"`
	Slack     Slack     `toml:"slack"`
	Matrix    Matrix    `toml:"matrix"`
}

// Files is [files]: files that visitors and operators send, and where their
// bytes are kept.
type Files struct {
	// Storage is "dir" (a directory, Dir) or "s3" (S3-compatible object
	// storage).
	Storage string `toml:"storage"`
	// Dir holds the files with storage "dir" (default: data_dir/files).
	Dir string `toml:"dir"`
	// MaxBytes is the largest file accepted, from visitors and operators.
	MaxBytes int `toml:"max_bytes"`
	// PerConversationPerDay caps the files a visitor sends in one
	// conversation in a day; BytesPerConversationPerDay their total size.
	PerConversationPerDay      int `toml:"per_conversation_per_day"`
	BytesPerConversationPerDay int `toml:"bytes_per_conversation_per_day"`
	// StripMetadata removes location and other metadata from visitors'
	// photos before operators see them.
	StripMetadata bool `toml:"strip_metadata"`
	// S3 is [files.s3]: the bucket with storage "s3".
	S3 S3 `toml:"s3"`
}

// S3 is [files.s3]: S3-compatible object storage (AWS S3, Cloudflare R2,
// MinIO, Ceph…) for the files, with storage = "s3".
type S3 struct {
	// Endpoint is the service's URL, scheme and host only
	// ("https://s3.eu-west-1.amazonaws.com").
	Endpoint string `toml:"endpoint"`
	// Region is the bucket's region ("auto" for R2); "" asks the service.
	Region string `toml:"region"`
	// Bucket holds the files; it must exist.
	Bucket string `toml:"bucket"`
	// Prefix goes before every object name ("site-a/"), so that several
	// sites can share a bucket.
	Prefix string `toml:"prefix"`
	// AccessKeyID and SecretAccessKey sign the requests (env
	// CHATBRIDGE_S3_ACCESS_KEY_ID, CHATBRIDGE_S3_SECRET_ACCESS_KEY).
	AccessKeyID     Secret `toml:"access_key_id"`
	SecretAccessKey Secret `toml:"secret_access_key"`
	// PathStyle: true addresses the bucket as endpoint/bucket, false as
	// bucket.endpoint; "auto" uses virtual-host style for AWS and path
	// style for every other endpoint.
	PathStyle Toggle `toml:"path_style"`
	// CAFile is a PEM file of extra certificates to trust (a private CA).
	CAFile string `toml:"ca_file"`
}

// Store is [store]: where chatbridge keeps its state.
type Store struct {
	// Backend is "bolt" (one file in server.data_dir: one node, the
	// default) or "etcd" (an etcd cluster shared by several chatbridge
	// nodes; see docs/CLUSTER.md).
	Backend string `toml:"backend"`
	// Endpoints are the etcd members' client URLs ("https://10.0.0.1:2379").
	Endpoints []string `toml:"endpoints"`
	// Prefix is put before every key, so that several installations can
	// share a cluster ("/chatbridge/").
	Prefix string `toml:"prefix"`
	// CAFile verifies the members' certificates; CertFile and KeyFile are
	// this node's client certificate (etcd's --client-cert-auth).
	CAFile   string `toml:"ca_file"`
	CertFile string `toml:"cert_file"`
	KeyFile  string `toml:"key_file"`
	// Username and Password authenticate with etcd's own users (etcdctl
	// user add); the password may come from CHATBRIDGE_ETCD_PASSWORD.
	Username string `toml:"username"`
	Password Secret `toml:"password"`
	// DialTimeout bounds connecting to the cluster.
	DialTimeout Duration `toml:"dial_timeout"`
	// MaxTxnOps and MaxRequestBytes must match the members' --max-txn-ops
	// and --max-request-bytes (etcd's defaults: 128 and 1572864).
	MaxTxnOps       int `toml:"max_txn_ops"`
	MaxRequestBytes int `toml:"max_request_bytes"`
	// Node names this node in the cluster (health, metrics, logs); ""
	// means the host name.
	Node string `toml:"node"`
	// CompactEvery is how often the node that leads maintenance compacts
	// etcd's history, keeping CompactKeep of it ("0s": never; then
	// configure --auto-compaction on the members).
	CompactEvery Duration `toml:"compact_every"`
	CompactKeep  Duration `toml:"compact_keep"`
	// LeaseTTL is the lease of this node's elections: when a node dies,
	// another takes over its singletons (delivery per destination, the
	// Matrix sync) after about this long.
	LeaseTTL Duration `toml:"lease_ttl"`
}

// Etcd reports whether the store is the etcd cluster store.
func (s Store) Etcd() bool { return s.Backend == "etcd" }

// Outbox is [outbox]: deliveries to Slack, Matrix, e-mail and the sinks.
type Outbox struct {
	// GiveUpAfter makes a delivery that still fails this long after it was
	// queued a dead letter (`chatbridge outbox list --dead`).
	GiveUpAfter Duration `toml:"give_up_after"`
}

// Retention is [retention]: what chatbridge deletes after a while.
type Retention struct {
	// ClosedConversations deletes closed conversations last updated this
	// long ago, with their messages, files no other conversation uses,
	// and their visitors when nothing else of theirs is left ("90d"; 0 or
	// "": keep them for ever).
	ClosedConversations Period `toml:"closed_conversations"`
	// Every is how often the deletion runs (on one node of a cluster).
	Every Duration `toml:"every"`
}

// Server is [server]: where chatbridge listens and keeps its data.
type Server struct {
	// Listen is the host:port of the visitor API, widget, demo page, inbox
	// and the public /healthz (ok or not, no details).
	Listen string `toml:"listen"`
	// PublicURL is the base URL used in links (e-mails, resume links); ""
	// means "http://<listen>" (see BaseURL).
	PublicURL string `toml:"public_url"`
	// DataDir holds chatbridge.db and the admin socket admin.sock.
	DataDir string `toml:"data_dir"`
	// DemoPage serves the demo shop page at /: "auto" only when Listen is a
	// loopback address and PublicURL is empty (see DemoEnabled).
	DemoPage Toggle `toml:"demo_page"`
	// AdminListen is the host:port of the operations endpoints (/metrics and
	// the detailed /healthz); "" disables them. Loopback by default.
	AdminListen string `toml:"admin_listen"`
	// Pprof serves Go's profiles (/debug/pprof/) on AdminListen: for
	// measuring the server under load (chatbridge bench turns it on); off
	// by default.
	Pprof bool `toml:"pprof"`
	// ReadTimeout bounds how long a client may take to send a request's
	// headers, and then its body (plus a second per 16 KiB of a large
	// body). Long polls and live streams, which wait after the request was
	// read, are not cut by it.
	ReadTimeout Duration `toml:"read_timeout"`
	// IdleTimeout closes a kept-alive connection idle for this long.
	IdleTimeout Duration `toml:"idle_timeout"`
}

// DemoEnabled reports whether the demo page is served: demo_page = true,
// or "auto" on a loopback listen address without a public URL (a trial on
// one's own machine, never a server that others reach).
func (s Server) DemoEnabled() bool {
	switch s.DemoPage {
	case ToggleOn:
		return true
	case ToggleOff:
		return false
	}
	return s.PublicURL == "" && IsLoopbackHost(hostOf(s.Listen))
}

// hostOf is the host part of a host:port ("" when there is none).
func hostOf(hostport string) string {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		return ""
	}
	return host
}

// IsLoopbackHost reports whether host (a name or an IP address, without
// port) is this machine only: "localhost", 127.0.0.0/8 or ::1. An empty
// host, 0.0.0.0 and :: mean every interface: not loopback.
func IsLoopbackHost(host string) bool {
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	return ip != nil && ip.IsLoopback()
}

// BaseURL is PublicURL without a trailing slash, or "http://<listen>" when
// PublicURL is empty.
func (s Server) BaseURL() string {
	if s.PublicURL != "" {
		return strings.TrimRight(s.PublicURL, "/")
	}
	host, port, err := net.SplitHostPort(s.Listen)
	if err != nil {
		return "http://" + s.Listen
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, port)
}

// Log is [log].
type Log struct {
	// Level is debug, info, warn or error.
	Level string `toml:"level"`
	// Format is text or json.
	Format string `toml:"format"`
}

// Visitor is [visitor]: the public visitor API and its limits.
type Visitor struct {
	// AllowedOrigins lists the origins ("https://shop.example.com") allowed
	// to call the visitor API and frame the widget. Empty: only the
	// server's own origin (BaseURL) and requests without an Origin.
	AllowedOrigins           []string `toml:"allowed_origins"`
	MaxMessageBytes          int      `toml:"max_message_bytes"`
	MessagesPerMinute        int      `toml:"messages_per_minute"` // per conversation
	SessionsPerIPPerHour     int      `toml:"sessions_per_ip_per_hour"`
	ConversationsPerIPPerDay int      `toml:"conversations_per_ip_per_day"`
	PageviewsPerMinute       int      `toml:"pageviews_per_minute"` // per visitor
	LongPollMax              Duration `toml:"long_poll_max"`
	WSMaxFrameBytes          int      `toml:"ws_max_frame_bytes"`
	// VisitorUpdatesPerMinute limits name/e-mail changes per visitor.
	VisitorUpdatesPerMinute int `toml:"visitor_updates_per_minute"`
	// MaxConnsPerVisitor caps a visitor's live connections (streams and
	// long polls, e.g. one per tab).
	MaxConnsPerVisitor int `toml:"max_conns_per_visitor"`
	// MaxConnsPerIP caps the live connections from one client address.
	MaxConnsPerIP int `toml:"max_conns_per_ip"`
	// IdentitySecret is the HMAC key of signed identities
	// (env CHATBRIDGE_IDENTITY_SECRET); "" disables signed identities.
	IdentitySecret Secret `toml:"identity_secret"`
	// TokenIdleTTL: a visitor not seen for this long (no session, page view
	// or message) loses their tokens; the widget then starts a new chat.
	TokenIdleTTL Duration `toml:"token_idle_ttl"`
	// TrustProxyHeaders takes the client IP from X-Forwarded-For.
	TrustProxyHeaders bool `toml:"trust_proxy_headers"`
	// IdentityMaxLifetime refuses signed identities whose expires is further
	// ahead than this: a leaked identity must not work for years.
	IdentityMaxLifetime Duration `toml:"identity_max_lifetime"`
}

// Widget is [widget]: how the chat bubble looks and behaves.
type Widget struct {
	Title    string `toml:"title"`
	Greeting string `toml:"greeting"`
	// Color is "#rgb" or "#rrggbb".
	Color string `toml:"color"`
	// Position is right or left.
	Position string `toml:"position"`
	// PrechatName and PrechatEmail are off, optional or required.
	PrechatName  string `toml:"prechat_name"`
	PrechatEmail string `toml:"prechat_email"`
	// OfflineAfter: the visitor is asked for an e-mail when no operator
	// answered within this.
	OfflineAfter Duration `toml:"offline_after"`
	Sound        bool     `toml:"sound"`
	// Language is "" (the browser's), en or fr.
	Language string `toml:"language"`
}

// Email is [email]: offline replies by SMTP, disabled when Host is empty.
type Email struct {
	Host     string `toml:"host"`
	Port     int    `toml:"port"`
	Username string `toml:"username"`
	// Password: env CHATBRIDGE_SMTP_PASSWORD.
	Password Secret `toml:"password"`
	From     string `toml:"from"`
	// TLS is how the connection to the SMTP server is protected: "auto"
	// (implicit TLS on port 465, STARTTLS required on any other port),
	// "starttls" (required: a server that does not offer it is an error),
	// "implicit" (TLS from the first byte) or "none" (plain text, only when
	// asked for: a relay on this machine).
	TLS string `toml:"tls"`
	// StartTLS is the key tls replaced: true is accepted (it is what tls
	// "auto" does), false is refused with a pointer to tls = "none".
	StartTLS *bool `toml:"starttls,omitempty"`
	// AwayAfter: the visitor counts as away after this long without a live
	// connection, and operator replies are e-mailed.
	AwayAfter Duration `toml:"away_after"`
	// ResumeTTL is how long the link in an e-mail works; it works once.
	ResumeTTL Duration `toml:"resume_ttl"`
}

// SMTP TLS modes (email.tls).
const (
	TLSAuto     = "auto"
	TLSStartTLS = "starttls"
	TLSImplicit = "implicit"
	TLSNone     = "none"
)

// TLSMode is TLS with "auto" resolved for Port: "implicit" on 465, else
// "starttls".
func (e Email) TLSMode() string {
	if e.TLS == TLSAuto || e.TLS == "" {
		if e.Port == 465 {
			return TLSImplicit
		}
		return TLSStartTLS
	}
	return e.TLS
}

// Enabled reports whether offline e-mails are configured.
func (e Email) Enabled() bool { return e.Host != "" }

// Inbox is [inbox]: the built-in operator web page.
type Inbox struct {
	Enabled bool `toml:"enabled"`
	// Language is the operators' language: system lines ("Alice ended the
	// chat.") are shown in it. "en" (default) or "fr".
	Language string `toml:"language"`
	// Operators may log in to the inbox. None: one operator "admin" with a
	// random password printed once at start.
	Operators []Operator `toml:"operators"`
}

// Operator is one [[inbox.operators]] entry.
type Operator struct {
	Login string `toml:"login"`
	// Name is shown to visitors; "" means Login.
	Name string `toml:"name"`
	// PasswordHash is a bcrypt hash ("$2a$10$…").
	PasswordHash string `toml:"password_hash"`
}

// DisplayName is Name, or Login when Name is empty.
func (o Operator) DisplayName() string {
	if o.Name != "" {
		return o.Name
	}
	return o.Login
}

// Sinks is [sinks]: where tickets and leads go besides the built-in store.
type Sinks struct {
	Webhook Webhook `toml:"webhook"`
	Odoo    Odoo    `toml:"odoo"`
}

// Webhook is [sinks.webhook], disabled when URL is empty.
type Webhook struct {
	URL string `toml:"url"`
	// Secret signs the body (HMAC-SHA256); env CHATBRIDGE_WEBHOOK_SECRET.
	Secret Secret `toml:"secret"`
	// Events: ticket, lead, message, conversation.opened,
	// conversation.closed, conversation.waiting.
	Events  []string `toml:"events"`
	Timeout Duration `toml:"timeout"`
}

// Enabled reports whether the webhook sink is configured.
func (w Webhook) Enabled() bool { return w.URL != "" }

// Odoo is [sinks.odoo], disabled when URL is empty.
type Odoo struct {
	URL      string `toml:"url"`
	Database string `toml:"database"`
	Login    string `toml:"login"`
	// APIKey: env CHATBRIDGE_ODOO_API_KEY.
	APIKey Secret `toml:"api_key"`
	// Tickets creates helpdesk.ticket records (Helpdesk app).
	Tickets bool `toml:"tickets"`
	// Leads creates crm.lead records (CRM app).
	Leads bool `toml:"leads"`
	// HelpdeskTeamID is the helpdesk.team for new tickets; 0: Odoo's default.
	HelpdeskTeamID int      `toml:"helpdesk_team_id"`
	Timeout        Duration `toml:"timeout"`
}

// Enabled reports whether the Odoo sink is configured.
func (o Odoo) Enabled() bool { return o.URL != "" }

// Slack is [slack]: one thread per conversation in a support channel.
// Disabled while bot_token is empty.
type Slack struct {
	// BotToken is the bot's xoxb- token (env CHATBRIDGE_SLACK_BOT_TOKEN).
	BotToken Secret `toml:"bot_token"`
	// AppToken is the xapp- token of Socket Mode (env
	// CHATBRIDGE_SLACK_APP_TOKEN).
	AppToken Secret `toml:"app_token"`
	// SigningSecret verifies events in http mode (env
	// CHATBRIDGE_SLACK_SIGNING_SECRET).
	SigningSecret Secret `toml:"signing_secret"`
	// Channel is the support channel's ID (C… or G…).
	Channel string `toml:"channel"`
	// Mode is socket (no public URL needed) or http (Events API at
	// server.public_url + /slack/events).
	Mode string `toml:"mode"`
	// BotName is the app's name in the manifest, and how operators can
	// address the bot ("@chatbridge help").
	BotName string `toml:"bot_name"`
	// APIURL is the Web API base URL; change only for tests or proxies.
	APIURL string `toml:"api_url"`
	// Language renders system lines ("… ended the chat.") for the
	// operators in Slack: en (default) or fr.
	Language string `toml:"language"`
}

// Enabled reports whether Slack is configured.
func (s Slack) Enabled() bool { return s.BotToken != "" }

// Matrix is [matrix]: one room per conversation, through a client bot
// account or an appservice. Disabled while homeserver_url is empty.
type Matrix struct {
	// Mode is bot (an ordinary account) or appservice (visitors appear as
	// their own ghost users; needs a registration installed by the
	// homeserver's admin: `chatbridge matrix registration`).
	Mode          string `toml:"mode"`
	HomeserverURL string `toml:"homeserver_url"`
	// UserID is the bot account ("@chatbridge:example.org").
	UserID string `toml:"user_id"`
	// AccessToken of the bot account (env CHATBRIDGE_MATRIX_ACCESS_TOKEN).
	AccessToken Secret `toml:"access_token"`
	// Operators are invited to every new room ("@alice:example.org" or
	// "alice" on server_name).
	Operators []string `toml:"operators"`
	// ServerName qualifies bare operator names; "" = the bot's server.
	ServerName string `toml:"server_name"`
	// RoomName names new rooms; {visitor} is the visitor's name.
	RoomName string `toml:"room_name"`
	// ForwardTyping shows operators' typing in the room to the visitor.
	// Matrix typing carries no text, so it also shows while an operator
	// writes a note or a command.
	ForwardTyping bool `toml:"forward_typing"`
	// ASToken and HSToken are the appservice tokens of the registration
	// (env CHATBRIDGE_MATRIX_AS_TOKEN, CHATBRIDGE_MATRIX_HS_TOKEN).
	ASToken Secret `toml:"as_token"`
	HSToken Secret `toml:"hs_token"`
	// SenderLocalpart is the appservice's bot user; "" = user_id's localpart.
	SenderLocalpart string `toml:"sender_localpart"`
	// GhostPrefix starts the localparts of visitors' ghost users.
	GhostPrefix string `toml:"ghost_prefix"`
	// AppserviceURL is where the homeserver reaches chatbridge (written into
	// the registration); "" = server.public_url.
	AppserviceURL string `toml:"appservice_url"`
	// AppserviceID is the registration's id.
	AppserviceID string `toml:"appservice_id"`
	// OperatorPowerLevel, when set, makes room members with at least this
	// power level operators too (besides Operators). Only operators reach
	// the visitor; anyone else writing in the room is told their message
	// was not sent.
	OperatorPowerLevel *int `toml:"operator_power_level"`
	// Language renders system lines ("… ended the chat.") for the
	// operators in the rooms: en (default) or fr.
	Language string `toml:"language"`
}

// Enabled reports whether Matrix is configured.
func (m Matrix) Enabled() bool { return m.HomeserverURL != "" }

// Default returns the configuration used when bridge.toml is absent, and the
// values of keys a file leaves out.
func Default() Config {
	return Config{
		Server: Server{
			Listen: "127.0.0.1:8080", DataDir: "./chatbridge-data", DemoPage: ToggleAuto,
			AdminListen: "127.0.0.1:9191", ReadTimeout: Duration(15 * time.Second), IdleTimeout: Duration(2 * time.Minute),
		},
		Store: Store{Backend: "bolt", Prefix: "/chatbridge/", DialTimeout: Duration(5 * time.Second),
			MaxTxnOps: 128, MaxRequestBytes: 1572864, CompactEvery: Duration(5 * time.Minute), CompactKeep: Duration(10 * time.Minute),
			LeaseTTL: Duration(10 * time.Second)},
		Log: Log{Level: "info", Format: "text"},
		Visitor: Visitor{
			AllowedOrigins:           []string{},
			MaxMessageBytes:          10000,
			MessagesPerMinute:        30,
			SessionsPerIPPerHour:     30,
			ConversationsPerIPPerDay: 20,
			PageviewsPerMinute:       60,
			LongPollMax:              Duration(30 * time.Second),
			WSMaxFrameBytes:          65536,
			VisitorUpdatesPerMinute:  10,
			MaxConnsPerVisitor:       8,
			MaxConnsPerIP:            64,
			TokenIdleTTL:             Duration(180 * 24 * time.Hour),
			IdentityMaxLifetime:      Duration(24 * time.Hour),
		},
		Widget: Widget{
			Title: "Chat with us", Greeting: "Hi! How can we help?", Color: "#2563eb",
			Position: "right", PrechatName: "optional", PrechatEmail: "optional",
			OfflineAfter: Duration(2 * time.Minute), Sound: true,
		},
		Email:     Email{Port: 587, TLS: TLSAuto, AwayAfter: Duration(time.Minute), ResumeTTL: Duration(72 * time.Hour)},
		Inbox:     Inbox{Enabled: true, Language: "en"},
		Outbox:    Outbox{GiveUpAfter: Duration(72 * time.Hour)},
		Retention: Retention{Every: Duration(time.Hour)},
		Files: Files{Storage: "dir", MaxBytes: 10 << 20, PerConversationPerDay: 20,
			BytesPerConversationPerDay: 50 << 20, StripMetadata: true, S3: S3{PathStyle: ToggleAuto}},
		Sinks: Sinks{
			Webhook: Webhook{Events: []string{"ticket", "lead"}, Timeout: Duration(10 * time.Second)},
			Odoo:    Odoo{Tickets: true, Leads: true, Timeout: Duration(15 * time.Second)},
		},
		Slack:  Slack{Mode: "socket", BotName: "chatbridge", APIURL: "https://slack.com/api/"},
		Matrix: Matrix{Mode: "bot", Operators: []string{}, RoomName: "Chat with {visitor}", ForwardTyping: true, GhostPrefix: "livechat_", AppserviceID: "chatbridge"},
	}
}

// secretVars maps the environment variables that override secrets to their
// keys. A non-empty variable wins over the file.
var secretVars = []struct {
	env, key string
	field    func(*Config) *Secret
}{
	{"CHATBRIDGE_ETCD_PASSWORD", "store.password", func(c *Config) *Secret { return &c.Store.Password }},
	{"CHATBRIDGE_IDENTITY_SECRET", "visitor.identity_secret", func(c *Config) *Secret { return &c.Visitor.IdentitySecret }},
	{"CHATBRIDGE_SMTP_PASSWORD", "email.password", func(c *Config) *Secret { return &c.Email.Password }},
	{"CHATBRIDGE_WEBHOOK_SECRET", "sinks.webhook.secret", func(c *Config) *Secret { return &c.Sinks.Webhook.Secret }},
	{"CHATBRIDGE_ODOO_API_KEY", "sinks.odoo.api_key", func(c *Config) *Secret { return &c.Sinks.Odoo.APIKey }},
	{"CHATBRIDGE_SLACK_BOT_TOKEN", "slack.bot_token", func(c *Config) *Secret { return &c.Slack.BotToken }},
	{"CHATBRIDGE_SLACK_APP_TOKEN", "slack.app_token", func(c *Config) *Secret { return &c.Slack.AppToken }},
	{"CHATBRIDGE_SLACK_SIGNING_SECRET", "slack.signing_secret", func(c *Config) *Secret { return &c.Slack.SigningSecret }},
	{"CHATBRIDGE_MATRIX_ACCESS_TOKEN", "matrix.access_token", func(c *Config) *Secret { return &c.Matrix.AccessToken }},
	{"CHATBRIDGE_MATRIX_AS_TOKEN", "matrix.as_token", func(c *Config) *Secret { return &c.Matrix.ASToken }},
	{"CHATBRIDGE_MATRIX_HS_TOKEN", "matrix.hs_token", func(c *Config) *Secret { return &c.Matrix.HSToken }},
	{"CHATBRIDGE_S3_ACCESS_KEY_ID", "files.s3.access_key_id", func(c *Config) *Secret { return &c.Files.S3.AccessKeyID }},
	{"CHATBRIDGE_S3_SECRET_ACCESS_KEY", "files.s3.secret_access_key", func(c *Config) *Secret { return &c.Files.S3.SecretAccessKey }},
}

// Load reads and parses the file at path with the process environment.
// Problems with the content are a *Errors; a missing or unreadable file is
// an ordinary error (errors.Is(err, fs.ErrNotExist) for a missing one).
func Load(path string) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("load config: %w", err)
	}
	return Parse(data, os.Getenv)
}

// Parse decodes data over Default(), applies the secrets found with env
// (nil: no environment) and validates the result. On any problem it returns
// a *Errors listing all of them and a zero Config.
func Parse(data []byte, env func(string) string) (Config, error) {
	cfg := Default()
	errs := &Errors{}
	decode(data, &cfg, errs)
	if len(errs.Fields) > 0 && strings.HasPrefix(errs.Fields[0].Path, "line ") {
		return Config{}, errs // a syntax error: nothing else is known
	}
	if env != nil {
		for _, v := range secretVars {
			if s := env(v.env); s != "" {
				*v.field(&cfg) = Secret(s)
			}
		}
	}
	// A key that could not be decoded kept its default: do not report it
	// (or the table it belongs to) a second time.
	bad := make([]string, len(errs.Fields))
	for i, f := range errs.Fields {
		bad[i] = f.Path
	}
	verrs := &Errors{}
	cfg.validate(verrs)
	for _, f := range verrs.Fields {
		if !slices.ContainsFunc(bad, func(p string) bool { return under(f.Path, p) }) {
			errs.Fields = append(errs.Fields, f)
		}
	}
	if err := errs.err(); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// under reports whether path is p or a key inside it.
func under(path, p string) bool {
	return path == p || strings.HasPrefix(path, p+".") || strings.HasPrefix(path, p+"[")
}

// Validate checks a Config built in code (Parse already validates).
func (c Config) Validate() error {
	errs := &Errors{}
	c.validate(errs)
	return errs.err()
}

// Redacted renders the configuration as TOML with every set secret shown as
// "[redacted]", for `chatbridge config check --print`.
func (c Config) Redacted() string {
	var b bytes.Buffer
	if err := toml.NewEncoder(&b).Encode(c); err != nil {
		// Config holds only encodable types; this is a programming error.
		return "# cannot render the configuration: " + err.Error() + "\n"
	}
	return b.String()
}
