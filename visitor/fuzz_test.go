package visitor

import (
	"encoding/hex"
	"errors"
	"net/mail"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/chatbridge/chatbridge/bridge"
)

// FuzzMessageRequest feeds arbitrary bodies through the decoding and
// validation of every JSON request, checking that nothing panics, that every
// refusal is an API error with a stable code, and that accepted values keep
// their invariants.
func FuzzMessageRequest(f *testing.F) {
	for _, s := range []string{
		`{"client_id":"c1","text":"hello"}`,
		`{"client_id":"c1","text":"caf\u00e9 \ud800"}`,
		`{"client_id":"","text":"  "}`,
		`{"client_id":"c1","text":"a\u0000b"}`,
		`{"client_id":1,"text":[]}`,
		`{"client_id":"c1","text":"x"} trailing`,
		`[1,2,3]`, `null`, `"str"`, ``, ` `, `{`, "{\"text\":\"\xff\"}",
		`{"name":"Ada","email":"ada@example.com","locale":"fr-FR","identity":{"user_id":"u","expires":1,"signature":"00"}}`,
		`{"url":"https://shop.example.com/a?b=c","title":"T","referrer":""}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var mr messageRequest
		if err := decodeJSON(body, &mr, false); err != nil {
			mustAPIError(t, err)
		} else {
			if !utf8.ValidString(mr.Text) || !utf8.ValidString(mr.ClientID) {
				t.Fatalf("decoded invalid UTF-8 from %q", body)
			}
			if err := validateMessage(mr, 100); err != nil {
				if !errors.Is(err, bridge.ErrInvalid) {
					mustAPIError(t, err)
				}
			} else {
				text, err := bridge.CheckText(mr.Text, 100)
				if err != nil || text == "" || len(text) > 100 || mr.ClientID == "" || len(mr.ClientID) > maxClientIDBytes {
					t.Fatalf("accepted %+v", mr)
				}
			}
		}

		var sr sessionRequest
		if err := decodeJSON(body, &sr, true); err != nil {
			mustAPIError(t, err)
		} else {
			if name, err := cleanLine("name", sr.Name, maxNameBytes); err == nil && (strings.ContainsAny(name, "\n\r\x00") || len(name) > maxNameBytes) {
				t.Fatalf("accepted name %q", name)
			}
			if email, err := cleanEmail("email", sr.Email); err == nil && email != "" {
				if a, err := mail.ParseAddress(email); err != nil || a.Address != email {
					t.Fatalf("accepted email %q", email)
				}
			}
			if loc, err := cleanLocale(sr.Locale); err == nil && strings.ContainsAny(loc, "<>\"' ") {
				t.Fatalf("accepted locale %q", loc)
			}
		}

		var pv pageViewRequest
		if err := decodeJSON(body, &pv, false); err != nil {
			mustAPIError(t, err)
		} else if u, err := cleanPageURL("url", pv.URL, true); err == nil &&
			!strings.HasPrefix(strings.ToLower(u), "http://") && !strings.HasPrefix(strings.ToLower(u), "https://") {
			t.Fatalf("accepted page URL %q", u)
		}
	})
}

func mustAPIError(t *testing.T, err error) {
	t.Helper()
	var ae *apiError
	if !errors.As(err, &ae) || ae.code == "" || ae.message == "" || ae.status < 400 || ae.status > 499 {
		t.Fatalf("error %v is not a client API error", err)
	}
}

// FuzzIdentity checks signed-identity verification: it never panics, it
// accepts exactly the identities signed with the secret that have not
// expired, and it refuses any change to a signed one.
func FuzzIdentity(f *testing.F) {
	f.Add("user-1", "Ada", "ada@example.com", int64(2_000_000_000), "", int64(1_900_000_000), "secret", true)
	f.Add("u\n", "", "", int64(1), "00", int64(0), "k", false)
	f.Add("", "x", "y", int64(-5), "zz", int64(10), "", true)
	f.Fuzz(func(t *testing.T, userID, name, email string, expires int64, sig string, now int64, secret string, signIt bool) {
		id := Identity{UserID: userID, Name: name, Email: email, Expires: expires, Signature: sig}
		if signIt {
			id.Signature = id.Sign(secret)
		}
		at := time.Unix(now, 0)
		err := verifyIdentity(id, secret, at)
		if err != nil {
			mustAPIError(t, err)
		}
		wellFormed := secret != "" && userID != "" && len(userID) <= 256 && expires > 0 &&
			!strings.ContainsAny(userID+name+email, "\r\n")
		validSig := func() bool {
			b, err := hex.DecodeString(id.Signature)
			return err == nil && hex.EncodeToString(b) == strings.ToLower(id.Signature) && strings.EqualFold(id.Signature, id.Sign(secret))
		}()
		want := wellFormed && validSig && now < expires
		if (err == nil) != want {
			t.Fatalf("verify(%+v, %q, %d) = %v; want accepted=%v", id, secret, now, err, want)
		}
		if err == nil {
			// Any change to a signed field invalidates the signature.
			changed := id
			changed.Email += "x"
			if verifyIdentity(changed, secret, at) == nil {
				t.Fatalf("tampered identity %+v accepted", changed)
			}
		}
	})
}
