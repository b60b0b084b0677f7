package bridge

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// NewID returns a random identifier with a prefix ("c_…", "v_…").
func NewID(prefix string) string {
	var b [10]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return prefix + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b[:]))
}

// NewToken returns a random bearer token and the hash to store for it.
func NewToken() (token string, hash []byte) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	token = base64.RawURLEncoding.EncodeToString(b[:])
	return token, HashToken(token)
}

// HashToken is how tokens are stored: only their SHA-256.
func HashToken(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

// CheckText validates message text: valid UTF-8, not blank, within max
// bytes. It returns the text with surrounding white space trimmed.
func CheckText(text string, max int) (string, error) {
	if !utf8.ValidString(text) {
		return "", fmt.Errorf("%w: text is not valid UTF-8", ErrInvalid)
	}
	if strings.ContainsRune(text, 0) {
		return "", fmt.Errorf("%w: text contains a NUL character", ErrInvalid)
	}
	if len(text) > max {
		return "", fmt.Errorf("%w: %w: text is %d bytes, the limit is %d", ErrInvalid, ErrTooLarge, len(text), max)
	}
	text = strings.TrimSpace(text)
	if text == "" {
		return "", fmt.Errorf("%w: text is empty", ErrInvalid)
	}
	return text, nil
}

// ErrTooLarge: the input exceeds a size limit (wrapped with ErrInvalid).
var ErrTooLarge = errors.New("too large")

func preview(text string) string {
	const n = 140
	if len(text) <= n {
		return text
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(text[cut]) {
		cut--
	}
	return text[:cut] + "…"
}
