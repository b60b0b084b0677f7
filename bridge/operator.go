package bridge

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// HandleOperator is the one entry point for what operators type on any
// platform. It de-duplicates by in.EventID, lets the Interceptor classify the
// text, and carries out its Outcome: only Outcome.Relay ever reaches the
// visitor. Without an Interceptor every message is a reply.
//
// When handling fails before anything reached the visitor, the event id is
// forgotten again, so that the platform's (or the operator's) retry of the
// same event is handled instead of being dropped as a duplicate.
func (e *Engine) HandleOperator(ctx context.Context, in OperatorInput) error {
	if in.EventID == "" {
		_, err := e.handleOperator(ctx, in)
		return err
	}
	key := "op:" + in.Operator.Adapter + ":" + in.EventID
	var seen bool
	now := e.cfg.Now()
	err := e.store.Update(ctx, func(tx Tx) error {
		var err error
		seen, err = tx.MarkSeen(key, now, now.Add(e.cfg.DedupTTL))
		return err
	})
	if err != nil {
		return fmt.Errorf("handle operator: %w", err)
	}
	if seen {
		e.log.Debug("duplicate operator event", "adapter", in.Operator.Adapter, "event", in.EventID)
		return nil
	}
	done, err := e.handleOperator(ctx, in)
	if err != nil && !done {
		ferr := e.store.Update(context.WithoutCancel(ctx), func(tx Tx) error {
			return tx.ForgetSeen(key)
		})
		if ferr != nil {
			e.log.Error("forget failed operator event", "event", in.EventID, "err", ferr)
		}
	}
	return err
}

// handleOperator carries out one operator message and reports whether it
// had an effect that must not be repeated (something relayed to the
// visitor, or an interceptor that acted).
func (e *Engine) handleOperator(ctx context.Context, in OperatorInput) (done bool, err error) {
	conv, err := e.Conversation(ctx, in.ConversationID)
	if err != nil {
		return false, fmt.Errorf("handle operator: %w", err)
	}
	e.mu.RLock()
	ic := e.interceptor
	e.mu.RUnlock()
	out := Outcome{Relay: in.Text}
	if ic != nil {
		if out, err = ic.Intercept(ctx, in, conv); err != nil {
			e.log.Error("operator command failed", "conversation", conv.ID, "err", err)
			out = Outcome{Whisper: "That did not work: " + err.Error()}
		}
	}
	done = out.Acted
	if out.Note != "" {
		if _, err := e.AddNote(ctx, conv.ID, in.Operator, out.Note, in.EventID); err != nil {
			return done, err
		}
	}
	if out.Relay != "" {
		if _, err := e.Reply(ctx, conv.ID, in.Operator, out.Relay, in.EventID); err != nil {
			if errors.Is(err, ErrClosed) {
				return done, e.Whisper(ctx, conv.ID, in.Operator, "This conversation is closed: the visitor will not see your message.", in.EventID)
			}
			return done, err
		}
		done = true
	}
	if out.Whisper != "" {
		return done, e.Whisper(ctx, conv.ID, in.Operator, out.Whisper, in.EventID)
	}
	return done, nil
}

// Conversation loads one conversation.
func (e *Engine) Conversation(ctx context.Context, id string) (Conversation, error) {
	var c Conversation
	err := e.store.View(ctx, func(tx Tx) error {
		var err error
		c, err = tx.Conversation(id)
		return err
	})
	return c, err
}

// appendMessage stores m as the next message of its conversation, lets
// update change the conversation, and enqueues it for the destinations.
func (e *Engine) appendMessage(ctx context.Context, m Message, kind OutboxKind, update func(*Conversation) error) (Message, Conversation, error) {
	var (
		conv  Conversation
		dests []string
	)
	switch kind {
	case "":
	case KindMessage:
		dests = e.messageDestinations(m)
	default:
		dests = e.destinations(kind)
	}
	err := e.store.Update(ctx, func(tx Tx) error {
		var err error
		if conv, err = tx.Conversation(m.ConversationID); err != nil {
			return err
		}
		if update != nil {
			if err := update(&conv); err != nil {
				return err
			}
		}
		conv.LastSeq++
		m.Seq = conv.LastSeq
		if m.Visibility == VisibilityPublic {
			conv.LastPublicSeq++
			m.PublicSeq = conv.LastPublicSeq
		}
		if m.At.IsZero() {
			m.At = e.cfg.Now()
		}
		conv.UpdatedAt = m.At
		if m.Visibility == VisibilityPublic {
			conv.Preview = preview(m.Text)
		}
		if err := tx.PutMessage(m); err != nil {
			return err
		}
		if err := tx.PutConversation(conv); err != nil {
			return err
		}
		return enqueue(tx, dests, OutboxEntry{Kind: kind, ConversationID: conv.ID, Seq: m.Seq, CreatedAt: m.At})
	})
	if err != nil {
		return Message{}, Conversation{}, err
	}
	e.wake(dests)
	e.publishMessage(conv.VisitorID, m)
	return m, conv, nil
}

