package inbox

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"html/template"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/chatbridge/chatbridge/bridge"
	"github.com/chatbridge/chatbridge/files"
)

// maxFormBytes caps POST bodies: a message plus a few fields.
const maxFormBytes = 64 << 10

// replyTimeout bounds one send; the send is not cut short when the browser
// goes away, so that a half-done send cannot be lost to de-duplication.
const replyTimeout = 30 * time.Second

// pageData feeds templates/page.html.
type pageData struct {
	// Files: the reply form takes a file.
	Files    bool
	Operator OperatorAccount
	CSRF     string
	// Status is the list filter: "open" or "closed".
	Status  string
	List    []listItem
	Conv    *convView
	EventID string
	Error   string
	Draft   string
	Now     time.Time
}

// CurrentID is the id of the conversation shown, or "".
func (d pageData) CurrentID() string {
	if d.Conv == nil {
		return ""
	}
	return d.Conv.Item.ID
}

// loginData feeds templates/login.html.
type loginData struct {
	Next  string
	Login string
	Error string
}

var templateFuncs = template.FuncMap{
	"ago":     ago,
	"clock":   func(t time.Time) string { return t.Local().Format("15:04") },
	"iso":     func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
	"unread":  func(n int) string { return unreadLabel(n) },
	"size":    files.Size,
	"webLink": webLink,
	// isolate wraps visitor text where no element can (the page title) in
	// FIRST STRONG ISOLATE … POP DIRECTIONAL ISOLATE.
	"isolate": func(s string) string { return "\u2068" + s + "\u2069" },
}

// ago formats how long ago t was: "just now", "5 min", "2 h", "3 d".
func ago(now, t time.Time) string {
	d := now.Sub(t)
	switch {
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		return fmt.Sprintf("%d min", int(d/time.Minute))
	case d < 48*time.Hour:
		return fmt.Sprintf("%d h", int(d/time.Hour))
	default:
		return fmt.Sprintf("%d d", int(d/(24*time.Hour)))
	}
}

func unreadLabel(n int) string {
	if n >= unreadCap {
		return fmt.Sprintf("%d+", unreadCap-1)
	}
	return fmt.Sprint(n)
}

