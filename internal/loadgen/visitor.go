package loadgen

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/coder/websocket"
)

// HTTPError is a request the server answered with an unexpected status.
type HTTPError struct {
	Status int
	// Code is the visitor API's error code ("rate_limited", …) when the
	// body was one of its JSON errors.
	Code    string
	Message string
}

func (e *HTTPError) Error() string {
	if e.Message != "" {
		return fmt.Sprintf("HTTP %d %s: %s", e.Status, e.Code, e.Message)
	}
	return fmt.Sprintf("HTTP %d", e.Status)
}

// errNoAnswer is a round trip whose far end never saw the message within
// the run's timeout.
var errNoAnswer = errors.New("no answer within the timeout")

// errorKind names an error for the summary's error counts.
func errorKind(err error) string {
	var he *HTTPError
	var ne net.Error
	switch {
	case errors.As(err, &he):
		if he.Code != "" {
			return fmt.Sprintf("http %d %s", he.Status, he.Code)
		}
		return fmt.Sprintf("http %d", he.Status)
	case errors.Is(err, errNoAnswer):
		return "not seen (timeout)"
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.Is(err, context.Canceled):
		return "cancelled"
	case errors.As(err, &ne):
		return "network"
	default:
		return "other"
	}
}

// Target is the server under test, as the visitor API sees it.
type Target struct {
	// Base is the server's base URL, "http://127.0.0.1:8080".
	Base string
	// Origin is sent on every visitor request and WebSocket handshake; it
	// must be in the server's visitor.allowed_origins (empty: none sent).
	Origin string
	// HTTP carries the visitor API's requests.
	HTTP *http.Client
	// Timeout bounds each request (0: none).
	Timeout time.Duration
}

