package slack

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/chatbridge/chatbridge/bridge"
	"github.com/chatbridge/chatbridge/internal/fakeslack"
)

// hostileText is n bytes of & and <, the characters that grow most when
// escaped, in an irregular pattern.
func hostileText(n int) string {
	var b strings.Builder
	for i := range n {
		if i%7 == 3 || i%11 == 0 {
			b.WriteByte('<')
		} else {
			b.WriteByte('&')
		}
	}
	return b.String()
}

// reassemble turns the posts of a visitor's split message back into the
// text: it checks each part's author line, removes the quote marks,
// joins the parts and decodes the entities.
func reassemble(t *testing.T, posts []fakePost, author string) string {
	t.Helper()
	var b strings.Builder
	for k, p := range posts {
		head, body, _ := strings.Cut(p.Text, "\n")
		if want := fmt.Sprintf("*%s* (part %d of %d):", author, k+1, len(posts)); head != want {
			t.Fatalf("part %d starts %q, want %q", k+1, head, want)
		}
		lines := strings.Split(body, "\n")
		for i, l := range lines {
			l, ok := strings.CutPrefix(l, "> ")
			if !ok {
				t.Fatalf("part %d: line %q is not quoted", k+1, l)
			}
			if rest, ok := strings.CutPrefix(l, zwsp); ok && rest != "" && strings.ContainsAny(rest[:1], "*_~`") {
				l = rest
			}
			lines[i] = l
		}
		b.WriteString(entities.Replace(strings.Join(lines, "\n")))
	}
	return b.String()
}

// checkSplit checks that posts are the parts of one entry, in order, each
// within Slack's limit.
func checkSplit(t *testing.T, posts []fakePost) {
	t.Helper()
	if len(posts) < 2 {
		t.Fatalf("%d posts, want the message split", len(posts))
	}
	base := posts[0].MetaID
	for k, p := range posts {
		if n := utf8.RuneCountInString(p.Text); n > fakeslack.MaxTextChars {
			t.Errorf("part %d has %d characters", k+1, n)
		}
		want := base
		if k > 0 {
			want = fmt.Sprintf("%s/%d", base, k+1)
		}
		if p.MetaID != want {
			t.Errorf("part %d has metadata id %q, want %q", k+1, p.MetaID, want)
		}
	}
}

// A legal 10,000-byte visitor message of & and < is 50,000 characters
// once escaped and quoted, more than Slack takes in one message: it
// arrives whole, split in order, each part within the limits.
func TestLongVisitorMessageArrivesWhole(t *testing.T) {
	f := newFixture(t, ModeSocket, nil)
	v := f.visitor("Vera")
	text := hostileText(bridge.DefaultMaxMessageBytes)
	m := f.say(v, "c1", text)
	root := f.threadRoot(m.ConversationID)
	f.waitFor("outbox drained", f.outboxEmpty)
	posts := f.postsIn(root)
	checkSplit(t, posts)
	if got := reassemble(t, posts, "Vera (visitor)"); got != text {
		t.Errorf("reassembled text differs: %d bytes, want %d", len(got), len(text))
	}
	if dead, err := f.engine.DeadLetters(f.ctx, AdapterName, 0); err != nil || len(dead) != 0 {
		t.Errorf("dead letters %v, %v", dead, err)
	}
}

// A part whose answer was lost (Slack stored it and answered 500) is not
// posted again: the retry looks the entry's parts up and posts only the
// missing ones.
func TestLongMessagePartNotDuplicated(t *testing.T) {
	f := newFixture(t, ModeSocket, nil)
	f.fake.FailNext(fakeslack.Failure{Status: 500, Lost: true, When: func(args url.Values) bool {
		return strings.Contains(args.Get("metadata"), `/2"`)
	}})
	v := f.visitor("Vera")
	text := hostileText(bridge.DefaultMaxMessageBytes)
	m := f.say(v, "c1", text)
	root := f.threadRoot(m.ConversationID)
	f.waitFor("outbox drained", f.outboxEmpty)
	posts := f.postsIn(root)
	checkSplit(t, posts)
	if got := reassemble(t, posts, "Vera (visitor)"); got != text {
		t.Errorf("reassembled text differs: %d bytes, want %d", len(got), len(text))
	}
	if f.fake.Calls("conversations.replies") == 0 {
		t.Error("no lookup after the lost answer")
	}
}

