package matrix

import (
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/chatbridge/chatbridge/bridge"
	"maunium.net/go/mautrix/id"
)

// Modes of the adapter (Config.Mode).
const (
	// ModeBot is a client bot: an ordinary account with an access token
	// that syncs with the homeserver.
	ModeBot = "bot"
	// ModeAppservice is an application service: the homeserver pushes
	// transactions to chatbridge, and visitors appear as ghost users.
	ModeAppservice = "appservice"
)

// Defaults of the appservice settings.
const (
	// DefaultGhostPrefix starts the localpart of every visitor's ghost user
	// ("@livechat_v_abc:example.org").
	DefaultGhostPrefix = "livechat_"
	// DefaultAppserviceID is the registration's id.
	DefaultAppserviceID = "chatbridge"
)

// Config configures the Matrix adapter. The TOML keys are given in
// brackets (section [matrix]).
type Config struct {
	// Mode is ModeBot (default, also "") or ModeAppservice [mode].
	Mode string
	// HomeserverURL is the client-server API base URL
	// ("https://matrix.example.org") [homeserver_url].
	HomeserverURL string
	// UserID is the bot's Matrix user id ("@chatbridge:example.org")
	// [user_id]. In appservice mode it may be left out when
	// SenderLocalpart and ServerName are given.
	UserID string
	// AccessToken is the bot's access token [access_token]; a secret
	// (environment CHATBRIDGE_MATRIX_ACCESS_TOKEN), never logged. Bot mode
	// only.
	AccessToken string
	// ASToken is the appservice's token towards the homeserver
	// [as_token]; a secret. Appservice mode only.
	ASToken string
	// HSToken is the token the homeserver sends with its transactions
	// [hs_token]; a secret. Appservice mode only.
	HSToken string
	// SenderLocalpart is the localpart of the appservice's own user, the
	// bot [sender_localpart]; default: the localpart of UserID.
	SenderLocalpart string
	// GhostPrefix starts the localparts of the visitors' ghost users
	// [ghost_prefix]; default DefaultGhostPrefix. Appservice mode only.
	GhostPrefix string
	// AppserviceURL is where the homeserver reaches chatbridge's
	// appservice API ("http://chatbridge.internal:8080") [appservice_url];
	// used only in the registration file.
	AppserviceURL string
	// AppserviceID is the registration's id [appservice_id]; default
	// DefaultAppserviceID.
	AppserviceID string
	// Operators are the Matrix user ids invited to every new room
	// [operators]. A bare localpart ("alice") is on ServerName.
	Operators []string
	// ServerName qualifies bare operator localparts [server_name]; default:
	// the server part of UserID.
	ServerName string
	// RoomName names new rooms; "{visitor}" is replaced by the visitor's
	// name [room_name]. Default DefaultRoomName.
	RoomName string
	// ForwardTyping shows operators typing in a room to the visitor
	// [forward_typing]; nil (not set) means true. Matrix typing
	// notifications carry no text, so the visitor also sees "typing" while
	// an operator writes a ";; note" or a command; false hides operators'
	// typing from visitors altogether.
	ForwardTyping *bool
	// OperatorPowerLevel, when set, makes every member of a conversation's
	// room whose power level there is at least this an operator too
	// [operator_power_level]. Only operators reach the visitor: anyone
	// else who writes in the room (a guest, another bot) is told that
	// their message was not sent. nil (not set): the Operators only.
	OperatorPowerLevel *int
	// Blobs keeps the bytes of files (the app's blob store): visitors'
	// files are uploaded from it into rooms, operators' files are stored
	// in it. nil: files are not carried (operators are told).
	Blobs bridge.BlobStore
	// MaxFileBytes is the largest file an operator may send to a visitor
	// ([files] max_bytes); 0 means DefaultMaxFileBytes.
	MaxFileBytes int64
	// Language renders system lines for the operators
	// (bridge.SystemLanguages; default English).
	Language string
}

// DefaultMaxFileBytes is the default Config.MaxFileBytes.
const DefaultMaxFileBytes = 10 << 20

