package bridge

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// ErrUnauthorized: the token is unknown.
var ErrUnauthorized = errors.New("unknown or invalid token")

// SessionInput describes a visitor starting a session.
type SessionInput struct {
	Name, Email, Locale, UserAgent, IP, Country string
	// ExternalID is set when the site vouched for the visitor with a valid
	// signed identity: the same visitor is resumed on any device.
	ExternalID string
}

// StartSession creates a visitor (or resumes the one with in.ExternalID) and
// returns a new bearer token for it. Only the token's hash is stored.
func (e *Engine) StartSession(ctx context.Context, in SessionInput) (string, Visitor, error) {
	token, hash := NewToken()
	now := e.cfg.Now()
	newID := NewID("v_")
	var v Visitor
	err := e.update(ctx, func(t *txn) error {
		tx := t.tx
		v = Visitor{}
		if in.ExternalID != "" {
			id, err := tx.VisitorByExternalID(in.ExternalID)
			switch {
			case err == nil:
				if v, err = tx.Visitor(id); err != nil {
					return err
				}
			case !errors.Is(err, ErrNotFound):
				return err
			}
		}
		if v.ID == "" {
			v = Visitor{ID: newID, CreatedAt: now, ExternalID: in.ExternalID}
			if in.ExternalID != "" {
				if err := tx.PutExternalID(in.ExternalID, v.ID); err != nil {
					return err
				}
			}
		}
		if in.Name != "" {
			v.Name = in.Name
		}
		if in.Email != "" {
			v.Email = in.Email
		}
		for _, kv := range [][2]*string{{&v.Locale, &in.Locale}, {&v.UserAgent, &in.UserAgent}, {&v.IP, &in.IP}, {&v.Country, &in.Country}} {
			if *kv[1] != "" {
				*kv[0] = *kv[1]
			}
		}
		v.LastSeenAt = now
		if err := tx.PutVisitor(v); err != nil {
			return err
		}
		return tx.PutToken(hash, v.ID)
	})
	if err != nil {
		return "", Visitor{}, fmt.Errorf("start session: %w", err)
	}
	return token, v, nil
}

// Authenticate resolves a bearer token to its visitor, or ErrUnauthorized.
func (e *Engine) Authenticate(ctx context.Context, token string) (Visitor, error) {
	if token == "" || len(token) > 256 {
		return Visitor{}, ErrUnauthorized
	}
	var v Visitor
	err := e.view(ctx, func(tx Tx) error {
		id, err := tx.VisitorByToken(HashToken(token))
		if err != nil {
			return err
		}
		v, err = tx.Visitor(id)
		return err
	})
	if errors.Is(err, ErrNotFound) {
		return Visitor{}, ErrUnauthorized
	}
	if err == nil && e.cfg.VisitorIdleTTL > 0 && e.cfg.Now().Sub(v.LastSeenAt) > e.cfg.VisitorIdleTTL {
		return Visitor{}, ErrUnauthorized // idle too long: the widget starts afresh
	}
	return v, err
}

// lastSeenGranularity is how stale Visitor.LastSeenAt may get before a
// visitor message refreshes it (so that most messages write no visitor).
const lastSeenGranularity = time.Hour

// UpdateVisitor changes a visitor's name and e-mail (empty keeps the old).
func (e *Engine) UpdateVisitor(ctx context.Context, visitorID, name, email string) (Visitor, error) {
	var v Visitor
	err := e.update(ctx, func(t *txn) error {
		var err error
		if v, err = t.tx.Visitor(visitorID); err != nil {
			return err
		}
		if name != "" {
			v.Name = name
		}
		if email != "" {
			v.Email = email
		}
		t.publish(Event{Kind: EventUpdated, VisitorID: visitorID})
		return t.tx.PutVisitor(v)
	})
	if err != nil {
		return Visitor{}, fmt.Errorf("update visitor: %w", err)
	}
	return v, nil
}

