package matrix

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/chatbridge/chatbridge/bridge"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

// maxRetryAfter caps a homeserver's requested wait.
const maxRetryAfter = time.Hour

// Deliver shows an outbox entry in the conversation's room, creating the
// room (with the context card) first when the conversation has none. A
// repeated delivery does not repeat the message: every event is sent with
// a transaction id derived from the entry and names the entry in its
// content, and an entry whose earlier attempt may have succeeded is first
// looked for in the room (see resend.go).
func (a *Adapter) Deliver(ctx context.Context, d bridge.Delivery) (bridge.Receipt, error) {
	d.Message = bridge.Localize(d.Message, a.cfg.Language)
	switch d.Entry.Kind {
	case bridge.KindMessage, bridge.KindEdited, bridge.KindDeleted:
		if d.Message == nil || !a.WantsMessage(*d.Message) {
			return bridge.Receipt{}, nil
		}
	}
	if !a.uncertain(d.Entry) {
		a.setNotSent(d.Entry.ID) // until an attempt may have sent it
	}
	if err := a.deliver(ctx, d); err != nil {
		return bridge.Receipt{}, fmt.Errorf("matrix deliver: %w", err)
	}
	a.delivered(d.Entry.ID)
	return bridge.Receipt{}, nil
}

func (a *Adapter) deliver(ctx context.Context, d bridge.Delivery) error {
	room, step, err := a.roomAndWelcome(ctx, d.Conversation.ID)
	if err != nil {
		return err
	}
	kind := d.Entry.Kind
	switch {
	case room == "" && (kind == bridge.KindClosed || kind == bridge.KindEdited || kind == bridge.KindDeleted):
		return nil // never shown in Matrix: nothing to end or change
	case kind == bridge.KindClosed:
		defer a.forgetRoom(room)
	case room == "":
		if room, err = a.openRoom(ctx, d); err != nil {
			return err
		}
	case step == welcomeInvite || step == welcomeCard || step == "" && kind == bridge.KindOpened:
		// A retry after the room was recorded: the invitations or the
		// card are missing. (No step recorded: a room of an older
		// version, resumed as before on its KindOpened entry.)
		if err := a.welcome(ctx, room, d, step); err != nil {
			return err
		}
	}
	if err := a.checkEncryption(ctx, room); err != nil {
		return err
	}
	var c content
	switch kind {
	case bridge.KindMessage:
		return a.deliverMessage(ctx, room, d)
	case bridge.KindEdited:
		return a.deliverEdit(ctx, room, d)
	case bridge.KindDeleted:
		return a.deliverDeletion(ctx, room, d)
	case bridge.KindWaiting:
		c = mentionContent(a.ops, []string{"Waiting for an operator again: " + defang(d.Visitor.DisplayName()) + " has nobody following this chat."})
	case bridge.KindClosed:
		c = textContent("m.notice", "The chat has ended.", "", nil)
	default:
		return nil // KindOpened: the card is sent
	}
	_, err = a.sendOnce(ctx, a.client, room, event.EventMessage, c, d.Entry, d.Entry.EventID())
	return err
}

// deliverMessage shows a message in room: a visitor's (appservice mode:
// sent by the visitor's ghost), or a reply, note or system line from
// another platform; a file is uploaded and shown natively. The event is
// recorded for later edits and deletions, and a message recorded as shown
// is not shown again.
func (a *Adapter) deliverMessage(ctx context.Context, room id.RoomID, d bridge.Delivery) error {
	m := *d.Message
	if shown, err := a.sentEvent(ctx, m.ConversationID, m.Seq); err != nil || shown != "" {
		return err
	}
	cli := a.client
	ghost := a.as && m.From == bridge.FromVisitor
	var c content
	if ghost {
		g, err := a.ensureGhost(ctx, room, d.Visitor)
		if err != nil {
			return err
		}
		cli = g.client
		c = textContent("m.text", defang(m.Text), "", nil)
	} else {
		var ok bool
		if c, ok = messageContent(m); !ok {
			return nil
		}
	}
	if m.File != nil {
		var err error
		if c, err = a.fileContent(ctx, m, ghost); err != nil {
			return err
		}
	}
	evID, err := a.sendOnce(ctx, cli, room, event.EventMessage, c, d.Entry, d.Entry.EventID())
	if err != nil {
		return err
	}
	return a.recordSent(ctx, m.ConversationID, m.Seq, evID)
}

