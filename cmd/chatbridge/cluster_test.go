package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chatbridge/chatbridge/internal/testpeer"
)

// clusterReceiver is the other side of the cluster test: a webhook that
// keeps each visitor message once by its event id (receivers de-duplicate
// retries by it) and counts what came again.
type clusterReceiver struct {
	mu    sync.Mutex
	byID  map[string]string // event id → text
	texts []string          // texts in order of first arrival
	dups  int               // deliveries of an event id already kept
	last  time.Time         // arrival of the newest new event
}

func (r *clusterReceiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	var ev struct {
		ID      string `json:"id"`
		Type    string `json:"type"`
		Message *struct {
			Text string `json:"text"`
			From string `json:"from"`
		} `json:"message"`
	}
	body, _ := io.ReadAll(req.Body)
	_ = json.Unmarshal(body, &ev)
	w.WriteHeader(http.StatusNoContent)
	if ev.Type != "message" || ev.Message == nil || ev.Message.From != "visitor" {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.byID[ev.ID]; ok {
		r.dups++
		return
	}
	r.byID[ev.ID] = ev.Message.Text
	r.texts = append(r.texts, ev.Message.Text)
	r.last = time.Now()
}

func (r *clusterReceiver) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.texts)
}

// clusterNode is one chatbridge process of the cluster.
type clusterNode struct {
	name string
	cfg  string
	srv  *server
	dead bool
}

