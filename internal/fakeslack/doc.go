// Package fakeslack is the one fake Slack of chatbridge's tests: a Web API
// and a Socket Mode server on 127.0.0.1 that answer like Slack does — the
// same JSON shapes, ok:false errors with their codes, HTTP 429 with
// Retry-After, the X-OAuth-Scopes headers — at Slack's documented limits.
// The adapter's own tests (adapters/slack) and the end-to-end test of the
// binary (cmd/chatbridge) both use it, in-process or from a child process
// pointed at Server.APIURL.
//
// What it serves:
//
//   - Web API: auth.test, bots.info, users.info, chat.postMessage (with
//     metadata), chat.postEphemeral, chat.update, chat.delete,
//     conversations.replies/history (with metadata, oldest and cursors),
//     conversations.open, reactions.add, files.getUploadURLExternal, the
//     upload URL, files.completeUploadExternal, files.info, files.delete,
//     url_private downloads (the bot token as a Bearer header, else Slack's
//     redirect to the sign-in page), apps.connections.open.
//   - Socket Mode: hello, events_api envelopes, acknowledgements, pings,
//     raw frames (a disconnect request).
//   - Events, shaped as Slack documents them: messages of users (Say,
//     SayEvent), files shared by users (ShareFile: a message with subtype
//     file_share and files[], and optionally file_shared), edits (Edit:
//     message_changed with message.edited), link unfurls (Unfurl:
//     message_changed without edited), deletions (Delete: message_deleted
//     with deleted_ts), and the echo of the bot's own posts, updates and
//     deletions, as Slack sends them to message.channels subscribers.
//
// Limits enforced (see limits.go): 40,000 characters of text
// (msg_too_long), 50 blocks and 3,000 characters per section text
// (invalid_blocks), one chat.postMessage per second per channel with short
// bursts (HTTP 429 with Retry-After), the token's scopes per method
// (missing_scope with needed and provided).
//
// Tests steer it: FailNext queues failures (an ok:false error, an HTTP
// status, an answer lost after Slack did the work), Hold makes calls of a
// method wait, SetNotInChannel makes ephemeral messages to a user fail,
// SetScopes changes the token's scopes, SetRateLimit the channel limit.
// It accepts only the tokens BotToken and AppToken, and is imported only
// from tests.
package fakeslack
