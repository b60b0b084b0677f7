package bridge

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// closedReplyText answers a reply to a closed conversation.
const closedReplyText = "This conversation is closed: the visitor will not see your message."

// HandleOperator is the one entry point for what operators type on any
// platform. The Interceptor classifies the text (without one, every message
// is a reply) and the engine carries out its Outcome in one commit together
// with the de-duplication record of in.EventID: a platform that delivers the
// event again (Slack retries, a repeated Matrix transaction, a crash before
// the platform got its answer) finds it handled, and an event whose commit
// failed left nothing behind, so its retry is handled in full. Only
// Outcome.Relay ever reaches the visitor.
//
// An input with Edits or Deletes changes an earlier reply (see
// handleChange); one with a File relays the file with its caption, unless
// the caption is a command or a note.
func (e *Engine) HandleOperator(ctx context.Context, in OperatorInput) error {
	key := operatorKey(in)
	if key != "" {
		// A repeated event costs one read, not a classification.
		seen, err := e.seen(ctx, key)
		if err != nil {
			return fmt.Errorf("handle operator: %w", err)
		}
		if seen {
			e.log.Debug("duplicate operator event", "adapter", in.Operator.Adapter, "event", in.EventID)
			return nil
		}
	}
	if in.Edits != "" || in.Deletes != "" {
		return e.handleChange(ctx, in, key)
	}
	conv, err := e.Conversation(ctx, in.ConversationID)
	if err != nil {
		return fmt.Errorf("handle operator: %w", err)
	}
	e.mu.RLock()
	ic := e.interceptor
	e.mu.RUnlock()
	out := Outcome{Relay: in.Text}
	if ic != nil && (in.File == nil || strings.TrimSpace(in.Text) != "") {
		if out, err = ic.Intercept(ctx, in, conv); err != nil {
			// Nothing happened: tell the operator, and leave the event
			// unmarked so that a retry of it is handled in full.
			e.log.Error("operator command failed", "conversation", conv.ID, "err", err)
			out, key = Outcome{Whisper: "That did not work: " + err.Error()}, ""
		}
	}
	if err := e.carryOut(ctx, in, key, out); err != nil {
		return fmt.Errorf("handle operator: %w", err)
	}
	return nil
}

// Handled reports whether the operator event in was handled already (by
// HandleOperator or Notice), so that an adapter can skip costly work for a
// repeated event (downloading a file again); HandleOperator itself drops
// repeats anyway.
func (e *Engine) Handled(ctx context.Context, in OperatorInput) (bool, error) {
	key := operatorKey(in)
	if key == "" {
		return false, nil
	}
	return e.seen(ctx, key)
}

// operatorKey is the de-duplication key of an operator event ("" for none).
func operatorKey(in OperatorInput) string {
	if in.EventID == "" {
		return ""
	}
	return "op:" + in.Operator.Adapter + ":" + in.EventID
}

// carryOut commits out for the operator event in: the de-duplication
// record under key (when not ""), the actions, the note, the reply and the
// whisper, in this order, in one transaction.
func (e *Engine) carryOut(ctx context.Context, in OperatorInput, key string, out Outcome) error {
	max := e.cfg.MaxMessageBytes
	whisper := out.Whisper
	note, relay := out.Note, out.Relay
	// A file goes with a reply, or alone when it has no caption; a caption
	// that is a command or a note keeps it with the operators.
	var file *Attachment
	if in.File != nil {
		if err := CheckAttachment(*in.File); err != nil {
			whisper = joinLines(whisper, "The file was not sent to the visitor: "+invalidReason(err)+".")
		} else if relay != "" || strings.TrimSpace(in.Text) == "" {
			file = in.File
		} else {
			whisper = joinLines(whisper, "The file "+in.File.Name+" was not sent to the visitor: its caption is a command or a note.")
		}
	}
	if note != "" {
		var err error
		if note, err = CheckText(note, max); err != nil {
			note, whisper = "", joinLines(whisper, "The note was not saved: "+invalidReason(err)+".")
		}
	}
	if relay != "" {
		var err error
		if relay, err = CheckText(relay, max); err != nil {
			relay, file, whisper = "", nil, joinLines(whisper, "Not sent to the visitor: "+invalidReason(err)+".")
		}
	}
	sending := relay != "" || file != nil
	err := e.update(ctx, func(t *txn) error {
		if key != "" {
			seen, err := t.tx.MarkSeen(key, t.now, t.now.Add(e.cfg.DedupTTL))
			if err != nil {
				return err
			}
			if seen {
				return errDuplicate
			}
		}
		c, err := t.conv(in.ConversationID)
		if err != nil {
			return err
		}
		if sending && c.Status != StatusOpen {
			// A reply, with what belongs to it (its canned use counts, its
			// "sent" notice), is not sent to a closed conversation.
			return t.whisper(c, in.Operator, closedReplyText, in.EventID)
		}
		say := whisper
		for _, a := range out.Actions {
			s, err := a.act(t, c, in.Operator)
			if err != nil {
				return err
			}
			say = joinLines(say, s)
		}
		if note != "" {
			if _, err := t.note(c, in.Operator, note, in.EventID); err != nil {
				return err
			}
		}
		if sending {
			m := Message{Text: relay, File: file, Emote: in.Emote, PlatformID: in.platformID()}
			if _, err := t.reply(c, in.Operator, m); err != nil {
				return err
			}
		}
		return t.whisper(c, in.Operator, say, in.EventID)
	})
	if errors.Is(err, errDuplicate) {
		e.log.Debug("duplicate operator event", "adapter", in.Operator.Adapter, "event", in.EventID)
		return nil
	}
	return err
}

