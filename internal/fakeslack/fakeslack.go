package fakeslack

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// Identities and credentials of the fake workspace.
const (
	// BotToken is the only bot token (xoxb-) the Web API accepts.
	BotToken = "xoxb-test"
	// AppToken is the only app-level token (xapp-) apps.connections.open accepts.
	AppToken = "xapp-test"
	// BotUserID is the bot's user id, as auth.test answers it.
	BotUserID = "UBOT"
	// BotID is the bot's bot id.
	BotID = "BBOT"
	// AppID is the Slack app's id.
	AppID = "ABOT"
	// DefaultChannel is the support channel's id, Server.Channel.
	DefaultChannel = "CSUPPORT"
	// DefaultScopes are the bot token's scopes unless SetScopes changes them.
	DefaultScopes = "chat:write,channels:history,users:read,im:write,reactions:write"
)

// Post is a message the fake stored from chat.postMessage, or an ephemeral
// message from chat.postEphemeral.
type Post struct {
	// Channel is the channel id (a "D…" id for a direct message).
	Channel string
	// TS is the message's timestamp (its id); ThreadTS the thread's root
	// timestamp, or "" for a top-level post.
	TS, ThreadTS string
	// User is the bot user for a stored post, or the only user who sees an
	// ephemeral one.
	User string
	// Ephemeral is true for a chat.postEphemeral message.
	Ephemeral bool
	// Text, Username, IconEmoji and Blocks (raw JSON) are as posted.
	Text, Username, IconEmoji, Blocks string
	// Broadcast is reply_broadcast; UnfurlLinks is false only when the post
	// turned unfurling off.
	Broadcast, UnfurlLinks bool
	// MetaType and MetaID are the message metadata's event_type and
	// event_payload.id, if any.
	MetaType, MetaID string
}

// Server is a fake Slack: a Web API and a Socket Mode WebSocket on
// 127.0.0.1, stopped when the test ends.
type Server struct {
	// APIURL is the Web API base URL, ending in "/".
	APIURL string
	// Channel is the support channel's id; chat.postMessage accepts only it
	// and direct-message ("D…") channels.
	Channel string
	// BotUserID is the bot's user id (BotUserID).
	BotUserID string

	t      testing.TB
	srv    *httptest.Server
	done   chan struct{}
	events chan []byte

	mu     sync.Mutex
	scopes string
	seq    int
	envSeq int
	posts  []Post
	users  map[string]string
	calls  map[string]int
	acks   map[string]bool
	conns  int
}

// New starts a fake Slack on loopback; it stops when the test ends.
func New(t testing.TB) *Server {
	t.Helper()
	s := &Server{
		Channel: DefaultChannel, BotUserID: BotUserID,
		t: t, done: make(chan struct{}), events: make(chan []byte, 64),
		scopes: DefaultScopes, users: map[string]string{}, calls: map[string]int{}, acks: map[string]bool{},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/api/{method}", s.api)
	mux.HandleFunc("/socket", s.socket)
	s.srv = httptest.NewServer(mux) // httptest listens on 127.0.0.1
	s.APIURL = s.srv.URL + "/api/"
	t.Cleanup(s.close)
	return s
}

func (s *Server) close() {
	select {
	case <-s.done:
	default:
		close(s.done)
	}
	s.srv.Close()
}

// SetUser makes users.info know user id with this display name; users.info
// answers user_not_found for others.
func (s *Server) SetUser(id, name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.users[id] = name
}

// SetScopes sets the comma-separated scopes auth.test reports.
// chat.postMessage with a username fails with missing_scope unless they
// include chat:write.customize.
func (s *Server) SetScopes(scopes string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.scopes = scopes
}

// Say injects a message event from user into channel (in the thread
// threadTS, or top level when it is "") over Socket Mode, and returns the
// message's timestamp. The event waits for a Socket Mode connection if none
// is open.
func (s *Server) Say(channel, threadTS, user, text string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	ts := s.nextTS()
	ev := map[string]any{"type": "message", "channel": channel, "user": user, "text": text, "ts": ts, "client_msg_id": "cm-" + ts}
	if threadTS != "" {
		ev["thread_ts"] = threadTS
	}
	s.queueEvent(ev)
	return ts
}

// Inject sends any event (the "event" of an events_api envelope) over
// Socket Mode and returns the envelope id, for Acked.
func (s *Server) Inject(event map[string]any) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.queueEvent(event)
}

