package visitor

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lesismal/nbio/nbhttp"
	nbws "github.com/lesismal/nbio/nbhttp/websocket"

	"github.com/chatbridge/chatbridge/bridge"
)

// Close codes of the stream, besides the standard ones.
const (
	// StatusUnauthorized: the client sent no valid hello frame in time.
	StatusUnauthorized = 4401
	// StatusNoHeartbeat: the client asked for heartbeats and did not
	// answer a ping frame in time: its page is gone or frozen (a page in
	// the browser's back/forward cache still answers WebSocket pings, but
	// runs no script), so the visitor counts as away.
	StatusNoHeartbeat = 4408
)

// Standard close codes (RFC 6455).
const (
	statusGoingAway       = 1001
	statusUnsupportedData = 1003
	statusMessageTooBig   = 1009
	statusInternalError   = 1011
)

// closeGrace is how long a closing connection waits for the client's close
// frame before the socket is closed anyway.
const closeGrace = 2 * time.Second

// Frames sent by the server. A message frame has the fields of a message in
// GET /api/v1/messages plus conversation_id.
type (
	readyFrame struct {
		Type      string `json:"type"` // "ready"
		VisitorID string `json:"visitor_id"`
	}
	messageFrame struct {
		Type string `json:"type"` // "message"
		apiMessage
		ConversationID string `json:"conversation_id"`
	}
	closedFrame struct {
		Type           string `json:"type"` // "closed"
		ConversationID string `json:"conversation_id"`
	}
	typingFrame struct {
		Type   string      `json:"type"` // "typing"
		From   bridge.From `json:"from"`
		Author string      `json:"author"`
	}
	// clientFrame is any frame the client sends: hello (with token and
	// optionally heartbeat), typing, ping or pong.
	clientFrame struct {
		Type      string `json:"type"`
		Token     string `json:"token"`
		Heartbeat bool   `json:"heartbeat"`
	}
)

var (
	pongFrame = []byte(`{"type":"pong"}`)
	pingFrame = []byte(`{"type":"ping"}`)
)

// Streams are held by nbio's network poller once upgraded: an idle stream
// has no goroutine and no buffer of its own, only its small state below,
// so that tens of thousands of idle visitors cost little memory. Frames the
// client sends are handled by nbio's message handlers; live events from the
// hub queue the stream for a small pool of pusher goroutines; one pinger
// goroutine checks every stream's liveness.

// streamConn is one live stream.
type streamConn struct {
	s    *Server
	conn atomic.Pointer[nbws.Conn]
	ip   string

	// Set once by the hello, then read-only.
	v         bridge.Visitor
	heartbeat bool
	authed    atomic.Bool

	helloTimer *time.Timer
	sub        *bridge.Subscription
	slot       bool // holds a visitor connection slot

	// Delivery: queued is true while the stream waits in the push queue;
	// typing is the operator name of a pending typing frame.
	queued atomic.Bool
	typing atomic.Pointer[string]

	mu sync.Mutex // serialises pushes
	st streamState

	// Liveness (pinger goroutine, and heard from the handlers).
	heard     atomic.Bool  // a frame arrived since the last ping
	nextPing  atomic.Int64 // unix nanoseconds
	answerDue atomic.Int64 // unix nanoseconds; 0: no ping awaits an answer

	closing atomic.Bool
}

// streamState is what one connection has sent so far.
type streamState struct {
	conv       string
	last       uint64
	revision   uint64
	closedSent bool
}

// streams is the server's registry of live streams and its machinery.
type streams struct {
	engine   *nbhttp.Engine
	upgrader *nbws.Upgrader

	mu     sync.Mutex
	live   map[*streamConn]struct{}
	closed bool
	wg     sync.WaitGroup // one per live stream

	push     chan *streamConn
	stopWork chan struct{}
	workers  sync.WaitGroup
}

