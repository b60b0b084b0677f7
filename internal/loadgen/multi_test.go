package loadgen

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeNode is the part of the visitor API the accept mode uses, with
// tokens that only the node that made them knows: a visitor that strays to
// another node gets a 401.
type fakeNode struct {
	name string
	mu   sync.Mutex
	toks map[string]int // token → messages posted with it here
	seqs map[string]uint64
	// strays counts requests with a token of another node.
	strays int
}

func newFakeNode(name string) *fakeNode {
	return &fakeNode{name: name, toks: map[string]int{}, seqs: map[string]uint64{}}
}

func (n *fakeNode) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n.mu.Lock()
	defer n.mu.Unlock()
	switch r.URL.Path {
	case "/api/v1/sessions":
		tok := fmt.Sprintf("%s-%d", n.name, len(n.toks))
		n.toks[tok] = 0
		w.WriteHeader(http.StatusCreated)
		_ = json.NewEncoder(w).Encode(map[string]string{"token": tok, "visitor_id": "v-" + tok})
	case "/api/v1/messages":
		tok := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		if _, ok := n.toks[tok]; !ok {
			n.strays++
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"error":{"code":"unauthorized","message":"unknown token"}}`))
			return
		}
		n.toks[tok]++
		n.seqs[tok]++
		_ = json.NewEncoder(w).Encode(map[string]any{"seq": n.seqs[tok], "conversation_id": "c-" + tok})
	default:
		http.NotFound(w, r)
	}
}

// With several URLs, visitor i lives on URL i mod n: its session, its
// conversation and every message go there, and the visitors are spread
// evenly; the summary names every target.
func TestAcceptSpreadsVisitorsOverNodes(t *testing.T) {
	var nodes []*fakeNode
	var bases []string
	for i := range 3 {
		n := newFakeNode(fmt.Sprint("n", i))
		srv := httptest.NewServer(n)
		defer srv.Close()
		nodes = append(nodes, n)
		bases = append(bases, srv.URL+"/") // a trailing slash is dropped
	}
	sum, err := Run(context.Background(), Config{
		Mode: ModeAccept, Bases: bases, Concurrency: 7, Conversations: 7,
		Duration: 300 * time.Millisecond, Timeout: 5 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(sum.Targets) != 3 || sum.Target != strings.TrimSuffix(bases[0], "/") || sum.Targets[2] != strings.TrimSuffix(bases[2], "/") {
		t.Errorf("target %q, targets %q", sum.Target, sum.Targets)
	}
	if p := sum.Paths[0]; p.Count == 0 || p.ErrorCount != 0 {
		t.Fatalf("accept: count %d, errors %v", p.Count, p.Errors)
	}
	for i, n := range nodes {
		n.mu.Lock()
		// Visitors 0..6 over 3 nodes: 3, 2, 2.
		want := 2
		if i == 0 {
			want = 3
		}
		if len(n.toks) != want || n.strays != 0 {
			t.Errorf("node %d: %d visitors (want %d), %d requests of other nodes' visitors", i, len(n.toks), want, n.strays)
		}
		for tok, msgs := range n.toks {
			if msgs < 2 { // the opening message and at least one measured
				t.Errorf("node %d: visitor %s posted %d messages here", i, tok, msgs)
			}
		}
		n.mu.Unlock()
	}

	var table strings.Builder
	if err := sum.WriteTable(&table); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(table.String(), "against 3 servers, "+sum.Targets[0]+", ") {
		t.Errorf("table header:\n%s", table.String())
	}
}

// One URL: the summary and its table are as before (the one target).
func TestAcceptOneNode(t *testing.T) {
	n := newFakeNode("solo")
	srv := httptest.NewServer(n)
	defer srv.Close()
	sum, err := Run(context.Background(), Config{
		Mode: ModeAccept, Bases: []string{srv.URL}, Concurrency: 2,
		Duration: 200 * time.Millisecond, Timeout: 5 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	var table strings.Builder
	_ = sum.WriteTable(&table)
	if sum.Target != srv.URL || !strings.Contains(table.String(), "against "+srv.URL+" (run ") {
		t.Errorf("target %q, table:\n%s", sum.Target, table.String())
	}
}

func TestValidateURLs(t *testing.T) {
	for _, tc := range []struct {
		bases []string
		want  string
	}{
		{nil, "no server URL"},
		{[]string{"http://a:1", "ftp://b"}, `"ftp://b" is not an http(s) URL`},
		{[]string{"http://a:1", "http://a:1/"}, "given twice"},
	} {
		c := Config{Mode: ModeAccept, Bases: tc.bases}
		c.defaults()
		err := c.validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want %q", tc.bases, err, tc.want)
		}
	}
	c := Config{Mode: ModeAccept, Bases: []string{"http://a:1", "https://b:2"}}
	c.defaults()
	if err := c.validate(); err != nil {
		t.Errorf("two URLs: %v", err)
	}
}

// A reply goes through another node than the visitor's whenever there are
// several, and every node gets its share.
func TestReplyNodeCrosses(t *testing.T) {
	if replyNode(0, 1) != 0 {
		t.Error("one node: the reply must go through it")
	}
	for n := 2; n <= 5; n++ {
		used := map[int]int{}
		for v := range n {
			r := replyNode(v, n)
			if r == v || r < 0 || r >= n {
				t.Errorf("%d nodes: visitor on %d, reply through %d", n, v, r)
			}
			used[r]++
		}
		if len(used) != n {
			t.Errorf("%d nodes: replies through %v", n, used)
		}
	}
}

// fakeInbox is the inbox login, page and reply, with a session table that
// two servers may share (the nodes of one cluster) or not.
type fakeInbox struct {
	mu       sync.Mutex
	sessions map[string]string // cookie → CSRF token
	replies  int
}

func (in *fakeInbox) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /inbox/login", func(w http.ResponseWriter, r *http.Request) {
		if r.PostFormValue("password") != "pw" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		in.mu.Lock()
		id := fmt.Sprintf("sess%d", len(in.sessions))
		in.sessions[id] = "csrf-" + id
		in.mu.Unlock()
		http.SetCookie(w, &http.Cookie{Name: "cb_inbox", Value: id, Path: "/inbox"})
		http.Redirect(w, r, "/inbox/", http.StatusSeeOther)
	})
	mux.HandleFunc("GET /inbox/login", func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("<form>login</form>"))
	})
	mux.HandleFunc("GET /inbox/", func(w http.ResponseWriter, r *http.Request) {
		csrf, ok := in.session(r)
		if !ok {
			http.Redirect(w, r, "/inbox/login?next=/inbox/", http.StatusSeeOther)
			return
		}
		fmt.Fprintf(w, `<meta name="csrf-token" content="%s">`, csrf)
	})
	mux.HandleFunc("POST /inbox/c/{id}/reply", func(w http.ResponseWriter, r *http.Request) {
		csrf, ok := in.session(r)
		if !ok || r.Header.Get("X-CSRF-Token") != csrf {
			w.WriteHeader(http.StatusForbidden)
			return
		}
		in.mu.Lock()
		in.replies++
		in.mu.Unlock()
		_, _ = w.Write([]byte(`{"ok":true}`))
	})
	return mux
}

func (in *fakeInbox) session(r *http.Request) (string, bool) {
	c, err := r.Cookie("cb_inbox")
	if err != nil {
		return "", false
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	csrf, ok := in.sessions[c.Value]
	return csrf, ok
}

// One login serves every node that shares the session store, even on
// another host name (where a browser's cookie would not follow); a node
// with its own store says so.
func TestOperatorOnOtherNode(t *testing.T) {
	shared := &fakeInbox{sessions: map[string]string{}}
	a := httptest.NewServer(shared.handler())
	defer a.Close()
	b := httptest.NewServer(shared.handler())
	defer b.Close()
	alone := httptest.NewServer((&fakeInbox{sessions: map[string]string{}}).handler())
	defer alone.Close()
	ctx := context.Background()

	op, err := LoginOperator(ctx, a.URL, "bench", "pw", 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	// "localhost" is another cookie host than a's "127.0.0.1".
	onB := strings.Replace(b.URL, "127.0.0.1", "localhost", 1)
	ob, ok, err := op.On(ctx, onB)
	if err != nil || !ok {
		t.Fatalf("On(%s): shared %v, %v", onB, ok, err)
	}
	if ob.Base() != onB {
		t.Errorf("base %q", ob.Base())
	}
	if err := ob.Reply(ctx, "c1", "e1", "hello"); err != nil {
		t.Fatalf("reply through the other node: %v", err)
	}
	if err := op.Reply(ctx, "c1", "e2", "hello"); err != nil {
		t.Fatalf("reply through the first node: %v", err)
	}
	if shared.replies != 2 || len(shared.sessions) != 1 {
		t.Errorf("%d replies, %d sessions; want 2 replies on one login", shared.replies, len(shared.sessions))
	}

	if o, ok, err := op.On(ctx, alone.URL); err != nil || ok || o != nil {
		t.Errorf("On a server of its own: %v, shared %v, %v; want not shared", o, ok, err)
	}
}

// lockedBuffer is an io.Writer whose content the test reads while the run
// may still write.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func readAcks(t *testing.T, s string) []Ack {
	t.Helper()
	var acks []Ack
	for line := range strings.Lines(s) {
		var a Ack
		if err := json.Unmarshal([]byte(line), &a); err != nil {
			t.Fatalf("acked line %q: %v", line, err)
		}
		acks = append(acks, a)
	}
	return acks
}

// Every acknowledged message is logged once, with the visitor's token and
// what the server answered, in the order of the answers: per visitor, seqs
// 1, 2, 3, … (one writer per visitor), the opening message first.
func TestAckedLog(t *testing.T) {
	var bases []string
	for i := range 2 {
		srv := httptest.NewServer(newFakeNode(fmt.Sprint("n", i)))
		defer srv.Close()
		bases = append(bases, srv.URL)
	}
	var buf lockedBuffer
	sum, err := Run(context.Background(), Config{
		Mode: ModeAccept, Bases: bases, Concurrency: 4, Acked: &buf,
		Duration: 300 * time.Millisecond, Timeout: 5 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	acks := readAcks(t, buf.String())
	if want := 4 + int(sum.Paths[0].Count); len(acks) != want {
		t.Fatalf("%d acknowledgements logged, want %d (4 opening messages and %d measured)", len(acks), want, sum.Paths[0].Count)
	}
	next := map[string]uint64{}
	clientIDs := map[string]bool{}
	for _, a := range acks {
		node := strings.SplitN(a.Token, "-", 2)[0]
		if a.URL != bases[node[1]-'0'] || a.VisitorID != "v-"+a.Token || a.ConversationID != "c-"+a.Token || a.Text == "" || a.At.IsZero() {
			t.Fatalf("ack %+v", a)
		}
		if next[a.Token]++; a.Seq != next[a.Token] {
			t.Fatalf("visitor %s: seq %d logged after %d", a.Token, a.Seq, next[a.Token]-1)
		}
		if next[a.Token] == 1 && !strings.Contains(a.ClientID, "-open-") {
			t.Errorf("visitor %s: first logged message %q is not the opening one", a.Token, a.ClientID)
		}
		if clientIDs[a.ClientID] {
			t.Errorf("client id %s logged twice", a.ClientID)
		}
		clientIDs[a.ClientID] = true
	}
	if len(next) != 4 {
		t.Errorf("%d visitors in the log, want 4", len(next))
	}

	// Pageviews post no messages.
	if _, err := Run(context.Background(), Config{Mode: ModePageViews, Bases: bases, Acked: &buf}); err == nil {
		t.Error("--acked in pageviews mode: want an error")
	}
}

// The log is buffered, but a failed request writes out what is buffered:
// whatever happened to the server, the file is current.
func TestAckedLogFlushesOnError(t *testing.T) {
	n := newFakeNode("n0")
	srv := httptest.NewServer(n)
	var buf lockedBuffer
	r := &runner{targets: []*Target{{Base: srv.URL, HTTP: newHTTPClient(), Timeout: 5 * time.Second}}, acks: newAckLog(&buf)}
	ctx := context.Background()
	v, err := r.targets[0].NewSession(ctx, "x")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := r.postMessage(ctx, v, "c1", "one"); err != nil {
		t.Fatal(err)
	}
	if buf.String() != "" {
		t.Log("flushed by the timer already") // not an error: only unlikely
	}
	srv.Close() // the server goes away
	if _, _, err := r.postMessage(ctx, v, "c2", "two"); err == nil || errorKind(err) != "network" {
		t.Fatalf("post to a closed server: %v (%s)", err, errorKind(err))
	}
	acks := readAcks(t, buf.String())
	if len(acks) != 1 || acks[0].Text != "one" || acks[0].Seq != 1 || acks[0].Token != v.Token {
		t.Fatalf("after the failure the log holds %+v, want the one acknowledged message", acks)
	}
	if err := r.acks.close(); err != nil {
		t.Fatal(err)
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, fmt.Errorf("disk full") }

// A log that cannot be written fails the run: an incomplete log must not
// pass for a complete one.
func TestAckedLogWriteError(t *testing.T) {
	srv := httptest.NewServer(newFakeNode("n0"))
	defer srv.Close()
	_, err := Run(context.Background(), Config{
		Mode: ModeAccept, Bases: []string{srv.URL}, Concurrency: 2, Acked: failingWriter{},
		Duration: 100 * time.Millisecond, Timeout: 5 * time.Second,
	})
	if err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("run with an unwritable log: %v", err)
	}
}

// In a cluster the inbox's live stream announces messages committed on
// other nodes without "from": they count for the visitor → operator round
// trip (matched by conversation and seq), operators' and system messages
// do not.
func TestMaybeVisitorMessage(t *testing.T) {
	for _, tc := range []struct {
		ev   LiveEvent
		want bool
	}{
		{LiveEvent{Kind: "message", From: "visitor"}, true},
		{LiveEvent{Kind: "message", From: ""}, true},
		{LiveEvent{Kind: "message", From: "operator"}, false},
		{LiveEvent{Kind: "message", From: "system"}, false},
		{LiveEvent{Kind: "typing", From: "visitor"}, false},
		{LiveEvent{Kind: "updated"}, false},
	} {
		if got := maybeVisitorMessage(tc.ev); got != tc.want {
			t.Errorf("%+v: %v, want %v", tc.ev, got, tc.want)
		}
	}
}
