package matrix

import (
	"context"
	"errors"
	"fmt"
	"html"
	"strings"

	"github.com/chatbridge/chatbridge/bridge"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

// maxThreads bounds the memory of which thread an operator event was in.
const maxThreads = 4096

// conversation returns the conversation of a room, "" for rooms that are
// not conversations.
func (a *Adapter) conversation(ctx context.Context, room id.RoomID) (string, error) {
	conv, err := a.engine.ConversationByRef(ctx, adapterName, string(room))
	if errors.Is(err, bridge.ErrNotFound) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("find conversation of room %s: %w", room, err)
	}
	return conv, nil
}

// onMessage hands what an operator typed in a conversation's room to the
// engine. It returns an error only for failures that a retry can fix.
func (a *Adapter) onMessage(ctx context.Context, evt *event.Event) error {
	if a.ours(evt.Sender) {
		return nil // our own messages, cards, whispers and ghosts
	}
	msg := evt.Content.AsMessage()
	if msg.MsgType != event.MsgText && msg.MsgType != event.MsgNotice {
		return nil // emotes, media, …: not relayed
	}
	if _, marked := evt.Content.Raw[fieldOperatorOnly]; marked {
		return nil
	}
	if msg.RelatesTo != nil && msg.RelatesTo.Type == event.RelReplace {
		a.log.Debug("matrix edit not relayed", "event", evt.ID)
		return nil
	}
	conv, err := a.conversation(ctx, evt.RoomID)
	if err != nil || conv == "" {
		return err
	}
	msg.RemoveReplyFallback()
	text := msg.Body
	if msg.RelatesTo.GetReplyTo() != "" {
		text = event.TrimReplyFallbackText(text)
	}
	text = a.mentionAsID(msg, text)
	if root := msg.RelatesTo.GetThreadParent(); root != "" {
		a.rememberThread(evt.ID, root)
	}
	op := bridge.Operator{Adapter: adapterName, ID: string(evt.Sender), Name: a.displayName(ctx, evt.RoomID, evt.Sender)}
	err = a.engine.HandleOperator(ctx, bridge.OperatorInput{
		EventID: string(evt.ID), ConversationID: conv, Operator: op,
		Text: text, Mention: string(a.bot),
	})
	switch {
	case err == nil:
		return nil
	case errors.Is(err, bridge.ErrInvalid):
		// Refused (too long, …): the operator must not believe the visitor
		// saw it.
		if err := a.engine.Whisper(ctx, conv, op, "Not sent to the visitor: "+invalidReason(err), string(evt.ID)); err != nil {
			return fmt.Errorf("tell operator about message %s: %w", evt.ID, err)
		}
		return nil
	case permanent(err):
		a.log.Warn("matrix message not handled", "conversation", conv, "event", evt.ID, "err", err)
		return nil
	}
	return fmt.Errorf("handle operator message %s: %w", evt.ID, err)
}

// invalidReason is what an error wrapping bridge.ErrInvalid says after
// "invalid input: " ("text is 12000 bytes, the limit is 10000").
func invalidReason(err error) string {
	s := err.Error()
	if _, after, ok := strings.Cut(s, bridge.ErrInvalid.Error()+": "); ok && after != "" {
		return after
	}
	return s
}

// permanent reports errors that handling the event again cannot fix.
func permanent(err error) bool {
	return errors.Is(err, bridge.ErrInvalid) || errors.Is(err, bridge.ErrNotFound) || errors.Is(err, bridge.ErrClosed)
}

// mentionAsID rewrites a leading pill of the bot (Element puts the bot's
// display name in the plain body) to the bot's user id, the Mention the
// command parser looks for: "chatbridge: help" → "@bot:server: help".
func (a *Adapter) mentionAsID(msg *event.MessageEventContent, text string) string {
	if msg.Format != event.FormatHTML || msg.Mentions == nil || !msg.Mentions.Has(a.bot) {
		return text
	}
	f := strings.TrimSpace(event.TrimReplyFallbackHTML(msg.FormattedBody))
	for _, prefix := range []string{`<a href="https://matrix.to/#/` + string(a.bot) + `">`, `<a href='https://matrix.to/#/` + string(a.bot) + `'>`} {
		rest, ok := strings.CutPrefix(f, prefix)
		if !ok {
			continue
		}
		label, _, ok := strings.Cut(rest, "</a>")
		if !ok {
			return text
		}
		if after, ok := strings.CutPrefix(strings.TrimSpace(text), html.UnescapeString(label)); ok {
			return string(a.bot) + after
		}
	}
	return text
}