// Acked reports whether the client acknowledged the envelope.
func (s *Server) Acked(envelopeID string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.acks[envelopeID]
}

// Posts returns what was posted so far, stored and ephemeral, in order.
func (s *Server) Posts() []Post {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Post(nil), s.posts...)
}

// Connections returns how many Socket Mode connections were opened.
func (s *Server) Connections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conns
}

// Calls returns how many times a Web API method was called.
func (s *Server) Calls(method string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[method]
}

func (s *Server) reply(w http.ResponseWriter, v map[string]any) {
	if _, ok := v["ok"]; !ok {
		v["ok"] = true
	}
	w.Header().Set("Content-Type", "application/json")
	if err := json.NewEncoder(w).Encode(v); err != nil {
		s.t.Errorf("fakeslack: encode: %v", err)
	}
}

func (s *Server) fail(w http.ResponseWriter, code string) {
	s.reply(w, map[string]any{"ok": false, "error": code})
}

// nextTS returns a unique timestamp; s.mu must be held.
func (s *Server) nextTS() string {
	// Real time, so that "oldest" filters work; the sequence keeps them unique.
	s.seq++
	return fmt.Sprintf("%d.%06d", time.Now().Unix(), s.seq)
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
	defer s.mu.Unlock()
	s.calls[method]++
	want := BotToken
	if method == "apps.connections.open" {
		want = AppToken
	}
	if token != want {
		s.fail(w, "invalid_auth")
		return
	}
	switch method {
	case "auth.test":
		w.Header().Set("X-OAuth-Scopes", s.scopes)
		s.reply(w, map[string]any{"url": "https://test.slack.com/", "team": "Test", "user": "chatbridge",
			"team_id": "T1", "user_id": BotUserID, "bot_id": BotID})
	case "bots.info":
		s.reply(w, map[string]any{"bot": map[string]any{"id": BotID, "app_id": AppID, "user_id": BotUserID}})
	case "users.info":
		id := r.Form.Get("user")
		name, ok := s.users[id]
		if !ok {
			s.fail(w, "user_not_found")
			return
		}
		s.reply(w, map[string]any{"user": map[string]any{"id": id, "name": strings.ToLower(strings.Fields(name)[0]),
			"profile": map[string]any{"display_name": name, "real_name": name}}})
	case "chat.postMessage":
		s.postMessage(w, r.Form)
	case "chat.postEphemeral":
		p := s.formPost(r.Form)
		p.User, p.Ephemeral, p.TS = r.Form.Get("user"), true, s.nextTS()
		s.posts = append(s.posts, p)
		s.reply(w, map[string]any{"message_ts": p.TS})
	case "conversations.replies":
		s.reply(w, map[string]any{"messages": s.list(r.Form, r.Form.Get("ts")), "has_more": false})
	case "conversations.history":
		s.reply(w, map[string]any{"messages": s.list(r.Form, ""), "has_more": false})
	case "conversations.open":
		s.reply(w, map[string]any{"channel": map[string]any{"id": "D" + r.Form.Get("users")}})
	case "reactions.add":
		s.reply(w, map[string]any{})
	case "apps.connections.open":
		s.reply(w, map[string]any{"url": "ws" + strings.TrimPrefix(s.srv.URL, "http") + "/socket"})
	default:
		s.fail(w, "unknown_method")
	}
}

func (s *Server) formPost(v url.Values) Post {
	p := Post{
		Channel: v.Get("channel"), ThreadTS: v.Get("thread_ts"), Text: v.Get("text"),
		Username: v.Get("username"), IconEmoji: v.Get("icon_emoji"), Blocks: v.Get("blocks"),
		Broadcast: v.Get("reply_broadcast") == "true", UnfurlLinks: v.Get("unfurl_links") != "false",
	}
	if raw := v.Get("metadata"); raw != "" {
		var m struct {
			EventType    string         `json:"event_type"`
			EventPayload map[string]any `json:"event_payload"`
		}
		if err := json.Unmarshal([]byte(raw), &m); err != nil {
			s.t.Errorf("fakeslack: bad metadata %q: %v", raw, err)
		}
		p.MetaType, p.MetaID = m.EventType, fmt.Sprint(m.EventPayload["id"])
	}
	return p
}

