package bridge

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// CreateTicket stores t with the next number and sends it to the sinks.
func (e *Engine) CreateTicket(ctx context.Context, t Ticket) (Ticket, error) {
	var out Ticket
	err := e.update(ctx, func(x *txn) error {
		var err error
		out, err = x.createTicket(t)
		return err
	})
	if err != nil {
		return Ticket{}, fmt.Errorf("create ticket: %w", err)
	}
	return out, nil
}

func (t *txn) createTicket(tk Ticket) (Ticket, error) {
	if tk.CreatedAt.IsZero() {
		tk.CreatedAt = t.now
	}
	if tk.Source == "" {
		tk.Source = "Live Chat"
	}
	out, err := t.tx.CreateTicket(tk)
	if err != nil {
		return Ticket{}, err
	}
	return out, t.enqueueKind(KindTicket, OutboxEntry{ConversationID: tk.ConversationID, Number: out.Number, CreatedAt: tk.CreatedAt})
}

// CreateLead stores l with the next number and sends it to the sinks.
func (e *Engine) CreateLead(ctx context.Context, l Lead) (Lead, error) {
	var out Lead
	err := e.update(ctx, func(x *txn) error {
		var err error
		out, err = x.createLead(l)
		return err
	})
	if err != nil {
		return Lead{}, fmt.Errorf("create lead: %w", err)
	}
	return out, nil
}

func (t *txn) createLead(l Lead) (Lead, error) {
	if l.CreatedAt.IsZero() {
		l.CreatedAt = t.now
	}
	if l.Source == "" {
		l.Source = "Live Chat"
	}
	out, err := t.tx.CreateLead(l)
	if err != nil {
		return Lead{}, err
	}
	return out, t.enqueueKind(KindLead, OutboxEntry{ConversationID: l.ConversationID, Number: out.Number, CreatedAt: l.CreatedAt})
}

// Ticket returns a ticket by number.
func (e *Engine) Ticket(ctx context.Context, number uint64) (Ticket, error) {
	var t Ticket
	err := e.view(ctx, func(tx Tx) error {
		var err error
		t, err = tx.Ticket(number)
		return err
	})
	return t, err
}

// Tickets lists up to limit tickets, newest first (limit 0: all).
func (e *Engine) Tickets(ctx context.Context, limit int) ([]Ticket, error) {
	var out []Ticket
	err := e.view(ctx, func(tx Tx) error {
		var err error
		out, err = tx.Tickets(limit)
		return err
	})
	return out, err
}

// Lead returns a lead by number.
func (e *Engine) Lead(ctx context.Context, number uint64) (Lead, error) {
	var l Lead
	err := e.view(ctx, func(tx Tx) error {
		var err error
		l, err = tx.Lead(number)
		return err
	})
	return l, err
}

// Leads lists up to limit leads, newest first (limit 0: all).
func (e *Engine) Leads(ctx context.Context, limit int) ([]Lead, error) {
	var out []Lead
	err := e.view(ctx, func(tx Tx) error {
		var err error
		out, err = tx.Leads(limit)
		return err
	})
	return out, err
}

// SearchTickets finds tickets the way operators ask (see FindTickets).
func (e *Engine) SearchTickets(ctx context.Context, q string, limit int) (TicketQuery, error) {
	var res TicketQuery
	err := e.view(ctx, func(tx Tx) error {
		var err error
		res, err = FindTickets(tx, q, limit)
		return err
	})
	return res, err
}

// CannedResponses lists every canned response, by shortcut then owner.
func (e *Engine) CannedResponses(ctx context.Context) ([]CannedResponse, error) {
	var out []CannedResponse
	err := e.view(ctx, func(tx Tx) error {
		var err error
		out, err = tx.AllCanned()
		return err
	})
	return out, err
}

// PutCanned validates c (Config.CheckCanned) and stores it, keeping the use
// count and last use of the response it replaces (same owner and
// shortcut). It reports whether one was replaced.
func (e *Engine) PutCanned(ctx context.Context, c CannedResponse) (replaced bool, err error) {
	err = e.update(ctx, func(t *txn) error {
		replaced, err = t.putCanned(c)
		return err
	})
	if err != nil {
		return false, fmt.Errorf("put canned: %w", err)
	}
	return replaced, nil
}

// ImportCanned stores every response of list as PutCanned does, in one
// commit: when any is invalid, nothing is stored and the error lists every
// problem.
func (e *Engine) ImportCanned(ctx context.Context, list []CannedResponse) (added, replaced int, err error) {
	var errs []error
	for i, c := range list {
		if err := e.checkCanned(c); err != nil {
			errs = append(errs, fmt.Errorf("entry %d (:%s): %w", i+1, c.Shortcut, err))
		}
	}
	if len(errs) > 0 {
		return 0, 0, fmt.Errorf("import canned: %w", errors.Join(errs...))
	}
	err = e.update(ctx, func(t *txn) error {
		added, replaced = 0, 0
		for _, c := range list {
			r, err := t.putCanned(c)
			if err != nil {
				return err
			}
			if r {
				replaced++
			} else {
				added++
			}
		}
		return nil
	})
	if err != nil {
		return 0, 0, fmt.Errorf("import canned: %w", err)
	}
	return added, replaced, nil
}

