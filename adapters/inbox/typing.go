package inbox

import (
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/chatbridge/chatbridge/bridge"
)

// Operator typing indicator limits.
const (
	// typingEvery is the least time between two typing events one operator
	// publishes for one conversation; calls in between are dropped silently.
	// The page sends at most one call per typingEvery too.
	typingEvery = 2 * time.Second
	// maxTypingTracked bounds the (operator, conversation) pairs remembered.
	// Entries live typingEvery; when the table is full of live entries,
	// further calls are dropped (the indicator is best effort).
	maxTypingTracked = 10_000
)

// typingGate lets one typing event per operator and conversation through
// every typingEvery.
type typingGate struct {
	mu   sync.Mutex
	last map[typingKey]time.Time
}

type typingKey struct{ login, conv string }

func newTypingGate() *typingGate { return &typingGate{last: map[typingKey]time.Time{}} }

// allow reports whether login may publish a typing event for conv at now,
// and if so records it.
func (g *typingGate) allow(login, conv string, now time.Time) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	k := typingKey{login, conv}
	if t, ok := g.last[k]; ok {
		if d := now.Sub(t); d >= 0 && d < typingEvery {
			return false
		}
	} else if len(g.last) >= maxTypingTracked {
		g.purgeLocked(now)
		if len(g.last) >= maxTypingTracked {
			return false
		}
	}
	g.last[k] = now
	return true
}

// purge forgets the entries that no longer hold anything back.
func (g *typingGate) purge(now time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.purgeLocked(now)
}

func (g *typingGate) purgeLocked(now time.Time) {
	for k, t := range g.last {
		if d := now.Sub(t); d < 0 || d >= typingEvery {
			delete(g.last, k)
		}
	}
}

// typing answers POST /inbox/c/{id}/typing: the operator is typing a reply,
// so the visitor's widget shows "<operator name> is typing…". The call
// carries no text: the page does not call it while the text is a command, a
// note or a canned shortcut. It answers 204 whether or not an event was
// published (closed conversation, or coalesced: at most one event per
// operator and conversation every typingEvery), 404 for an unknown
// conversation, and JSON errors otherwise.
func (in *Inbox) typing(w http.ResponseWriter, r *http.Request, ss *session) {
	r.Body = http.MaxBytesReader(w, r.Body, 8<<10)
	if err := r.ParseForm(); err != nil {
		writeJSONError(w, http.StatusBadRequest, "bad form")
		return
	}
	if !in.checkCSRF(r, ss) {
		writeJSONError(w, http.StatusForbidden, "invalid or missing CSRF token; reload the page")
		return
	}
	convID := r.PathValue("id")
	conv, err := in.engine.Conversation(r.Context(), convID)
	if errors.Is(err, bridge.ErrNotFound) {
		writeJSONError(w, http.StatusNotFound, "no such conversation")
		return
	}
	if err != nil {
		in.log.Error("typing: load conversation", "conversation", convID, "err", err)
		writeJSONError(w, http.StatusInternalServerError, "internal error")
		return
	}
	if conv.Status == bridge.StatusOpen && in.typingGate.allow(ss.op.Login, convID, in.now()) {
		op := operator(ss.op)
		if err := in.engine.Typing(r.Context(), convID, bridge.FromOperator, op.Name); err != nil {
			in.log.Error("operator typing failed", "conversation", convID, "operator", op.ID, "err", err)
			writeJSONError(w, http.StatusInternalServerError, "internal error")
			return
		}
	}
	w.WriteHeader(http.StatusNoContent)
}
