package matrix

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chatbridge/chatbridge/bridge"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

// The fake homeserver, like Dendrite after a restart or a cut-off request,
// does not de-duplicate transaction ids: only the adapter's look before it
// sends again keeps a message single.

// TestLookBeforeSendingAgain: a retry looks for the earlier attempt's event
// only when that attempt's outcome is unknown (a 5xx, a lost answer), finds
// it when the homeserver stored it, and sends once in every case.
func TestLookBeforeSendingAgain(t *testing.T) {
	tests := []struct {
		name      string
		first     sendStep
		wantLooks int
	}{
		{"stored, answer lost", sendStep{store: true, status: http.StatusInternalServerError}, 1},
		{"not stored, 5xx", sendStep{store: false, status: http.StatusBadGateway}, 1},
		{"refused with 429", sendStep{store: false, status: http.StatusTooManyRequests}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := newUnit(t, bridge.Config{}, nil)
			ctx := context.Background()
			c, v := u.conversation(t)
			u.withRoom(t, c.ID, "!room:x")
			d := delivery(7, bridge.KindMessage, c, v, "hello")
			d.Entry.CreatedAt = time.Now() // queued while this adapter runs
			u.hs.sendPlan = []sendStep{tt.first}
			if _, err := u.a.Deliver(ctx, d); err == nil {
				t.Fatal("the first attempt succeeded")
			}
			d.Entry.Attempts = 1
			before := u.hs.lookups
			if _, err := u.a.Deliver(ctx, d); err != nil {
				t.Fatalf("retry: %v", err)
			}
			if got := u.hs.lookups - before; got != tt.wantLooks {
				t.Errorf("the retry looked %d times, want %d", got, tt.wantLooks)
			}
			if n := countOf(u.hs.bodies("!room:x"), "Vera (visitor): hello"); n != 1 {
				t.Errorf("the message is in the room %d times, want 1", n)
			}
			// Delivered again (the outbox's delete failed): recorded as
			// shown, nothing is sent or looked for.
			before = u.hs.lookups
			if _, err := u.a.Deliver(ctx, d); err != nil {
				t.Fatal(err)
			}
			if n := countOf(u.hs.bodies("!room:x"), "Vera (visitor): hello"); n != 1 || u.hs.lookups != before {
				t.Errorf("a repeated delivery: %d copies, %d looks; want 1, 0", n, u.hs.lookups-before)
			}
		})
	}
}

