package visitor

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/chatbridge/chatbridge/bridge"
)

// StatusUnauthorized is the close code of a stream whose client sent no
// valid hello frame in time.
const StatusUnauthorized websocket.StatusCode = 4401

// StatusNoHeartbeat is the close code of a stream whose client asked for
// heartbeats and did not answer a ping frame in time: its page is gone or
// frozen (a page in the browser's back/forward cache still answers
// WebSocket pings, but runs no script), so the visitor counts as away.
const StatusNoHeartbeat websocket.StatusCode = 4408

// writeTimeout bounds one frame write to a slow client.
const writeTimeout = 10 * time.Second

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

// handleStream upgrades GET /api/v1/stream?after=N[&conversation=ID] to a
// WebSocket. The client's first frame must be {"type":"hello","token":"…"}
// within Config.HelloTimeout, else the connection is closed with 4401. A
// client IP with Config.MaxConnsPerIP live connections (streams, with or
// without hello, and long polls) is refused with a 429 before the upgrade; a
// visitor with Config.MaxConnsPerVisitor is closed with 4429 after the
// hello. The
// server then sends {"type":"ready"}, every public message after N, and live
// message, closed and operator typing frames; the client may send
// {"type":"typing"} and {"type":"ping"} (answered by {"type":"pong"}). A
// client whose hello says "heartbeat": true gets {"type":"ping"} frames
// instead of WebSocket pings and must answer each with a frame in time (see
// serveStream).
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
	if !s.streamStarted() {
		s.ipConns.release(ip)
		s.writeError(w, r, &apiError{status: http.StatusServiceUnavailable, code: CodeInternal, message: "the server is shutting down"})
		return
	}
	c, err := websocket.Accept(smallBuffers{w}, r, &websocket.AcceptOptions{
		// The Origin was checked above with the same allow-list as every
		// API call; Accept's own check only knows the request's host.
		InsecureSkipVerify: true,
	})
	if err != nil {
		s.ipConns.release(ip)
		s.streams.Done()
		return // Accept has written the HTTP error
	}
	c.SetReadLimit(s.cfg.WSMaxFrameBytes)
	// The connection is served from a fresh goroutine so that this one,
	// and with it net/http's request, response and buffers, can go: an
	// idle stream then holds little more than its socket.
	go func() {
		defer s.streams.Done()
		defer s.ipConns.release(ip)
		defer c.CloseNow()
		s.serveStream(c, after, convID)
	}()
}

// streamBufSize is the size of a stream's read and write buffers. Frames
// larger than that are read and written straight through.
const streamBufSize = 512

// smallBuffers hands websocket.Accept the hijacked connection with small
// buffers instead of net/http's 4 KiB ones, which would otherwise be most
// of an idle stream's memory.
type smallBuffers struct{ http.ResponseWriter }

// Hijack takes over the connection, keeping any bytes already buffered.
func (w smallBuffers) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, brw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	br := bufio.NewReaderSize(conn, streamBufSize)
	if n := brw.Reader.Buffered(); n > 0 {
		// The client may already have sent its hello. websocket.Accept
		// only keeps what is in the returned reader's buffer, so the
		// bytes go there.
		b, _ := brw.Reader.Peek(n)
		br = bufio.NewReaderSize(io.MultiReader(bytes.NewReader(bytes.Clone(b)), conn), max(n, streamBufSize))
		if _, err := br.Peek(n); err != nil {
			conn.Close()
			return nil, nil, err
		}
	}
	// brw.Writer holds nothing: the 101 response was flushed by Hijack.
	return conn, bufio.NewReadWriter(br, bufio.NewWriterSize(conn, streamBufSize)), nil
}

// streamEventBuffer is how many hub events a stream may have pending. Any
// event re-reads the store, so more would only cost memory per connection.
const streamEventBuffer = 2

// streamStarted registers a stream unless the server is closing.
func (s *Server) streamStarted() bool {
	s.streamsMu.Lock()
	defer s.streamsMu.Unlock()
	if s.ctx.Err() != nil {
		return false
	}
	s.streams.Add(1)
	return true
}

