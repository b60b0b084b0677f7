package matrix

import (
	"errors"
	"fmt"
	"net/url"
	"strings"

	"maunium.net/go/mautrix/id"
)

// Config configures the Matrix client bot. The TOML keys are given in
// brackets (section [matrix]).
type Config struct {
	// HomeserverURL is the client-server API base URL
	// ("https://matrix.example.org") [homeserver_url].
	HomeserverURL string
	// UserID is the bot's Matrix user id ("@chatbridge:example.org")
	// [user_id].
	UserID string
	// AccessToken is the bot's access token [access_token]; a secret
	// (environment CHATBRIDGE_MATRIX_ACCESS_TOKEN), never logged.
	AccessToken string
	// Operators are the Matrix user ids invited to every new room
	// [operators]. A bare localpart ("alice") is on ServerName.
	Operators []string
	// ServerName qualifies bare operator localparts [server_name]; default:
	// the server part of UserID.
	ServerName string
	// RoomName names new rooms; "{visitor}" is replaced by the visitor's
	// name [room_name]. Default DefaultRoomName.
	RoomName string
}

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
	} else if u, err := url.Parse(cfg.HomeserverURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		bad("homeserver_url", "%q is not an absolute http(s) URL", cfg.HomeserverURL)
	}
	server := cfg.ServerName
	switch _, hs, err := id.UserID(cfg.UserID).ParseAndValidateRelaxed(); {
	case cfg.UserID == "":
		bad("user_id", "is required (the bot's user id, like @chatbridge:example.org)")
	case err != nil:
		bad("user_id", "%q is not a Matrix user id (@name:server)", cfg.UserID)
	case server == "":
		server = hs
	}
	if cfg.AccessToken == "" {
		bad("access_token", "is required (or set CHATBRIDGE_MATRIX_ACCESS_TOKEN)")
	} else if strings.ContainsAny(cfg.AccessToken, " \t\r\n") {
		bad("access_token", "contains white space")
	}
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
		if uid == id.UserID(cfg.UserID) {
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
	return errs
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
	server := cfg.ServerName
	if server == "" {
		server = id.UserID(cfg.UserID).Homeserver()
	}
	out := make([]id.UserID, 0, len(cfg.Operators))
	for _, op := range cfg.Operators {
		if uid, err := qualify(op, server); err == nil {
			out = append(out, uid)
		}
	}
	return out
}