// Reply relays an operator's text to the visitor. The operator starts
// following the conversation.
func (e *Engine) Reply(ctx context.Context, conversationID string, op Operator, text, platformID string) (Message, error) {
	text, err := CheckText(text, e.cfg.MaxMessageBytes)
	if err != nil {
		return Message{}, fmt.Errorf("reply: %w", err)
	}
	m := Message{
		ConversationID: conversationID, From: FromOperator, Visibility: VisibilityPublic,
		Author: op.Name, Operator: &op, Text: text, PlatformID: platformID,
	}
	m, _, err = e.appendMessage(ctx, m, KindMessage, func(c *Conversation) error {
		if c.Status != StatusOpen {
			return ErrClosed
		}
		c.LastOperatorAt = e.cfg.Now()
		if !c.HasOperator(op) {
			c.Operators = append(c.Operators, op)
		}
		return nil
	})
	if err != nil {
		return Message{}, fmt.Errorf("reply: %w", err)
	}
	e.m().MessageIn(FromOperator)
	return m, nil
}

// AddNote stores a private note for the operators. Other operator platforms
// receive it through the outbox (they show it as a note, never to visitors).
func (e *Engine) AddNote(ctx context.Context, conversationID string, op Operator, text, platformID string) (Message, error) {
	text, err := CheckText(text, e.cfg.MaxMessageBytes)
	if err != nil {
		return Message{}, fmt.Errorf("note: %w", err)
	}
	m := Message{
		ConversationID: conversationID, From: FromOperator, Visibility: VisibilityNote,
		Author: op.Name, Operator: &op, Text: text, PlatformID: platformID,
	}
	m, _, err = e.appendMessage(ctx, m, KindMessage, nil)
	if err != nil {
		return Message{}, fmt.Errorf("note: %w", err)
	}
	return m, nil
}

// Whisper stores operator-only text for op and shows it on op's platform.
// It is kept in the store so that it survives the platform's own view
// (Slack ephemeral messages vanish on reload).
func (e *Engine) Whisper(ctx context.Context, conversationID string, op Operator, text, inReplyTo string) error {
	if strings.TrimSpace(text) == "" {
		return nil
	}
	m := Message{
		ConversationID: conversationID, From: FromSystem, Visibility: VisibilityWhisper,
		Author: "chatbridge", Recipient: op.Key(), Text: text,
	}
	_, conv, err := e.appendMessage(ctx, m, "", nil)
	if err != nil {
		return fmt.Errorf("whisper: %w", err)
	}
	e.mu.RLock()
	w := e.whisperers[op.Adapter]
	e.mu.RUnlock()
	if w == nil {
		return nil
	}
	if err := w.Whisper(ctx, Whisper{Conversation: conv, Operator: op, Text: text, InReplyTo: inReplyTo}); err != nil {
		e.log.Warn("whisper not shown", "adapter", op.Adapter, "conversation", conversationID, "err", err)
	}
	return nil
}

// SystemMessage adds a public line from the bridge ("The chat has ended.").
func (e *Engine) SystemMessage(ctx context.Context, conversationID, text string) (Message, error) {
	m := Message{ConversationID: conversationID, From: FromSystem, Visibility: VisibilityPublic, Author: "system", Text: text}
	m, _, err := e.appendMessage(ctx, m, KindMessage, nil)
	return m, err
}

// Close ends a conversation for both sides: the visitor sees a system line,
// the operator platforms get a KindClosed entry.
func (e *Engine) Close(ctx context.Context, conversationID string, by Operator) error {
	who := by.Name
	if who == "" {
		who = "The operator"
	}
	return e.close(ctx, conversationID, who+" ended the chat.")
}

func (e *Engine) close(ctx context.Context, conversationID, line string) error {
	now := e.cfg.Now()
	m := Message{ConversationID: conversationID, From: FromSystem, Visibility: VisibilityPublic, Author: "system", Text: line, At: now}
	closedDests := e.destinations(KindClosed)
	var conv Conversation
	err := e.store.Update(ctx, func(tx Tx) error {
		var err error
		if conv, err = tx.Conversation(conversationID); err != nil {
			return err
		}
		if conv.Status == StatusClosed {
			return ErrClosed
		}
		conv.LastSeq++
		conv.LastPublicSeq++
		m.Seq, m.PublicSeq = conv.LastSeq, conv.LastPublicSeq
		conv.Status, conv.ClosedAt, conv.UpdatedAt = StatusClosed, now, now
		if err := tx.PutMessage(m); err != nil {
			return err
		}
		if err := tx.PutConversation(conv); err != nil {
			return err
		}
		return enqueue(tx, closedDests, OutboxEntry{Kind: KindClosed, ConversationID: conv.ID, Seq: m.Seq, CreatedAt: now})
	})
	if errors.Is(err, ErrClosed) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("close: %w", err)
	}
	e.wake(closedDests)
	e.publishMessage(conv.VisitorID, m)
	e.hub.Publish(Event{Kind: EventClosed, VisitorID: conv.VisitorID, ConversationID: conv.ID, Seq: m.Seq})
	return nil
}