// postMessage stores a post; s.mu must be held.
func (s *Server) postMessage(w http.ResponseWriter, v url.Values) {
	p := s.formPost(v)
	if p.Channel != s.Channel && !strings.HasPrefix(p.Channel, "D") {
		s.fail(w, "channel_not_found")
		return
	}
	if p.Username != "" && !strings.Contains(s.scopes, "chat:write.customize") {
		s.fail(w, "missing_scope")
		return
	}
	p.TS, p.User = s.nextTS(), BotUserID
	s.posts = append(s.posts, p)
	if p.Channel == s.Channel {
		// Slack sends the bot's own messages to message.channels too.
		s.queueEvent(map[string]any{"type": "message", "channel": p.Channel, "user": BotUserID, "bot_id": BotID,
			"app_id": AppID, "text": p.Text, "ts": p.TS, "thread_ts": p.ThreadTS})
	}
	s.reply(w, map[string]any{"channel": p.Channel, "ts": p.TS})
}

// list returns stored messages of the thread ts (or the channel's top level
// when ts is ""), with metadata only when asked for; s.mu must be held.
func (s *Server) list(v url.Values, thread string) []map[string]any {
	withMeta := v.Get("include_all_metadata") == "1"
	oldest := v.Get("oldest")
	out := []map[string]any{}
	for _, p := range s.posts {
		switch {
		case p.Ephemeral, p.Channel != v.Get("channel"):
			continue
		case thread == "" && p.ThreadTS != "" && !p.Broadcast:
			continue
		case thread != "" && p.ThreadTS != thread && p.TS != thread:
			continue
		case oldest != "" && p.TS < oldest:
			continue
		}
		m := map[string]any{"type": "message", "user": p.User, "bot_id": BotID, "text": p.Text, "ts": p.TS, "thread_ts": p.ThreadTS}
		if withMeta && p.MetaType != "" {
			m["metadata"] = map[string]any{"event_type": p.MetaType, "event_payload": map[string]any{"id": p.MetaID}}
		}
		out = append(out, m)
	}
	return out
}

// queueEvent queues an events_api envelope and returns its id; s.mu must
// be held.
func (s *Server) queueEvent(inner map[string]any) string {
	s.envSeq++
	env := fmt.Sprintf("env-%d", s.envSeq)
	b, err := json.Marshal(map[string]any{
		"envelope_id": env, "type": "events_api", "accepts_response_payload": false,
		"payload": map[string]any{"token": "verification", "team_id": "T1", "api_app_id": AppID,
			"type": "event_callback", "event_id": fmt.Sprintf("Ev%04d", s.envSeq), "event_time": time.Now().Unix(), "event": inner},
	})
	if err != nil {
		s.t.Errorf("fakeslack: encode event: %v", err)
		return env
	}
	select {
	case s.events <- b:
	default:
		s.t.Errorf("fakeslack: event queue full")
	}
	return env
}

// socket serves one Socket Mode connection: hello, then queued envelopes
// and pings; acks are recorded.
func (s *Server) socket(w http.ResponseWriter, r *http.Request) {
	c, err := websocket.Accept(w, r, &websocket.AcceptOptions{InsecureSkipVerify: true})
	if err != nil {
		return
	}
	defer c.CloseNow()
	s.mu.Lock()
	s.conns++
	s.mu.Unlock()
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	go func() {
		defer cancel()
		for {
			_, b, err := c.Read(ctx)
			if err != nil {
				return
			}
			var ack struct {
				EnvelopeID string `json:"envelope_id"`
			}
			if json.Unmarshal(b, &ack) == nil && ack.EnvelopeID != "" {
				s.mu.Lock()
				s.acks[ack.EnvelopeID] = true
				s.mu.Unlock()
			}
		}
	}()
	hello := `{"type":"hello","num_connections":1,"connection_info":{"app_id":"` + AppID + `"},"debug_info":{"host":"fake"}}`
	if err := c.Write(ctx, websocket.MessageText, []byte(hello)); err != nil {
		return
	}
	ping := time.NewTicker(200 * time.Millisecond) // slack-go drops a connection without pings
	defer ping.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.done:
			return
		case <-ping.C:
			pctx, pcancel := context.WithTimeout(ctx, time.Second)
			err := c.Ping(pctx)
			pcancel()
			if err != nil {
				return
			}
		case b := <-s.events:
			if err := c.Write(ctx, websocket.MessageText, b); err != nil {
				return
			}
		}
	}
}
