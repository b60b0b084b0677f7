package dump_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/chatbridge/chatbridge/bridge"
	"github.com/chatbridge/chatbridge/bridge/boltstore"
	"github.com/chatbridge/chatbridge/bridge/dump"
	"github.com/chatbridge/chatbridge/bridge/etcdstore"
	"github.com/chatbridge/chatbridge/internal/fixture"
	"github.com/chatbridge/chatbridge/internal/testpeer"
)

// dest is an outbox destination that is never run (the engine is not
// started): its entries stay in the outbox.
type dest struct{ name string }

func (d dest) Name() string                 { return d.name }
func (d dest) Wants(bridge.OutboxKind) bool { return true }
func (d dest) Deliver(context.Context, bridge.Delivery) (bridge.Receipt, error) {
	return bridge.Receipt{}, nil
}

// known are the keys a snapshot reads that no role lists.
type known struct {
	tokens     [][]byte
	externals  []string
	seen       []string
	namespaces []string
	adapters   []string
	terms      []string
}

// populate fills s through the engine and the roles: conversations with
// messages, files, replies, notes and client ids, visitors with tokens,
// a site user id and page views, outbox entries and dead letters,
// de-duplication records, tickets, leads, canned responses, refs and
// adapter state.
func populate(t *testing.T, s bridge.Store, now func() time.Time) known {
	ctx := context.Background()
	e := fixture.Engine(t, fixture.Options{Store: s, NoRun: true, Config: bridge.Config{Now: now},
		Components: []any{dest{"slack"}, dest{"webhook"}}})
	k := known{namespaces: []string{"blobrefs", "msgref:slack", "slack", "matrix"}, adapters: []string{"slack", "matrix"},
		terms: []string{"invoice", "broken", "ada"}, externals: []string{"user-1"}}
	op := bridge.Operator{Adapter: "slack", ID: "U1", Name: "Op"}
	var convs []string
	for i := range 5 {
		in := bridge.SessionInput{Name: fmt.Sprint("Visitor ", i), Email: fmt.Sprintf("v%d@example.org", i)}
		if i == 0 {
			in.ExternalID = "user-1"
		}
		_, v, err := e.StartSession(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		tok, err := e.IssueToken(ctx, v.ID)
		if err != nil {
			t.Fatal(err)
		}
		k.tokens = append(k.tokens, bridge.HashToken(tok))
		for j := range 3 {
			if err := e.RecordPageView(ctx, v.ID, bridge.PageView{URL: fmt.Sprintf("https://example.org/%d/%d", i, j), Title: "Page"}); err != nil {
				t.Fatal(err)
			}
		}
		sum := fmt.Sprintf("%064x", i%2) // two visitors share a file
		file := &bridge.Attachment{Key: bridge.BlobKey(sum), Name: "a.png", Type: "image/png", Size: 3, Width: 1, Height: 1, SHA256: sum}
		m, err := e.VisitorSend(ctx, v.ID, bridge.VisitorInput{ClientID: "c1", Text: "Hello «" + fmt.Sprint(i) + "»", File: file})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.VisitorMessage(ctx, v.ID, "c2", "my invoice is broken"); err != nil {
			t.Fatal(err)
		}
		conv := m.ConversationID
		convs = append(convs, conv)
		ev := fmt.Sprint("ev", i)
		k.seen = append(k.seen, "slack:"+ev)
		if err := e.HandleOperator(ctx, bridge.OperatorInput{EventID: "slack:" + ev, PlatformID: "C1:" + ev, ConversationID: conv, Operator: op, Text: "Let me look"}); err != nil {
			t.Fatal(err)
		}
		if _, err := e.AddNote(ctx, conv, op, "a private note", ""); err != nil {
			t.Fatal(err)
		}
		err = e.SaveAdapter(ctx, "slack", bridge.AdapterChange{
			Refs:  map[string]string{conv: "C1:" + fmt.Sprint(1000+i)},
			State: map[string][]byte{"msg:" + conv + ":1": []byte(`{"posts":["1.0"]}`), "empty": {}},
		})
		if err != nil {
			t.Fatal(err)
		}
		if i < 2 {
			if err := e.CloseByVisitor(ctx, v.ID); err != nil {
				t.Fatal(err)
			}
		}
	}
	for i := range 3 {
		if _, err := e.CreateTicket(ctx, bridge.Ticket{Title: fmt.Sprint("Broken invoice ", i), Description: "Ada: my invoice", ConversationID: convs[i], Operator: op, CreatedAt: now(), Source: "Live Chat", Links: map[string]string{"odoo": "https://odoo/1"}}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.CreateLead(ctx, bridge.Lead{Title: "Big customer", Notes: "wants 100", ConversationID: convs[0], ReferredBy: op, CreatedAt: now(), Source: "Live Chat"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.PutCanned(ctx, bridge.CannedResponse{Shortcut: "sorry", Text: "I am sorry to hear that.", Uses: 3, LastUsed: now()}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.PutCanned(ctx, bridge.CannedResponse{Shortcut: "sorry", Owner: "slack:U1", Text: "Sorry!"}); err != nil {
		t.Fatal(err)
	}
	err := s.Update(ctx, func(tx bridge.Tx) error {
		// Two dead letters, one retried entry, a drained destination,
		// an expired de-duplication record (not copied).
		entries, err := tx.Outbox("webhook", 0, 0)
		if err != nil {
			return err
		}
		for _, en := range entries[:2] {
			en.Attempts, en.LastError, en.DeadAt = 3, "410 Gone", now()
			if err := tx.Bury(en); err != nil {
				return err
			}
		}
		en := entries[2]
		en.Attempts, en.LastError, en.NextAttempt = 1, "timeout", now().Add(time.Minute)
		if err := tx.PutOutbox(en); err != nil {
			return err
		}
		id, err := tx.Enqueue(bridge.OutboxEntry{Destination: "email", Kind: bridge.KindMessage, ConversationID: convs[0], Seq: 1, CreatedAt: now()})
		if err != nil {
			return err
		}
		if err := tx.DeleteOutbox("email", id); err != nil {
			return err
		}
		_, err = tx.MarkSeen("expired", now().Add(-time.Hour), now().Add(-time.Minute))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	k.seen = append(k.seen, "expired")
	return k
}

// snapshot reads everything of s through the roles, as text by what.
func snapshot(t *testing.T, s bridge.Store, k known, now time.Time) map[string]string {
	t.Helper()
	out := map[string]string{}
	put := func(what string, v any, err error) {
		if err != nil {
			v = "error: " + err.Error()
			if strings.Contains(err.Error(), bridge.ErrNotFound.Error()) {
				v = "not found"
			}
		}
		// Empty lists and values may come as nil or empty: the same.
		if rv := reflect.ValueOf(v); (rv.Kind() == reflect.Slice || rv.Kind() == reflect.Map) && rv.Len() == 0 {
			v = nil
		}
		b, _ := json.Marshal(v)
		out[what] = string(b)
	}
	err := s.View(context.Background(), func(tx bridge.Tx) error {
		convs, err := tx.Conversations(bridge.ConversationFilter{})
		sort.Slice(convs, func(i, j int) bool { return convs[i].ID < convs[j].ID })
		put("conversations", convs, err)
		for _, st := range []bridge.Status{"", bridge.StatusOpen, bridge.StatusClosed} {
			n, err := tx.CountConversations(st)
			put("count "+string(st), n, err)
		}
		for _, c := range convs {
			ms, err := tx.Messages(c.ID, 0, 0)
			put("messages "+c.ID, ms, err)
			for _, m := range ms {
				if m.ClientID != "" {
					conv, seq, err := tx.ClientID(c.VisitorID, m.ClientID)
					put("client id "+c.ID+m.ClientID, fmt.Sprint(conv, seq), err)
				}
			}
			v, err := tx.Visitor(c.VisitorID)
			put("visitor "+c.VisitorID, v, err)
			pvs, err := tx.PageViews(c.VisitorID, 0)
			put("pages "+c.VisitorID, pvs, err)
			byVis, err := tx.Conversations(bridge.ConversationFilter{VisitorID: c.VisitorID})
			put("by visitor "+c.VisitorID, len(byVis), err)
			for _, a := range k.adapters {
				ref, err := tx.Ref(a, c.ID)
				put("ref "+a+c.ID, ref, err)
				if err == nil {
					back, err := tx.ConversationByRef(a, ref)
					put("ref back "+a+ref, back, err)
				}
			}
		}
		for i, h := range k.tokens {
			v, err := tx.VisitorByToken(h)
			put(fmt.Sprint("token ", i), v, err)
		}
		for _, x := range k.externals {
			v, err := tx.VisitorByExternalID(x)
			put("external "+x, v, err)
		}
		depth, err := tx.OutboxDepth()
		put("outbox depth", depth, err)
		for d := range depth {
			en, err := tx.Outbox(d, 0, 0)
			put("outbox "+d, en, err)
		}
		dead, err := tx.DeadDepth()
		put("dead depth", dead, err)
		for d := range dead {
			en, err := tx.DeadLetters(d, 0, 0)
			put("dead "+d, en, err)
		}
		for _, key := range k.seen {
			ok, err := tx.Seen(key, now)
			put("seen "+key, ok, err)
		}
		tks, err := tx.Tickets(0)
		put("tickets", tks, err)
		for _, term := range k.terms {
			ns, total, err := tx.SearchTickets([]string{term}, 0)
			put("search "+term, fmt.Sprint(ns, total), err)
		}
		leads, err := tx.Leads(0)
		put("leads", leads, err)
		cs, err := tx.AllCanned()
		put("canned", cs, err)
		for _, ns := range k.namespaces {
			keys, err := tx.StateKeys(ns, "", 0)
			put("state keys "+ns, keys, err)
			for _, key := range keys {
				v, err := tx.GetState(ns, key)
				put("state "+ns+"/"+key, string(v), err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func sameSnapshots(t *testing.T, what string, a, b map[string]string) {
	t.Helper()
	keys := make([]string, 0, len(a))
	for k := range a {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if a[k] != b[k] {
			t.Errorf("%s: %s differs:\n source %s\n copy   %s", what, k, a[k], b[k])
		}
	}
	if len(a) != len(b) {
		t.Errorf("%s: %d things read in the source, %d in the copy", what, len(a), len(b))
	}
}

// A populated bbolt store copied into etcd and back into a new bbolt file
// reads the same through every role, and later writes continue where the
// source stopped: ticket and lead numbers, outbox ids, message numbers,
// idempotency keys.
func TestCopyBoltEtcdBolt(t *testing.T) {
	ctx := context.Background()
	clock := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	now := func() time.Time { clock = clock.Add(time.Millisecond); return clock }
	src := fixture.Store(t)
	k := populate(t, src, now)
	at := now()

	c := testpeer.Etcd(t, 1)
	ec, err := etcdstore.Open(ctx, etcdstore.Config{Endpoints: c.Endpoints(), Prefix: "/copy/"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ec.Close()
	if empty, err := dump.Empty(ctx, ec); err != nil || !empty {
		t.Fatalf("a new etcd store: empty %v, %v", empty, err)
	}
	sum, err := dump.Copy(ctx, src, ec, at)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range sum.ByRole() {
		t.Logf("%-13s %5d records  %s  (%s)", r.Role, r.Count, r.Checksum(), r.Detail)
	}
	got, err := dump.Summarize(ctx, ec, at)
	if err != nil {
		t.Fatal(err)
	}
	if err := dump.Compare(sum, got); err != nil {
		t.Fatal(err)
	}
	want := snapshot(t, src, k, at)
	sameSnapshots(t, "bolt → etcd", want, snapshot(t, ec, k, at))
	if empty, err := dump.Empty(ctx, ec); err != nil || empty {
		t.Fatalf("the copy: empty %v, %v", empty, err)
	}

	back := fixture.StoreAt(t, filepath.Join(t.TempDir(), "back.db"), boltstore.Options{NoSync: true})
	sum2, err := dump.Copy(ctx, ec, back, at)
	if err != nil {
		t.Fatal(err)
	}
	got2, err := dump.Summarize(ctx, back, at)
	if err != nil {
		t.Fatal(err)
	}
	if err := dump.Compare(sum2, got2); err != nil {
		t.Fatal(err)
	}
	if err := dump.Compare(sum, got2); err != nil {
		t.Fatalf("the round trip differs from the first store: %v", err)
	}
	sameSnapshots(t, "bolt → etcd → bolt", want, snapshot(t, back, k, at))

	// Later writes continue on every copy.
	var maxID uint64
	for _, k := range []string{"outbox slack", "outbox webhook", "dead webhook"} {
		var entries []bridge.OutboxEntry
		_ = json.Unmarshal([]byte(want[k]), &entries)
		for _, en := range entries {
			maxID = max(maxID, en.ID)
		}
	}
	var convs []bridge.Conversation
	_ = json.Unmarshal([]byte(want["conversations"]), &convs)
	var open bridge.Conversation
	for _, c := range convs {
		if c.Status == bridge.StatusOpen {
			open = c
		}
	}
	for name, s := range map[string]bridge.Store{"etcd": ec, "bolt": back} {
		err := s.Update(ctx, func(tx bridge.Tx) error {
			tk, err := tx.CreateTicket(bridge.Ticket{Title: "after the copy"})
			if err != nil || tk.Number != 4 {
				t.Errorf("%s: new ticket %d, %v; want number 4", name, tk.Number, err)
			}
			l, err := tx.CreateLead(bridge.Lead{Title: "after the copy"})
			if err != nil || l.Number != 2 {
				t.Errorf("%s: new lead %d, %v; want number 2", name, l.Number, err)
			}
			id, err := tx.Enqueue(bridge.OutboxEntry{Destination: "slack", Kind: bridge.KindOpened})
			if err != nil || id <= maxID {
				t.Errorf("%s: new outbox id %d, %v; want above %d", name, id, err, maxID)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		e := fixture.Engine(t, fixture.Options{Store: s, NoRun: true, Config: bridge.Config{Now: now}})
		again, err := e.VisitorMessage(ctx, open.VisitorID, "c2", "a retry")
		if err != nil || again.Text != "my invoice is broken" {
			t.Errorf("%s: a retried client id: %+v, %v", name, again, err)
		}
		m, err := e.VisitorMessage(ctx, open.VisitorID, "c3", "after the copy")
		if err != nil || m.ConversationID != open.ID || m.Seq != open.LastSeq+1 || m.PublicSeq != open.LastPublicSeq+1 {
			t.Errorf("%s: a new message %+v, %v; want seq %d in %s", name, m, err, open.LastSeq+1, open.ID)
		}
	}

	// Wipe empties a store.
	if err := back.Wipe(ctx); err != nil {
		t.Fatal(err)
	}
	if err := ec.Wipe(ctx); err != nil {
		t.Fatal(err)
	}
	for name, s := range map[string]dump.Dumper{"bolt": back, "etcd": ec} {
		if empty, err := dump.Empty(ctx, s); err != nil || !empty {
			t.Errorf("%s after Wipe: empty %v, %v", name, empty, err)
		}
	}
}
