package visitor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/chatbridge/chatbridge/bridge"
)

func TestConnLimiter(t *testing.T) {
	l := newConnLimiter(2)
	steps := []struct {
		op   string // "acquire" or "release"
		key  string
		want bool // acquire's result
		n    int  // key's count afterwards
		keys int  // keys held afterwards
	}{
		{"acquire", "a", true, 1, 1},
		{"acquire", "a", true, 2, 1},
		{"acquire", "a", false, 2, 1},
		{"acquire", "b", true, 1, 2},
		{"release", "a", false, 1, 2},
		{"acquire", "a", true, 2, 2},
		{"release", "a", false, 1, 2},
		{"release", "a", false, 0, 1},
		{"release", "b", false, 0, 0},
		{"release", "b", false, 0, 0}, // an extra release takes nothing below zero
		{"acquire", "b", true, 1, 1},
	}
	for i, s := range steps {
		if s.op == "acquire" {
			if got := l.acquire(s.key); got != s.want {
				t.Fatalf("step %d: acquire(%q) = %v, want %v", i, s.key, got, s.want)
			}
		} else {
			l.release(s.key)
		}
		if n, k := l.count(s.key), l.keys(); n != s.n || k != s.keys {
			t.Fatalf("step %d (%s %q): count %d, keys %d; want %d, %d", i, s.op, s.key, n, k, s.n, s.keys)
		}
	}
}

func TestVisitorUpdateFlood(t *testing.T) {
	clock := &fakeClock{now: time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)}
	e := newEnv(t, withClock(clock), withConfig(func(c *Config) { c.VisitorUpdatesPerMinute = 3 }))
	token, vid := e.session()
	events := e.engine.Hub().SubscribeAll()
	defer events.Close()
	update := func(name string) response {
		return e.do(request{method: "PATCH", path: "/api/v1/visitor", token: token, body: visitorRequest{Name: name}})
	}
	// A refused body costs no token.
	update("a\nb").wantError(t, 400, CodeBadRequest)
	for i := range 3 {
		update("Vera "+strconv.Itoa(i)).decodeTo(t, 200, nil)
	}
	before := e.store.updates.Load()
	for _, method := range []string{"PATCH", "POST"} {
		r := e.do(request{method: method, path: "/api/v1/visitor", token: token, body: visitorRequest{Name: "Mallory", Email: "m@example.com"}})
		r.wantError(t, 429, CodeRateLimited)
		if secs, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || secs < 1 || secs > 60 {
			t.Errorf("Retry-After = %q", r.header.Get("Retry-After"))
		}
	}
	if n := e.store.updates.Load() - before; n != 0 {
		t.Errorf("refused updates committed %d transactions", n)
	}
	if n := countEvents(events, bridge.EventUpdated, vid); n != 3 {
		t.Errorf("%d updated events, want 3 (none for refused updates)", n)
	}
	v, err := e.engine.Authenticate(context.Background(), token)
	must(t, err)
	if v.Name != "Vera 2" || v.Email != "" {
		t.Errorf("visitor = %q <%s>, want the last accepted update", v.Name, v.Email)
	}
	// Another visitor has its own budget.
	other, _ := e.session()
	e.do(request{method: "PATCH", path: "/api/v1/visitor", token: other, body: visitorRequest{Name: "Olga"}}).decodeTo(t, 200, nil)
	// The budget refills.
	clock.Advance(20 * time.Second)
	update("Vera again").decodeTo(t, 200, nil)
	update("Vera once more").wantError(t, 429, CodeRateLimited)
}

// countEvents drains sub and counts the events of kind for visitorID.
func countEvents(sub *bridge.Subscription, kind bridge.EventKind, visitorID string) int {
	n := 0
	for {
		select {
		case ev := <-sub.C:
			if ev.Kind == kind && ev.VisitorID == visitorID {
				n++
			}
		default:
			return n
		}
	}
}

// Outcomes of a connection attempt.
const (
	connReady         = "ready"          // stream said ready / long poll is waiting
	connRefusedHTTP   = "429"            // refused before any upgrade
	connRefusedClosed = "closed 4429"    // stream closed after its hello
	connEnded         = "ended normally" // long poll answered 200
)