// streamState is what one connection has sent so far.
type streamState struct {
	conv       string
	last       uint64
	closedSent bool
}

// serveStream runs one connection: hello, backlog, then live frames. The
// calling goroutine writes; one more goroutine reads.
//
// Every PingInterval the connection is checked. WebSocket pings prove only
// that the browser holds the socket: a page frozen in the back/forward
// cache keeps it open and answered. So a client that asked for heartbeats
// in its hello is sent a {"type":"ping"} frame instead, which only its
// script can answer; without a frame back within min(writeTimeout,
// PingInterval) the connection is closed with StatusNoHeartbeat, which ends
// the hub subscription and so the visitor's presence.
func (s *Server) serveStream(c *websocket.Conn, after uint64, convID string) {
	// The connection's own context: it ends when the reader stops. Server
	// shutdown closes the connection with a proper close frame instead of
	// cancelling reads (which would drop it without one).
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stop := context.AfterFunc(s.ctx, func() {
		c.Close(websocket.StatusGoingAway, "server shutting down")
		cancel()
	})
	defer stop()
	v, heartbeat, ok := s.hello(ctx, c)
	if !ok {
		return
	}
	if !s.visitorConns.acquire(v.ID) {
		c.Close(StatusTooManyConnections, "too many open connections for this visitor")
		return
	}
	defer s.visitorConns.release(v.ID)
	sub := s.engine.Hub().SubscribeVisitorSize(v.ID, streamEventBuffer)
	defer sub.Close()
	s.log.Debug("stream opened", "visitor", v.ID)
	defer s.log.Debug("stream closed", "visitor", v.ID)

	pongs := make(chan struct{}, 1)
	var heard atomic.Bool // a frame arrived since the last ping frame
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		defer cancel()
		s.readFrames(ctx, c, v, pongs, &heard)
	}()
	defer func() { c.CloseNow(); <-readerDone }()

	st := streamState{conv: convID, last: after}
	if s.write(ctx, c, readyFrame{Type: "ready", VisitorID: v.ID}) != nil || s.catchUp(ctx, c, v.ID, &st) != nil {
		return
	}
	pingTimeout := min(writeTimeout, s.cfg.PingInterval)
	ping := time.NewTicker(s.cfg.PingInterval)
	defer ping.Stop()
	var answerDue <-chan time.Time // set while a ping frame awaits its answer
	for {
		var err error
		select {
		case <-ctx.Done():
			return
		case ev := <-sub.C:
			// Every event, whatever its kind, re-reads the store: an event
			// dropped because the small buffer was full is covered by it.
			err = s.catchUp(ctx, c, v.ID, &st)
			if err == nil && ev.Kind == bridge.EventTyping && ev.From == bridge.FromOperator {
				err = s.write(ctx, c, typingFrame{Type: "typing", From: bridge.FromOperator, Author: ev.Author})
			}
		case <-pongs:
			err = s.writeRaw(ctx, c, pongFrame)
		case <-ping.C:
			if heartbeat {
				if answerDue == nil {
					heard.Store(false)
					answerDue = time.After(pingTimeout)
					err = s.writeRaw(ctx, c, pingFrame)
				}
				break
			}
			// A client that does not answer within the interval is gone.
			pctx, pcancel := context.WithTimeout(ctx, pingTimeout)
			err = c.Ping(pctx)
			pcancel()
		case <-answerDue:
			answerDue = nil
			if !heard.Load() {
				s.log.Debug("stream without heartbeat closed", "visitor", v.ID)
				// The visitor is away now, not after the close handshake
				// that a frozen page cannot answer.
				sub.Close()
				c.Close(StatusNoHeartbeat, "no answer to ping")
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// hello waits for the client's hello frame and authenticates its token. It
// returns the visitor and whether the client asked for heartbeats. On
// failure the connection is closed with StatusUnauthorized.
func (s *Server) hello(ctx context.Context, c *websocket.Conn) (v bridge.Visitor, heartbeat, ok bool) {
	// A read deadline through ctx would drop the TCP connection without a
	// close frame; closing from a timer sends 4401 first.
	timer := time.AfterFunc(s.cfg.HelloTimeout, func() {
		c.Close(StatusUnauthorized, "no hello frame in time")
	})
	typ, data, err := c.Read(ctx)
	if !timer.Stop() || err != nil {
		return bridge.Visitor{}, false, false
	}
	var f clientFrame
	if typ != websocket.MessageText || json.Unmarshal(data, &f) != nil || f.Type != "hello" || f.Token == "" {
		c.Close(StatusUnauthorized, "first frame must be a hello with a token")
		return bridge.Visitor{}, false, false
	}
	v, err = s.engine.Authenticate(ctx, f.Token)
	if err != nil {
		if !errors.Is(err, bridge.ErrUnauthorized) {
			s.log.Error("stream authentication failed", "err", err)
			c.Close(websocket.StatusInternalError, "internal error")
			return bridge.Visitor{}, false, false
		}
		c.Close(StatusUnauthorized, "unknown or expired token")
		return bridge.Visitor{}, false, false
	}
	return v, f.Heartbeat, true
}

// readFrames handles the client's frames until the connection ends. Every
// frame sets heard: any frame is a sign of life (the answer to a ping frame
// is usually {"type":"pong"}, which needs nothing else).
func (s *Server) readFrames(ctx context.Context, c *websocket.Conn, v bridge.Visitor, pongs chan<- struct{}, heard *atomic.Bool) {
	for {
		typ, data, err := c.Read(ctx)
		if err != nil {
			return
		}
		var f clientFrame
		if typ != websocket.MessageText || json.Unmarshal(data, &f) != nil {
			c.Close(websocket.StatusUnsupportedData, "frames are JSON text")
			return
		}
		heard.Store(true)
		switch f.Type {
		case "typing":
			if err := s.visitorTyping(ctx, v); err != nil {
				s.log.Warn("stream typing failed", "visitor", v.ID, "err", err)
			}
		case "ping":
			select {
			case pongs <- struct{}{}:
			default: // a pong is already due
			}
		}
	}
}

// catchUp sends the public messages committed since the last one sent, and
// a closed frame when the conversation has ended. It re-reads the store on
// every wake-up, so a dropped hub event never leaves a gap, and never sends
// a seq twice.
func (s *Server) catchUp(ctx context.Context, c *websocket.Conn, visitorID string, st *streamState) error {
	view, err := s.engine.VisitorMessages(ctx, visitorID, st.conv, st.last, 0)
	if err != nil {
		return err
	}
	conv := view.Conversation
	if conv.ID == "" {
		return nil
	}
	if conv.ID != st.conv {
		// A new conversation (VisitorMessages returns it from the start),
		// or the first one this connection learns about.
		if st.conv != "" {
			st.last = 0
		}
		st.conv, st.closedSent = conv.ID, false
	}
	for _, m := range s.publicMessages(view.Messages) {
		if m.Seq <= st.last {
			continue
		}
		if err := s.write(ctx, c, messageFrame{Type: "message", apiMessage: m, ConversationID: conv.ID}); err != nil {
			return err
		}
		st.last = m.Seq
	}
	if conv.Status == bridge.StatusClosed && !st.closedSent {
		st.closedSent = true
		return s.write(ctx, c, closedFrame{Type: "closed", ConversationID: conv.ID})
	}
	return nil
}

func (s *Server) write(ctx context.Context, c *websocket.Conn, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return s.writeRaw(ctx, c, b)
}

func (s *Server) writeRaw(ctx context.Context, c *websocket.Conn, b []byte) error {
	wctx, cancel := context.WithTimeout(ctx, writeTimeout)
	defer cancel()
	return c.Write(wctx, websocket.MessageText, b)
}
