// Package dump is the neutral form of a store's content, for moving it
// from one backend to another (`chatbridge store copy`): a stream of typed
// records that every backend exports (Dumper) and imports (Loader) in
// batches. Records keep what later writes continue from: outbox ids,
// ticket and lead numbers and their counters, message sequence numbers,
// conversations' counters. Indexes (conversations by status and visitor,
// the ticket word index, tokens by visitor) are not records: a Loader
// rebuilds them.
//
// Copy streams a Dumper into a Loader while it summarises the source;
// Summarize summarises the target afterwards, and Compare checks that
// both hold the same records: a count and an order-independent checksum
// per kind, grouped by store role.
//
// It imports only the standard library and package bridge.
package dump

import (
	"context"
	"errors"
	"time"

	"github.com/chatbridge/chatbridge/bridge"
)

// Kind is what a Record holds.
type Kind string

// Kinds of records. A conversation comes before its messages and client
// ids (a Loader may rely on it).
const (
	Visitor      Kind = "visitor"      // Visitor
	Token        Kind = "token"        // Hash → VisitorID
	ExternalID   Kind = "external_id"  // Key (the site's user id) → VisitorID
	PageView     Kind = "pageview"     // PageView
	Conversation Kind = "conversation" // Conversation
	Message      Kind = "message"      // Message
	ClientID     Kind = "client_id"    // VisitorID, Key (client id) → ConversationID, Seq
	Outbox       Kind = "outbox"       // Entry (with its ID)
	Dead         Kind = "dead"         // Entry (with its ID)
	Destination  Kind = "destination"  // Key: a destination that has or had entries (Dead: dead letters)
	Seen         Kind = "seen"         // Key, Expires: a live de-duplication record
	Ticket       Kind = "ticket"       // Ticket (with its Number)
	Lead         Kind = "lead"         // Lead (with its Number)
	Counter      Kind = "counter"      // Key (CounterTickets, CounterLeads, CounterOutbox), Seq: the last one used
	Canned       Kind = "canned"       // Canned
	Ref          Kind = "ref"          // Namespace (the adapter), ConversationID, Key (the ref)
	State        Kind = "state"        // Namespace, Key, Value
)

// Kinds lists every kind in dump order.
var Kinds = []Kind{Visitor, Token, ExternalID, PageView, Conversation, Message, ClientID,
	Outbox, Dead, Destination, Seen, Ticket, Lead, Counter, Canned, Ref, State}

// Counters.
const (
	CounterTickets = "tickets"
	CounterLeads   = "leads"
	// CounterOutbox is an outbox id above every id the store gave out:
	// backends number differently, so a target only has to continue above
	// it (Compare checks that the target's is at least the source's).
	CounterOutbox = "outbox"
)

// Record is one record of a store. Kind says which fields are set.
type Record struct {
	Kind         Kind                   `json:"kind"`
	Visitor      *bridge.Visitor        `json:"visitor,omitempty"`
	PageView     *bridge.PageView       `json:"pageview,omitempty"`
	Conversation *bridge.Conversation   `json:"conversation,omitempty"`
	Message      *bridge.Message        `json:"message,omitempty"`
	Entry        *bridge.OutboxEntry    `json:"entry,omitempty"`
	Ticket       *bridge.Ticket         `json:"ticket,omitempty"`
	Lead         *bridge.Lead           `json:"lead,omitempty"`
	Canned       *bridge.CannedResponse `json:"canned,omitempty"`

	Hash           []byte    `json:"hash,omitempty"`
	VisitorID      string    `json:"visitor_id,omitempty"`
	ConversationID string    `json:"conversation_id,omitempty"`
	Namespace      string    `json:"namespace,omitempty"`
	Key            string    `json:"key,omitempty"`
	Seq            uint64    `json:"seq,omitempty"`
	Dead           bool      `json:"dead,omitempty"`
	Expires        time.Time `json:"expires,omitzero"`
	Value          []byte    `json:"value,omitempty"`
}

// Dumper exports a store.
type Dumper interface {
	// Dump calls fn with the store's records in batches, from one
	// consistent state of the store, every conversation's record before
	// its messages and client ids (mostly kind by kind in the order of
	// Kinds).
	// De-duplication records are those live at now. fn's error stops it
	// and is returned unchanged.
	Dump(ctx context.Context, now time.Time, fn func([]Record) error) error
}

// Loader imports into a store.
type Loader interface {
	// Load writes a batch of records (in dump order) in one transaction,
	// as they are: ids, numbers and sequences kept, indexes rebuilt,
	// counters raised to what the records need. De-duplication records
	// are made live until their Expires, counted from now.
	Load(ctx context.Context, now time.Time, recs []Record) error
	// Wipe deletes everything the store holds.
	Wipe(ctx context.Context) error
}

// Store is a store that copies both ways.
type Store interface {
	Dumper
	Loader
}

var errStop = errors.New("stop")

// Empty reports whether d holds no record (counters alone do not count:
// a new etcd store has an outbox counter).
func Empty(ctx context.Context, d Dumper) (bool, error) {
	empty := true
	err := d.Dump(ctx, time.Now(), func(recs []Record) error {
		for _, r := range recs {
			if r.Kind != Counter {
				empty = false
				return errStop
			}
		}
		return nil
	})
	if errors.Is(err, errStop) {
		err = nil
	}
	return empty, err
}

// Copy writes every record of src into dst, batch by batch, and returns
// the summary of what it read.
func Copy(ctx context.Context, src Dumper, dst Loader, now time.Time) (Summary, error) {
	sum := NewSummary()
	err := src.Dump(ctx, now, func(recs []Record) error {
		for _, r := range recs {
			sum.Add(r)
		}
		return dst.Load(ctx, now, recs)
	})
	return sum, err
}

// Summarize reads d and returns its summary.
func Summarize(ctx context.Context, d Dumper, now time.Time) (Summary, error) {
	sum := NewSummary()
	err := d.Dump(ctx, now, func(recs []Record) error {
		for _, r := range recs {
			sum.Add(r)
		}
		return nil
	})
	return sum, err
}

// LoadRole writes r through the store roles when they can hold it as it
// is (visitors, tokens, external ids, conversations, messages, client ids,
// de-duplication records, canned responses, refs, state): what every
// Loader shares. It reports false for the kinds a backend writes itself
// (page views, outbox entries, dead letters, destinations, tickets, leads,
// counters: their roles number or trim).
func LoadRole(tx bridge.Tx, now time.Time, r Record) (bool, error) {
	switch r.Kind {
	case Visitor:
		return true, tx.PutVisitor(*r.Visitor)
	case Token:
		return true, tx.PutToken(r.Hash, r.VisitorID)
	case ExternalID:
		return true, tx.PutExternalID(r.Key, r.VisitorID)
	case Conversation:
		return true, tx.PutConversation(*r.Conversation)
	case Message:
		return true, tx.PutMessage(*r.Message)
	case ClientID:
		return true, tx.PutClientID(r.VisitorID, r.Key, r.ConversationID, r.Seq)
	case Seen:
		if !r.Expires.After(now) {
			return true, nil
		}
		_, err := tx.MarkSeen(r.Key, now, r.Expires)
		return true, err
	case Canned:
		return true, tx.PutCanned(*r.Canned)
	case Ref:
		return true, tx.PutRef(r.Namespace, r.ConversationID, r.Key)
	case State:
		return true, tx.PutState(r.Namespace, r.Key, r.Value)
	}
	return false, nil
}
