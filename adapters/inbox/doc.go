// Package inbox is chatbridge's built-in operator inbox: a small web page,
// served by the binary itself, where operators log in, see the open
// conversations with their unread counts and waiting times, read transcripts
// with the visitor's context, and reply.
//
// The inbox reads conversations straight from the store and sends everything
// operators type through bridge.Engine.HandleOperator, so commands, notes and
// canned responses behave as on every other platform. It is a
// bridge.Whisperer (operator-only text shows only in that operator's view)
// and not an outbox destination. Live updates reach the page over
// Server-Sent Events fed by the engine's hub.
//
// Typing indicators go both ways: the page shows "<visitor> is typing…" on
// the visitor's typing events, and tells the visitor that the operator is
// typing through POST /inbox/c/{id}/typing (no text; at most one event per
// operator and conversation every two seconds; never while the reply box
// holds a command, a note or a canned shortcut, never for a closed
// conversation).
//
// The conversation header has "Close chat" (POST /inbox/c/{id}/close:
// bridge.Engine.Close, the visitor sees the closing line; closing a closed
// conversation changes nothing) and "Leave" (POST /inbox/c/{id}/leave:
// bridge.Engine.Leave, the visitor is not told, and the operator gets a
// whisper saying so). Both are plain forms that work without the script;
// the script asks before closing and posts in the background.
//
// Files, edits and emotes: the reply form takes a file (files.go), sent
// with the caption through HandleOperator; files of messages are served at
// /inbox/files/{id}/{seq} to logged-in operators only, as sandboxed
// downloads (images inline). Operators edit and delete their own replies
// (changes.go); edits and deletions from any platform reach the page
// through the conversation's revision. "/me waves" is an emote. System
// lines are rendered in Config.Language. The list shows the waiting
// conversations first, the longest waiting first.
//
// Security: message text is never rendered as HTML (html/template on the
// server, textContent in the page's script), pages carry a strict Content
// Security Policy with no inline script or style, sessions are random
// HttpOnly SameSite=Strict cookies, every POST checks a per-session CSRF
// token, and failed logins are rate limited per client address (behind a
// reverse proxy, set Config.TrustProxyHeaders) and per login, without letting
// an attacker lock an operator out (see the policy in limiter.go). An unknown
// login costs as much bcrypt time as a configured one.
package inbox
