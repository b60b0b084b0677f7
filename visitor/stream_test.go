package visitor

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/chatbridge/chatbridge/bridge"
)

// wsFrame is any server frame, decoded loosely.
type wsFrame struct {
	Type           string      `json:"type"`
	Seq            uint64      `json:"seq"`
	From           bridge.From `json:"from"`
	Author         string      `json:"author"`
	Text           string      `json:"text"`
	At             time.Time   `json:"at"`
	ConversationID string      `json:"conversation_id"`
	VisitorID      string      `json:"visitor_id"`
}

type wsClient struct {
	t *testing.T
	c *websocket.Conn
}

func (e *testEnv) dial(query string, header http.Header) (*websocket.Conn, *http.Response, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	url := "ws" + strings.TrimPrefix(e.ts.URL, "http") + "/api/v1/stream" + query
	return websocket.Dial(ctx, url, &websocket.DialOptions{HTTPHeader: header})
}

// stream connects, says hello with token and waits for the ready frame.
func (e *testEnv) stream(token, query string) *wsClient {
	e.t.Helper()
	c, _, err := e.dial(query, http.Header{"Origin": {"https://shop.example.com"}})
	if err != nil {
		e.t.Fatalf("dial: %v", err)
	}
	w := &wsClient{t: e.t, c: c}
	e.t.Cleanup(func() { c.CloseNow() })
	w.send(map[string]string{"type": "hello", "token": token})
	if f := w.next(); f.Type != "ready" || !strings.HasPrefix(f.VisitorID, "v_") {
		e.t.Fatalf("first frame = %+v, want ready", f)
	}
	return w
}

func (w *wsClient) send(v any) {
	w.t.Helper()
	b, _ := json.Marshal(v)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := w.c.Write(ctx, websocket.MessageText, b); err != nil {
		w.t.Fatalf("write: %v", err)
	}
}

func (w *wsClient) next() wsFrame {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, b, err := w.c.Read(ctx)
	if err != nil {
		w.t.Fatalf("read: %v", err)
	}
	var f wsFrame
	if err := json.Unmarshal(b, &f); err != nil {
		w.t.Fatalf("frame %s: %v", b, err)
	}
	if strings.Contains(f.Text, "SECRET") {
		w.t.Fatalf("private content reached the visitor: %s", b)
	}
	return f
}

// messages reads n message frames and returns their seqs.
func (w *wsClient) messages(n int) []uint64 {
	w.t.Helper()
	var seqs []uint64
	for len(seqs) < n {
		f := w.next()
		if f.Type != "message" {
			w.t.Fatalf("frame %+v, want a message", f)
		}
		seqs = append(seqs, f.Seq)
	}
	return seqs
}

// closeStatus reads until the connection ends and returns its close code.
func closeStatus(t *testing.T, c *websocket.Conn) websocket.StatusCode {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		if _, _, err := c.Read(ctx); err != nil {
			return websocket.CloseStatus(err)
		}
	}
}

func TestStreamNeedsHello(t *testing.T) {
	e := newEnv(t, withConfig(func(c *Config) { c.HelloTimeout = 100 * time.Millisecond }))
	token, _ := e.session()
	for _, tc := range []struct {
		name  string
		first string // "" sends nothing
	}{
		{"no hello in time", ""},
		{"forged token", `{"type":"hello","token":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}`},
		{"empty token", `{"type":"hello","token":""}`},
		{"typing before hello", `{"type":"typing","token":"` + token + `"}`},
		{"not JSON", `hello ` + token},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, _, err := e.dial("", nil)
			if err != nil {
				t.Fatal(err)
			}
			defer c.CloseNow()
			if tc.first != "" {
				if err := c.Write(context.Background(), websocket.MessageText, []byte(tc.first)); err != nil {
					t.Fatal(err)
				}
			}
			if got := closeStatus(t, c); got != StatusUnauthorized {
				t.Errorf("close status %d, want %d", got, StatusUnauthorized)
			}
		})
	}
}

