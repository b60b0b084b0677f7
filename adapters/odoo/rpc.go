package odoo

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/chatbridge/chatbridge/bridge"
)

// maxAnswer bounds the size of a JSON-RPC answer that is read.
const maxAnswer = 1 << 20

type rpcRequest struct {
	JSONRPC string    `json:"jsonrpc"`
	Method  string    `json:"method"`
	Params  rpcParams `json:"params"`
	ID      int64     `json:"id"`
}

type rpcParams struct {
	Service string `json:"service"`
	Method  string `json:"method"`
	Args    []any  `json:"args"`
}

type rpcAnswer struct {
	ID     int64           `json:"id"`
	Result json.RawMessage `json:"result"`
	Error  *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
		Data    struct {
			Name    string `json:"name"`
			Message string `json:"message"`
		} `json:"data"`
	} `json:"error"`
}

// call makes one JSON-RPC call and returns its raw result.
func (s *Sink) call(ctx context.Context, service, method string, args ...any) (json.RawMessage, error) {
	id := s.nextID.Add(1)
	body, err := json.Marshal(rpcRequest{
		JSONRPC: "2.0", Method: "call", ID: id,
		Params: rpcParams{Service: service, Method: method, Args: args},
	})
	if err != nil {
		return nil, fmt.Errorf("encode: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.endpoint, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "chatbridge-odoo")
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("post %s: %w", s.endpoint, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return nil, fmt.Errorf("read answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, s.httpError(resp)
	}
	var ans rpcAnswer
	if err := json.Unmarshal(raw, &ans); err != nil {
		return nil, fmt.Errorf("%s did not answer JSON-RPC (is sinks.odoo.url the Odoo address?): %w", s.endpoint, err)
	}
	if ans.Error != nil {
		e := &RPCError{Code: ans.Error.Code, Name: ans.Error.Data.Name, Message: ans.Error.Data.Message}
		if e.Message == "" {
			e.Message = ans.Error.Message
		}
		return nil, e
	}
	if ans.Result == nil {
		return nil, fmt.Errorf("%s answered without a result", s.endpoint)
	}
	return ans.Result, nil
}

func (s *Sink) httpError(resp *http.Response) error {
	code := resp.StatusCode
	var err error
	switch {
	case code >= 300 && code < 400:
		err = fmt.Errorf("%s redirects to %q: set sinks.odoo.url to the final address", s.endpoint, resp.Header.Get("Location"))
	case code == http.StatusNotFound:
		err = fmt.Errorf("%s answered 404: check sinks.odoo.url (this Odoo may not offer the JSON-RPC API)", s.endpoint)
	default:
		err = fmt.Errorf("%s answered %d %s", s.endpoint, code, http.StatusText(code))
	}
	if code == http.StatusTooManyRequests || code == http.StatusServiceUnavailable {
		if n, perr := strconv.Atoi(strings.TrimSpace(resp.Header.Get("Retry-After"))); perr == nil && n > 0 {
			return &bridge.RetryAfterError{After: min(time.Duration(n)*time.Second, time.Hour), Err: err}
		}
	}
	return err
}

// authenticate logs in and caches the user id.
func (s *Sink) authenticate(ctx context.Context) (int64, error) {
	res, err := s.call(ctx, "common", "authenticate", s.cfg.Database, s.cfg.Login, s.cfg.APIKey, map[string]any{})
	if err != nil {
		return 0, fmt.Errorf("authenticate: %w", err)
	}
	var uid int64
	if json.Unmarshal(res, &uid) != nil || uid <= 0 {
		// Odoo answers false when the login or key is wrong.
		return 0, fmt.Errorf("%w for database %q (check [sinks.odoo] login and api_key)", ErrAuth, s.cfg.Database)
	}
	s.mu.Lock()
	first := s.uid == 0
	s.uid = uid
	s.mu.Unlock()
	if first {
		s.log.Info("odoo login accepted", "database", s.cfg.Database, "uid", uid)
	}
	return uid, nil
}

// executeKW calls model.method through object.execute_kw, logging in first
// when needed and once more if Odoo says the credentials were refused.
func (s *Sink) executeKW(ctx context.Context, model, method string, args []any, kwargs map[string]any) (json.RawMessage, error) {
	for attempt := 0; ; attempt++ {
		s.mu.Lock()
		uid := s.uid
		s.mu.Unlock()
		if uid == 0 {
			var err error
			if uid, err = s.authenticate(ctx); err != nil {
				return nil, fmt.Errorf("%s %s: %w", model, method, err)
			}
		}
		callArgs := []any{s.cfg.Database, uid, s.cfg.APIKey, model, method, args}
		if kwargs != nil {
			callArgs = append(callArgs, kwargs)
		}
		res, err := s.call(ctx, "object", "execute_kw", callArgs...)
		if rerr := (*RPCError)(nil); errors.As(err, &rerr) && rerr.denied() {
			s.mu.Lock()
			s.uid = 0
			s.mu.Unlock()
			if attempt == 0 {
				continue
			}
			return nil, fmt.Errorf("%s %s: %w: %w", model, method, ErrAuth, err)
		}
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", model, method, err)
		}
		return res, nil
	}
}
