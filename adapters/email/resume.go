package email

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/chatbridge/chatbridge/bridge"
)

// ErrBadCode: a resume code is malformed, forged or expired.
var ErrBadCode = errors.New("invalid or expired resume code")

// ErrCodeUsed: a valid resume code that was already used once. The visitor
// needs a new link (the next e-mail brings one). It wraps
// bridge.ErrAlreadyUsed, which the widget's resume endpoint answers with
// 410.
var ErrCodeUsed = fmt.Errorf("resume code: %w", bridge.ErrAlreadyUsed)

// State keys under the "email" namespace.
const (
	stateNS        = "email"
	keySecret      = "resume_secret"
	secretBytes    = 32
	codeMACBytes   = 32
	maxCodeLength  = 256
	resumeParam    = "chatbridge_resume"
	codeSeparator  = "."
	macDomainLabel = "chatbridge-resume\x00"
)

// secret returns the HMAC key of resume codes: Config.Secret, or a random
// key kept in the store (created on first use, so codes survive restarts).
func (a *Adapter) secret(ctx context.Context) ([]byte, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.key != nil {
		return a.key, nil
	}
	fresh := make([]byte, secretBytes)
	if _, err := rand.Read(fresh); err != nil {
		return nil, fmt.Errorf("resume secret: %w", err)
	}
	var key []byte
	err := a.engine.UpdateAdapterState(ctx, stateNS, keySecret, func(old []byte, found bool) ([]byte, bool) {
		if found && len(old) >= 16 {
			key = old
			return nil, false
		}
		key = fresh
		return fresh, true
	})
	if err != nil {
		return nil, fmt.Errorf("resume secret: %w", err)
	}
	a.key = key
	return key, nil
}

func codeMAC(key []byte, visitorID, exp string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(macDomainLabel + visitorID + "\x00" + exp))
	return m.Sum(nil)
}

// ResumeCode returns a code that lets whoever holds it continue visitorID's
// conversation until Config.ResumeTTL from now. It goes into resume links.
func (a *Adapter) ResumeCode(ctx context.Context, visitorID string) (string, error) {
	if visitorID == "" || strings.Contains(visitorID, codeSeparator) {
		return "", fmt.Errorf("resume code: %w: bad visitor id %q", bridge.ErrInvalid, visitorID)
	}
	key, err := a.secret(ctx)
	if err != nil {
		return "", err
	}
	exp := strconv.FormatInt(a.now().Add(a.cfg.ResumeTTL).Unix(), 36)
	mac := base64.RawURLEncoding.EncodeToString(codeMAC(key, visitorID, exp))
	return visitorID + codeSeparator + exp + codeSeparator + mac, nil
}

// VerifyResume checks a resume code, uses it up and returns its visitor id.
// Forged, altered and expired codes give an error wrapping ErrBadCode; a
// code used before, ErrCodeUsed: a link works once, so a forwarded or
// leaked e-mail does not open the conversation to whoever reads it later.
// It has the signature visitor.WidgetConfig.Resume expects.
func (a *Adapter) VerifyResume(ctx context.Context, code string) (string, error) {
	if len(code) > maxCodeLength {
		return "", ErrBadCode
	}
	parts := strings.Split(code, codeSeparator)
	if len(parts) != 3 || parts[0] == "" {
		return "", ErrBadCode
	}
	visitorID, exp, sig := parts[0], parts[1], parts[2]
	expUnix, err := strconv.ParseInt(exp, 36, 64)
	if err != nil {
		return "", ErrBadCode
	}
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil || len(got) != codeMACBytes {
		return "", ErrBadCode
	}
	key, err := a.secret(ctx)
	if err != nil {
		return "", err
	}
	if subtle.ConstantTimeCompare(got, codeMAC(key, visitorID, exp)) != 1 {
		return "", ErrBadCode
	}
	expires := time.Unix(expUnix, 0)
	if !a.now().Before(expires) {
		return "", fmt.Errorf("%w: expired", ErrBadCode)
	}
	// Remembered until the code expires anyway (then purged); the key is
	// the MAC, which no one can make without the secret.
	first, err := a.engine.Claim(ctx, "email/resume/"+sig, expires)
	if err != nil {
		return "", fmt.Errorf("resume code: %w", err)
	}
	if !first {
		return "", ErrCodeUsed
	}
	return visitorID, nil
}

// resumeLink is the link to the conversation for an e-mail: ResumeURL with
// the code added to its query.
func (a *Adapter) resumeLink(code string) string {
	u := *a.resumeURL
	q := u.Query()
	q.Set(resumeParam, code)
	u.RawQuery = q.Encode()
	return u.String()
}
