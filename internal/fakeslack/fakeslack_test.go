package fakeslack

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/slack-go/slack"
)

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
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("auth.test with %q: err %v, want %s", tc.token, err, tc.wantErr)
				}
				return
			}
			if err != nil || resp.UserID != BotUserID {
				t.Fatalf("auth.test: %+v, %v", resp, err)
			}
		})
	}
}

// Posts records stored and ephemeral posts in order; threads list the root
// and its replies, never ephemeral messages.
func TestPosts(t *testing.T) {
	s := New(t)
	api := slack.New(BotToken, slack.OptionAPIURL(s.APIURL))
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
	if _, _, err := api.PostMessage("COTHER", slack.MsgOptionText("x", false)); err == nil || !strings.Contains(err.Error(), "channel_not_found") {
		t.Errorf("post to an unknown channel: %v", err)
	}
	if _, _, err := api.PostMessage(s.Channel, slack.MsgOptionText("x", false), slack.MsgOptionUsername("Vera")); err == nil || !strings.Contains(err.Error(), "missing_scope") {
		t.Errorf("username without chat:write.customize: %v", err)
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
	msgs, _, _, err := api.GetConversationReplies(&slack.GetConversationRepliesParameters{ChannelID: s.Channel, Timestamp: root})
	if err != nil || len(msgs) != 2 {
		t.Fatalf("replies = %d messages, %v; want root and reply", len(msgs), err)
	}
}

// Say reaches a Socket Mode client after hello, and its ack is recorded.
func TestSay(t *testing.T) {
	s := New(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, url, err := slack.New(BotToken, slack.OptionAppLevelToken(AppToken), slack.OptionAPIURL(s.APIURL)).StartSocketModeContext(ctx)
	if err != nil {
		t.Fatal(err)
	}
	c, _, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	ts := s.Say(s.Channel, "1700000000.000001", "UALICE", "hello there")
	var types []string
	for len(types) < 2 {
		_, b, err := c.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var env struct {
			Type       string `json:"type"`
			EnvelopeID string `json:"envelope_id"`
			Payload    struct {
				Event map[string]any `json:"event"`
			} `json:"payload"`
		}
		if err := json.Unmarshal(b, &env); err != nil {
			t.Fatal(err)
		}
		types = append(types, env.Type)
		if env.Type != "events_api" {
			continue
		}
		ev := env.Payload.Event
		if ev["text"] != "hello there" || ev["user"] != "UALICE" || ev["thread_ts"] != "1700000000.000001" || ev["ts"] != ts {
			t.Errorf("event = %v", ev)
		}
		if s.Acked(env.EnvelopeID) {
			t.Fatal("acked before the ack")
		}
		if err := c.Write(ctx, websocket.MessageText, []byte(`{"envelope_id":"`+env.EnvelopeID+`"}`)); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(5 * time.Second)
		for !s.Acked(env.EnvelopeID) {
			if time.Now().After(deadline) {
				t.Fatal("ack not recorded")
			}
			time.Sleep(5 * time.Millisecond) // polling interval
		}
	}
	if types[0] != "hello" || types[1] != "events_api" || s.Connections() != 1 {
		t.Errorf("frames %v, connections %d", types, s.Connections())
	}
}
