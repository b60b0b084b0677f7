package slack

import (
	"strings"
	"testing"

	"github.com/chatbridge/chatbridge/bridge"
	"github.com/chatbridge/chatbridge/internal/fakeslack"
)

// An operator's edit in the thread changes the visitor's copy in place; an
// unfurl (message_changed without an edit) changes nothing; a deletion
// deletes it for the visitor.
func TestOperatorEditAndDeletionReachVisitor(t *testing.T) {
	f := newFixture(t, ModeSocket, nil)
	v := f.visitor("Vera")
	m := f.say(v, "c1", "how much?")
	root := f.threadRoot(m.ConversationID)
	ts, _ := f.operatorSays("UALICE", root, "It costs 10 €", "Ev-reply")
	f.waitPublic(v, "reply", func(m bridge.Message) bool { return m.Text == "It costs 10 €" })

	f.waitAck(f.fake.Unfurl(testChannel, ts))
	f.waitAck(f.fake.Edit(testChannel, ts, "It costs 12 € &amp; shipping"))
	got := f.waitPublic(v, "edited reply", func(m bridge.Message) bool { return m.Text == "It costs 12 € & shipping" })
	if got.EditedAt.IsZero() || got.Author != "Alice Martin" {
		t.Errorf("edited reply = %+v", got)
	}
	replies := 0
	for _, m := range f.public(v) {
		if m.From == bridge.FromOperator {
			replies++
		}
	}
	if replies != 1 {
		t.Errorf("visitor sees %d replies after the edit, want the one, changed", replies)
	}

	f.waitAck(f.fake.Delete(testChannel, ts))
	f.waitPublic(v, "deleted reply", func(m bridge.Message) bool { return m.Seq == got.Seq && m.Deleted && m.Text == "" })

	// A message with two files: a deletion deletes both for the visitor.
	fts, env := f.fake.ShareFile(fakeslack.UserMessage{Channel: testChannel, ThreadTS: root, User: "UALICE", Text: "two files"},
		fakeslack.Upload{Name: "a.pdf", Data: pdf("a")}, fakeslack.Upload{Name: "b.pdf", Data: pdf("b")})
	f.waitAck(env)
	f.waitFor("two files at the visitor", func() bool { return countFiles(f.public(v), false) == 2 })
	f.waitAck(f.fake.Delete(testChannel, fts))
	f.waitFor("both deleted", func() bool {
		n := 0
		for _, m := range f.public(v) {
			if m.Deleted {
				n++
			}
		}
		return n == 3 && countFiles(f.public(v), false) == 0
	})
	// No edit or deletion was posted back into the thread.
	f.waitFor("outbox drained", f.outboxEmpty)
	for _, p := range f.postsIn(root) {
		if strings.Contains(p.Text, "12 €") || strings.Contains(p.Text, "edited") || strings.Contains(p.Text, "deleted") {
			t.Errorf("an operator's own change was posted back: %q", p.Text)
		}
	}
}

func countFiles(msgs []bridge.Message, deleted bool) int {
	n := 0
	for _, m := range msgs {
		if m.File != nil && m.Deleted == deleted {
			n++
		}
	}
	return n
}

// Edits and deletions made on another platform change the thread: the
// posts that carried the message are updated or deleted, a split message
// part by part, a file's comment in place.
func TestOtherPlatformEditAndDeletionInThread(t *testing.T) {
	f := newFixture(t, ModeSocket, nil)
	v := f.visitor("Vera")
	m := f.say(v, "c1", "hello")
	conv := m.ConversationID
	root := f.threadRoot(conv)
	op := bridge.Operator{Adapter: "inbox", ID: "alice", Name: "Alice"}
	change := func(id string, in bridge.OperatorInput) {
		t.Helper()
		in.EventID, in.Operator = id, op
		if err := f.engine.HandleOperator(f.ctx, in); err != nil {
			t.Fatal(err)
		}
	}
	find := func(substr string) fakePost {
		var got fakePost
		f.waitFor("a post with "+substr, func() bool {
			for _, p := range f.postsIn(root) {
				if strings.Contains(p.Text, substr) {
					got = p
					return true
				}
			}
			return false
		})
		return got
	}

	if _, err := f.engine.Reply(f.ctx, conv, op, "on it <now>", "inbox-1"); err != nil {
		t.Fatal(err)
	}
	first := find("on it")
	change("inbox-e1", bridge.OperatorInput{Edits: "inbox-1", Text: "on it, 5 minutes"})
	f.waitFor("post updated", func() bool {
		for _, p := range f.postsIn(root) {
			if p.TS == first.TS {
				return p.Text == "*Alice (inbox)*: on it, 5 minutes" && p.Edited
			}
		}
		return false
	})
	change("inbox-d1", bridge.OperatorInput{Deletes: "inbox-1"})
	f.waitFor("post deleted", func() bool {
		for _, p := range f.postsIn(root) {
			if p.TS == first.TS {
				return false
			}
		}
		return true
	})

	// A long reply is two posts; shortened, its second post goes; made
	// long again, a second post comes back.
	long := hostileText(bridge.DefaultMaxMessageBytes)
	if _, err := f.engine.Reply(f.ctx, conv, op, long, "inbox-2"); err != nil {
		t.Fatal(err)
	}
	f.waitFor("two parts", func() bool { return len(partsOf(f.postsIn(root), "*Alice (inbox)* (part ")) == 2 })
	parts := partsOf(f.postsIn(root), "*Alice (inbox)* (part ")
	change("inbox-e2", bridge.OperatorInput{Edits: "inbox-2", Text: "short now"})
	f.waitFor("one post left", func() bool {
		left := f.postsIn(root)
		return len(partsOf(left, "*Alice (inbox)* (part ")) == 0 && len(partsOf(left, "*Alice (inbox)*: short now")) == 1
	})
	if p := partsOf(f.postsIn(root), "*Alice (inbox)*: short now")[0]; p.TS != parts[0].TS {
		t.Errorf("the edit made a new post %s instead of updating %s", p.TS, parts[0].TS)
	}
	change("inbox-e3", bridge.OperatorInput{Edits: "inbox-2", Text: long[1:] + "!"})
	f.waitFor("two parts again", func() bool { return len(partsOf(f.postsIn(root), "*Alice (inbox)* (part ")) == 2 })

	// A file's caption is the upload's comment: edited in place, deleted
	// with the file.
	att := f.storeFile("plan.pdf", pdf("plan"))
	change("inbox-f1", bridge.OperatorInput{ConversationID: conv, File: &att, Text: "the plan", PlatformID: "inbox-f1"})
	f.waitFor("file uploaded", func() bool { return len(f.fake.Files()) == 1 })
	file := f.fake.Files()[0]
	change("inbox-e4", bridge.OperatorInput{Edits: "inbox-f1", Text: "the final plan"})
	f.waitFor("comment updated", func() bool {
		s := f.sharesOf(file.ID)
		return len(s) == 1 && s[0].Text == "*Alice (inbox)*: the final plan" && s[0].Edited
	})
	change("inbox-d4", bridge.OperatorInput{Deletes: "inbox-f1"})
	f.waitFor("file deleted", func() bool { return len(f.sharesOf(file.ID)) == 0 && f.fake.Files()[0].Deleted })
	f.waitFor("outbox drained", f.outboxEmpty)
}

// partsOf returns the posts whose text starts with prefix.
func partsOf(posts []fakePost, prefix string) []fakePost {
	var out []fakePost
	for _, p := range posts {
		if strings.HasPrefix(p.Text, prefix) {
			out = append(out, p)
		}
	}
	return out
}
