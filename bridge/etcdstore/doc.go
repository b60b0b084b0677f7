// Package etcdstore is the cluster store of chatbridge: every role of
// bridge.Store on etcd (go.etcd.io/etcd/client/v3), for several chatbridge
// nodes sharing one state. It passes the same contract suite as the bbolt
// store (bridge/storetest).
//
// # Transactions
//
// Store.Update runs fn as an optimistic transaction. The first read fixes a
// snapshot revision and every later read is served at it; values read are
// remembered with their mod revision, range reads with their bounds. Writes
// are buffered (reads see them). The commit is one etcd Txn that compares
// the mod revision of every key read (a missing key: mod revision 0), and
// for every range read that no key in it changed since the snapshot
// (ModRevision(start).WithRange(end) < snapshot+1); when another
// transaction got there first, fn runs again on a new snapshot. Nothing is
// read-modify-written outside a transaction: counters (ticket and lead
// numbers) are compare-and-swap through these compares.
//
// Round trips are kept few: reads that a method knows will follow are
// fetched in the same etcd request (a visitor's message costs two reads
// and the commit), several keys are read in one request, and outbox ids
// need no shared counter: an id is (base + snapshot revision) << 20 plus a
// counter within the transaction, so a transaction that starts after
// another committed has larger ids, and concurrent appends to different
// conversations do not conflict. The new entry's key is compared absent at
// commit, so two transactions on one snapshot that picked the same id do
// not both commit.
//
// A range compare notices keys created or changed in the range, not keys
// deleted from it; the engine never decides a write on the absence of a
// key it listed, and single keys it read are compared exactly.
//
// # etcd's limits
//
// etcd refuses a request of more than --max-request-bytes (1.5 MiB by
// default) and a transaction of more than --max-txn-ops operations (128).
// Config.MaxTxnOps and MaxRequestBytes must match the cluster's. A
// transaction within them is one Txn; a larger one (bulk imports, 300
// tickets in one Update) goes through a redo log: its writes are stored
// in chunks under bigtx-log/, one Txn with the compares commits it by
// writing the bigtx marker, and the chunks are applied, each under a
// compare of the marker. Every transaction reads the marker with its first
// read and finishes a pending one before going on, so none sees or writes
// over a half-applied transaction. When the reads of a transaction are
// more than one Txn can compare, they are merged into ranges per kind of
// record. A single record larger than one request is refused with
// ErrTooLarge (which wraps bridge.ErrInvalid), naming the limit.
//
// # De-duplication records
//
// MarkSeen is a create-if-absent put attached to a lease: leases are
// bucketed by expiry time (5 minutes a bucket) and cached, so records
// expiring together share one, and etcd removes them when it ends.
// PurgeSeen removes what expired by the caller's clock earlier than that.
//
// # Key layout
//
// Below Config.Prefix (default "/chatbridge/"); parts joined with a NUL
// byte, numbers as 16 hex digits:
//
//	vis/ID                     visitor
//	tok/HEX(hash)              visitor id of a token
//	vtok/VISITOR␀HEX(hash)     tokens by visitor (layout 2)
//	ext/ID                     visitor id of a site user id
//	pv/VISITOR␀TIME NONCE      page view (trimmed to the newest 100)
//	conv/ID                    conversation
//	cvis/VISITOR␀UPDATED ID    status (index, UpdatedAt to the second)
//	cst/STATUS␀UPDATED ID      index by status
//	call/UPDATED ID            index of all conversations
//	msg/CONV␀SEQ               message
//	cid/VISITOR␀CLIENTID       SEQ CONV of an idempotency key
//	ob/DEST␀ID, obd/DEST       outbox entries (one prefix per destination
//	                           for a worker to watch); destinations used
//	dl/DEST␀ID, dld/DEST       dead letters
//	seen/KEY, seenx/EXP KEY    de-dup records and their expiry (leased)
//	tkt/N, lead/N              tickets and leads; meta/tickets, meta/leads
//	                           their counters
//	tix/TERM␀^BLOCK            64-ticket posting blocks of the word index
//	can/SHORTCUT␀OWNER         canned responses
//	ref/ADAPTER␀CONV,
//	rref/ADAPTER␀REF           adapters' refs, both ways
//	st/NS␀KEY                  adapters' state
//	meta/schema, meta/idbase   layout version (1, or 2 since tokens are
//	                           indexed by visitor: Open of a layout-1
//	                           store indexes them), outbox id base
//	bigtx, bigtx-log/          large transactions
package etcdstore