func joinLines(a, b string) string {
	switch {
	case a == "":
		return b
	case b == "":
		return a
	}
	return a + "\n" + b
}

// Notice shows text to the operator who caused the platform event in (an
// edit that is not relayed, an unsupported event), once: a repeated event
// shows nothing again. The de-duplication key is its own, so that the same
// event may also go through HandleOperator (a file shared with a text).
// in.Text is ignored.
func (e *Engine) Notice(ctx context.Context, in OperatorInput, text string) error {
	key := operatorKey(in)
	if key != "" {
		key = "notice:" + key
	}
	if err := e.carryOut(ctx, in, key, Outcome{Whisper: text}); err != nil {
		return fmt.Errorf("notice: %w", err)
	}
	return nil
}

// Reply relays an operator's text to the visitor (platform events go
// through HandleOperator instead). The operator starts following the
// conversation. It fails with ErrClosed on a closed conversation.
func (e *Engine) Reply(ctx context.Context, conversationID string, op Operator, text, platformID string) (Message, error) {
	text, err := CheckText(text, e.cfg.MaxMessageBytes)
	if err != nil {
		return Message{}, fmt.Errorf("reply: %w", err)
	}
	var m Message
	err = e.update(ctx, func(t *txn) error {
		c, err := t.conv(conversationID)
		if err != nil {
			return err
		}
		if c.Status != StatusOpen {
			return ErrClosed
		}
		m, err = t.reply(c, op, Message{Text: text, PlatformID: platformID})
		return err
	})
	if err != nil {
		return Message{}, fmt.Errorf("reply: %w", err)
	}
	return m, nil
}

// reply appends m (its Text, File, Emote and PlatformID) as a public
// operator message; op starts following. The message is remembered by its
// platform id, so that the operator's later edit or deletion finds it.
func (t *txn) reply(c *Conversation, op Operator, m Message) (Message, error) {
	if !c.HasOperator(op) {
		c.Operators = append(c.Operators, op)
	}
	m.From, m.Visibility, m.Author, m.Operator = FromOperator, VisibilityPublic, op.Name, &op
	m, err := t.append(c, m, KindMessage)
	if err != nil || m.PlatformID == "" {
		return m, err
	}
	return m, t.tx.PutState(msgRefNamespace(op.Adapter), m.PlatformID, msgRef(c.ID, m.Seq))
}

// AddNote stores a private note for the operators. Other operator platforms
// receive it through the outbox (they show it as a note, never to visitors).
func (e *Engine) AddNote(ctx context.Context, conversationID string, op Operator, text, platformID string) (Message, error) {
	text, err := CheckText(text, e.cfg.MaxMessageBytes)
	if err != nil {
		return Message{}, fmt.Errorf("note: %w", err)
	}
	var m Message
	err = e.update(ctx, func(t *txn) error {
		c, err := t.conv(conversationID)
		if err != nil {
			return err
		}
		m, err = t.note(c, op, text, platformID)
		return err
	})
	if err != nil {
		return Message{}, fmt.Errorf("note: %w", err)
	}
	return m, nil
}

