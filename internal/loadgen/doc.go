// Package loadgen is the engine of `chatbridge bench`: a load generator
// that drives a running chatbridge server through its public surfaces only
// (the visitor API over HTTP and WebSocket, the operator inbox over HTTP
// and Server-Sent Events) and reports what it measured.
//
// It knows four modes (see Mode): accept (visitor messages, closed loop or
// at a fixed rate), pageviews (the same for page views), latency (visitor
// messages and operator replies at fixed rates, open loop, with both
// round trips timed end to end) and idle (N idle visitor WebSockets and
// the server's memory per connection).
//
// Open loop means that request i is due at start + i/rate whatever
// happened before, and its latency is measured from that due time, so a
// server that stalls is charged for every request that should have been
// sent meanwhile (no coordinated omission). Latencies go into
// log-linear histograms (Histogram) whose percentiles are within 0.8 % of
// the exact sorted-sample value.
//
// The package imports nothing of the server: it is a client, and works
// against any chatbridge of the same public API, older builds included.
package loadgen
