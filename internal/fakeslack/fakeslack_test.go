package fakeslack

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/slack-go/slack"
	"github.com/slack-go/slack/slackevents"

	fx "github.com/chatbridge/chatbridge/internal/fixture"
)

func client(s *Server) *slack.Client {
	return slack.New(BotToken, slack.OptionAPIURL(s.APIURL))
}

// errCode is the ok:false code of err, or "".
func errCode(err error) string {
	var se slack.SlackErrorResponse
	if errors.As(err, &se) {
		return se.Err
	}
	return ""
}

func TestTokens(t *testing.T) {
	s := New(t)
	for _, tc := range []struct {
		name, token string
		wantErr     string
	}{
		{"bot token", BotToken, ""},
		{"app token is not a bot token", AppToken, "invalid_auth"},
		{"wrong token", "xoxb-wrong", "invalid_auth"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := slack.New(tc.token, slack.OptionAPIURL(s.APIURL)).AuthTest()
			if tc.wantErr != "" {
				if errCode(err) != tc.wantErr {
					t.Fatalf("auth.test with %q: err %v, want %s", tc.token, err, tc.wantErr)
				}
				return
			}
			if err != nil || resp.UserID != BotUserID {
				t.Fatalf("auth.test: %+v, %v", resp, err)
			}
			if got := resp.Header.Get("X-OAuth-Scopes"); got != DefaultScopes {
				t.Errorf("X-OAuth-Scopes = %q", got)
			}
		})
	}
}

// Posts records stored and ephemeral posts in order; threads list the root
// and its replies, never ephemeral messages.
func TestPosts(t *testing.T) {
	s := New(t)
	api := client(s)
	_, root, err := api.PostMessage(s.Channel, slack.MsgOptionText("card", false),
		slack.MsgOptionMetadata(slack.SlackMetadata{EventType: "cb_conv", EventPayload: map[string]any{"id": "c1"}}))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := api.PostMessage(s.Channel, slack.MsgOptionText("reply", false), slack.MsgOptionTS(root)); err != nil {
		t.Fatal(err)
	}
	if _, err := api.PostEphemeral(s.Channel, "UALICE", slack.MsgOptionText("just you", false), slack.MsgOptionTS(root)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := api.PostMessage("COTHER", slack.MsgOptionText("x", false)); errCode(err) != "channel_not_found" {
		t.Errorf("post to an unknown channel: %v", err)
	}
	if _, _, err := api.PostMessage(s.Channel, slack.MsgOptionText("x", false), slack.MsgOptionUsername("Vera")); errCode(err) != "missing_scope" {
		t.Errorf("username without chat:write.customize: %v", err)
	}
	s.SetNotInChannel("UCAROL")
	if _, err := api.PostEphemeral(s.Channel, "UCAROL", slack.MsgOptionText("x", false)); errCode(err) != "user_not_in_channel" {
		t.Errorf("ephemeral to a user outside the channel: %v", err)
	}
	got := s.Posts()
	if len(got) != 3 {
		t.Fatalf("posts = %+v", got)
	}
	if got[0].Text != "card" || got[0].ThreadTS != "" || got[0].MetaType != "cb_conv" || got[0].MetaID != "c1" || got[0].User != BotUserID {
		t.Errorf("root = %+v", got[0])
	}
	if got[1].Text != "reply" || got[1].ThreadTS != root || got[1].Ephemeral {
		t.Errorf("reply = %+v", got[1])
	}
	if got[2].Text != "just you" || got[2].ThreadTS != root || !got[2].Ephemeral || got[2].User != "UALICE" {
		t.Errorf("ephemeral = %+v", got[2])
	}
	msgs, _, _, err := api.GetConversationReplies(&slack.GetConversationRepliesParameters{ChannelID: s.Channel, Timestamp: root, IncludeAllMetadata: true})
	if err != nil || len(msgs) != 2 {
		t.Fatalf("replies = %d messages, %v; want root and reply", len(msgs), err)
	}
	if msgs[0].Metadata.EventType != "cb_conv" || msgs[0].BotID != BotID {
		t.Errorf("root as listed: %+v", msgs[0].Msg)
	}
}

// Cursors page through a thread.
func TestRepliesPages(t *testing.T) {
	s := New(t)
	s.SetRateLimit(0, 0)
	api := client(s)
	_, root, err := api.PostMessage(s.Channel, slack.MsgOptionText("root", false))
	if err != nil {
		t.Fatal(err)
	}
	for _, text := range []string{"a", "b", "c", "d"} {
		if _, _, err := api.PostMessage(s.Channel, slack.MsgOptionText(text, false), slack.MsgOptionTS(root)); err != nil {
			t.Fatal(err)
		}
	}
	var texts []string
	cursor := ""
	for pages := 0; ; pages++ {
		msgs, more, next, err := api.GetConversationReplies(&slack.GetConversationRepliesParameters{ChannelID: s.Channel, Timestamp: root, Limit: 2, Cursor: cursor})
		if err != nil || pages > 5 {
			t.Fatalf("page %d: %v", pages, err)
		}
		for _, m := range msgs {
			texts = append(texts, m.Text)
		}
		if !more {
			break
		}
		cursor = next
	}
	if got := strings.Join(texts, ","); got != "root,a,b,c,d" {
		t.Errorf("pages gave %s", got)
	}
}

// Slack's limits: 40,000 characters of text, 50 blocks, 3,000 characters
// of section text.
func TestContentLimits(t *testing.T) {
	s := New(t)
	s.SetRateLimit(0, 0)
	api := client(s)
	section := func(n int) slack.Block {
		return slack.NewSectionBlock(slack.NewTextBlockObject(slack.MarkdownType, strings.Repeat("é", n), false, false), nil, nil)
	}
	many := make([]slack.Block, MaxBlocks+1)
	for i := range many {
		many[i] = section(1)
	}
	tests := []struct {
		name string
		opts []slack.MsgOption
		want string
	}{
		{"40,000 characters", []slack.MsgOption{slack.MsgOptionText(strings.Repeat("é", MaxTextChars), false)}, ""},
		{"40,001 characters", []slack.MsgOption{slack.MsgOptionText(strings.Repeat("a", MaxTextChars+1), false)}, "msg_too_long"},
		{"no text", []slack.MsgOption{slack.MsgOptionText(" ", false)}, "no_text"},
		{"3,000 in a section", []slack.MsgOption{slack.MsgOptionBlocks(section(MaxSectionTextChars))}, ""},
		{"3,001 in a section", []slack.MsgOption{slack.MsgOptionBlocks(section(MaxSectionTextChars + 1))}, "invalid_blocks"},
		{"51 blocks", []slack.MsgOption{slack.MsgOptionBlocks(many...)}, "invalid_blocks"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := api.PostMessage(s.Channel, tc.opts...)
			if got := errCode(err); got != tc.want || (tc.want == "" && err != nil) {
				t.Errorf("error %v, want %q", err, tc.want)
			}
		})
	}
	_, ts, err := api.PostMessage(s.Channel, slack.MsgOptionText("short", false))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := api.UpdateMessage(s.Channel, ts, slack.MsgOptionText(strings.Repeat("a", MaxTextChars+1), false)); errCode(err) != "msg_too_long" {
		t.Errorf("update too long: %v", err)
	}
}

