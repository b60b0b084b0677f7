package fakeslack

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// MethodScopes are the bot scopes each Web API method of the fake needs:
// one of them, by the kind of channel (public C…, private G…) for the
// conversations.* methods, all of them otherwise. chat.postMessage with a
// custom username or icon also needs chat:write.customize; downloading a
// file's url_private needs files:read. Methods not listed need no scope.
var MethodScopes = map[string][]string{
	"bots.info":                    {"users:read"},
	"users.info":                   {"users:read"},
	"chat.postMessage":             {"chat:write"},
	"chat.postEphemeral":           {"chat:write"},
	"chat.update":                  {"chat:write"},
	"chat.delete":                  {"chat:write"},
	"conversations.replies":        {"channels:history", "groups:history"},
	"conversations.history":        {"channels:history", "groups:history"},
	"conversations.open":           {"im:write"},
	"reactions.add":                {"reactions:write"},
	"files.getUploadURLExternal":   {"files:write"},
	"files.completeUploadExternal": {"files:write"},
	"files.delete":                 {"files:write"},
	"files.info":                   {"files:read"},
}

// neededScope is the scope a call of method needs with these arguments,
// or "".
func neededScope(method string, v url.Values) string {
	switch method {
	case "conversations.replies", "conversations.history":
		switch channelType(v.Get("channel")) {
		case "group":
			return "groups:history"
		case "im":
			return "im:history"
		}
		return "channels:history"
	}
	if s := MethodScopes[method]; len(s) > 0 {
		return s[0]
	}
	return ""
}

func (s *Server) reply(w http.ResponseWriter, v map[string]any) {
	if _, ok := v["ok"]; !ok {
		v["ok"] = true
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	if err := json.NewEncoder(w).Encode(v); err != nil {
		s.t.Errorf("fakeslack: encode: %v", err)
	}
}

func (s *Server) fail(w http.ResponseWriter, code string) {
	s.reply(w, map[string]any{"ok": false, "error": code})
}

// takeFailure returns the first failure queued for a call of method with
// args; s.mu must be held.
func (s *Server) takeFailure(method string, args url.Values) (Failure, bool) {
	for i, f := range s.failures {
		if f.Method == method && (f.When == nil || f.When(args)) {
			s.failures = append(s.failures[:i:i], s.failures[i+1:]...)
			return f, true
		}
	}
	return Failure{}, false
}

func (s *Server) api(w http.ResponseWriter, r *http.Request) {
	method := r.PathValue("method")
	if err := r.ParseForm(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	token := r.Form.Get("token")
	if token == "" {
		token = strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	}
	s.mu.Lock()
	gate := s.holds[method]
	s.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-r.Context().Done():
			return
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls[method]++
	if method == "chat.postMessage" {
		s.postTimes = append(s.postTimes, time.Now())
	}
	fail, failing := s.takeFailure(method, r.Form)
	switch {
	case failing && fail.Error != "":
		s.fail(w, fail.Error)
		return
	case failing && !fail.Lost:
		if fail.RetryAfter != "" {
			w.Header().Set("Retry-After", fail.RetryAfter)
		}
		w.WriteHeader(fail.Status)
		return
	case failing: // the work is done, the answer lost
		s.serve(httptest.NewRecorder(), r, method, token)
		if fail.Status != 0 {
			w.WriteHeader(fail.Status)
			return
		}
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				_ = conn.Close()
			}
		}
		return
	}
	if gate := s.answers[method]; gate != nil {
		rec := httptest.NewRecorder()
		s.serve(rec, r, method, token)
		s.mu.Unlock()
		select {
		case <-gate:
		case <-r.Context().Done():
		}
		s.mu.Lock() // for the deferred Unlock
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		_, _ = w.Write(rec.Body.Bytes())
		return
	}
	s.serve(w, r, method, token)
}