func (t *txn) note(c *Conversation, op Operator, text, platformID string) (Message, error) {
	return t.append(c, Message{
		From: FromOperator, Visibility: VisibilityNote,
		Author: op.Name, Operator: &op, Text: text, PlatformID: platformID,
	}, KindMessage)
}

// Whisper stores operator-only text for op and, once committed, shows it on
// op's platform. It is kept in the store so that it survives the platform's
// own view (Slack ephemeral messages vanish on reload).
func (e *Engine) Whisper(ctx context.Context, conversationID string, op Operator, text, inReplyTo string) error {
	err := e.update(ctx, func(t *txn) error {
		c, err := t.conv(conversationID)
		if err != nil {
			return err
		}
		return t.whisper(c, op, text, inReplyTo)
	})
	if err != nil {
		return fmt.Errorf("whisper: %w", err)
	}
	return nil
}

// whisper appends operator-only text for op (nothing for blank text) and
// shows it on op's platform after the commit.
func (t *txn) whisper(c *Conversation, op Operator, text, inReplyTo string) error {
	text = strings.TrimSpace(text)
	if text == "" {
		return nil
	}
	_, err := t.append(c, Message{
		From: FromSystem, Visibility: VisibilityWhisper,
		Author: "chatbridge", Recipient: op.Key(), Text: text,
	}, "")
	if err != nil {
		return err
	}
	t.show(Whisper{Conversation: *c, Operator: op, Text: text, InReplyTo: inReplyTo})
	return nil
}

// Close ends a conversation for both sides: the visitor sees a system line,
// the operator platforms get a KindClosed entry. Closing a closed
// conversation does nothing.
func (e *Engine) Close(ctx context.Context, conversationID string, by Operator) error {
	err := e.update(ctx, func(t *txn) error {
		c, err := t.conv(conversationID)
		if err != nil {
			return err
		}
		_, err = t.close(c, SystemEvent{Kind: SystemClosedByOperator, Name: by.Name})
		return err
	})
	if err != nil {
		return fmt.Errorf("close: %w", err)
	}
	return nil
}

// close appends the close line (what ev says) and closes c; closed is false
// when c was closed already (nothing is written then).
func (t *txn) close(c *Conversation, ev SystemEvent) (closed bool, err error) {
	if c.Status == StatusClosed {
		return false, nil
	}
	m, err := t.append(c, Message{
		From: FromSystem, Visibility: VisibilityPublic, Author: "system",
		Text: ev.Text(""), System: &ev,
	}, KindClosed)
	if err != nil {
		return false, err
	}
	c.Status, c.ClosedAt = StatusClosed, m.At
	t.publish(Event{Kind: EventClosed, VisitorID: c.VisitorID, ConversationID: c.ID, Seq: m.Seq})
	return true, nil
}

// Leave stops op following the conversation. When nobody follows it any
// more, it is announced again as waiting. The visitor is not told.
func (e *Engine) Leave(ctx context.Context, conversationID string, op Operator) (stillFollowed bool, err error) {
	err = e.update(ctx, func(t *txn) error {
		c, err := t.conv(conversationID)
		if err != nil {
			return err
		}
		stillFollowed, err = t.leave(c, op)
		return err
	})
	if err != nil {
		return false, fmt.Errorf("leave: %w", err)
	}
	return stillFollowed, nil
}

func (t *txn) leave(c *Conversation, op Operator) (stillFollowed bool, err error) {
	kept := c.Operators[:0:0]
	for _, o := range c.Operators {
		if o.Key() != op.Key() {
			kept = append(kept, o)
		}
	}
	c.Operators = kept
	c.UpdatedAt = t.now
	t.publish(Event{Kind: EventUpdated, VisitorID: c.VisitorID, ConversationID: c.ID})
	if len(kept) > 0 || c.Status != StatusOpen {
		return len(kept) > 0, nil
	}
	return false, t.enqueueKind(KindWaiting, OutboxEntry{ConversationID: c.ID})
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
	e.publishTyping(ctx, Event{Kind: EventTyping, VisitorID: c.VisitorID, ConversationID: c.ID, From: from, Author: author})
	return nil
}

// Transcript renders the public conversation as "Author: text" lines,
// skipping notes, whispers, system lines and empty messages.
func (e *Engine) Transcript(ctx context.Context, conversationID string) (string, error) {
	msgs, err := e.Messages(ctx, conversationID, 0, 0)
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
