package webhook

import (
	"time"

	"github.com/chatbridge/chatbridge/bridge"
)

// Event types, the values of Event.Type and of the X-Chatbridge-Event
// header.
const (
	TypeTicket              = string(bridge.KindTicket)
	TypeLead                = string(bridge.KindLead)
	TypeMessage             = string(bridge.KindMessage)
	TypeConversationOpened  = string(bridge.KindOpened)
	TypeConversationClosed  = string(bridge.KindClosed)
	TypeConversationWaiting = string(bridge.KindWaiting)
)

// Types lists every event type a webhook can subscribe to.
var Types = []string{TypeTicket, TypeLead, TypeMessage, TypeConversationOpened, TypeConversationClosed, TypeConversationWaiting}

// Event is the JSON body of a webhook request. Receivers may decode it with
// this type.
type Event struct {
	// ID is stable across retries of the same delivery: de-duplicate on it.
	ID   string `json:"id"`
	Type string `json:"type"`
	// CreatedAt is when the event happened (not when it was sent).
	CreatedAt time.Time `json:"created_at"`
	// Ticket is set for "ticket" events.
	Ticket *bridge.Ticket `json:"ticket,omitempty"`
	// Lead is set for "lead" events.
	Lead *bridge.Lead `json:"lead,omitempty"`
	// Message is set for "message" events (public messages only) and for
	// "conversation.closed" (the closing line).
	Message *bridge.Message `json:"message,omitempty"`
	// Conversation and Visitor are set when the event belongs to a
	// conversation.
	Conversation *bridge.Conversation `json:"conversation,omitempty"`
	Visitor      *bridge.Visitor      `json:"visitor,omitempty"`
}

// newEvent builds the body of d; ok is false when nothing may be sent (an
// operator-only message).
func newEvent(d bridge.Delivery) (Event, bool) {
	ev := Event{ID: d.Entry.EventID(), Type: string(d.Entry.Kind), CreatedAt: d.Entry.CreatedAt.UTC()}
	if d.Conversation.ID != "" {
		c, v := d.Conversation, d.Visitor
		ev.Conversation, ev.Visitor = &c, &v
	}
	switch d.Entry.Kind {
	case bridge.KindTicket:
		ev.Ticket = d.Ticket
	case bridge.KindLead:
		ev.Lead = d.Lead
	case bridge.KindMessage, bridge.KindClosed:
		if d.Message != nil {
			// The one gate: notes and whispers stay with the operators.
			if d.Message.Visibility != bridge.VisibilityPublic {
				return Event{}, false
			}
			m := *d.Message
			m.Recipient, m.ClientID = "", ""
			ev.Message = &m
		} else if d.Entry.Kind == bridge.KindMessage {
			return Event{}, false
		}
	}
	return ev, true
}
