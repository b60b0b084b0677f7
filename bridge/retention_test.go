package bridge_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chatbridge/chatbridge/bridge"
	"github.com/chatbridge/chatbridge/bridge/blobdir"
	"github.com/chatbridge/chatbridge/internal/fixture"
)

// clock is a settable engine clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// testState is an adapter's conversation state as it declares it: a key
// per message under a prefix, one per conversation, one per room.
var testState = bridge.ConversationState{
	Namespace: "fakeadapter",
	Keys: func(c bridge.Conversation, ref func(string) string) ([]string, []string) {
		keys := []string{"conv/" + c.ID}
		if r := ref("fakeadapter"); r != "" {
			keys = append(keys, "room/"+r)
		}
		return keys, []string{"msg/" + c.ID + "/"}
	},
}

// A purge deletes old closed conversations with their messages, refs,
// adapter state, dead letters and files, and visitors left with nothing;
// files another conversation uses stay until that one goes too.
func TestPurge(t *testing.T) {
	ctx := context.Background()
	clk := &clock{t: time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)}
	blobs, err := blobdir.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	dead := newFakeDest("dead")
	dead.fail = func(d bridge.Delivery) error {
		if d.Message != nil && d.Message.Text == "undeliverable" {
			return fmt.Errorf("%w: refused", bridge.ErrPermanent)
		}
		return nil
	}
	eng := fixture.Engine(t, fixture.Options{
		Config:     bridge.Config{Now: clk.Now, ConversationState: []bridge.ConversationState{testState}},
		Components: []any{dead},
	})
	e := &env{t: t, engine: eng}
	file := func(hex string) *bridge.Attachment {
		sum := strings.Repeat(hex, 32)
		key := bridge.BlobKey(sum)
		if err := blobs.Put(ctx, key, bytes.NewReader([]byte("png")), 3); err != nil {
			t.Fatal(err)
		}
		return &bridge.Attachment{Key: key, Name: hex + ".png", Type: "image/png", Size: 3, SHA256: sum}
	}
	exists := func(a *bridge.Attachment) bool {
		r, _, err := blobs.Get(ctx, a.Key)
		if err == nil {
			r.Close()
			return true
		}
		if !errors.Is(err, bridge.ErrNotFound) {
			t.Fatal(err)
		}
		return false
	}
	send := func(v bridge.Visitor, id, text string, f *bridge.Attachment) bridge.Message {
		t.Helper()
		m, err := eng.VisitorSend(ctx, v.ID, bridge.VisitorInput{ClientID: id, Text: text, File: f})
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	shared, own := file("ab"), file("cd")

	// Ann: an old conversation with two files, an operator's reply (its
	// platform id remembered), adapter state and a dead letter.
	ann := e.visitor("Ann")
	annToken, err := eng.IssueToken(ctx, ann.ID)
	if err != nil {
		t.Fatal(err)
	}
	m1 := send(ann, "a1", "hello", shared)
	send(ann, "a2", "", own)
	send(ann, "a3", "undeliverable", nil)
	annConv := m1.ConversationID
	op := bridge.Operator{Adapter: "fakeadapter", ID: "U1", Name: "Op"}
	if err := eng.HandleOperator(ctx, bridge.OperatorInput{ConversationID: annConv, Operator: op, Text: "hi Ann", EventID: "ev1"}); err != nil {
		t.Fatal(err)
	}
	err = eng.SaveAdapter(ctx, "fakeadapter", bridge.AdapterChange{
		Refs: map[string]string{annConv: "!room-ann"},
		State: map[string][]byte{
			"conv/" + annConv: []byte("x"), "room/!room-ann": []byte("x"),
			"msg/" + annConv + "/1": []byte("x"), "msg/" + annConv + "/2": []byte("x"),
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	fixture.WaitFor(t, "the dead letter", func() bool {
		dl, err := eng.DeadLetters(ctx, "dead", 0)
		return err == nil && len(dl) == 1
	})
	if err := eng.Close(ctx, annConv, op); err != nil {
		t.Fatal(err)
	}

	// Bob: a long conversation (several purge transactions), closed at
	// the same time, and a newer one that shares Ann's first file.
	bob := e.visitor("Bob")
	var bobOld string
	for i := range 450 {
		bobOld = send(bob, fmt.Sprint("b", i), fmt.Sprint("line ", i), nil).ConversationID
	}
	if err := eng.CloseByVisitor(ctx, bob.ID); err != nil {
		t.Fatal(err)
	}
	clk.add(48 * time.Hour)
	bobNew := send(bob, "b-new", "me again", shared).ConversationID
	err = eng.SaveAdapter(ctx, "fakeadapter", bridge.AdapterChange{
		Refs:  map[string]string{bobNew: "!room-bob"},
		State: map[string][]byte{"conv/" + bobNew: []byte("x"), "msg/" + bobNew + "/1": []byte("x")},
	})
	if err != nil {
		t.Fatal(err)
	}
	cutoff := clk.Now().Add(-24 * time.Hour)
	// Deliveries still under way would make the two counts differ.
	fixture.WaitFor(t, "every delivery", func() bool {
		p, err := eng.PendingDeliveries(ctx, "", 0)
		return err == nil && len(p) == 0
	})

	dry, err := eng.Purge(ctx, bridge.PurgeOptions{ClosedBefore: cutoff, DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	res, err := eng.Purge(ctx, bridge.PurgeOptions{ClosedBefore: cutoff})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("dry run %+v, purge %+v", dry, res)
	if res.Conversations != 2 || res.Visitors != 1 || res.Outbox != 1 || len(res.Blobs) != 1 || res.Blobs[0] != own.Key || res.Messages < 450+4 {
		t.Errorf("purge %+v: want 2 conversations, Ann, her dead letter, her own file and every message", res)
	}
	if fmt.Sprint(dry) != fmt.Sprint(res) {
		t.Errorf("dry run %+v, purge %+v: want the same figures", dry, res)
	}
	if n, err := eng.DropPurgedBlobs(ctx, blobs); err != nil || n != 1 {
		t.Fatalf("DropPurgedBlobs = %d, %v; want 1", n, err)
	}
	if exists(own) || !exists(shared) {
		t.Errorf("after the purge: own file exists %v (want false), shared file %v (want true)", exists(own), exists(shared))
	}
	for _, id := range []string{annConv, bobOld} {
		if _, err := eng.Conversation(ctx, id); !errors.Is(err, bridge.ErrNotFound) {
			t.Errorf("conversation %s after the purge: %v", id, err)
		}
	}
	if _, err := eng.Authenticate(ctx, annToken); !errors.Is(err, bridge.ErrUnauthorized) {
		t.Errorf("Ann's token after the purge: %v", err)
	}
	if _, err := eng.Ref(ctx, "fakeadapter", annConv); !errors.Is(err, bridge.ErrNotFound) {
		t.Errorf("Ann's room after the purge: %v", err)
	}
	if _, err := eng.ConversationByRef(ctx, "fakeadapter", "!room-ann"); !errors.Is(err, bridge.ErrNotFound) {
		t.Errorf("Ann's room's conversation after the purge: %v", err)
	}
	for _, k := range []string{"conv/" + annConv, "room/!room-ann", "msg/" + annConv + "/1", "msg/" + annConv + "/2"} {
		if _, err := eng.AdapterState(ctx, "fakeadapter", k); !errors.Is(err, bridge.ErrNotFound) {
			t.Errorf("adapter state %s after the purge: %v", k, err)
		}
	}
	if _, err := eng.AdapterState(ctx, "msgref:fakeadapter", "ev1"); !errors.Is(err, bridge.ErrNotFound) {
		t.Errorf("the reply's platform id after the purge: %v", err)
	}
	if dl, err := eng.DeadLetters(ctx, "", 0); err != nil || len(dl) != 0 {
		t.Errorf("dead letters after the purge: %v, %v", dl, err)
	}
	// Bob and his newer conversation are whole.
	if _, err := eng.Conversation(ctx, bobNew); err != nil {
		t.Errorf("Bob's newer conversation: %v", err)
	}
	for _, k := range []string{"conv/" + bobNew, "msg/" + bobNew + "/1"} {
		if _, err := eng.AdapterState(ctx, "fakeadapter", k); err != nil {
			t.Errorf("adapter state %s of a kept conversation: %v", k, err)
		}
	}
	if r, err := eng.Ref(ctx, "fakeadapter", bobNew); err != nil || r != "!room-bob" {
		t.Errorf("Bob's room: %q, %v", r, err)
	}
	if again, err := eng.Purge(ctx, bridge.PurgeOptions{ClosedBefore: cutoff}); err != nil || again.Conversations != 0 {
		t.Errorf("a second purge: %+v, %v", again, err)
	}

	// Bob's newer conversation goes too once closed and old: the shared
	// file with it, and Bob.
	if err := eng.CloseByVisitor(ctx, bob.ID); err != nil {
		t.Fatal(err)
	}
	clk.add(48 * time.Hour)
	res, err = eng.Purge(ctx, bridge.PurgeOptions{ClosedBefore: clk.Now().Add(-24 * time.Hour), Limit: 1})
	if err != nil || res.Conversations != 1 || res.Visitors != 1 || len(res.Blobs) != 1 || res.More {
		t.Fatalf("purge of the last conversation: %+v, %v", res, err)
	}
	if n, err := eng.DropPurgedBlobs(ctx, blobs); err != nil || n != 1 || exists(shared) {
		t.Fatalf("DropPurgedBlobs = %d, %v; shared file exists %v", n, err, exists(shared))
	}
	if n, err := eng.CountConversations(ctx, ""); err != nil || n != 0 {
		t.Fatalf("%d conversations left, %v", n, err)
	}
}

// Limit bounds a purge; More says there is more to do; an open or recent
// conversation is never purged.
func TestPurgeLimit(t *testing.T) {
	ctx := context.Background()
	clk := &clock{t: time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)}
	eng := fixture.Engine(t, fixture.Options{Config: bridge.Config{Now: clk.Now}})
	e := &env{t: t, engine: eng}
	for i := range 3 {
		v := e.visitor(fmt.Sprint("V", i))
		e.say(v, "x", "hello")
		if err := eng.CloseByVisitor(ctx, v.ID); err != nil {
			t.Fatal(err)
		}
	}
	open := e.visitor("Open")
	e.say(open, "x", "still here")
	clk.add(time.Hour)
	recent := e.visitor("Recent")
	e.say(recent, "x", "bye")
	if err := eng.CloseByVisitor(ctx, recent.ID); err != nil {
		t.Fatal(err)
	}
	cutoff := clk.Now().Add(-time.Minute)
	if _, err := eng.Purge(ctx, bridge.PurgeOptions{}); !errors.Is(err, bridge.ErrInvalid) {
		t.Fatalf("purge without a cutoff: %v", err)
	}
	res, err := eng.Purge(ctx, bridge.PurgeOptions{ClosedBefore: cutoff, Limit: 2})
	if err != nil || res.Conversations != 2 || !res.More {
		t.Fatalf("purge with limit 2: %+v, %v", res, err)
	}
	res, err = eng.Purge(ctx, bridge.PurgeOptions{ClosedBefore: cutoff, Limit: 2})
	if err != nil || res.Conversations != 1 || res.More {
		t.Fatalf("purge of the rest: %+v, %v", res, err)
	}
	if n, err := eng.CountConversations(ctx, ""); err != nil || n != 2 {
		t.Fatalf("%d conversations left (want the open and the recent one), %v", n, err)
	}
}
