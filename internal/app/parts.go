package app

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/chatbridge/chatbridge/adapters/email"
	"github.com/chatbridge/chatbridge/adapters/inbox"
	"github.com/chatbridge/chatbridge/adapters/matrix"
	"github.com/chatbridge/chatbridge/adapters/odoo"
	"github.com/chatbridge/chatbridge/adapters/slack"
	"github.com/chatbridge/chatbridge/adapters/webhook"
	"github.com/chatbridge/chatbridge/bridge/blobs3"
	"github.com/chatbridge/chatbridge/commands"
	"github.com/chatbridge/chatbridge/internal/config"
	"github.com/chatbridge/chatbridge/visitor"
)

// part is one component the configuration enables: how its own
// configuration is checked (what its constructor checks too, so that a
// configuration that passes Check starts) and how it is built on the app's
// engine. What a built component does is detected by interface (see Build).
type part struct {
	name  string
	check func() []error
	build func(a *App) (any, error)
}

// parts lists every component of chatbridge, once, in the order they are
// registered, with the configuration each gets. Check runs their checks;
// Open builds them.
func parts(cfg config.Config) []part {
	base := cfg.Server.BaseURL()
	var out []part
	add := func(enabled bool, p part) {
		if enabled {
			out = append(out, p)
		}
	}
	none := func() []error { return nil }

	// Files in S3-compatible storage: the store is opened before the parts
	// (they keep files in it); checked here like them, and registered so
	// that /healthz reports whether the bucket answers.
	s3c := s3Config(cfg)
	add(cfg.Files.Storage == "s3", part{name: "files", check: s3c.Validate, build: func(a *App) (any, error) {
		a.say(fmt.Sprintf("files:          %s", a.Blobs))
		return a.Blobs, nil
	}})

	// Every operator message goes through the command router: commands,
	// notes and canned listings stay with the operators.
	add(true, part{name: "commands", check: none, build: func(a *App) (any, error) {
		return commands.New(a.Engine, commands.Options{
			BotName: cfg.Slack.BotName, MaxMessageBytes: cfg.Visitor.MaxMessageBytes,
			Logger: a.Log.With("component", "commands"),
		}), nil
	}})

	sc := slackConfig(cfg)
	add(cfg.Slack.Enabled(), part{name: "slack", check: sc.Validate, build: func(a *App) (any, error) {
		sc := sc
		sc.Blobs = a.Blobs
		sl, err := slack.New(sc, a.Engine, a.Log.With("component", "slack"))
		if err != nil {
			return nil, err
		}
		if cfg.Slack.Mode == slack.ModeHTTP {
			a.handle("POST "+slack.EventsPath, sl.Handler())
		}
		a.say(fmt.Sprintf("slack:          channel %s (%s mode)", cfg.Slack.Channel, cfg.Slack.Mode))
		return sl, nil
	}})

	mc := matrixConfig(cfg)
	add(cfg.Matrix.Enabled(), part{name: "matrix", check: mc.Validate, build: func(a *App) (any, error) {
		mc := mc
		mc.Blobs = a.Blobs
		mx, err := matrix.New(mc, a.Engine, a.Log.With("component", "matrix"))
		if err != nil {
			return nil, err
		}
		if mc.Mode == matrix.ModeAppservice {
			a.handle(matrix.AppservicePrefix, mx.Handler())
		}
		m := cfg.Matrix
		a.say(fmt.Sprintf("matrix:         %s on %s (%s mode), inviting %s", m.UserID, m.HomeserverURL, m.Mode, strings.Join(m.Operators, ", ")))
		return mx, nil
	}})

	vc := visitorConfig(cfg)
	add(true, part{name: "visitor", check: vc.Validate, build: func(a *App) (any, error) {
		vc := vc
		vc.Blobs = a.Blobs
		vs, err := visitor.New(vc, a.Engine, a.Log.With("component", "visitor"))
		if err != nil {
			return nil, err
		}
		a.handle("/api/v1/", vs.Handler())
		a.say("visitor API:    {base}/api/v1/")
		return vs, nil
	}})

	// Offline replies by e-mail, for visitors who left an address and are
	// away (no live widget connection) when an operator answers.
	ec := emailConfig(cfg, nil)
	add(cfg.Email.Enabled(), part{name: "email", check: ec.Validate, build: func(a *App) (any, error) {
		mailer, err := email.New(emailConfig(cfg, a), a.Engine, a.Log.With("component", "email"))
		if err != nil {
			return nil, err
		}
		a.resume = mailer.VerifyResume
		a.say("offline e-mail: via " + cfg.Email.Host)
		return mailer, nil
	}})

	wc := widgetConfig(cfg, nil)
	add(true, part{name: "widget", check: wc.Validate, build: func(a *App) (any, error) {
		widget, err := visitor.NewWidget(widgetConfig(cfg, a), a.Engine, a.Log.With("component", "widget"))
		if err != nil {
			return nil, err
		}
		widget.Mount(a.Mux)
		if cfg.Server.DemoEnabled() {
			a.say("demo page:      {base}/")
		}
		a.say(`widget:         <script src="{base}/widget.js" async></script>`)
		return widget, nil
	}})

	ic := inboxConfig(cfg, base)
	add(cfg.Inbox.Enabled, part{name: "inbox", check: ic.Validate, build: func(a *App) (any, error) {
		ic := ic
		// A password nobody sees is no use: only a server started on a
		// terminal makes one (and shows it there, never in a log).
		ic.GenerateAdmin = a.opts.Interactive
		ic.Blobs = a.Blobs
		ib, err := inbox.New(ic, a.Engine, a.Log.With("component", "inbox"))
		if err != nil {
			return nil, err
		}
		a.handle("/inbox/", ib.Handler())
		a.handle("/inbox", http.RedirectHandler("/inbox/", http.StatusFound))
		a.say("operator inbox: {base}/inbox/")
		switch pw := ib.GeneratedPassword(); {
		case pw != "":
			a.secret("  no operator is configured, so this run has a temporary one: log in as admin",
				"  with the password "+pw+" (shown once, here only; it works until this server stops).",
				"  Add your own with `chatbridge inbox add-operator <login>`.")
		case len(ic.Operators) == 0:
			a.say("  no operator is configured: nobody can log in. Add one with",
				"  `chatbridge inbox add-operator <login>` (it asks for a password) and restart.")
		}
		return ib, nil
	}})

	whc := webhookConfig(cfg)
	add(cfg.Sinks.Webhook.Enabled(), part{name: "webhook", check: whc.Validate, build: func(a *App) (any, error) {
		sink, err := webhook.New(whc, a.Log.With("component", "webhook"))
		if err != nil {
			return nil, err
		}
		a.say("webhook sink:   " + hostOf(cfg.Sinks.Webhook.URL)) // URLs often carry credentials
		return sink, nil
	}})

	oc := odooConfig(cfg)
	add(cfg.Sinks.Odoo.Enabled(), part{name: "odoo", check: oc.Validate, build: func(a *App) (any, error) {
		sink, err := odoo.New(oc, a.Log.With("component", "odoo"))
		if err != nil {
			return nil, err
		}
		a.say("odoo sink:      " + hostOf(cfg.Sinks.Odoo.URL))
		return sink, nil
	}})
	return out
}

