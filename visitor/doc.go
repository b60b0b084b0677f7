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
// The embeddable widget (widget.js, its CSS and the demo page) is mounted by
// Server.mountWidget, in widget.go.
package visitor