// Slack's 429 in the middle of a split message: the retry waits for
// Retry-After and posts the remaining parts, without a lookup (a 429 stored
// nothing) and without duplicates.
func TestLongMessageRateLimited(t *testing.T) {
	f := newFixture(t, ModeSocket, func(fs *fakeslack.Server, _ *Config) {
		fs.SetRateLimit(1, 1) // stricter than the adapter's pacing
	})
	v := f.visitor("Vera")
	text := hostileText(bridge.DefaultMaxMessageBytes)
	m := f.say(v, "c1", text)
	root := f.threadRoot(m.ConversationID)
	f.waitFor("outbox drained", f.outboxEmpty)
	posts := f.postsIn(root)
	checkSplit(t, posts)
	if got := reassemble(t, posts, "Vera (visitor)"); got != text {
		t.Errorf("reassembled text differs: %d bytes, want %d", len(got), len(text))
	}
	if n := f.fake.Calls("chat.postMessage"); n <= len(posts)+1 {
		t.Errorf("%d chat.postMessage calls for %d parts and a root: the fake's limit was not met", n, len(posts))
	}
	if n := f.fake.Calls("conversations.replies"); n != 0 {
		t.Errorf("%d lookups after 429s, want 0", n)
	}
}

// What Slack refuses for good is kept as a dead letter, and the thread
// says so: nothing is dropped silently.
func TestRefusedMessageBecomesDeadLetter(t *testing.T) {
	f := newFixture(t, ModeSocket, nil)
	f.fake.FailNext(fakeslack.Failure{Error: "invalid_blocks", When: func(args url.Values) bool {
		return strings.Contains(args.Get("text"), "doomed")
	}})
	v := f.visitor("Vera")
	m := f.say(v, "c1", "doomed message")
	root := f.threadRoot(m.ConversationID)
	f.say(v, "c2", "next one")
	var dead []bridge.OutboxEntry
	f.waitFor("a dead letter", func() bool {
		var err error
		dead, err = f.engine.DeadLetters(context.Background(), AdapterName, 0)
		return err == nil && len(dead) == 1
	})
	f.waitFor("the thread told, and the next message posted", func() bool {
		told, next := false, false
		for _, p := range f.postsIn(root) {
			told = told || strings.Contains(p.Text, fmt.Sprintf("dead letter %d", dead[0].ID)) && strings.Contains(p.Text, "invalid_blocks")
			next = next || strings.Contains(p.Text, "next one")
		}
		return told && next
	})
}

// The adapter keeps to Slack's posting limit by itself: threads opening and
// messages arriving together are posted without a single 429 from the
// fake, which enforces the limit.
func TestPacingKeepsToSlackLimit(t *testing.T) {
	f := newFixture(t, ModeSocket, nil)
	for i, name := range []string{"Vera", "Tom"} {
		v := f.visitor(name)
		f.say(v, fmt.Sprintf("a%d", i), "first")
		f.say(v, fmt.Sprintf("b%d", i), "second")
		f.say(v, fmt.Sprintf("c%d", i), "third")
	}
	f.waitFor("outbox drained", f.outboxEmpty)
	posts, _ := f.snapshot()
	if len(posts) != 8 {
		t.Fatalf("%d posts, want 2 roots and 6 messages", len(posts))
	}
	if n := f.fake.Calls("chat.postMessage"); n != len(posts) {
		t.Errorf("%d chat.postMessage calls for %d posts: Slack answered 429", n, len(posts))
	}
	times := f.fake.PostTimes()
	if d := times[len(times)-1].Sub(times[0]); d < time.Duration(len(posts)-postBurst-1)*time.Second {
		t.Errorf("%d posts in %s: faster than one a second after a burst of %d", len(posts), d, postBurst)
	}
}
