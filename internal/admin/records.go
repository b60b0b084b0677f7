package admin

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/chatbridge/chatbridge/bridge"
	"github.com/chatbridge/chatbridge/canned"
)

// maxImport caps an imported canned-response file.
const maxImport = 16 << 20

// records registers the canned response, ticket and lead endpoints.
func (h *Handler) records() {
	h.mux.HandleFunc("GET /v1/canned", h.listCanned)
	h.mux.HandleFunc("POST /v1/canned", h.addCanned)
	h.mux.HandleFunc("DELETE /v1/canned/{shortcut}", h.removeCanned)
	h.mux.HandleFunc("POST /v1/canned/import", h.importCanned)
	h.mux.HandleFunc("GET /v1/canned/export", h.exportCanned)
	h.mux.HandleFunc("GET /v1/tickets", h.listTickets)
	h.mux.HandleFunc("GET /v1/tickets/search", h.searchTickets)
	h.mux.HandleFunc("GET /v1/tickets/{number}", h.showTicket)
	h.mux.HandleFunc("GET /v1/leads", h.listLeads)
	h.mux.HandleFunc("GET /v1/leads/{number}", h.showLead)
	h.mux.HandleFunc("GET /v1/outbox", h.listOutbox)
	h.mux.HandleFunc("POST /v1/outbox/{id}/retry", h.retryDead)
	h.mux.HandleFunc("POST /v1/outbox/{id}/drop", h.dropDead)
}

func (h *Handler) answer(w http.ResponseWriter, out any, err error) {
	switch {
	case errors.Is(err, bridge.ErrNotFound):
		WriteError(w, http.StatusNotFound, err)
	case errors.Is(err, bridge.ErrInvalid):
		WriteError(w, http.StatusBadRequest, err)
	case err != nil:
		WriteError(w, http.StatusInternalServerError, err)
	default:
		WriteJSON(w, http.StatusOK, out)
	}
}

func limitParam(r *http.Request) (int, error) {
	s := r.URL.Query().Get("limit")
	if s == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%w: limit must be a positive number", bridge.ErrInvalid)
	}
	return n, nil
}

func numberParam(r *http.Request) (uint64, error) {
	n, err := strconv.ParseUint(r.PathValue("number"), 10, 64)
	if err != nil || n == 0 {
		return 0, fmt.Errorf("%w: %q is not a number", bridge.ErrInvalid, r.PathValue("number"))
	}
	return n, nil
}

func (h *Handler) listCanned(w http.ResponseWriter, r *http.Request) {
	all, err := h.engine.CannedResponses(r.Context())
	if all == nil {
		all = []bridge.CannedResponse{}
	}
	if q := r.URL.Query().Get("q"); q != "" && err == nil {
		all = canned.Match(all, q, r.URL.Query().Get("operator"))
	}
	h.answer(w, all, err)
}

// CannedResult says what an add or import changed.
type CannedResult struct {
	Added    int `json:"added"`
	Replaced int `json:"replaced"`
}

func (h *Handler) addCanned(w http.ResponseWriter, r *http.Request) {
	var c bridge.CannedResponse
	if err := decodeJSON(r, &c); err != nil {
		WriteError(w, http.StatusBadRequest, err)
		return
	}
	c.Uses, c.LastUsed = 0, time.Time{}
	var res CannedResult // the engine validates: ErrInvalid answers 400
	replaced, err := h.engine.PutCanned(r.Context(), c)
	if replaced {
		res.Replaced = 1
	} else {
		res.Added = 1
	}
	h.answer(w, res, err)
}

func (h *Handler) removeCanned(w http.ResponseWriter, r *http.Request) {
	owner, sc := r.URL.Query().Get("owner"), r.PathValue("shortcut")
	err := h.engine.DeleteCanned(r.Context(), owner, sc)
	if errors.Is(err, bridge.ErrNotFound) {
		msg := "no shared canned response :" + sc
		if owner != "" {
			msg = fmt.Sprintf("no canned response :%s of %s", sc, owner)
		}
		WriteError(w, http.StatusNotFound, errors.New(msg))
		return
	}
	h.answer(w, map[string]string{"removed": sc}, err)
}

func (h *Handler) importCanned(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxImport))
	if err != nil {
		WriteError(w, http.StatusRequestEntityTooLarge, fmt.Errorf("import: %w", err))
		return
	}
	var list []bridge.CannedResponse
	switch f := r.URL.Query().Get("format"); f {
	case "csv":
		list, err = canned.ParseCSV(bytes.NewReader(body))
	case "toml":
		list, err = canned.ParseTOML(bytes.NewReader(body))
	default:
		err = fmt.Errorf("format must be csv or toml, not %q", f)
	}
	if err != nil {
		WriteError(w, http.StatusBadRequest, err)
		return
	}
	if err := canned.ValidateAll(list); err != nil {
		WriteError(w, http.StatusBadRequest, err)
		return
	}
	var res CannedResult
	res.Added, res.Replaced, err = h.engine.ImportCanned(r.Context(), list)
	h.answer(w, res, err)
}

func (h *Handler) exportCanned(w http.ResponseWriter, r *http.Request) {
	all, err := h.engine.CannedResponses(r.Context())
	if err != nil {
		WriteError(w, http.StatusInternalServerError, err)
		return
	}
	var buf bytes.Buffer
	switch f := r.URL.Query().Get("format"); f {
	case "csv":
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		err = canned.WriteCSV(&buf, all)
	case "toml":
		w.Header().Set("Content-Type", "application/toml")
		err = canned.WriteTOML(&buf, all)
	default:
		WriteError(w, http.StatusBadRequest, fmt.Errorf("format must be csv or toml, not %q", f))
		return
	}
	if err != nil {
		WriteError(w, http.StatusInternalServerError, err)
		return
	}
	_, _ = w.Write(buf.Bytes())
}

