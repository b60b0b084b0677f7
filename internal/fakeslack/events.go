package fakeslack

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/coder/websocket"
)

// Say posts text as user into channel (in the thread threadTS, or top
// level when it is ""), sends its message event over Socket Mode, and
// returns the message's timestamp. The event waits for a Socket Mode
// connection if none is open.
func (s *Server) Say(channel, threadTS, user, text string) string {
	ts, _ := s.SayEvent(UserMessage{Channel: channel, ThreadTS: threadTS, User: user, Text: text})
	return ts
}

// SayEvent is Say with an event id of the caller's choice; it also returns
// the envelope id, for Acked.
func (s *Server) SayEvent(u UserMessage) (ts, envelope string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.userMessage(u)
	return m.TS, s.queueEvent(s.messageEvent(m), u.EventID)
}

// userMessage stores a user's message; s.mu must be held.
func (s *Server) userMessage(u UserMessage) *message {
	m := &message{Channel: u.Channel, TS: s.nextTS(), ThreadTS: u.ThreadTS, User: u.User, Text: u.Text}
	m.ClientMsgID = "cm-" + m.TS
	s.msgs = append(s.msgs, m)
	return m
}

// messageEvent is the message event of m; s.mu must be held.
func (s *Server) messageEvent(m *message) map[string]any {
	ev := s.messageJSON(m, false)
	ev["channel"], ev["channel_type"], ev["event_ts"] = m.Channel, channelType(m.Channel), m.TS
	return ev
}

// ShareFile posts files as user with text, as Slack delivers a file
// shared in a channel or thread: a message event with subtype file_share
// and the files' objects in files[] (url_private needs the bot token), and,
// after SetFileSharedEvents, a file_shared event per file. It returns the
// message's timestamp and the envelope id of the message event.
func (s *Server) ShareFile(u UserMessage, uploads ...Upload) (ts, envelope string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.userMessage(u)
	m.Subtype = "file_share"
	for _, up := range uploads {
		f := s.newFile(up.Name, u.User, len(up.Data))
		f.Data, f.Uploaded, f.Completed = append([]byte(nil), up.Data...), true, true
		f.Mimetype = http.DetectContentType(up.Data)
		if up.Title != "" {
			f.Title = up.Title
		}
		f.Shares = append(f.Shares, Share{Channel: m.Channel, TS: m.TS, ThreadTS: m.ThreadTS})
		m.Files = append(m.Files, f.ID)
	}
	envelope = s.queueEvent(s.messageEvent(m), u.EventID)
	if s.fileEvent {
		for _, id := range m.Files {
			s.queueEvent(map[string]any{"type": "file_shared", "channel_id": m.Channel, "file_id": id, "user_id": u.User,
				"file": map[string]any{"id": id}, "event_ts": m.TS}, "")
		}
	}
	return m.TS, envelope
}

// Edit changes the text of a user's message as its author and sends
// message_changed, as Slack documents it: message is the new message with
// edited {user, ts}, previous_message the old one. It returns the envelope
// id ("" when there is no such message).
func (s *Server) Edit(channel, ts, text string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.find(channel, ts)
	if m == nil {
		s.t.Errorf("fakeslack: edit of an unknown message %s:%s", channel, ts)
		return ""
	}
	prev := s.messageJSON(m, false)
	now := s.nextTS()
	m.Text, m.EditedBy, m.EditedTS = text, m.User, now
	return s.queueEvent(map[string]any{"type": "message", "subtype": "message_changed", "hidden": true, "channel": channel,
		"channel_type": channelType(channel), "ts": now, "event_ts": now, "message": s.messageJSON(m, false), "previous_message": prev}, "")
}

// Unfurl adds a link preview to a message and sends the message_changed
// Slack sends for it: the text is the same and message has no edited.
func (s *Server) Unfurl(channel, ts string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.find(channel, ts)
	if m == nil {
		s.t.Errorf("fakeslack: unfurl of an unknown message %s:%s", channel, ts)
		return ""
	}
	prev := s.messageJSON(m, false)
	m.Attachments = append(m.Attachments, map[string]any{"from_url": "https://example.com/", "title": "Example", "id": len(m.Attachments) + 1})
	now := s.nextTS()
	return s.queueEvent(map[string]any{"type": "message", "subtype": "message_changed", "hidden": true, "channel": channel,
		"channel_type": channelType(channel), "ts": now, "event_ts": now, "message": s.messageJSON(m, false), "previous_message": prev}, "")
}

// Delete deletes a user's message and sends message_deleted, as Slack
// documents it (deleted_ts, previous_message). It returns the envelope id.
func (s *Server) Delete(channel, ts string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.find(channel, ts)
	if m == nil {
		s.t.Errorf("fakeslack: delete of an unknown message %s:%s", channel, ts)
		return ""
	}
	return s.remove(m)
}

// Inject sends any event (the "event" of an events_api envelope) over
// Socket Mode and returns the envelope id, for Acked.
func (s *Server) Inject(event map[string]any) string {
	return s.InjectID(event, "")
}