// serve answers one Web API call; s.mu is held.
func (s *Server) serve(w http.ResponseWriter, r *http.Request, method, token string) {
	v := r.Form
	want := BotToken
	if method == "apps.connections.open" {
		want = AppToken
	}
	switch {
	case token == "":
		s.fail(w, "not_authed")
		return
	case token != want:
		s.fail(w, "invalid_auth")
		return
	}
	if method != "apps.connections.open" {
		w.Header().Set("X-OAuth-Scopes", s.scopes)
		w.Header().Set("X-Accepted-OAuth-Scopes", strings.Join(MethodScopes[method], ","))
	}
	if need := neededScope(method, v); need != "" && !s.hasScope(need) {
		s.reply(w, map[string]any{"ok": false, "error": "missing_scope", "needed": need, "provided": s.scopes})
		return
	}
	switch method {
	case "auth.test":
		s.reply(w, map[string]any{"url": "https://test.slack.com/", "team": "Test", "user": "chatbridge",
			"team_id": TeamID, "user_id": BotUserID, "bot_id": BotID, "is_enterprise_install": false})
	case "bots.info":
		s.reply(w, map[string]any{"bot": map[string]any{"id": BotID, "app_id": AppID, "user_id": BotUserID, "deleted": false, "name": "chatbridge"}})
	case "users.info":
		id := v.Get("user")
		name, ok := s.users[id]
		if !ok {
			s.fail(w, "user_not_found")
			return
		}
		s.reply(w, map[string]any{"user": map[string]any{"id": id, "team_id": TeamID, "name": strings.ToLower(strings.Fields(name)[0]),
			"real_name": name, "profile": map[string]any{"display_name": name, "real_name": name}}})
	case "chat.postMessage":
		s.postMessage(w, v)
	case "chat.postEphemeral":
		s.postEphemeral(w, v)
	case "chat.update":
		s.update(w, v)
	case "chat.delete":
		s.deleteMessage(w, v)
	case "conversations.replies":
		s.listMessages(w, v, v.Get("ts"))
	case "conversations.history":
		s.listMessages(w, v, "")
	case "conversations.open":
		s.reply(w, map[string]any{"channel": map[string]any{"id": "D" + v.Get("users")}})
	case "reactions.add":
		s.addReaction(w, v)
	case "files.getUploadURLExternal":
		s.getUploadURL(w, v)
	case "files.completeUploadExternal":
		s.completeUpload(w, v)
	case "files.info":
		s.fileInfo(w, v)
	case "files.delete":
		s.deleteFile(w, v)
	case "apps.connections.open":
		s.reply(w, map[string]any{"url": "ws" + strings.TrimPrefix(s.srv.URL, "http") + "/socket"})
	default:
		s.fail(w, "unknown_method")
	}
}

// failContent answers a content error.
func (s *Server) failContent(w http.ResponseWriter, ce *contentError) {
	resp := map[string]any{"ok": false, "error": ce.code}
	if len(ce.errors) > 0 {
		msgs := make([]string, len(ce.errors))
		for i, e := range ce.errors {
			msgs[i] = "[ERROR] " + e
		}
		resp["errors"] = ce.errors
		resp["response_metadata"] = map[string]any{"messages": msgs}
	}
	s.reply(w, resp)
}

// fromForm reads a message's fields from chat.* arguments.
func (s *Server) fromForm(v url.Values) (*message, error) {
	m := &message{
		Channel: v.Get("channel"), ThreadTS: v.Get("thread_ts"), Text: v.Get("text"),
		Username: v.Get("username"), IconEmoji: v.Get("icon_emoji"),
		Broadcast: v.Get("reply_broadcast") == "true", UnfurlLinks: v.Get("unfurl_links") != "false",
	}
	if b := v.Get("blocks"); b != "" {
		m.Blocks = json.RawMessage(b)
	}
	if raw := v.Get("metadata"); raw != "" {
		var meta struct {
			EventType    string         `json:"event_type"`
			EventPayload map[string]any `json:"event_payload"`
		}
		if err := json.Unmarshal([]byte(raw), &meta); err != nil || meta.EventType == "" {
			return nil, fmt.Errorf("invalid_metadata_format")
		}
		m.MetaType, m.MetaPayload = meta.EventType, meta.EventPayload
	}
	return m, nil
}

