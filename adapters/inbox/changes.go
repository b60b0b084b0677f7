package inbox

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/chatbridge/chatbridge/bridge"
)

// Operators edit and delete their own replies sent from the inbox: POST
// /inbox/c/{id}/edit (seq, text) and /inbox/c/{id}/delete (seq), each with
// the csrf token and a fresh event_id. Both go through
// bridge.Engine.HandleOperator naming the reply by its platform id
// ("login/event", set when it was sent), so the visitor's copy changes live
// and the other platforms are told; an edit whose new text is a command or
// a note is refused by the engine with a whisper, and the original stays.
// The engine does not check who edits a reply (the platforms it serves
// only let authors edit), so the inbox does: only the reply's author may.

// editMessage answers POST /inbox/c/{id}/edit.
func (in *Inbox) editMessage(w http.ResponseWriter, r *http.Request, ss *session) {
	in.change(w, r, ss, true)
}

// deleteMessage answers POST /inbox/c/{id}/delete.
func (in *Inbox) deleteMessage(w http.ResponseWriter, r *http.Request, ss *session) {
	in.change(w, r, ss, false)
}

func (in *Inbox) change(w http.ResponseWriter, r *http.Request, ss *session, edit bool) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		writeJSONError(w, http.StatusBadRequest, "bad form")
		return
	}
	if !in.checkCSRF(r, ss) {
		writeJSONError(w, http.StatusForbidden, "invalid or missing CSRF token; reload the page")
		return
	}
	convID, eventID, text := r.PathValue("id"), r.PostFormValue("event_id"), r.PostFormValue("text")
	seq, err := strconv.ParseUint(r.PostFormValue("seq"), 10, 64)
	if !validEventID(eventID) || err != nil || seq == 0 {
		writeJSONError(w, http.StatusBadRequest, "The form is out of date; reload the page.")
		return
	}
	if edit && strings.TrimSpace(text) == "" {
		writeJSONError(w, http.StatusBadRequest, "Type the new text, or delete the message.")
		return
	}
	if max := in.engine.MaxMessageBytes(); len(text) > max {
		writeJSONError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("The message is too long: %d bytes, the limit is %d.", len(text), max))
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), replyTimeout)
	defer cancel()
	op := operator(ss.op)
	msgs, err := in.engine.Messages(ctx, convID, seq-1, 1)
	if err != nil && !errors.Is(err, bridge.ErrNotFound) && !errors.Is(err, bridge.ErrInvalid) {
		in.log.Error("read message to change", "conversation", convID, "err", err)
		writeJSONError(w, http.StatusInternalServerError, "That did not work; try again.")
		return
	}
	if len(msgs) != 1 || msgs[0].Seq != seq {
		writeJSONError(w, http.StatusNotFound, "No such message.")
		return
	}
	if !in.messageView(msgs[0], op).Editable {
		writeJSONError(w, http.StatusForbidden, "You can only edit or delete your own replies sent from the inbox.")
		return
	}
	id := ss.op.Login + "/" + eventID
	input := bridge.OperatorInput{EventID: id, PlatformID: id, ConversationID: convID, Operator: op}
	if edit {
		input.Edits, input.Text = msgs[0].PlatformID, text
	} else {
		input.Deletes = msgs[0].PlatformID
	}
	if err := in.engine.HandleOperator(ctx, input); err != nil {
		in.log.Error("operator change failed", "conversation", convID, "operator", ss.op.Login, "err", err)
		writeJSONError(w, http.StatusInternalServerError, "That did not work; try again.")
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