// pushWorkers is the number of goroutines that bring live connections up
// to date (a store read each, then the frames): a few on a single node,
// where a read takes microseconds of CPU, and many in a cluster, where it
// waits for etcd round trips (with 4, a node on etcd fell seconds behind
// at 100 updates a second).
const (
	pushWorkers        = 4
	clusterPushWorkers = 64
)

func (s *Server) startStreams() error {
	routeNBIOLogs(s.log)
	engine := nbhttp.NewEngine(nbhttp.Config{
		Name:                    "chatbridge-visitor-streams",
		NPoller:                 1,
		ReleaseWebsocketPayload: true,
		// A client that stops reading while frames pile up is dropped.
		MaxWriteBufferSize: 1 << 20,
	})
	if err := engine.Start(); err != nil {
		return err
	}
	u := nbws.NewUpgrader()
	u.Engine = engine
	u.KeepaliveTime = 0 // the pinger checks liveness
	// Frames over the limit get a 1009 close frame from onStreamMessage;
	// the engine drops the connection only past twice the limit.
	u.MessageLengthLimit = 2 * int(s.cfg.WSMaxFrameBytes)
	u.CheckOrigin = func(*http.Request) bool { return true } // checked by handleStream with the allow-list
	s.ws = &streams{
		engine: engine, upgrader: u, live: map[*streamConn]struct{}{},
		push: make(chan *streamConn, 4096), stopWork: make(chan struct{}),
	}
	workers := pushWorkers
	if s.engine.Node() != "" {
		workers = clusterPushWorkers
	}
	for range workers {
		s.ws.workers.Go(s.pushLoop)
	}
	s.ws.workers.Go(s.pingLoop)
	return nil
}

