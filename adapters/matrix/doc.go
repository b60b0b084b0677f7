// Package matrix bridges conversations into Matrix rooms, as a client bot
// (Config.Mode "bot": an ordinary account with an access token, on any
// homeserver) or as an appservice (Mode "appservice": installed on the
// homeserver with the file Registration writes).
//
// Every conversation gets its own unencrypted private room, created by the
// bot, named after the visitor, with the configured operators invited and a
// context card that mentions them. Visitor messages, replies and notes from
// other operator platforms, and system lines are posted into the room;
// operators' messages in the room go to bridge.Engine.HandleOperator, where
// commands, notes and canned responses are told apart from replies. Command
// output ("whispers") is an m.notice in a thread under the command, marked
// with the content field "org.chatbridge.operator_only".
//
// # Who reaches the visitor
//
// Only operators: the configured ones (Config.Operators) and, when
// Config.OperatorPowerLevel is set, room members with at least that power
// level. Anyone else who writes in a conversation's room (a guest, another
// bot) gets a notice, once per message, that it was not sent (m.notice
// messages, which bots send, get none, so that two bots cannot answer each
// other forever).
//
// # What is carried
//
// Both ways: text, files (native m.image, m.video, m.audio and m.file
// events with their info; an operator's file is downloaded — with
// authentication where /versions offers it — and checked by files.Ingest
// up to Config.MaxFileBytes), edits (m.replace; the new text is taken from
// m.new_content) and deletions (redactions). Operators' /me actions
// (m.emote) reach the visitor as emotes. Everything else an operator sends
// into the room — stickers, reactions, polls, locations, calls, refused
// files — gets a notice, once, saying it was not sent to the visitor. An
// edit or deletion made on another platform changes the event that showed
// the message in the room (the event ids are kept in the store by
// conversation and message number).
//
// # Nothing lost, nothing doubled
//
// Client bot: Run syncs. The sync token is kept in the bridge store
// (namespace "matrix") and saved only after a sync response was handled, so
// a restart neither loses nor replays operator messages; a first start with
// no token skips the history. When more events were written in a room than
// one sync returns (the timeline is "limited"), the missing ones are
// fetched with /messages back to the last event handled in that room
// (recorded with the token) and handled first; what cannot be fetched is
// said in the room and the log (see backfill.go).
//
// Every event a delivery sends has a transaction id derived from its outbox
// entry and names the entry in its content ("org.chatbridge.entry").
// Homeservers forget transaction ids (Dendrite on a restart, and for a
// request cut off after the event was stored), so a delivery whose earlier
// attempt may have succeeded first looks for the entry among the room's
// recent events (see resend.go).
//
// Appservice: the homeserver pushes transactions to Handler (mount it at
// AppservicePrefix). Each visitor is a ghost user "@livechat_<visitor
// id>:server" (Config.GhostPrefix) with the visitor's name, invited by the
// bot, who posts the visitor's messages and files as typed. A transaction
// is acknowledged only after its events were handled; handled transactions
// and operator messages are remembered in the store for a day, so a
// transaction sent again (after a failure answered with 500, or a restart)
// is handled once. Dendrite 0.13 does not push redactions to appservices:
// with it, an operator's deletion reaches the visitor in bot mode only.
//
// Operators typing in a room is shown to the visitor (Config.ForwardTyping,
// TOML matrix.forward_typing, default true). Matrix typing notifications
// carry no text, so the visitor also sees an operator "typing" while they
// write a ";; note" or a command; set forward_typing = false where that
// matters more than a lively widget.
//
// End-to-end encryption is not supported: an encrypted room is reported
// (Health, log, a notice in the room) and not bridged.
package matrix
