package odoo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/chatbridge/chatbridge/bridge"
)

// Odoo models the sink creates records of.
const (
	ModelTicket = "helpdesk.ticket"
	ModelLead   = "crm.lead"
)

// Config configures a Sink.
type Config struct {
	// Name is the outbox destination name (default "odoo").
	Name string
	// URL is the Odoo base address ("https://mycompany.odoo.com").
	URL string
	// Database, Login and APIKey are the credentials of the Odoo user that
	// creates the records (the API key stands in for the password).
	Database, Login, APIKey string
	// Tickets creates a helpdesk.ticket per ticket; Leads a crm.lead per
	// lead. At least one must be set.
	Tickets, Leads bool
	// HelpdeskTeamID sets the team_id of new tickets; 0 leaves Odoo's
	// default team.
	HelpdeskTeamID int
	// Timeout bounds one JSON-RPC call (default 15 s).
	Timeout time.Duration
	// HealthTTL is how long a Health result is reused (default 1 min).
	HealthTTL time.Duration
	// Client sends the requests (default: one that does not follow
	// redirects, which would turn the POST into a GET).
	Client *http.Client
	// Now is the clock (tests); default time.Now.
	Now func() time.Time
}

// Sink creates Odoo records for tickets and leads. It implements
// bridge.Deliverer and bridge.HealthChecker; its methods are safe for
// concurrent use.
type Sink struct {
	cfg      Config
	base     string // URL without trailing slash
	endpoint string // base + "/jsonrpc"
	client   *http.Client
	log      *slog.Logger
	nextID   atomic.Int64

	mu       sync.Mutex
	uid      int64 // 0: not logged in
	healthAt time.Time
	health   error
}

var (
	_ bridge.Deliverer     = (*Sink)(nil)
	_ bridge.HealthChecker = (*Sink)(nil)
)

// Validate reports every problem of c at once, each naming its bridge.toml
// key ("sinks.odoo.url: …").
func (c Config) Validate() []error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("sinks.odoo.%s: %w: %s", key, bridge.ErrInvalid, fmt.Sprintf(format, args...)))
	}
	if u, err := url.Parse(c.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		bad("url", "%q is not an absolute http(s) URL", c.URL)
	}
	for _, f := range []struct{ name, v string }{{"database", c.Database}, {"login", c.Login}, {"api_key", c.APIKey}} {
		if f.v == "" {
			bad(f.name, "is required")
		}
	}
	if !c.Tickets && !c.Leads {
		bad("tickets", "neither tickets nor leads are enabled")
	}
	if c.HelpdeskTeamID < 0 {
		bad("helpdesk_team_id", "must not be negative")
	}
	return errs
}

// New checks cfg (Validate) and returns a Sink. It does not contact Odoo:
// the first delivery (or Health) logs in.
func New(cfg Config, log *slog.Logger) (*Sink, error) {
	if cfg.Name == "" {
		cfg.Name = "odoo"
	}
	if errs := cfg.Validate(); len(errs) > 0 {
		return nil, fmt.Errorf("new odoo sink: %w", errors.Join(errs...))
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 15 * time.Second
	}
	if cfg.HealthTTL <= 0 {
		cfg.HealthTTL = time.Minute
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	client := cfg.Client
	if client == nil {
		client = &http.Client{
			Timeout:       cfg.Timeout,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	base := strings.TrimRight(cfg.URL, "/")
	return &Sink{
		cfg: cfg, base: base, endpoint: base + "/jsonrpc", client: client,
		log: log.With("sink", cfg.Name),
	}, nil
}

// Name is the outbox destination name.
func (s *Sink) Name() string { return s.cfg.Name }

// Wants reports tickets when Tickets is set and leads when Leads is set.
func (s *Sink) Wants(k bridge.OutboxKind) bool {
	return (k == bridge.KindTicket && s.cfg.Tickets) || (k == bridge.KindLead && s.cfg.Leads)
}

// Deliver creates the Odoo record of a ticket or lead and returns the link
// to its form. Called by the engine's delivery worker. Every error is
// retried (tickets must not be lost), except an entry without its record.
func (s *Sink) Deliver(ctx context.Context, d bridge.Delivery) (bridge.Receipt, error) {
	var (
		model, ref string
		values     map[string]any
	)
	switch {
	case d.Entry.Kind == bridge.KindTicket && d.Ticket != nil:
		model, ref = ModelTicket, reference("ticket", d.Ticket.Number, d.Ticket.ConversationID, d.Ticket.CreatedAt)
		values = s.ticketValues(*d.Ticket, ref)
	case d.Entry.Kind == bridge.KindLead && d.Lead != nil:
		model, ref = ModelLead, reference("lead", d.Lead.Number, d.Lead.ConversationID, d.Lead.CreatedAt)
		values = leadValues(*d.Lead, ref)
	default:
		return bridge.Receipt{}, fmt.Errorf("odoo: %w: cannot deliver a %s entry without its record", bridge.ErrPermanent, d.Entry.Kind)
	}
	id, err := s.create(ctx, model, values, ref, d.Entry.Attempts > 0)
	if err != nil {
		return bridge.Receipt{}, err // already says model, method and why
	}
	link := s.RecordURL(model, id)
	s.log.Debug("odoo record created", "model", model, "id", id, "entry", d.Entry.ID)
	return bridge.Receipt{Link: link}, nil
}

// create makes the record, or finds the one an earlier attempt made when
// retrying (the earlier answer may have been lost after Odoo committed).
func (s *Sink) create(ctx context.Context, model string, values map[string]any, ref string, retry bool) (int64, error) {
	if retry {
		res, err := s.executeKW(ctx, model, "search", []any{[]any{[]any{"description", "ilike", ref}}}, map[string]any{"limit": 1})
		if err != nil {
			return 0, err
		}
		var ids []int64
		if err := json.Unmarshal(res, &ids); err != nil {
			return 0, fmt.Errorf("%s search: unexpected answer %.100s", model, res)
		}
		if len(ids) > 0 {
			s.log.Info("odoo record from an earlier attempt found", "model", model, "id", ids[0])
			return ids[0], nil
		}
	}
	res, err := s.executeKW(ctx, model, "create", []any{values}, nil)
	if err != nil {
		return 0, err
	}
	// create answers the new id (or a list of one id for a list of values).
	var id int64
	if err := json.Unmarshal(res, &id); err != nil {
		var ids []int64
		if json.Unmarshal(res, &ids) != nil || len(ids) != 1 {
			return 0, fmt.Errorf("%s create: unexpected answer %.100s", model, res)
		}
		id = ids[0]
	}
	if id <= 0 {
		return 0, fmt.Errorf("%s create: unexpected id %d", model, id)
	}
	return id, nil
}

// RecordURL is the address of a record's form in the Odoo web client (the
// classic /web# form, which Odoo 16 to 19 all open).
func (s *Sink) RecordURL(model string, id int64) string {
	return s.base + "/web#id=" + strconv.FormatInt(id, 10) + "&model=" + url.QueryEscape(model) + "&view_type=form"
}

// Health logs in to Odoo (at most once per HealthTTL) and reports whether
// the credentials are accepted.
func (s *Sink) Health(ctx context.Context) error {
	now := s.cfg.Now()
	s.mu.Lock()
	if !s.healthAt.IsZero() && now.Sub(s.healthAt) < s.cfg.HealthTTL {
		err := s.health
		s.mu.Unlock()
		return err
	}
	s.mu.Unlock()
	_, err := s.authenticate(ctx)
	s.mu.Lock()
	s.healthAt, s.health = now, err
	s.mu.Unlock()
	return err
}
