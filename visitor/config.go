package visitor

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/chatbridge/chatbridge/bridge"
)

// Config is the [visitor] section of bridge.toml (plus server.public_url) as
// plain values. Zero numeric and duration fields take the defaults below;
// negative ones are invalid.
type Config struct {
	// PublicURL is the server's own base URL ("https://chat.example.com").
	// Its origin is always allowed. When empty, requests whose Origin names
	// the request's own Host are allowed instead.
	PublicURL string
	// AllowedOrigins lists the site origins that may call the API and open
	// the stream, as "scheme://host[:port]". A host starting with "*."
	// matches any subdomain ("https://*.example.com"). Requests without an
	// Origin header (curl, same-origin navigations) are always allowed.
	AllowedOrigins []string
	// MaxMessageBytes caps a message's text (default 10,000).
	MaxMessageBytes int
	// MessagesPerMinute limits visitor messages per conversation (default 30).
	MessagesPerMinute int
	// SessionsPerIPPerHour limits new sessions per client IP (default 30).
	SessionsPerIPPerHour int
	// ConversationsPerIPPerDay limits new conversations per client IP
	// (default 20).
	ConversationsPerIPPerDay int
	// PageviewsPerMinute limits recorded page views per visitor (default 60).
	PageviewsPerMinute int
	// LongPollMax caps the wait of GET /api/v1/messages (default 30 s).
	LongPollMax time.Duration
	// WSMaxFrameBytes caps a message received on the stream (default 65,536).
	WSMaxFrameBytes int64
	// IdentitySecret is the HMAC key sites sign identities with; empty
	// disables signed identities.
	IdentitySecret string
	// IdentityMaxLifetime refuses identities whose expires is further ahead
	// than this (default 24 h): a signed identity that leaks must not work
	// for years.
	IdentityMaxLifetime time.Duration
	// TrustProxyHeaders takes the client IP from X-Forwarded-For (the
	// address the nearest proxy saw) instead of the TCP peer.
	TrustProxyHeaders bool

	// HelloTimeout is how long the stream waits for the hello frame
	// (default 10 s). Not in bridge.toml.
	HelloTimeout time.Duration
	// PingInterval is how often the stream pings an idle client (default
	// 30 s). Not in bridge.toml.
	PingInterval time.Duration

	// VisitorUpdatesPerMinute limits name and e-mail changes (POST/PATCH
	// /api/v1/visitor) per visitor (default 10). Each one is a durable write
	// and an event for every operator view. Not in bridge.toml.
	VisitorUpdatesPerMinute int
	// MaxConnsPerVisitor caps a visitor's concurrent live connections:
	// streams (after their hello) plus long polls (default 8). Not in
	// bridge.toml.
	MaxConnsPerVisitor int
	// MaxConnsPerIP caps the concurrent live connections from one client
	// IP (an IPv6 /64): streams, including those still waiting for their
	// hello, plus long polls (default 64). Behind a reverse proxy every
	// client shares the proxy's address unless TrustProxyHeaders is set.
	// Not in bridge.toml.
	MaxConnsPerIP int

	// Blobs keeps the bytes of files (files.storage); nil disables uploads
	// and file links. Not in bridge.toml.
	Blobs bridge.BlobStore
	// MaxFileBytes caps one file (files.max_bytes, default 10 MiB).
	MaxFileBytes int64
	// FilesPerConversationPerDay caps the files a visitor sends in one
	// conversation in a day (files.per_conversation_per_day, default 20);
	// FileBytesPerConversationPerDay their total size
	// (files.bytes_per_conversation_per_day, default 50 MiB).
	FilesPerConversationPerDay     int
	FileBytesPerConversationPerDay int64
	// KeepMetadata keeps the location and other metadata of visitors'
	// photos (files.strip_metadata = false); by default it is removed.
	KeepMetadata bool
	// UploadsPerMinute limits upload attempts per visitor (default 10);
	// UploadsPerIPPerHour per client IP (default 120). Refused files count
	// too. Not in bridge.toml.
	UploadsPerMinute    int
	UploadsPerIPPerHour int
	// FileURLTTL is how long a file link in a message works after it was
	// read (default 1 h). Not in bridge.toml.
	FileURLTTL time.Duration
	// FileSecret signs file links; empty: a random key kept in the store.
	// Not in bridge.toml.
	FileSecret []byte
	// TempDir holds uploads while they are checked (default os.TempDir()).
	TempDir string
}

