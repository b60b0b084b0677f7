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
// posts; its payload's "id" is the outbox event id (or "root:<conversation>"
// for a thread's root), so that a post whose answer was lost can be found.
const metaType = "chatbridge_delivery"

// lookBack widens the search for an earlier post, for clock skew between
// this host and Slack.
const lookBack = 5 * time.Minute

// Wants reports the entries Slack shows: new conversations, messages,
// conversations waiting again, and ends.
func (a *Adapter) Wants(k bridge.OutboxKind) bool {
	return isOneOf(string(k), string(bridge.KindOpened), string(bridge.KindMessage), string(bridge.KindClosed), string(bridge.KindWaiting))
}

// WantsMessage keeps Slack's threads to what Slack's operators need: the
// visitor's messages, public system lines, and replies and notes of operators
// on other platforms. Whispers never go out, and messages of Slack's own
// operators are already in the thread.
func (a *Adapter) WantsMessage(m bridge.Message) bool {
	switch m.Visibility {
	case bridge.VisibilityPublic:
	case bridge.VisibilityNote:
		if m.From != bridge.FromOperator {
			return false
		}
	default:
		return false
	}
	switch m.From {
	case bridge.FromVisitor, bridge.FromSystem:
		return m.Visibility == bridge.VisibilityPublic
	case bridge.FromOperator:
		return m.Operator != nil && m.Operator.Adapter != AdapterName
	}
	return false
}

// Deliver posts one outbox entry into the conversation's thread (creating
// the thread with its context card first when needed). Called by the
// engine's delivery worker only, paced by RateLimit.
//
// A 429 comes back as a *bridge.RetryAfterError. An entry tried before (or
// left over from an earlier run) is first looked up in the thread by its
// metadata, so a post that Slack stored while its answer was lost (timeout,
// 5xx) is not posted twice; no lookup is needed when every earlier try
// certainly failed (refused while paused, 429, an ok:false answer). Errors
// that a person must fix pause posting (see Health).
func (a *Adapter) Deliver(ctx context.Context, d bridge.Delivery) (bridge.Receipt, error) {
	if !a.uncertain(d.Entry) {
		a.setNotPosted(d.Entry.ID, true) // kept until a try may have posted it
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
		case bridge.KindWaiting:
			err = a.deliverWaiting(ctx, d)
		case bridge.KindClosed:
			err = a.deliverClosed(ctx, d)
		}
	}
	return bridge.Receipt{}, a.outcome(d.Entry, err)
}

// outcome records err's effect on health and turns it into what the
// delivery worker understands.
func (a *Adapter) outcome(en bridge.OutboxEntry, err error) error {
	if err == nil {
		a.setNotPosted(en.ID, false)
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
		a.setNotPosted(en.ID, false)
		return fmt.Errorf("slack %s: %w: %w", en.EventID(), bridge.ErrPermanent, err)
	}
	return fmt.Errorf("slack %s: %w", en.EventID(), err)
}

// uncertain reports whether an entry may already have been posted: it was
// tried before (unless every try certainly failed), or it is older than this
// process (a crash between the post and the outbox delete).
func (a *Adapter) uncertain(en bridge.OutboxEntry) bool {
	a.mu.Lock()
	_, known := a.notPosted[en.ID]
	a.mu.Unlock()
	return !known && (en.Attempts > 0 || en.CreatedAt.Before(a.started))
}

// notPostedMax bounds notPosted; forgetting only costs lookups.
const notPostedMax = 10000

// setNotPosted records whether an entry is known not to be in Slack.
func (a *Adapter) setNotPosted(id uint64, known bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if !known {
		delete(a.notPosted, id)
		return
	}
	if len(a.notPosted) >= notPostedMax {
		clear(a.notPosted)
	}
	a.notPosted[id] = struct{}{}
}

// certainlyNotPosted reports a chat.postMessage failure that stored
// nothing: a 429, or Slack's ok:false answer. Timeouts, 5xx and other
// failures may come after Slack stored the message.
func certainlyNotPosted(err error) bool {
	var rl *slack.RateLimitedError
	var se slack.SlackErrorResponse
	return errors.As(err, &rl) || errors.As(err, &se)
}

// afterPost records the outcome of posting an entry's own message.
func (a *Adapter) afterPost(en bridge.OutboxEntry, err error) {
	if err != nil && !certainlyNotPosted(err) {
		a.setNotPosted(en.ID, false)
	}
}

