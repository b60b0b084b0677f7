package visitor_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/chatbridge/chatbridge/internal/testpeer"
	"github.com/chatbridge/chatbridge/visitor"
)

const identitySecret = "site-secret-0123456789"

// identityScript sets window.chatbridgeSettings as a site would before the
// widget's script tag.
func identityScript(id visitor.Identity) string {
	return fmt.Sprintf(`window.chatbridgeSettings={identity:{user_id:%s,name:%s,email:%s,expires:%d,signature:%s}}`,
		jsString(id.UserID), jsString(id.Name), jsString(id.Email), id.Expires, jsString(id.Signature))
}

// A signed-in site user gets the same conversation on another device (a
// second browser profile), without the pre-chat form; a forged identity is
// refused and the widget falls back to an anonymous chat; signing out on
// the site drops the user's token from the browser.
func TestWidgetSignedIdentity(t *testing.T) {
	s := newSiteWithAPI(t, visitor.DefaultWidgetConfig(), visitor.Config{IdentitySecret: identitySecret})
	ctx := context.Background()
	id := visitor.Identity{UserID: "user-42", Name: "Ines", Email: "ines@example.com", Expires: time.Now().Add(time.Hour).Unix()}
	id.Signature = id.Sign(identitySecret)

	// Device 1: the signed-in user writes.
	d1 := tab{t, testpeer.Browser(t)}
	addScript(t, d1, identityScript(id))
	d1.open(s.url("/demo/"))
	d1.until(`JSON.parse(localStorage.getItem('chatbridge:'+location.origin+':uid'))==='user-42'`, "a session for the signed-in user")
	d1.click(".bub")
	d1.until(`!`+root+`.querySelector('.pn').hidden`, "the panel opens")
	if !evalOK(d1, root+`.querySelector('.pc').hidden`) {
		t.Error("the pre-chat form is shown to a signed-in user")
	}
	d1.send("Hello from my laptop")
	d1.waitMessages("Hello from my laptop")
	v, conv := currentConversation(t, s, d1.token())
	if v.ExternalID != "user-42" || v.Name != "Ines" || v.Email != "ines@example.com" {
		t.Fatalf("visitor = %+v, want the signed identity", v)
	}
	if _, err := s.engine.Reply(ctx, conv.ID, alice, "Hi Ines", ""); err != nil {
		t.Fatal(err)
	}
	d1.waitMessages("Hello from my laptop", "Hi Ines")

	// Device 2: another browser profile, same user: the same conversation.
	d2 := tab{t, testpeer.Browser(t)}
	addScript(t, d2, identityScript(id))
	d2.open(s.url("/demo/"))
	d2.click(".bub")
	d2.waitMessages("Hello from my laptop", "Hi Ines")
	if v2, _ := currentConversation(t, s, d2.token()); v2.ID != v.ID {
		t.Fatalf("device 2 is visitor %s, want %s", v2.ID, v.ID)
	}

	// A forged identity is refused: an anonymous chat, not user-42's.
	forged := id
	forged.Signature = visitor.Identity{UserID: "user-42", Expires: id.Expires}.Sign("wrong secret")
	d3 := tab{t, testpeer.Browser(t)}
	addScript(t, d3, identityScript(forged))
	d3.open(s.url("/demo/"))
	d3.click(".bub")
	d3.waitMessages() // nothing of user-42's conversation
	d3.send("anonymous question")
	d3.until(`JSON.parse(localStorage.getItem('chatbridge:'+location.origin+':tok'))`, "an anonymous session")
	if v3, _ := currentConversation(t, s, d3.token()); v3.ID == v.ID || v3.ExternalID != "" {
		t.Fatalf("forged identity resolved to %+v", v3)
	}

	// An anonymous visitor who signs in on the site gets the user's
	// conversation, not the anonymous one.
	d3.do(chromedp.Navigate(s.url("/api/v1/widget/config"))) // leave the page
	addScript(t, d3, identityScript(id))
	d3.open(s.url("/demo/"))
	d3.until(`JSON.parse(localStorage.getItem('chatbridge:'+location.origin+':uid'))==='user-42'`, "the signed-in user's session replaces the anonymous one")
	d3.click(".bub")
	d3.waitMessages("Hello from my laptop", "Hi Ines")

	// Signing out on the site (no identity any more) drops the token.
	d4 := tab{t, testpeer.NewTab(t, d1.ctx)}
	addScript(t, d4, `window.chatbridgeSettings={}`)
	d4.open(s.url("/demo/"))
	d4.until(`!localStorage.getItem('chatbridge:'+location.origin+':uid')`, "the signed-out user's id is forgotten")
	if tok := d4.token(); tok != "" {
		if v4, err := s.engine.Authenticate(ctx, tok); err == nil && v4.ID == v.ID {
			t.Fatal("after signing out, the browser still holds user-42's token")
		}
	}
}
