// Package matrix bridges conversations into Matrix rooms as a client bot: an
// ordinary Matrix account (user id + access token) on any homeserver.
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
// The sync token is kept in the bridge store (namespace "matrix") and saved
// only after a sync response was handled, so a restart neither loses nor
// replays operator messages; a first start with no token skips the history.
// End-to-end encryption is not supported: an encrypted room is reported
// (Health, log, a notice in the room) and not bridged. Appservice mode
// (visitors as ghost users) is not implemented yet.
package matrix
