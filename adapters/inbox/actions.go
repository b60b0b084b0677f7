package inbox

import (
	"context"
	"errors"
	"net/http"
	"net/url"

	"github.com/chatbridge/chatbridge/bridge"
)

// Whispers the inbox stores for the operator who pressed Leave.
const (
	leftWhisper         = "You left this conversation."
	leftWaitingWhisper  = leftWhisper + " No operator follows it now: it is waiting for an operator again."
	notFollowingWhisper = "You are not following this conversation; nothing changed."
)

// closeConversation answers POST /inbox/c/{id}/close (the "Close chat"
// button): the conversation ends for both sides and the visitor sees the
// closing line. Closing a closed conversation changes nothing and succeeds.
// Scripts (Accept: application/json) get 204; plain forms are sent back to
// the conversation.
func (in *Inbox) closeConversation(w http.ResponseWriter, r *http.Request, ss *session) {
	convID, ok := in.checkAction(w, r, ss)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), replyTimeout)
	defer cancel()
	if err := in.engine.Close(ctx, convID, operator(ss.op)); err != nil {
		in.actionFailed(w, r, "close", convID, ss, err)
		return
	}
	in.log.Info("conversation closed", "conversation", convID, "operator", ss.op.Login)
	in.actionDone(w, r, convID)
}

// leaveConversation answers POST /inbox/c/{id}/leave (the "Leave" button):
// the operator stops following the conversation; the visitor is not told.
// When nobody follows it any more the engine announces it as waiting again.
// The operator gets a whisper saying what happened (as !leave does).
func (in *Inbox) leaveConversation(w http.ResponseWriter, r *http.Request, ss *session) {
	convID, ok := in.checkAction(w, r, ss)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), replyTimeout)
	defer cancel()
	op := operator(ss.op)
	conv, err := in.engine.Conversation(ctx, convID)
	if err != nil {
		in.actionFailed(w, r, "leave", convID, ss, err)
		return
	}
	text := notFollowingWhisper
	// Leaving a conversation one does not follow would announce it as
	// waiting again for nothing.
	if conv.HasOperator(op) {
		still, err := in.engine.Leave(ctx, convID, op)
		if err != nil {
			in.actionFailed(w, r, "leave", convID, ss, err)
			return
		}
		text = leftWhisper
		if !still && conv.Status == bridge.StatusOpen {
			text = leftWaitingWhisper
		}
		in.log.Info("operator left conversation", "conversation", convID, "operator", ss.op.Login)
	}
	if err := in.engine.Whisper(ctx, convID, op, text, ""); err != nil {
		// The leave itself happened: say so in the log, answer success.
		in.log.Warn("leave: whisper not stored", "conversation", convID, "operator", ss.op.Login, "err", err)
	}
	in.actionDone(w, r, convID)
}

// checkAction reads a conversation action's form and checks its CSRF token
// and origin; on failure it has answered.
func (in *Inbox) checkAction(w http.ResponseWriter, r *http.Request, ss *session) (string, bool) {
	r.Body = http.MaxBytesReader(w, r.Body, 8<<10)
	if err := r.ParseForm(); err != nil {
		writeJSONError(w, http.StatusBadRequest, "bad form")
		return "", false
	}
	if !in.checkCSRF(r, ss) {
		writeJSONError(w, http.StatusForbidden, "invalid or missing CSRF token; reload the page")
		return "", false
	}
	return r.PathValue("id"), true
}

// actionFailed answers a failed conversation action: 404 for an unknown
// conversation, 500 (logged) otherwise; JSON for scripts, the page with the
// error for plain forms.
func (in *Inbox) actionFailed(w http.ResponseWriter, r *http.Request, action, convID string, ss *session, err error) {
	status, msg := http.StatusInternalServerError, "That did not work; try again."
	if errors.Is(err, bridge.ErrNotFound) {
		status, msg = http.StatusNotFound, "No such conversation."
	} else {
		in.log.Error("conversation action failed", "action", action, "conversation", convID, "operator", ss.op.Login, "err", err)
	}
	if wantsJSON(r) {
		writeJSONError(w, status, msg)
		return
	}
	if status == http.StatusNotFound {
		http.Error(w, "no such conversation", status)
		return
	}
	in.showPage(w, r, ss, status, convID, msg, "")
}

// actionDone answers a successful conversation action: 204 for scripts, a
// redirect to the conversation (keeping the list filter) for plain forms.
func (in *Inbox) actionDone(w http.ResponseWriter, r *http.Request, convID string) {
	if wantsJSON(r) {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	target := "/inbox/c/" + url.PathEscape(convID)
	if statusFilter(r) == bridge.StatusClosed {
		target += "?status=closed"
	}
	http.Redirect(w, r, target, http.StatusSeeOther)
}