// RecordPageView stores a page view and makes it the visitor's current page.
func (e *Engine) RecordPageView(ctx context.Context, visitorID string, pv PageView) error {
	pv.VisitorID = visitorID
	if pv.At.IsZero() {
		pv.At = e.cfg.Now()
	}
	err := e.update(ctx, func(t *txn) error {
		v, err := t.tx.Visitor(visitorID)
		if err != nil {
			return err
		}
		v.CurrentURL, v.Referrer, v.LastSeenAt = pv.URL, pv.Referrer, pv.At
		if err := t.tx.PutVisitor(v); err != nil {
			return err
		}
		t.publish(Event{Kind: EventUpdated, VisitorID: visitorID})
		return t.tx.AddPageView(pv)
	})
	if err != nil {
		return fmt.Errorf("record page view: %w", err)
	}
	return nil
}

// openConversation returns the visitor's open conversation for writing,
// starting one (and its announcements) when none is open.
func (t *txn) openConversation(v Visitor, newID string) (*Conversation, error) {
	convs, err := t.tx.Conversations(ConversationFilter{VisitorID: v.ID, Status: StatusOpen, Limit: 1})
	if err != nil {
		return nil, err
	}
	if len(convs) > 0 {
		c := convs[0]
		t.track(&c)
		return &c, nil
	}
	c := &Conversation{ID: newID, VisitorID: v.ID, Status: StatusOpen, CreatedAt: t.now, UpdatedAt: t.now}
	t.track(c)
	if err := t.enqueueKind(KindOpened, OutboxEntry{ConversationID: c.ID}); err != nil {
		return nil, err
	}
	t.publish(Event{Kind: EventOpened, VisitorID: v.ID, ConversationID: c.ID})
	return c, nil
}

// VisitorMessage stores a visitor's message durably together with its outbox
// entries and returns it. It is idempotent on clientID: a repeated call
// returns the first message and stores nothing. A conversation is started
// when none is open.
func (e *Engine) VisitorMessage(ctx context.Context, visitorID, clientID, text string) (Message, error) {
	return e.VisitorSend(ctx, visitorID, VisitorInput{ClientID: clientID, Text: text})
}

// VisitorInput is what a visitor sends: a text, or a file (already in the
// blob store) with an optional caption.
type VisitorInput struct {
	// ClientID is the idempotency key (1 to 128 characters).
	ClientID string
	Text     string
	File     *Attachment
}

// VisitorSend is VisitorMessage for a message that may carry a file.
func (e *Engine) VisitorSend(ctx context.Context, visitorID string, in VisitorInput) (Message, error) {
	clientID, text := in.ClientID, in.Text
	var err error
	if in.File == nil || strings.TrimSpace(text) != "" {
		if text, err = CheckText(text, e.cfg.MaxMessageBytes); err != nil {
			return Message{}, err
		}
	}
	if in.File != nil {
		if err := CheckAttachment(*in.File); err != nil {
			return Message{}, err
		}
		text = strings.TrimSpace(text)
	}
	if clientID == "" || len(clientID) > 128 {
		return Message{}, fmt.Errorf("%w: client_id must be 1 to 128 characters", ErrInvalid)
	}
	newConvID := NewID("c_")
	var msg Message
	err = e.update(ctx, func(t *txn) error {
		tx := t.tx
		if convID, seq, err := tx.ClientID(visitorID, clientID); err == nil {
			msg, err = tx.Message(convID, seq)
			return err // a retry: the first answer, nothing written
		} else if !errors.Is(err, ErrNotFound) {
			return err
		}
		v, err := tx.Visitor(visitorID)
		if err != nil {
			return err
		}
		c, err := t.openConversation(v, newConvID)
		if err != nil {
			return err
		}
		if t.now.Sub(v.LastSeenAt) > lastSeenGranularity {
			v.LastSeenAt = t.now
			if err := tx.PutVisitor(v); err != nil {
				return err
			}
		}
		msg, err = t.append(c, Message{
			ClientID: clientID, From: FromVisitor, Visibility: VisibilityPublic,
			Author: v.DisplayName(), Text: text, File: in.File,
		}, KindMessage)
		if err != nil {
			return err
		}
		return tx.PutClientID(visitorID, clientID, c.ID, msg.Seq)
	})
	if err != nil {
		return Message{}, fmt.Errorf("visitor message: %w", err)
	}
	return msg, nil
}

