package inbox

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/chatbridge/chatbridge/bridge"
)

// Live stream timing.
const (
	pingEvery    = 25 * time.Second
	writeTimeout = 15 * time.Second
)

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeJSONError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}

// apiList answers GET /inbox/api/conversations?status=open|closed.
func (in *Inbox) apiList(w http.ResponseWriter, r *http.Request, ss *session) {
	items, err := in.list(r.Context(), operator(ss.op), statusFilter(r))
	if err != nil {
		in.log.Error("list conversations", "err", err)
		writeJSONError(w, http.StatusInternalServerError, "internal error")
		return
	}
	if items == nil {
		items = []listItem{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"conversations": items})
}

// apiConversation answers GET /inbox/api/conversations/{id}?after=N&revision=R
// with the conversation, the visitor's context and the messages after N that
// this operator may see (and those edited or deleted since revision R), and
// marks them viewed.
func (in *Inbox) apiConversation(w http.ResponseWriter, r *http.Request, ss *session) {
	var after, rev uint64
	for name, p := range map[string]*uint64{"after": &after, "revision": &rev} {
		if s := r.URL.Query().Get(name); s != "" {
			n, err := strconv.ParseUint(s, 10, 64)
			if err != nil {
				writeJSONError(w, http.StatusBadRequest, name+" must be a whole number")
				return
			}
			*p = n
		}
	}
	cv, err := in.conversation(r.Context(), operator(ss.op), r.PathValue("id"), after, rev)
	if errors.Is(err, bridge.ErrNotFound) {
		writeJSONError(w, http.StatusNotFound, "no such conversation")
		return
	}
	if err != nil {
		in.log.Error("load conversation", "conversation", r.PathValue("id"), "err", err)
		writeJSONError(w, http.StatusInternalServerError, "internal error")
		return
	}
	writeJSON(w, http.StatusOK, cv)
}

// liveEvent is what the stream tells the page: something changed, re-read
// (or, for typing, who is typing: From only, never any text).
type liveEvent struct {
	Kind           bridge.EventKind `json:"kind"`
	ConversationID string           `json:"conversation_id,omitempty"`
	VisitorID      string           `json:"visitor_id,omitempty"`
	Seq            uint64           `json:"seq,omitempty"`
	From           bridge.From      `json:"from,omitempty"`
}

// forOperator reports whether op's page should hear about ev: whispers only
// reach their recipient, typing only comes from visitors.
func forOperator(ev bridge.Event, op bridge.Operator) bool {
	switch {
	case ev.Kind == bridge.EventMessage && ev.Visibility == bridge.VisibilityWhisper:
		return ev.Recipient == op.Key()
	case ev.Kind == bridge.EventTyping:
		return ev.From == bridge.FromVisitor
	}
	return true
}

// events streams change notifications as Server-Sent Events until the page
// goes away, the session ends or the inbox stops (Run returned). The
// events carry no message text: the page fetches what changed from the API,
// which applies the visibility rules.
func (in *Inbox) events(w http.ResponseWriter, r *http.Request, ss *session) {
	rc := http.NewResponseController(w)
	op := operator(ss.op)
	sub := in.engine.Hub().SubscribeAll()
	defer sub.Close()

	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	write := func(b []byte) bool {
		_ = rc.SetWriteDeadline(time.Now().Add(writeTimeout))
		if _, err := w.Write(b); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	if !write([]byte("retry: 2000\n: connected\n\n")) {
		return
	}
	ping := time.NewTicker(pingEvery)
	defer ping.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-in.done:
			return
		case <-ping.C:
			if in.sessions.get(r.Context(), ss.id, in.now()) == nil || !write([]byte(": ping\n\n")) {
				return
			}
		case ev := <-sub.C:
			if !forOperator(ev, op) {
				continue
			}
			if in.sessions.get(r.Context(), ss.id, in.now()) == nil {
				return
			}
			b, err := json.Marshal(liveEvent{Kind: ev.Kind, ConversationID: ev.ConversationID, VisitorID: ev.VisitorID, Seq: ev.Seq, From: ev.From})
			if err != nil {
				continue
			}
			msg := make([]byte, 0, len(b)+8)
			msg = append(append(append(msg, "data: "...), b...), "\n\n"...)
			if !write(msg) {
				return
			}
		}
	}
}