// leads asks a node's detailed /healthz which singletons it leads.
func (n *clusterNode) leads(t *testing.T) []string {
	if n.dead {
		return nil
	}
	resp, err := http.Get(n.srv.ops + "/healthz")
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	var h struct {
		Cluster struct {
			Node  string   `json:"node"`
			Leads []string `json:"leads"`
		} `json:"cluster"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&h)
	return h.Cluster.Leads
}

// clusterVisitor posts on one node and falls over to the next when its
// node does not answer, retrying the same client_id (as the widget does
// behind a load balancer).
type clusterVisitor struct {
	t     *testing.T
	nodes []*clusterNode
	at    int
	token string
	mu    *sync.Mutex
}

func (v *clusterVisitor) post(path string, body any, out any) error {
	b, _ := json.Marshal(body)
	for try := 0; try < 60; try++ {
		v.mu.Lock()
		n := v.nodes[v.at%len(v.nodes)]
		dead := n.dead
		v.mu.Unlock()
		if dead {
			v.at++
			continue
		}
		req, _ := http.NewRequest("POST", n.srv.base+path, strings.NewReader(string(b)))
		req.Header.Set("Content-Type", "application/json")
		if v.token != "" {
			req.Header.Set("Authorization", "Bearer "+v.token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			v.at++ // the node went away: the load balancer sends us elsewhere
			time.Sleep(50 * time.Millisecond)
			continue
		}
		data, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode >= 500 {
			time.Sleep(100 * time.Millisecond)
			continue
		}
		if resp.StatusCode >= 300 {
			return fmt.Errorf("POST %s: %d %s", path, resp.StatusCode, data)
		}
		if out != nil {
			return json.Unmarshal(data, out)
		}
		return nil
	}
	return fmt.Errorf("POST %s: no node answered", path)
}

// TestCluster runs three chatbridge nodes (processes) on a three-member
// etcd cluster: visitors spread over the nodes, long polls on other nodes
// than they post on, an operator logged in on one node replying through
// another, then SIGKILL of the node that leads delivery mid-load, and of
// one etcd member: every acknowledged message reaches the webhook exactly
// once (by event id), in order per conversation; the fail-over time is
// logged.
func TestCluster(t *testing.T) {
	etcd := testpeer.Etcd(t, 3)
	rcv := &clusterReceiver{byID: map[string]string{}}
	hook := httptest.NewServer(rcv)
	defer hook.Close()
	eps, _ := json.Marshal(etcd.Endpoints())
	hash := hashFor(t, "operator-pw")
	var nodes []*clusterNode
	for i := range 3 {
		name := fmt.Sprintf("node%d", i)
		dir := filepath.Join(t.TempDir(), name)
		if err := os.MkdirAll(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		cfg := writeConfig(t, dir, fmt.Sprintf(`
[store]
backend = "etcd"
endpoints = %s
prefix = "/cluster-test/"
node = %q
lease_ttl = "2s"
compact_every = "2s"
compact_keep = "5s"
[visitor]
messages_per_minute = 1000
[[inbox.operators]]
login = "alice"
name = "Alice"
password_hash = %q
[sinks.webhook]
url = %q
secret = "test-secret"
events = ["message"]
`, eps, name, hash, hook.URL))
		nodes = append(nodes, &clusterNode{name: name, cfg: cfg, srv: startServer(t, cfg)})
	}
	var mu sync.Mutex

	// An operator logs in on node 0 and replies through node 1; the
	// visitor, who posted on node 2, hears it in a long poll on node 0.
	v := &clusterVisitor{t: t, nodes: nodes, at: 2, mu: &mu}
	var sess struct{ Token string }
	if err := v.post("/api/v1/sessions", map[string]string{"name": "Vera"}, &sess); err != nil {
		t.Fatal(err)
	}
	v.token = sess.Token
	var first struct {
		Seq            uint64 `json:"seq"`
		ConversationID string `json:"conversation_id"`
	}
	if err := v.post("/api/v1/messages", map[string]string{"client_id": "hello", "text": "hello from node 2"}, &first); err != nil {
		t.Fatal(err)
	}
	polled := make(chan string, 1)
	go func() {
		req, _ := http.NewRequest("GET", fmt.Sprintf("%s/api/v1/messages?after=%d&wait=20", nodes[0].srv.base, first.Seq), nil)
		req.Header.Set("Authorization", "Bearer "+v.token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			polled <- "error: " + err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		polled <- string(b)
	}()
	time.Sleep(300 * time.Millisecond) // the poll is waiting on node 0
	op := inboxLogin(t, nodes[0].srv.base, "alice", "operator-pw")
	op.base = nodes[1].srv.base // the same session, on another node
	sent := time.Now()
	op.reply(first.ConversationID, "Hi Vera, Alice here")
	select {
	case got := <-polled:
		if !strings.Contains(got, "Hi Vera, Alice here") {
			t.Fatalf("long poll on node 0 answered %s", got)
		}
		t.Logf("operator reply on node 1 reached the long poll on node 0 in %s", time.Since(sent).Round(time.Millisecond))
	case <-time.After(15 * time.Second):
		t.Fatal("the long poll on node 0 did not hear the reply made on node 1")
	}

	// Load from visitors spread over the nodes.
	const visitors, each = 6, 40
	var vs []*clusterVisitor
	for i := range visitors {
		cv := &clusterVisitor{t: t, nodes: nodes, at: i, mu: &mu}
		if err := cv.post("/api/v1/sessions", map[string]string{"name": fmt.Sprint("v", i)}, &sess); err != nil {
			t.Fatal(err)
		}
		cv.token = sess.Token
		vs = append(vs, cv)
	}
	var wg sync.WaitGroup
	errs := make(chan error, visitors)
	progress := make([]int, visitors)
	for i, cv := range vs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range each {
				text := fmt.Sprintf("v%d-m%02d", i, j)
				if err := cv.post("/api/v1/messages", map[string]string{"client_id": text, "text": text}, nil); err != nil {
					errs <- err
					return
				}
				mu.Lock()
				progress[i] = j + 1
				mu.Unlock()
				time.Sleep(20 * time.Millisecond)
			}
		}()
	}
	waitProgress := func(n int) {
		waitFor(t, fmt.Sprintf("every visitor sent %d messages", n), func() bool {
			mu.Lock()
			defer mu.Unlock()
			return slices.Min(progress) >= n
		})
	}
	leader := func() *clusterNode {
		for _, n := range nodes {
			if slices.Contains(n.leads(t), "outbox/webhook") {
				return n
			}
		}
		return nil
	}

	// SIGKILL the node that delivers to the webhook, mid-load.
	waitProgress(each / 4)
	var old *clusterNode
	waitFor(t, "a node leading the webhook's delivery", func() bool { old = leader(); return old != nil })
	before := rcv.count()
	mu.Lock()
	old.dead = true
	mu.Unlock()
	killed := time.Now()
	old.srv.kill(t)
	var next *clusterNode
	waitFor(t, "another node leading the webhook's delivery", func() bool { next = leader(); return next != nil })
	takeover := time.Since(killed)
	waitFor(t, "deliveries resuming", func() bool { return rcv.count() > before })
	t.Logf("SIGKILL of %s (leading outbox/webhook): %s took over after %s (lease_ttl 2s)", old.name, next.name, takeover.Round(time.Millisecond))

	// SIGKILL one etcd member, mid-load.
	waitProgress(each / 2)
	before = rcv.count()
	memberKilled := time.Now()
	etcd.Kill(1)
	waitFor(t, "deliveries going on without one etcd member", func() bool { return rcv.count() > before+visitors })
	t.Logf("SIGKILL of etcd member 1: deliveries went on (%d more within %s)", rcv.count()-before, time.Since(memberKilled).Round(time.Millisecond))

	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	total := visitors * each
	waitFor(t, "every acknowledged message delivered", func() bool { return rcv.count() >= total+1 })
	time.Sleep(time.Second) // late duplicates would arrive now
	etcd.Restart(1)

	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	perVisitor := map[string][]string{}
	seen := map[string]int{}
	for _, text := range rcv.texts {
		seen[text]++
		if v, _, ok := strings.Cut(text, "-"); ok && strings.HasPrefix(text, "v") {
			perVisitor[v] = append(perVisitor[v], text)
		}
	}
	for text, n := range seen {
		if n != 1 {
			t.Errorf("%q reached the webhook as %d different events", text, n)
		}
	}
	for i := range visitors {
		got := perVisitor[fmt.Sprint("v", i)]
		if len(got) != each || !slices.IsSorted(got) {
			t.Errorf("visitor %d: %d messages delivered, in order: %v", i, len(got), slices.IsSorted(got))
		}
	}
	t.Logf("%d messages delivered once each, in order per conversation; %d repeated deliveries of an event id (the killed leader's in-flight ones, dropped by id)", len(rcv.texts), rcv.dups)
	for _, n := range nodes {
		if !n.dead {
			n.srv.stop(t)
		}
	}
}
