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
// Client bot: Run syncs. The sync token is kept in the bridge store
// (namespace "matrix") and saved only after a sync response was handled, so
// a restart neither loses nor replays operator messages; a first start with
// no token skips the history.
//
// Appservice: the homeserver pushes transactions to Handler (mount it at
// AppservicePrefix). Each visitor is a ghost user "@livechat_<visitor
// id>:server" (Config.GhostPrefix) with the visitor's name, invited by the
// bot, who posts the visitor's messages as typed. A transaction is
// acknowledged only after its events were handled; handled transactions
// and operator messages are remembered in the store for a day, so a
// transaction sent again (after a failure answered with 500, or a restart)
// is handled once.
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
