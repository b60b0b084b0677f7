package matrix

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"image"
	"image/color"
	"image/png"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/chatbridge/chatbridge/bridge"
	"github.com/chatbridge/chatbridge/files"
	"github.com/chatbridge/chatbridge/internal/testpeer"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

// testPNG is a small PNG of w×h pixels in colour c.
func testPNG(t *testing.T, w, h int, c color.Color) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for x := range w {
		for y := range h {
			img.Set(x, y, c)
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// visitorView returns what the visitor sees of their conversation.
func visitorView(t *testing.T, e *bridge.Engine, visitorID string) []bridge.Message {
	t.Helper()
	view, err := e.VisitorMessages(context.Background(), visitorID, "", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	return view.Messages
}

// waitVisitor waits for a message the visitor sees that matches match.
func waitVisitor(t *testing.T, e *bridge.Engine, visitorID, what string, match func(bridge.Message) bool) bridge.Message {
	t.Helper()
	var found bridge.Message
	testpeer.WaitFor(t, wait, func() bool {
		for _, m := range visitorView(t, e, visitorID) {
			if match(m) {
				found = m
				return true
			}
		}
		return false
	}, what)
	return found
}

// TestFilesEditsDeletionsEmotes runs in both modes, on a real Dendrite:
// a visitor's file arrives as a media event the operator can download; an
// operator's image, emote, edit and redaction reach the visitor; events
// that are not relayed and refused files get a notice; edits and deletions
// made on another platform change the room's event.
func TestFilesEditsDeletionsEmotes(t *testing.T) {
	for _, mode := range []string{ModeBot, ModeAppservice} {
		t.Run(mode, func(t *testing.T) { filesEditsEmotes(t, worldIn(t, mode)) })
	}
}

func filesEditsEmotes(t *testing.T, w *world) {
	ctx := context.Background()
	b := w.start(t)
	v, conv, room := w.openConversation(t, b, "Eve")

	// A visitor's file: an m.image with its info, downloadable by the
	// operator, byte for byte.
	shot := testPNG(t, 3, 2, color.RGBA{R: 200, A: 255})
	att, err := files.Ingest(ctx, w.blobs, bytes.NewReader(shot), "shot.png", files.Options{MaxBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.engine.VisitorSend(ctx, v.ID, bridge.VisitorInput{ClientID: "f1", Text: "my screen", File: &att}); err != nil {
		t.Fatal(err)
	}
	media := w.waitEvent(t, room, "the visitor's image", func(e *event.Event) bool { return e.Content.Raw["msgtype"] == "m.image" })
	info, _ := media.Content.Raw["info"].(map[string]any)
	if info["mimetype"] != "image/png" || info["size"] != float64(len(shot)) || info["w"] != float64(3) || info["h"] != float64(2) {
		t.Errorf("image info = %v, want image/png, %d bytes, 3×2", info, len(shot))
	}
	if media.Content.Raw["filename"] != "shot.png" || !strings.Contains(bodyOf(media), "my screen") {
		t.Errorf("image filename %v, body %q; want shot.png and the caption", media.Content.Raw["filename"], bodyOf(media))
	}
	if w.cfg.appservice() != (media.Sender != w.cfg.botID()) {
		t.Errorf("image sent by %s (appservice mode %v)", media.Sender, w.cfg.appservice())
	}
	url, _ := media.Content.Raw["url"].(string)
	mxc, err := id.ContentURIString(url).Parse()
	if err != nil {
		t.Fatalf("image url %q: %v", url, err)
	}
	got, err := w.op.DownloadBytes(ctx, mxc)
	if err != nil {
		t.Fatalf("operator downloads the image: %v", err)
	}
	if !bytes.Equal(got, shot) {
		t.Errorf("the operator downloaded %d bytes that differ from the visitor's %d", len(got), len(shot))
	}

	// An operator's image: the visitor's message has the file, and the
	// blob store has its bytes.
	pic := testPNG(t, 4, 4, color.RGBA{B: 200, A: 255})
	up, err := w.op.UploadBytesWithName(ctx, pic, "image/png", "answer.png")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.op.SendMessageEvent(ctx, room, event.EventMessage, map[string]any{
		"msgtype": "m.image", "body": "here is the answer", "filename": "answer.png", "url": up.ContentURI.CUString(),
		"info": map[string]any{"mimetype": "image/png", "size": len(pic), "w": 4, "h": 4},
	}); err != nil {
		t.Fatal(err)
	}
	fromOp := waitVisitor(t, b.engine, v.ID, "the operator's image", func(m bridge.Message) bool { return m.From == bridge.FromOperator && m.File != nil })
	sum := sha256.Sum256(pic)
	if fromOp.Text != "here is the answer" || fromOp.File.Name != "answer.png" || fromOp.File.Type != "image/png" || fromOp.File.SHA256 != hex.EncodeToString(sum[:]) || fromOp.File.Width != 4 {
		t.Errorf("the visitor's copy of the operator's image = %q %+v", fromOp.Text, *fromOp.File)
	}
	r, _, err := w.blobs.Get(ctx, fromOp.File.Key)
	if err != nil {
		t.Fatalf("the image is not in the blob store: %v", err)
	}
	stored, _ := io.ReadAll(r)
	r.Close()
	if !bytes.Equal(stored, pic) {
		t.Error("the blob store holds other bytes than the operator sent")
	}

	// A refused file (SVG can carry script) gets a notice, and reaches
	// nobody.
	svg := []byte(`<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>`)
	up, err = w.op.UploadBytesWithName(ctx, svg, "image/svg+xml", "evil.svg")
	if err != nil {
		t.Fatal(err)
	}
	svgEvt, err := w.op.SendMessageEvent(ctx, room, event.EventMessage, map[string]any{
		"msgtype": "m.file", "body": "evil.svg", "url": up.ContentURI.CUString(), "info": map[string]any{"mimetype": "image/svg+xml", "size": len(svg)},
	})
	if err != nil {
		t.Fatal(err)
	}
	refused := w.waitEvent(t, room, "the notice about the refused file", func(e *event.Event) bool { return threadRootOf(e) == string(svgEvt.EventID) })
	if !strings.Contains(bodyOf(refused), "evil.svg was not sent to the visitor") || refused.Content.Raw[fieldOperatorOnly] != true {
		t.Errorf("notice about the refused file = %q", bodyOf(refused))
	}

	// An emote.
	if _, err := w.op.SendMessageEvent(ctx, room, event.EventMessage, map[string]any{"msgtype": "m.emote", "body": "waves"}); err != nil {
		t.Fatal(err)
	}
	emote := waitVisitor(t, b.engine, v.ID, "the emote", func(m bridge.Message) bool { return m.Text == "waves" })
	if !emote.Emote || emote.Author != "Alice Operator" {
		t.Errorf("emote = %+v, want Emote from Alice Operator", emote)
	}

	// An edit (m.new_content, not the "* " fallback), then a redaction.
	orig := w.say(t, room, "Helo, how can I help?")
	first := waitVisitor(t, b.engine, v.ID, "the reply", func(m bridge.Message) bool { return m.Text == "Helo, how can I help?" })
	if _, err := w.op.SendMessageEvent(ctx, room, event.EventMessage, map[string]any{
		"msgtype": "m.text", "body": "* Hello, how can I help?",
		"m.new_content": map[string]any{"msgtype": "m.text", "body": "Hello, how can I help?"},
		"m.relates_to":  map[string]any{"rel_type": "m.replace", "event_id": string(orig)},
	}); err != nil {
		t.Fatal(err)
	}
	edited := waitVisitor(t, b.engine, v.ID, "the edit", func(m bridge.Message) bool { return m.Seq == first.Seq && m.Text == "Hello, how can I help?" })
	if edited.EditedAt.IsZero() {
		t.Error("the edited reply has no EditedAt")
	}
	for _, m := range visitorView(t, b.engine, v.ID) {
		if strings.HasPrefix(m.Text, "* ") {
			t.Errorf("the edit's fallback reached the visitor: %q", m.Text)
		}
	}
	// An edit that would turn the reply into a note is refused: the
	// visitor keeps the reply, the operator is told.
	if _, err := w.op.SendMessageEvent(ctx, room, event.EventMessage, map[string]any{
		"msgtype": "m.text", "body": "* ;; refund denied",
		"m.new_content": map[string]any{"msgtype": "m.text", "body": ";; refund denied"},
		"m.relates_to":  map[string]any{"rel_type": "m.replace", "event_id": string(orig)},
	}); err != nil {
		t.Fatal(err)
	}
	w.waitEvent(t, room, "the notice about the refused edit", func(e *event.Event) bool {
		return strings.Contains(bodyOf(e), "Not edited for the visitor") && e.Content.Raw[fieldOperatorOnly] == true
	})
	for _, m := range visitorView(t, b.engine, v.ID) {
		if strings.Contains(m.Text, "refund denied") || m.Seq == first.Seq && m.Text != "Hello, how can I help?" {
			t.Errorf("a refused edit changed what the visitor sees: %q", m.Text)
		}
	}
	redaction, err := w.op.RedactEvent(ctx, room, orig)
	if err != nil {
		t.Fatal(err)
	}
	if w.cfg.appservice() {
		// Dendrite 0.13.8 never pushes m.room.redaction events to
		// appservices (the events after one arrive, it does not);
		// Synapse does. Hand the redaction, as Dendrite stored it, to the
		// appservice the way Synapse would.
		pushEvent(t, w, b, room, redaction.EventID)
	}
	waitVisitor(t, b.engine, v.ID, "the deletion", func(m bridge.Message) bool { return m.Seq == first.Seq && m.Deleted })

	// A reaction and a sticker are not relayed: a notice says so.
	react, err := w.op.SendReaction(ctx, room, svgEvt.EventID, "👍")
	if err != nil {
		t.Fatal(err)
	}
	w.waitEvent(t, room, "the notice about the reaction", func(e *event.Event) bool {
		return strings.Contains(bodyOf(e), "Not sent to the visitor: a reaction") && e.Content.Raw[fieldOperatorOnly] == true
	})
	if _, err := w.op.SendMessageEvent(ctx, room, event.EventSticker, map[string]any{
		"body": "cat", "url": up.ContentURI.CUString(), "info": map[string]any{"mimetype": "image/png"},
	}); err != nil {
		t.Fatal(err)
	}
	w.waitEvent(t, room, "the notice about the sticker", func(e *event.Event) bool { return strings.Contains(bodyOf(e), "Not sent to the visitor: a sticker") })
	_ = react

	// An edit and a deletion made in the inbox change the room's event.
	ina := bridge.Operator{Adapter: "inbox", ID: "ina", Name: "Ina"}
	if err := b.engine.HandleOperator(ctx, bridge.OperatorInput{EventID: "inbox-1", ConversationID: conv, Operator: ina, Text: "From the inbox"}); err != nil {
		t.Fatal(err)
	}
	shown := w.waitEvent(t, room, "the inbox reply", func(e *event.Event) bool { return bodyOf(e) == "Ina (inbox): From the inbox" })
	if err := b.engine.HandleOperator(ctx, bridge.OperatorInput{EventID: "inbox-2", ConversationID: conv, Operator: ina, Edits: "inbox-1", Text: "Edited in the inbox"}); err != nil {
		t.Fatal(err)
	}
	edit := w.waitEvent(t, room, "the inbox edit", func(e *event.Event) bool {
		rel, _ := e.Content.Raw["m.relates_to"].(map[string]any)
		nc, _ := e.Content.Raw["m.new_content"].(map[string]any)
		return rel["rel_type"] == "m.replace" && rel["event_id"] == string(shown.ID) && nc["body"] == "Ina (inbox): Edited in the inbox"
	})
	if edit.Sender != w.cfg.botID() {
		t.Errorf("the edit was sent by %s, want the bot (who sent the original)", edit.Sender)
	}
	if err := b.engine.HandleOperator(ctx, bridge.OperatorInput{EventID: "inbox-3", ConversationID: conv, Operator: ina, Deletes: "inbox-1"}); err != nil {
		t.Fatal(err)
	}
	testpeer.WaitFor(t, wait, func() bool {
		e, err := w.op.GetEvent(ctx, room, shown.ID)
		return err == nil && e.Unsigned.RedactedBecause != nil
	}, "the inbox reply redacted in the room")
}

// pushEvent hands the event evID of room, as the homeserver stored it, to
// the running appservice in a transaction of its own.
func pushEvent(t *testing.T, w *world, b *running, room id.RoomID, evID id.EventID) {
	t.Helper()
	var raw json.RawMessage
	testpeer.WaitFor(t, wait, func() bool {
		_, err := w.op.MakeRequest(context.Background(), http.MethodGet, w.op.BuildClientURL("v3", "rooms", room, "event", evID), nil, &raw)
		return err == nil
	}, "the event "+string(evID))
	body, err := json.Marshal(map[string]any{"events": []json.RawMessage{raw}})
	if err != nil {
		t.Fatal(err)
	}
	if code := put(b.a.Handler(), "push-"+string(evID), w.cfg.HSToken, body); code != http.StatusOK {
		t.Fatalf("transaction with %s: status %d", evID, code)
	}
}