// One post per second per channel with bursts: over it, HTTP 429 with
// Retry-After; other channels have their own limit.
func TestRateLimit(t *testing.T) {
	s := New(t)
	api := client(s)
	for i := range DefaultPostBurst {
		if _, _, err := api.PostMessage(s.Channel, slack.MsgOptionText("burst", false)); err != nil {
			t.Fatalf("post %d of the burst: %v", i+1, err)
		}
	}
	_, _, err := api.PostMessage(s.Channel, slack.MsgOptionText("one too many", false))
	var rl *slack.RateLimitedError
	if !errors.As(err, &rl) || rl.RetryAfter < time.Second {
		t.Fatalf("post over the limit: %v, want a 429 with Retry-After >= 1s", err)
	}
	if _, _, err := api.PostMessage("DUALICE", slack.MsgOptionText("other channel", false)); err != nil {
		t.Errorf("another channel is limited too: %v", err)
	}
	for _, p := range s.Posts() {
		if p.Text == "one too many" {
			t.Error("a rate-limited post was stored")
		}
	}
}

// Injected failures: an error code, a status, and answers lost after the
// work was done (a status, or a dropped connection).
func TestFailures(t *testing.T) {
	s := New(t)
	s.SetRateLimit(0, 0)
	api := client(s)
	s.FailNext(Failure{Error: "not_in_channel"}, Failure{Status: 500}, Failure{Status: 503, Lost: true}, Failure{Lost: true},
		Failure{Method: "chat.update", Error: "edit_window_closed"})
	stored := func(text string) bool {
		for _, p := range s.Posts() {
			if p.Text == text {
				return true
			}
		}
		return false
	}
	_, _, err := api.PostMessage(s.Channel, slack.MsgOptionText("refused", false))
	if errCode(err) != "not_in_channel" || stored("refused") {
		t.Errorf("error answer: %v", err)
	}
	_, _, err = api.PostMessage(s.Channel, slack.MsgOptionText("failed", false))
	var sc slack.StatusCodeError
	if !errors.As(err, &sc) || sc.Code != 500 || stored("failed") {
		t.Errorf("500: %v", err)
	}
	_, _, err = api.PostMessage(s.Channel, slack.MsgOptionText("lost 503", false))
	if !errors.As(err, &sc) || sc.Code != 503 || !stored("lost 503") {
		t.Errorf("answer lost with 503: %v, stored %v", err, stored("lost 503"))
	}
	_, ts, err := api.PostMessage(s.Channel, slack.MsgOptionText("lost connection", false))
	if err == nil || !stored("lost connection") {
		t.Errorf("answer lost with the connection: ts %q, %v, stored %v", ts, err, stored("lost connection"))
	}
	_, ts, err = api.PostMessage(s.Channel, slack.MsgOptionText("fine", false))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := api.UpdateMessage(s.Channel, ts, slack.MsgOptionText("x", false)); errCode(err) != "edit_window_closed" {
		t.Errorf("failure of another method: %v", err)
	}
}