// openStream dials the stream and says hello; it returns the connection
// when the server answered ready. Safe from any goroutine.
func openStream(ctx context.Context, e *testEnv, token string, header http.Header) (*websocket.Conn, string, error) {
	url := "ws" + strings.TrimPrefix(e.ts.URL, "http") + "/api/v1/stream"
	// The test server's client, so that the keep-alive connection left by a
	// refused handshake can be closed with the others.
	c, resp, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPClient: e.ts.Client(), HTTPHeader: header})
	if err != nil {
		if resp != nil && resp.StatusCode == http.StatusTooManyRequests {
			b, _ := io.ReadAll(resp.Body)
			if !strings.Contains(string(b), `"code":"rate_limited"`) || resp.Header.Get("Retry-After") == "" {
				return nil, "", fmt.Errorf("429 without a JSON error and Retry-After: %s %v", b, resp.Header)
			}
			return nil, connRefusedHTTP, nil
		}
		return nil, "", err
	}
	if err := c.Write(ctx, websocket.MessageText, []byte(`{"type":"hello","token":"`+token+`"}`)); err != nil {
		c.CloseNow()
		return nil, "", err
	}
	_, b, err := c.Read(ctx)
	switch {
	case err == nil && strings.Contains(string(b), `"ready"`):
		return c, connReady, nil
	case websocket.CloseStatus(err) == StatusTooManyConnections:
		c.CloseNow()
		return nil, connRefusedClosed, nil
	default:
		c.CloseNow()
		return nil, "", fmt.Errorf("after hello: %s %v", b, err)
	}
}