// handleStream upgrades GET /api/v1/stream?after=N[&conversation=ID] to a
// WebSocket. The client's first frame must be {"type":"hello","token":"…"}
// within Config.HelloTimeout, else the connection is closed with 4401. A
// client IP with Config.MaxConnsPerIP live connections (streams, with or
// without hello, and long polls) is refused with a 429 before the upgrade; a
// visitor with Config.MaxConnsPerVisitor is closed with 4429 after the
// hello. The server then sends {"type":"ready"}, every public message after
// N, and live message, closed and operator typing frames; the client may
// send {"type":"typing"} and {"type":"ping"} (answered by {"type":"pong"}).
// A client whose hello says "heartbeat": true gets {"type":"ping"} frames
// instead of WebSocket pings and must answer each with a frame in time (see
// pingLoop).
func (s *Server) handleStream(w http.ResponseWriter, r *http.Request) {
	// s.api has already applied the allow-list; checked again here so that
	// the handshake is never accepted from a foreign origin whatever wraps
	// this handler.
	if !s.origins.allowed(r) {
		s.writeError(w, r, errForbiddenOrigin)
		return
	}
	q := r.URL.Query()
	after, err := parseAfter(q.Get("after"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	convID := q.Get("conversation")
	if len(convID) > 64 {
		s.writeError(w, r, errBadRequest("conversation is not a conversation id"))
		return
	}
	// The address's slot is taken before the upgrade and held until the
	// connection ends, so that connections still waiting for their hello
	// count too.
	ip, err := s.acquireIP(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	sc := &streamConn{s: s, ip: ip, st: streamState{conv: convID, last: after}}
	if !s.ws.add(sc) {
		s.ipConns.release(ip)
		s.writeError(w, r, &apiError{status: http.StatusServiceUnavailable, code: CodeInternal, message: "the server is shutting down"})
		return
	}
	// A read deadline would drop the TCP connection without a close frame;
	// closing from a timer sends 4401 first.
	sc.helloTimer = time.AfterFunc(s.cfg.HelloTimeout, func() {
		if !sc.authed.Load() {
			sc.close(StatusUnauthorized, "no hello frame in time")
		}
	})
	// The handlers are bound to this stream (a copy of the upgrader per
	// connection), so that a frame or a close that comes before Upgrade
	// returns still finds it.
	u := *s.ws.upgrader
	u.OnOpen(sc.setConn)
	u.OnMessage(func(c *nbws.Conn, mt nbws.MessageType, data []byte) { sc.setConn(c); s.onStreamMessage(sc, mt, data) })
	u.OnClose(func(c *nbws.Conn, err error) { sc.setConn(c); s.onStreamClose(sc) })
	u.SetPongHandler(func(*nbws.Conn, string) { sc.heard.Store(true) })
	if _, err := u.UpgradeAndTransferConnToPoller(w, r, nil); err != nil {
		sc.helloTimer.Stop()
		sc.closing.Store(true)
		sc.release()
		return // the upgrader has answered
	}
}

// setConn records the stream's connection (from the first callback that
// has it).
func (sc *streamConn) setConn(c *nbws.Conn) {
	if sc.conn.Load() == nil {
		sc.conn.CompareAndSwap(nil, c)
	}
}

// onStreamMessage handles a frame from the client (nbio's handler
// goroutines, one frame of a connection at a time).
func (s *Server) onStreamMessage(sc *streamConn, mt nbws.MessageType, data []byte) {
	if sc.closing.Load() {
		return
	}
	if int64(len(data)) > s.cfg.WSMaxFrameBytes {
		sc.close(statusMessageTooBig, "frame too large")
		return
	}
	var f clientFrame
	bad := mt != nbws.TextMessage || json.Unmarshal(data, &f) != nil
	if !sc.authed.Load() {
		if bad {
			sc.helloTimer.Stop()
			sc.close(StatusUnauthorized, "first frame must be a hello with a token")
			return
		}
		s.hello(sc, f)
		return
	}
	if bad {
		sc.close(statusUnsupportedData, "frames are JSON text")
		return
	}
	sc.heard.Store(true)
	switch f.Type {
	case "typing":
		if err := s.visitorTyping(s.ctx, sc.v); err != nil {
			s.log.Warn("stream typing failed", "visitor", sc.v.ID, "err", err)
		}
	case "ping":
		sc.writeRaw(pongFrame)
	}
}

// hello authenticates the client's first frame and starts the stream: a
// visitor slot, the hub subscription, the ready frame and the backlog. On
// failure the connection is closed with StatusUnauthorized.
func (s *Server) hello(sc *streamConn, f clientFrame) {
	sc.helloTimer.Stop()
	if f.Type != "hello" || f.Token == "" {
		sc.close(StatusUnauthorized, "first frame must be a hello with a token")
		return
	}
	v, err := s.engine.Authenticate(s.ctx, f.Token)
	if err != nil {
		if !errors.Is(err, bridge.ErrUnauthorized) {
			s.log.Error("stream authentication failed", "err", err)
			sc.close(statusInternalError, "internal error")
			return
		}
		sc.close(StatusUnauthorized, "unknown or expired token")
		return
	}
	if !s.visitorConns.acquire(v.ID) {
		sc.close(StatusTooManyConnections, "too many open connections for this visitor")
		return
	}
	sc.mu.Lock()
	if sc.closing.Load() { // closed meanwhile: release has run without these
		sc.mu.Unlock()
		s.visitorConns.release(v.ID)
		return
	}
	sc.v, sc.heartbeat, sc.slot = v, f.Heartbeat, true
	sc.sub = s.engine.Hub().SubscribeFunc(v.ID, sc.onEvent)
	sc.nextPing.Store(time.Now().Add(s.cfg.PingInterval).UnixNano())
	sc.authed.Store(true)
	sc.mu.Unlock()
	s.log.Debug("stream opened", "visitor", v.ID)
	sc.write(readyFrame{Type: "ready", VisitorID: v.ID})
	sc.schedule()
}

// onEvent takes a hub event (under the hub's lock: it only queues).
func (sc *streamConn) onEvent(ev bridge.Event) {
	if ev.Kind == bridge.EventTyping {
		if ev.From != bridge.FromOperator {
			return
		}
		author := ev.Author
		sc.typing.Store(&author)
	}
	sc.schedule()
}

// schedule queues the stream for a push, once however many events came.
func (sc *streamConn) schedule() {
	if !sc.queued.CompareAndSwap(false, true) {
		return
	}
	select {
	case sc.s.ws.push <- sc:
	default:
		// The queue is full (a burst over very many streams): hand it over
		// without holding the hub.
		go func() { sc.s.ws.push <- sc }()
	}
}

// pushLoop writes what queued streams have pending.
func (s *Server) pushLoop() {
	for {
		select {
		case <-s.ws.stopWork:
			return
		case sc := <-s.ws.push:
			sc.queued.Store(false)
			if sc.closing.Load() {
				continue
			}
			sc.mu.Lock()
			err := s.catchUp(sc)
			if a := sc.typing.Swap(nil); err == nil && a != nil {
				sc.write(typingFrame{Type: "typing", From: bridge.FromOperator, Author: *a})
			}
			sc.mu.Unlock()
			if err != nil && !errors.Is(err, context.Canceled) {
				s.log.Warn("stream update failed", "visitor", sc.v.ID, "err", err)
				sc.close(statusInternalError, "internal error")
			}
		}
	}
}

// catchUp sends the public messages committed since the last one sent,
// again those edited or deleted since (same seq: the client replaces its
// copy), and a closed frame when the conversation has ended. It re-reads
// the store on every wake-up, so a dropped event never leaves a gap, and
// never sends a new seq twice. sc.mu is held.
func (s *Server) catchUp(sc *streamConn) error {
	st := &sc.st
	view, err := s.engine.VisitorUpdates(s.ctx, sc.v.ID, bridge.VisitorQuery{ConversationID: st.conv, After: st.last, Revision: st.revision})
	if err != nil {
		return err
	}
	conv := view.Conversation
	if conv.ID == "" {
		return nil
	}
	if conv.ID != st.conv {
		// A new conversation (the engine returns it from the start), or
		// the first one this connection learns about.
		if st.conv != "" {
			st.last = 0
		}
		st.conv, st.closedSent = conv.ID, false
	}
	for _, m := range s.publicMessages(s.ctx, sc.v.ID, view.Messages) {
		if m.Seq <= st.last && m.EditedAt.IsZero() && !m.Deleted {
			continue // sent already, and not changed
		}
		sc.write(messageFrame{Type: "message", apiMessage: m, ConversationID: conv.ID})
		st.last = max(st.last, m.Seq)
	}
	st.revision = conv.LastRevision
	if conv.Status == bridge.StatusClosed && !st.closedSent {
		st.closedSent = true
		sc.write(closedFrame{Type: "closed", ConversationID: conv.ID})
	}
	return nil
}

// pingLoop checks every stream's liveness about every second. A stream due
// for a ping gets one: a {"type":"ping"} frame when its client asked for
// heartbeats (only the page's script can answer it), else a WebSocket ping.
// A ping not answered (by any frame, or a pong) within
// min(PingInterval, 10 s) closes the stream; for a heartbeat client with
// StatusNoHeartbeat, ending its hub subscription at once, so the visitor is
// away now and not after a close handshake a frozen page cannot answer.
func (s *Server) pingLoop() {
	interval := min(time.Second, s.cfg.PingInterval/4)
	timeout := min(10*time.Second, s.cfg.PingInterval)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-s.ws.stopWork:
			return
		case now := <-t.C:
			n := now.UnixNano()
			for _, sc := range s.ws.snapshot() {
				if !sc.authed.Load() || sc.closing.Load() {
					continue
				}
				if due := sc.answerDue.Load(); due != 0 {
					if sc.heard.Load() {
						sc.answerDue.Store(0)
					} else if n >= due {
						s.dropSilent(sc)
					}
					continue
				}
				if n < sc.nextPing.Load() {
					continue
				}
				sc.heard.Store(false)
				sc.answerDue.Store(n + int64(timeout))
				sc.nextPing.Store(n + int64(s.cfg.PingInterval))
				if sc.heartbeat {
					sc.writeRaw(pingFrame)
				} else if err := sc.conn.Load().WriteMessage(nbws.PingMessage, nil); err != nil {
					sc.close(statusGoingAway, "")
				}
			}
		}
	}
}

// dropSilent closes a stream whose client did not answer its ping.
func (s *Server) dropSilent(sc *streamConn) {
	if sc.heartbeat {
		s.log.Debug("stream without heartbeat closed", "visitor", sc.v.ID)
		sc.mu.Lock()
		if sc.sub != nil {
			sc.sub.Close()
		}
		sc.mu.Unlock()
		sc.close(StatusNoHeartbeat, "no answer to ping")
		return
	}
	sc.close(statusGoingAway, "no answer to ping")
}

func (sc *streamConn) write(v any) {
	b, err := json.Marshal(v)
	if err != nil {
		sc.s.log.Error("encode stream frame", "err", err)
		return
	}
	sc.writeRaw(b)
}

// writeRaw queues a text frame (nbio writes without blocking; a client that
// lets too much pile up is dropped by the engine).
func (sc *streamConn) writeRaw(b []byte) {
	c := sc.conn.Load()
	if c == nil {
		return
	}
	if err := c.WriteMessage(nbws.TextMessage, b); err != nil {
		sc.close(statusGoingAway, "")
	}
}

// close sends a close frame with code and closes the connection once the
// client answered it, or after closeGrace.
func (sc *streamConn) close(code int, reason string) {
	if !sc.closing.CompareAndSwap(false, true) {
		return
	}
	c := sc.conn.Load()
	if c == nil {
		return
	}
	_ = c.WriteClose(code, reason)
	time.AfterFunc(closeGrace, func() { _ = c.Close() })
}

// onStreamClose releases what a stream held, however it ended.
func (s *Server) onStreamClose(sc *streamConn) {
	sc.closing.Store(true)
	if sc.helloTimer != nil {
		sc.helloTimer.Stop()
	}
	sc.release()
	if sc.authed.Load() {
		s.log.Debug("stream closed", "visitor", sc.v.ID)
	}
}

// release gives back the stream's subscription and slots, once.
func (sc *streamConn) release() {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	if !sc.closing.Load() {
		return
	}
	if sc.sub != nil {
		sc.sub.Close()
		sc.sub = nil
	}
	if sc.slot {
		sc.s.visitorConns.release(sc.v.ID)
		sc.slot = false
	}
	if sc.ip != "" {
		sc.s.ipConns.release(sc.ip)
		sc.ip = ""
	}
	sc.s.ws.remove(sc)
}

// add registers a stream unless the server is closing.
func (w *streams) add(sc *streamConn) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return false
	}
	w.live[sc] = struct{}{}
	w.wg.Add(1)
	return true
}

func (w *streams) remove(sc *streamConn) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, ok := w.live[sc]; ok {
		delete(w.live, sc)
		w.wg.Done()
	}
}

func (w *streams) snapshot() []*streamConn {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make([]*streamConn, 0, len(w.live))
	for sc := range w.live {
		out = append(out, sc)
	}
	return out
}

// closeStreams ends every live stream (1001, going away) and waits until
// they are gone, then stops the machinery.
func (s *Server) closeStreams() {
	w := s.ws
	w.mu.Lock()
	already := w.closed
	w.closed = true
	w.mu.Unlock()
	if already {
		w.wg.Wait()
		return
	}
	for _, sc := range w.snapshot() {
		if sc.conn.Load() == nil {
			sc.closing.Store(true)
			sc.release()
			continue
		}
		sc.close(statusGoingAway, "server shutting down")
	}
	done := make(chan struct{})
	go func() { w.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(closeGrace + time.Second):
		for _, sc := range w.snapshot() {
			if c := sc.conn.Load(); c != nil {
				_ = c.Close()
			}
		}
		<-done
	}
	close(w.stopWork)
	w.workers.Wait()
	w.engine.Stop()
}