// postMessage stores a message of the bot; s.mu is held.
func (s *Server) postMessage(w http.ResponseWriter, v url.Values) {
	m, err := s.fromForm(v)
	if err != nil {
		s.fail(w, err.Error())
		return
	}
	if !s.knownChannel(m.Channel) {
		s.fail(w, "channel_not_found")
		return
	}
	if (m.Username != "" || m.IconEmoji != "" || v.Get("icon_url") != "") && !s.hasScope("chat:write.customize") {
		s.reply(w, map[string]any{"ok": false, "error": "missing_scope", "needed": "chat:write.customize", "provided": s.scopes})
		return
	}
	if ce := checkContent(v, true); ce != nil {
		s.failContent(w, ce)
		return
	}
	if ok, wait := s.allowPost(m.Channel, time.Now()); !ok {
		w.Header().Set("Retry-After", retryAfter(wait))
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.WriteHeader(http.StatusTooManyRequests)
		_, _ = w.Write([]byte(`{"ok":false,"error":"ratelimited"}` + "\n"))
		return
	}
	m.TS, m.User, m.Bot = s.nextTS(), BotUserID, true
	s.msgs = append(s.msgs, m)
	if s.echo && m.Channel == s.Channel {
		// Slack sends the bot's own messages to message.channels too.
		s.queueEvent(s.messageJSON(m, false), "")
	}
	s.reply(w, map[string]any{"channel": m.Channel, "ts": m.TS, "message": s.messageJSON(m, true)})
}

// postEphemeral shows a message to one user; s.mu is held.
func (s *Server) postEphemeral(w http.ResponseWriter, v url.Values) {
	m, err := s.fromForm(v)
	if err != nil {
		s.fail(w, err.Error())
		return
	}
	m.User, m.Ephemeral = v.Get("user"), true
	switch {
	case !s.knownChannel(m.Channel):
		s.fail(w, "channel_not_found")
		return
	case m.User == "":
		s.fail(w, "user_not_found")
		return
	case s.notMember[m.User]:
		s.fail(w, "user_not_in_channel")
		return
	}
	if ce := checkContent(v, true); ce != nil {
		s.failContent(w, ce)
		return
	}
	m.TS = s.nextTS()
	s.msgs = append(s.msgs, m)
	s.reply(w, map[string]any{"message_ts": m.TS})
}

// botMessage finds the bot's message that v names, or answers with
// Slack's error (notBot when the message is someone else's) and returns
// nil; s.mu is held.
func (s *Server) botMessage(w http.ResponseWriter, v url.Values, notBot string) *message {
	m := s.find(v.Get("channel"), v.Get("ts"))
	switch {
	case !s.knownChannel(v.Get("channel")):
		s.fail(w, "channel_not_found")
	case m == nil:
		s.fail(w, "message_not_found")
	case !m.Bot:
		s.fail(w, notBot)
	default:
		return m
	}
	return nil
}

// update changes a message of the bot; s.mu is held.
func (s *Server) update(w http.ResponseWriter, v url.Values) {
	m := s.botMessage(w, v, "cant_update_message")
	if m == nil {
		return
	}
	if ce := checkContent(v, m.Subtype != "file_share"); ce != nil {
		s.failContent(w, ce)
		return
	}
	prev := s.messageJSON(m, false)
	if v.Has("text") {
		m.Text = v.Get("text")
	}
	if b := v.Get("blocks"); b != "" {
		m.Blocks = json.RawMessage(b)
	}
	ts := s.nextTS()
	m.EditedBy, m.EditedTS = BotUserID, ts
	if s.echo && m.Channel == s.Channel {
		s.queueEvent(map[string]any{"type": "message", "subtype": "message_changed", "hidden": true, "channel": m.Channel,
			"channel_type": channelType(m.Channel), "ts": ts, "event_ts": ts, "message": s.messageJSON(m, false), "previous_message": prev}, "")
	}
	s.reply(w, map[string]any{"channel": m.Channel, "ts": m.TS, "text": m.Text, "message": s.messageJSON(m, true)})
}

// deleteMessage deletes a message of the bot; s.mu is held.
func (s *Server) deleteMessage(w http.ResponseWriter, v url.Values) {
	m := s.botMessage(w, v, "cant_delete_message")
	if m == nil {
		return
	}
	s.remove(m)
	s.reply(w, map[string]any{"channel": m.Channel, "ts": m.TS})
}

// remove deletes m and sends message_deleted (not for the bot's messages
// without echo or outside the channel); it returns the envelope id or "".
// s.mu must be held.
func (s *Server) remove(m *message) string {
	prev := s.messageJSON(m, false)
	m.Deleted = true
	if m.Bot && (!s.echo || m.Channel != s.Channel) {
		return ""
	}
	ts := s.nextTS()
	return s.queueEvent(map[string]any{"type": "message", "subtype": "message_deleted", "hidden": true, "channel": m.Channel,
		"channel_type": channelType(m.Channel), "ts": ts, "deleted_ts": m.TS, "event_ts": ts, "previous_message": prev}, "")
}