// forwardTyping reports whether operators' typing reaches the visitor.
func (cfg Config) forwardTyping() bool { return cfg.ForwardTyping == nil || *cfg.ForwardTyping }

// DefaultRoomName is the default Config.RoomName.
const DefaultRoomName = "Chat with {visitor}"

// Validate reports every problem of cfg at once, each prefixed with its
// configuration key ("matrix.homeserver_url: …").
func (cfg Config) Validate() []error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("matrix.%s: "+format, append([]any{key}, args...)...))
	}
	if cfg.HomeserverURL == "" {
		bad("homeserver_url", "is required")
	} else if !httpURL(cfg.HomeserverURL) {
		bad("homeserver_url", "%q is not an absolute http(s) URL", cfg.HomeserverURL)
	}
	switch cfg.Mode {
	case "", ModeBot:
		errs = append(errs, cfg.validateBot()...)
	case ModeAppservice:
		errs = append(errs, cfg.validateAppservice()...)
	default:
		bad("mode", "%q is neither %q nor %q", cfg.Mode, ModeBot, ModeAppservice)
	}
	server := cfg.server()
	if cfg.ServerName != "" && !validServerName(cfg.ServerName) {
		bad("server_name", "%q is not a server name (example.org)", cfg.ServerName)
	}
	seen := map[string]bool{}
	for i, op := range cfg.Operators {
		key := fmt.Sprintf("operators[%d]", i)
		uid, err := qualify(op, server)
		if err != nil {
			bad(key, "%v", err)
			continue
		}
		if uid == cfg.botID() {
			bad(key, "%q is the bot itself", op)
		}
		if seen[string(uid)] {
			bad(key, "%q is listed twice", op)
		}
		seen[string(uid)] = true
	}
	if cfg.RoomName != "" && strings.TrimSpace(cfg.RoomName) == "" {
		bad("room_name", "is blank")
	}
	if cfg.OperatorPowerLevel != nil && *cfg.OperatorPowerLevel < 0 {
		bad("operator_power_level", "%d is negative", *cfg.OperatorPowerLevel)
	}
	if cfg.MaxFileBytes < 0 {
		errs = append(errs, fmt.Errorf("files.max_bytes: %d is negative", cfg.MaxFileBytes))
	}
	return errs
}

// validateBot checks the client bot's account.
func (cfg Config) validateBot() []error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("matrix.%s: "+format, append([]any{key}, args...)...))
	}
	switch _, _, err := id.UserID(cfg.UserID).ParseAndValidateRelaxed(); {
	case cfg.UserID == "":
		bad("user_id", "is required (the bot's user id, like @chatbridge:example.org)")
	case err != nil:
		bad("user_id", "%q is not a Matrix user id (@name:server)", cfg.UserID)
	}
	if cfg.AccessToken == "" {
		bad("access_token", "is required (or set CHATBRIDGE_MATRIX_ACCESS_TOKEN)")
	} else if strings.ContainsAny(cfg.AccessToken, " \t\r\n") {
		bad("access_token", "contains white space")
	}
	return errs
}

// validateAppservice checks the appservice settings.
func (cfg Config) validateAppservice() []error {
	errs := cfg.identityErrors()
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("matrix.%s: "+format, append([]any{key}, args...)...))
	}
	if cfg.AppserviceURL != "" && !httpURL(cfg.AppserviceURL) {
		bad("appservice_url", "%q is not an absolute http(s) URL", cfg.AppserviceURL)
	}
	return errs
}