// A method whose scope the token lacks answers missing_scope with needed.
func TestScopes(t *testing.T) {
	s := New(t)
	s.SetScopes("chat:write")
	_, err := client(s).GetUserInfo("UALICE")
	var se slack.SlackErrorResponse
	if !errors.As(err, &se) || se.Err != "missing_scope" || se.Needed != "users:read" || se.Provided != "chat:write" {
		t.Errorf("users.info without users:read: %#v", err)
	}
	for method := range MethodScopes {
		if neededScope(method, nil) == "" {
			t.Errorf("%s needs no scope", method)
		}
	}
}

// chat.update and chat.delete change the bot's own messages only.
func TestUpdateAndDelete(t *testing.T) {
	s := New(t)
	api := client(s)
	_, ts, err := api.PostMessage(s.Channel, slack.MsgOptionText("first", false))
	if err != nil {
		t.Fatal(err)
	}
	user := s.Say(s.Channel, "", "UALICE", "mine")
	if _, _, text, err := api.UpdateMessage(s.Channel, ts, slack.MsgOptionText("second", false)); err != nil || text != "second" {
		t.Fatalf("update: %q, %v", text, err)
	}
	if _, _, _, err := api.UpdateMessage(s.Channel, user, slack.MsgOptionText("x", false)); errCode(err) != "cant_update_message" {
		t.Errorf("update of a user's message: %v", err)
	}
	if _, _, err := api.DeleteMessage(s.Channel, user); errCode(err) != "cant_delete_message" {
		t.Errorf("delete of a user's message: %v", err)
	}
	if p := s.Posts()[0]; p.Text != "second" || !p.Edited {
		t.Errorf("after update: %+v", p)
	}
	if _, _, err := api.DeleteMessage(s.Channel, ts); err != nil {
		t.Fatal(err)
	}
	if _, _, err := api.DeleteMessage(s.Channel, ts); errCode(err) != "message_not_found" {
		t.Errorf("second delete: %v", err)
	}
	if p := s.Posts()[0]; !p.Deleted {
		t.Errorf("after delete: %+v", p)
	}
}

