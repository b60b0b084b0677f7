// Package storetest is the contract suite of bridge.Store. Every
// implementation runs it from its own tests:
//
//	func TestContract(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) bridge.Store { … a fresh, empty store … })
//	}
//
// The suite checks what callers rely on and the interface documents: errors
// (bridge.ErrNotFound), copies, orderings, numbering, the ticket index,
// atomicity of Update, concurrency, and read-only View. It compares records
// by their JSON form, so an implementation may lose a time's monotonic
// reading and location (the suite uses UTC times).
package storetest
