package matrix

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/chatbridge/chatbridge/bridge"
	"maunium.net/go/mautrix/id"
)

// delivery builds an outbox delivery of kind k for the conversation.
func delivery(id uint64, k bridge.OutboxKind, c bridge.Conversation, v bridge.Visitor, text string) bridge.Delivery {
	d := bridge.Delivery{
		Entry:        bridge.OutboxEntry{ID: id, Destination: adapterName, Kind: k, ConversationID: c.ID},
		Conversation: c, Visitor: v,
	}
	if k == bridge.KindMessage {
		d.Message = &bridge.Message{ConversationID: c.ID, Seq: id, From: bridge.FromVisitor, Visibility: bridge.VisibilityPublic, Author: v.DisplayName(), Text: text}
	}
	return d
}

// TestEncryptedRoomsForgotten: Health reports encrypted rooms only while
// their conversations are open, and the adapter forgets a room when its
// conversation is closed.
func TestEncryptedRoomsForgotten(t *testing.T) {
	u := newUnit(t, bridge.Config{}, nil)
	ctx := context.Background()
	closer := bridge.Operator{Adapter: "inbox", ID: "alice", Name: "Alice"}

	// Closed through the outbox: the KindClosed delivery forgets the room.
	c1, v1 := u.conversation(t)
	u.withRoom(t, c1.ID, "!one:x")
	u.hs.encrypted["!one:x"] = true
	if _, err := u.a.Deliver(ctx, delivery(1, bridge.KindMessage, c1, v1, "hi")); !errors.Is(err, ErrEncrypted) || !errors.Is(err, bridge.ErrPermanent) {
		t.Fatalf("deliver to an encrypted room: %v, want ErrEncrypted and ErrPermanent", err)
	}
	// Closed while the outbox is behind: Health alone must notice.
	c2, v2 := u.conversation(t)
	u.withRoom(t, c2.ID, "!two:x")
	u.hs.encrypted["!two:x"] = true
	if _, err := u.a.Deliver(ctx, delivery(2, bridge.KindMessage, c2, v2, "hi")); !errors.Is(err, ErrEncrypted) {
		t.Fatalf("deliver to an encrypted room: %v, want ErrEncrypted", err)
	}
	if err := u.a.Health(ctx); !errors.Is(err, ErrEncrypted) || !strings.Contains(err.Error(), "!one:x") || !strings.Contains(err.Error(), "!two:x") {
		t.Fatalf("Health = %v, want both encrypted rooms", err)
	}

	if err := u.engine.Close(ctx, c1.ID, closer); err != nil {
		t.Fatal(err)
	}
	closed, err := u.engine.Conversation(ctx, c1.ID)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = u.a.Deliver(ctx, delivery(3, bridge.KindClosed, closed, v1, ""))
	u.a.mu.Lock()
	_, kept := u.a.encrypted["!one:x"]
	u.a.mu.Unlock()
	if kept {
		t.Error("the room of a closed conversation is still remembered after KindClosed")
	}
	if err := u.a.Health(ctx); !errors.Is(err, ErrEncrypted) || strings.Contains(err.Error(), "!one:x") {
		t.Fatalf("Health after closing the first = %v, want only !two:x", err)
	}
	if err := u.engine.Close(ctx, c2.ID, closer); err != nil {
		t.Fatal(err)
	}
	if err := u.a.Health(ctx); err != nil {
		t.Fatalf("Health after closing both = %v, want nil", err)
	}
	u.a.mu.Lock()
	left := len(u.a.encrypted)
	u.a.mu.Unlock()
	if left != 0 {
		t.Errorf("%d rooms still remembered after their conversations closed", left)
	}
}

// TestEncryptedMapBounded: the memory of checked rooms stays bounded, and
// encrypted rooms are kept over unencrypted ones when it is full.
func TestEncryptedMapBounded(t *testing.T) {
	a := &Adapter{encrypted: map[id.RoomID]bool{}}
	a.setEncrypted("!enc:x", true)
	for i := range maxRooms + 100 {
		a.setEncrypted(id.RoomID("!r"+uitoa(i)+":x"), false)
	}
	if n := len(a.encrypted); n > maxRooms {
		t.Errorf("%d rooms remembered, want at most %d", n, maxRooms)
	}
	if !a.encrypted["!enc:x"] {
		t.Error("the encrypted room was forgotten to make space for unencrypted ones")
	}
}

// cancelAfterCreate is a transport that lets room creation succeed and
// then cancels the delivery, as a shutdown at the worst moment would.
type cancelAfterCreate struct {
	base   http.RoundTripper
	cancel context.CancelFunc
}

func (c cancelAfterCreate) RoundTrip(req *http.Request) (*http.Response, error) {
	if !strings.HasSuffix(req.URL.Path, "/createRoom") {
		return c.base.RoundTrip(req)
	}
	resp, err := c.base.RoundTrip(req.WithContext(context.WithoutCancel(req.Context())))
	c.cancel()
	return resp, err
}

// TestRoomResumedAfterInterruption: a delivery interrupted after the room
// was created (a shutdown, a 429 on an invitation) is resumed by its retry
// in the same room, with the operators invited and the card posted once,
// also when a message entry (not KindOpened) created the room.
func TestRoomResumedAfterInterruption(t *testing.T) {
	tests := []struct {
		name      string
		interrupt func(u *unit, cancel context.CancelFunc)
	}{
		{"shutdown right after the room was created", func(u *unit, cancel context.CancelFunc) {
			u.a.client.Client.Transport = cancelAfterCreate{base: http.DefaultTransport, cancel: cancel}
		}},
		{"rate limited invitation", func(u *unit, _ context.CancelFunc) { u.hs.invite429 = 1 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := newUnit(t, bridge.Config{}, nil)
			c, v := u.conversation(t)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			tt.interrupt(u, cancel)
			if _, err := u.a.Deliver(ctx, delivery(7, bridge.KindMessage, c, v, "hello")); err == nil {
				t.Fatal("the interrupted delivery succeeded")
			}
			u.a.client.Client.Transport = nil
			for i := range 2 { // the retry, then a later message
				if _, err := u.a.Deliver(context.Background(), delivery(uint64(7+i), bridge.KindMessage, c, v, "hello")); err != nil {
					t.Fatalf("delivery %d: %v", i, err)
				}
			}
			u.hs.mu.Lock()
			created, rooms, invites := u.hs.created, u.hs.createdIDs, u.hs.invites
			u.hs.mu.Unlock()
			if created != 1 {
				t.Fatalf("%d rooms created, want 1", created)
			}
			if !slices.Equal(invites, []string{"@alice:x", "@bob:x"}) {
				t.Errorf("invited %q, want each operator once", invites)
			}
			bodies := u.hs.bodies(rooms[0])
			cards := 0
			for _, b := range bodies {
				if strings.Contains(b, "New chat with Vera") {
					cards++
				}
			}
			if cards != 1 || countOf(bodies, "Vera (visitor): hello") != 2 {
				t.Errorf("room got %q, want one card and the two messages", bodies)
			}
			if ref, err := u.a.room(context.Background(), c.ID); err != nil || string(ref) != rooms[0] {
				t.Errorf("room of the conversation = %q, %v; want %s", ref, err, rooms[0])
			}
		})
	}
}
