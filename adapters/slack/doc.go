// Package slack bridges conversations into one Slack support channel: every
// conversation is a thread whose root is a context card about the visitor.
//
// Outbound, the Adapter is a bridge.Deliverer: visitor messages, notes and
// replies of operators on other platforms, and system lines are posted into
// the thread (visitor text escaped, unfurls off), paced per channel to
// about one message a second (a 429's Retry-After holds the channel), with
// the outbox event id in each message's metadata so that a post whose
// answer was lost (a timeout or a 5xx) is found in the thread instead of
// being posted twice (post.go).
//
// Long texts: Slack refuses more than 40,000 characters, and escaping can
// make a legal visitor message five times longer. A text too long for one
// post is split (split.go) into parts posted in order, "part k of n", each
// shown like a short message (a visitor's as a block quote under their
// name), never cut inside a character, an escape or a line break pair,
// each with its own metadata id ("<event id>/k") so that a retry posts
// only the missing parts. What Slack still refuses for good becomes a dead
// letter, announced in the thread.
//
// Files (files.go): a message's file is read from the blob store and
// uploaded into the thread with Slack's external upload
// (files.getUploadURLExternal, the bytes to the upload URL,
// files.completeUploadExternal with thread_ts), its caption as the upload's
// comment; the file id is recorded before the upload is completed, and a
// retry asks files.info whether the file is already shared in the thread.
// Files operators share in a thread are downloaded from url_private with
// the bot token, checked and stored by files.Ingest (up to MaxFileBytes)
// and relayed with the message's text as caption; a refused file is
// explained to its operator only.
//
// Edits and deletions (edits.go, inbound.go): an operator's edit of a
// thread message (message_changed with message.edited and a new text; link
// unfurls and thread bookkeeping fire it too and are ignored) edits the
// visitor's copy, a deletion (message_deleted) deletes it, through
// bridge.OperatorInput.Edits and Deletes naming the message by
// "channel:ts", its PlatformID. Edits and deletions made on other platforms
// update (chat.update) or delete (chat.delete, files.delete) the posts that
// carried the message, found by the record the adapter keeps of every
// message it posted (adapter state "msg:<conversation>:<seq>").
//
// Inbound, operator messages in a thread arrive over Socket Mode (the
// default: no public URL needed) or the HTTP Events API (Handler, signed
// requests only). They are converted from Slack's markup to plain text
// (format.go) and handed to bridge.Engine.HandleOperator, which runs commands,
// notes and canned responses; command output comes back through Whisper as an
// ephemeral message in the thread.
//
// Not supported: typing indicators (Slack has no typing events for bots).
package slack
