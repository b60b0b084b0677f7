package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"golang.org/x/crypto/bcrypt"

	"github.com/chatbridge/chatbridge/internal/testpeer"
)

// TestBrowserOperatorCommands drives the real server and the inbox in
// Chromium: a visitor chats, the operator runs !lead, !history, :sorry,
// ;; note and !helpdesk_search — the visitor sees only the canned text, and
// the operator sees every result in their own view.
func TestBrowserOperatorCommands(t *testing.T) {
	ctx := testpeer.Browser(t)
	hash, err := bcrypt.GenerateFromPassword([]byte("alice-password"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cfgPath := writeConfig(t, dir, fmt.Sprintf(`
[[inbox.operators]]
login = "alice"
name = "Alice Martin"
password_hash = %q
`, hash))
	// A shared canned response, added with the CLI before the server ever
	// ran (it creates the store), and one while it runs.
	if out, err := exec.Command(binPath, "canned", "add", "sorry", "I am sorry to hear that, {{visitor.name|there}}.", "--config", cfgPath).CombinedOutput(); err != nil {
		t.Fatalf("canned add before the first serve: %v\n%s", err, out)
	}
	s := startServer(t, cfgPath)
	defer s.stop(t)
	if out, err := exec.Command(binPath, "canned", "add", "bye", "Goodbye!", "--config", cfgPath).CombinedOutput(); err != nil {
		t.Fatalf("canned add: %v\n%s", err, out)
	}

	v := newVisitor(t, s.base, "Bea")
	for _, p := range []struct{ url, title string }{
		{"https://shop.example/", "Home"},
		{"https://shop.example/big-tables", "Big tables"},
	} {
		if code := v.do("POST", "/api/v1/pageviews", map[string]string{"url": p.url, "title": p.title}, nil); code != http.StatusNoContent {
			t.Fatalf("pageview: %d", code)
		}
	}
	v.send("b1", "I want to order 40 big tables for my restaurant")
	var first struct {
		ConversationID string `json:"conversation_id"`
	}
	v.do("GET", "/api/v1/messages?after=0", nil, &first)

	poll := func(what, expr string) {
		t.Helper()
		sctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		if _, err := chromedp.Run(sctx, chromedp.Poll[bool](expr, chromedp.WithPollingInterval(25*time.Millisecond))); err != nil {
			html, _ := chromedp.Run(ctx, chromedp.OuterHTML(chromedp.CSS("#transcript")))
			t.Fatalf("waiting for %s: %v\n%s", what, err, html)
		}
	}
	do := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		sctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		if err := chromedp.Do(sctx, actions...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	do("log in",
		chromedp.Navigate(s.base+"/inbox/c/"+first.ConversationID),
		chromedp.WaitVisible(chromedp.CSS("#login")),
		chromedp.SendKeys(chromedp.CSS("#login"), "alice"),
		chromedp.SendKeys(chromedp.CSS("#password"), "alice-password"),
		chromedp.Submit(chromedp.CSS("#password")),
		chromedp.WaitVisible(chromedp.CSS("#transcript")),
	)
	poll("the live stream", `document.querySelector('#live.on') !== null`)

	// whisperHas is true when the operator's own view shows an operator-only
	// line containing s.
	whisperHas := func(s string) string {
		return fmt.Sprintf(`[...document.querySelectorAll('#transcript .msg.vis-whisper .text')].some(e => e.textContent.includes(%q))`, s)
	}
	steps := []struct{ typed, expect string }{
		{"!lead Big order", whisperHas("Created lead #1: Big order")},
		{"!history", whisperHas("https://shop.example/big-tables")},
		{":sorry", whisperHas("canned response :sorry")},
		{";; wants a bulk discount", `[...document.querySelectorAll('#transcript .msg.vis-note .text')].some(e => e.textContent === 'wants a bulk discount')`},
		{"!helpdesk_search big", whisperHas("No tickets found for big.")},
	}
	for _, st := range steps {
		do("type "+st.typed, chromedp.SendKeys(chromedp.CSS("#reply-text"), st.typed+"\n"))
		poll("the result of "+st.typed, st.expect)
		poll("the cleared reply box", `document.querySelector('#reply-text').value === ''`)
	}
	// The canned text itself is in the transcript as a public message.
	poll("the canned text", `[...document.querySelectorAll('#transcript .msg.vis-public .text')].some(e => e.textContent === 'I am sorry to hear that, Bea.')`)
	if dir := os.Getenv("CHATBRIDGE_SCREENSHOTS"); dir != "" {
		if png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot()); err == nil {
			_ = os.WriteFile(filepath.Join(dir, "inbox-commands.png"), png, 0o644)
		}
	}

	// The visitor sees exactly their message and the canned text.
	var got struct {
		Messages []struct{ From, Author, Text string }
	}
	v.do("GET", "/api/v1/messages?after=0", nil, &got)
	var lines []string
	for _, m := range got.Messages {
		lines = append(lines, m.From+"|"+m.Author+"|"+m.Text)
	}
	want := []string{
		"visitor|Bea|I want to order 40 big tables for my restaurant",
		"operator|Alice Martin|I am sorry to hear that, Bea.",
	}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Fatalf("the visitor sees:\n%s\nwant:\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
	// The lead is in the store, listed by the CLI through the admin socket.
	out, err := exec.Command(binPath, "leads", "list", "--config", cfgPath).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "Big order") {
		t.Fatalf("leads list: %v\n%s", err, out)
	}
}
