package slack

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/slack-go/slack"

	"github.com/chatbridge/chatbridge/bridge"
)

// metaType is the event_type of the metadata on every message the adapter
// posts; its payload's "id" is the outbox event id (with "/k" for part k of
// a split text, or "root:<conversation>" for a thread's root), so that a
// post whose answer was lost can be found.
const metaType = "chatbridge_delivery"

// lookBack widens the search for an earlier post, for clock skew between
// this host and Slack.
const lookBack = 5 * time.Minute

// Wants reports the entries Slack shows: new conversations, messages,
// edits and deletions of messages it showed, conversations waiting again,
// and ends.
func (a *Adapter) Wants(k bridge.OutboxKind) bool {
	switch k {
	case bridge.KindOpened, bridge.KindMessage, bridge.KindClosed, bridge.KindWaiting, bridge.KindEdited, bridge.KindDeleted:
		return true
	}
	return false
}

// WantsMessage keeps Slack's threads to what Slack's operators need: the
// visitor's messages, public system lines, and replies and notes of operators
// on other platforms. Whispers never go out, and messages of Slack's own
// operators are already in the thread.
func (a *Adapter) WantsMessage(m bridge.Message) bool {
	switch m.Visibility {
	case bridge.VisibilityPublic:
	case bridge.VisibilityNote:
		if m.From == bridge.FromVisitor {
			return false
		}
	default:
		return false
	}
	switch m.From {
	case bridge.FromVisitor:
		return m.Visibility == bridge.VisibilityPublic
	case bridge.FromSystem: // public lines, and notes to operators (a dead letter)
		return true
	case bridge.FromOperator:
		return m.Operator != nil && m.Operator.Adapter != AdapterName
	}
	return false
}

// Deliver posts one outbox entry into the conversation's thread (creating
// the thread with its context card first when needed), or edits or
// deletes the posts of a message it delivered before. Called by the
// engine's delivery worker only; posts are paced per channel (pacer).
//
// A 429 comes back as a *bridge.RetryAfterError. An entry tried before (or
// left over from an earlier run) is first looked up in the thread by its
// metadata, so a post that Slack stored while its answer was lost (timeout,
// 5xx) is not posted twice; no lookup is needed when every earlier try's
// outcome is known (refused while paused, 429, an ok:false answer). Errors
// that a person must fix pause posting (see Health); what Slack refuses
// for good (an invalid message) is a permanent error, which makes the
// entry a dead letter and tells the operators.
func (a *Adapter) Deliver(ctx context.Context, d bridge.Delivery) (bridge.Receipt, error) {
	d.Message = bridge.Localize(d.Message, a.cfg.Language)
	if !a.uncertain(d.Entry) && !a.knows(d.Entry.ID) {
		a.learn(d.Entry.ID, nil) // kept until a try may have posted something
	}
	if err := a.gate(); err != nil {
		return bridge.Receipt{}, err
	}
	self, err := a.ensureAuth(ctx)
	if err == nil {
		switch d.Entry.Kind {
		case bridge.KindOpened:
			_, _, err = a.ensureRoot(ctx, d)
		case bridge.KindMessage:
			err = a.deliverMessage(ctx, d, self)
		case bridge.KindEdited:
			err = a.deliverEdit(ctx, d, self)
		case bridge.KindDeleted:
			err = a.deliverDeletion(ctx, d)
		case bridge.KindWaiting:
			err = a.deliverWaiting(ctx, d)
		case bridge.KindClosed:
			err = a.deliverClosed(ctx, d)
		}
	}
	// What Slack refuses for good becomes a dead letter: the core then
	// tells the operators, in this thread too (a note every platform gets).
	return bridge.Receipt{}, a.outcome(d.Entry, err)
}

// outcome records err's effect on health and turns it into what the
// delivery worker understands.
func (a *Adapter) outcome(en bridge.OutboxEntry, err error) error {
	if err == nil {
		a.forget(en.ID)
		a.noteOK()
		return nil
	}
	var rl *slack.RateLimitedError
	if errors.As(err, &rl) {
		return &bridge.RetryAfterError{After: max(rl.RetryAfter, time.Second), Err: err}
	}
	a.noteError(err)
	switch slackErrCode(err) {
	case "msg_too_long", "no_text", "invalid_blocks", "invalid_metadata_format", "invalid_metadata_schema":
		a.forget(en.ID)
		return fmt.Errorf("slack %s: %w: %w", en.EventID(), bridge.ErrPermanent, err)
	}
	if errors.Is(err, bridge.ErrPermanent) {
		a.forget(en.ID)
	}
	return fmt.Errorf("slack %s: %w", en.EventID(), err)
}

