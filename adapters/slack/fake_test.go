package slack

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

// fakeSlack is a Slack Web API and Socket Mode server on loopback: enough of
// auth.test, bots.info, chat.postMessage, chat.postEphemeral, users.info,
// conversations.replies/history/open, reactions.add and
// apps.connections.open for the adapter, with unique timestamps, injected
// failures, and a WebSocket that says hello, sends injected events_api
// envelopes and records acks.
type fakeSlack struct {
	t       *testing.T
	srv     *httptest.Server
	channel string
	done    chan struct{}
	events  chan []byte

	mu         sync.Mutex
	scopes     string
	seq        int
	envSeq     int
	posts      []fakePost
	ephemerals []fakePost
	reactions  []string
	users      map[string]string
	notMember  map[string]bool
	failures   []fakeFailure
	postTimes  []time.Time
	calls      map[string]int
	acks       map[string]bool
	conns      int
	echo       bool
	// hold makes calls of a method wait until its channel is closed (or
	// the request is cancelled).
	hold map[string]chan struct{}
}

// fakePost is a message the fake stored (or an ephemeral it showed).
type fakePost struct {
	Channel, TS, ThreadTS, User, Text, Username, IconEmoji string
	Broadcast, UnfurlLinks                                 bool
	Blocks                                                 string
	MetaType, MetaID                                       string
}

// fakeFailure makes the next chat.postMessage fail.
type fakeFailure struct {
	status     int    // HTTP status (429, 500)
	retryAfter string // Retry-After header
	slackErr   string // an ok:false answer with this error
	store      bool   // store the message anyway (an answer lost after the write)
}

const (
	fakeBotUser = "UBOT"
	fakeBotID   = "BBOT"
	fakeAppID   = "ABOT"
)

func newFakeSlack(t *testing.T, channel string) *fakeSlack {
	f := &fakeSlack{
		t: t, channel: channel, done: make(chan struct{}), events: make(chan []byte, 64),
		scopes: "chat:write,channels:history,users:read,im:write,reactions:write",
		users:  map[string]string{}, notMember: map[string]bool{}, calls: map[string]int{},
		acks: map[string]bool{}, echo: true, hold: map[string]chan struct{}{},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/api/{method}", f.api)
	mux.HandleFunc("/socket", f.socket)
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.close)
	return f
}

func (f *fakeSlack) close() {
	select {
	case <-f.done:
	default:
		close(f.done)
	}
	f.srv.Close()
}

func (f *fakeSlack) apiURL() string { return f.srv.URL + "/api/" }

func (f *fakeSlack) reply(w http.ResponseWriter, v map[string]any) {
	if _, ok := v["ok"]; !ok {
		v["ok"] = true
	}
	w.Header().Set("Content-Type", "application/json")
	if err := json.NewEncoder(w).Encode(v); err != nil {
		f.t.Errorf("fake slack: encode: %v", err)
	}
}

func (f *fakeSlack) fail(w http.ResponseWriter, code string) {
	f.reply(w, map[string]any{"ok": false, "error": code})
}

func (f *fakeSlack) nextTS() string {
	// Real time, so that "oldest" filters work; the sequence keeps them unique.
	f.seq++
	return fmt.Sprintf("%d.%06d", time.Now().Unix(), f.seq)
}