// deliverEdit shows an edit made on another platform: an m.replace of the
// event that showed the message, or, when none is recorded (a message
// shown by an older version), a notice with the new text.
func (a *Adapter) deliverEdit(ctx context.Context, room id.RoomID, d bridge.Delivery) error {
	m := *d.Message
	orig, err := a.sentEvent(ctx, m.ConversationID, m.Seq)
	if err != nil {
		return err
	}
	var c content
	switch {
	case m.Deleted:
		return nil // the deletion follows
	case orig == "":
		label := defang(operatorLabel(m))
		c = textContent("m.notice", label+" edited an earlier message: "+defang(m.Text), "", nil)
	default:
		nc, ok := messageContent(m)
		if !ok {
			return nil
		}
		if m.File != nil {
			if nc, err = a.fileContent(ctx, m, false); err != nil {
				return err
			}
		}
		c = editContent(nc, orig)
	}
	_, err = a.sendOnce(ctx, a.client, room, event.EventMessage, c, d.Entry, d.Entry.EventID())
	return err
}

// deliverDeletion redacts the event that showed a message deleted on
// another platform, or, when none is recorded, says so in a notice.
// Redacting twice (a repeated delivery) changes nothing.
func (a *Adapter) deliverDeletion(ctx context.Context, room id.RoomID, d bridge.Delivery) error {
	m := *d.Message
	orig, err := a.sentEvent(ctx, m.ConversationID, m.Seq)
	if err != nil {
		return err
	}
	label := defang(operatorLabel(m))
	if orig == "" {
		c := textContent("m.notice", label+" deleted an earlier message.", "", nil)
		_, err := a.sendOnce(ctx, a.client, room, event.EventMessage, c, d.Entry, d.Entry.EventID())
		return err
	}
	_, err = a.client.RedactEvent(ctx, room, orig, mautrix.ReqRedact{Reason: "deleted by " + label, TxnID: d.Entry.EventID()})
	if err != nil {
		return fmt.Errorf("redact %s in %s: %w", orig, room, a.wrap(err))
	}
	return nil
}

// Steps of a room's welcome, recorded in the store (namespace "matrix",
// key welcomeKey) so that a delivery interrupted half-way, whatever its
// kind, is resumed by the next one.
const (
	welcomeInvite = "invite" // the operators are to be invited
	welcomeCard   = "card"   // the context card is to be posted
	welcomeDone   = "done"
)

func welcomeKey(conv string) string { return "welcome/" + conv }

// roomAndWelcome returns the conversation's room ("" when it has none
// yet) and the step of its welcome ("" when none is recorded).
func (a *Adapter) roomAndWelcome(ctx context.Context, conv string) (id.RoomID, string, error) {
	ref, err := a.engine.Ref(ctx, adapterName, conv)
	var b []byte
	if err == nil {
		b, err = a.engine.AdapterState(ctx, adapterName, welcomeKey(conv))
	}
	if errors.Is(err, bridge.ErrNotFound) {
		err = nil
	}
	if err != nil {
		return "", "", fmt.Errorf("find room of %s: %w", conv, err)
	}
	return id.RoomID(ref), string(b), nil
}

// putWelcome records the step a room's welcome has reached. It is written
// even when ctx ends: what was done must not be done twice.
func (a *Adapter) putWelcome(ctx context.Context, conv, step string) error {
	err := a.engine.SaveAdapter(context.WithoutCancel(ctx), adapterName, bridge.AdapterChange{
		State: map[string][]byte{welcomeKey(conv): []byte(step)},
	})
	if err != nil {
		return fmt.Errorf("record welcome of %s: %w", conv, err)
	}
	return nil
}

// openRoom creates the conversation's room, records it, invites the
// operators and posts the context card. The room is recorded even when ctx
// ends right after its creation (a second room would be an orphan), with
// its welcome still to do: a retry finds both and resumes the welcome.
func (a *Adapter) openRoom(ctx context.Context, d bridge.Delivery) (id.RoomID, error) {
	conv := d.Conversation.ID
	resp, err := a.client.CreateRoom(ctx, &mautrix.ReqCreateRoom{
		Preset: "private_chat",
		Name:   roomName(a.cfg.RoomName, d.Visitor),
		Topic:  roomTopic(d.Visitor),
		InitialState: []*event.Event{{
			Type:     event.Type{Type: stateConversation, Class: event.StateEventType},
			StateKey: ptr(""),
			Content:  event.Content{Raw: map[string]any{"conversation_id": conv}},
		}},
	})
	if err != nil {
		return "", fmt.Errorf("create room: %w", a.wrap(err))
	}
	room := resp.RoomID
	err = a.engine.SaveAdapter(context.WithoutCancel(ctx), adapterName, bridge.AdapterChange{
		Refs:  map[string]string{conv: string(room)},
		State: map[string][]byte{welcomeKey(conv): []byte(welcomeInvite)},
	})
	if err != nil {
		return "", fmt.Errorf("record room %s: %w", room, err)
	}
	a.log.Info("matrix room created", "conversation", conv, "room", room)
	if err := a.welcome(ctx, room, d, welcomeInvite); err != nil {
		return "", err
	}
	return room, nil
}

