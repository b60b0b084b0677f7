package visitor

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"
	"time"
)

// Identity is a visitor identity vouched for by the site: the site's backend
// signs its signed-in user so that the same chatbridge visitor (and its
// conversations) is resumed on any device.
//
// Signature is the lower- or upper-case hex HMAC-SHA256, keyed with
// Config.IdentitySecret (bridge.toml visitor.identity_secret), of exactly
//
//	user_id + "\n" + name + "\n" + email + "\n" + expires
//
// where expires is the decimal Unix time in seconds (no sign, no leading
// zeros, as strconv.FormatInt writes it) and absent name or email are empty
// strings. No field may contain a newline. For example, in Go:
//
//	mac := hmac.New(sha256.New, []byte(secret))
//	mac.Write([]byte(userID + "\n" + name + "\n" + email + "\n" + strconv.FormatInt(expires, 10)))
//	signature := hex.EncodeToString(mac.Sum(nil))
//
// An identity whose expires is in the past is refused, and so is one whose
// expires is further ahead than Config.IdentityMaxLifetime
// (visitor.identity_max_lifetime, 24 h by default): sites sign with a short
// lifetime (minutes to a day) on each page render.
type Identity struct {
	UserID    string `json:"user_id"`
	Name      string `json:"name,omitempty"`
	Email     string `json:"email,omitempty"`
	Expires   int64  `json:"expires"`
	Signature string `json:"signature"`
}

// CanonicalString is the exact text Identity.Signature signs.
func (id Identity) CanonicalString() string {
	return id.UserID + "\n" + id.Name + "\n" + id.Email + "\n" + strconv.FormatInt(id.Expires, 10)
}

// Sign returns the signature of id under secret (for sites written in Go and
// for tests).
func (id Identity) Sign(secret string) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(id.CanonicalString()))
	return hex.EncodeToString(mac.Sum(nil))
}

// verifyIdentity checks id against secret at now. The returned error is an
// *apiError: 400 when the identity is malformed or no secret is configured,
// 401 when the signature is wrong or expired.
func verifyIdentity(id Identity, secret string, now time.Time) error {
	if secret == "" {
		return errBadRequest("signed identities are not enabled on this server (no identity secret is configured)")
	}
	if id.UserID == "" || len(id.UserID) > 256 {
		return errBadRequest("identity.user_id must be 1 to 256 characters")
	}
	for _, f := range []string{id.UserID, id.Name, id.Email} {
		if strings.ContainsAny(f, "\r\n") {
			return errBadRequest("identity fields must not contain line breaks")
		}
	}
	if id.Expires <= 0 {
		return errBadRequest("identity.expires must be a Unix time in seconds")
	}
	sig, err := hex.DecodeString(id.Signature)
	if err != nil || len(sig) != sha256.Size {
		return errUnauthorized("identity signature is not a hex HMAC-SHA256")
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(id.CanonicalString()))
	if !hmac.Equal(sig, mac.Sum(nil)) {
		return errUnauthorized("identity signature does not match")
	}
	// Checked after the signature so that the message does not reveal
	// anything about unsigned input.
	if now.Unix() >= id.Expires {
		return errUnauthorized("identity has expired: sign it again")
	}
	return nil
}

// checkLifetime refuses a (verified) identity that expires more than max
// after now: a signature meant to last for years would let whoever copies
// it be that user for years.
func checkLifetime(id Identity, max time.Duration, now time.Time) error {
	if max > 0 && id.Expires > now.Add(max).Unix() {
		return errUnauthorized("identity.expires is too far ahead (at most " + max.String() + " from now): sign it with a shorter lifetime")
	}
	return nil
}
