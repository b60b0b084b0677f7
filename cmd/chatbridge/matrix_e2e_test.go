package main

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/chatbridge/chatbridge/internal/testpeer"
)

// TestServeWithMatrix runs the real binary configured with [matrix] against
// a real Dendrite: a visitor's message opens a room the operator is invited
// to; the operator's reply reaches the visitor's long poll; !history and a
// note typed in the room never do.
func TestServeWithMatrix(t *testing.T) {
	hs := testpeer.Dendrite(t)
	botID, botToken := hs.Register(t, "chatbridge", "bot-password-1")
	opID, opToken := hs.Register(t, "alice", "alice-password-1")
	dir := t.TempDir()
	cfgPath := writeConfig(t, dir, fmt.Sprintf(`
[matrix]
homeserver_url = %q
user_id = %q
operators = [%q]
`, hs.URL, botID, opID))
	t.Setenv("CHATBRIDGE_MATRIX_ACCESS_TOKEN", botToken) // inherited by the child
	s := startServer(t, cfgPath)
	defer s.stop(t)

	v := newVisitor(t, s.base, "Mona")
	v.send("m1", "Is the blue mug dishwasher safe?")

	op, err := mautrix.NewClient(hs.URL, id.UserID(opID), opToken)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var room id.RoomID
	waitFor(t, "an invitation to the conversation's room", func() bool {
		resp, err := op.SyncRequest(ctx, 0, "", "", false, "")
		if err != nil {
			return false
		}
		for r := range resp.Rooms.Invite {
			room = r
			return true
		}
		return false
	})
	if _, err := op.JoinRoomByID(ctx, room); err != nil {
		t.Fatal(err)
	}
	bodies := func() []string {
		resp, err := op.Messages(ctx, room, "", "", mautrix.DirectionBackward, nil, 100)
		if err != nil {
			return nil
		}
		var out []string
		for i := len(resp.Chunk) - 1; i >= 0; i-- {
			if e := resp.Chunk[i]; e.Type == event.EventMessage {
				b, _ := e.Content.Raw["body"].(string)
				out = append(out, b)
			}
		}
		return out
	}
	waitFor(t, "the visitor's message in the room", func() bool {
		return strings.Contains(strings.Join(bodies(), "\n"), "Mona (visitor): Is the blue mug dishwasher safe?")
	})
	for _, text := range []string{"!history", ";; check stock", "Yes, it is!"} {
		if _, err := op.SendText(ctx, room, text); err != nil {
			t.Fatal(err)
		}
	}
	var got struct {
		Messages []struct{ From, Author, Text string }
	}
	waitFor(t, "the operator's reply at the visitor", func() bool {
		if code := v.do(http.MethodGet, "/api/v1/messages?after=0", nil, &got); code != http.StatusOK {
			return false
		}
		return len(got.Messages) >= 2
	})
	if len(got.Messages) != 2 || got.Messages[1].Text != "Yes, it is!" || got.Messages[1].From != "operator" {
		t.Fatalf("the visitor sees %+v, want only their message and the reply", got.Messages)
	}
	waitFor(t, "the !history answer in the room", func() bool {
		return strings.Contains(strings.Join(bodies(), "\n"), "No page views recorded for this visitor.")
	})
}
