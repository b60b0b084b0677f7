package visitor

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/chatbridge/chatbridge/bridge"
)

// apiMessage is a message as the visitor sees it. It is built only from
// public messages and carries no operator-only fields (visibility,
// recipient, operator ids, platform ids).
type apiMessage struct {
	Seq    uint64      `json:"seq"`
	From   bridge.From `json:"from"`
	Author string      `json:"author"`
	Text   string      `json:"text"`
	At     time.Time   `json:"at"`
	// System says what a system line reports, so that the widget renders
	// it in the visitor's language (Text is English).
	System *bridge.SystemEvent `json:"system,omitempty"`
	// Emote marks an operator's action ("/me waves").
	Emote bool `json:"emote,omitempty"`
	// EditedAt is set on a message its author edited; Deleted on one they
	// deleted (its text is then empty). A client replaces its copy of the
	// message with the same seq.
	EditedAt time.Time `json:"edited_at,omitzero"`
	Deleted  bool      `json:"deleted,omitempty"`
	// File is the message's attachment (Text is then its caption), with
	// a signed link bound to this visitor.
	File *apiFile `json:"file,omitempty"`
}

// publicMessages converts msgs, messages of visitorID's conversations, for
// the visitor. It is the last gate before the wire: anything not
// bridge.VisibilityPublic is dropped here even though the engine already
// filters, and the drop is logged as the bug it would be. Files get links
// signed for visitorID (no link when the signing key cannot be read: the
// message still goes).
func (s *Server) publicMessages(ctx context.Context, visitorID string, msgs []bridge.Message) []apiMessage {
	out := make([]apiMessage, 0, len(msgs))
	var key []byte
	for _, m := range msgs {
		if m.Visibility != bridge.VisibilityPublic {
			s.log.Error("non-public message reached the visitor api; dropped", "conversation", m.ConversationID, "seq", m.Seq, "visibility", string(m.Visibility))
			continue
		}
		am := apiMessage{Seq: m.PublicSeq, From: m.From, Author: m.Author, Text: m.Text, At: m.At,
			System: m.System, Emote: m.Emote, EditedAt: m.EditedAt, Deleted: m.Deleted}
		if m.Deleted {
			am.Text = ""
		} else if m.File != nil {
			var link string
			if s.cfg.Blobs != nil {
				if key == nil {
					var err error
					if key, err = s.fileKey(ctx); err != nil {
						s.log.Error("file link not signed", "conversation", m.ConversationID, "err", err)
					}
				}
				if key != nil {
					link = s.fileURL(key, visitorID, m.ConversationID, m.PublicSeq)
				}
			}
			am.File = apiFileOf(m.File, link)
		}
		out = append(out, am)
	}
	return out
}

// messagesResponse is the answer to GET /api/v1/messages.
type messagesResponse struct {
	// ConversationID is the visitor's current (newest) conversation, ""
	// before the first message.
	ConversationID string `json:"conversation_id"`
	// Status is "open", "closed", or "none" before the first message.
	Status string `json:"status"`
	// Revision counts the changes the visitor could see in the
	// conversation; a client passes it back (revision=R) to get the
	// messages edited or deleted since, again.
	Revision uint64       `json:"revision"`
	Messages []apiMessage `json:"messages"`
}

func statusOf(c bridge.Conversation) string {
	if c.ID == "" {
		return "none"
	}
	return string(c.Status)
}

// handleGetMessages returns the public messages after seq `after` of the
// visitor's current conversation (query: after=N, wait=S seconds,
// conversation=ID). When conversation names an older conversation, the
// current one is returned from its start. With wait, the call blocks until a
// message arrives, the conversation closes, or the wait (capped at
// Config.LongPollMax) runs out. A long poll counts towards
// Config.MaxConnsPerIP and Config.MaxConnsPerVisitor like a stream; over
// either it is refused with a 429.
func (s *Server) handleGetMessages(w http.ResponseWriter, r *http.Request) {
	v, err := s.authenticate(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	q := r.URL.Query()
	after, err := parseAfter(q.Get("after"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var wait time.Duration
	if ws := q.Get("wait"); ws != "" {
		secs, err := strconv.ParseFloat(ws, 64)
		if err != nil || !(secs >= 0) { // also refuses NaN
			s.writeError(w, r, errBadRequest("wait must be a number of seconds"))
			return
		}
		wait = s.cfg.LongPollMax
		if secs < wait.Seconds() {
			wait = time.Duration(secs * float64(time.Second))
		}
	}
	convID := q.Get("conversation")
	if len(convID) > 64 {
		s.writeError(w, r, errBadRequest("conversation is not a conversation id"))
		return
	}
	var rev uint64
	if rs := q.Get("revision"); rs != "" {
		if rev, err = strconv.ParseUint(rs, 10, 64); err != nil {
			s.writeError(w, r, errBadRequest("revision must be a whole number"))
			return
		}
	}
	if wait > 0 {
		// A long poll holds a connection like a stream does.
		release, err := s.acquireLongPoll(r, v.ID)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		defer release()
	}
	view, err := s.waitMessages(r.Context(), v.ID, bridge.VisitorQuery{ConversationID: convID, After: after, Revision: rev}, wait)
	if err != nil {
		if r.Context().Err() != nil {
			return // the client went away
		}
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, messagesResponse{
		ConversationID: view.Conversation.ID,
		Status:         statusOf(view.Conversation),
		Revision:       view.Conversation.LastRevision,
		Messages:       s.publicMessages(r.Context(), v.ID, view.Messages),
	})
}

func parseAfter(s string) (uint64, error) {
	if s == "" {
		return 0, nil
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, errBadRequest("after must be a message seq (a whole number)")
	}
	return n, nil
}

// waitMessages reads the visitor's view and, when it has nothing new, waits
// up to wait for a hub wake-up and reads again. It subscribes before the
// first read, so a message committed between the read and the wait still
// wakes it.
func (s *Server) waitMessages(ctx context.Context, visitorID string, q bridge.VisitorQuery, wait time.Duration) (bridge.VisitorView, error) {
	var sub *bridge.Subscription
	if wait > 0 {
		sub = s.engine.Hub().SubscribeVisitor(visitorID)
		defer sub.Close()
	}
	view, err := s.engine.VisitorUpdates(ctx, visitorID, q)
	if err != nil || wait <= 0 || len(view.Messages) > 0 {
		return view, err
	}
	start := view.Conversation
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return view, ctx.Err()
		case <-s.ctx.Done():
			return view, nil
		case <-timer.C:
			return s.engine.VisitorUpdates(ctx, visitorID, q)
		case <-sub.C:
			// Re-read on any event: one dropped while the buffer was full
			// is covered by this read.
			view, err = s.engine.VisitorUpdates(ctx, visitorID, q)
			if err != nil || len(view.Messages) > 0 || view.Conversation.ID != start.ID || view.Conversation.Status != start.Status {
				return view, err
			}
		}
	}
}