// identityErrors checks what the registration file and the homeserver
// need to know about the appservice: its user, tokens and ghost prefix.
func (cfg Config) identityErrors() []error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("matrix.%s: "+format, append([]any{key}, args...)...))
	}
	if cfg.UserID != "" {
		local, _, err := id.UserID(cfg.UserID).ParseAndValidateRelaxed()
		switch {
		case err != nil:
			bad("user_id", "%q is not a Matrix user id (@name:server)", cfg.UserID)
		case cfg.SenderLocalpart != "" && cfg.SenderLocalpart != local:
			bad("sender_localpart", "%q is not the localpart of user_id %q", cfg.SenderLocalpart, cfg.UserID)
		}
	} else if cfg.SenderLocalpart == "" || cfg.ServerName == "" {
		bad("user_id", "is required (the appservice's user, like @chatbridge:example.org), or give sender_localpart and server_name")
	} else if !validLocalpart(cfg.SenderLocalpart) {
		bad("sender_localpart", "%q is not a user id localpart (a-z, 0-9, ._=-/)", cfg.SenderLocalpart)
	}
	for _, tok := range []struct{ key, value string }{{"as_token", cfg.ASToken}, {"hs_token", cfg.HSToken}} {
		switch {
		case tok.value == "":
			bad(tok.key, "is required in appservice mode (the same value as in the registration file)")
		case strings.ContainsAny(tok.value, " \t\r\n"):
			bad(tok.key, "contains white space")
		}
	}
	if cfg.ASToken != "" && cfg.ASToken == cfg.HSToken {
		bad("hs_token", "must differ from as_token")
	}
	if p := cfg.ghostPrefix(); !validLocalpart(p) {
		bad("ghost_prefix", "%q is not the start of a user id localpart (a-z, 0-9, ._=-/)", p)
	} else if local := cfg.botID().Localpart(); local != "" && strings.HasPrefix(local, p) {
		bad("ghost_prefix", "%q would make the appservice's own user a ghost", p)
	}
	return errs
}

// appservice reports whether cfg is in appservice mode.
func (cfg Config) appservice() bool { return cfg.Mode == ModeAppservice }

// server is the homeserver's name: ServerName, else UserID's server; ""
// when neither is known.
func (cfg Config) server() string {
	if cfg.ServerName != "" {
		return cfg.ServerName
	}
	if _, hs, err := id.UserID(cfg.UserID).ParseAndValidateRelaxed(); err == nil {
		return hs
	}
	return ""
}

// botID is the bot's user id: UserID, else @SenderLocalpart:ServerName.
func (cfg Config) botID() id.UserID {
	if cfg.UserID != "" {
		return id.UserID(cfg.UserID)
	}
	if cfg.SenderLocalpart == "" || cfg.ServerName == "" {
		return ""
	}
	return id.NewUserID(cfg.SenderLocalpart, cfg.ServerName)
}

func (cfg Config) ghostPrefix() string {
	if cfg.GhostPrefix == "" {
		return DefaultGhostPrefix
	}
	return cfg.GhostPrefix
}

// httpURL reports whether s is an absolute http(s) URL.
func httpURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

// validLocalpart accepts the characters of (new) user id localparts.
func validLocalpart(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || strings.ContainsRune("._=-/", r)) {
			return false
		}
	}
	return true
}

// validServerName accepts host[:port] (the part after ':' in user ids).
func validServerName(s string) bool {
	_, _, err := id.UserID("@x:" + s).ParseAndValidateRelaxed()
	return err == nil
}

// qualify turns an operator entry into a user id.
func qualify(op, server string) (id.UserID, error) {
	op = strings.TrimSpace(op)
	if op == "" {
		return "", errors.New("is empty")
	}
	if !strings.HasPrefix(op, "@") {
		if server == "" {
			return "", fmt.Errorf("%q is not a user id and there is no server name to qualify it", op)
		}
		op = "@" + op + ":" + server
	}
	uid := id.UserID(op)
	if _, _, err := uid.ParseAndValidateRelaxed(); err != nil {
		return "", fmt.Errorf("%q is not a Matrix user id (@name:server)", op)
	}
	return uid, nil
}

// operators returns the qualified operator ids (cfg is valid).
func (cfg Config) operators() []id.UserID {
	server := cfg.server()
	out := make([]id.UserID, 0, len(cfg.Operators))
	for _, op := range cfg.Operators {
		if uid, err := qualify(op, server); err == nil {
			out = append(out, uid)
		}
	}
	return out
}