// addReaction adds a reaction of the bot; s.mu is held.
func (s *Server) addReaction(w http.ResponseWriter, v url.Values) {
	if s.find(v.Get("channel"), v.Get("timestamp")) == nil {
		s.fail(w, "message_not_found")
		return
	}
	r := v.Get("name") + "@" + v.Get("timestamp")
	for _, have := range s.reactions {
		if have == r {
			s.fail(w, "already_reacted")
			return
		}
	}
	s.reactions = append(s.reactions, r)
	s.reply(w, map[string]any{})
}

// listMessages answers conversations.replies (thread != "") or
// conversations.history: messages of the channel, oldest first, with
// metadata only when asked for, limit per page and a cursor; s.mu is held.
func (s *Server) listMessages(w http.ResponseWriter, v url.Values, thread string) {
	channel := v.Get("channel")
	if !s.knownChannel(channel) {
		s.fail(w, "channel_not_found")
		return
	}
	if thread != "" && s.find(channel, thread) == nil {
		s.fail(w, "thread_not_found")
		return
	}
	withMeta := v.Get("include_all_metadata") == "1" || v.Get("include_all_metadata") == "true"
	oldest := v.Get("oldest")
	var all []map[string]any
	for _, m := range s.msgs {
		switch {
		case m.Ephemeral, m.Deleted, m.Channel != channel:
			continue
		case thread == "" && m.ThreadTS != "" && m.ThreadTS != m.TS && !m.Broadcast:
			continue
		case thread != "" && m.ThreadTS != thread && m.TS != thread:
			continue
		case oldest != "" && m.TS < oldest:
			continue
		}
		all = append(all, s.messageJSON(m, withMeta))
	}
	if thread == "" {
		// conversations.history is newest first.
		for i, j := 0, len(all)-1; i < j; i, j = i+1, j-1 {
			all[i], all[j] = all[j], all[i]
		}
	}
	start := 0
	if c := v.Get("cursor"); c != "" {
		n, err := strconv.Atoi(strings.TrimPrefix(c, "next:"))
		if err != nil || n < 0 || n > len(all) {
			s.fail(w, "invalid_cursor")
			return
		}
		start = n
	}
	limit := 100
	if l, err := strconv.Atoi(v.Get("limit")); err == nil && l > 0 {
		limit = min(l, 1000)
	}
	end := min(start+limit, len(all))
	page := all[start:end]
	if page == nil {
		page = []map[string]any{}
	}
	resp := map[string]any{"messages": page, "has_more": end < len(all)}
	if end < len(all) {
		resp["response_metadata"] = map[string]any{"next_cursor": "next:" + strconv.Itoa(end)}
	}
	s.reply(w, resp)
}

// messageJSON renders m as Slack does in events and listings; s.mu must
// be held.
func (s *Server) messageJSON(m *message, withMeta bool) map[string]any {
	out := map[string]any{"type": "message", "text": m.Text, "ts": m.TS, "team": TeamID}
	if m.User != "" {
		out["user"] = m.User
	}
	if m.Bot {
		out["bot_id"], out["app_id"] = BotID, AppID
		if m.Username != "" {
			out["username"] = m.Username
		}
	}
	if m.Subtype != "" {
		out["subtype"] = m.Subtype
	}
	if m.ThreadTS != "" {
		out["thread_ts"] = m.ThreadTS
	}
	if m.ClientMsgID != "" {
		out["client_msg_id"] = m.ClientMsgID
	}
	if len(m.Blocks) > 0 {
		out["blocks"] = m.Blocks
	}
	if m.EditedTS != "" {
		out["edited"] = map[string]any{"user": m.EditedBy, "ts": m.EditedTS}
	}
	if len(m.Attachments) > 0 {
		out["attachments"] = m.Attachments
	}
	if len(m.Files) > 0 {
		fs := make([]map[string]any, 0, len(m.Files))
		for _, id := range m.Files {
			if f := s.files[id]; f != nil {
				fs = append(fs, s.fileJSON(f))
			}
		}
		out["files"], out["upload"], out["display_as_bot"] = fs, true, false
	}
	if withMeta && m.MetaType != "" {
		out["metadata"] = map[string]any{"event_type": m.MetaType, "event_payload": m.MetaPayload}
	}
	return out
}
