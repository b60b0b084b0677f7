package admin

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/chatbridge/chatbridge/bridge"
)

// PurgeRequest is the body of POST /v1/purge: delete (or count, with
// DryRun) the closed conversations last updated before ClosedBefore.
type PurgeRequest struct {
	ClosedBefore time.Time `json:"closed_before"`
	DryRun       bool      `json:"dry_run,omitempty"`
	// Limit caps the conversations deleted (0: all).
	Limit int `json:"limit,omitempty"`
}

// PurgeReport is the answer of POST /v1/purge.
type PurgeReport struct {
	bridge.PurgeResult
	ClosedBefore time.Time `json:"closed_before"`
	DryRun       bool      `json:"dry_run,omitempty"`
	// FilesDeleted counts the files whose bytes were deleted (in a dry
	// run: 0; Blobs lists the files that would go).
	FilesDeleted int `json:"files_deleted"`
	// Seconds is how long the purge took.
	Seconds float64 `json:"seconds"`
}

// Purger purges: the app's retention, which also deletes the files'
// bytes, counts in the metrics and logs every run.
type Purger interface {
	Purge(ctx context.Context, o bridge.PurgeOptions) (PurgeReport, error)
}

// WithPurger serves POST /v1/purge with p and returns h.
func (h *Handler) WithPurger(p Purger) *Handler {
	h.mux.HandleFunc("POST /v1/purge", func(w http.ResponseWriter, r *http.Request) {
		var req PurgeRequest
		if err := decodeJSON(r, &req); err != nil {
			WriteError(w, http.StatusBadRequest, err)
			return
		}
		if req.ClosedBefore.IsZero() || req.Limit < 0 {
			WriteError(w, http.StatusBadRequest, errors.New("closed_before is required and limit may not be negative"))
			return
		}
		if req.ClosedBefore.After(h.engine.Now()) {
			WriteError(w, http.StatusBadRequest, fmt.Errorf("closed_before %s is in the future", req.ClosedBefore.Format(time.RFC3339)))
			return
		}
		rep, err := p.Purge(r.Context(), bridge.PurgeOptions{ClosedBefore: req.ClosedBefore, DryRun: req.DryRun, Limit: req.Limit})
		h.answer(w, rep, err)
	})
	return h
}