// InjectID is Inject with the envelope's event_id ("" for a new one).
func (s *Server) InjectID(event map[string]any, eventID string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.queueEvent(event, eventID)
}

// Redeliver sends the event of an earlier envelope again, with the same
// event_id in a new envelope, as Slack retries an event, and returns the
// new envelope id.
func (s *Server) Redeliver(envelope string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	payload, ok := s.envelopes[envelope]
	if !ok {
		s.t.Errorf("fakeslack: redeliver of an unknown envelope %s", envelope)
		return ""
	}
	s.envSeq++
	env := fmt.Sprintf("env-%d", s.envSeq)
	s.frame(env, payload, 1)
	return env
}

// SendRaw sends a raw Socket Mode frame (a disconnect request).
func (s *Server) SendRaw(frame []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pending = append(s.pending, append([]byte(nil), frame...))
	s.poke()
}

// queueEvent queues an events_api envelope and returns its id; s.mu must
// be held.
func (s *Server) queueEvent(inner map[string]any, eventID string) string {
	s.envSeq++
	env := fmt.Sprintf("env-%d", s.envSeq)
	if eventID == "" {
		eventID = fmt.Sprintf("Ev%06d", s.envSeq)
	}
	payload, err := json.Marshal(map[string]any{
		"token": "verification", "team_id": TeamID, "api_app_id": AppID, "type": "event_callback",
		"event_id": eventID, "event_time": time.Now().Unix(), "event": inner,
		"authorizations":        []any{map[string]any{"team_id": TeamID, "user_id": BotUserID, "is_bot": true, "is_enterprise_install": false}},
		"is_ext_shared_channel": false, "event_context": "4-" + eventID,
	})
	if err != nil {
		s.t.Errorf("fakeslack: encode event: %v", err)
		return env
	}
	s.envelopes[env] = payload
	s.frame(env, payload, 0)
	return env
}

// frame queues an envelope of payload; s.mu must be held.
func (s *Server) frame(env string, payload []byte, retry int) {
	b, err := json.Marshal(map[string]any{
		"envelope_id": env, "type": "events_api", "accepts_response_payload": false,
		"retry_attempt": retry, "retry_reason": map[bool]string{true: "timeout", false: ""}[retry > 0],
		"payload": json.RawMessage(payload),
	})
	if err != nil {
		s.t.Errorf("fakeslack: encode envelope: %v", err)
		return
	}
	s.pending = append(s.pending, b)
	s.poke()
}

// poke wakes the Socket Mode connection to send pending frames.
func (s *Server) poke() {
	select {
	case s.notify <- struct{}{}:
	default:
	}
}

// takePending returns and clears the pending frames.
func (s *Server) takePending() [][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.pending
	s.pending = nil
	return p
}

// socket serves one Socket Mode connection: hello, then pending frames
// and pings; acks are recorded.
func (s *Server) socket(w http.ResponseWriter, r *http.Request) {
	c, err := websocket.Accept(w, r, &websocket.AcceptOptions{InsecureSkipVerify: true})
	if err != nil {
		return
	}
	defer c.CloseNow()
	c.SetReadLimit(1 << 20)
	s.mu.Lock()
	s.conns++
	s.mu.Unlock()
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	go func() {
		defer cancel()
		for {
			_, b, err := c.Read(ctx)
			if err != nil {
				return
			}
			var ack struct {
				EnvelopeID string `json:"envelope_id"`
			}
			if json.Unmarshal(b, &ack) == nil && ack.EnvelopeID != "" {
				s.mu.Lock()
				s.acks[ack.EnvelopeID] = true
				s.mu.Unlock()
			}
		}
	}()
	hello := `{"type":"hello","num_connections":1,"connection_info":{"app_id":"` + AppID + `"},"debug_info":{"host":"fake","approximate_connection_time":3600}}`
	if err := c.Write(ctx, websocket.MessageText, []byte(hello)); err != nil {
		return
	}
	ping := time.NewTicker(200 * time.Millisecond) // slack-go drops a connection without pings
	defer ping.Stop()
	s.poke() // frames queued before this connection
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.done:
			return
		case <-ping.C:
			pctx, pcancel := context.WithTimeout(ctx, time.Second)
			err := c.Ping(pctx)
			pcancel()
			if err != nil {
				return
			}
		case <-s.notify:
			frames := s.takePending()
			for i, b := range frames {
				if err := c.Write(ctx, websocket.MessageText, b); err != nil {
					s.requeue(frames[i:])
					return
				}
				if bytes.HasPrefix(b, []byte(`{"type":"disconnect"`)) {
					// Slack sends nothing more on a connection it asked
					// to replace: the rest goes to the next one.
					s.requeue(frames[i+1:])
					return
				}
			}
		}
	}
}

// requeue puts frames a closing connection could not send back in front.
func (s *Server) requeue(frames [][]byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pending = append(frames, s.pending...)
	s.poke()
}
