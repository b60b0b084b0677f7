package matrix

import (
	"context"
	"encoding/json"
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
// engine: text, notices and emotes, files (downloaded and stored), and
// edits of earlier messages. A message of someone who is not an operator,
// or of a kind that is not relayed, gets a notice instead. It returns an
// error only for failures that a retry can fix.
func (a *Adapter) onMessage(ctx context.Context, evt *event.Event) error {
	if a.ours(evt.Sender) {
		return nil // our own messages, cards, whispers and ghosts
	}
	if _, marked := evt.Content.Raw[fieldOperatorOnly]; marked {
		return nil
	}
	conv, err := a.conversation(ctx, evt.RoomID)
	if err != nil || conv == "" {
		return err
	}
	msg := evt.Content.AsMessage()
	in := a.input(ctx, conv, evt)
	if root := msg.RelatesTo.GetThreadParent(); root != "" {
		a.rememberThread(evt.ID, root)
	}
	if ok, err := a.isOperator(ctx, evt.RoomID, evt.Sender); err != nil || !ok {
		if err != nil {
			return err
		}
		return a.refuseNonOperator(ctx, in, msg.MsgType)
	}
	if msg.RelatesTo != nil && msg.RelatesTo.Type == event.RelReplace {
		return a.onEdit(ctx, in, msg)
	}
	switch msg.MsgType {
	case event.MsgText, event.MsgNotice, event.MsgEmote:
		msg.RemoveReplyFallback()
		text := msg.Body
		if msg.RelatesTo.GetReplyTo() != "" {
			text = event.TrimReplyFallbackText(text)
		}
		in.Text = a.mentionAsID(msg, text)
		in.Emote = msg.MsgType == event.MsgEmote
	case event.MsgImage, event.MsgFile, event.MsgVideo, event.MsgAudio:
		att, refused, err := a.ingest(ctx, msg)
		if err != nil {
			return fmt.Errorf("file of message %s: %w", evt.ID, err)
		}
		if refused != "" {
			return a.notice(ctx, in, refused)
		}
		in.File, in.Text = &att, strings.TrimSpace(msg.GetCaption())
	case event.MsgLocation:
		return a.notice(ctx, in, notRelayed("a location"))
	case event.MsgVerificationRequest:
		return nil // a client's key verification, not a message
	default:
		return a.notice(ctx, in, notRelayed(fmt.Sprintf("a message of type %q", msg.MsgType)))
	}
	return a.handle(ctx, in)
}

// input is the engine's view of an operator event in conv: its id (for
// de-duplication and, as PlatformID, for later edits and deletions that
// name it), the operator and the bot's mention.
func (a *Adapter) input(ctx context.Context, conv string, evt *event.Event) bridge.OperatorInput {
	op := bridge.Operator{Adapter: adapterName, ID: string(evt.Sender), Name: a.displayName(ctx, evt.RoomID, evt.Sender)}
	return bridge.OperatorInput{
		EventID: string(evt.ID), PlatformID: string(evt.ID), ConversationID: conv,
		Operator: op, Mention: string(a.bot),
	}
}

// onEdit hands an operator's edit (m.replace) to the engine: the new text
// is m.new_content's (not the "* " fallback body), and the edit names the
// original event, which is the PlatformID the reply was stored with. The
// engine refuses an edit into a command or a note and tells the operator
// when the visitor never saw the original.
func (a *Adapter) onEdit(ctx context.Context, in bridge.OperatorInput, msg *event.MessageEventContent) error {
	orig := msg.RelatesTo.EventID
	// Answers about the edit go under the original message.
	a.rememberThread(id.EventID(in.EventID), orig)
	nc := msg.NewContent
	if nc == nil {
		return a.notice(ctx, in, "Not edited for the visitor: the edit carries no new content (m.new_content).")
	}
	in.Edits = string(orig)
	switch nc.MsgType {
	case event.MsgText, event.MsgNotice, event.MsgEmote:
		in.Text = a.mentionAsID(nc, nc.Body)
	case event.MsgImage, event.MsgFile, event.MsgVideo, event.MsgAudio:
		in.Text = nc.GetCaption()
	default:
		return a.notice(ctx, in, fmt.Sprintf("Not edited for the visitor: chatbridge does not relay messages of type %q.", nc.MsgType))
	}
	return a.handle(ctx, in)
}

// onRedaction hands an operator's deletion of an earlier message to the
// engine (the engine tells the operator when the visitor never saw it).
func (a *Adapter) onRedaction(ctx context.Context, evt *event.Event) error {
	if a.ours(evt.Sender) {
		return nil
	}
	target := evt.Redacts
	if target == "" { // room version 11 puts it in the content
		if r := evt.Content.AsRedaction(); r != nil {
			target = r.Redacts
		}
	}
	if target == "" {
		return nil
	}
	conv, err := a.conversation(ctx, evt.RoomID)
	if err != nil || conv == "" {
		return err
	}
	if ok, err := a.isOperator(ctx, evt.RoomID, evt.Sender); err != nil || !ok {
		if err == nil {
			a.log.Debug("matrix redaction of a non-operator not relayed", "conversation", conv, "sender", evt.Sender, "event", evt.ID)
		}
		return err
	}
	in := a.input(ctx, conv, evt)
	in.Deletes = string(target)
	// A redaction cannot root a thread: answers about it are plain
	// notices that mention the operator.
	a.rememberThread(evt.ID, "")
	return a.handle(ctx, in)
}

// ignoredTypes are message events that need no word to the operator: the
// answers and ends of polls and calls whose start was already noticed, and
// what clients exchange among themselves.
var ignoredTypes = map[string]bool{
	"m.poll.response": true, "org.matrix.msc3381.poll.response": true,
	"m.poll.end": true, "org.matrix.msc3381.poll.end": true,
	"m.call.candidates": true, "m.call.answer": true, "m.call.hangup": true, "m.call.reject": true,
	"m.call.select_answer": true, "m.call.negotiate": true, "m.call.sdp_stream_metadata_changed": true,
	"m.key.verification.ready": true, "m.key.verification.start": true, "m.key.verification.cancel": true,
	"m.key.verification.accept": true, "m.key.verification.key": true, "m.key.verification.mac": true,
	"m.key.verification.done": true, "m.room.encrypted": true,
}

// otherNames name the message events that are not relayed, for the notice.
var otherNames = map[string]string{
	"m.sticker": "a sticker", "m.reaction": "a reaction",
	"m.poll.start": "a poll", "org.matrix.msc3381.poll.start": "a poll",
	"m.call.invite": "a call", "org.matrix.msc3672.beacon": "a live location",
	"m.beacon": "a live location",
}

// onOther answers an operator's message event that is not relayed
// (stickers, reactions, polls, calls, …) with a notice, once: nothing an
// operator sends into the room vanishes without a word.
func (a *Adapter) onOther(ctx context.Context, evt *event.Event) error {
	if a.ours(evt.Sender) || ignoredTypes[evt.Type.Type] || evt.StateKey != nil {
		return nil
	}
	conv, err := a.conversation(ctx, evt.RoomID)
	if err != nil || conv == "" {
		return err
	}
	if ok, err := a.isOperator(ctx, evt.RoomID, evt.Sender); err != nil || !ok {
		if err == nil && evt.Type.Type == event.EventSticker.Type {
			return a.refuseNonOperator(ctx, a.input(ctx, conv, evt), "")
		}
		if err == nil {
			a.log.Debug("matrix event of a non-operator not relayed", "conversation", conv, "sender", evt.Sender, "type", evt.Type.Type)
		}
		return err
	}
	what := otherNames[evt.Type.Type]
	if what == "" {
		what = fmt.Sprintf("an event of type %q", evt.Type.Type)
	}
	// Answers go under the related message (a reaction cannot root a
	// thread), or stand alone.
	var rel struct {
		RelatesTo *event.RelatesTo `json:"m.relates_to"`
	}
	_ = json.Unmarshal(evt.Content.VeryRaw, &rel)
	root := id.EventID("")
	if rel.RelatesTo != nil {
		root = rel.RelatesTo.EventID
		if p := rel.RelatesTo.GetThreadParent(); p != "" {
			root = p
		}
	}
	if rel.RelatesTo != nil || evt.Type.Type == "m.sticker" {
		a.rememberThread(evt.ID, root)
	}
	return a.notice(ctx, a.input(ctx, conv, evt), notRelayed(what))
}

// notRelayed is the notice about something an operator sent that is not
// carried to the visitor.
func notRelayed(what string) string {
	return "Not sent to the visitor: " + what + ". chatbridge relays text, /me actions, files, edits and deletions."
}

// notice shows text to the operator who caused the event in, once (a
// repeated event shows nothing again).
func (a *Adapter) notice(ctx context.Context, in bridge.OperatorInput, text string) error {
	err := a.engine.Notice(ctx, in, text)
	switch {
	case err == nil:
		return nil
	case permanent(err):
		a.log.Warn("matrix notice not shown", "conversation", in.ConversationID, "event", in.EventID, "err", err)
		return nil
	}
	return fmt.Errorf("notice about %s: %w", in.EventID, err)
}

// handle hands an operator event to the engine.
func (a *Adapter) handle(ctx context.Context, in bridge.OperatorInput) error {
	err := a.engine.HandleOperator(ctx, in)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, bridge.ErrInvalid):
		// Refused (too long, …): the operator must not believe the visitor
		// saw it.
		if err := a.engine.Whisper(ctx, in.ConversationID, in.Operator, "Not sent to the visitor: "+invalidReason(err), in.EventID); err != nil {
			return fmt.Errorf("tell operator about message %s: %w", in.EventID, err)
		}
		return nil
	case permanent(err):
		a.log.Warn("matrix message not handled", "conversation", in.ConversationID, "event", in.EventID, "err", err)
		return nil
	}
	return fmt.Errorf("handle operator message %s: %w", in.EventID, err)
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

// threadRoot is the root of the thread an answer to evt belongs in ("":
// no thread).
func (a *Adapter) threadRoot(evt id.EventID) id.EventID {
	a.mu.Lock()
	defer a.mu.Unlock()
	if root, ok := a.threads[evt]; ok {
		return root
	}
	return evt
}