// Leave stops op following the conversation. When nobody follows it any
// more, it is announced again as waiting. The visitor is not told.
func (e *Engine) Leave(ctx context.Context, conversationID string, op Operator) (stillFollowed bool, err error) {
	now := e.cfg.Now()
	dests := e.destinations(KindWaiting)
	var conv Conversation
	err = e.store.Update(ctx, func(tx Tx) error {
		if conv, err = tx.Conversation(conversationID); err != nil {
			return err
		}
		kept := conv.Operators[:0:0]
		for _, o := range conv.Operators {
			if o.Key() != op.Key() {
				kept = append(kept, o)
			}
		}
		conv.Operators = kept
		conv.UpdatedAt = now
		if err := tx.PutConversation(conv); err != nil {
			return err
		}
		if len(kept) > 0 || conv.Status != StatusOpen {
			return nil
		}
		return enqueue(tx, dests, OutboxEntry{Kind: KindWaiting, ConversationID: conv.ID, CreatedAt: now})
	})
	if err != nil {
		return false, fmt.Errorf("leave: %w", err)
	}
	if len(conv.Operators) == 0 {
		e.wake(dests)
	}
	e.hub.Publish(Event{Kind: EventUpdated, VisitorID: conv.VisitorID, ConversationID: conv.ID})
	return len(conv.Operators) > 0, nil
}

// Transcript renders the public conversation as "Author: text" lines,
// skipping notes, whispers, system lines and empty messages.
func (e *Engine) Transcript(ctx context.Context, conversationID string) (string, error) {
	var msgs []Message
	err := e.store.View(ctx, func(tx Tx) error {
		var err error
		msgs, err = tx.Messages(conversationID, 0, 0)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("transcript: %w", err)
	}
	return FormatTranscript(msgs), nil
}

// FormatTranscript renders messages as "Author: text" lines (public visitor
// and operator messages only).
func FormatTranscript(msgs []Message) string {
	var b strings.Builder
	for _, m := range msgs {
		if m.Visibility != VisibilityPublic || m.From == FromSystem || strings.TrimSpace(m.Text) == "" {
			continue
		}
		author := m.Author
		if author == "" {
			author = string(m.From)
		}
		fmt.Fprintf(&b, "%s: %s\n", author, m.Text)
	}
	return strings.TrimRight(b.String(), "\n")
}

// CreateTicket stores t with the next number and sends it to the sinks.
func (e *Engine) CreateTicket(ctx context.Context, t Ticket) (Ticket, error) {
	if t.CreatedAt.IsZero() {
		t.CreatedAt = e.cfg.Now()
	}
	if t.Source == "" {
		t.Source = "Live Chat"
	}
	dests := e.destinations(KindTicket)
	var out Ticket
	err := e.store.Update(ctx, func(tx Tx) error {
		var err error
		if out, err = tx.CreateTicket(t); err != nil {
			return err
		}
		return enqueue(tx, dests, OutboxEntry{Kind: KindTicket, ConversationID: t.ConversationID, Number: out.Number, CreatedAt: t.CreatedAt})
	})
	if err != nil {
		return Ticket{}, fmt.Errorf("create ticket: %w", err)
	}
	e.wake(dests)
	return out, nil
}

// CreateLead stores l with the next number and sends it to the sinks.
func (e *Engine) CreateLead(ctx context.Context, l Lead) (Lead, error) {
	if l.CreatedAt.IsZero() {
		l.CreatedAt = e.cfg.Now()
	}
	if l.Source == "" {
		l.Source = "Live Chat"
	}
	dests := e.destinations(KindLead)
	var out Lead
	err := e.store.Update(ctx, func(tx Tx) error {
		var err error
		if out, err = tx.CreateLead(l); err != nil {
			return err
		}
		return enqueue(tx, dests, OutboxEntry{Kind: KindLead, ConversationID: l.ConversationID, Number: out.Number, CreatedAt: l.CreatedAt})
	})
	if err != nil {
		return Lead{}, fmt.Errorf("create lead: %w", err)
	}
	e.wake(dests)
	return out, nil
}

// Typing tells the other side that someone is typing in a conversation: a
// visitor (to the operators) or an operator (to the visitor, shown with
// author). It is a live event only; nothing is stored.
func (e *Engine) Typing(ctx context.Context, conversationID string, from From, author string) error {
	c, err := e.Conversation(ctx, conversationID)
	if err != nil {
		return fmt.Errorf("typing: %w", err)
	}
	if c.Status != StatusOpen {
		return nil
	}
	e.hub.Publish(Event{Kind: EventTyping, VisitorID: c.VisitorID, ConversationID: c.ID, From: from, Author: author})
	return nil
}
