package slack

import (
	"strings"

	"github.com/slack-go/slack"

	"github.com/chatbridge/chatbridge/bridge"
)

// howTo is the last line of every context card.
const howTo = "Reply in this thread. `!help` for commands, `;; text` for a private note."

// contextCard returns the root message of a conversation's thread: a
// mention-free notification text and blocks with what is known about the
// visitor. Every visitor value is escaped and shown verbatim (no automatic
// mention or channel parsing).
func contextCard(v bridge.Visitor, c bridge.Conversation) (string, []slack.Block) {
	name := cleanName(v.DisplayName(), 80)
	text := "💬 New chat with " + Escape(name)
	field := func(label, value string) *slack.TextBlockObject {
		if value = strings.TrimSpace(value); value == "" {
			value = "—"
		} else {
			value = Escape(clip(value, 300))
		}
		return slack.NewTextBlockObject(slack.MarkdownType, "*"+label+"*\n"+value, false, true)
	}
	visitor := name
	if v.Email != "" {
		visitor += " · " + v.Email
	}
	language := v.Locale
	if v.Country != "" {
		language = strings.TrimSpace(language + " · " + v.Country)
	}
	fields := []*slack.TextBlockObject{
		field("Visitor", visitor),
		field("Current page", v.CurrentURL),
		field("Referrer", v.Referrer),
		field("Language", language),
		field("Browser", Browser(v.UserAgent)),
	}
	blocks := []slack.Block{
		slack.NewSectionBlock(slack.NewTextBlockObject(slack.MarkdownType, "*"+text+"*", false, true), nil, nil),
		slack.NewSectionBlock(nil, fields, nil),
		slack.NewContextBlock("", slack.NewTextBlockObject(slack.MarkdownType, howTo+" Conversation "+Escape(c.ID)+".", false, true)),
	}
	return text, blocks
}

// clip shortens s to at most n runes.
func clip(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

// Browser names the browser and system of a User-Agent ("Firefox 128 on
// Linux"); an unrecognised one is returned shortened, "" stays "".
func Browser(ua string) string {
	ua = strings.TrimSpace(ua)
	if ua == "" {
		return ""
	}
	browser := ""
	for _, b := range []struct{ token, name string }{
		{"Edg/", "Edge"}, {"EdgA/", "Edge"}, {"EdgiOS/", "Edge"},
		{"OPR/", "Opera"}, {"SamsungBrowser/", "Samsung Internet"},
		{"Firefox/", "Firefox"}, {"FxiOS/", "Firefox"},
		{"CriOS/", "Chrome"}, {"Chrome/", "Chrome"},
		{"Version/", "Safari"},
	} {
		if i := strings.Index(ua, b.token); i >= 0 {
			if b.name == "Safari" && !strings.Contains(ua, "Safari/") {
				continue
			}
			browser = b.name
			if v := major(ua[i+len(b.token):]); v != "" {
				browser += " " + v
			}
			break
		}
	}
	system := ""
	for _, s := range []struct{ token, name string }{
		{"Windows", "Windows"}, {"Android", "Android"}, {"iPhone", "iOS"}, {"iPad", "iPadOS"},
		{"CrOS", "ChromeOS"}, {"Mac OS X", "macOS"}, {"Macintosh", "macOS"}, {"Linux", "Linux"},
	} {
		if strings.Contains(ua, s.token) {
			system = s.name
			break
		}
	}
	switch {
	case browser != "" && system != "":
		return browser + " on " + system
	case browser != "":
		return browser
	case system != "":
		return "a browser on " + system
	}
	return clip(ua, 80)
}

// major returns the leading digits of a version ("128.0" → "128").
func major(s string) string {
	i := 0
	for i < len(s) && i < 6 && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	return s[:i]
}