func TestStreamRefusesForeignOrigin(t *testing.T) {
	e := newEnv(t)
	_, resp, err := e.dial("", http.Header{"Origin": {"https://evil.example"}})
	if err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("dial from a foreign origin: %v, %+v", err, resp)
	}
	c, _, err := e.dial("", http.Header{"Origin": {"https://shop.example.com"}})
	if err != nil {
		t.Fatalf("dial from the allowed origin: %v", err)
	}
	c.CloseNow()
}

func TestStreamResumeAndLive(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	token, _ := e.session()
	conv := e.send(token, "v1", "hello").ConversationID                // 1
	mustReply(t, e, conv, "hi")                                        // 2
	must(t, e.engine.Whisper(ctx, conv, testOperator, "SECRET 1", "")) // private: no number
	mustNote(t, e, conv, "SECRET 2")                                   // private: no number
	e.send(token, "v2", "my order?")                                   // 3
	mustReply(t, e, conv, "checking")                                  // 4

	w := e.stream(token, "?after=0")
	if got, want := w.messages(4), []uint64{1, 2, 3, 4}; !slices.Equal(got, want) {
		t.Fatalf("backlog seqs %v, want %v", got, want)
	}
	w.c.Close(websocket.StatusNormalClosure, "")

	mustReply(t, e, conv, "found it")                                  // 5
	must(t, e.engine.Whisper(ctx, conv, testOperator, "SECRET 3", "")) // private
	e.send(token, "v3", "thanks")                                      // 6

	w = e.stream(token, fmt.Sprintf("?after=4&conversation=%s", conv))
	if got, want := w.messages(2), []uint64{5, 6}; !slices.Equal(got, want) {
		t.Fatalf("resumed seqs %v, want %v", got, want)
	}
	// Live: private content first, then a reply; only the reply arrives.
	mustNote(t, e, conv, "SECRET 4")                                   // private
	must(t, e.engine.Whisper(ctx, conv, testOperator, "SECRET 5", "")) // private
	mustReply(t, e, conv, "you're welcome")                            // 7
	f := w.next()
	if f.Type != "message" || f.Seq != 7 || f.From != bridge.FromOperator || f.Author != "Alice" ||
		f.Text != "you're welcome" || f.ConversationID != conv || f.At.IsZero() {
		t.Fatalf("live frame = %+v", f)
	}
	// The visitor's own message from another tab is pushed too.
	e.send(token, "v4", "bye")
	if f := w.next(); f.Seq != 8 || f.From != bridge.FromVisitor {
		t.Fatalf("own message frame = %+v", f)
	}
	// Closing pushes the system line, then a closed frame.
	e.do(request{method: "POST", path: "/api/v1/conversation/close", token: token}).decodeTo(t, 204, nil)
	if f := w.next(); f.Type != "message" || f.From != bridge.FromSystem || f.Seq != 9 {
		t.Fatalf("close line = %+v", f)
	}
	if f := w.next(); f.Type != "closed" || f.ConversationID != conv {
		t.Fatalf("closed frame = %+v", f)
	}
	// A new conversation is pushed from its start.
	next := e.send(token, "v5", "new question").ConversationID
	if f := w.next(); f.Type != "message" || f.Seq != 1 || f.ConversationID != next {
		t.Fatalf("new conversation frame = %+v", f)
	}
}

// TestStreamNoGapsNoDuplicates reconnects repeatedly while operators write
// (replies and whispers) concurrently, and checks that the visitor receives
// every public message exactly once, in order.
func TestStreamNoGapsNoDuplicates(t *testing.T) {
	e := newEnv(t)
	token, _ := e.session()
	conv := e.send(token, "v1", "start").ConversationID
	const rounds = 40
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		public = []uint64{1}
		errc   = make(chan error, 1)
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		ctx := context.Background()
		for i := range rounds {
			m, err := e.engine.Reply(ctx, conv, testOperator, fmt.Sprintf("reply %d", i), "")
			if err == nil {
				mu.Lock()
				public = append(public, m.PublicSeq)
				mu.Unlock()
				err = e.engine.Whisper(ctx, conv, testOperator, "SECRET", "")
			}
			if err != nil {
				errc <- err
				return
			}
		}
	}()
	var got []uint64
	for reconnects := 0; len(got) < rounds+1; reconnects++ {
		if reconnects > 10*rounds {
			t.Fatalf("gave up after %d reconnects with %v", reconnects, got)
		}
		var last uint64
		if len(got) > 0 {
			last = got[len(got)-1]
		}
		w := e.stream(token, fmt.Sprintf("?after=%d&conversation=%s", last, conv))
		got = append(got, w.messages(min(3, rounds+1-len(got)))...)
		w.c.CloseNow()
	}
	wg.Wait()
	select {
	case err := <-errc:
		t.Fatal(err)
	default:
	}
	if !slices.Equal(got, public) {
		t.Fatalf("received %v, want %v", got, public)
	}
}

