package config

import (
	"fmt"
	"net"
	"net/mail"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Accepted values of the enumerated keys.
var (
	logLevels  = []string{"debug", "info", "warn", "error"}
	logFormats = []string{"text", "json"}
	positions  = []string{"right", "left"}
	prechat    = []string{"off", "optional", "required"}
	languages  = []string{"", "en", "fr"}
	// WebhookEvents are the event types a webhook can subscribe to.
	WebhookEvents = []string{"ticket", "lead", "message", "conversation.opened", "conversation.closed", "conversation.waiting"}
)

var (
	colorRE  = regexp.MustCompile(`^#([0-9a-fA-F]{3}|[0-9a-fA-F]{6})$`)
	bcryptRE = regexp.MustCompile(`^\$2[aby]\$(0[4-9]|[12][0-9]|3[01])\$[./A-Za-z0-9]{53}$`)
)

// minSecretLen is the shortest identity secret accepted: an HMAC key that
// can be guessed protects nothing.
const minSecretLen = 16

// validate records every invalid value in errs.
func (c Config) validate(errs *Errors) {
	c.Server.validate(errs)
	c.validateStore(errs)
	oneOf(errs, "log.level", c.Log.Level, logLevels)
	oneOf(errs, "log.format", c.Log.Format, logFormats)
	c.Visitor.validate(errs)
	c.Widget.validate(errs)
	c.Email.validate(errs)
	c.Inbox.validate(errs)
	positiveDuration(errs, "outbox.give_up_after", c.Outbox.GiveUpAfter)
	c.Retention.validate(errs)
	c.Files.validate(errs)
	c.Sinks.Webhook.validate(errs)
	c.Sinks.Odoo.validate(errs)
	c.validateSlack(errs)
	c.validateMatrix(errs)
}

// validateSlack and validateMatrix check what the file says; the adapters
// check the rest (token shapes, ids) when serve builds them, with the same
// key paths.
func (c Config) validateSlack(errs *Errors) {
	s := c.Slack
	oneOf(errs, "slack.mode", s.Mode, []string{"socket", "http"})
	oneOf(errs, "slack.language", s.Language, languages)
	if !s.Enabled() {
		return
	}
	if s.Channel == "" {
		errs.add("slack.channel", "is required with slack.bot_token (the support channel's ID, like C0123456789)")
	}
	switch s.Mode {
	case "socket":
		if s.AppToken == "" {
			errs.add("slack.app_token", "is required in socket mode (an xapp- token with connections:write; or set CHATBRIDGE_SLACK_APP_TOKEN)")
		}
	case "http":
		if s.SigningSecret == "" {
			errs.add("slack.signing_secret", "is required in http mode (or set CHATBRIDGE_SLACK_SIGNING_SECRET)")
		}
		if !strings.HasPrefix(c.Server.PublicURL, "https://") {
			errs.add("server.public_url", "must be an https URL in slack http mode (Slack posts events to it)")
		}
	}
	if msg := checkURL(s.APIURL); msg != "" {
		errs.add("slack.api_url", msg)
	}
}

func (c Config) validateMatrix(errs *Errors) {
	m := c.Matrix
	oneOf(errs, "matrix.mode", m.Mode, []string{"bot", "appservice"})
	oneOf(errs, "matrix.language", m.Language, languages)
	if !m.Enabled() {
		return
	}
	if msg := checkURL(m.HomeserverURL); msg != "" {
		errs.add("matrix.homeserver_url", msg)
	}
	if !strings.HasPrefix(m.UserID, "@") || !strings.Contains(m.UserID, ":") {
		errs.add("matrix.user_id", "must be the bot's Matrix user id, like @chatbridge:example.org")
	}
	switch m.Mode {
	case "bot":
		if m.AccessToken == "" {
			errs.add("matrix.access_token", "is required in bot mode (or set CHATBRIDGE_MATRIX_ACCESS_TOKEN)")
		}
	case "appservice":
		if m.ASToken == "" {
			errs.add("matrix.as_token", "is required in appservice mode (`chatbridge matrix registration` makes one; or set CHATBRIDGE_MATRIX_AS_TOKEN)")
		}
		if m.HSToken == "" {
			errs.add("matrix.hs_token", "is required in appservice mode (or set CHATBRIDGE_MATRIX_HS_TOKEN)")
		}
	}
	if len(m.Operators) == 0 {
		errs.add("matrix.operators", "list at least one operator to invite to new rooms")
	}
	if m.OperatorPowerLevel != nil && *m.OperatorPowerLevel < 0 {
		errs.add("matrix.operator_power_level", "must be 0 or more (a power level, like 50 for moderators)")
	}
}

func (c Config) validateStore(errs *Errors) {
	s := c.Store
	oneOf(errs, "store.backend", s.Backend, []string{"bolt", "etcd"})
	if !s.Etcd() {
		return
	}
	if len(s.Endpoints) == 0 {
		errs.add("store.endpoints", `list the etcd members' client URLs, like ["https://10.0.0.1:2379"]`)
	}
	tlsFiles := s.CAFile != "" || s.CertFile != ""
	for i, e := range s.Endpoints {
		u, err := url.Parse(e)
		switch {
		case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Port() == "":
			errs.add(fmt.Sprintf("store.endpoints[%d]", i), "must be a member's client URL with a port, like https://10.0.0.1:2379")
		case u.Path != "" && u.Path != "/" || u.RawQuery != "" || u.User != nil:
			errs.add(fmt.Sprintf("store.endpoints[%d]", i), "must be scheme://host:port only (credentials go in store.username and store.password)")
		case u.Scheme == "http" && tlsFiles:
			errs.add(fmt.Sprintf("store.endpoints[%d]", i), "must be https:// when store.ca_file or store.cert_file is set")
		}
	}
	if !strings.HasPrefix(s.Prefix, "/") || !strings.HasSuffix(s.Prefix, "/") || strings.ContainsRune(s.Prefix, 0) {
		errs.add("store.prefix", `must start and end with "/", like "/chatbridge/"`)
	}
	if (s.CertFile == "") != (s.KeyFile == "") {
		errs.add("store.cert_file", "and store.key_file go together (a client certificate and its key)")
	}
	if s.Username == "" && s.Password != "" {
		errs.add("store.username", "is required with store.password")
	}
	if s.Username != "" && s.Password == "" {
		errs.add("store.password", "is required with store.username (or set CHATBRIDGE_ETCD_PASSWORD)")
	}
	positiveDuration(errs, "store.dial_timeout", s.DialTimeout)
	if s.LeaseTTL.Duration() < 2*time.Second || s.LeaseTTL.Duration() > 5*time.Minute {
		errs.add("store.lease_ttl", `must be between "2s" and "5m" (the fail-over time of a node's singletons)`)
	}
	if s.MaxTxnOps < 16 {
		errs.add("store.max_txn_ops", "must be at least 16 (etcd's --max-txn-ops; its default is 128)")
	}
	if s.MaxRequestBytes < 256<<10 {
		errs.add("store.max_request_bytes", "must be at least 262144 (etcd's --max-request-bytes; its default is 1572864)")
	} else if limit := (s.MaxRequestBytes - 64<<10) / 2; c.Visitor.MaxMessageBytes > limit {
		errs.add("visitor.max_message_bytes", fmt.Sprintf("must be at most %d with the etcd store (half of store.max_request_bytes less 64 KiB: a message must fit one etcd request)", limit))
	}
	if s.CompactEvery < 0 {
		errs.add("store.compact_every", `must be "0s" (compaction configured on the members) or a positive duration`)
	}
	if s.CompactEvery > 0 && s.CompactKeep <= 0 {
		errs.add("store.compact_keep", `must be a positive duration like "10m" (the history kept for nodes that fall behind)`)
	}
	if s.Node != "" && strings.ContainsAny(s.Node, "/\x00 ") {
		errs.add("store.node", "must be a name without spaces or slashes")
	}
}

func (f Files) validate(errs *Errors) {
	oneOf(errs, "files.storage", f.Storage, []string{"dir", "s3"})
	positive(errs, "files.max_bytes", f.MaxBytes)
	positive(errs, "files.per_conversation_per_day", f.PerConversationPerDay)
	positive(errs, "files.bytes_per_conversation_per_day", f.BytesPerConversationPerDay)
	if f.MaxBytes > 1<<30 {
		errs.add("files.max_bytes", "must be at most 1 GB (1073741824)")
	}
	f.S3.validate(errs, f.Storage)
}

// validate checks that [files.s3] says what storage "s3" needs; the store
// (bridge/blobs3) checks the rest (URL, bucket name, prefix, CA file) when
// serve builds it, with the same key paths.
func (s S3) validate(errs *Errors, storage string) {
	oneOf(errs, "files.s3.path_style", string(s.PathStyle), []string{string(ToggleAuto), string(ToggleOn), string(ToggleOff)})
	if storage != "s3" {
		if s.Endpoint != "" || s.Bucket != "" {
			errs.add("files.storage", fmt.Sprintf("is %q, but [files.s3] names a bucket: set storage = \"s3\" to keep the files there, or remove [files.s3]", storage))
		}
		return
	}
	if s.Endpoint == "" {
		errs.add("files.s3.endpoint", `is required with files.storage = "s3" (the service's URL, like "https://s3.eu-west-1.amazonaws.com")`)
	}
	if s.Bucket == "" {
		errs.add("files.s3.bucket", `is required with files.storage = "s3" (the bucket's name; create the bucket first)`)
	}
	if s.AccessKeyID == "" {
		errs.add("files.s3.access_key_id", `is required with files.storage = "s3" (or set CHATBRIDGE_S3_ACCESS_KEY_ID)`)
	}
	if s.SecretAccessKey == "" {
		errs.add("files.s3.secret_access_key", `is required with files.storage = "s3" (or set CHATBRIDGE_S3_SECRET_ACCESS_KEY)`)
	}
}

func (s Server) validate(errs *Errors) {
	if msg := checkListen(s.Listen); msg != "" {
		errs.add("server.listen", msg)
	}
	if s.PublicURL != "" {
		if msg := checkURL(s.PublicURL); msg != "" {
			errs.add("server.public_url", msg)
		}
	}
	if strings.TrimSpace(s.DataDir) == "" {
		errs.add("server.data_dir", "must not be empty")
	}
	oneOf(errs, "server.demo_page", string(s.DemoPage), []string{string(ToggleAuto), string(ToggleOn), string(ToggleOff)})
	if s.AdminListen != "" {
		if msg := checkListen(s.AdminListen); msg != "" {
			errs.add("server.admin_listen", msg+` (or "" to disable the operations endpoints)`)
		} else if s.AdminListen == s.Listen && !strings.HasSuffix(s.Listen, ":0") {
			errs.add("server.admin_listen", "must differ from server.listen: the operations endpoints are kept off the public listener")
		}
	}
	positiveDuration(errs, "server.read_timeout", s.ReadTimeout)
	positiveDuration(errs, "server.idle_timeout", s.IdleTimeout)
}

func (v Visitor) validate(errs *Errors) {
	for i, o := range v.AllowedOrigins {
		if msg := checkOrigin(o); msg != "" {
			errs.add(fmt.Sprintf("visitor.allowed_origins[%d]", i), msg)
		}
	}
	positive(errs, "visitor.max_message_bytes", v.MaxMessageBytes)
	positive(errs, "visitor.messages_per_minute", v.MessagesPerMinute)
	positive(errs, "visitor.sessions_per_ip_per_hour", v.SessionsPerIPPerHour)
	positive(errs, "visitor.conversations_per_ip_per_day", v.ConversationsPerIPPerDay)
	positive(errs, "visitor.pageviews_per_minute", v.PageviewsPerMinute)
	positiveDuration(errs, "visitor.long_poll_max", v.LongPollMax)
	positive(errs, "visitor.ws_max_frame_bytes", v.WSMaxFrameBytes)
	positive(errs, "visitor.visitor_updates_per_minute", v.VisitorUpdatesPerMinute)
	positive(errs, "visitor.max_conns_per_visitor", v.MaxConnsPerVisitor)
	positive(errs, "visitor.max_conns_per_ip", v.MaxConnsPerIP)
	positiveDuration(errs, "visitor.token_idle_ttl", v.TokenIdleTTL)
	positiveDuration(errs, "visitor.identity_max_lifetime", v.IdentityMaxLifetime)
	if v.WSMaxFrameBytes > 0 && v.MaxMessageBytes > 0 && v.WSMaxFrameBytes < v.MaxMessageBytes {
		errs.add("visitor.ws_max_frame_bytes", fmt.Sprintf("must be at least visitor.max_message_bytes (%d) so that a message fits in a frame", v.MaxMessageBytes))
	}
	if s := v.IdentitySecret.Reveal(); s != "" && len(s) < minSecretLen {
		errs.add("visitor.identity_secret", fmt.Sprintf("must be at least %d characters (or empty to disable signed identities)", minSecretLen))
	}
}

func (w Widget) validate(errs *Errors) {
	if strings.TrimSpace(w.Title) == "" {
		errs.add("widget.title", "must not be empty")
	}
	if !colorRE.MatchString(w.Color) {
		errs.add("widget.color", `must be a hex colour like "#2563eb" or "#25e"`)
	}
	oneOf(errs, "widget.position", w.Position, positions)
	oneOf(errs, "widget.prechat_name", w.PrechatName, prechat)
	oneOf(errs, "widget.prechat_email", w.PrechatEmail, prechat)
	positiveDuration(errs, "widget.offline_after", w.OfflineAfter)
	oneOf(errs, "widget.language", w.Language, languages)
}

func (e Email) validate(errs *Errors) {
	if e.Port < 1 || e.Port > 65535 {
		errs.add("email.port", "must be between 1 and 65535")
	}
	positiveDuration(errs, "email.away_after", e.AwayAfter)
	positiveDuration(errs, "email.resume_ttl", e.ResumeTTL)
	oneOf(errs, "email.tls", e.TLS, []string{TLSAuto, TLSStartTLS, TLSImplicit, TLSNone})
	if e.StartTLS != nil && !*e.StartTLS {
		errs.add("email.starttls", `is replaced by email.tls; starttls = false no longer sends in plain text: set tls = "none" to say so (a relay on this machine), or remove the key`)
	}
	if e.Host == "" {
		if e.From != "" || e.Username != "" {
			errs.add("email.host", "is empty, so e-mail is disabled, but email.from or email.username is set: set the SMTP host or remove them")
		}
		return
	}
	if strings.ContainsAny(e.Host, ":/ ") {
		errs.add("email.host", "must be a host name without port or scheme (the port is email.port)")
	}
	if e.From == "" {
		errs.add("email.from", "is required when email.host is set")
	} else if _, err := mail.ParseAddress(e.From); err != nil {
		errs.add("email.from", `must be an e-mail address like "Support <support@example.com>"`)
	}
	if e.Username != "" && e.Password == "" {
		errs.add("email.password", "is required with email.username (or set CHATBRIDGE_SMTP_PASSWORD)")
	}
}

func (in Inbox) validate(errs *Errors) {
	oneOf(errs, "inbox.language", in.Language, languages)
	seen := map[string]int{}
	for i, op := range in.Operators {
		p := fmt.Sprintf("inbox.operators[%d]", i)
		login := strings.TrimSpace(op.Login)
		switch {
		case login == "":
			errs.add(p+".login", "must not be empty")
		case login != op.Login || strings.ContainsFunc(login, isSpaceOrControl):
			errs.add(p+".login", "must not contain white space or control characters")
		default:
			if j, dup := seen[strings.ToLower(login)]; dup {
				errs.add(p+".login", fmt.Sprintf("%q is already used by inbox.operators[%d]", login, j))
			} else {
				seen[strings.ToLower(login)] = i
			}
		}
		if !bcryptRE.MatchString(op.PasswordHash) {
			errs.add(p+".password_hash", "must be a bcrypt hash ($2a$, $2b$ or $2y$, 60 characters); `chatbridge inbox hash-password` prints one")
		}
	}
}

func isSpaceOrControl(r rune) bool { return r <= ' ' || r == 0x7f || r == 0x85 || r == 0xa0 }

func (w Webhook) validate(errs *Errors) {
	positiveDuration(errs, "sinks.webhook.timeout", w.Timeout)
	seen := map[string]bool{}
	for i, ev := range w.Events {
		p := fmt.Sprintf("sinks.webhook.events[%d]", i)
		switch {
		case !slices.Contains(WebhookEvents, ev):
			errs.add(p, fmt.Sprintf("unknown event %q, must be one of %s", ev, strings.Join(WebhookEvents, ", ")))
		case seen[ev]:
			errs.add(p, fmt.Sprintf("%q is listed twice", ev))
		}
		seen[ev] = true
	}
	if w.URL == "" {
		return
	}
	if msg := checkURL(w.URL); msg != "" {
		errs.add("sinks.webhook.url", msg)
	}
	if w.Secret == "" {
		errs.add("sinks.webhook.secret", "is required when sinks.webhook.url is set (or set CHATBRIDGE_WEBHOOK_SECRET)")
	}
	if len(w.Events) == 0 {
		errs.add("sinks.webhook.events", "must list at least one event when sinks.webhook.url is set")
	}
}

func (o Odoo) validate(errs *Errors) {
	positiveDuration(errs, "sinks.odoo.timeout", o.Timeout)
	if o.HelpdeskTeamID < 0 {
		errs.add("sinks.odoo.helpdesk_team_id", "must be 0 (Odoo's default team) or a team id")
	}
	if o.URL == "" {
		if o.Database != "" || o.Login != "" {
			errs.add("sinks.odoo.url", "is empty, so the Odoo sink is disabled, but sinks.odoo.database or login is set: set the URL or remove them")
		}
		return
	}
	if msg := checkURL(o.URL); msg != "" {
		errs.add("sinks.odoo.url", msg)
	}
	if o.Database == "" {
		errs.add("sinks.odoo.database", "is required when sinks.odoo.url is set")
	}
	if o.Login == "" {
		errs.add("sinks.odoo.login", "is required when sinks.odoo.url is set")
	}
	if o.APIKey == "" {
		errs.add("sinks.odoo.api_key", "is required when sinks.odoo.url is set (or set CHATBRIDGE_ODOO_API_KEY)")
	}
	if !o.Tickets && !o.Leads {
		errs.add("sinks.odoo.tickets", "sinks.odoo.tickets and sinks.odoo.leads are both false: enable one or remove sinks.odoo.url")
	}
}

func oneOf(errs *Errors, path, v string, allowed []string) {
	if slices.Contains(allowed, v) {
		return
	}
	quoted := make([]string, len(allowed))
	for i, a := range allowed {
		quoted[i] = strconv.Quote(a)
	}
	errs.add(path, fmt.Sprintf("%q is not one of %s", v, strings.Join(quoted, ", ")))
}

func positive(errs *Errors, path string, n int) {
	if n <= 0 {
		errs.add(path, "must be greater than 0")
	}
}

func (r Retention) validate(errs *Errors) {
	if d := r.ClosedConversations.Duration(); d < 0 || (d > 0 && d < time.Hour) {
		errs.add("retention.closed_conversations", `must be 0 (keep for ever) or at least an hour, like "90d"`)
	}
	positiveDuration(errs, "retention.every", r.Every)
}

func positiveDuration(errs *Errors, path string, d Duration) {
	if d <= 0 {
		errs.add(path, `must be a positive duration like "30s"`)
	}
}

// checkListen validates a host:port listen address ("" when valid).
func checkListen(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return `must be host:port, like "127.0.0.1:8080" or ":8080"`
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return "port must be a number between 0 and 65535"
	}
	if strings.ContainsAny(host, " /") {
		return "host must be an IP address or a host name"
	}
	return ""
}

// checkURL validates an absolute http(s) URL ("" when valid).
func checkURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "must be an absolute http:// or https:// URL"
	}
	if u.User != nil {
		return "must not contain a user name or password (use the dedicated keys)"
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return "must not have a query or fragment"
	}
	return ""
}

// checkOrigin validates a browser origin ("" when valid).
func checkOrigin(o string) string {
	u, err := url.Parse(o)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil ||
		(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Sprintf(`%q is not an origin: write scheme and host only, like "https://shop.example.com"`, o)
	}
	return ""
}
