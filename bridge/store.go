package bridge

import (
	"context"
	"time"
)

// Store keeps all of the bridge's state. Implementations must pass the
// contract suite in package bridge/storetest. No implementation type crosses
// this interface, so a distributed implementation can replace the bbolt one.
//
// Every method of Tx returns ErrNotFound for a missing record. Values
// returned by a Tx are copies: they stay valid after the transaction.
type Store interface {
	// Update runs fn in a read-write transaction and commits it durably when
	// fn returns nil. fn may be called more than once (transactions may be
	// coalesced and retried), so it must have no side effects outside tx.
	Update(ctx context.Context, fn func(Tx) error) error
	// View runs fn in a read-only transaction. Write methods fail in it.
	View(ctx context.Context, fn func(Tx) error) error
	// Close flushes and closes the store.
	Close() error
}

// ConversationFilter selects conversations for Tx.Conversations.
type ConversationFilter struct {
	// Status restricts to one status; "" means any.
	Status Status
	// VisitorID restricts to one visitor's conversations.
	VisitorID string
	// Limit caps the result (0: no limit). Newest (by UpdatedAt) first.
	Limit int
}

// Tx is a transaction on the Store.
type Tx interface {
	// Visitors and their credentials.
	Visitor(id string) (Visitor, error)
	PutVisitor(v Visitor) error
	// VisitorByToken resolves the hash of a bearer token.
	VisitorByToken(tokenHash []byte) (string, error)
	PutToken(tokenHash []byte, visitorID string) error
	// VisitorByExternalID resolves a site user id (signed identity).
	VisitorByExternalID(externalID string) (string, error)
	PutExternalID(externalID, visitorID string) error

	// AddPageView records a page view; implementations may keep only the
	// newest ones per visitor (at least 100).
	AddPageView(pv PageView) error
	// PageViews returns up to limit page views of a visitor, newest first.
	PageViews(visitorID string, limit int) ([]PageView, error)

	Conversation(id string) (Conversation, error)
	PutConversation(c Conversation) error
	// Conversations lists conversations matching f, newest UpdatedAt first.
	Conversations(f ConversationFilter) ([]Conversation, error)
	// CountConversations counts conversations by status ("" for all).
	CountConversations(status Status) (int, error)

	// PutMessage stores m under (m.ConversationID, m.Seq).
	PutMessage(m Message) error
	Message(conversationID string, seq uint64) (Message, error)
	// Messages returns up to limit messages with Seq > after, in order.
	// limit 0 means no limit.
	Messages(conversationID string, after uint64, limit int) ([]Message, error)
	// PutClientID records that a visitor's idempotency key produced the
	// message (conversationID, seq); ClientID looks it up.
	PutClientID(visitorID, clientID, conversationID string, seq uint64) error
	ClientID(visitorID, clientID string) (conversationID string, seq uint64, err error)

	// Enqueue adds e to the outbox of e.Destination, assigning e.ID.
	Enqueue(e OutboxEntry) (uint64, error)
	// Outbox returns up to limit entries of a destination with ID > after,
	// in ID order (limit 0: no limit).
	Outbox(destination string, after uint64, limit int) ([]OutboxEntry, error)
	// PutOutbox updates an existing entry (attempts, next attempt).
	PutOutbox(e OutboxEntry) error
	// DeleteOutbox removes a delivered entry. Deleting a missing one is not
	// an error.
	DeleteOutbox(destination string, id uint64) error
	// OutboxDepth counts the entries of every destination.
	OutboxDepth() (map[string]int, error)

	// MarkSeen records key until expires and reports whether it was already
	// recorded (and not expired at now).
	MarkSeen(key string, now, expires time.Time) (bool, error)
	// ForgetSeen deletes the record of key (a missing one is not an error).
	ForgetSeen(key string) error
	// PurgeSeen deletes records that expired before now and returns how many.
	PurgeSeen(now time.Time) (int, error)

	// PutRef maps a conversation to its thread or room on an adapter.
	PutRef(adapter, conversationID, ref string) error
	Ref(adapter, conversationID string) (string, error)
	ConversationByRef(adapter, ref string) (string, error)

	// CreateTicket assigns t.Number (1, 2, …), stores and indexes t.
	CreateTicket(t Ticket) (Ticket, error)
	Ticket(number uint64) (Ticket, error)
	PutTicket(t Ticket) error
	// Tickets lists up to limit tickets, newest first; limit 0: all.
	Tickets(limit int) ([]Ticket, error)
	// SearchTickets returns the numbers of the tickets that contain every
	// term (as produced by SearchTerms) in their title, description,
	// customer name or email, newest first. It uses an index.
	SearchTickets(terms []string) ([]uint64, error)

	CreateLead(l Lead) (Lead, error)
	Lead(number uint64) (Lead, error)
	PutLead(l Lead) error
	Leads(limit int) ([]Lead, error)

	// Canned responses are keyed by (Owner, Shortcut).
	PutCanned(c CannedResponse) error
	Canned(owner, shortcut string) (CannedResponse, error)
	DeleteCanned(owner, shortcut string) error
	// AllCanned lists every canned response, by shortcut then owner.
	AllCanned() ([]CannedResponse, error)

	// GetState and PutState keep small opaque values for adapters (a Matrix
	// sync token, …) under a namespace.
	GetState(namespace, key string) ([]byte, error)
	PutState(namespace, key string, value []byte) error
}