// s3Config maps [files.s3] to the S3 blob store's configuration.
func s3Config(cfg config.Config) blobs3.Config {
	s := cfg.Files.S3
	var pathStyle *bool
	if s.PathStyle != config.ToggleAuto {
		on := s.PathStyle == config.ToggleOn
		pathStyle = &on
	}
	return blobs3.Config{
		Endpoint: s.Endpoint, Region: s.Region, Bucket: s.Bucket, Prefix: s.Prefix,
		AccessKeyID: s.AccessKeyID.Reveal(), SecretAccessKey: s.SecretAccessKey.Reveal(),
		PathStyle: pathStyle, CAFile: s.CAFile,
	}
}

// slackConfig maps [slack] to the adapter's configuration.
func slackConfig(cfg config.Config) slack.Config {
	s := cfg.Slack
	return slack.Config{
		BotToken: s.BotToken.Reveal(), AppToken: s.AppToken.Reveal(), SigningSecret: s.SigningSecret.Reveal(),
		Channel: s.Channel, Mode: s.Mode, APIURL: s.APIURL, PublicURL: cfg.Server.PublicURL, BotName: s.BotName,
		MaxFileBytes: int64(cfg.Files.MaxBytes), Language: s.Language,
	}
}

// SlackConfig is the Slack adapter's configuration for cfg (the manifest
// command prints it).
func SlackConfig(cfg config.Config) slack.Config { return slackConfig(cfg) }

// matrixConfig maps [matrix] to the adapter's configuration.
func matrixConfig(cfg config.Config) matrix.Config {
	m := cfg.Matrix
	forward := m.ForwardTyping
	return matrix.Config{
		Mode: m.Mode, HomeserverURL: m.HomeserverURL, UserID: m.UserID, AccessToken: m.AccessToken.Reveal(),
		ASToken: m.ASToken.Reveal(), HSToken: m.HSToken.Reveal(), SenderLocalpart: m.SenderLocalpart,
		GhostPrefix: m.GhostPrefix, AppserviceURL: firstNonEmpty(m.AppserviceURL, cfg.Server.BaseURL()), AppserviceID: m.AppserviceID,
		Operators: m.Operators, ServerName: m.ServerName, RoomName: m.RoomName, ForwardTyping: &forward,
		OperatorPowerLevel: m.OperatorPowerLevel, MaxFileBytes: int64(cfg.Files.MaxBytes), Language: m.Language,
	}
}

