// Package bridge is the core of chatbridge: the types that flow between the
// visitor side and the operator platforms, the interfaces it needs from them
// and from its store, the Engine, and the outbox workers that deliver with
// retry, in per-conversation order. It imports only the standard library.
//
// # The engine is the only writer
//
// Adapters, commands, the visitor API and the CLI read and change state only
// through Engine methods; each of them declares, in its own package, the
// small interface of those methods it uses. Every write is one store
// transaction (Engine.update) whose effects outside the store — waking the
// delivery workers, live events on the Hub, whispers shown on a platform —
// happen only after it committed. Every message, whatever its kind (visitor
// message, reply, note, whisper, system line, close line), enters its
// conversation through one function (txn.append), which numbers it, keeps
// the visitor-visible numbering (Message.PublicSeq: public messages only,
// so a visitor never sees the gap a private note leaves) and enqueues it.
// An operator's message is one commit: its de-duplication record, the
// actions its command asked for, its note, reply and whisper (see
// Engine.HandleOperator and Outcome).
//
// Components are added with Engine.Register, which detects by interface
// what each offers: Deliverer (a destination of the outbox), Whisperer,
// Interceptor, HealthChecker, Metrics. Optional capabilities of a
// destination are interfaces too: MessageFilter, Delayer, RateLimited.
//
// # The store, by role
//
// Store is three methods (Update, View, Close); a transaction, Tx, is the
// union of seven roles, each a small interface documented in store.go:
//
//   - VisitorStore: visitors, token hashes, signed-in users' ids, page
//     views; DeleteVisitor deletes a visitor with all of them.
//   - ConversationStore: conversations with their status and activity
//     indexes and counters, messages by (conversation, Seq), the visitors'
//     idempotency keys; DeleteMessages and DeleteConversation delete a
//     conversation (in several transactions when it is long).
//   - OutboxStore: durable deliveries, one queue per destination, ids
//     increasing across the store.
//   - DedupStore: keys remembered until an expiry (platform event ids).
//   - RecordStore: tickets and leads with their own numbering, and a word
//     index of tickets (SearchTerms decides what a word is).
//   - CannedStore: canned responses by (owner, shortcut).
//   - AdapterStore: adapters' refs (conversation ↔ thread or room, both
//     ways) and small opaque values by namespace; DeleteRefs drops a
//     conversation's refs on every adapter, StateKeys lists a namespace's
//     keys by prefix.
//
// Deleting is split by role too: DeleteConversation removes what the
// conversation store keeps of a conversation, not its refs, outbox entries
// or adapter state. Only Engine.Purge deletes conversations, and it
// removes everything that names them in one place (see retention.go).
//
// # Adding a backend
//
// A backend is a package of its own (bridge/boltstore is the single-node
// one) that implements Store and every role on its Tx, and runs the
// contract suite from its tests:
//
//	func TestContract(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) bridge.Store { return openEmpty(t) })
//	}
//
// The suite (bridge/storetest) covers every method of every role — it fails
// when a role gains a method that no test covers — and the transaction
// rules the engine relies on:
//
//   - Update commits fn's writes atomically and durably, or none of them;
//     fn's error is returned unchanged; fn may run more than once, so a
//     backend may coalesce or retry transactions (bbolt batches them; an
//     optimistic backend re-runs fn on a conflict).
//   - Reads in a transaction see its own writes; View sees one consistent
//     state and refuses writes.
//   - Missing records are errors wrapping ErrNotFound; bad identifiers
//     (empty, or with a NUL byte) are ErrInvalid; returned values are
//     copies.
//   - Outbox ids increase; ticket and lead numbers are consecutive from 1
//     (a rolled-back transaction consumes none). Message numbers come from
//     the engine.
//
// No backend type crosses these interfaces, and nothing outside the engine
// calls them, so a backend is free in its layout and encoding.
package bridge