func TestStreamTypingAndPing(t *testing.T) {
	e := newEnv(t)
	token, vid := e.session()
	conv := e.send(token, "v1", "hello").ConversationID
	w := e.stream(token, fmt.Sprintf("?after=1&conversation=%s", conv))
	all := e.engine.Hub().SubscribeAll()
	defer all.Close()

	hub := e.engine.Hub()
	hub.Publish(bridge.Event{Kind: bridge.EventTyping, VisitorID: vid, ConversationID: conv, From: bridge.FromVisitor, Author: "Vera"})
	hub.Publish(bridge.Event{Kind: bridge.EventTyping, VisitorID: vid, ConversationID: conv, From: bridge.FromOperator, Author: "Alice"})
	if f := w.next(); f.Type != "typing" || f.From != bridge.FromOperator || f.Author != "Alice" {
		t.Fatalf("typing frame = %+v", f)
	}

	w.send(map[string]string{"type": "typing"})
	deadline := time.After(10 * time.Second)
	for found := false; !found; {
		select {
		case ev := <-all.C:
			found = ev.Kind == bridge.EventTyping && ev.From == bridge.FromVisitor && ev.VisitorID == vid && ev.ConversationID == conv && ev.Author == "Vera"
		case <-deadline:
			t.Fatal("visitor typing frame published no event")
		}
	}

	w.send(map[string]string{"type": "ping"})
	if f := w.next(); f.Type != "pong" {
		t.Fatalf("ping answered with %+v", f)
	}
	w.send(map[string]string{"type": "something-new"}) // ignored, for forward compatibility
	w.send(map[string]string{"type": "ping"})
	if f := w.next(); f.Type != "pong" {
		t.Fatalf("second ping answered with %+v", f)
	}
}

func TestStreamFrameLimit(t *testing.T) {
	e := newEnv(t, withConfig(func(c *Config) { c.MaxMessageBytes = 1000; c.WSMaxFrameBytes = 2048 }))
	token, _ := e.session()
	w := e.stream(token, "")
	if err := w.c.Write(context.Background(), websocket.MessageText, []byte(`{"type":"ping","pad":"`+strings.Repeat("x", 2048)+`"}`)); err != nil {
		t.Fatal(err)
	}
	if got := closeStatus(t, w.c); got != websocket.StatusMessageTooBig {
		t.Errorf("close status %d, want %d", got, websocket.StatusMessageTooBig)
	}
}

