package odoo

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
)

// call is one JSON-RPC call the fake Odoo received.
type call struct {
	Service, Method string
	Args            []any
}

// fakeOdoo answers JSON-RPC like Odoo's /jsonrpc for the calls the sink
// makes, and checks them strictly: the envelope, the argument shapes, the
// credentials, the model names and the field names.
type fakeOdoo struct {
	t *testing.T
	*httptest.Server
	db, login, key string
	uid            int64

	mu      sync.Mutex
	calls   []call
	records map[string][]map[string]any
	// refuse makes authenticate answer false.
	refuse bool
	// deny answers AccessDenied to that many execute_kw calls.
	deny int
	// createError answers create with a ValidationError with this text.
	createError string
}

// fields that Odoo 17/18 define on each model (those the sink may set).
var modelFields = map[string][]string{
	"helpdesk.ticket": {"name", "description", "partner_name", "partner_email", "team_id"},
	"crm.lead":        {"name", "description", "contact_name", "email_from", "referred"},
}

func newFakeOdoo(t *testing.T) *fakeOdoo {
	f := &fakeOdoo{t: t, db: "shopdb", login: "bot@example.com", key: "0123456789abcdef", uid: 7, records: map[string][]map[string]any{}}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeOdoo) config() Config {
	return Config{URL: f.URL, Database: f.db, Login: f.login, APIKey: f.key, Tickets: true, Leads: true}
}

func (f *fakeOdoo) set(fn func(f *fakeOdoo)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

func (f *fakeOdoo) callList() []call {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

func (f *fakeOdoo) count(service, method string) int {
	n := 0
	for _, c := range f.callList() {
		if c.Service == service && c.Method == method {
			n++
		}
	}
	return n
}

func (f *fakeOdoo) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/jsonrpc" {
		http.NotFound(w, r)
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		f.t.Errorf("Content-Type = %q", ct)
	}
	var req struct {
		JSONRPC string `json:"jsonrpc"`
		Method  string `json:"method"`
		Params  struct {
			Service string `json:"service"`
			Method  string `json:"method"`
			Args    []any  `json:"args"`
		} `json:"params"`
		ID json.RawMessage `json:"id"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		f.t.Errorf("request is not JSON: %v", err)
		http.Error(w, "bad json", http.StatusBadRequest)
		return
	}
	if req.JSONRPC != "2.0" || req.Method != "call" || len(req.ID) == 0 || string(req.ID) == "null" {
		f.t.Errorf("bad envelope: jsonrpc %q method %q id %s", req.JSONRPC, req.Method, req.ID)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, call{req.Params.Service, req.Params.Method, req.Params.Args})
	result, errName, errMsg := f.dispatch(req.Params.Service, req.Params.Method, req.Params.Args)
	ans := map[string]any{"jsonrpc": "2.0", "id": req.ID}
	if errName != "" {
		ans["error"] = map[string]any{
			"code": 200, "message": "Odoo Server Error",
			"data": map[string]any{"name": errName, "message": errMsg, "debug": "Traceback (most recent call last): ...", "arguments": []string{errMsg}, "context": map[string]any{}},
		}
	} else {
		ans["result"] = result
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(ans)
}

// dispatch answers one call; it runs with f.mu held.
func (f *fakeOdoo) dispatch(service, method string, args []any) (result any, errName, errMsg string) {
	switch {
	case service == "common" && method == "authenticate":
		if len(args) != 4 {
			f.t.Errorf("authenticate args = %v, want [db, login, key, {}]", args)
			return false, "", ""
		}
		if env, ok := args[3].(map[string]any); !ok || len(env) != 0 {
			f.t.Errorf("authenticate user_agent_env = %#v, want {}", args[3])
		}
		if f.refuse || args[0] != f.db || args[1] != f.login || args[2] != f.key {
			return false, "", ""
		}
		return f.uid, "", ""
	case service == "object" && method == "execute_kw":
		return f.executeKW(args)
	}
	f.t.Errorf("unexpected call %s.%s", service, method)
	return nil, "builtins.NotImplementedError", "no such method"
}

func (f *fakeOdoo) executeKW(args []any) (any, string, string) {
	if len(args) != 6 && len(args) != 7 {
		f.t.Errorf("execute_kw has %d args, want 6 or 7: %v", len(args), args)
		return nil, "builtins.TypeError", "bad arguments"
	}
	if f.deny > 0 {
		f.deny--
		return nil, "odoo.exceptions.AccessDenied", "Access Denied"
	}
	uid, _ := args[1].(float64)
	if args[0] != f.db || int64(uid) != f.uid || args[2] != f.key {
		return nil, "odoo.exceptions.AccessDenied", "Access Denied"
	}
	model, _ := args[3].(string)
	method, _ := args[4].(string)
	allowed, ok := modelFields[model]
	if !ok {
		return nil, "builtins.KeyError", fmt.Sprintf("Object %s doesn't exist", model)
	}
	posArgs, _ := args[5].([]any)
	switch method {
	case "create":
		if len(posArgs) != 1 {
			f.t.Errorf("create positional args = %v, want [values]", posArgs)
			return nil, "builtins.TypeError", "bad arguments"
		}
		vals, ok := posArgs[0].(map[string]any)
		if !ok {
			f.t.Errorf("create values = %#v, want an object", posArgs[0])
			return nil, "builtins.TypeError", "bad values"
		}
		for k := range vals {
			if !slices.Contains(allowed, k) {
				return nil, "builtins.ValueError", fmt.Sprintf("Invalid field '%s' on model '%s'", k, model)
			}
		}
		if name, _ := vals["name"].(string); name == "" {
			return nil, "odoo.exceptions.ValidationError", "The operation cannot be completed: Subject is required"
		}
		if f.createError != "" {
			return nil, "odoo.exceptions.ValidationError", f.createError
		}
		f.records[model] = append(f.records[model], vals)
		return len(f.records[model]), "", ""
	case "search":
		// [[["description", "ilike", ref]]], {"limit": 1}
		dom, _ := posArgs[0].([]any)
		if len(posArgs) != 1 || len(dom) != 1 {
			f.t.Errorf("search args = %v, want one domain of one term", posArgs)
			return []int{}, "", ""
		}
		term, _ := dom[0].([]any)
		if len(term) != 3 || term[0] != "description" || term[1] != "ilike" {
			f.t.Errorf("search term = %v", term)
			return []int{}, "", ""
		}
		needle := strings.ToLower(term[2].(string))
		ids := []int{}
		for i, rec := range f.records[model] {
			if d, _ := rec["description"].(string); strings.Contains(strings.ToLower(d), needle) {
				ids = append(ids, i+1)
			}
		}
		return ids, "", ""
	}
	f.t.Errorf("unexpected method %s on %s", method, model)
	return nil, "builtins.AttributeError", "no method"
}
