// Package bridge is the core of chatbridge: the types that flow between the
// visitor side and the operator platforms, the Store and adapter interfaces it
// needs, the Engine that turns actions into durable transactions, and the
// outbox workers that deliver them with retry, in per-conversation order.
//
// It imports only the standard library.
package bridge