// threadOf returns the channel and root ts of a conversation's thread, or an
// error wrapping bridge.ErrNotFound.
func (a *Adapter) threadOf(ctx context.Context, conversationID string) (channel, ts string, err error) {
	ref, err := a.engine.Ref(ctx, AdapterName, conversationID)
	if err != nil {
		return "", "", err
	}
	channel, ts, ok := splitRef(ref)
	if !ok {
		return "", "", fmt.Errorf("%w: malformed thread ref %q", bridge.ErrPermanent, ref)
	}
	return channel, ts, nil
}

// ensureRoot returns the conversation's thread, posting its root (the
// context card) when it has none yet. Normally the conversation.opened entry
// does that; a message of a conversation that was never announced to Slack
// (opened before the adapter was configured) opens its thread itself.
func (a *Adapter) ensureRoot(ctx context.Context, d bridge.Delivery) (channel, ts string, err error) {
	conv := d.Entry.ConversationID
	channel, ts, err = a.threadOf(ctx, conv)
	if err == nil || !errors.Is(err, bridge.ErrNotFound) {
		return channel, ts, err
	}
	channel = a.cfg.Channel
	id := "root:" + conv
	opened := d.Entry.Kind == bridge.KindOpened
	if !opened || !a.knows(d.Entry.ID) {
		found, err := a.findPosted(ctx, channel, "", id, d.Conversation.CreatedAt)
		if err != nil {
			return "", "", err
		}
		if ts, ok := found[id]; ok {
			a.log.Info("slack thread root found, not posted again", "conversation", conv)
			return channel, ts, a.putRef(ctx, conv, channel, ts)
		}
		if opened {
			a.learn(d.Entry.ID, nil)
		}
	}
	text, blocks := contextCard(d.Visitor, d.Conversation)
	a.roots.begin()
	defer a.roots.end()
	ts, err = a.postMessage(ctx, channel, "", id, slack.MsgOptionText(text, false), slack.MsgOptionBlocks(blocks...))
	if err != nil {
		if opened && !certainlyNotPosted(err) {
			a.forget(d.Entry.ID)
		}
		return "", "", fmt.Errorf("post context card: %w", err)
	}
	a.log.Debug("slack thread opened", "conversation", conv, "ts", ts)
	return channel, ts, a.putRef(ctx, conv, channel, ts)
}

func (a *Adapter) putRef(ctx context.Context, conv, channel, ts string) error {
	err := a.engine.SaveAdapter(context.WithoutCancel(ctx), AdapterName, bridge.AdapterChange{
		Refs: map[string]string{conv: channel + ":" + ts},
	})
	if err != nil {
		return fmt.Errorf("store thread ref: %w", err)
	}
	return nil
}

// deliverMessage posts a visitor message, another platform's operator reply
// or note, or a system line, in as many parts as its text needs, with its
// file; every text from outside is escaped. Where the posts are is
// recorded (postRecord), for a later edit or deletion.
func (a *Adapter) deliverMessage(ctx context.Context, d bridge.Delivery, self identity) error {
	m := d.Message
	if m == nil {
		return fmt.Errorf("%w: message entry without its message", bridge.ErrPermanent)
	}
	if !a.WantsMessage(*m) {
		return nil
	}
	channel, root, err := a.ensureRoot(ctx, d)
	if err != nil {
		return err
	}
	var rec postRecord
	if !a.knows(d.Entry.ID) || m.File != nil {
		var found bool
		if rec, found, err = a.loadRecord(ctx, m.ConversationID, m.Seq); err != nil {
			return err
		}
		if found && rec.Done {
			return nil // delivered before a crash kept the entry
		}
	}
	if m.File != nil {
		return a.deliverFile(ctx, d, channel, root, rec)
	}
	r := render(*m, d.Visitor, self.Customize)
	refs, err := a.postParts(ctx, d.Entry, channel, root, r.texts, r.opts...)
	if len(r.opts) > 0 && slackErrCode(err) == "missing_scope" {
		// The token lost chat:write.customize: fall back to a name prefix.
		a.noCustomize()
		r = render(*m, d.Visitor, false)
		refs, err = a.postParts(ctx, d.Entry, channel, root, r.texts, r.opts...)
	}
	if err != nil {
		return err
	}
	return a.saveRecord(ctx, m.ConversationID, m.Seq, postRecord{Posts: refs, Customized: r.customized, Done: true})
}