// newHTTPClient returns a client that keeps many idle connections to one
// host, as a load generator needs (net/http keeps 2 by default, and would
// otherwise open and close a connection for most requests).
func newHTTPClient() *http.Client {
	return &http.Client{
		Transport: &http.Transport{
			Proxy:               nil,
			DialContext:         (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConns:        0,
			MaxIdleConnsPerHost: 4096,
			IdleConnTimeout:     60 * time.Second,
			DisableCompression:  true,
			ForceAttemptHTTP2:   false,
		},
	}
}

// Visitor is one visitor session.
type Visitor struct {
	Token string
	ID    string
	// Conv is the open conversation once a message started one.
	Conv string
	// Node is the index of the server (of a run's several) this visitor
	// talks to.
	Node int
}

// doJSON sends body (when not nil) as JSON and decodes a 2xx answer into
// out (when not nil).
func (t *Target) doJSON(ctx context.Context, method, path, token string, body, out any, want int) error {
	if t.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, t.Timeout)
		defer cancel()
	}
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, t.Base+path, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if t.Origin != "" {
		req.Header.Set("Origin", t.Origin)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := t.HTTP.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != want {
		return apiError(resp.StatusCode, b)
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}

// apiError reads the visitor API's {"error": {code, message}} if it is one.
func apiError(status int, body []byte) error {
	var e struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	he := &HTTPError{Status: status}
	if json.Unmarshal(body, &e) == nil {
		he.Code, he.Message = e.Error.Code, e.Error.Message
	}
	return he
}

// NewSession starts a visitor: POST /api/v1/sessions.
func (t *Target) NewSession(ctx context.Context, name string) (*Visitor, error) {
	var out struct {
		Token     string `json:"token"`
		VisitorID string `json:"visitor_id"`
	}
	if err := t.doJSON(ctx, http.MethodPost, "/api/v1/sessions", "", map[string]string{"name": name}, &out, http.StatusCreated); err != nil {
		return nil, fmt.Errorf("new session: %w", err)
	}
	if out.Token == "" {
		return nil, errors.New("new session: the answer has no token")
	}
	return &Visitor{Token: out.Token, ID: out.VisitorID}, nil
}

// PostMessage sends a visitor message: POST /api/v1/messages. It returns
// the message's seq and conversation.
func (t *Target) PostMessage(ctx context.Context, v *Visitor, clientID, text string) (uint64, string, error) {
	var out struct {
		Seq            uint64 `json:"seq"`
		ConversationID string `json:"conversation_id"`
	}
	err := t.doJSON(ctx, http.MethodPost, "/api/v1/messages", v.Token, map[string]string{"client_id": clientID, "text": text}, &out, http.StatusOK)
	if err != nil {
		return 0, "", err
	}
	return out.Seq, out.ConversationID, nil
}

// PostPageView records a page view: POST /api/v1/pageviews.
func (t *Target) PostPageView(ctx context.Context, v *Visitor, pageURL, title string) error {
	return t.doJSON(ctx, http.MethodPost, "/api/v1/pageviews", v.Token, map[string]string{"url": pageURL, "title": title}, nil, http.StatusNoContent)
}

// Frame is a frame of the visitor stream, with the fields the bench reads.
type Frame struct {
	Type           string `json:"type"`
	From           string `json:"from"`
	Text           string `json:"text"`
	Seq            uint64 `json:"seq"`
	ConversationID string `json:"conversation_id"`
}

// Stream is an open visitor WebSocket (GET /api/v1/stream) past its ready
// frame.
type Stream struct {
	c *websocket.Conn
}

// OpenStream dials the stream, sends the hello with v's token and waits
// for the ready frame.
func (t *Target) OpenStream(ctx context.Context, v *Visitor) (*Stream, error) {
	dctx := ctx
	if t.Timeout > 0 {
		var cancel context.CancelFunc
		dctx, cancel = context.WithTimeout(ctx, t.Timeout)
		defer cancel()
	}
	u, err := url.Parse(t.Base)
	if err != nil {
		return nil, err
	}
	u.Scheme = strings.Replace(u.Scheme, "http", "ws", 1)
	u.Path = strings.TrimSuffix(u.Path, "/") + "/api/v1/stream"
	h := http.Header{}
	if t.Origin != "" {
		h.Set("Origin", t.Origin)
	}
	c, resp, err := websocket.Dial(dctx, u.String(), &websocket.DialOptions{HTTPHeader: h})
	if err != nil {
		if resp != nil && resp.StatusCode != http.StatusSwitchingProtocols {
			b, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
			return nil, fmt.Errorf("open stream: %w", apiError(resp.StatusCode, b))
		}
		return nil, fmt.Errorf("open stream: %w", err)
	}
	hello, _ := json.Marshal(map[string]string{"type": "hello", "token": v.Token})
	if err := c.Write(dctx, websocket.MessageText, hello); err != nil {
		c.CloseNow()
		return nil, fmt.Errorf("open stream: hello: %w", err)
	}
	for {
		f, err := readFrame(dctx, c)
		if err != nil {
			c.CloseNow()
			return nil, fmt.Errorf("open stream: waiting for ready: %w", err)
		}
		if f.Type == "ready" {
			return &Stream{c: c}, nil
		}
	}
}

func readFrame(ctx context.Context, c *websocket.Conn) (Frame, error) {
	_, b, err := c.Read(ctx)
	if err != nil {
		return Frame{}, err
	}
	var f Frame
	if err := json.Unmarshal(b, &f); err != nil {
		return Frame{}, fmt.Errorf("bad frame %q: %w", b, err)
	}
	return f, nil
}

// ReadRaw returns the next frame undecoded and when it was read.
func (s *Stream) ReadRaw(ctx context.Context) ([]byte, time.Time, error) {
	_, b, err := s.c.Read(ctx)
	return b, time.Now(), err
}

// Close closes the stream normally.
func (s *Stream) Close() { _ = s.c.Close(websocket.StatusNormalClosure, "") }

// CloseNow drops the connection without a close handshake.
func (s *Stream) CloseNow() { _ = s.c.CloseNow() }