func (f *fakeSlack) api(w http.ResponseWriter, r *http.Request) {
	method := r.PathValue("method")
	if err := r.ParseForm(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	token := r.Form.Get("token")
	if token == "" {
		token = strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	}
	f.mu.Lock()
	gate := f.hold[method]
	f.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-r.Context().Done():
			return
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls[method]++
	want := "xoxb-test"
	if method == "apps.connections.open" {
		want = "xapp-test"
	}
	if token != want {
		f.fail(w, "invalid_auth")
		return
	}
	switch method {
	case "auth.test":
		w.Header().Set("X-OAuth-Scopes", f.scopes)
		f.reply(w, map[string]any{"url": "https://test.slack.com/", "team": "Test", "user": "chatbridge",
			"team_id": "T1", "user_id": fakeBotUser, "bot_id": fakeBotID})
	case "bots.info":
		f.reply(w, map[string]any{"bot": map[string]any{"id": fakeBotID, "app_id": fakeAppID, "user_id": fakeBotUser}})
	case "users.info":
		id := r.Form.Get("user")
		name, ok := f.users[id]
		if !ok {
			f.fail(w, "user_not_found")
			return
		}
		f.reply(w, map[string]any{"user": map[string]any{"id": id, "name": strings.ToLower(strings.Fields(name)[0]),
			"profile": map[string]any{"display_name": name, "real_name": name}}})
	case "chat.postMessage":
		f.postMessage(w, r.Form)
	case "chat.postEphemeral":
		user := r.Form.Get("user")
		if f.notMember[user] {
			f.fail(w, "user_not_in_channel")
			return
		}
		p := f.formPost(r.Form)
		p.User = user
		f.ephemerals = append(f.ephemerals, p)
		f.reply(w, map[string]any{"message_ts": f.nextTS()})
	case "conversations.replies":
		f.reply(w, map[string]any{"messages": f.list(r.Form, r.Form.Get("ts")), "has_more": false})
	case "conversations.history":
		f.reply(w, map[string]any{"messages": f.list(r.Form, ""), "has_more": false})
	case "conversations.open":
		f.reply(w, map[string]any{"channel": map[string]any{"id": "D" + r.Form.Get("users")}})
	case "reactions.add":
		f.reactions = append(f.reactions, r.Form.Get("name")+"@"+r.Form.Get("timestamp"))
		f.reply(w, map[string]any{})
	case "apps.connections.open":
		f.reply(w, map[string]any{"url": "ws" + strings.TrimPrefix(f.srv.URL, "http") + "/socket"})
	default:
		f.fail(w, "unknown_method")
	}
}

func (f *fakeSlack) formPost(v url.Values) fakePost {
	p := fakePost{
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
			f.t.Errorf("fake slack: bad metadata %q: %v", raw, err)
		}
		p.MetaType, p.MetaID = m.EventType, fmt.Sprint(m.EventPayload["id"])
	}
	return p
}

// postMessage is called with f.mu held.
func (f *fakeSlack) postMessage(w http.ResponseWriter, v url.Values) {
	f.postTimes = append(f.postTimes, time.Now())
	var fail fakeFailure
	if len(f.failures) > 0 {
		fail, f.failures = f.failures[0], f.failures[1:]
	}
	if fail.slackErr != "" {
		f.fail(w, fail.slackErr)
		return
	}
	if fail.status != 0 && !fail.store {
		if fail.retryAfter != "" {
			w.Header().Set("Retry-After", fail.retryAfter)
		}
		w.WriteHeader(fail.status)
		return
	}
	p := f.formPost(v)
	if p.Channel != f.channel && !strings.HasPrefix(p.Channel, "D") {
		f.fail(w, "channel_not_found")
		return
	}
	if p.Username != "" && !strings.Contains(f.scopes, "chat:write.customize") {
		f.fail(w, "missing_scope")
		return
	}
	p.TS, p.User = f.nextTS(), fakeBotUser
	f.posts = append(f.posts, p)
	if f.echo && p.Channel == f.channel {
		// Slack sends the bot's own messages to message.channels too.
		f.queueEvent(map[string]any{"type": "message", "channel": p.Channel, "user": fakeBotUser, "bot_id": fakeBotID,
			"app_id": fakeAppID, "text": p.Text, "ts": p.TS, "thread_ts": p.ThreadTS}, "")
	}
	if fail.status != 0 {
		w.WriteHeader(fail.status) // stored, but the answer says otherwise
		return
	}
	f.reply(w, map[string]any{"channel": p.Channel, "ts": p.TS})
}