// Defaults of Config, matching bridge.example.toml.
const (
	DefaultMaxMessageBytes          = 10000
	DefaultMessagesPerMinute        = 30
	DefaultSessionsPerIPPerHour     = 30
	DefaultConversationsPerIPPerDay = 20
	DefaultPageviewsPerMinute       = 60
	DefaultLongPollMax              = 30 * time.Second
	DefaultWSMaxFrameBytes          = 65536
	DefaultHelloTimeout             = 10 * time.Second
	DefaultPingInterval             = 30 * time.Second
	DefaultVisitorUpdatesPerMinute  = 10
	DefaultMaxConnsPerVisitor       = 8
	DefaultMaxConnsPerIP            = 64
	DefaultIdentityMaxLifetime      = 24 * time.Hour

	DefaultMaxFileBytes                   = 10 << 20
	DefaultFilesPerConversationPerDay     = 20
	DefaultFileBytesPerConversationPerDay = 50 << 20
	DefaultUploadsPerMinute               = 10
	DefaultUploadsPerIPPerHour            = 120
	DefaultFileURLTTL                     = time.Hour
)

// withDefaults returns c with zero fields set to their defaults.
func (c Config) withDefaults() Config {
	setInt := func(p *int, d int) {
		if *p == 0 {
			*p = d
		}
	}
	setDur := func(p *time.Duration, d time.Duration) {
		if *p == 0 {
			*p = d
		}
	}
	setInt(&c.MaxMessageBytes, DefaultMaxMessageBytes)
	setInt(&c.MessagesPerMinute, DefaultMessagesPerMinute)
	setInt(&c.SessionsPerIPPerHour, DefaultSessionsPerIPPerHour)
	setInt(&c.ConversationsPerIPPerDay, DefaultConversationsPerIPPerDay)
	setInt(&c.PageviewsPerMinute, DefaultPageviewsPerMinute)
	setInt(&c.VisitorUpdatesPerMinute, DefaultVisitorUpdatesPerMinute)
	setInt(&c.MaxConnsPerVisitor, DefaultMaxConnsPerVisitor)
	setInt(&c.MaxConnsPerIP, DefaultMaxConnsPerIP)
	setDur(&c.LongPollMax, DefaultLongPollMax)
	setDur(&c.HelloTimeout, DefaultHelloTimeout)
	setDur(&c.PingInterval, DefaultPingInterval)
	setDur(&c.IdentityMaxLifetime, DefaultIdentityMaxLifetime)
	setInt(&c.FilesPerConversationPerDay, DefaultFilesPerConversationPerDay)
	setInt(&c.UploadsPerMinute, DefaultUploadsPerMinute)
	setInt(&c.UploadsPerIPPerHour, DefaultUploadsPerIPPerHour)
	setDur(&c.FileURLTTL, DefaultFileURLTTL)
	if c.MaxFileBytes == 0 {
		c.MaxFileBytes = DefaultMaxFileBytes
	}
	if c.FileBytesPerConversationPerDay == 0 {
		c.FileBytesPerConversationPerDay = DefaultFileBytesPerConversationPerDay
	}
	if c.WSMaxFrameBytes == 0 {
		c.WSMaxFrameBytes = DefaultWSMaxFrameBytes
	}
	return c
}