func (h *Handler) listTickets(w http.ResponseWriter, r *http.Request) {
	limit, err := limitParam(r)
	if err != nil {
		WriteError(w, http.StatusBadRequest, err)
		return
	}
	ts, err := h.engine.Tickets(r.Context(), limit)
	if ts == nil {
		ts = []bridge.Ticket{}
	}
	h.answer(w, ts, err)
}

func (h *Handler) searchTickets(w http.ResponseWriter, r *http.Request) {
	limit, err := limitParam(r)
	if err != nil {
		WriteError(w, http.StatusBadRequest, err)
		return
	}
	q := r.URL.Query().Get("q")
	if q == "" {
		WriteError(w, http.StatusBadRequest, errors.New("search needs keywords or #number (q=…)"))
		return
	}
	res, err := h.engine.SearchTickets(r.Context(), q, limit)
	if res.Tickets == nil {
		res.Tickets = []bridge.Ticket{}
	}
	h.answer(w, res, err)
}

func (h *Handler) showTicket(w http.ResponseWriter, r *http.Request) {
	n, err := numberParam(r)
	if err != nil {
		WriteError(w, http.StatusBadRequest, err)
		return
	}
	t, err := h.engine.Ticket(r.Context(), n)
	if errors.Is(err, bridge.ErrNotFound) {
		WriteError(w, http.StatusNotFound, fmt.Errorf("no ticket #%d", n))
		return
	}
	h.answer(w, t, err)
}

func (h *Handler) listLeads(w http.ResponseWriter, r *http.Request) {
	limit, err := limitParam(r)
	if err != nil {
		WriteError(w, http.StatusBadRequest, err)
		return
	}
	ls, err := h.engine.Leads(r.Context(), limit)
	if ls == nil {
		ls = []bridge.Lead{}
	}
	h.answer(w, ls, err)
}

func (h *Handler) showLead(w http.ResponseWriter, r *http.Request) {
	n, err := numberParam(r)
	if err != nil {
		WriteError(w, http.StatusBadRequest, err)
		return
	}
	l, err := h.engine.Lead(r.Context(), n)
	if errors.Is(err, bridge.ErrNotFound) {
		WriteError(w, http.StatusNotFound, fmt.Errorf("no lead #%d", n))
		return
	}
	h.answer(w, l, err)
}

// OutboxRow is one pending delivery, for `chatbridge outbox list`.
type OutboxRow struct {
	bridge.OutboxEntry
	// AgeSeconds is how long the entry has waited.
	AgeSeconds float64 `json:"age_seconds"`
}

// listOutbox lists the pending deliveries of every destination (or of
// ?destination=), oldest first, at most ?limit= per destination (100).
func (h *Handler) listOutbox(w http.ResponseWriter, r *http.Request) {
	limit, err := limitParam(r)
	if err != nil {
		WriteError(w, http.StatusBadRequest, err)
		return
	}
	if limit == 0 {
		limit = 100
	}
	dest := r.URL.Query().Get("destination")
	list := h.engine.PendingDeliveries
	if r.URL.Query().Get("dead") != "" {
		list = h.engine.DeadLetters
	}
	entries, err := list(r.Context(), dest, limit)
	// An empty list for a destination that does not exist would read as
	// "all delivered": say it does not exist (entries left for one that is
	// no longer configured are still listed).
	if err == nil && dest != "" && len(entries) == 0 && !slices.Contains(h.engine.Destinations(), dest) {
		known := h.engine.Destinations()
		slices.Sort(known)
		msg := fmt.Sprintf("no destination %q: the configured ones are %s", dest, strings.Join(known, ", "))
		if len(known) == 0 {
			msg = fmt.Sprintf("no destination %q: none is configured (Slack, Matrix, e-mail and the sinks are)", dest)
		}
		WriteError(w, http.StatusNotFound, errors.New(msg))
		return
	}
	now := h.engine.Now()
	rows := make([]OutboxRow, 0, len(entries))
	for _, e := range entries {
		rows = append(rows, OutboxRow{OutboxEntry: e, AgeSeconds: now.Sub(e.CreatedAt).Seconds()})
	}
	h.answer(w, rows, err)
}

// retryDead puts a dead letter back into its outbox.
func (h *Handler) retryDead(w http.ResponseWriter, r *http.Request) {
	h.deadLetter(w, r, h.engine.RetryDeadLetter)
}

// dropDead deletes a dead letter for good.
func (h *Handler) dropDead(w http.ResponseWriter, r *http.Request) {
	h.deadLetter(w, r, h.engine.DropDeadLetter)
}

func (h *Handler) deadLetter(w http.ResponseWriter, r *http.Request, fn func(context.Context, uint64) (bridge.OutboxEntry, error)) {
	id, err := strconv.ParseUint(r.PathValue("id"), 10, 64)
	if err != nil || id == 0 {
		WriteError(w, http.StatusBadRequest, fmt.Errorf("%q is not an outbox entry id", r.PathValue("id")))
		return
	}
	en, err := fn(r.Context(), id)
	if errors.Is(err, bridge.ErrNotFound) {
		err = fmt.Errorf("no dead letter %d (`chatbridge outbox list --dead` lists them): %w", id, bridge.ErrNotFound)
	}
	h.answer(w, en, err)
}
