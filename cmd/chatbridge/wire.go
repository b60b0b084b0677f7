package main

import (
	"context"
	"net/http"
	"net/url"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/chatbridge/chatbridge/adapters/email"
	"github.com/chatbridge/chatbridge/adapters/inbox"
	"github.com/chatbridge/chatbridge/adapters/odoo"
	"github.com/chatbridge/chatbridge/adapters/webhook"
	"github.com/chatbridge/chatbridge/commands"
	"github.com/chatbridge/chatbridge/visitor"
)

// wire builds the adapters, sinks and HTTP surfaces from the configuration
// and registers them with the engine and the mux.
func (a *app) wire() error {
	cfg := a.cfg
	base := cfg.Server.BaseURL()

	// Every operator message goes through the command router: commands,
	// notes and canned listings stay with the operators.
	a.engine.SetInterceptor(commands.New(a.engine, commands.Options{
		BotName:         cfg.Slack.BotName,
		MaxMessageBytes: cfg.Visitor.MaxMessageBytes,
		Logger:          a.log.With("component", "commands"),
	}))
	if err := a.wirePlatforms(); err != nil {
		return err
	}

	vs, err := visitor.New(visitor.Config{
		PublicURL:                cfg.Server.PublicURL,
		AllowedOrigins:           cfg.Visitor.AllowedOrigins,
		MaxMessageBytes:          cfg.Visitor.MaxMessageBytes,
		MessagesPerMinute:        cfg.Visitor.MessagesPerMinute,
		SessionsPerIPPerHour:     cfg.Visitor.SessionsPerIPPerHour,
		ConversationsPerIPPerDay: cfg.Visitor.ConversationsPerIPPerDay,
		PageviewsPerMinute:       cfg.Visitor.PageviewsPerMinute,
		LongPollMax:              cfg.Visitor.LongPollMax.Duration(),
		WSMaxFrameBytes:          int64(cfg.Visitor.WSMaxFrameBytes),
		VisitorUpdatesPerMinute:  cfg.Visitor.VisitorUpdatesPerMinute,
		MaxConnsPerVisitor:       cfg.Visitor.MaxConnsPerVisitor,
		MaxConnsPerIP:            cfg.Visitor.MaxConnsPerIP,
		IdentitySecret:           cfg.Visitor.IdentitySecret.Reveal(),
		TrustProxyHeaders:        cfg.Visitor.TrustProxyHeaders,
	}, a.engine, a.log.With("component", "visitor"))
	if err != nil {
		return err
	}
	a.mux.Handle("/api/v1/", vs.Handler())
	a.runners = append(a.runners, vs.Run)
	a.onShutdown = append(a.onShutdown, vs.Close)

	// Offline replies by e-mail, for visitors who left an address and are
	// away (no live widget connection) when an operator answers.
	var resume func(context.Context, string) (string, error)
	if e := cfg.Email; e.Enabled() {
		away := e.AwayAfter.Duration()
		hub := a.engine.Hub()
		mailer, err := email.New(email.Config{
			Host: e.Host, Port: e.Port, Username: e.Username, Password: e.Password.Reveal(),
			From: e.From, StartTLS: e.StartTLS, PublicURL: base, AwayAfter: away,
			Away: func(visitorID string) bool { return hub.Away(visitorID, away) },
		}, a.engine.Store(), a.log.With("component", "email"))
		if err != nil {
			return err
		}
		a.engine.AddDeliverer(mailer)
		a.runners = append(a.runners, mailer.Run)
		resume = mailer.VerifyResume
		a.banner = append(a.banner, "offline e-mail: via "+e.Host)
	}
	w := cfg.Widget
	widget, err := visitor.NewWidget(visitor.WidgetConfig{
		PublicURL: cfg.Server.PublicURL, AllowedOrigins: cfg.Visitor.AllowedOrigins,
		TrustProxyHeaders: cfg.Visitor.TrustProxyHeaders,
		Title:             w.Title, Greeting: w.Greeting, Color: w.Color, Position: w.Position,
		PrechatName: w.PrechatName, PrechatEmail: w.PrechatEmail, OfflineAfter: w.OfflineAfter.Duration(),
		Sound: w.Sound, Language: w.Language, DemoPage: cfg.Server.DemoPage, Resume: resume,
	}, a.engine, a.log.With("component", "widget"))
	if err != nil {
		return err
	}
	widget.Mount(a.mux)
	a.banner = append(a.banner, `widget:         <script src="{base}/widget.js" async></script>`)

	if cfg.Inbox.Enabled {
		ops := make([]inbox.OperatorAccount, len(cfg.Inbox.Operators))
		for i, o := range cfg.Inbox.Operators {
			ops[i] = inbox.OperatorAccount{Login: o.Login, Name: o.DisplayName(), PasswordHash: o.PasswordHash}
		}
		ib, err := inbox.New(inbox.Config{Operators: ops, PublicURL: base, TrustProxyHeaders: cfg.Visitor.TrustProxyHeaders}, a.engine, a.log.With("component", "inbox"))
		if err != nil {
			return err
		}
		a.health = append(a.health, ib)
		a.runners = append(a.runners, ib.Run)
		a.onShutdown = append(a.onShutdown, ib.Close)
		a.mux.Handle("/inbox/", ib.Handler())
		a.mux.Handle("/inbox", http.RedirectHandler("/inbox/", http.StatusFound))
		a.banner = append(a.banner, "operator inbox: {base}/inbox/")
		if pw := ib.GeneratedPassword(); pw != "" {
			a.banner = append(a.banner, "  log in as admin with the one-time password: "+pw,
				"  (add [[inbox.operators]] to bridge.toml to set your own; see bridge.example.toml)")
		}
	}
	if w := cfg.Sinks.Webhook; w.Enabled() {
		sink, err := webhook.New(webhook.Config{
			URL: w.URL, Secret: w.Secret.Reveal(), Events: w.Events, Timeout: w.Timeout.Duration(),
		}, a.log.With("component", "webhook"))
		if err != nil {
			return err
		}
		a.engine.AddDeliverer(sink)
		a.health = append(a.health, sink)
		a.banner = append(a.banner, "webhook sink:   "+hostOf(w.URL)) // URLs often carry credentials
	}
	if o := cfg.Sinks.Odoo; o.Enabled() {
		sink, err := odoo.New(odoo.Config{
			URL: o.URL, Database: o.Database, Login: o.Login, APIKey: o.APIKey.Reveal(),
			Tickets: o.Tickets, Leads: o.Leads, HelpdeskTeamID: o.HelpdeskTeamID, Timeout: o.Timeout.Duration(),
		}, a.log.With("component", "odoo"))
		if err != nil {
			return err
		}
		a.engine.AddDeliverer(sink)
		a.health = append(a.health, sink)
		a.banner = append(a.banner, "odoo sink:      "+hostOf(o.URL))
	}
	return nil
}

func (a *app) metricsHandler() http.Handler {
	return promhttp.HandlerFor(a.metrics.reg, promhttp.HandlerOpts{})
}

// hostOf shows only the scheme and host of a URL.
func hostOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(invalid URL)"
	}
	return u.Scheme + "://" + u.Host + "/…"
}