func TestStreamServerClose(t *testing.T) {
	e := newEnv(t)
	token, _ := e.session()
	w := e.stream(token, "")
	done := make(chan struct{})
	go func() { e.srv.Close(); close(done) }()
	if got := closeStatus(t, w.c); got != websocket.StatusGoingAway {
		t.Errorf("close status %d, want %d", got, websocket.StatusGoingAway)
	}
	<-done
	// No new stream is accepted after Close.
	c, resp, err := e.dial("", nil)
	if err == nil {
		c.CloseNow()
		t.Fatal("stream accepted after Close")
	}
	if resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("after Close: %v %+v", err, resp)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func mustReply(t *testing.T, e *testEnv, conv, text string) {
	t.Helper()
	_, err := e.engine.Reply(context.Background(), conv, testOperator, text, "")
	must(t, err)
}

func mustNote(t *testing.T, e *testEnv, conv, text string) {
	t.Helper()
	_, err := e.engine.AddNote(context.Background(), conv, testOperator, text, "")
	must(t, err)
}

func TestStreamPingsIdleClients(t *testing.T) {
	e := newEnv(t, withConfig(func(c *Config) { c.PingInterval = 20 * time.Millisecond }))
	token, _ := e.session()

	// A client that answers pings stays connected across many intervals.
	pings := make(chan struct{}, 100)
	url := "ws" + strings.TrimPrefix(e.ts.URL, "http") + "/api/v1/stream"
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{OnPingReceived: func(context.Context, []byte) bool {
		select {
		case pings <- struct{}{}:
		default:
		}
		return true
	}})
	must(t, err)
	defer c.CloseNow()
	must(t, c.Write(ctx, websocket.MessageText, []byte(`{"type":"hello","token":"`+token+`"}`)))
	if _, b, err := c.Read(ctx); err != nil || !strings.Contains(string(b), `"ready"`) {
		t.Fatalf("ready: %s %v", b, err)
	}
	readCtx := c.CloseRead(ctx)
	for range 5 {
		select {
		case <-pings:
		case <-readCtx.Done():
			t.Fatal("a client answering pings was disconnected")
		}
	}
	if n := e.engine.Hub().Subscribers(); n != 1 {
		t.Fatalf("%d subscribers, want 1", n)
	}

	// A client that stops reading cannot answer: the server drops it.
	w := e.stream(token, "")
	_ = w // never read again
	waitFor(t, "the silent client to be dropped", func() bool { return e.engine.Hub().Subscribers() == 1 })
}

// A client that asks for heartbeats gets ping frames instead of WebSocket
// pings and must answer them: a page frozen in the browser's back/forward
// cache keeps its socket answering WebSocket pings, but runs no script.
func TestStreamHeartbeat(t *testing.T) {
	// Long enough for a loaded machine to answer in time.
	e := newEnv(t, withConfig(func(c *Config) { c.PingInterval = 250 * time.Millisecond }))
	hub := e.engine.Hub()
	url := "ws" + strings.TrimPrefix(e.ts.URL, "http") + "/api/v1/stream"
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var wsPings atomic.Int32
	connect := func(token string) *wsClient {
		t.Helper()
		c, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{OnPingReceived: func(context.Context, []byte) bool {
			wsPings.Add(1)
			return true
		}})
		must(t, err)
		t.Cleanup(func() { c.CloseNow() })
		w := &wsClient{t: t, c: c}
		w.send(map[string]any{"type": "hello", "token": token, "heartbeat": true})
		if f := w.next(); f.Type != "ready" {
			t.Fatalf("first frame = %+v, want ready", f)
		}
		return w
	}

	// A client that answers every ping frame stays connected.
	liveToken, liveID := e.session()
	live := connect(liveToken)
	for range 4 {
		if f := live.next(); f.Type != "ping" {
			t.Fatalf("frame %+v, want a ping", f)
		}
		live.send(map[string]string{"type": "pong"})
	}
	if hub.Away(liveID, 0) {
		t.Fatal("a client answering its ping frames counts as away")
	}
	if n := wsPings.Load(); n != 0 {
		t.Errorf("%d WebSocket pings sent to a heartbeat client, want ping frames only", n)
	}
	// It goes on answering while the silent client below is watched.
	go func() {
		for {
			_, data, err := live.c.Read(ctx)
			if err != nil {
				return
			}
			if strings.Contains(string(data), `"ping"`) {
				if live.c.Write(ctx, websocket.MessageText, []byte(`{"type":"pong"}`)) != nil {
					return
				}
			}
		}
	}()

	// A client whose socket is alive (it reads, and would answer WebSocket
	// pings) but whose script does not answer is closed with 4408, and its
	// visitor is away.
	silentToken, silentID := e.session()
	silent := connect(silentToken)
	if got := closeStatus(t, silent.c); got != StatusNoHeartbeat {
		t.Errorf("close status %d, want %d", got, StatusNoHeartbeat)
	}
	waitFor(t, "the silent visitor to be away", func() bool { return hub.Away(silentID, 0) })
	if hub.Away(liveID, 0) {
		t.Error("the answering client was dropped too")
	}
}
