package bridge

import (
	"context"
	"time"
)

// Store keeps all of the bridge's state. Only the Engine uses it: adapters,
// commands and the CLI go through Engine methods. Implementations must pass
// the contract suite in package bridge/storetest; no implementation type
// crosses this interface. See the package documentation for the roles and
// how to add a backend.
//
// Every read method of Tx returns an error wrapping ErrNotFound for a
// missing record. Values returned by a Tx are copies: they stay valid after
// the transaction. Write methods refuse empty identifiers and identifiers
// containing a NUL byte with ErrInvalid.
type Store interface {
	// Update runs fn in a read-write transaction and commits it durably when
	// fn returns nil; when fn fails, nothing it wrote is kept and its error
	// is returned unchanged. fn may be called more than once (transactions
	// may be coalesced and retried), so it must have no effects outside tx.
	// Update is safe for concurrent use.
	Update(ctx context.Context, fn func(Tx) error) error
	// View runs fn in a read-only transaction that sees one consistent
	// state. Write methods fail in it.
	View(ctx context.Context, fn func(Tx) error) error
	// Close waits for running transactions, flushes and closes the store.
	Close() error
}

// Tx is one transaction: the union of the store's roles.
type Tx interface {
	VisitorStore
	ConversationStore
	OutboxStore
	DedupStore
	RecordStore
	CannedStore
	AdapterStore
}

// VisitorStore keeps visitors, their bearer tokens (as hashes), the site's
// user ids of signed-in visitors, and page views.
type VisitorStore interface {
	// Visitor returns a visitor by id.
	Visitor(id string) (Visitor, error)
	// PutVisitor creates or replaces v (by v.ID).
	PutVisitor(v Visitor) error
	// VisitorByToken resolves the SHA-256 of a bearer token to a visitor id.
	VisitorByToken(tokenHash []byte) (string, error)
	// PutToken maps a token hash to a visitor id.
	PutToken(tokenHash []byte, visitorID string) error
	// VisitorByExternalID resolves a site user id (signed identity).
	VisitorByExternalID(externalID string) (string, error)
	// PutExternalID maps a site user id to a visitor id.
	PutExternalID(externalID, visitorID string) error
	// AddPageView records a page view; implementations may keep only the
	// newest ones per visitor (at least 100).
	AddPageView(pv PageView) error
	// PageViews returns up to limit page views of a visitor, newest first
	// (limit 0: all that are kept).
	PageViews(visitorID string, limit int) ([]PageView, error)
	// DeleteVisitor deletes a visitor with everything kept for it: every
	// token hash mapped to it, the site user id of its record
	// (Visitor.ExternalID) when that still maps to it, and its page views.
	// Deleting a missing visitor is not an error (its tokens and page
	// views, if any, are deleted all the same).
	DeleteVisitor(id string) error
}

// ConversationFilter selects conversations for ConversationStore.Conversations.
type ConversationFilter struct {
	// Status restricts to one status; "" means any.
	Status Status
	// VisitorID restricts to one visitor's conversations.
	VisitorID string
	// UpdatedBefore, when set, restricts to conversations updated before
	// it, both compared to the second (UpdatedAt.Truncate(time.Second) <
	// UpdatedBefore.Truncate(time.Second)): what retention deletes.
	UpdatedBefore time.Time
	// Limit caps the result (0: no limit). Newest (by UpdatedAt, to the
	// second) first.
	Limit int
}

// ConversationStore keeps conversations, their messages and the visitors'
// idempotency keys.
type ConversationStore interface {
	// Conversation returns a conversation by id.
	Conversation(id string) (Conversation, error)
	// PutConversation creates or replaces c (by c.ID) and keeps the
	// indexes behind Conversations and CountConversations in step.
	PutConversation(c Conversation) error
	// Conversations lists conversations matching f, newest UpdatedAt first
	// (to the second: conversations updated within the same second may come
	// in any order).
	Conversations(f ConversationFilter) ([]Conversation, error)
	// CountConversations counts conversations by status ("" for all).
	CountConversations(status Status) (int, error)
	// PutMessage stores m under (m.ConversationID, m.Seq), replacing a
	// message with the same key. Seq is 1 or more.
	PutMessage(m Message) error
	// Message returns one message.
	Message(conversationID string, seq uint64) (Message, error)
	// Messages returns up to limit messages with Seq > after, in Seq order
	// (limit 0: no limit).
	Messages(conversationID string, after uint64, limit int) ([]Message, error)
	// PutClientID records that a visitor's idempotency key produced the
	// message (conversationID, seq).
	PutClientID(visitorID, clientID, conversationID string, seq uint64) error
	// ClientID looks up what PutClientID recorded.
	ClientID(visitorID, clientID string) (conversationID string, seq uint64, err error)
	// DeleteMessages deletes the conversation's messages with Seq <=
	// through and the idempotency keys that produced them (the messages'
	// ClientID, for the conversation's visitor), so that a long
	// conversation can be deleted in several transactions. The
	// conversation's record is left as it is.
	DeleteMessages(conversationID string, through uint64) error
	// DeleteConversation deletes a conversation: its record, its places in
	// the indexes and counters behind Conversations and
	// CountConversations, its remaining messages and their idempotency
	// keys. Its refs (AdapterStore.DeleteRefs), outbox entries and dead
	// letters (OutboxStore) and the records of other roles that name it
	// are for the caller (Engine.Purge). Deleting a missing conversation
	// is not an error.
	DeleteConversation(id string) error
}

