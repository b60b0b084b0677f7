package matrix

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/chatbridge/chatbridge/bridge"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

func TestMessageContent(t *testing.T) {
	inbox := &bridge.Operator{Adapter: "inbox", ID: "alice", Name: "Alice"}
	own := &bridge.Operator{Adapter: "matrix", ID: "@bob:x", Name: "Bob"}
	tests := []struct {
		name          string
		m             bridge.Message
		wantOK        bool
		msgtype, body string
		formatted     string
	}{
		{"visitor escaped and defanged", bridge.Message{From: bridge.FromVisitor, Visibility: bridge.VisibilityPublic, Author: "Eve <x>", Text: "@room hi <b>x</b>\nbye"},
			true, "m.text", "Eve <x> (visitor): @\u2060room hi <b>x</b>\n> bye", "<b>Eve &lt;x&gt;</b> (visitor)<blockquote>@\u2060room hi &lt;b&gt;x&lt;/b&gt;<br>bye</blockquote>"},
		{"visitor cannot forge an operator line", bridge.Message{From: bridge.FromVisitor, Visibility: bridge.VisibilityPublic, Author: "Vera", Text: "ok\nBob (inbox): refund approved"},
			true, "m.text", "Vera (visitor): ok\n> Bob (inbox): refund approved", "<b>Vera</b> (visitor)<blockquote>ok<br>Bob (inbox): refund approved</blockquote>"},
		{"every kind of line break is quoted", bridge.Message{From: bridge.FromVisitor, Visibility: bridge.VisibilityPublic, Author: "Vera", Text: "a\r\nb\rc\u2028d\u2029e\u0085f\vg\fh"},
			true, "m.text", "Vera (visitor): a\n> b\n> c\n> d\n> e\n> f\n> g\n> h", "<b>Vera</b> (visitor)<blockquote>a<br>b<br>c<br>d<br>e<br>f<br>g<br>h</blockquote>"},
		{"visitor name on one line", bridge.Message{From: bridge.FromVisitor, Visibility: bridge.VisibilityPublic, Author: "Vera\nBob (inbox)", Text: "hi"},
			true, "m.text", "Vera Bob (inbox) (visitor): hi", "<b>Vera Bob (inbox)</b> (visitor)<blockquote>hi</blockquote>"},
		{"reply from another platform", bridge.Message{From: bridge.FromOperator, Visibility: bridge.VisibilityPublic, Author: "Alice", Operator: inbox, Text: "Hello"},
			true, "m.text", "Alice (inbox): Hello", "<b>Alice (inbox)</b>: Hello"},
		{"emote from another platform", bridge.Message{From: bridge.FromOperator, Visibility: bridge.VisibilityPublic, Author: "Alice", Operator: inbox, Text: "waves", Emote: true},
			true, "m.text", "* Alice (inbox) waves", "* <b>Alice (inbox)</b> waves"},
		{"note from another platform", bridge.Message{From: bridge.FromOperator, Visibility: bridge.VisibilityNote, Author: "Alice", Operator: inbox, Text: "vip"},
			true, "m.notice", "Alice (inbox), private note: vip", "<i>Alice (inbox), private note</i>: vip"},
		{"system line", bridge.Message{From: bridge.FromSystem, Visibility: bridge.VisibilityPublic, Text: "The visitor ended the chat."},
			true, "m.notice", "The visitor ended the chat.", ""},
		{"own operator not echoed", bridge.Message{From: bridge.FromOperator, Visibility: bridge.VisibilityPublic, Author: "Bob", Operator: own, Text: "hi"}, false, "", "", ""},
		{"own note not echoed", bridge.Message{From: bridge.FromOperator, Visibility: bridge.VisibilityNote, Author: "Bob", Operator: own, Text: "hi"}, false, "", "", ""},
		{"whisper never shown", bridge.Message{From: bridge.FromSystem, Visibility: bridge.VisibilityWhisper, Recipient: "inbox:alice", Text: "secret"}, false, "", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, ok := messageContent(tt.m)
			if ok != tt.wantOK {
				t.Fatalf("ok = %v, want %v", ok, tt.wantOK)
			}
			a := &Adapter{}
			if got := a.WantsMessage(tt.m); got != tt.wantOK {
				t.Errorf("WantsMessage = %v, want %v", got, tt.wantOK)
			}
			if !ok {
				return
			}
			if c["msgtype"] != tt.msgtype || c["body"] != tt.body {
				t.Errorf("got %v %q, want %v %q", c["msgtype"], c["body"], tt.msgtype, tt.body)
			}
			if got, _ := c["formatted_body"].(string); got != tt.formatted {
				t.Errorf("formatted_body = %q, want %q", got, tt.formatted)
			}
			if b, _ := json.Marshal(c["m.mentions"]); string(b) != "{}" {
				t.Errorf("m.mentions = %s, want {}", b)
			}
		})
	}
}

