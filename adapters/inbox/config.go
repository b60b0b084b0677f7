package inbox

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/crypto/bcrypt"

	"github.com/chatbridge/chatbridge/bridge"
)

// Config configures the inbox. Zero values take the defaults.
type Config struct {
	// Operators who may log in. With none, nobody can, unless GenerateAdmin.
	Operators []OperatorAccount
	// GenerateAdmin makes New create one operator "admin" with a random
	// password (see Inbox.GeneratedPassword) when Operators is empty. The
	// serve command sets it only when a person reads its output on a
	// terminal: the password is shown there once and never logged.
	GenerateAdmin bool
	// PublicURL is the server's base URL; when it is https, the session
	// cookie is marked Secure.
	PublicURL string
	// SessionTTL is how long a login lasts (default DefaultSessionTTL).
	SessionTTL time.Duration
	// TrustProxyHeaders makes the login rate limit count failures under the
	// right-most X-Forwarded-For address (the client the nearest reverse
	// proxy saw) instead of the TCP peer, as visitor.trust_proxy_headers does
	// for the visitor API. Set it only behind a proxy that appends that
	// header: otherwise clients can pick their own address.
	TrustProxyHeaders bool
	// Language renders system lines ("… ended the chat.") for operators
	// (bridge.SystemLanguages; default English).
	Language string
	// Blobs keeps the bytes of files: operators' uploads go in, and the
	// files of messages are served from it to logged-in operators. Nil:
	// no uploads, files are listed without their bytes.
	Blobs bridge.BlobStore
	// MaxFileBytes caps an operator's upload (default 10 MiB).
	MaxFileBytes int64
	// TempDir holds uploads while they are checked (default os.TempDir()).
	TempDir string
}

// OperatorAccount is one operator allowed to log into the inbox.
type OperatorAccount struct {
	// Login is the user name typed on the login page (matched without regard
	// to case) and the operator's id (bridge.Operator.ID): up to 64
	// characters, no white space or control characters.
	Login string
	// Name is the display name shown to visitors (default: Login).
	Name string
	// PasswordHash is a bcrypt hash, as HashPassword makes.
	PasswordHash string
}

// Defaults of Config.
const (
	DefaultSessionTTL   = 12 * time.Hour
	DefaultMaxFileBytes = 10 << 20
)

// HashPassword returns the bcrypt hash of pw to put in the configuration.
func HashPassword(pw string) (string, error) {
	if pw == "" {
		return "", errors.New("hash password: empty password")
	}
	h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.DefaultCost)
	if err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	return string(h), nil
}

// Validate reports every problem of cfg at once, each naming its
// bridge.toml key.
func (cfg Config) Validate() []error {
	var errs []error
	if cfg.SessionTTL < 0 {
		errs = append(errs, fmt.Errorf("inbox.session_ttl: must not be negative"))
	}
	if cfg.Language != "" && !slices.Contains(bridge.SystemLanguages, cfg.Language) {
		errs = append(errs, fmt.Errorf("inbox.language: %q is not one of %s", cfg.Language, strings.Join(bridge.SystemLanguages, ", ")))
	}
	if cfg.MaxFileBytes < 0 || cfg.MaxFileBytes > 1<<30 {
		errs = append(errs, fmt.Errorf("files.max_bytes: must be between 0 and 1 GB"))
	}
	if cfg.PublicURL != "" {
		u, err := url.Parse(cfg.PublicURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("server.public_url: %q is not an http(s) URL", cfg.PublicURL))
		}
	}
	seen := map[string]bool{}
	for i, op := range cfg.Operators {
		key := fmt.Sprintf("inbox.operators[%d]", i)
		lower := strings.ToLower(op.Login)
		if !validLogin(op.Login) {
			errs = append(errs, fmt.Errorf("%s.login: %q must be 1 to 64 characters without white space or control characters", key, op.Login))
		} else if seen[lower] {
			errs = append(errs, fmt.Errorf("%s.login: %q is configured twice", key, op.Login))
		}
		seen[lower] = true
		if _, err := bcrypt.Cost([]byte(op.PasswordHash)); err != nil {
			errs = append(errs, fmt.Errorf("%s.password_hash: not a bcrypt hash (make one with `chatbridge inbox hash-password`)", key))
		}
	}
	return errs
}

// defaults fills in zero fields: the session lifetime and operators'
// display names.
func (cfg *Config) defaults() {
	if cfg.SessionTTL == 0 {
		cfg.SessionTTL = DefaultSessionTTL
	}
	if cfg.MaxFileBytes == 0 {
		cfg.MaxFileBytes = DefaultMaxFileBytes
	}
	ops := make([]OperatorAccount, len(cfg.Operators))
	for i, op := range cfg.Operators {
		op.Name = strings.TrimSpace(op.Name)
		if op.Name == "" {
			op.Name = op.Login
		}
		ops[i] = op
	}
	cfg.Operators = ops
}

func validLogin(s string) bool {
	if s == "" || !utf8.ValidString(s) || utf8.RuneCountInString(s) > 64 {
		return false
	}
	return !strings.ContainsFunc(s, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) })
}

// randomString returns n random bytes, base64url-encoded.
func randomString(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return base64.RawURLEncoding.EncodeToString(b)
}
