package bridge

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Operators' replies are remembered by their platform id (an adapter state
// namespace per platform), so that an edit or a deletion on the platform
// finds the message the visitor has.

func msgRefNamespace(adapter string) string { return "msgref:" + adapter }

func msgRef(conversationID string, seq uint64) []byte {
	return []byte(conversationID + "\x00" + strconv.FormatUint(seq, 10))
}

func parseMsgRef(b []byte) (conversationID string, seq uint64, ok bool) {
	c, s, found := strings.Cut(string(b), "\x00")
	n, err := strconv.ParseUint(s, 10, 64)
	return c, n, found && err == nil && c != ""
}

// Texts of the notices about edits and deletions.
const (
	changeNotRelayed = "Not sent to the visitor: the visitor never saw the message you %s (a command, a note, or a message from before chatbridge relayed it)."
	editRefused      = "Not edited for the visitor: the new text %s. The visitor keeps your first version."
	editNotAuthor    = "Not edited for the visitor: only the operator who wrote a reply can edit it."
)

// handleChange carries out an operator's edit (in.Edits) or deletion
// (in.Deletes) of an earlier reply, in one commit with the event's
// de-duplication record under key:
//
//   - the reply's text (an edit) is replaced, or the reply is marked
//     deleted; the visitor's copy changes live (EventChanged, a new
//     Revision) and in the API, and the other operator platforms get a
//     KindEdited or KindDeleted entry; the visitor-visible numbering does
//     not change;
//   - an edit whose new text the Interceptor would not relay as a reply (a
//     command, a note) is refused with a whisper and the original stays;
//   - a change of a message the visitor never saw gets a notice.
func (e *Engine) handleChange(ctx context.Context, in OperatorInput, key string) error {
	target, verb := in.Edits, "edited"
	if in.Deletes != "" {
		target, verb = in.Deletes, "deleted"
	}
	ref, err := e.AdapterState(ctx, msgRefNamespace(in.Operator.Adapter), target)
	convID, seq, ok := parseMsgRef(ref)
	if errors.Is(err, ErrNotFound) || (err == nil && !ok) {
		return e.carryOut(ctx, in, key, Outcome{Whisper: fmt.Sprintf(changeNotRelayed, verb)})
	}
	if err != nil {
		return fmt.Errorf("handle %s message: %w", verb, err)
	}
	in.ConversationID = convID
	var newText string
	if in.Edits != "" {
		out := Outcome{Relay: in.Text}
		e.mu.RLock()
		ic := e.interceptor
		e.mu.RUnlock()
		conv, err := e.Conversation(ctx, convID)
		if err != nil {
			return fmt.Errorf("handle edit: %w", err)
		}
		if ic != nil {
			if out, err = ic.Intercept(ctx, in, conv); err != nil {
				e.log.Error("operator edit not classified", "conversation", convID, "err", err)
				return e.carryOut(ctx, in, "", Outcome{Whisper: "That did not work: " + err.Error()})
			}
		}
		why := ""
		switch {
		case out.Relay == "" || out.Note != "":
			why = "is a command or a note"
		case !onlyCannedUse(out.Actions):
			why = "asks for a command's action"
		}
		if why == "" {
			if newText, err = CheckText(out.Relay, e.cfg.MaxMessageBytes); err != nil {
				why = "cannot be sent: " + invalidReason(err)
			}
		}
		if why != "" {
			return e.carryOut(ctx, in, key, Outcome{Whisper: joinLines(out.Whisper, fmt.Sprintf(editRefused, why))})
		}
	}
	err = e.update(ctx, func(t *txn) error {
		if key != "" {
			seen, err := t.tx.MarkSeen(key, t.now, t.now.Add(e.cfg.DedupTTL))
			if err != nil {
				return err
			}
			if seen {
				return errDuplicate
			}
		}
		c, err := t.conv(convID)
		if err != nil {
			return err
		}
		m, err := t.tx.Message(convID, seq)
		if err != nil {
			return err
		}
		if m.Visibility != VisibilityPublic || m.Operator == nil || m.Deleted {
			return t.whisper(c, in.Operator, fmt.Sprintf(changeNotRelayed, verb), in.EventID)
		}
		// Only its author edits a reply. A deletion may come from another
		// operator of the same platform: its moderators (a Slack admin, a
		// Matrix redaction by power level) remove what should not stay.
		if in.Edits != "" && m.Operator.ID != in.Operator.ID {
			return t.whisper(c, in.Operator, editNotAuthor, in.EventID)
		}
		kind := KindEdited
		if in.Deletes != "" {
			m.Deleted, kind = true, KindDeleted
		} else {
			m.Text, m.EditedAt = newText, t.now
		}
		return t.change(c, m, kind)
	})
	if errors.Is(err, errDuplicate) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("handle %s message: %w", verb, err)
	}
	return nil
}

// onlyCannedUse reports whether actions only count canned uses (an edit
// may expand shortcuts, nothing more).
func onlyCannedUse(actions []Action) bool {
	for _, a := range actions {
		if _, ok := a.(cannedUse); !ok {
			return false
		}
	}
	return true
}

// change stores m, a public message of c changed in place (edited or
// deleted): a new revision, a live event, and an entry of kind for the
// destinations that want it (other than the platform the change came
// from, which has it already).
func (t *txn) change(c *Conversation, m Message, kind OutboxKind) error {
	c.LastRevision++
	m.Revision = c.LastRevision
	c.UpdatedAt = t.now
	if m.PublicSeq != 0 && m.PublicSeq == c.LastPublicSeq { // the last line shown in lists
		c.Preview = previewOf(m)
		if m.Deleted {
			c.Preview = "(message deleted)"
		}
	}
	if err := t.tx.PutMessage(m); err != nil {
		return err
	}
	var except string
	if m.Operator != nil {
		except = m.Operator.Adapter
	}
	for _, d := range t.e.destinations(kind) {
		if d == except {
			continue
		}
		if err := t.enqueue([]string{d}, OutboxEntry{Kind: kind, ConversationID: c.ID, Seq: m.Seq, CreatedAt: t.now}); err != nil {
			return err
		}
	}
	t.publish(Event{Kind: EventChanged, VisitorID: c.VisitorID, ConversationID: c.ID, Seq: m.Seq, Visibility: m.Visibility, From: m.From, Author: m.Author})
	return nil
}