// threadOf returns the channel and root ts of a conversation's thread, or an
// error wrapping bridge.ErrNotFound.
func (a *Adapter) threadOf(ctx context.Context, conversationID string) (channel, ts string, err error) {
	ref, err := a.engine.Ref(ctx, AdapterName, conversationID)
	if err != nil {
		return "", "", err
	}
	channel, ts, ok := strings.Cut(ref, ":")
	if !ok || channel == "" || ts == "" {
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
	if d.Entry.Kind != bridge.KindOpened || a.uncertain(d.Entry) {
		var found bool
		ts, found, err = a.findPosted(ctx, channel, "", id, d.Conversation.CreatedAt)
		if err != nil {
			return "", "", err
		}
		if found {
			a.log.Info("slack thread root found, not posted again", "conversation", conv)
			return channel, ts, a.putRef(ctx, conv, channel, ts)
		}
		if d.Entry.Kind == bridge.KindOpened {
			a.setNotPosted(d.Entry.ID, true)
		}
	}
	text, blocks := contextCard(d.Visitor, d.Conversation)
	_, ts, err = a.api.PostMessageContext(ctx, channel,
		slack.MsgOptionText(text, false),
		slack.MsgOptionBlocks(blocks...),
		slack.MsgOptionDisableLinkUnfurl(), slack.MsgOptionDisableMediaUnfurl(),
		slack.MsgOptionLinkNames(false), slack.MsgOptionParse(false),
		metadata(id))
	if d.Entry.Kind == bridge.KindOpened {
		a.afterPost(d.Entry, err)
	}
	if err != nil {
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

func metadata(id string) slack.MsgOption {
	return slack.MsgOptionMetadata(slack.SlackMetadata{EventType: metaType, EventPayload: map[string]any{"id": id}})
}

// findPosted looks for a message with metadata id posted since since: in
// the thread root, or in the channel when root is "".
func (a *Adapter) findPosted(ctx context.Context, channel, root, id string, since time.Time) (string, bool, error) {
	var oldest string
	if !since.IsZero() {
		oldest = slackTS(since.Add(-lookBack))
	}
	cursor := ""
	for range 20 {
		var (
			msgs []slack.Message
			more bool
			next string
			err  error
		)
		if root != "" {
			msgs, more, next, err = a.api.GetConversationRepliesContext(ctx, &slack.GetConversationRepliesParameters{
				ChannelID: channel, Timestamp: root, Oldest: oldest, Cursor: cursor, Limit: 200, IncludeAllMetadata: true,
			})
		} else {
			var resp *slack.GetConversationHistoryResponse
			resp, err = a.api.GetConversationHistoryContext(ctx, &slack.GetConversationHistoryParameters{
				ChannelID: channel, Oldest: oldest, Cursor: cursor, Limit: 200, IncludeAllMetadata: true,
			})
			if resp != nil {
				msgs, more, next = resp.Messages, resp.HasMore, resp.ResponseMetaData.NextCursor
			}
		}
		if err != nil {
			return "", false, fmt.Errorf("look for an earlier post: %w", err)
		}
		for _, m := range msgs {
			if m.Metadata.EventType == metaType && fmt.Sprint(m.Metadata.EventPayload["id"]) == id {
				return m.Timestamp, true, nil
			}
		}
		if !more || next == "" {
			break
		}
		cursor = next
	}
	return "", false, nil
}

// slackTS formats t as a Slack timestamp.
func slackTS(t time.Time) string {
	return fmt.Sprintf("%d.%06d", t.Unix(), t.Nanosecond()/1000)
}

// post puts text into a thread once: an uncertain entry is looked up first.
func (a *Adapter) post(ctx context.Context, en bridge.OutboxEntry, channel, root, text string, extra ...slack.MsgOption) error {
	id := en.EventID()
	if a.uncertain(en) {
		_, found, err := a.findPosted(ctx, channel, root, id, en.CreatedAt)
		if err != nil {
			return err
		}
		if found {
			a.log.Info("slack post found in the thread, not posted again", "entry", id)
			return nil
		}
		a.setNotPosted(en.ID, true)
	}
	opts := append([]slack.MsgOption{
		slack.MsgOptionText(text, false),
		slack.MsgOptionTS(root),
		slack.MsgOptionDisableLinkUnfurl(), slack.MsgOptionDisableMediaUnfurl(),
		slack.MsgOptionLinkNames(false), slack.MsgOptionParse(false),
		metadata(id),
	}, extra...)
	_, _, err := a.api.PostMessageContext(ctx, channel, opts...)
	a.afterPost(en, err)
	if err != nil {
		return fmt.Errorf("post in thread: %w", err)
	}
	return nil
}

// deliverMessage posts a visitor message, another platform's operator reply
// or note, or a system line. Every text from outside is escaped.
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
	text, extra := render(*m, d.Visitor, self.Customize)
	err = a.post(ctx, d.Entry, channel, root, text, extra...)
	if len(extra) > 0 && slackErrCode(err) == "missing_scope" {
		// The token lost chat:write.customize: fall back to a name prefix.
		a.noCustomize()
		text, extra = render(*m, d.Visitor, false)
		err = a.post(ctx, d.Entry, channel, root, text, extra...)
	}
	return err
}

// render returns the Slack text of a message and the options that show who
// wrote it (a custom username needs chat:write.customize; without it the
// name is a bold prefix). A visitor's text is shown so that none of its
// lines can pass for another author's: as a block quote under the prefix,
// and under a custom username as a block quote when it has several lines.
func render(m bridge.Message, v bridge.Visitor, customize bool) (string, []slack.MsgOption) {
	body := Escape(m.Text)
	switch {
	case m.From == bridge.FromSystem:
		return ":information_source: " + body, nil
	case m.Visibility == bridge.VisibilityNote:
		return "📝 note by " + Escape(operatorLabel(m)) + ": " + body, nil
	}
	var who, icon string
	if m.From == bridge.FromVisitor {
		name := m.Author
		if name == "" {
			name = v.DisplayName()
		}
		who, icon = cleanName(name, 60)+" (visitor)", ":bust_in_silhouette:"
	} else {
		who, icon = operatorLabel(m), ":headphones:"
	}
	if customize {
		if m.From == bridge.FromVisitor && multiline(m.Text) {
			body = Quote(m.Text)
		}
		return body, []slack.MsgOption{slack.MsgOptionUsername(who), slack.MsgOptionIconEmoji(icon)}
	}
	if m.From == bridge.FromVisitor {
		return "*" + Escape(who) + "*:\n" + Quote(m.Text), nil
	}
	return "*" + Escape(who) + "*: " + body, nil
}

// operatorLabel is "Alice (inbox)" for an operator of another platform.
func operatorLabel(m bridge.Message) string {
	name, platform := m.Author, ""
	if m.Operator != nil {
		if m.Operator.Name != "" {
			name = m.Operator.Name
		}
		platform = m.Operator.Adapter
	}
	if name = cleanName(name, 60); name == "" {
		name = "An operator"
	}
	if platform != "" {
		name += " (" + cleanName(platform, 20) + ")"
	}
	return name
}

// deliverWaiting announces the conversation again in the channel (the last
// operator left): a thread reply also sent to the channel.
func (a *Adapter) deliverWaiting(ctx context.Context, d bridge.Delivery) error {
	channel, root, err := a.ensureRoot(ctx, d)
	if err != nil {
		return err
	}
	text := "⏳ *" + Escape(cleanName(d.Visitor.DisplayName(), 60)) + "* is waiting for an operator."
	return a.post(ctx, d.Entry, channel, root, text, slack.MsgOptionBroadcast())
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
		text += " " + Escape(d.Message.Text)
	}
	if err := a.post(ctx, d.Entry, channel, root, text); err != nil {
		return err
	}
	err = a.api.AddReactionContext(ctx, "white_check_mark", slack.NewRefToMessage(channel, root))
	if err != nil && slackErrCode(err) != "already_reacted" {
		a.log.Warn("slack reaction failed", "conversation", d.Entry.ConversationID, "err", err)
	}
	return nil
}

// Whisper shows operator-only text (command output) to one Slack operator:
// an ephemeral message in the conversation's thread, or a direct message
// when the operator is not in the channel. Called by the engine.
func (a *Adapter) Whisper(ctx context.Context, w bridge.Whisper) error {
	channel, root, err := a.threadOf(ctx, w.Conversation.ID)
	if err != nil {
		return fmt.Errorf("whisper: %w", err)
	}
	text := Escape(w.Text)
	_, err = a.api.PostEphemeralContext(ctx, channel, w.Operator.ID, slack.MsgOptionText(text, false), slack.MsgOptionTS(root))
	if err == nil {
		return nil
	}
	if slackErrCode(err) != "user_not_in_channel" {
		return fmt.Errorf("whisper: post ephemeral: %w", err)
	}
	im, _, _, err := a.api.OpenConversationContext(ctx, &slack.OpenConversationParameters{Users: []string{w.Operator.ID}})
	if err != nil {
		return fmt.Errorf("whisper: open direct message: %w", err)
	}
	if link := a.permalink(channel, root); link != "" {
		text = "About <" + link + "|this chat>: " + text
	}
	if _, _, err := a.api.PostMessageContext(ctx, im.ID, slack.MsgOptionText(text, false),
		slack.MsgOptionDisableLinkUnfurl(), slack.MsgOptionLinkNames(false)); err != nil {
		return fmt.Errorf("whisper: direct message: %w", err)
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