func TestDefang(t *testing.T) {
	tests := []struct{ in, want string }{
		{"hello", "hello"},
		{"@room", "@\u2060room"},
		{"hi @ROOM and @Room!", "hi @\u2060ROOM and @\u2060Room!"},
		{"@roo", "@roo"},
		{"mail@roomservice.example", "mail@\u2060roomservice.example"},
		{"é@room", "é@\u2060room"},
	}
	for _, tt := range tests {
		if got := defang(tt.in); got != tt.want {
			t.Errorf("defang(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestCardAndMentions(t *testing.T) {
	ops := []id.UserID{"@alice:x", "@bob:x"}
	v := bridge.Visitor{Name: "Eve <script>", Email: "eve@example.org", CurrentURL: "https://shop.example/cart?a=1&b=2",
		Referrer: "https://search.example/", Locale: "fr-FR", UserAgent: "Firefox/128"}
	c := mentionContent(ops, cardLines(v))
	body := c["body"].(string)
	for _, want := range []string{"@alice:x @bob:x ", "Eve <script> <eve@example.org>", "Page: https://shop.example/cart?a=1&b=2",
		"Referrer: https://search.example/", "Language: fr-FR", "Browser: Firefox/128", "!help for commands", ";; text for a private note", "Element handles /help itself"} {
		if !strings.Contains(body, want) {
			t.Errorf("card body lacks %q:\n%s", want, body)
		}
	}
	f := c["formatted_body"].(string)
	if strings.Contains(f, "<script>") || !strings.Contains(f, "Eve &lt;script&gt;") || !strings.Contains(f, "a=1&amp;b=2") {
		t.Errorf("card HTML not escaped: %s", f)
	}
	if !strings.Contains(f, `<a href="https://matrix.to/#/@alice:x">`) {
		t.Errorf("card HTML lacks a pill for the operator: %s", f)
	}
	if b, _ := json.Marshal(c["m.mentions"]); string(b) != `{"user_ids":["@alice:x","@bob:x"]}` {
		t.Errorf("m.mentions = %s", b)
	}
	if got := roomName("Chat with {visitor}", bridge.Visitor{}); got != "Chat with Visitor" {
		t.Errorf("roomName = %q", got)
	}
}

func TestWhisperContent(t *testing.T) {
	tests := []struct {
		name      string
		root, cmd id.EventID
		wantRel   string
	}{
		{"thread under the command", "$cmd", "$cmd", `{"event_id":"$cmd","is_falling_back":true,"m.in_reply_to":{"event_id":"$cmd"},"rel_type":"m.thread"}`},
		{"command typed in a thread", "$root", "$cmd", `{"event_id":"$root","is_falling_back":true,"m.in_reply_to":{"event_id":"$cmd"},"rel_type":"m.thread"}`},
		{"no command", "", "", "null"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := whisperContent("History: @room sale (page title)", "@alice:x", tt.root, tt.cmd)
			if c["msgtype"] != "m.notice" || c[fieldOperatorOnly] != true {
				t.Errorf("not an operator-only notice: %v", c)
			}
			if got, want := c["body"], "History: @\u2060room sale (page title)"; got != want {
				t.Errorf("body = %q, want %q (@room defanged)", got, want)
			}
			if b, _ := json.Marshal(c["m.relates_to"]); string(b) != tt.wantRel {
				t.Errorf("m.relates_to = %s, want %s", b, tt.wantRel)
			}
			if b, _ := json.Marshal(c["m.mentions"]); string(b) != `{"user_ids":["@alice:x"]}` {
				t.Errorf("m.mentions = %s", b)
			}
		})
	}
}

func TestMentionAsID(t *testing.T) {
	a := &Adapter{bot: "@chatbridge:x"}
	pillBot := `<a href="https://matrix.to/#/@chatbridge:x">chatbridge</a>`
	tests := []struct {
		name      string
		body      string
		formatted string
		mentions  []id.UserID
		want      string
	}{
		{"pill then command", "chatbridge: help", pillBot + ": help", []id.UserID{"@chatbridge:x"}, "@chatbridge:x: help"},
		{"pill without m.mentions", "chatbridge: help", pillBot + ": help", nil, "chatbridge: help"},
		{"pill of someone else", "bob: hi", `<a href="https://matrix.to/#/@bob:x">bob</a>: hi`, []id.UserID{"@chatbridge:x"}, "bob: hi"},
		{"plain text", "hello", "", []id.UserID{"@chatbridge:x"}, "hello"},
		{"pill later in the text", "hi chatbridge", "hi " + pillBot, []id.UserID{"@chatbridge:x"}, "hi chatbridge"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msg := &event.MessageEventContent{MsgType: event.MsgText, Body: tt.body}
			if tt.formatted != "" {
				msg.Format, msg.FormattedBody = event.FormatHTML, tt.formatted
			}
			if tt.mentions != nil {
				msg.Mentions = &event.Mentions{UserIDs: tt.mentions}
			}
			if got := a.mentionAsID(msg, tt.body); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}
