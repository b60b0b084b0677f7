// Package visitor is chatbridge's public HTTP surface for website visitors:
// the JSON API under /api/v1 (sessions, page views, messages with long
// polling, typing, closing), the live WebSocket stream, origin checks, CORS,
// body limits and per-IP / per-visitor / per-conversation rate limits.
//
// Everything a request can read or change is keyed by the visitor its bearer
// token authenticates, so one visitor can never reach another's
// conversations. Only bridge.VisibilityPublic messages ever leave this
// package: operator notes, whispers and command output never reach a visitor.
//
// Files (files.go): visitors upload with POST /api/v1/files (the raw bytes,
// through files.Ingest, then bridge.Engine.VisitorSend); the files of
// messages are served at GET /api/v1/files/{conversation}/{seq} through
// short-lived links signed for the conversation's visitor, as sandboxed
// downloads.
//
// The embeddable widget (widget.js, its CSS, widget-files.js fetched when a
// visitor first sends a file, and the demo page) is mounted by
// Server.mountWidget, in widget.go.
package visitor