// VisitorView is what the visitor may see of their current conversation.
type VisitorView struct {
	Conversation Conversation
	// Messages are public messages with Seq > after.
	Messages []Message
}

// VisitorMessages returns the public messages after public sequence number
// `after` (Message.PublicSeq) of the visitor's current conversation. When conversationID names
// an older conversation of the visitor, the messages of the current one are
// returned from the start, so a client that missed a new conversation catches
// up. A visitor without conversations gets an empty view.
func (e *Engine) VisitorMessages(ctx context.Context, visitorID, conversationID string, after uint64, limit int) (VisitorView, error) {
	return e.VisitorUpdates(ctx, visitorID, VisitorQuery{ConversationID: conversationID, After: after, Limit: limit})
}

// VisitorQuery says what a visitor's client has seen of a conversation.
type VisitorQuery struct {
	ConversationID string
	// After is the highest public sequence number seen.
	After uint64
	// Revision is the conversation's LastRevision when the client last
	// read it (0: unknown): messages changed since (edited, deleted) are
	// returned again.
	Revision uint64
	// Limit caps the new messages (0: no limit).
	Limit int
}

// VisitorUpdates is VisitorMessages for a client that also follows
// changes: besides the new messages, it returns the older ones edited or
// deleted after q.Revision, in Seq order. Deleted messages come without
// their text and file.
func (e *Engine) VisitorUpdates(ctx context.Context, visitorID string, q VisitorQuery) (VisitorView, error) {
	conversationID, after, limit := q.ConversationID, q.After, q.Limit
	var view VisitorView
	err := e.view(ctx, func(tx Tx) error {
		view = VisitorView{}
		cur, ok, err := currentConversation(tx, visitorID)
		if err != nil || !ok {
			return err
		}
		view.Conversation = cur
		rev := q.Revision
		if (conversationID != "" && conversationID != view.Conversation.ID) || after > cur.LastPublicSeq || rev > cur.LastRevision {
			// Another conversation, or a number this one never reached (a
			// client from before a restore): start over; clients
			// de-duplicate by (conversation, seq).
			after, rev = 0, 0
		}
		// Every new public message took one revision: more revisions than
		// new messages since the client's means older ones changed.
		from := after
		changed := rev > 0 && cur.LastRevision-rev > cur.LastPublicSeq-after
		if changed {
			from = 0
		}
		msgs, err := tx.Messages(view.Conversation.ID, from, 0)
		if err != nil {
			return err
		}
		// Seq >= PublicSeq, so reading after Seq `after` finds every
		// message with PublicSeq > after (and some before it).
		fresh := 0
		for _, m := range msgs {
			if m.Visibility != VisibilityPublic {
				continue
			}
			isNew := m.PublicSeq > after
			if !isNew && !(changed && m.Revision > rev) {
				continue
			}
			if isNew && limit > 0 && fresh == limit {
				break
			}
			if m.Deleted {
				m.Text, m.File = "", nil
			}
			view.Messages = append(view.Messages, m)
			if isNew {
				fresh++
			}
		}
		return nil
	})
	if err != nil {
		return VisitorView{}, fmt.Errorf("visitor messages: %w", err)
	}
	return view, nil
}

// currentConversation is the conversation a visitor sees: the open one, or
// else the one started last. (Not the one updated last: operators' notes on
// an old conversation must not take the visitor back to it.)
func currentConversation(tx Tx, visitorID string) (Conversation, bool, error) {
	open, err := tx.Conversations(ConversationFilter{VisitorID: visitorID, Status: StatusOpen, Limit: 1})
	if err != nil || len(open) > 0 {
		return firstOf(open), len(open) > 0, err
	}
	all, err := tx.Conversations(ConversationFilter{VisitorID: visitorID})
	if err != nil || len(all) == 0 {
		return Conversation{}, false, err
	}
	cur := all[0]
	for _, c := range all[1:] {
		if c.CreatedAt.After(cur.CreatedAt) {
			cur = c
		}
	}
	return cur, true, nil
}

