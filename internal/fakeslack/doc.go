// Package fakeslack is a fake Slack on loopback for tests: enough of the Web
// API (auth.test, bots.info, users.info, chat.postMessage with metadata,
// chat.postEphemeral, conversations.replies/history/open, reactions.add,
// apps.connections.open) and of Socket Mode (hello, events_api envelopes,
// acks, pings) for chatbridge's Slack adapter, in-process or in a child
// process that is pointed at Server.APIURL.
//
// Start one with New, inject operator messages with Say (or any event with
// Inject), and read what the bridge posted with Posts. It accepts only the
// tokens BotToken and AppToken. It is imported only from tests.
package fakeslack