// longPoll runs GET /api/v1/messages?wait=60 until ctx ends and reports
// its outcome on the returned channel: connRefusedHTTP, connEnded, or
// connReady when ctx ended it while it waited.
func longPoll(ctx context.Context, e *testEnv, token string, header http.Header) <-chan string {
	out := make(chan string, 1)
	go func() {
		req, err := http.NewRequestWithContext(ctx, "GET", e.ts.URL+"/api/v1/messages?wait=60", nil)
		if err != nil {
			out <- err.Error()
			return
		}
		req.Header = header.Clone()
		if req.Header == nil {
			req.Header = http.Header{}
		}
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := e.ts.Client().Do(req)
		if err != nil {
			if ctx.Err() != nil {
				out <- connReady
				return
			}
			out <- err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		switch {
		case resp.StatusCode == http.StatusTooManyRequests && strings.Contains(string(b), `"code":"rate_limited"`) && resp.Header.Get("Retry-After") != "":
			out <- connRefusedHTTP
		case resp.StatusCode == http.StatusOK:
			out <- connEnded
		default:
			out <- fmt.Sprintf("status %d: %s", resp.StatusCode, b)
		}
	}()
	return out
}

func TestConnCapPerVisitor(t *testing.T) {
	e := newEnv(t, withConfig(func(c *Config) { c.MaxConnsPerVisitor = 3 }))
	token, vid := e.session()
	var ws []*wsClient
	for range 2 {
		ws = append(ws, e.stream(token, ""))
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	poll := longPoll(ctx, e, token, nil)
	waitFor(t, "the long poll to take a slot", func() bool { return e.srv.visitorConns.count(vid) == 3 })

	// A fourth stream is upgraded, then closed with 4429 after its hello.
	c, outcome, err := openStream(ctx, e, token, nil)
	if err != nil || outcome != connRefusedClosed {
		if c != nil {
			c.CloseNow()
		}
		t.Fatalf("fourth stream: %q %v, want %q", outcome, err, connRefusedClosed)
	}
	// A second long poll is refused with a JSON 429 and Retry-After.
	r := e.do(request{method: "GET", path: "/api/v1/messages?wait=5", token: token})
	r.wantError(t, 429, CodeRateLimited)
	if r.header.Get("Retry-After") != "5" {
		t.Errorf("Retry-After = %q, want 5", r.header.Get("Retry-After"))
	}
	// A plain read holds nothing and is not capped.
	e.messages(token, "?after=0")
	waitFor(t, "refused connections to give their slots back", func() bool {
		return e.srv.visitorConns.count(vid) == 3 && e.srv.ipConns.count("127.0.0.1") == 3
	})
	// Another visitor has its own budget.
	other, _ := e.session()
	e.stream(other, "")

	// Ending a stream and the long poll frees their slots.
	ws[0].c.Close(websocket.StatusNormalClosure, "")
	cancel()
	if got := <-poll; got != connReady {
		t.Errorf("long poll: %s", got)
	}
	waitFor(t, "slots to be freed", func() bool { return e.srv.visitorConns.count(vid) == 1 })
	e.stream(token, "")
	e.do(request{method: "GET", path: "/api/v1/messages?wait=0.01", token: token}).decodeTo(t, 200, nil)
}

func TestConnCapPerIP(t *testing.T) {
	e := newEnv(t, withConfig(func(c *Config) { c.MaxConnsPerIP = 4; c.TrustProxyHeaders = true }))
	token, _ := e.session()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	// Three sockets that never say hello and one long poll fill the
	// address's slots.
	var silent []*websocket.Conn
	for range 3 {
		c, _, err := e.dial("", nil)
		must(t, err)
		defer c.CloseNow()
		silent = append(silent, c)
	}
	poll := longPoll(ctx, e, token, nil)
	waitFor(t, "four slots taken", func() bool { return e.srv.ipConns.count("127.0.0.1") == 4 })

	// A stream is refused before the upgrade, with a JSON 429.
	if c, outcome, err := openStream(ctx, e, token, nil); err != nil || outcome != connRefusedHTTP {
		if c != nil {
			c.CloseNow()
		}
		t.Fatalf("fifth stream: %q %v, want %q", outcome, err, connRefusedHTTP)
	}
	// So is a long poll, even of another visitor.
	other, _ := e.session()
	r := e.do(request{method: "GET", path: "/api/v1/messages?wait=5", token: other})
	r.wantError(t, 429, CodeRateLimited)
	if r.header.Get("Retry-After") == "" {
		t.Error("no Retry-After")
	}
	// Another address (through a trusted proxy) has its own budget.
	far := http.Header{"X-Forwarded-For": {"203.0.113.7"}}
	c, outcome, err := openStream(ctx, e, other, far)
	if err != nil || outcome != connReady {
		t.Fatalf("stream from another address: %q %v", outcome, err)
	}
	defer c.CloseNow()
	if n := e.srv.ipConns.count("203.0.113.7"); n != 1 {
		t.Errorf("other address holds %d slots, want 1", n)
	}

	// Dropping the silent sockets frees their slots without waiting for
	// the hello timeout.
	for _, c := range silent {
		c.CloseNow()
	}
	waitFor(t, "silent sockets to be released", func() bool { return e.srv.ipConns.count("127.0.0.1") == 1 })
	w := e.stream(token, "")
	w.c.CloseNow()
	cancel()
	<-poll
	waitFor(t, "every slot to be released", func() bool { return e.srv.ipConns.count("127.0.0.1") == 0 })
}

// TestConnCapReleasedOnEveryExit ends connections every way they can end and
// checks that each gives its slots back.
func TestConnCapReleasedOnEveryExit(t *testing.T) {
	e := newEnv(t, withConfig(func(c *Config) {
		c.MaxConnsPerIP = 2
		c.MaxConnsPerVisitor = 1
		c.HelloTimeout = 100 * time.Millisecond
	}))
	token, _ := e.session()
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		run  func(t *testing.T)
	}{
		{"hello timeout", func(t *testing.T) {
			c, _, err := e.dial("", nil)
			must(t, err)
			defer c.CloseNow()
			if got := closeStatus(t, c); got != StatusUnauthorized {
				t.Errorf("close status %d", got)
			}
		}},
		{"bad hello", func(t *testing.T) {
			c, _, err := e.dial("", nil)
			must(t, err)
			defer c.CloseNow()
			must(t, c.Write(ctx, websocket.MessageText, []byte(`{"type":"hello","token":"nope"}`)))
			if got := closeStatus(t, c); got != StatusUnauthorized {
				t.Errorf("close status %d", got)
			}
		}},
		{"client closes", func(t *testing.T) {
			w := e.stream(token, "")
			must(t, w.c.Close(websocket.StatusNormalClosure, ""))
		}},
		{"client drops the connection", func(t *testing.T) { e.stream(token, "").c.CloseNow() }},
		{"frame too large", func(t *testing.T) {
			w := e.stream(token, "")
			must(t, w.c.Write(ctx, websocket.MessageText, make([]byte, DefaultWSMaxFrameBytes+1)))
			if got := closeStatus(t, w.c); got != websocket.StatusMessageTooBig {
				t.Errorf("close status %d", got)
			}
		}},
		{"not a WebSocket handshake", func(t *testing.T) {
			if r := e.do(request{method: "GET", path: "/api/v1/stream"}); r.status/100 != 4 {
				t.Errorf("status %d", r.status)
			}
		}},
		{"refused by the visitor cap", func(t *testing.T) {
			w := e.stream(token, "")
			defer w.c.CloseNow()
			if c, outcome, err := openStream(ctx, e, token, nil); err != nil || outcome != connRefusedClosed {
				if c != nil {
					c.CloseNow()
				}
				t.Errorf("second stream: %q %v", outcome, err)
			}
			e.do(request{method: "GET", path: "/api/v1/messages?wait=1", token: token}).wantError(t, 429, CodeRateLimited)
		}},
		{"refused by the address cap", func(t *testing.T) {
			for range 2 {
				c, _, err := e.dial("", nil)
				must(t, err)
				defer c.CloseNow()
			}
			waitFor(t, "two pre-hello sockets", func() bool { return e.srv.ipConns.count("127.0.0.1") == 2 })
			if _, outcome, err := openStream(ctx, e, token, nil); err != nil || outcome != connRefusedHTTP {
				t.Errorf("third stream: %q %v", outcome, err)
			}
			e.do(request{method: "GET", path: "/api/v1/messages?wait=1", token: token}).wantError(t, 429, CodeRateLimited)
		}},
		{"long poll times out", func(t *testing.T) {
			e.do(request{method: "GET", path: "/api/v1/messages?wait=0.05", token: token}).decodeTo(t, 200, nil)
		}},
		{"long poll cancelled by the client", func(t *testing.T) {
			pctx, cancel := context.WithCancel(ctx)
			poll := longPoll(pctx, e, token, nil)
			waitFor(t, "the long poll", func() bool { return e.srv.ipConns.count("127.0.0.1") == 1 })
			cancel()
			if got := <-poll; got != connReady {
				t.Errorf("long poll: %s", got)
			}
		}},
		{"long poll woken by a message", func(t *testing.T) {
			poll := longPoll(ctx, e, token, nil)
			waitFor(t, "the long poll", func() bool { return e.srv.ipConns.count("127.0.0.1") == 1 })
			// The visitor's own message from another tab wakes it.
			e.send(token, "wake", "hello")
			if got := <-poll; got != connEnded {
				t.Errorf("long poll: %s", got)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.run(t)
			waitFor(t, "every slot to be released", func() bool {
				return e.srv.ipConns.keys() == 0 && e.srv.visitorConns.keys() == 0 && e.engine.Hub().Subscribers() == 0
			})
		})
	}

	// Server shutdown ends a stream and a long poll, and frees both.
	w := e.stream(token, "")
	defer w.c.CloseNow()
	other, _ := e.session()
	poll := longPoll(ctx, e, other, nil)
	waitFor(t, "both connected", func() bool { return e.srv.ipConns.count("127.0.0.1") == 2 })
	closed := make(chan struct{})
	go func() { e.srv.Close(); close(closed) }()
	if got := closeStatus(t, w.c); got != websocket.StatusGoingAway {
		t.Errorf("stream at shutdown: close status %d", got)
	}
	<-closed
	if got := <-poll; got != connEnded {
		t.Errorf("long poll at shutdown: %s", got)
	}
	waitFor(t, "every slot to be released after Close", func() bool {
		return e.srv.ipConns.keys() == 0 && e.srv.visitorConns.keys() == 0
	})
}

// TestConnCapsUnderLoad opens many streams and long polls at once, checks
// that no cap is exceeded and the counters match what the clients saw, then
// closes everything and checks that every slot and goroutine is gone and
// the full budget is available again.
func TestConnCapsUnderLoad(t *testing.T) {
	const (
		perIP      = 30
		perVisitor = 4
		visitors   = 8
		streamsPer = 5 // per visitor: more than its cap, 40 in all: more than the address's
		pollsPer   = 2
	)
	e := newEnv(t, withConfig(func(c *Config) { c.MaxConnsPerIP = perIP; c.MaxConnsPerVisitor = perVisitor }))
	tokens, ids := make([]string, visitors), make([]string, visitors)
	for i := range visitors {
		tokens[i], ids[i] = e.session()
	}
	e.ts.Client().CloseIdleConnections()
	baseline := runtime.NumGoroutine()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	// Streams, all at once.
	type result struct {
		visitor int
		c       *websocket.Conn
		outcome string
		err     error
	}
	results := make(chan result, visitors*streamsPer)
	var wg sync.WaitGroup
	for i := range visitors * streamsPer {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v := i % visitors
			c, outcome, err := openStream(ctx, e, tokens[v], nil)
			results <- result{v, c, outcome, err}
		}()
	}
	wg.Wait()
	close(results)
	var conns []*websocket.Conn
	accepted := make([]int, visitors) // streams kept open
	refused := map[string]int{}
	closedEarly := 0
	for r := range results {
		if r.err != nil {
			t.Fatalf("stream of visitor %d: %v", r.visitor, r.err)
		}
		switch {
		case r.outcome != connReady:
			refused[r.outcome]++
		case r.visitor < 3:
			// Room for the long polls below.
			r.c.CloseNow()
			closedEarly++
		default:
			conns = append(conns, r.c)
			accepted[r.visitor]++
		}
	}
	defer func() {
		for _, c := range conns {
			c.CloseNow()
		}
	}()
	if n := len(conns) + closedEarly; n > perIP || len(conns) == 0 || closedEarly == 0 {
		t.Fatalf("%d streams accepted, want 1 to %d", n, perIP)
	}
	waitFor(t, "refused and closed streams to be released", func() bool { return e.srv.ipConns.count("127.0.0.1") == len(conns) })
	for v, n := range accepted {
		if n > perVisitor || e.srv.visitorConns.count(ids[v]) != n {
			t.Fatalf("visitor %d: %d streams accepted, server counts %d, cap %d", v, n, e.srv.visitorConns.count(ids[v]), perVisitor)
		}
	}
	t.Logf("streams: %d accepted (%d kept open), refused %v", len(conns)+closedEarly, len(conns), refused)

	// Long polls, all at once, into whatever budget is left.
	var polls []<-chan string
	for i := range visitors * pollsPer {
		polls = append(polls, longPoll(ctx, e, tokens[i%visitors], nil))
	}
	pollRefused := make([]int, visitors)
	pending := map[int]bool{}
	for i := range polls {
		pending[i] = true
	}
	waitFor(t, "long polls to be accepted or refused", func() bool {
		for i := range pending {
			select {
			case got := <-polls[i]:
				if got != connRefusedHTTP {
					t.Fatalf("long poll %d: %s", i, got)
				}
				pollRefused[i%visitors]++
				delete(pending, i)
			default:
			}
		}
		return e.srv.ipConns.count("127.0.0.1") == len(conns)+len(pending)
	})
	for v := range visitors {
		want := accepted[v] + pollsPer - pollRefused[v]
		if got := e.srv.visitorConns.count(ids[v]); got != want || got > perVisitor {
			t.Errorf("visitor %d: server counts %d connections, clients hold %d, cap %d", v, got, want, perVisitor)
		}
	}
	if n := e.srv.ipConns.count("127.0.0.1"); n > perIP {
		t.Errorf("address holds %d connections, cap %d", n, perIP)
	}
	t.Logf("long polls: %d accepted", len(pending))

	// Close everything: half the streams politely, half abruptly.
	for i, c := range conns {
		if i%2 == 0 {
			go c.Close(websocket.StatusNormalClosure, "")
		} else {
			c.CloseNow()
		}
	}
	cancel()
	for i := range pending {
		if got := <-polls[i]; got != connReady {
			t.Errorf("long poll %d: %s", i, got)
		}
	}
	waitFor(t, "every slot, subscription and goroutine to be released", func() bool {
		e.ts.Client().CloseIdleConnections()
		return e.srv.ipConns.keys() == 0 && e.srv.visitorConns.keys() == 0 &&
			e.engine.Hub().Subscribers() == 0 && runtime.NumGoroutine() <= baseline
	})

	// The full budget is there again: perIP streams, perVisitor each.
	ctx2, cancel2 := context.WithCancel(context.Background())
	defer cancel2()
	errc := make(chan error, perIP)
	conns2 := make(chan *websocket.Conn, perIP)
	for i := range perIP {
		go func() {
			c, outcome, err := openStream(ctx2, e, tokens[i/perVisitor], nil)
			if err == nil && outcome != connReady {
				err = errors.New(outcome)
			}
			if c != nil {
				conns2 <- c
			}
			errc <- err
		}()
	}
	for range perIP {
		if err := <-errc; err != nil {
			t.Errorf("second round: %v", err)
		}
	}
	close(conns2)
	for c := range conns2 {
		defer c.CloseNow()
	}
	if _, outcome, err := openStream(ctx2, e, tokens[visitors-1], nil); err != nil || outcome != connRefusedHTTP {
		t.Errorf("one over the address cap: %q %v", outcome, err)
	}
}
