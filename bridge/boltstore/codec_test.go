package boltstore

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/chatbridge/chatbridge/bridge"
)

var codecTime = time.Date(2026, 12, 5, 10, 11, 12, 13, time.UTC)

// Every field survives the binary form, and the JSON form of older
// versions is still read.
func TestCodecRoundTrip(t *testing.T) {
	op := bridge.Operator{Adapter: "slack", ID: "U1", Name: "Al"}
	m := bridge.Message{ConversationID: "c_1", Seq: 7, PublicSeq: 5, ClientID: "k", From: bridge.FromOperator,
		Visibility: bridge.VisibilityPublic, Author: "Al", Operator: &op, Recipient: "inbox:bob", Text: "héllo\x00",
		At: codecTime, PlatformID: "C1:1.2", System: &bridge.SystemEvent{Kind: bridge.SystemClosedByOperator, Name: "Al"},
		File:  &bridge.Attachment{Key: "sha256/ab/abc", Name: "a.png", Type: "image/png", Size: 99, Width: 3, Height: 4, SHA256: "abc"},
		Emote: true, EditedAt: codecTime.Add(time.Hour), Deleted: true, Revision: 9}
	c := bridge.Conversation{ID: "c_1", VisitorID: "v_1", Status: bridge.StatusClosed, CreatedAt: codecTime, UpdatedAt: codecTime.Add(time.Second),
		ClosedAt: codecTime.Add(2 * time.Second), LastSeq: 7, LastPublicSeq: 5, LastRevision: 9, LastVisitorAt: codecTime,
		LastOperatorAt: codecTime.Add(3 * time.Second), WaitingSince: codecTime.Add(-time.Minute),
		Operators: []bridge.Operator{op, {Adapter: "inbox", ID: "bob", Name: "Bob"}}, Preview: "héllo"}
	o := bridge.OutboxEntry{ID: 3, Destination: "matrix", Kind: bridge.KindEdited, ConversationID: "c_1", Seq: 7, Number: 2,
		CreatedAt: codecTime, Attempts: 4, NextAttempt: codecTime.Add(time.Minute), LastError: "502", DeadAt: codecTime.Add(time.Hour)}
	v := bridge.Visitor{ID: "v_1", Name: "Ann", Email: "a@b", Locale: "fr", Country: "FR", UserAgent: "UA", IP: "::1",
		ExternalID: "u1", CreatedAt: codecTime, LastSeenAt: codecTime.Add(time.Hour), CurrentURL: "https://x/", Referrer: "https://y/"}
	check := func(name string, want, got any, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s:\n got %+v\nwant %+v", name, got, want)
		}
	}
	gm, err := decodeMessage(encodeMessage(m))
	check("message", m, gm, err)
	gc, err := decodeConversationBody(encodeConversationBody(c))
	check("conversation", c, gc, err)
	gcz, err := decodeConversationBody(encodeConversationBody(bridge.Conversation{ID: "c_2", VisitorID: "v", Status: bridge.StatusOpen}))
	check("empty conversation", bridge.Conversation{ID: "c_2", VisitorID: "v", Status: bridge.StatusOpen}, gcz, err)
	gof, err := decodeOutbox(encodeOutbox(o))
	check("outbox entry", o, gof, err)
	gv, err := decodeVisitor(encodeVisitor(v))
	check("visitor", v, gv, err)
	for _, rec := range []any{m, o, v} {
		js, _ := json.Marshal(rec)
		var err error
		switch r := rec.(type) {
		case bridge.Message:
			var got bridge.Message
			got, err = decodeMessage(js)
			check("message from JSON", r.Text, got.Text, err)
		case bridge.OutboxEntry:
			var got bridge.OutboxEntry
			got, err = decodeOutbox(js)
			check("outbox from JSON", r.LastError, got.LastError, err)
		case bridge.Visitor:
			var got bridge.Visitor
			got, err = decodeVisitor(js)
			check("visitor from JSON", r.Email, got.Email, err)
		}
	}
}

// A damaged record is an error, never a panic.
func FuzzDecode(f *testing.F) {
	f.Add(encodeMessage(bridge.Message{ConversationID: "c", Seq: 1, Text: "x", At: codecTime}))
	f.Add(encodeConversationBody(bridge.Conversation{ID: "c", Operators: []bridge.Operator{{ID: "x"}}}))
	f.Add(encodeOutbox(bridge.OutboxEntry{ID: 1, CreatedAt: codecTime}))
	f.Add([]byte{magic, 0x5a, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = decodeMessage(b)
		_, _ = decodeConversationBody(b)
		_, _ = decodeOutbox(b)
		_, _ = decodeVisitor(b)
	})
}
