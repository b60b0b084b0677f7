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
// # Look-alike prefixes
//
// Which characters read as '!', '/', ';' or ':' is decided with Unicode's
// data, not a hand list: NFKC, then the UTS #39 confusables skeleton, then
// the character's name ("… EXCLAMATION MARK", "… SOLIDUS", "… SEMICOLON",
// "… COLON"). TestLookalikeTable generates the table (lookalike_table.go,
// "go generate ./commands") once, so the parser only looks characters up.
// Equivalents — characters NFKC maps to the ASCII one: fullwidth, small and
// vertical forms, the Greek question mark — count exactly like it. Other
// look-alikes ("‼", "⁉", "❗", "ꜝ", "¡", "ǃ", "∕", "؛", "꞉", …) count only
// where the result would be a command, a note or a shortcut: before a
// command name or a near miss of one ("‼help", "¡helo"), before a second
// ';'-like ("؛؛ x"), before a known shortcut ("꞉sorry"). Elsewhere the text
// is a reply, sent as typed: "¡Hola! ¿En qué puedo ayudarle?", "‼ Important:
// your order shipped", "ǃKung". Invisible characters (format characters,
// variation selectors, combining marks with nothing to combine with) are
// ignored in front of and inside prefixes, names and shortcuts.
//
// # Shortcuts, case and emoticons
//
// Shortcut names match without regard to case, anywhere in a reply
// (":Sorry" sends :sorry). A message that is only ":word" is shortcut-like
// when word has at least two letters or digits: it sends the shortcut that
// matches it exactly, or else lists the near ones and sends nothing, in any
// case (":so", ":Sorry", ":ZZZ", ":30"). A shorter word is an emoticon: ":D",
// ":P", ":O", ":3", ":p", ":-P" and ":-)" reach the visitor as typed unless
// they are exactly a shortcut; "10:30" and ":)" always do. A canned text
// whose variables Render cannot fill in (an unknown one like
// "{{visitor.nme}}", or malformed braces), stored by an older version, is
// never sent: the operator gets a whisper naming the variable.
//
// # Defence in depth
//
// Parse ignores invisible characters and reads look-alike prefixes, so
// "\u200f;; x" is a note and "；；x" and "؛؛x" too. Behind it, every text
// the Router relays passes the relay gate (gate.go): the text the operator
// typed, the reply before canned expansion and the final text are read as a
// skeleton (invisible characters removed, fullwidth forms folded, prefixes
// read with the same look-alike table) and refused — "Not sent: this looks
// like a command or a note (…)" — when they start with ";;", a command
// prefix and a letter (after look-alikes only: a command name or a near miss
// of one), a lone "!" and a command name, or the bot's mention. The gate
// does not use the parser. TestEveryCodePoint checks both on every code
// point against the Unicode data; FuzzNoLeak and FuzzLookalikes check that
// they agree.
package commands