// welcome invites the operators (and, in appservice mode, brings in the
// visitor's ghost) and posts the context card that mentions them, from
// step on, recording each step done. Each step may be repeated: refused
// invitations (already invited) are ignored, and the card's transaction id
// keeps it single.
func (a *Adapter) welcome(ctx context.Context, room id.RoomID, d bridge.Delivery, step string) error {
	if err := a.checkEncryption(ctx, room); err != nil {
		return err
	}
	conv := d.Conversation.ID
	if step != welcomeCard {
		if err := a.invite(ctx, room); err != nil {
			return err
		}
		if err := a.putWelcome(ctx, conv, welcomeCard); err != nil {
			return err
		}
	}
	if a.as {
		if _, err := a.ensureGhost(ctx, room, d.Visitor); err != nil {
			return err
		}
	}
	card := mentionContent(a.ops, cardLines(d.Visitor))
	card[fieldEntry] = cardKey(conv)
	if step == welcomeCard {
		// An earlier attempt may have posted the card: look first (the
		// homeserver may have forgotten the transaction id).
		scan, err := a.scan(ctx, room, time.Time{})
		if err != nil {
			return err
		}
		if _, found := scan.sent[cardKey(conv)]; found {
			return a.putWelcome(ctx, conv, welcomeDone)
		}
	}
	if err := a.send(ctx, room, card, "cb-matrix-card-"+conv); err != nil {
		return err
	}
	return a.putWelcome(ctx, conv, welcomeDone)
}

// invite invites the operators to room. Refusals (unknown user, already
// invited or joined) are logged: the others still get in.
func (a *Adapter) invite(ctx context.Context, room id.RoomID) error {
	for _, op := range a.ops {
		_, err := a.client.InviteUser(ctx, room, &mautrix.ReqInviteUser{UserID: op})
		var herr mautrix.HTTPError
		switch {
		case err == nil:
		case errors.As(err, &herr) && herr.RespError != nil && herr.RespError.ErrCode != mautrix.MLimitExceeded.ErrCode:
			// Unknown user, already invited, …: the others still get in.
			a.log.Warn("matrix invite refused", "room", room, "user", op, "err", err)
		default:
			return fmt.Errorf("invite %s: %w", op, a.wrap(err))
		}
	}
	return nil
}

// checkEncryption refuses encrypted rooms. Each room is looked at once per
// process; the sync loop notices rooms that become encrypted later.
func (a *Adapter) checkEncryption(ctx context.Context, room id.RoomID) error {
	a.mu.Lock()
	enc, checked := a.encrypted[room]
	a.mu.Unlock()
	if !checked {
		var c event.EncryptionEventContent
		err := a.client.StateEvent(ctx, room, event.StateEncryption, "", &c)
		switch {
		case err == nil:
			enc = true
		case errors.Is(err, mautrix.MNotFound):
			enc = false
		default:
			return fmt.Errorf("check encryption of %s: %w", room, a.wrap(err))
		}
		a.mu.Lock()
		a.setEncrypted(room, enc)
		a.mu.Unlock()
		if enc {
			a.log.Error("matrix room is encrypted: conversation not bridged", "room", room)
			a.sayEncrypted(ctx, room)
		}
	}
	if enc {
		return fmt.Errorf("%s: %w: %w", room, ErrEncrypted, bridge.ErrPermanent)
	}
	return nil
}

// maxRooms bounds the rooms whose encryption is remembered.
const maxRooms = 4096

// setEncrypted remembers whether room is encrypted (a.mu held). When the
// memory is full, unencrypted rooms are forgotten first: looking at one
// again costs a request.
func (a *Adapter) setEncrypted(room id.RoomID, enc bool) {
	if _, ok := a.encrypted[room]; !ok && len(a.encrypted) >= maxRooms {
		maps.DeleteFunc(a.encrypted, func(_ id.RoomID, enc bool) bool { return !enc })
		if len(a.encrypted) >= maxRooms {
			clear(a.encrypted)
		}
	}
	a.encrypted[room] = enc
}

