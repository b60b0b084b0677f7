package slack

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/chatbridge/chatbridge/bridge"
)

// Events acknowledged before shutdown (and still queued behind a slow one)
// all reach the visitor before Run returns: Slack never sends an
// acknowledged event again. After Run stopped receiving, HTTP events are
// refused with 503 so that Slack retries them later.
func TestShutdownHandlesAcknowledgedEvents(t *testing.T) {
	for _, mode := range []string{ModeSocket, ModeHTTP} {
		t.Run(mode, func(t *testing.T) {
			f := newFixture(t, mode, nil)
			srv := httptest.NewServer(f.a.Handler())
			defer srv.Close()
			send := func(user, root, text, eventID string) int {
				if mode == ModeSocket {
					f.operatorSays(user, root, text, eventID)
					return http.StatusOK
				}
				b, err := json.Marshal(map[string]any{"type": "event_callback", "event_id": eventID, "team_id": "T1",
					"event": map[string]any{"type": "message", "channel": testChannel, "user": user, "text": text,
						"ts": strconv.FormatInt(time.Now().Unix(), 10) + ".9" + eventID[len(eventID)-1:], "thread_ts": root}})
				if err != nil {
					t.Fatal(err)
				}
				status, _ := postEvent(t, srv.URL, b, sign("test-signing-secret", b, time.Now()))
				return status
			}

			v := f.visitor("Vera")
			m := f.say(v, "c1", "hello")
			root := f.threadRoot(m.ConversationID)
			f.waitPosts(root, 1)

			// The first event waits in users.info; the others queue behind it.
			f.fake.SetUser("USAM", "Sam Slow")
			release := f.fake.Hold("users.info")
			texts := []string{"one", "two", "three", "four"}
			for i, text := range texts {
				if status := send("USAM", root, text, fmt.Sprintf("Ev-shut-%d", i)); status != http.StatusOK {
					t.Fatalf("event %q: status %d", text, status)
				}
			}
			f.cancelAdapter()
			release()
			if err := f.waitAdapter(); err != nil {
				t.Fatalf("run: %v", err)
			}

			var seen []string
			for _, m := range f.public(v) {
				if m.From == bridge.FromOperator {
					seen = append(seen, m.Text)
				}
			}
			if !slices.Equal(seen, texts) {
				t.Errorf("visitor sees %q after shutdown, want %q", seen, texts)
			}
			if mode == ModeHTTP {
				if status := send("USAM", root, "too late", "Ev-shut-9"); status != http.StatusServiceUnavailable {
					t.Errorf("event after shutdown: status %d, want 503", status)
				}
			}
		})
	}
}