func firstOf(cs []Conversation) Conversation {
	if len(cs) == 0 {
		return Conversation{}
	}
	return cs[0]
}

// CloseByVisitor ends the visitor's open conversation, if any.
func (e *Engine) CloseByVisitor(ctx context.Context, visitorID string) error {
	err := e.update(ctx, func(t *txn) error {
		convs, err := t.tx.Conversations(ConversationFilter{VisitorID: visitorID, Status: StatusOpen, Limit: 1})
		if err != nil || len(convs) == 0 {
			return err
		}
		c := convs[0]
		t.track(&c)
		_, err = t.close(&c, SystemEvent{Kind: SystemClosedByVisitor})
		return err
	})
	if err != nil {
		return fmt.Errorf("close: %w", err)
	}
	return nil
}

// OpenConversation returns the visitor's open conversation; ok is false
// when none is open.
func (e *Engine) OpenConversation(ctx context.Context, visitorID string) (c Conversation, ok bool, err error) {
	err = e.view(ctx, func(tx Tx) error {
		convs, err := tx.Conversations(ConversationFilter{VisitorID: visitorID, Status: StatusOpen, Limit: 1})
		if err == nil && len(convs) > 0 {
			c, ok = convs[0], true
		}
		return err
	})
	return c, ok, err
}

// MessageCheck is what the visitor API reads before accepting a message: a
// message the same idempotency key produced (Duplicate), else the
// visitor's open conversation ("" when a new one would start).
type MessageCheck struct {
	Duplicate *Message
	OpenID    string
}

// CheckMessage reads, without writing, what VisitorMessage would find for
// (visitorID, clientID), so that the caller can answer a retry or apply
// its rate limits first.
func (e *Engine) CheckMessage(ctx context.Context, visitorID, clientID string) (MessageCheck, error) {
	var mc MessageCheck
	err := e.view(ctx, func(tx Tx) error {
		mc = MessageCheck{}
		if convID, seq, err := tx.ClientID(visitorID, clientID); err == nil {
			m, err := tx.Message(convID, seq)
			mc.Duplicate = &m
			return err
		} else if !errors.Is(err, ErrNotFound) {
			return err
		}
		convs, err := tx.Conversations(ConversationFilter{VisitorID: visitorID, Status: StatusOpen, Limit: 1})
		if err == nil && len(convs) > 0 {
			mc.OpenID = convs[0].ID
		}
		return err
	})
	if err != nil {
		return MessageCheck{}, fmt.Errorf("check message: %w", err)
	}
	return mc, nil
}

// IssueToken adds a new bearer token to an existing visitor and returns it.
// It is used when the visitor proved who they are some other way (a signed
// resume link from an offline e-mail); the visitor's other tokens stay valid.
// It returns an error wrapping ErrNotFound for an unknown visitor.
func (e *Engine) IssueToken(ctx context.Context, visitorID string) (string, error) {
	token, hash := NewToken()
	err := e.update(ctx, func(t *txn) error {
		if _, err := t.tx.Visitor(visitorID); err != nil {
			return err
		}
		return t.tx.PutToken(hash, visitorID)
	})
	if err != nil {
		return "", fmt.Errorf("issue token: %w", err)
	}
	return token, nil
}

// VisitorTyping tells the operators that the visitor is typing in their
// open conversation (nothing when none is open). It is a live event only.
func (e *Engine) VisitorTyping(ctx context.Context, visitorID, author string) error {
	c, ok, err := e.OpenConversation(ctx, visitorID)
	if err != nil || !ok {
		return err
	}
	e.publishTyping(ctx, Event{Kind: EventTyping, VisitorID: visitorID, ConversationID: c.ID, From: FromVisitor, Author: author})
	return nil
}
