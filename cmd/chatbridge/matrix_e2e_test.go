package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
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

	ctx := context.Background()
	op, room := joinInvitedRoom(t, hs.URL, opID, opToken)
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

// TestServeWithMatrixAppservice runs the real binary in appservice mode on a
// real Dendrite that loaded the registration `chatbridge matrix
// registration` printed: the visitor appears as their own Matrix user, and
// the operator's reply reaches the visitor.
func TestServeWithMatrixAppservice(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // chatbridge listens here once Dendrite is up
	dir := t.TempDir()
	reg, err := exec.Command(binPath, "matrix", "registration", "--config", writeConfig(t, dir, ""),
		"--url", "http://"+addr, "--as-token", "as-secret-0123456789", "--hs-token", "hs-secret-0123456789",
		"--sender", "chatbridge", "--server-name", testpeer.DendriteServerName).Output()
	if err != nil {
		t.Fatalf("matrix registration: %v", err)
	}
	regPath := filepath.Join(dir, "registration.yaml")
	if err := os.WriteFile(regPath, reg, 0o600); err != nil {
		t.Fatal(err)
	}
	hs := testpeer.Dendrite(t, testpeer.WithAppservice(regPath))
	opID, opToken := hs.Register(t, "alice", "alice-password-1")
	cfgPath := filepath.Join(dir, "bridge.toml")
	cfg := fmt.Sprintf(`
[server]
listen = %q
admin_listen = "127.0.0.1:0"
data_dir = %q
[matrix]
mode = "appservice"
homeserver_url = %q
user_id = "@chatbridge:%s"
as_token = "as-secret-0123456789"
hs_token = "hs-secret-0123456789"
operators = [%q]
`, addr, filepath.Join(dir, "data"), hs.URL, testpeer.DendriteServerName, opID)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	s := startServer(t, cfgPath)
	defer s.stop(t)

	v := newVisitor(t, s.base, "Nora")
	v.send("n1", "Do you ship to Norway?")
	ctx := context.Background()
	op, room := joinInvitedRoom(t, hs.URL, opID, opToken)
	var sender id.UserID
	waitFor(t, "the visitor's message, sent by their own Matrix user", func() bool {
		resp, err := op.Messages(ctx, room, "", "", mautrix.DirectionBackward, nil, 100)
		if err != nil {
			return false
		}
		for _, e := range resp.Chunk {
			if b, _ := e.Content.Raw["body"].(string); e.Type == event.EventMessage && strings.Contains(b, "Do you ship to Norway?") {
				sender = e.Sender
				return true
			}
		}
		return false
	})
	if !strings.HasPrefix(string(sender), "@livechat_") {
		t.Fatalf("the visitor's message was sent by %s, want their ghost user", sender)
	}
	if _, err := op.SendText(ctx, room, "Yes, in 3 days."); err != nil {
		t.Fatal(err)
	}
	var got struct {
		Messages []struct{ From, Text string }
	}
	waitFor(t, "the reply at the visitor", func() bool {
		v.do(http.MethodGet, "/api/v1/messages?after=0", nil, &got)
		return len(got.Messages) >= 2
	})
	if got.Messages[1].Text != "Yes, in 3 days." || got.Messages[1].From != "operator" {
		t.Fatalf("the visitor sees %+v", got.Messages)
	}
}

// joinInvitedRoom logs the operator in, waits for the invitation to a
// conversation's room and joins it.
func joinInvitedRoom(t *testing.T, hsURL, opID, opToken string) (*mautrix.Client, id.RoomID) {
	t.Helper()
	op, err := mautrix.NewClient(hsURL, id.UserID(opID), opToken)
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
	return op, room
}