// onEncrypted notices encrypted messages in a conversation's room.
func (a *Adapter) onEncrypted(ctx context.Context, evt *event.Event) error {
	return a.markEncrypted(ctx, evt.RoomID)
}

// onEncryption notices a room becoming encrypted.
func (a *Adapter) onEncryption(ctx context.Context, evt *event.Event) error {
	return a.markEncrypted(ctx, evt.RoomID)
}

// markEncrypted records that a conversation's room is encrypted, logs it
// and says so in the room, once per process.
func (a *Adapter) markEncrypted(ctx context.Context, room id.RoomID) error {
	conv, err := a.conversation(ctx, room)
	if err != nil || conv == "" {
		return err
	}
	a.mu.Lock()
	known := a.encrypted[room]
	a.setEncrypted(room, true)
	a.mu.Unlock()
	if known {
		return nil
	}
	a.log.Error("matrix room is encrypted: conversation not bridged", "conversation", conv, "room", room)
	a.sayEncrypted(ctx, room)
	return nil
}

// sayEncrypted tells the room's operators that it is not bridged.
func (a *Adapter) sayEncrypted(ctx context.Context, room id.RoomID) {
	c := textContent("m.notice", "This room is end-to-end encrypted. chatbridge does not support encryption: "+
		"messages here are not relayed to the visitor, and the visitor's messages are not shown here. "+
		"Answer this chat from another operator platform (the inbox).", "", nil)
	if _, err := a.client.SendMessageEvent(ctx, room, event.EventMessage, c); err != nil {
		a.log.Warn("matrix encryption notice not sent", "room", room, "err", err)
	}
}

// onMember keeps display names up to date.
func (a *Adapter) onMember(_ context.Context, evt *event.Event) error {
	m := evt.Content.AsMember()
	u := id.UserID(evt.GetStateKey())
	a.mu.Lock()
	defer a.mu.Unlock()
	if m.Membership == event.MembershipLeave || m.Membership == event.MembershipBan {
		delete(a.names[evt.RoomID], u)
		return nil
	}
	if m.Displayname == "" {
		return nil
	}
	if a.names[evt.RoomID] == nil {
		if len(a.names) > 10000 {
			clear(a.names)
		}
		a.names[evt.RoomID] = map[id.UserID]string{}
	}
	a.names[evt.RoomID][u] = m.Displayname
	return nil
}

// onTyping shows operators typing in a conversation's room to the visitor
// (unless Config.ForwardTyping is false).
func (a *Adapter) onTyping(ctx context.Context, evt *event.Event) error {
	if !a.cfg.forwardTyping() {
		return nil
	}
	var users []id.UserID
	for _, u := range evt.Content.AsTyping().UserIDs {
		if !a.ours(u) {
			users = append(users, u)
		}
	}
	if len(users) == 0 {
		return nil
	}
	conv, err := a.conversation(ctx, evt.RoomID)
	if err != nil || conv == "" {
		return err
	}
	for _, u := range users {
		if err := a.engine.Typing(ctx, conv, bridge.FromOperator, a.displayName(ctx, evt.RoomID, u)); err != nil {
			a.log.Debug("matrix typing not forwarded", "conversation", conv, "err", err)
		}
	}
	return nil
}

// displayName is the user's name in the room (member event), else their
// profile name, else the localpart. Names are cached.
func (a *Adapter) displayName(ctx context.Context, room id.RoomID, u id.UserID) string {
	a.mu.Lock()
	name := a.names[room][u]
	a.mu.Unlock()
	if name != "" {
		return name
	}
	var m event.MemberEventContent
	if err := a.client.StateEvent(ctx, room, event.StateMember, string(u), &m); err == nil && m.Displayname != "" {
		name = m.Displayname
	} else if p, err := a.client.GetDisplayName(ctx, u); err == nil && p.DisplayName != "" {
		name = p.DisplayName
	} else {
		name = u.Localpart()
	}
	a.mu.Lock()
	if a.names[room] == nil {
		a.names[room] = map[id.UserID]string{}
	}
	a.names[room][u] = name
	a.mu.Unlock()
	return name
}

// rememberThread records the thread an operator's event was typed in, so
// that the answer to it goes into the same thread.
func (a *Adapter) rememberThread(evt, root id.EventID) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.threads) >= maxThreads {
		clear(a.threads)
	}
	a.threads[evt] = root
}

// threadRoot is the root of the thread an answer to evt belongs in.
func (a *Adapter) threadRoot(evt id.EventID) id.EventID {
	a.mu.Lock()
	defer a.mu.Unlock()
	if root, ok := a.threads[evt]; ok {
		return root
	}
	return evt
}