// Validate reports every problem of c at once, each naming its bridge.toml
// key. A nil result means c is usable.
func (c Config) Validate() []error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...)))
	}
	if c.PublicURL != "" {
		if _, err := parseOrigin(c.PublicURL, true); err != nil {
			bad("server.public_url", "%v", err)
		}
	}
	for i, o := range c.AllowedOrigins {
		if _, err := parseOrigin(o, false); err != nil {
			bad(fmt.Sprintf("visitor.allowed_origins[%d]", i), "%v", err)
		}
	}
	for _, f := range []struct {
		key string
		v   int64
	}{
		{"visitor.max_message_bytes", int64(c.MaxMessageBytes)},
		{"visitor.messages_per_minute", int64(c.MessagesPerMinute)},
		{"visitor.sessions_per_ip_per_hour", int64(c.SessionsPerIPPerHour)},
		{"visitor.conversations_per_ip_per_day", int64(c.ConversationsPerIPPerDay)},
		{"visitor.pageviews_per_minute", int64(c.PageviewsPerMinute)},
		{"visitor.ws_max_frame_bytes", c.WSMaxFrameBytes},
		{"visitor.long_poll_max", int64(c.LongPollMax)},
		{"visitor.hello_timeout", int64(c.HelloTimeout)},
		{"visitor.ping_interval", int64(c.PingInterval)},
		{"visitor.visitor_updates_per_minute", int64(c.VisitorUpdatesPerMinute)},
		{"visitor.max_conns_per_visitor", int64(c.MaxConnsPerVisitor)},
		{"visitor.max_conns_per_ip", int64(c.MaxConnsPerIP)},
		{"visitor.identity_max_lifetime", int64(c.IdentityMaxLifetime)},
		{"files.max_bytes", c.MaxFileBytes},
		{"files.per_conversation_per_day", int64(c.FilesPerConversationPerDay)},
		{"files.bytes_per_conversation_per_day", c.FileBytesPerConversationPerDay},
		{"visitor.uploads_per_minute", int64(c.UploadsPerMinute)},
		{"visitor.uploads_per_ip_per_hour", int64(c.UploadsPerIPPerHour)},
		{"visitor.file_url_ttl", int64(c.FileURLTTL)},
	} {
		if f.v < 0 {
			bad(f.key, "must not be negative")
		}
	}
	if c.MaxMessageBytes > 1<<20 {
		bad("visitor.max_message_bytes", "%d is above the 1 MiB limit", c.MaxMessageBytes)
	}
	d := c.withDefaults()
	if d.WSMaxFrameBytes < int64(d.MaxMessageBytes)+512 && c.WSMaxFrameBytes > 0 {
		bad("visitor.ws_max_frame_bytes", "%d is too small for max_message_bytes %d", c.WSMaxFrameBytes, d.MaxMessageBytes)
	}
	if c.MaxFileBytes > 1<<30 {
		bad("files.max_bytes", "must be at most 1 GB (1073741824)")
	}
	if len(c.FileSecret) > 0 && len(c.FileSecret) < 16 {
		bad("FileSecret", "must be at least 16 bytes")
	}
	if c.LongPollMax > 10*time.Minute {
		bad("visitor.long_poll_max", "%s is above 10m", c.LongPollMax)
	}
	return errs
}

// origin is a parsed allow-list entry.
type origin struct {
	scheme string
	host   string // lower case, default port removed; "*.example.com" for wildcards
}

func (o origin) String() string { return o.scheme + "://" + o.host }

// parseOrigin parses "scheme://host[:port]". A path other than "/" is an
// error for allow-list entries; for the public URL (base) it is ignored.
func parseOrigin(s string, base bool) (origin, error) {
	u, err := url.Parse(strings.TrimSpace(s))
	if err != nil {
		return origin{}, fmt.Errorf("%q is not a URL", s)
	}
	scheme := strings.ToLower(u.Scheme)
	if scheme != "http" && scheme != "https" {
		return origin{}, fmt.Errorf("%q: scheme must be http or https", s)
	}
	if u.Host == "" || u.User != nil {
		return origin{}, fmt.Errorf("%q: want scheme://host[:port]", s)
	}
	if !base && ((u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "") {
		return origin{}, fmt.Errorf("%q: an origin has no path, query or fragment", s)
	}
	host := strings.ToLower(u.Host)
	if strings.HasPrefix(host, "*.") && base {
		return origin{}, errors.New("the public URL cannot be a wildcard")
	}
	if strings.Contains(strings.TrimPrefix(host, "*."), "*") {
		return origin{}, fmt.Errorf("%q: only a leading \"*.\" wildcard is supported", s)
	}
	host = strings.TrimSuffix(host, defaultPort(scheme))
	return origin{scheme: scheme, host: host}, nil
}

func defaultPort(scheme string) string {
	if scheme == "https" {
		return ":443"
	}
	return ":80"
}