// webLink reports whether s is an http(s) URL the page may link to (anything
// else, such as javascript:, is shown as text only).
func webLink(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

// render executes a template into a buffer first, so that a template error
// never sends half a page.
func (in *Inbox) render(w http.ResponseWriter, status int, name string, data any) {
	var buf bytes.Buffer
	if err := in.tmpl.ExecuteTemplate(&buf, name, data); err != nil {
		in.log.Error("render page", "template", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

func (in *Inbox) loginPage(w http.ResponseWriter, r *http.Request) {
	next := r.URL.Query().Get("next")
	if !safeNext(next) {
		next = "/inbox/"
	}
	if in.sessionFrom(r) != nil {
		http.Redirect(w, r, next, http.StatusSeeOther)
		return
	}
	data := loginData{Next: next}
	if len(in.cfg.Operators) == 0 {
		data.Error = noOperators
	}
	in.render(w, http.StatusOK, "login.html", data)
}

// noOperators is the login page's notice when nobody can log in.
const noOperators = "No operator is configured yet. On the server, run `chatbridge inbox add-operator <login>`, then restart chatbridge."

// waitText says how long a wait of secs seconds is.
func waitText(secs int) string {
	if secs < 120 {
		return fmt.Sprintf("%d seconds", secs)
	}
	return fmt.Sprintf("%d minutes", (secs+59)/60)
}

// noteProxy logs once that login requests come through a reverse proxy
// while its headers are not trusted: every operator behind it then shares
// the proxy's address for the login limits.
func (in *Inbox) noteProxy(r *http.Request) {
	if in.cfg.TrustProxyHeaders || r.Header.Get("X-Forwarded-For") == "" {
		return
	}
	in.proxyOnce.Do(func() {
		in.log.Warn("login requests come through a reverse proxy (X-Forwarded-For) but visitor.trust_proxy_headers is false: every client counts as the proxy's address for the login limits")
	})
}

func (in *Inbox) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 8<<10)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	if !in.sameOrigin(r) {
		http.Error(w, "cross-site login refused", http.StatusForbidden)
		return
	}
	next := r.PostFormValue("next")
	if !safeNext(next) {
		next = "/inbox/"
	}
	login := r.PostFormValue("login")
	data := loginData{Next: next, Login: login}
	addr, key, now := clientAddr(r, in.cfg.TrustProxyHeaders), loginKey(login), in.now()
	in.noteProxy(r)
	if ok, wait := in.limiter.allow(addr, key, now); !ok {
		in.log.Warn("login slowed down", "addr", addr)
		secs := int((wait + time.Second - 1) / time.Second)
		w.Header().Set("Retry-After", fmt.Sprint(secs))
		data.Error = fmt.Sprintf("Too many failed logins for this login from your address: wait %s before the next try.", waitText(secs))
		in.render(w, http.StatusTooManyRequests, "login.html", data)
		return
	}
	acct, ok := in.checkPassword(login, r.PostFormValue("password"))
	if !ok {
		in.limiter.fail(addr, key, now)
		in.log.Info("login failed", "addr", addr)
		data.Error = "Wrong login or password."
		if len(in.cfg.Operators) == 0 {
			data.Error = noOperators
		}
		in.render(w, http.StatusUnauthorized, "login.html", data)
		return
	}
	in.limiter.succeed(addr, key)
	ss, err := in.sessions.create(r.Context(), acct, now)
	if err != nil {
		in.log.Error("login not stored", "operator", acct.Login, "err", err)
		http.Error(w, "the login could not be stored; try again", http.StatusServiceUnavailable)
		return
	}
	http.SetCookie(w, &http.Cookie{
		Name: cookieName, Value: ss.id, Path: "/inbox", MaxAge: int(in.cfg.SessionTTL.Seconds()),
		HttpOnly: true, Secure: in.secureCookie, SameSite: http.SameSiteStrictMode,
	})
	in.log.Info("operator logged in", "operator", acct.Login)
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (in *Inbox) logout(w http.ResponseWriter, r *http.Request, ss *session) {
	r.Body = http.MaxBytesReader(w, r.Body, 8<<10)
	if err := r.ParseForm(); err != nil || !in.checkCSRF(r, ss) {
		http.Error(w, "invalid or missing CSRF token", http.StatusForbidden)
		return
	}
	if err := in.sessions.delete(r.Context(), ss.id, in.now()); err != nil {
		in.log.Error("logout not stored", "operator", ss.op.Login, "err", err)
		http.Error(w, "the logout could not be stored; try again", http.StatusServiceUnavailable)
		return
	}
	http.SetCookie(w, &http.Cookie{
		Name: cookieName, Value: "", Path: "/inbox", MaxAge: -1,
		HttpOnly: true, Secure: in.secureCookie, SameSite: http.SameSiteStrictMode,
	})
	http.Redirect(w, r, "/inbox/login", http.StatusSeeOther)
}

// statusFilter reads ?status=: "closed" or the default "open".
func statusFilter(r *http.Request) bridge.Status {
	if r.URL.Query().Get("status") == string(bridge.StatusClosed) {
		return bridge.StatusClosed
	}
	return bridge.StatusOpen
}

func (in *Inbox) listPage(w http.ResponseWriter, r *http.Request, ss *session) {
	in.showPage(w, r, ss, http.StatusOK, "", "", "")
}

func (in *Inbox) conversationPage(w http.ResponseWriter, r *http.Request, ss *session) {
	in.showPage(w, r, ss, http.StatusOK, r.PathValue("id"), "", "")
}

// showPage renders the list, and the conversation convID when not "".
func (in *Inbox) showPage(w http.ResponseWriter, r *http.Request, ss *session, status int, convID, errMsg, draft string) {
	op := operator(ss.op)
	filter := statusFilter(r)
	data := pageData{
		Operator: ss.op, CSRF: ss.csrf, Status: string(filter), EventID: randomString(16),
		Error: errMsg, Draft: draft, Now: in.now(), Files: in.cfg.Blobs != nil,
	}
	if convID != "" {
		cv, err := in.conversation(r.Context(), op, convID, 0, 0)
		if errors.Is(err, bridge.ErrNotFound) {
			http.Error(w, "no such conversation", http.StatusNotFound)
			return
		}
		if err != nil {
			in.log.Error("load conversation", "conversation", convID, "err", err)
			http.Error(w, "internal error", http.StatusInternalServerError)
			return
		}
		data.Conv = &cv
	}
	list, err := in.list(r.Context(), op, filter)
	if err != nil {
		in.log.Error("list conversations", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	data.List = list
	in.render(w, status, "page.html", data)
}

// validEventID accepts the page's random per-submit ids.
func validEventID(s string) bool {
	if len(s) < 8 || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

// reply sends what the operator typed through the engine, with the file
// attached to it (a multipart form with a "file" field). The form's
// event_id makes a repeated submit (double click, retry) a no-op; it is
// also the reply's platform id, by which a later edit or deletion names
// it. "/me waves" is sent as an emote ("* Alice waves"). Scripts (Accept:
// application/json) get JSON; plain forms get a redirect or the page with
// the error.
func (in *Inbox) reply(w http.ResponseWriter, r *http.Request, ss *session) {
	jsonOut := wantsJSON(r)
	fail := func(status int, msg, draft string) {
		if jsonOut {
			writeJSONError(w, status, msg)
			return
		}
		in.showPage(w, r, ss, status, r.PathValue("id"), msg, draft)
	}
	var fh *multipart.FileHeader
	if strings.HasPrefix(r.Header.Get("Content-Type"), "multipart/form-data") {
		r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes+in.cfg.MaxFileBytes+16<<10)
		err := r.ParseMultipartForm(maxFormBytes)
		if r.MultipartForm != nil {
			defer func() { _ = r.MultipartForm.RemoveAll() }()
		}
		if err != nil {
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) {
				writeJSONError(w, http.StatusRequestEntityTooLarge, "The file is too large: the limit is "+files.Size(in.cfg.MaxFileBytes)+".")
				return
			}
			writeJSONError(w, http.StatusBadRequest, "bad form")
			return
		}
		if fhs := r.MultipartForm.File["file"]; len(fhs) > 0 {
			fh = fhs[0]
		}
	} else {
		r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
		if err := r.ParseForm(); err != nil {
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) {
				writeJSONError(w, http.StatusRequestEntityTooLarge, "message too large")
				return
			}
			writeJSONError(w, http.StatusBadRequest, "bad form")
			return
		}
	}
	if !in.checkCSRF(r, ss) {
		writeJSONError(w, http.StatusForbidden, "invalid or missing CSRF token; reload the page")
		return
	}
	convID, text, eventID := r.PathValue("id"), r.PostFormValue("text"), r.PostFormValue("event_id")
	if !validEventID(eventID) {
		fail(http.StatusBadRequest, "The form is out of date; reload the page.", text)
		return
	}
	hasFile := fh != nil && (fh.Filename != "" || fh.Size > 0)
	if strings.TrimSpace(text) == "" && !hasFile {
		fail(http.StatusBadRequest, "Type a message first.", "")
		return
	}
	if max := in.engine.MaxMessageBytes(); len(text) > max {
		fail(http.StatusRequestEntityTooLarge, fmt.Sprintf("The message is too long: %d bytes, the limit is %d.", len(text), max), text)
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), replyTimeout)
	defer cancel()
	file, err := in.ingest(ctx, fh)
	var ue *uploadError
	switch {
	case errors.As(err, &ue):
		fail(ue.status, ue.msg, text)
		return
	case err != nil:
		in.log.Error("operator file not stored", "conversation", convID, "operator", ss.op.Login, "err", err)
		fail(http.StatusInternalServerError, "The file could not be stored; try again.", text)
		return
	}
	id := ss.op.Login + "/" + eventID
	input := bridge.OperatorInput{EventID: id, PlatformID: id, ConversationID: convID, Operator: operator(ss.op), Text: text, File: file}
	if rest, ok := strings.CutPrefix(strings.TrimLeft(text, " \t"), "/me "); ok && strings.TrimSpace(rest) != "" {
		input.Text, input.Emote = rest, true
	}
	err = in.engine.HandleOperator(ctx, input)
	switch {
	case errors.Is(err, bridge.ErrNotFound):
		fail(http.StatusNotFound, "No such conversation.", text)
		return
	case errors.Is(err, bridge.ErrTooLarge):
		fail(http.StatusRequestEntityTooLarge, "The message is too long.", text)
		return
	case errors.Is(err, bridge.ErrInvalid):
		fail(http.StatusBadRequest, "The message was not accepted: "+err.Error(), text)
		return
	case err != nil:
		in.log.Error("operator message failed", "conversation", convID, "operator", ss.op.Login, "err", err)
		fail(http.StatusInternalServerError, "Sending failed; try again.", text)
		return
	}
	if jsonOut {
		writeJSON(w, http.StatusOK, map[string]bool{"ok": true})
		return
	}
	target := "/inbox/c/" + url.PathEscape(convID)
	if statusFilter(r) == bridge.StatusClosed {
		target += "?status=closed"
	}
	http.Redirect(w, r, target, http.StatusSeeOther)
}