// list returns stored messages of the thread ts (or the channel's top level
// when ts is ""), with metadata only when asked for.
func (f *fakeSlack) list(v url.Values, thread string) []map[string]any {
	withMeta := v.Get("include_all_metadata") == "1"
	oldest := v.Get("oldest")
	var out []map[string]any
	for _, p := range f.posts {
		if p.Channel != v.Get("channel") {
			continue
		}
		if thread == "" && p.ThreadTS != "" && !p.Broadcast {
			continue
		}
		if thread != "" && p.ThreadTS != thread && p.TS != thread {
			continue
		}
		if oldest != "" && p.TS < oldest {
			continue
		}
		m := map[string]any{"type": "message", "user": p.User, "bot_id": fakeBotID, "text": p.Text, "ts": p.TS, "thread_ts": p.ThreadTS}
		if withMeta && p.MetaType != "" {
			m["metadata"] = map[string]any{"event_type": p.MetaType, "event_payload": map[string]any{"id": p.MetaID}}
		}
		out = append(out, m)
	}
	return out
}

// queueEvent queues an events_api envelope; f.mu must be held. It returns
// the envelope id.
func (f *fakeSlack) queueEvent(inner map[string]any, eventID string) string {
	f.envSeq++
	env := fmt.Sprintf("env-%d", f.envSeq)
	if eventID == "" {
		eventID = fmt.Sprintf("Ev%04d", f.envSeq)
	}
	b, err := json.Marshal(map[string]any{
		"envelope_id": env, "type": "events_api", "accepts_response_payload": false,
		"payload": map[string]any{"token": "verification", "team_id": "T1", "api_app_id": fakeAppID,
			"type": "event_callback", "event_id": eventID, "event_time": 1700000000, "event": inner},
	})
	if err != nil {
		f.t.Fatalf("fake slack: %v", err)
	}
	select {
	case f.events <- b:
	default:
		f.t.Errorf("fake slack: event queue full")
	}
	return env
}

// inject sends an events_api envelope with inner as the event and returns
// its envelope id.
func (f *fakeSlack) inject(inner map[string]any, eventID string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.queueEvent(inner, eventID)
}

func (f *fakeSlack) socket(w http.ResponseWriter, r *http.Request) {
	c, err := websocket.Accept(w, r, &websocket.AcceptOptions{InsecureSkipVerify: true})
	if err != nil {
		return
	}
	defer c.CloseNow()
	f.mu.Lock()
	f.conns++
	f.mu.Unlock()
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
				f.mu.Lock()
				f.acks[ack.EnvelopeID] = true
				f.mu.Unlock()
			}
		}
	}()
	hello := `{"type":"hello","num_connections":1,"connection_info":{"app_id":"` + fakeAppID + `"},"debug_info":{"host":"fake"}}`
	if err := c.Write(ctx, websocket.MessageText, []byte(hello)); err != nil {
		return
	}
	ping := time.NewTicker(200 * time.Millisecond) // slack-go drops a connection without pings
	defer ping.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-f.done:
			return
		case <-ping.C:
			pctx, pcancel := context.WithTimeout(ctx, time.Second)
			err := c.Ping(pctx)
			pcancel()
			if err != nil {
				return
			}
		case b := <-f.events:
			if err := c.Write(ctx, websocket.MessageText, b); err != nil {
				return
			}
		}
	}
}

// snapshot copies what the fake recorded.
func (f *fakeSlack) snapshot() (posts, ephemerals []fakePost) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]fakePost(nil), f.posts...), append([]fakePost(nil), f.ephemerals...)
}

func (f *fakeSlack) acked(env string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.acks[env]
}

func (f *fakeSlack) callCount(method string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[method]
}

func (f *fakeSlack) failNext(fs ...fakeFailure) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failures = append(f.failures, fs...)
}

func (f *fakeSlack) setUser(id, name string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.users[id] = name
}

// holdCalls makes calls of method wait until the returned function is
// called.
func (f *fakeSlack) holdCalls(method string) (release func()) {
	gate := make(chan struct{})
	f.mu.Lock()
	f.hold[method] = gate
	f.mu.Unlock()
	var once sync.Once
	release = func() { once.Do(func() { close(gate) }) }
	f.t.Cleanup(release)
	return release
}
