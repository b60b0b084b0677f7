package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"

	"github.com/chatbridge/chatbridge/internal/testpeer"
)

// crashRounds is how many times TestMatrixKilledDuringBurst kills chatbridge
// in each mode.
const crashRounds = 10

// TestMatrixKilledDuringBurst kills the real binary (SIGKILL) while it
// delivers a burst of visitor messages to a real Dendrite, crashRounds
// times in each mode, and restarts it on the same data directory. Dendrite
// forgets a transaction id when the request that carried it is cut off
// after the event was stored, so the restarted delivery's retry with the
// same transaction id would post the message a second time: the adapter
// must look before it sends again. Every message the visitor sent must be
// in the room exactly once.
func TestMatrixKilledDuringBurst(t *testing.T) {
	for _, mode := range []string{"bot", "appservice"} {
		t.Run(mode, func(t *testing.T) { killedDuringBurst(t, mode) })
	}
}

func killedDuringBurst(t *testing.T, mode string) {
	dir := t.TempDir()
	var hs *testpeer.Homeserver
	var matrixCfg string
	listen := "127.0.0.1:0"
	if mode == "appservice" {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		listen = ln.Addr().String()
		ln.Close() // chatbridge listens here, the same address after each restart
		reg, err := exec.Command(binPath, "matrix", "registration", "--config", writeConfig(t, dir, ""),
			"--url", "http://"+listen, "--as-token", "as-secret-0123456789", "--hs-token", "hs-secret-0123456789",
			"--sender", "chatbridge", "--server-name", testpeer.DendriteServerName).Output()
		if err != nil {
			t.Fatalf("matrix registration: %v", err)
		}
		regPath := filepath.Join(dir, "registration.yaml")
		if err := os.WriteFile(regPath, reg, 0o600); err != nil {
			t.Fatal(err)
		}
		hs = testpeer.Dendrite(t, testpeer.WithAppservice(regPath))
		matrixCfg = fmt.Sprintf(`mode = "appservice"
user_id = "@chatbridge:%s"
as_token = "as-secret-0123456789"
hs_token = "hs-secret-0123456789"`, testpeer.DendriteServerName)
	} else {
		hs = testpeer.Dendrite(t)
		botID, botToken := hs.Register(t, "chatbridge", "bot-password-1")
		matrixCfg = fmt.Sprintf("user_id = %q\naccess_token = %q", botID, botToken)
	}
	opID, opToken := hs.Register(t, "alice", "alice-password-1")
	cfgPath := filepath.Join(dir, "bridge.toml")
	cfg := fmt.Sprintf(`
[server]
listen = %q
admin_listen = "127.0.0.1:0"
data_dir = %q
demo_page = false
[log]
level = "debug"
[visitor]
messages_per_minute = 100000
[matrix]
homeserver_url = %q
operators = [%q]
%s
`, listen, filepath.Join(dir, "data"), hs.URL, opID, matrixCfg)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}

	s := startServer(t, cfgPath)
	v := newVisitor(t, s.base, "Mona")
	v.send("hello", "hello")
	op, room := joinInvitedRoom(t, hs.URL, opID, opToken)
	counts := func() map[string]int {
		out := map[string]int{}
		from := ""
		for range 50 {
			resp, err := op.Messages(context.Background(), room, from, "", mautrix.DirectionBackward, nil, 1000)
			if err != nil {
				t.Fatalf("messages: %v", err)
			}
			for _, e := range resp.Chunk {
				if b, _ := e.Content.Raw["body"].(string); e.Type == event.EventMessage {
					out[strings.TrimPrefix(b, "Mona (visitor): ")]++
				}
			}
			if len(resp.Chunk) == 0 || resp.End == "" {
				break
			}
			from = resp.End
		}
		return out
	}
	waitFor(t, "the first message in the room", func() bool { return counts()["hello"] == 1 })

	const burst = 30
	var sent []string
	for round := range crashRounds {
		texts := make([]string, burst)
		for i := range texts {
			texts[i] = fmt.Sprintf("r%d-m%d", round, i)
		}
		sent = append(sent, texts...)
		// The visitor sends the burst; the server is killed while it
		// delivers it, after a few of its messages reached the room.
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, text := range texts {
				if !v.trySend(text, text) {
					return // the server is gone
				}
			}
		}()
		first := 2 + rand.IntN(burst/2)
		waitFor(t, fmt.Sprintf("round %d: %d messages in the room", round, first), func() bool {
			c := counts()
			n := 0
			for _, text := range texts {
				n += min(c[text], 1)
			}
			return n >= first
		})
		s.kill(t)
		wg.Wait()

		s = startServer(t, cfgPath)
		v.base = s.base
		// The widget sends again what was not acknowledged (the same
		// client ids: idempotent).
		for _, text := range texts {
			v.send(text, text)
		}
		waitFor(t, fmt.Sprintf("round %d: the whole burst in the room", round), func() bool {
			c := counts()
			for _, text := range texts {
				if c[text] == 0 {
					return false
				}
			}
			return true
		})
	}
	s.stop(t)
	c := counts()
	var doubled []string
	for _, text := range sent {
		if c[text] != 1 {
			doubled = append(doubled, fmt.Sprintf("%s×%d", text, c[text]))
		}
	}
	if len(doubled) > 0 {
		t.Errorf("%s mode: %d of %d messages are not in the room exactly once: %s", mode, len(doubled), len(sent), strings.Join(doubled, ", "))
	}
}

// trySend sends a visitor message and reports whether the server accepted
// it (false when the server is unreachable).
func (v *visitorClient) trySend(clientID, text string) bool {
	body := strings.NewReader(fmt.Sprintf(`{"client_id":%q,"text":%q}`, clientID, text))
	req, err := http.NewRequest(http.MethodPost, v.base+"/api/v1/messages", body)
	if err != nil {
		return false
	}
	req.Header.Set("Authorization", "Bearer "+v.token)
	req.Header.Set("Content-Type", "application/json")
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}