// The two-step upload shares a file in a thread; its bytes download with
// the bot token only; files.info lists the share.
func TestUploadAndDownload(t *testing.T) {
	s := New(t)
	api := client(s)
	ctx := context.Background()
	_, root, err := api.PostMessage(s.Channel, slack.MsgOptionText("root", false))
	if err != nil {
		t.Fatal(err)
	}
	_, reply, err := api.PostMessage(s.Channel, slack.MsgOptionText("reply", false), slack.MsgOptionTS(root))
	if err != nil {
		t.Fatal(err)
	}
	data := []byte("%PDF-1.4 invoice")
	sum, err := api.UploadFileContext(ctx, slack.UploadFileParameters{Reader: bytes.NewReader(data), FileSize: len(data),
		Filename: "invoice.pdf", Title: "Invoice", Channel: s.Channel, ThreadTimestamp: root, InitialComment: "here"})
	if err != nil {
		t.Fatal(err)
	}
	files := s.Files()
	if len(files) != 1 || !bytes.Equal(files[0].Data, data) || files[0].Title != "Invoice" || len(files[0].Shares) != 1 || files[0].Shares[0].ThreadTS != root {
		t.Fatalf("files = %+v", files)
	}
	var share Post
	for _, p := range s.Posts() {
		if len(p.Files) == 1 && p.Files[0] == sum.ID {
			share = p
		}
	}
	if share.ThreadTS != root || share.Text != "here" || share.Subtype != "file_share" {
		t.Errorf("share message = %+v", share)
	}
	info, _, _, err := api.GetFileInfoContext(ctx, sum.ID, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if sh := info.Shares.Public[s.Channel]; len(sh) != 1 || sh[0].ThreadTs != root || sh[0].Ts != share.TS {
		t.Errorf("shares = %+v", info.Shares)
	}
	var got bytes.Buffer
	if err := api.GetFileContext(ctx, info.URLPrivate, &got); err != nil || !bytes.Equal(got.Bytes(), data) {
		t.Errorf("download: %q, %v", got.Bytes(), err)
	}
	// Without the token: Slack's sign-in page.
	resp, err := http.Get(info.URLPrivate)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Request.URL.Path != "/signin" || resp.Request.URL.Query().Get("redir") == "" {
		t.Errorf("download without a token ended at %s", resp.Request.URL)
	}
	// A reply's ts is refused as thread_ts.
	if _, err := api.UploadFileContext(ctx, slack.UploadFileParameters{Reader: bytes.NewReader(data), FileSize: len(data),
		Filename: "x.pdf", Channel: s.Channel, ThreadTimestamp: reply}); errCode(err) != "invalid_thread_ts" {
		t.Errorf("upload into a reply: %v", err)
	}
	if err := api.DeleteFileContext(ctx, sum.ID); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := api.GetFileInfoContext(ctx, sum.ID, 0, 0); errCode(err) != "file_deleted" {
		t.Errorf("info after delete: %v", err)
	}
}

// socketClient reads Socket Mode frames and acknowledges envelopes.
type socketClient struct {
	t   *testing.T
	ctx context.Context
	c   *websocket.Conn
}

func dialSocket(t *testing.T, s *Server) *socketClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	_, url, err := slack.New(BotToken, slack.OptionAppLevelToken(AppToken), slack.OptionAPIURL(s.APIURL)).StartSocketModeContext(ctx)
	if err != nil {
		t.Fatal(err)
	}
	c, _, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.CloseNow() })
	sc := &socketClient{t: t, ctx: ctx, c: c}
	if typ, _ := sc.next(); typ != "hello" {
		t.Fatalf("first frame %q, want hello", typ)
	}
	return sc
}

// next returns the next frame's type and, for events_api, its inner event
// as slack-go parses it (after acknowledging it).
func (sc *socketClient) next() (string, slackevents.EventsAPIEvent) {
	sc.t.Helper()
	_, b, err := sc.c.Read(sc.ctx)
	if err != nil {
		sc.t.Fatal(err)
	}
	var env struct {
		Type       string          `json:"type"`
		EnvelopeID string          `json:"envelope_id"`
		Payload    json.RawMessage `json:"payload"`
	}
	if err := json.Unmarshal(b, &env); err != nil {
		sc.t.Fatal(err)
	}
	if env.Type != "events_api" {
		return env.Type, slackevents.EventsAPIEvent{}
	}
	ev, err := slackevents.ParseEvent(env.Payload, slackevents.OptionNoVerifyToken())
	if err != nil {
		sc.t.Fatalf("slack-go cannot parse %s: %v", env.Payload, err)
	}
	if err := sc.c.Write(sc.ctx, websocket.MessageText, []byte(`{"envelope_id":"`+env.EnvelopeID+`"}`)); err != nil {
		sc.t.Fatal(err)
	}
	return env.Type, ev
}

// message returns the next events_api frame's message event.
func (sc *socketClient) message() *slackevents.MessageEvent {
	sc.t.Helper()
	for {
		typ, ev := sc.next()
		if typ != "events_api" {
			continue
		}
		m, ok := ev.InnerEvent.Data.(*slackevents.MessageEvent)
		if !ok {
			sc.t.Fatalf("event %T, want a message", ev.InnerEvent.Data)
		}
		return m
	}
}