// DeleteCanned removes the response (owner, shortcut); ErrNotFound when
// there is none.
func (e *Engine) DeleteCanned(ctx context.Context, owner, shortcut string) error {
	err := e.update(ctx, func(t *txn) error {
		if _, err := t.tx.Canned(owner, shortcut); err != nil {
			return err
		}
		return t.tx.DeleteCanned(owner, shortcut)
	})
	if err != nil {
		return fmt.Errorf("no canned response :%s: %w", shortcut, err)
	}
	return nil
}

// checkCanned validates a response to store: Config.CheckCanned, or at
// least a shortcut and a text.
func (e *Engine) checkCanned(c CannedResponse) error {
	if e.cfg.CheckCanned != nil {
		return e.cfg.CheckCanned(c)
	}
	if strings.TrimSpace(c.Shortcut) == "" || strings.TrimSpace(c.Text) == "" {
		return fmt.Errorf("%w: a canned response needs a shortcut and a text", ErrInvalid)
	}
	return nil
}

func (t *txn) putCanned(c CannedResponse) (replaced bool, err error) {
	if err := t.e.checkCanned(c); err != nil {
		return false, err
	}
	old, err := t.tx.Canned(c.Owner, c.Shortcut)
	switch {
	case err == nil:
		replaced = true
		c.Uses = max(c.Uses, old.Uses)
		if old.LastUsed.After(c.LastUsed) {
			c.LastUsed = old.LastUsed
		}
	case !errors.Is(err, ErrNotFound):
		return false, err
	}
	return replaced, t.tx.PutCanned(c)
}

func (t *txn) useCanned(shortcuts []string, owner string) error {
	for _, s := range slices.Compact(slices.Sorted(slices.Values(shortcuts))) {
		c, err := t.resolveCanned(s, owner)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return fmt.Errorf("use canned %s: %w", s, err)
		}
		c.Uses++
		c.LastUsed = t.now
		if err := t.tx.PutCanned(c); err != nil {
			return fmt.Errorf("use canned %s: %w", s, err)
		}
	}
	return nil
}

// resolveCanned loads the response with this shortcut that owner sees:
// their personal one, else the shared one.
func (t *txn) resolveCanned(shortcut, owner string) (CannedResponse, error) {
	if owner != "" {
		c, err := t.tx.Canned(owner, shortcut)
		if !errors.Is(err, ErrNotFound) {
			return c, err
		}
	}
	return t.tx.Canned("", shortcut)
}

// recordLink stores a sink's link to a ticket or lead and tells the operator
// who created it.
func (e *Engine) recordLink(ctx context.Context, dest string, d Delivery, link string) {
	err := e.update(context.WithoutCancel(ctx), func(t *txn) error {
		var (
			op   Operator
			what string
		)
		switch {
		case d.Ticket != nil:
			tk, err := t.tx.Ticket(d.Ticket.Number)
			if err != nil {
				return err
			}
			if tk.Links == nil {
				tk.Links = map[string]string{}
			}
			tk.Links[dest] = link
			op, what = tk.Operator, fmt.Sprintf("Ticket #%d is in %s: %s", tk.Number, dest, link)
			if err := t.tx.PutTicket(tk); err != nil {
				return err
			}
		case d.Lead != nil:
			l, err := t.tx.Lead(d.Lead.Number)
			if err != nil {
				return err
			}
			if l.Links == nil {
				l.Links = map[string]string{}
			}
			l.Links[dest] = link
			op, what = l.ReferredBy, fmt.Sprintf("Lead #%d is in %s: %s", l.Number, dest, link)
			if err := t.tx.PutLead(l); err != nil {
				return err
			}
		default:
			return nil
		}
		return t.whisperAbout(d.Entry.ConversationID, op, what)
	})
	if err != nil {
		e.log.Warn("record sink link", "destination", dest, "err", err)
	}
}

// reportFailure tells the operator who created a ticket or lead that a sink
// refused it (once, at the first failure); the record stays in the store.
func (e *Engine) reportFailure(ctx context.Context, dest string, d Delivery, cause error) {
	var op Operator
	var what string
	switch {
	case d.Ticket != nil:
		op, what = d.Ticket.Operator, fmt.Sprintf("ticket #%d", d.Ticket.Number)
	case d.Lead != nil:
		op, what = d.Lead.ReferredBy, fmt.Sprintf("lead #%d", d.Lead.Number)
	default:
		return
	}
	text := fmt.Sprintf("Could not send %s to %s: %v. It is saved in chatbridge and will be retried.", what, dest, cause)
	err := e.update(context.WithoutCancel(ctx), func(t *txn) error {
		return t.whisperAbout(d.Entry.ConversationID, op, text)
	})
	if err != nil {
		e.log.Warn("whisper sink failure", "err", err)
	}
}

// whisperAbout whispers text to op in conversation convID, when there is
// one and op is known.
func (t *txn) whisperAbout(convID string, op Operator, text string) error {
	if convID == "" || op.ID == "" {
		return nil
	}
	c, err := t.conv(convID)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	return t.whisper(c, op, text, "")
}
