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
//
// Defence in depth: Parse ignores invisible characters (format characters
// such as bidi marks and isolates, soft hyphens, variation selectors,
// combining marks) in front of and inside prefixes and folds fullwidth and
// look-alike prefixes, so "\u200f;; x" is a note and "；；x" too. Behind it,
// every text the Router relays passes the relay gate (gate.go): the text the
// operator typed, the reply before canned expansion and the final text are
// read as a skeleton (invisible characters removed, fullwidth forms folded)
// and refused — "Not sent: this looks like a command or a note (…)" — when
// they start with ";;", a command prefix and a letter, a lone "!" and a
// command name, or the bot's mention. The gate does not use the parser.
package commands