// Say reaches a Socket Mode client after hello, and its ack is recorded.
func TestSay(t *testing.T) {
	s := New(t)
	sc := dialSocket(t, s)
	ts, env := s.SayEvent(UserMessage{Channel: s.Channel, ThreadTS: "1700000000.000001", User: "UALICE", Text: "hello there", EventID: "EvHello"})
	m := sc.message()
	if m.Text != "hello there" || m.User != "UALICE" || m.ThreadTimeStamp != "1700000000.000001" || m.TimeStamp != ts || m.ChannelType != "channel" {
		t.Errorf("event = %+v", m)
	}
	fx.WaitFor(t, "ack recorded", func() bool { return s.Acked(env) })
	again := s.Redeliver(env)
	sc.message()
	fx.WaitFor(t, "ack of the redelivery", func() bool { return s.Acked(again) })
	if s.Connections() != 1 {
		t.Errorf("connections %d", s.Connections())
	}
}

// Files, edits, unfurls and deletions arrive as Slack documents them, and
// the bot's own posts, updates and deletions are echoed.
func TestEventShapes(t *testing.T) {
	s := New(t)
	s.SetFileSharedEvents(true)
	sc := dialSocket(t, s)
	api := client(s)

	_, root, err := api.PostMessage(s.Channel, slack.MsgOptionText("root", false))
	if err != nil {
		t.Fatal(err)
	}
	if m := sc.message(); m.BotID != BotID || m.User != BotUserID || m.TimeStamp != root {
		t.Errorf("echo of the bot's post: %+v", m)
	}

	ts, _ := s.ShareFile(UserMessage{Channel: s.Channel, ThreadTS: root, User: "UALICE", Text: "the invoice"}, Upload{Name: "a.txt", Data: []byte("hello file")})
	m := sc.message()
	if m.SubType != "file_share" || m.Message == nil || len(m.Message.Files) != 1 || m.Text != "the invoice" || m.ThreadTimeStamp != root || m.TimeStamp != ts {
		t.Fatalf("file share event: %+v", m)
	}
	f := m.Message.Files[0]
	if f.Name != "a.txt" || f.Size != len("hello file") || f.URLPrivate == "" || f.Mode != "hosted" {
		t.Errorf("file object: %+v", f)
	}
	var got bytes.Buffer
	if err := api.GetFile(f.URLPrivate, &got); err != nil || got.String() != "hello file" {
		t.Errorf("download %q: %v", got.String(), err)
	}
	if typ, ev := sc.next(); typ != "events_api" || ev.InnerEvent.Type != "file_shared" {
		t.Errorf("file_shared: %s %+v", typ, ev.InnerEvent)
	}

	s.Edit(s.Channel, ts, "the new invoice")
	m = sc.message()
	if m.SubType != "message_changed" || m.Message == nil || m.Message.Edited == nil || m.Message.Text != "the new invoice" ||
		m.PreviousMessage == nil || m.PreviousMessage.Text != "the invoice" || m.Message.Timestamp != ts || m.Message.ThreadTimestamp != root {
		t.Errorf("edit: %+v message %+v previous %+v", m, m.Message, m.PreviousMessage)
	}
	s.Unfurl(s.Channel, ts)
	if m := sc.message(); m.SubType != "message_changed" || m.Message.Edited == nil || m.Message.Text != m.PreviousMessage.Text {
		// An unfurl after an edit keeps the edit mark; the text is the same.
		t.Errorf("unfurl: %+v", m.Message)
	}
	s.Delete(s.Channel, ts)
	m = sc.message()
	if m.SubType != "message_deleted" || m.DeletedTimeStamp != ts || m.PreviousMessage == nil || m.PreviousMessage.ThreadTimestamp != root {
		t.Errorf("deletion: %+v", m)
	}

	if _, _, _, err := api.UpdateMessage(s.Channel, root, slack.MsgOptionText("root 2", false)); err != nil {
		t.Fatal(err)
	}
	if m := sc.message(); m.SubType != "message_changed" || m.Message.BotID != BotID || m.Message.Text != "root 2" {
		t.Errorf("echo of chat.update: %+v", m.Message)
	}
	if _, _, err := api.DeleteMessage(s.Channel, root); err != nil {
		t.Fatal(err)
	}
	if m := sc.message(); m.SubType != "message_deleted" || m.DeletedTimeStamp != root {
		t.Errorf("echo of chat.delete: %+v", m)
	}
}
