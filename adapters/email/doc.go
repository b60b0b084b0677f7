// Package email sends operator replies by e-mail (SMTP) to visitors who are
// away, with a signed link that brings them back to the conversation.
//
// The Adapter is a bridge.Deliverer named "email" that wants message
// entries. A public operator reply to a visitor who left an e-mail address
// is recorded durably in the store; Run sends it when the visitor is away
// (no live widget connection for a while, as reported by Config.Away),
// coalescing the replies of one conversation into at most one e-mail per
// Config.Coalesce. Notes, whispers, command output and system lines are never
// sent: only bridge.VisibilityPublic operator messages are.
//
// Resume links carry a code signed with HMAC-SHA256 (visitor id and expiry);
// VerifyResume checks it, and the widget's POST /api/v1/sessions/resume
// exchanges it for a fresh visitor token.
package email