// forgetRoom drops what is remembered about a room whose conversation
// ended.
func (a *Adapter) forgetRoom(room id.RoomID) {
	a.mu.Lock()
	delete(a.encrypted, room)
	delete(a.names, room)
	delete(a.levels, room)
	delete(a.scans, room)
	a.mu.Unlock()
}

// encryptedOpen returns the encrypted rooms of open conversations, sorted,
// and forgets the encrypted rooms of the others.
func (a *Adapter) encryptedOpen(ctx context.Context) ([]string, error) {
	a.mu.Lock()
	var rooms []id.RoomID
	for room, enc := range a.encrypted {
		if enc {
			rooms = append(rooms, room)
		}
	}
	a.mu.Unlock()
	if len(rooms) == 0 {
		return nil, nil
	}
	var open []string
	var ended []id.RoomID
	err := func() error {
		open, ended = nil, nil
		for _, room := range rooms {
			conv, err := a.engine.ConversationByRef(ctx, adapterName, string(room))
			var c bridge.Conversation
			if err == nil {
				c, err = a.engine.Conversation(ctx, conv)
			}
			switch {
			case errors.Is(err, bridge.ErrNotFound):
				ended = append(ended, room)
			case err != nil:
				return err
			case c.Status == bridge.StatusOpen:
				open = append(open, string(room))
			default:
				ended = append(ended, room)
			}
		}
		return nil
	}()
	if err != nil {
		return nil, fmt.Errorf("find conversations of encrypted rooms: %w", err)
	}
	for _, room := range ended {
		a.forgetRoom(room)
	}
	slices.Sort(open)
	return open, nil
}

// send posts an m.room.message with a transaction id.
func (a *Adapter) send(ctx context.Context, room id.RoomID, c content, txnID string) error {
	_, err := a.client.SendMessageEvent(ctx, room, event.EventMessage, c, mautrix.ReqSendEvent{TransactionID: txnID})
	if err != nil {
		return fmt.Errorf("send to %s: %w", room, a.wrap(err))
	}
	return nil
}

// Whisper shows command output to the operator who typed the command: an
// m.notice in a thread under the command that mentions the operator and is
// marked "org.chatbridge.operator_only".
func (a *Adapter) Whisper(ctx context.Context, w bridge.Whisper) error {
	room, err := a.room(ctx, w.Conversation.ID)
	if err != nil {
		return fmt.Errorf("matrix whisper: %w", err)
	}
	if room == "" {
		return fmt.Errorf("matrix whisper: conversation %s has no room: %w", w.Conversation.ID, bridge.ErrNotFound)
	}
	if err := a.checkEncryption(ctx, room); err != nil {
		return fmt.Errorf("matrix whisper: %w", err)
	}
	cmd := id.EventID(w.InReplyTo)
	var root id.EventID
	if cmd != "" {
		root = a.threadRoot(cmd)
	}
	c := whisperContent(w.Text, id.UserID(w.Operator.ID), root, cmd)
	if _, err := a.client.SendMessageEvent(ctx, room, event.EventMessage, c); err != nil {
		return fmt.Errorf("matrix whisper: %w", a.wrap(err))
	}
	return nil
}

// wrap turns a homeserver's 429 into a bridge.RetryAfterError and refusals
// that cannot pass on retry (forbidden, unknown room) into permanent errors.
func (a *Adapter) wrap(err error) error {
	var herr mautrix.HTTPError
	if !errors.As(err, &herr) || herr.Response == nil {
		return err
	}
	switch status := herr.Response.StatusCode; {
	case status == http.StatusTooManyRequests:
		return &bridge.RetryAfterError{After: retryAfter(herr), Err: err}
	case status == http.StatusUnauthorized:
		return err // a bad token: retried until a person fixes it (Health says)
	case status >= 400 && status < 500 && status != http.StatusRequestTimeout:
		return fmt.Errorf("%w: %w", bridge.ErrPermanent, err)
	}
	return err
}

// retryAfter reads how long the homeserver asks to wait (Retry-After, or
// retry_after_ms in the error body); 0 lets the outbox back off by itself.
func retryAfter(herr mautrix.HTTPError) time.Duration {
	var d time.Duration
	if s, err := strconv.Atoi(herr.Response.Header.Get("Retry-After")); err == nil && s > 0 {
		d = time.Duration(s) * time.Second
	} else if herr.RespError != nil {
		if ms, ok := herr.RespError.ExtraData["retry_after_ms"].(float64); ok && ms > 0 {
			d = time.Duration(ms) * time.Millisecond
		}
	}
	return min(d, maxRetryAfter)
}

func ptr[T any](v T) *T { return &v }
