package matrix

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"time"

	"maunium.net/go/mautrix/event"
)

// AppservicePrefix is the path prefix of the appservice API that Handler
// serves; mount Handler there on the server the homeserver reaches
// (mux.Handle(matrix.AppservicePrefix, a.Handler())).
const AppservicePrefix = "/_matrix/app/"

const (
	// maxTransactionBytes bounds a transaction's body (homeservers send at
	// most 100 events of at most 64 KiB, and a few ephemeral ones).
	maxTransactionBytes = 32 << 20
	// transactionTimeout bounds the handling of one transaction.
	transactionTimeout = 2 * time.Minute
	// handledMemory is how long handled transactions are remembered: a
	// homeserver retries a transaction until the bridge answers it.
	handledMemory = 24 * time.Hour
)

// Handler serves the appservice API under AppservicePrefix: the
// homeserver's transactions (PUT /_matrix/app/v1/transactions/{txnId}),
// user and room alias queries (none exist: 404) and pings. Every request
// must carry the hs_token (Authorization: Bearer, or ?access_token= from
// older homeservers). In bot mode everything is 404.
//
// A transaction is acknowledged (200) only after all its events were
// handled; a failure answers 500, so that the homeserver sends it again.
// Handled transactions and operator messages are remembered in the bridge
// store, so a repeated transaction, even after a restart, is handled once.
func (a *Adapter) Handler() http.Handler {
	mux := http.NewServeMux()
	if !a.as {
		mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
			writeMatrixError(w, http.StatusNotFound, "M_UNRECOGNIZED", "chatbridge's Matrix adapter is not in appservice mode")
		})
		return mux
	}
	mux.HandleFunc("PUT /_matrix/app/v1/transactions/{txn}", a.putTransaction)
	mux.HandleFunc("GET /_matrix/app/v1/users/{user}", func(w http.ResponseWriter, _ *http.Request) {
		writeMatrixError(w, http.StatusNotFound, "M_NOT_FOUND", "chatbridge creates its users itself")
	})
	mux.HandleFunc("GET /_matrix/app/v1/rooms/{alias}", func(w http.ResponseWriter, _ *http.Request) {
		writeMatrixError(w, http.StatusNotFound, "M_NOT_FOUND", "chatbridge has no room aliases")
	})
	mux.HandleFunc("POST /_matrix/app/v1/ping", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, struct{}{})
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		writeMatrixError(w, http.StatusNotFound, "M_UNRECOGNIZED", "unknown appservice endpoint")
	})
	return a.authorized(mux)
}

// authorized lets through requests with the hs_token.
func (a *Adapter) authorized(next http.Handler) http.Handler {
	want := []byte(a.cfg.HSToken)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok {
			token = r.URL.Query().Get("access_token")
		}
		switch {
		case token == "":
			writeMatrixError(w, http.StatusUnauthorized, "M_UNAUTHORIZED", "missing hs_token")
		case subtle.ConstantTimeCompare([]byte(token), want) != 1:
			a.log.Warn("matrix appservice request with a wrong token", "remote", r.RemoteAddr, "path", r.URL.Path)
			writeMatrixError(w, http.StatusForbidden, "M_FORBIDDEN", "wrong hs_token")
		default:
			next.ServeHTTP(w, r)
		}
	})
}

// putTransaction handles one transaction of the homeserver.
func (a *Adapter) putTransaction(w http.ResponseWriter, r *http.Request) {
	txnID := r.PathValue("txn")
	if txnID == "" {
		writeMatrixError(w, http.StatusBadRequest, "M_INVALID_PARAM", "missing transaction id")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxTransactionBytes))
	if err != nil {
		writeMatrixError(w, http.StatusRequestEntityTooLarge, "M_TOO_LARGE", "transaction not read")
		return
	}
	var txn transaction
	if err := json.Unmarshal(body, &txn); err != nil {
		writeMatrixError(w, http.StatusBadRequest, "M_NOT_JSON", "transaction is not JSON")
		return
	}
	// Handling goes on when the homeserver gives up waiting: its retry
	// then finds the transaction handled.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), transactionTimeout)
	defer cancel()
	if err := a.handleTransaction(ctx, txnID, &txn); err != nil {
		a.log.Warn("matrix transaction not handled", "txn", txnID, "err", err)
		a.setSyncErr(err)
		writeMatrixError(w, http.StatusInternalServerError, "M_UNKNOWN", "transaction not handled, send it again")
		return
	}
	a.syncSucceeded()
	writeJSON(w, http.StatusOK, struct{}{})
}

// handleTransaction handles the events of a transaction in order, unless
// the transaction was handled before. Operator messages carry their own
// de-duplication (bridge.Engine.HandleOperator): those an earlier, failed
// attempt at the same transaction handled are not handled again.
func (a *Adapter) handleTransaction(ctx context.Context, txnID string, txn *transaction) error {
	a.txnMu.Lock()
	defer a.txnMu.Unlock()
	return a.engine.Once(ctx, "matrix:txn:"+txnID, handledMemory, func(ctx context.Context) error {
		handlers := map[string]func(context.Context, *event.Event) error{}
		for _, h := range a.eventHandlers() {
			handlers[h.typ.Type] = h.fn
		}
		ephemeral := txn.EphemeralEvents
		if ephemeral == nil {
			ephemeral = txn.MSC2409EphemeralEvents
		}
		for _, list := range []struct {
			events []*event.Event
			class  event.TypeClass
		}{{txn.Events, event.MessageEventType}, {ephemeral, event.EphemeralEventType}} {
			for _, evt := range list.events {
				if evt == nil {
					continue
				}
				evt.Type.Class = list.class
				if list.class == event.MessageEventType && evt.StateKey != nil {
					evt.Type.Class = event.StateEventType
				}
				fn := handlers[evt.Type.Type]
				if fn == nil && evt.Type.Class == event.MessageEventType {
					fn = a.onOther // a word to the operator who sent it
				}
				if fn == nil {
					continue
				}
				err := evt.Content.ParseRaw(evt.Type)
				if err != nil && !errors.Is(err, event.ErrContentAlreadyParsed) && !errors.Is(err, event.ErrUnsupportedContentType) {
					a.log.Debug("matrix event not parsed", "event", evt.ID, "type", evt.Type.Type, "err", err)
					continue
				}
				if err := fn(ctx, evt); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// transaction is the body of a homeserver's transaction: the part of
// mautrix's appservice.Transaction the adapter reads (that package would
// bring its own HTTP server, state store and YAML dependencies).
type transaction struct {
	Events                 []*event.Event `json:"events"`
	EphemeralEvents        []*event.Event `json:"ephemeral,omitempty"`
	MSC2409EphemeralEvents []*event.Event `json:"de.sorunome.msc2409.ephemeral,omitempty"`
}

// writeMatrixError answers with a Matrix error body.
func writeMatrixError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, map[string]string{"errcode": code, "error": msg})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