// OutboxStore keeps the durable deliveries, one queue per destination.
type OutboxStore interface {
	// Enqueue adds e to the outbox of e.Destination and returns its new id:
	// ids increase across every destination of the store.
	Enqueue(e OutboxEntry) (uint64, error)
	// Outbox returns up to limit entries of a destination with ID > after,
	// in ID order (limit 0: no limit).
	Outbox(destination string, after uint64, limit int) ([]OutboxEntry, error)
	// PutOutbox replaces an existing entry (attempts, next attempt, last
	// error); ErrNotFound when it is gone.
	PutOutbox(e OutboxEntry) error
	// DeleteOutbox removes an entry. Deleting a missing one is not an error.
	DeleteOutbox(destination string, id uint64) error
	// OutboxDepth counts the entries of every destination that has or had
	// entries (zero for drained ones).
	OutboxDepth() (map[string]int, error)

	// Bury moves an existing entry from its destination's outbox to the
	// destination's dead letters, stored as e (its attempts, last error and
	// DeadAt); ErrNotFound when the entry is not in the outbox.
	Bury(e OutboxEntry) error
	// DeadLetters returns up to limit dead letters of a destination with
	// ID > after, in ID order (limit 0: no limit).
	DeadLetters(destination string, after uint64, limit int) ([]OutboxEntry, error)
	// Revive moves a dead letter back into its destination's outbox,
	// stored as e (same ID); ErrNotFound when there is no such dead letter.
	Revive(e OutboxEntry) error
	// DeleteDead removes a dead letter; a missing one is not an error.
	DeleteDead(destination string, id uint64) error
	// DeadDepth counts the dead letters of every destination that has or
	// had some.
	DeadDepth() (map[string]int, error)
}

// DedupStore remembers keys (platform event ids) for a while, so that an
// event delivered twice is handled once.
type DedupStore interface {
	// MarkSeen records key until expires and reports whether a record that
	// is live at now (expires after now) already existed; a live record is
	// left as it is.
	MarkSeen(key string, now, expires time.Time) (bool, error)
	// Seen reports whether a record of key is live at now, writing nothing.
	Seen(key string, now time.Time) (bool, error)
	// ForgetSeen deletes the record of key (a missing one is not an error).
	ForgetSeen(key string) error
	// PurgeSeen deletes the records that are not live at now and returns
	// how many.
	PurgeSeen(now time.Time) (int, error)
}

// RecordStore keeps tickets and leads, numbered 1, 2, … per kind, and a
// search index of tickets.
type RecordStore interface {
	// CreateTicket assigns t.Number (the next one), stores and indexes t.
	CreateTicket(t Ticket) (Ticket, error)
	// Ticket returns a ticket by number.
	Ticket(number uint64) (Ticket, error)
	// PutTicket replaces an existing ticket and re-indexes it.
	PutTicket(t Ticket) error
	// Tickets lists up to limit tickets, newest first (limit 0: all).
	Tickets(limit int) ([]Ticket, error)
	// SearchTickets finds the tickets that contain every term (as produced
	// by SearchTerms) in their title, description, customer name or email
	// (TicketTerms): the numbers of the first limit of them, newest first
	// (limit 0: all), and how many match in all. It uses an index: its cost
	// must not grow with the matches beyond limit much more than a count.
	SearchTickets(terms []string, limit int) (numbers []uint64, total int, err error)
	// CreateLead assigns l.Number (the next one) and stores l.
	CreateLead(l Lead) (Lead, error)
	// Lead returns a lead by number.
	Lead(number uint64) (Lead, error)
	// PutLead replaces an existing lead.
	PutLead(l Lead) error
	// Leads lists up to limit leads, newest first (limit 0: all).
	Leads(limit int) ([]Lead, error)
}

// CannedStore keeps canned responses, keyed by (Owner, Shortcut).
type CannedStore interface {
	// PutCanned creates or replaces c.
	PutCanned(c CannedResponse) error
	// Canned returns one response.
	Canned(owner, shortcut string) (CannedResponse, error)
	// DeleteCanned removes one response; ErrNotFound when there is none.
	DeleteCanned(owner, shortcut string) error
	// AllCanned lists every canned response, by shortcut then owner.
	AllCanned() ([]CannedResponse, error)
}

// AdapterStore keeps what adapters remember: which thread or room is a
// conversation's on each platform (refs), and small opaque values under a
// namespace (a Matrix sync token, an operator's last viewed message, …).
type AdapterStore interface {
	// PutRef maps a conversation to its thread or room on an adapter. A ref
	// names one conversation: mapping it to another drops the old mapping.
	PutRef(adapter, conversationID, ref string) error
	// Ref returns a conversation's thread or room on an adapter.
	Ref(adapter, conversationID string) (string, error)
	// ConversationByRef resolves an adapter's thread or room.
	ConversationByRef(adapter, ref string) (string, error)
	// GetState returns the value under (namespace, key).
	GetState(namespace, key string) ([]byte, error)
	// PutState stores value (which may be empty) under (namespace, key).
	PutState(namespace, key string, value []byte) error
	// DeleteState removes the key; a missing one is not an error.
	DeleteState(namespace, key string) error
	// StateKeys lists up to limit keys of namespace that start with prefix
	// ("" for all), in byte order (limit 0: no limit).
	StateKeys(namespace, prefix string, limit int) ([]string, error)
	// DeleteRefs deletes a conversation's refs on every adapter, both
	// ways (Ref and ConversationByRef). Having none is not an error.
	DeleteRefs(conversationID string) error
}
