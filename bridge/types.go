package bridge

import (
	"strconv"
	"time"
)

// From says who wrote a message, as the visitor API reports it.
type From string

// Authors of messages.
const (
	FromVisitor  From = "visitor"
	FromOperator From = "operator"
	FromSystem   From = "system"
)

// Visibility says who may see a message. The visitor API returns only
// VisibilityPublic messages: this field is the one gate between operator-only
// content and the visitor.
type Visibility string

// Visibilities of a message.
const (
	// VisibilityPublic messages are shown to the visitor and the operators.
	VisibilityPublic Visibility = "public"
	// VisibilityNote messages are private notes shared by all operators.
	VisibilityNote Visibility = "note"
	// VisibilityWhisper messages are shown only to Message.Recipient (an
	// operator): command output, listings, errors.
	VisibilityWhisper Visibility = "whisper"
)

// Status of a conversation.
type Status string

// Conversation statuses.
const (
	StatusOpen   Status = "open"
	StatusClosed Status = "closed"
)

// Visitor is a person on the website, identified by a bearer token.
type Visitor struct {
	ID        string `json:"id"`
	Name      string `json:"name,omitempty"`
	Email     string `json:"email,omitempty"`
	Locale    string `json:"locale,omitempty"`
	Country   string `json:"country,omitempty"`
	UserAgent string `json:"user_agent,omitempty"`
	IP        string `json:"ip,omitempty"`
	// ExternalID is the site's own user id when the visitor signed in with a
	// signed identity; "" for anonymous visitors.
	ExternalID string    `json:"external_id,omitempty"`
	CreatedAt  time.Time `json:"created_at"`
	LastSeenAt time.Time `json:"last_seen_at"`
	// CurrentURL and Referrer are the latest page view's.
	CurrentURL string `json:"current_url,omitempty"`
	Referrer   string `json:"referrer,omitempty"`
}

// DisplayName is the visitor's name or "Visitor".
func (v Visitor) DisplayName() string {
	if v.Name != "" {
		return v.Name
	}
	return "Visitor"
}

// PageView is one page the visitor loaded.
type PageView struct {
	VisitorID string    `json:"visitor_id"`
	URL       string    `json:"url"`
	Title     string    `json:"title,omitempty"`
	Referrer  string    `json:"referrer,omitempty"`
	At        time.Time `json:"at"`
}

// Operator is a support agent on one platform.
type Operator struct {
	// Adapter is the platform name ("inbox", "slack", "matrix").
	Adapter string `json:"adapter"`
	// ID is the platform's user id (Slack U…, Matrix @user:server, inbox login).
	ID   string `json:"id"`
	Name string `json:"name"`
}

// Key identifies the operator across platforms.
func (o Operator) Key() string { return o.Adapter + ":" + o.ID }

