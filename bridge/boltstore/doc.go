// Package boltstore implements bridge.Store on a single bbolt file. It is the
// only package of chatbridge that imports bbolt.
//
// Layout: mostly one top-level bucket per record kind, except that a
// conversation's record, its messages and its visitor's idempotency keys
// share one key range (see conversations.go), so that accepting a message
// dirties few pages. Values are JSON; sequences (outbox ids, ticket and lead
// numbers, message seqs in keys) are big-endian uint64 so that keys sort
// numerically; composite keys join their parts with a NUL byte, so every
// part but the last must not contain one. Secondary indexes (conversations
// by visitor and by status, the ticket word index, the expiry order of
// de-duplication records) and counters live in their own buckets and are
// maintained in the same transaction as the records they index.
//
// Update coalesces concurrent writers into one bbolt transaction and one
// fsync (bbolt's Batch, with a 1 ms delay by default): that is what makes
// durable acknowledgements cheap when many visitors write at the same time.
package boltstore