// MatrixConfig is the Matrix adapter's configuration for cfg (the
// registration command prints it).
func MatrixConfig(cfg config.Config) matrix.Config { return matrixConfig(cfg) }

func visitorConfig(cfg config.Config) visitor.Config {
	v := cfg.Visitor
	return visitor.Config{
		PublicURL:                cfg.Server.PublicURL,
		AllowedOrigins:           v.AllowedOrigins,
		MaxMessageBytes:          v.MaxMessageBytes,
		MessagesPerMinute:        v.MessagesPerMinute,
		SessionsPerIPPerHour:     v.SessionsPerIPPerHour,
		ConversationsPerIPPerDay: v.ConversationsPerIPPerDay,
		PageviewsPerMinute:       v.PageviewsPerMinute,
		LongPollMax:              v.LongPollMax.Duration(),
		WSMaxFrameBytes:          int64(v.WSMaxFrameBytes),
		VisitorUpdatesPerMinute:  v.VisitorUpdatesPerMinute,
		MaxConnsPerVisitor:       v.MaxConnsPerVisitor,
		MaxConnsPerIP:            v.MaxConnsPerIP,
		IdentitySecret:           v.IdentitySecret.Reveal(),
		IdentityMaxLifetime:      v.IdentityMaxLifetime.Duration(),
		TrustProxyHeaders:        v.TrustProxyHeaders,

		MaxFileBytes:                   int64(cfg.Files.MaxBytes),
		FilesPerConversationPerDay:     cfg.Files.PerConversationPerDay,
		FileBytesPerConversationPerDay: int64(cfg.Files.BytesPerConversationPerDay),
		KeepMetadata:                   !cfg.Files.StripMetadata,
	}
}

// emailConfig maps [email]; a is nil when only checking (presence is then
// a stand-in that is never called).
func emailConfig(cfg config.Config, a *App) email.Config {
	e := cfg.Email
	away := e.AwayAfter.Duration()
	presence := func(string) bool { return true }
	if a != nil {
		eng := a.Engine
		// In a cluster the visitor may be connected to another node: the
		// engine asks them all.
		presence = func(visitorID string) bool {
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			defer cancel()
			return eng.Away(ctx, visitorID, away)
		}
	}
	return email.Config{
		Host: e.Host, Port: e.Port, Username: e.Username, Password: e.Password.Reveal(),
		From: e.From, TLS: e.TLSMode(), PublicURL: cfg.Server.BaseURL(), AwayAfter: away,
		ResumeTTL: e.ResumeTTL.Duration(), Away: presence,
	}
}

// widgetConfig maps [widget]; a is nil when only checking.
func widgetConfig(cfg config.Config, a *App) visitor.WidgetConfig {
	w := cfg.Widget
	wc := visitor.WidgetConfig{
		PublicURL: cfg.Server.PublicURL, AllowedOrigins: cfg.Visitor.AllowedOrigins,
		TrustProxyHeaders: cfg.Visitor.TrustProxyHeaders,
		Title:             w.Title, Greeting: w.Greeting, Color: w.Color, Position: w.Position,
		PrechatName: w.PrechatName, PrechatEmail: w.PrechatEmail, OfflineAfter: w.OfflineAfter.Duration(),
		Sound: w.Sound, Language: w.Language, DemoPage: cfg.Server.DemoEnabled(),
		MaxFileBytes: int64(cfg.Files.MaxBytes),
	}
	if a != nil {
		wc.Resume = a.resume
	}
	return wc
}

func inboxConfig(cfg config.Config, base string) inbox.Config {
	ops := make([]inbox.OperatorAccount, len(cfg.Inbox.Operators))
	for i, o := range cfg.Inbox.Operators {
		ops[i] = inbox.OperatorAccount{Login: o.Login, Name: o.DisplayName(), PasswordHash: o.PasswordHash}
	}
	return inbox.Config{
		Operators: ops, PublicURL: base, TrustProxyHeaders: cfg.Visitor.TrustProxyHeaders,
		Language: cfg.Inbox.Language, MaxFileBytes: int64(cfg.Files.MaxBytes),
	}
}

func webhookConfig(cfg config.Config) webhook.Config {
	w := cfg.Sinks.Webhook
	return webhook.Config{URL: w.URL, Secret: w.Secret.Reveal(), Events: w.Events, Timeout: w.Timeout.Duration()}
}

func odooConfig(cfg config.Config) odoo.Config {
	o := cfg.Sinks.Odoo
	return odoo.Config{
		URL: o.URL, Database: o.Database, Login: o.Login, APIKey: o.APIKey.Reveal(),
		Tickets: o.Tickets, Leads: o.Leads, HelpdeskTeamID: o.HelpdeskTeamID, Timeout: o.Timeout.Duration(),
	}
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

// hostOf shows only the scheme and host of a URL.
func hostOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(invalid URL)"
	}
	return u.Scheme + "://" + u.Host + "/…"
}
