// Package slack bridges conversations into one Slack support channel: every
// conversation is a thread whose root is a context card about the visitor.
//
// Outbound, the Adapter is a bridge.Deliverer: visitor messages, notes and
// replies of operators on other platforms, and system lines are posted into
// the thread (visitor text escaped, unfurls off), paced to about one message
// a second, with the outbox event id in each message's metadata so that a
// post whose answer was lost (a timeout or a 5xx) is found in the thread
// instead of being posted twice.
//
// Inbound, operator messages in a thread arrive over Socket Mode (the
// default: no public URL needed) or the HTTP Events API (Handler, signed
// requests only). They are converted from Slack's markup to plain text
// (format.go) and handed to bridge.Engine.HandleOperator, which runs commands,
// notes and canned responses; command output comes back through Whisper as an
// ephemeral message in the thread.
//
// Edits: Slack's message_changed events are not relayed. When an operator
// edits a thread message, the operator is told, privately, that edits do not
// reach the visitor and to send a new message instead: relaying an edit would
// need a correction protocol on the widget side, and silently dropping it
// would leave the operator believing the visitor saw the new text.
//
// Not supported: files in either direction (an operator who attaches one is
// told privately that only the text was sent) and typing indicators (Slack
// has no typing events for bots).
package slack
