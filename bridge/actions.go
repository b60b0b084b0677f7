package bridge

import (
	"errors"
	"fmt"
	"strings"
)

// Action is a change of state an Interceptor asks for in its Outcome. The
// engine carries it out in the same commit as the operator's message (its
// de-duplication record, note, reply and whisper), so that a platform's
// retry never repeats it and a failed commit leaves nothing. Actions are
// built with the functions below; what an action returns is shown to the
// operator.
type Action interface {
	act(t *txn, c *Conversation, op Operator) (say string, err error)
}

type actionFunc func(t *txn, c *Conversation, op Operator) (string, error)

func (f actionFunc) act(t *txn, c *Conversation, op Operator) (string, error) { return f(t, c, op) }

// sayNothing is the default of optional say functions.
func sayNothing[T any](T) string { return "" }

// CreateTicketAction creates tk (numbered, stamped and sent to the sinks);
// say renders what the operator is told, with the ticket's number.
func CreateTicketAction(tk Ticket, say func(Ticket) string) Action {
	if say == nil {
		say = sayNothing[Ticket]
	}
	return actionFunc(func(t *txn, _ *Conversation, _ Operator) (string, error) {
		out, err := t.createTicket(tk)
		if err != nil {
			return "", err
		}
		return say(out), nil
	})
}

// CreateLeadAction creates l (numbered, stamped and sent to the sinks); say
// renders what the operator is told.
func CreateLeadAction(l Lead, say func(Lead) string) Action {
	if say == nil {
		say = sayNothing[Lead]
	}
	return actionFunc(func(t *txn, _ *Conversation, _ Operator) (string, error) {
		out, err := t.createLead(l)
		if err != nil {
			return "", err
		}
		return say(out), nil
	})
}

// CloseAction ends the conversation for both sides, by the operator; said is
// shown when it closed it, "This conversation is already closed." when it
// was closed already.
func CloseAction(said string) Action {
	return actionFunc(func(t *txn, c *Conversation, op Operator) (string, error) {
		closed, err := t.close(c, SystemEvent{Kind: SystemClosedByOperator, Name: op.Name})
		if err != nil || !closed {
			return "This conversation is already closed.", err
		}
		return said, nil
	})
}

// LeaveAction stops the operator following the conversation (see
// Engine.Leave); say is told whether other operators still follow it.
func LeaveAction(say func(stillFollowed bool, c Conversation) string) Action {
	return actionFunc(func(t *txn, c *Conversation, op Operator) (string, error) {
		still, err := t.leave(c, op)
		if err != nil {
			return "", err
		}
		return say(still, *c), nil
	})
}

// SaveCannedAction stores a canned response (see Engine.PutCanned); say is
// told whether it replaced one.
func SaveCannedAction(cr CannedResponse, say func(replaced bool) string) Action {
	return actionFunc(func(t *txn, _ *Conversation, _ Operator) (string, error) {
		replaced, err := t.putCanned(cr)
		if errors.Is(err, ErrInvalid) {
			return "Nothing was saved: " + invalidReason(err) + ".", nil
		}
		if err != nil {
			return "", err
		}
		return say(replaced), nil
	})
}

// RemoveCannedAction deletes the first canned response with this shortcut
// among owners (an Operator.Key(), or "" for the shared one); say is told
// which one it removed (found false: none).
func RemoveCannedAction(shortcut string, owners []string, say func(removed CannedResponse, found bool) string) Action {
	return actionFunc(func(t *txn, _ *Conversation, _ Operator) (string, error) {
		for _, owner := range owners {
			got, err := t.tx.Canned(owner, shortcut)
			if errors.Is(err, ErrNotFound) {
				continue
			}
			if err != nil {
				return "", err
			}
			if err := t.tx.DeleteCanned(owner, shortcut); err != nil {
				return "", err
			}
			return say(got, true), nil
		}
		return say(CannedResponse{}, false), nil
	})
}

// UseCannedAction counts a use of each shortcut by owner (an
// Operator.Key()): the response the owner sees, their personal one, else
// the shared one. Shortcuts that no longer exist are skipped. It says
// nothing.
func UseCannedAction(shortcuts []string, owner string) Action {
	return cannedUse{shortcuts: shortcuts, owner: owner}
}

// cannedUse is UseCannedAction's action (an edit may carry it).
type cannedUse struct {
	shortcuts []string
	owner     string
}

func (u cannedUse) act(t *txn, _ *Conversation, _ Operator) (string, error) {
	return "", t.useCanned(u.shortcuts, u.owner)
}

// invalidReason is err's text after its sentinels ("invalid input: too
// large: text is …" says "text is …").
func invalidReason(err error) string {
	s := err.Error()
	for _, sentinel := range []error{ErrInvalid, ErrTooLarge} {
		if _, after, ok := strings.Cut(s, sentinel.Error()+": "); ok {
			s = after
		}
	}
	return s
}

// errDuplicate stops a transaction whose event was handled already.
var errDuplicate = fmt.Errorf("duplicate event")
