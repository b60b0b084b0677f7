// Package commands decides what an operator's message is — a command, a
// private note, a canned-response request or a reply for the visitor — and
// carries out the commands (DESIGN §4.1, §4.2).
//
// Parse is the pure classifier. Router implements bridge.Interceptor on top
// of it: install it with engine.SetInterceptor(commands.New(engine, opts)).
// Every command lives in its own file and is listed once in the registry
// (registry.go) with its aliases and one-line usage.
//
// The one rule that matters most: anything operator-only — commands, their
// output, notes, unknown commands, canned listings — goes to Outcome.Whisper
// or Outcome.Note, never to Outcome.Relay. Relay carries only a reply the
// operator meant for the visitor (with canned shortcuts expanded) or, for
// "!canned <shortcut>", the canned text itself.
package commands
