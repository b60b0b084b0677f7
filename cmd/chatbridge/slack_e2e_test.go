package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chatbridge/chatbridge/internal/fakeslack"
)

// TestServeWithSlack runs the real binary configured with [slack] in socket
// mode against a fake Slack on loopback: a visitor's message opens a thread
// under a context card; an operator's reply in the thread reaches the
// visitor; !help is answered ephemerally to the operator and never reaches
// the visitor; a file shared in the thread reaches the visitor's
// conversation and the blob store; /healthz reports slack as ok.
func TestServeWithSlack(t *testing.T) {
	fake := fakeslack.New(t)
	fake.SetUser("UALICE", "Alice Martin")
	dir := t.TempDir()
	cfgPath := writeConfig(t, dir, fmt.Sprintf(`
[slack]
channel = %q
api_url = %q
mode = "socket"
`, fake.Channel, fake.APIURL))
	t.Setenv("CHATBRIDGE_SLACK_BOT_TOKEN", fakeslack.BotToken) // inherited by the child
	t.Setenv("CHATBRIDGE_SLACK_APP_TOKEN", fakeslack.AppToken)
	s := startServer(t, cfgPath)
	defer s.stop(t)

	var health struct {
		OK     bool
		Checks []struct {
			Name  string
			OK    bool
			Error string
		}
	}
	slackHealthy := func() bool {
		resp, err := http.Get(s.ops + "/healthz") // the detailed one
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if json.Unmarshal(body, &health) != nil {
			return false
		}
		for _, c := range health.Checks {
			if c.Name == "slack" {
				return c.OK && health.OK && resp.StatusCode == http.StatusOK
			}
		}
		return false
	}
	waitFor(t, "slack ok in /healthz", slackHealthy)
	waitFor(t, "a Socket Mode connection", func() bool { return fake.Connections() > 0 })

	v := newVisitor(t, s.base, "Mona")
	v.send("m1", "Is the blue mug dishwasher safe?")

	var root fakeslack.Post
	waitFor(t, "a context card and the visitor's message in its thread", func() bool {
		var roots, replies []fakeslack.Post
		for _, p := range fake.Posts() {
			switch {
			case p.Ephemeral || p.Channel != fake.Channel:
			case p.ThreadTS == "":
				roots = append(roots, p)
			default:
				replies = append(replies, p)
			}
		}
		if len(roots) != 1 {
			return false
		}
		root = roots[0]
		for _, r := range replies {
			if r.ThreadTS == root.TS && strings.Contains(r.Text, "Is the blue mug dishwasher safe?") {
				return true
			}
		}
		return false
	})
	if root.MetaID == "" || !strings.Contains(root.Text+root.Blocks, "Mona") {
		t.Errorf("the thread root is no context card for Mona: %+v", root)
	}

	type message struct{ From, Author, Text string }
	visible := func() []message {
		var got struct{ Messages []message }
		if code := v.do(http.MethodGet, "/api/v1/messages?after=0", nil, &got); code != http.StatusOK {
			t.Fatalf("visitor messages: status %d", code)
		}
		return got.Messages
	}
	fake.Say(fake.Channel, root.TS, "UALICE", "Yes, it is!")
	var got []message
	waitFor(t, "the operator's reply at the visitor", func() bool { got = visible(); return len(got) >= 2 })
	if len(got) != 2 || got[0].From != "visitor" || got[1].From != "operator" || got[1].Text != "Yes, it is!" {
		t.Fatalf("the visitor sees %+v, want their message and the operator's reply", got)
	}

	fake.Say(fake.Channel, root.TS, "UALICE", "!help")
	waitFor(t, "an ephemeral !help answer to the operator", func() bool {
		for _, p := range fake.Posts() {
			if p.Ephemeral && p.User == "UALICE" && p.ThreadTS == root.TS && strings.Contains(p.Text, "!help") {
				return true
			}
		}
		return false
	})
	if after := visible(); len(after) != 2 {
		t.Errorf("after !help the visitor sees %+v, want nothing new", after)
	}
	for _, p := range fake.Posts() {
		if !p.Ephemeral && p.ThreadTS == root.TS && strings.Contains(p.Text, "!help") {
			t.Errorf("the !help answer was posted to the whole thread: %+v", p)
		}
	}

	// A file shared in the thread reaches the visitor with its caption, its
	// bytes in the configured blob store (the default directory).
	data := []byte("%PDF-1.4\n% the blue mug's manual\n%%EOF\n")
	fake.ShareFile(fakeslack.UserMessage{Channel: fake.Channel, ThreadTS: root.TS, User: "UALICE", Text: "Here is the manual."},
		fakeslack.Upload{Name: "manual.pdf", Data: data})
	waitFor(t, "the file's caption at the visitor", func() bool {
		got = visible()
		return len(got) == 3 && got[2].Text == "Here is the manual."
	})
	sum := sha256.Sum256(data)
	hash := hex.EncodeToString(sum[:])
	stored, err := os.ReadFile(filepath.Join(dir, "data", "files", "sha256", hash[:2], hash))
	if err != nil || !bytes.Equal(stored, data) {
		t.Errorf("the shared file is not in the blob store: %v", err)
	}
	if !slackHealthy() {
		t.Errorf("healthz at the end: %+v", health)
	}
}
