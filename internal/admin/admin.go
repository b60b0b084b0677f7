// Package admin is the management API behind the CLI. The same HTTP handler
// answers over a unix socket in the data directory while `chatbridge serve`
// runs (bbolt allows one process to hold the file), and in-process, on a
// store the CLI opened itself, when no server runs: both paths run the same
// code, so a command gives the same answer either way.
package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/chatbridge/chatbridge/bridge"
)

// Engine is what the admin API uses of the bridge (bridge.Engine
// implements it).
type Engine interface {
	Now() time.Time
	Conversations(ctx context.Context, f bridge.ConversationFilter) ([]bridge.ConversationSummary, error)
	ConversationDetail(ctx context.Context, id string, after uint64, limit, pages int) (bridge.ConversationDetail, error)
	CannedResponses(ctx context.Context) ([]bridge.CannedResponse, error)
	PutCanned(ctx context.Context, c bridge.CannedResponse) (replaced bool, err error)
	ImportCanned(ctx context.Context, list []bridge.CannedResponse) (added, replaced int, err error)
	DeleteCanned(ctx context.Context, owner, shortcut string) error
	Tickets(ctx context.Context, limit int) ([]bridge.Ticket, error)
	Ticket(ctx context.Context, number uint64) (bridge.Ticket, error)
	SearchTickets(ctx context.Context, q string, limit int) (bridge.TicketQuery, error)
	Leads(ctx context.Context, limit int) ([]bridge.Lead, error)
	Lead(ctx context.Context, number uint64) (bridge.Lead, error)
	PendingDeliveries(ctx context.Context, destination string, limit int) ([]bridge.OutboxEntry, error)
	DeadLetters(ctx context.Context, destination string, limit int) ([]bridge.OutboxEntry, error)
	RetryDeadLetter(ctx context.Context, id uint64) (bridge.OutboxEntry, error)
	DropDeadLetter(ctx context.Context, id uint64) (bridge.OutboxEntry, error)
	Destinations() []string
}

var _ Engine = (*bridge.Engine)(nil)

// Handler serves the admin API for an engine.
type Handler struct {
	engine Engine
	log    *slog.Logger
	mux    *http.ServeMux
}

// NewHandler returns the admin API on engine.
func NewHandler(engine Engine, log *slog.Logger) *Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	h := &Handler{engine: engine, log: log, mux: http.NewServeMux()}
	h.mux.HandleFunc("GET /v1/ping", func(w http.ResponseWriter, r *http.Request) {
		WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	h.mux.HandleFunc("GET /v1/conversations", h.listConversations)
	h.mux.HandleFunc("GET /v1/conversations/{id}", h.showConversation)
	h.records()
	return h
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

// ConversationSummary is one row of `conversations list`.
type ConversationSummary = bridge.ConversationSummary

// ConversationDetail is `conversations show`: every message the operators
// see (public, notes and whispers), and the visitor's recent pages.
type ConversationDetail = bridge.ConversationDetail

// pagesShown is how many page views `conversations show` lists.
const pagesShown = 15

func (h *Handler) listConversations(w http.ResponseWriter, r *http.Request) {
	f := bridge.ConversationFilter{Status: bridge.Status(r.URL.Query().Get("status"))}
	if f.Status != "" && f.Status != bridge.StatusOpen && f.Status != bridge.StatusClosed {
		WriteError(w, http.StatusBadRequest, fmt.Errorf("status must be open or closed, not %q", f.Status))
		return
	}
	if s := r.URL.Query().Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			WriteError(w, http.StatusBadRequest, fmt.Errorf("limit must be a positive number"))
			return
		}
		f.Limit = n
	}
	out, err := h.engine.Conversations(r.Context(), f)
	if err != nil {
		WriteError(w, http.StatusInternalServerError, err)
		return
	}
	if out == nil {
		out = []bridge.ConversationSummary{} // [] in JSON, not null
	}
	WriteJSON(w, http.StatusOK, out)
}

func (h *Handler) showConversation(w http.ResponseWriter, r *http.Request) {
	d, err := h.engine.ConversationDetail(r.Context(), r.PathValue("id"), 0, 0, pagesShown)
	if errors.Is(err, bridge.ErrNotFound) {
		WriteError(w, http.StatusNotFound, fmt.Errorf("no conversation %q", r.PathValue("id")))
		return
	}
	if err != nil {
		WriteError(w, http.StatusInternalServerError, err)
		return
	}
	WriteJSON(w, http.StatusOK, d)
}

// WriteJSON writes v as JSON with status.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// apiError is the admin API's error body.
type apiError struct {
	Error string `json:"error"`
}

// WriteError writes {"error": "..."} with status.
func WriteError(w http.ResponseWriter, status int, err error) {
	WriteJSON(w, status, apiError{Error: err.Error()})
}

// decodeError reads an error body.
func decodeError(status int, body []byte) error {
	var e apiError
	if json.Unmarshal(body, &e) == nil && e.Error != "" {
		return &StatusError{Status: status, Msg: e.Error}
	}
	return &StatusError{Status: status, Msg: http.StatusText(status)}
}

// StatusError is an error answer of the admin API.
type StatusError struct {
	Status int
	Msg    string
}

func (e *StatusError) Error() string { return e.Msg }

// decodeJSON decodes a small JSON request body strictly.
func decodeJSON(r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(nil, r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("invalid request body: %w", err)
	}
	return nil
}