// Conversation is one chat between a visitor and the support team.
type Conversation struct {
	ID        string    `json:"id"`
	VisitorID string    `json:"visitor_id"`
	Status    Status    `json:"status"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
	ClosedAt  time.Time `json:"closed_at,omitzero"`
	// LastSeq is the sequence number of the newest message.
	LastSeq uint64 `json:"last_seq"`
	// LastPublicSeq is the public sequence number of the newest public
	// message (see Message.PublicSeq).
	LastPublicSeq uint64 `json:"last_public_seq,omitempty"`
	// LastRevision counts the changes the visitor can see: every new
	// public message and every edit or deletion of one (Message.Revision).
	LastRevision uint64 `json:"last_revision,omitempty"`
	// LastVisitorAt is when the visitor last wrote; LastOperatorAt when an
	// operator last replied publicly. Waiting time is derived from them.
	LastVisitorAt  time.Time `json:"last_visitor_at,omitzero"`
	LastOperatorAt time.Time `json:"last_operator_at,omitzero"`
	// WaitingSince is when the first visitor message that no operator has
	// answered yet was written (zero when the last public word was an
	// operator's). Operators triage by it.
	WaitingSince time.Time `json:"waiting_since,omitzero"`
	// Operators follow the conversation (they replied and did not leave).
	Operators []Operator `json:"operators,omitempty"`
	// Preview is the start of the newest public message.
	Preview string `json:"preview,omitempty"`
}

// Waiting reports whether the visitor wrote after the last operator reply.
func (c Conversation) Waiting() bool {
	return c.Status == StatusOpen && !c.LastVisitorAt.IsZero() && c.LastVisitorAt.After(c.LastOperatorAt)
}

// WaitingFor is when the visitor started waiting for an answer: the first
// unanswered visitor message (LastVisitorAt for conversations stored before
// WaitingSince existed). Zero when not Waiting.
func (c Conversation) WaitingFor() time.Time {
	if !c.Waiting() {
		return time.Time{}
	}
	if !c.WaitingSince.IsZero() && !c.WaitingSince.After(c.LastVisitorAt) {
		return c.WaitingSince
	}
	return c.LastVisitorAt
}

// HasOperator reports whether op follows the conversation.
func (c Conversation) HasOperator(op Operator) bool {
	for _, o := range c.Operators {
		if o.Key() == op.Key() {
			return true
		}
	}
	return false
}

// Message is one entry of a conversation's transcript.
type Message struct {
	ConversationID string `json:"conversation_id"`
	// Seq numbers messages within a conversation, from 1, without gaps.
	Seq uint64 `json:"seq"`
	// PublicSeq numbers the public messages alone, from 1, without gaps;
	// 0 for notes and whispers. It is the number the visitor sees, so that
	// gaps cannot tell a visitor that operators wrote something private.
	// PublicSeq <= Seq always.
	PublicSeq uint64 `json:"public_seq,omitempty"`
	// ClientID is the visitor's idempotency key ("" for other messages).
	ClientID   string     `json:"client_id,omitempty"`
	From       From       `json:"from"`
	Visibility Visibility `json:"visibility"`
	// Author is the display name shown next to the text.
	Author string `json:"author,omitempty"`
	// Operator is set on operator messages.
	Operator *Operator `json:"operator,omitempty"`
	// Recipient is the operator who may see a whisper (Operator.Key()).
	Recipient string    `json:"recipient,omitempty"`
	Text      string    `json:"text"`
	At        time.Time `json:"at"`
	// PlatformID is the operator platform's id of the event that produced
	// the message, when any.
	PlatformID string `json:"platform_id,omitempty"`
	// System is what a system line says, for rendering it in another
	// language (Text is its English rendering); nil for other messages.
	System *SystemEvent `json:"system,omitempty"`
	// File is the message's attachment, if any (Text is then its caption,
	// which may be empty).
	File *Attachment `json:"file,omitempty"`
	// Emote marks an action ("/me waves" is shown as "* Alice waves").
	Emote bool `json:"emote,omitempty"`
	// EditedAt is when the message was last edited (zero: never).
	EditedAt time.Time `json:"edited_at,omitzero"`
	// Deleted marks a message its author deleted: visitors see that
	// something was there, neither its text nor its file.
	Deleted bool `json:"deleted,omitempty"`
	// Revision is the conversation's LastRevision when the message was
	// written or last changed: a client that saw revision R needs only the
	// public messages with a higher one.
	Revision uint64 `json:"revision,omitempty"`
}

// VisibleTo reports whether an operator may see the message.
func (m Message) VisibleTo(operatorKey string) bool {
	return m.Visibility != VisibilityWhisper || m.Recipient == operatorKey
}

// Ticket is a help-desk ticket created from a conversation.
type Ticket struct {
	Number         uint64    `json:"number"`
	Title          string    `json:"title"`
	Description    string    `json:"description"`
	CustomerName   string    `json:"customer_name,omitempty"`
	CustomerEmail  string    `json:"customer_email,omitempty"`
	ConversationID string    `json:"conversation_id,omitempty"`
	VisitorID      string    `json:"visitor_id,omitempty"`
	Operator       Operator  `json:"operator"`
	CreatedAt      time.Time `json:"created_at"`
	Source         string    `json:"source"`
	// Links are URLs of the same ticket in sinks (e.g. Odoo), by sink name.
	Links map[string]string `json:"links,omitempty"`
}

// Lead is a sales lead created from a conversation.
type Lead struct {
	Number         uint64            `json:"number"`
	Title          string            `json:"title"`
	Notes          string            `json:"notes"`
	ContactName    string            `json:"contact_name,omitempty"`
	ContactEmail   string            `json:"contact_email,omitempty"`
	Country        string            `json:"country,omitempty"`
	Language       string            `json:"language,omitempty"`
	ConversationID string            `json:"conversation_id,omitempty"`
	VisitorID      string            `json:"visitor_id,omitempty"`
	ReferredBy     Operator          `json:"referred_by"`
	CreatedAt      time.Time         `json:"created_at"`
	Source         string            `json:"source"`
	Links          map[string]string `json:"links,omitempty"`
}

// CannedResponse is a stored text an operator inserts with :shortcut.
type CannedResponse struct {
	Shortcut    string `json:"shortcut"`
	Text        string `json:"text"`
	Description string `json:"description,omitempty"`
	// Owner is "" for a shared response, else the Operator.Key() of its owner.
	Owner    string    `json:"owner,omitempty"`
	Uses     uint64    `json:"uses"`
	LastUsed time.Time `json:"last_used,omitzero"`
}

// OutboxKind is what an outbox entry carries to its destination.
type OutboxKind string

// Outbox entry kinds.
const (
	// KindOpened announces a new conversation (context card).
	KindOpened OutboxKind = "conversation.opened"
	// KindMessage carries a message (by Seq) of the conversation.
	KindMessage OutboxKind = "message"
	// KindClosed says the conversation ended.
	KindClosed OutboxKind = "conversation.closed"
	// KindWaiting announces the conversation again as waiting (the last
	// operator left).
	KindWaiting OutboxKind = "conversation.waiting"
	// KindTicket carries a new ticket (by Number) to a sink.
	KindTicket OutboxKind = "ticket"
	// KindLead carries a new lead (by Number) to a sink.
	KindLead OutboxKind = "lead"
	// KindEdited says a message (by Seq) was edited: its new text.
	KindEdited OutboxKind = "message.edited"
	// KindDeleted says a message (by Seq) was deleted.
	KindDeleted OutboxKind = "message.deleted"
)

// OutboxEntry is one durable delivery to one destination (adapter or sink).
type OutboxEntry struct {
	// ID is assigned by Tx.Enqueue, increasing per store.
	ID             uint64     `json:"id"`
	Destination    string     `json:"destination"`
	Kind           OutboxKind `json:"kind"`
	ConversationID string     `json:"conversation_id,omitempty"`
	Seq            uint64     `json:"seq,omitempty"`
	Number         uint64     `json:"number,omitempty"`
	CreatedAt      time.Time  `json:"created_at"`
	Attempts       int        `json:"attempts,omitempty"`
	// NextAttempt is when the entry is due: it is not attempted before
	// (a retry's backoff, a destination's Delayer or PostponeError).
	NextAttempt time.Time `json:"next_attempt,omitzero"`
	LastError   string    `json:"last_error,omitempty"`
	// DeadAt is when the entry became a dead letter (zero while it waits
	// in the outbox).
	DeadAt time.Time `json:"dead_at,omitzero"`
}

// EventID is a stable id for the delivery, for receivers to de-duplicate
// retries (Matrix transaction ids, webhook event ids).
func (e OutboxEntry) EventID() string {
	return "cb-" + e.Destination + "-" + strconv.FormatUint(e.ID, 10)
}