// TestRestartLooksOncePerRoom: after a crash, every entry older than the
// new process is uncertain; the ones whose events reached the room are not
// sent again, the others are sent once, and the whole backlog of a room
// costs one look.
func TestRestartLooksOncePerRoom(t *testing.T) {
	u := newUnit(t, bridge.Config{}, nil)
	ctx := context.Background()
	c, v := u.conversation(t)
	u.withRoom(t, c.ID, "!room:x")
	var ds []bridge.Delivery
	for i := range 10 {
		d := delivery(uint64(100+i), bridge.KindMessage, c, v, "m"+uitoa(i))
		d.Entry.CreatedAt = time.Now()
		ds = append(ds, d)
	}
	// The old process: the first three were stored, their answers lost.
	u.hs.sendPlan = []sendStep{{true, 500}, {true, 500}, {true, 500}}
	for _, d := range ds[:3] {
		if _, err := u.a.Deliver(ctx, d); err == nil {
			t.Fatal("a lost answer counted as success")
		}
	}
	// The new process.
	a, err := New(u.a.cfg, u.engine, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	before := u.hs.lookups
	for _, d := range ds {
		if _, err := a.Deliver(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	if got := u.hs.lookups - before; got != 1 {
		t.Errorf("%d looks for a backlog in one room, want 1", got)
	}
	bodies := u.hs.bodies("!room:x")
	for i := range 10 {
		if n := countOf(bodies, "Vera (visitor): m"+uitoa(i)); n != 1 {
			t.Errorf("m%d is in the room %d times, want 1", i, n)
		}
	}
}

// TestCardNotPostedTwice: a context card whose answer was lost is found in
// the room by its retry.
func TestCardNotPostedTwice(t *testing.T) {
	u := newUnit(t, bridge.Config{}, nil)
	ctx := context.Background()
	c, v := u.conversation(t)
	u.hs.sendPlan = []sendStep{{true, 500}} // the card
	if _, err := u.a.Deliver(ctx, delivery(1, bridge.KindOpened, c, v, "")); err == nil {
		t.Fatal("a lost answer counted as success")
	}
	if _, err := u.a.Deliver(ctx, delivery(1, bridge.KindOpened, c, v, "")); err != nil {
		t.Fatal(err)
	}
	cards := 0
	for _, b := range u.hs.bodies("!r1:x") {
		if strings.Contains(b, "New chat with Vera") {
			cards++
		}
	}
	if cards != 1 {
		t.Errorf("%d cards in the room, want 1", cards)
	}
}

// TestCertainlyNotSent tells the failures after which nothing was stored
// from those that may come after the event was stored.
func TestCertainlyNotSent(t *testing.T) {
	u := newUnit(t, bridge.Config{}, nil)
	ctx := context.Background()
	send := func(status int) error {
		u.hs.mu.Lock()
		u.hs.sendPlan = []sendStep{{false, status}}
		u.hs.mu.Unlock()
		_, err := u.a.client.SendMessageEvent(ctx, "!room:x", event.EventMessage, map[string]any{"body": "x"})
		return err
	}
	for status, want := range map[int]bool{400: true, 403: true, 429: true, 500: false, 502: false, 504: false} {
		if got := certainlyNotSent(send(status)); got != want {
			t.Errorf("HTTP %d: certainly not sent = %v, want %v", status, got, want)
		}
	}
	// No connection at all: nothing was sent.
	closed := newFakeHS(t)
	closed.srv.Close()
	a, err := New(Config{HomeserverURL: closed.srv.URL, UserID: "@bot:x", AccessToken: "token"}, u.engine, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = a.client.SendMessageEvent(ctx, "!room:x", event.EventMessage, map[string]any{"body": "x"})
	if err == nil || !certainlyNotSent(err) {
		t.Errorf("refused connection (%v): certainly not sent = false, want true", err)
	}
}

// TestDownloadAuthenticatedWhenOffered: media is downloaded from the
// authenticated endpoint when /versions offers it (v1.11, or MSC3916's
// unstable feature), else from the older one.
func TestDownloadAuthenticatedWhenOffered(t *testing.T) {
	tests := []struct {
		name     string
		versions []string
		features map[string]bool
		want     string
	}{
		{"v1.11", []string{"v1.2", "v1.11"}, nil, "/_matrix/client/v1/media/download/x/abc"},
		{"unstable feature", []string{"v1.2"}, map[string]bool{"org.matrix.msc3916.stable": true}, "/_matrix/client/v1/media/download/x/abc"},
		{"older server", []string{"v1.2"}, nil, "/_matrix/media/v3/download/x/abc"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := newUnit(t, bridge.Config{}, nil)
			u.hs.versions, u.hs.features, u.hs.media = tt.versions, tt.features, []byte("the bytes")
			for range 2 { // /versions is asked once
				rc, err := u.a.download(context.Background(), id.ContentURI{Homeserver: "x", FileID: "abc"})
				if err != nil {
					t.Fatal(err)
				}
				b, _ := io.ReadAll(rc)
				rc.Close()
				if string(b) != "the bytes" {
					t.Errorf("downloaded %q", b)
				}
			}
			if len(u.hs.downloads) != 2 || u.hs.downloads[0] != tt.want || u.hs.downloads[1] != tt.want {
				t.Errorf("downloads = %q, want %s twice", u.hs.downloads, tt.want)
			}
		})
	}
}

// TestIngestRefusals: files that are not sent to the visitor say why, and
// a file announced as too large is not even downloaded.
func TestIngestRefusals(t *testing.T) {
	u := newUnit(t, bridge.Config{}, nil)
	u.a.cfg.Blobs = newBlobs(t)
	u.a.cfg.MaxFileBytes = 100
	u.hs.versions, u.hs.media = []string{"v1.11"}, []byte("<html><script>x</script></html>")
	tests := []struct {
		name string
		msg  event.MessageEventContent
		want string
	}{
		{"announced too large", event.MessageEventContent{MsgType: event.MsgFile, Body: "big.bin", URL: "mxc://x/big", Info: &event.FileInfo{Size: 101}}, "big.bin was not sent to the visitor: the file is too large: the limit is 100 bytes."},
		{"encrypted", event.MessageEventContent{MsgType: event.MsgFile, Body: "secret.pdf", File: &event.EncryptedFileInfo{}}, "secret.pdf was not sent to the visitor: it is end-to-end encrypted"},
		{"HTML", event.MessageEventContent{MsgType: event.MsgFile, Body: "page.html", URL: "mxc://x/page"}, "page.html was not sent to the visitor: this kind of file is not accepted"},
		{"no address", event.MessageEventContent{MsgType: event.MsgFile, Body: "nothing"}, "nothing was not sent to the visitor: the message has no valid file address."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(u.hs.downloads)
			_, refused, err := u.a.ingest(context.Background(), &tt.msg)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(refused, tt.want) {
				t.Errorf("refused = %q, want it to contain %q", refused, tt.want)
			}
			if tt.name == "announced too large" && len(u.hs.downloads) != before {
				t.Error("a file announced as too large was downloaded")
			}
		})
	}
}