// deliverWaiting announces the conversation again in the channel (the last
// operator left): a thread reply also sent to the channel.
func (a *Adapter) deliverWaiting(ctx context.Context, d bridge.Delivery) error {
	channel, root, err := a.ensureRoot(ctx, d)
	if err != nil {
		return err
	}
	text := "⏳ *" + Escape(cleanName(d.Visitor.DisplayName(), 60)) + "* is waiting for an operator."
	_, err = a.postParts(ctx, d.Entry, channel, root, []string{text}, slack.MsgOptionBroadcast())
	return err
}

// deliverClosed says in the thread that the chat ended and marks the root
// with a reaction (best effort).
func (a *Adapter) deliverClosed(ctx context.Context, d bridge.Delivery) error {
	channel, root, err := a.threadOf(ctx, d.Entry.ConversationID)
	if errors.Is(err, bridge.ErrNotFound) {
		return nil // never shown in Slack: no thread to close
	}
	if err != nil {
		return err
	}
	text := "🏁 The chat has ended."
	if d.Message != nil && strings.TrimSpace(d.Message.Text) != "" {
		text += " " + Escape(clip(d.Message.Text, 1000))
	}
	if _, err := a.postParts(ctx, d.Entry, channel, root, []string{text}); err != nil {
		return err
	}
	err = a.api.AddReactionContext(ctx, "white_check_mark", slack.NewRefToMessage(channel, root))
	if err != nil && slackErrCode(err) != "already_reacted" {
		a.log.Warn("slack reaction failed", "conversation", d.Entry.ConversationID, "err", err)
	}
	return nil
}

// Whisper shows operator-only text (command output) to one Slack operator:
// ephemeral messages in the conversation's thread (several when the text
// is too long for one), or direct messages when the operator is not in the
// channel. Called by the engine.
func (a *Adapter) Whisper(ctx context.Context, w bridge.Whisper) error {
	channel, root, err := a.threadOf(ctx, w.Conversation.ID)
	if err != nil {
		return fmt.Errorf("whisper: %w", err)
	}
	pieces := splitText(w.Text, partBudget)
	for i, piece := range pieces {
		text := Escape(piece)
		_, err = a.api.PostEphemeralContext(ctx, channel, w.Operator.ID, slack.MsgOptionText(text, false), slack.MsgOptionTS(root))
		if err == nil {
			continue
		}
		if slackErrCode(err) != "user_not_in_channel" {
			return fmt.Errorf("whisper: post ephemeral: %w", err)
		}
		return a.whisperDirect(ctx, w, channel, root, pieces[i:])
	}
	return nil
}

// whisperDirect sends whisper texts to an operator outside the channel by
// direct message.
func (a *Adapter) whisperDirect(ctx context.Context, w bridge.Whisper, channel, root string, pieces []string) error {
	im, _, _, err := a.api.OpenConversationContext(ctx, &slack.OpenConversationParameters{Users: []string{w.Operator.ID}})
	if err != nil {
		return fmt.Errorf("whisper: open direct message: %w", err)
	}
	about := ""
	if link := a.permalink(channel, root); link != "" {
		about = "About <" + link + "|this chat>: "
	}
	for _, piece := range pieces {
		if _, err := a.postMessage(ctx, im.ID, "", "", slack.MsgOptionText(about+Escape(piece), false)); err != nil {
			return fmt.Errorf("whisper: direct message: %w", err)
		}
	}
	return nil
}

// permalink builds a link to a thread from the workspace URL auth.test
// gave, or "".
func (a *Adapter) permalink(channel, ts string) string {
	a.mu.Lock()
	base := a.self.TeamURL
	a.mu.Unlock()
	u, err := url.Parse(base)
	if base == "" || err != nil || u.Scheme != "https" {
		return ""
	}
	return strings.TrimRight(base, "/") + "/archives/" + url.PathEscape(channel) + "/p" + strings.ReplaceAll(ts, ".", "")
}
