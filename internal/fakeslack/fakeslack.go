package fakeslack

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// Identities and credentials of the fake workspace.
const (
	// BotToken is the only bot token (xoxb-) the Web API accepts.
	BotToken = "xoxb-test"
	// AppToken is the only app-level token (xapp-) apps.connections.open accepts.
	AppToken = "xapp-test"
	// BotUserID is the bot's user id, as auth.test answers it.
	BotUserID = "UBOT"
	// BotID is the bot's bot id.
	BotID = "BBOT"
	// AppID is the Slack app's id.
	AppID = "ABOT"
	// TeamID is the workspace's id.
	TeamID = "T1"
	// DefaultChannel is the support channel's id, Server.Channel.
	DefaultChannel = "CSUPPORT"
	// DefaultScopes are the bot token's scopes unless SetScopes changes
	// them: what chatbridge's manifest asks for, except
	// chat:write.customize (tests of custom usernames add it).
	DefaultScopes = "chat:write,channels:history,groups:history,users:read,files:read,files:write,im:write,reactions:write"
)

// Post is a message the fake stored, or an ephemeral message it showed,
// as it is now (after updates and deletions).
type Post struct {
	// Channel is the channel id (a "D…" id for a direct message).
	Channel string
	// TS is the message's timestamp (its id); ThreadTS the thread's root
	// timestamp, or "" for a top-level post.
	TS, ThreadTS string
	// User is the author (the bot user for the bot's posts), or the only
	// user who sees an ephemeral message.
	User string
	// Ephemeral is true for a chat.postEphemeral message.
	Ephemeral bool
	// Subtype is the message's subtype ("file_share" for a file).
	Subtype string
	// Text, Username, IconEmoji and Blocks (raw JSON) are as posted or
	// last updated.
	Text, Username, IconEmoji, Blocks string
	// Broadcast is reply_broadcast; UnfurlLinks is false only when the post
	// turned unfurling off.
	Broadcast, UnfurlLinks bool
	// MetaType and MetaID are the message metadata's event_type and
	// event_payload.id, if any.
	MetaType, MetaID string
	// Files are the ids of the message's files.
	Files []string
	// Edited is set once the message was updated; Deleted once deleted.
	Edited, Deleted bool
}

// File is a file of the fake workspace.
type File struct {
	ID, Name, Title, Mimetype string
	// User uploaded it.
	User string
	// Data are the bytes uploaded.
	Data []byte
	// Shares are the messages that share it.
	Shares []Share
	// Deleted is set by files.delete.
	Deleted bool
}

// Share is a message sharing a file.
type Share struct {
	Channel, TS, ThreadTS string
}

// Failure makes a coming call of a Web API method fail. Queue failures
// with FailNext; each call of Method takes the first one queued for it.
type Failure struct {
	// Method is the Web API method (default "chat.postMessage"), or
	// "url_private" for file downloads (Status only).
	Method string
	// Status answers with this HTTP status (429, 500, 503) and no body.
	Status int
	// RetryAfter is the Retry-After header sent with Status.
	RetryAfter string
	// Error answers ok:false with this error code.
	Error string
	// Lost does the work (stores the message, completes the upload) and
	// then loses the answer: Status is sent instead, or, when Status is 0,
	// the connection is closed without an answer (a timeout to the
	// client).
	Lost bool
	// When, if set, picks the calls the failure applies to by their
	// arguments (a part of a split message, a text). It is called with
	// the fake locked: it must not call the Server.
	When func(args url.Values) bool
}

// Upload is a file a user shares (ShareFile).
type Upload struct {
	Name, Title string
	Data        []byte
}

// UserMessage is a message a user posts (SayEvent, ShareFile).
type UserMessage struct {
	Channel, ThreadTS, User, Text string
	// EventID is the event's id (default: a new one).
	EventID string
}

// Server is a fake Slack: a Web API and a Socket Mode WebSocket on
// 127.0.0.1, stopped when the test ends.
type Server struct {
	// APIURL is the Web API base URL, ending in "/".
	APIURL string
	// Channel is the support channel's id; chat.postMessage accepts only it
	// and direct-message ("D…") channels.
	Channel string
	// BotUserID is the bot's user id (BotUserID).
	BotUserID string

	t      testing.TB
	srv    *httptest.Server
	done   chan struct{}
	notify chan struct{} // an event is pending

	mu        sync.Mutex
	scopes    string
	seq       int
	envSeq    int
	fileSeq   int
	msgs      []*message
	files     map[string]*file
	fileOrder []string
	users     map[string]string
	notMember map[string]bool
	calls     map[string]int
	acks      map[string]bool
	envelopes map[string][]byte // envelope id → payload, for Redeliver
	pending   [][]byte          // frames waiting for a Socket Mode connection
	conns     int
	echo      bool
	fileEvent bool
	failures  []Failure
	holds     map[string]chan struct{}
	answers   map[string]chan struct{} // HoldAnswer
	postTimes []time.Time
	reactions []string
	limit     rateLimit
	buckets   map[string]*bucket
}

// message is a stored message.
type message struct {
	Channel, TS, ThreadTS, User string
	Bot                         bool
	Ephemeral                   bool
	Subtype                     string
	Text, Username, IconEmoji   string
	Blocks                      json.RawMessage
	Broadcast, UnfurlLinks      bool
	MetaType                    string
	MetaPayload                 map[string]any
	Files                       []string
	ClientMsgID                 string
	EditedBy, EditedTS          string
	Attachments                 []map[string]any
	Deleted                     bool
}

// file is a stored file.
type file struct {
	ID, Name, Title, Mimetype string
	User                      string
	Length                    int
	Data                      []byte
	Uploaded, Completed       bool
	Created                   int64
	Shares                    []Share
	Deleted                   bool
}

// New starts a fake Slack on loopback; it stops when the test ends.
func New(t testing.TB) *Server {
	t.Helper()
	s := &Server{
		Channel: DefaultChannel, BotUserID: BotUserID,
		t: t, done: make(chan struct{}), notify: make(chan struct{}, 1),
		scopes: DefaultScopes, users: map[string]string{}, notMember: map[string]bool{},
		calls: map[string]int{}, acks: map[string]bool{}, envelopes: map[string][]byte{},
		files: map[string]*file{}, holds: map[string]chan struct{}{}, answers: map[string]chan struct{}{}, buckets: map[string]*bucket{},
		echo: true, limit: rateLimit{perSecond: DefaultPostsPerSecond, burst: DefaultPostBurst},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/api/{method}", s.api)
	mux.HandleFunc("/socket", s.socket)
	mux.HandleFunc("POST /upload/{id}", s.upload)
	mux.HandleFunc("GET /files-pri/{teamfile}/{name}", s.download)
	mux.HandleFunc("GET /files-pri/{teamfile}/download/{name}", s.download)
	mux.HandleFunc("GET /signin", s.signin)
	s.srv = httptest.NewServer(mux) // httptest listens on 127.0.0.1
	s.APIURL = s.srv.URL + "/api/"
	t.Cleanup(s.close)
	return s
}

func (s *Server) close() {
	select {
	case <-s.done:
	default:
		close(s.done)
	}
	s.srv.Close()
}

// SetUser makes users.info know user id with this display name; users.info
// answers user_not_found for others.
func (s *Server) SetUser(id, name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.users[id] = name
}

// SetScopes sets the token's comma-separated scopes: auth.test reports
// them, and a method whose scope is missing answers missing_scope.
func (s *Server) SetScopes(scopes string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.scopes = scopes
}

// SetNotInChannel makes chat.postEphemeral to user fail with
// user_not_in_channel.
func (s *Server) SetNotInChannel(user string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.notMember[user] = true
}

// SetEcho turns off (or on again) the events Slack sends about the bot's
// own posts, updates and deletions (on by default, as in Slack).
func (s *Server) SetEcho(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.echo = on
}

// SetFileSharedEvents makes ShareFile also send a file_shared event per
// file (an app subscribed to file_shared gets both).
func (s *Server) SetFileSharedEvents(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fileEvent = on
}

// FailNext queues failures for coming Web API calls.
func (s *Server) FailNext(fs ...Failure) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, f := range fs {
		if f.Method == "" {
			f.Method = "chat.postMessage"
		}
		s.failures = append(s.failures, f)
	}
}

// Hold makes calls of method wait (unanswered) until release is called
// or the request is cancelled; release is also called when the test ends.
func (s *Server) Hold(method string) (release func()) {
	gate := make(chan struct{})
	s.mu.Lock()
	s.holds[method] = gate
	s.mu.Unlock()
	var once sync.Once
	release = func() {
		once.Do(func() {
			s.mu.Lock()
			if s.holds[method] == gate {
				delete(s.holds, method)
			}
			s.mu.Unlock()
			close(gate)
		})
	}
	s.t.Cleanup(release)
	return release
}

// HoldAnswer makes calls of method do their work (a post is stored and
// visible) but wait with their answer until release is called: the moment
// between Slack acting and the caller learning of it.
func (s *Server) HoldAnswer(method string) (release func()) {
	gate := make(chan struct{})
	s.mu.Lock()
	s.answers[method] = gate
	s.mu.Unlock()
	var once sync.Once
	release = func() {
		once.Do(func() {
			s.mu.Lock()
			if s.answers[method] == gate {
				delete(s.answers, method)
			}
			s.mu.Unlock()
			close(gate)
		})
	}
	s.t.Cleanup(release)
	return release
}

// NewTS returns a fresh message timestamp, unique in this fake.
func (s *Server) NewTS() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.nextTS()
}

// nextTS returns a unique timestamp; s.mu must be held.
func (s *Server) nextTS() string {
	// Real time, so that "oldest" filters work; the sequence keeps them
	// unique and increasing within a second.
	s.seq++
	return fmt.Sprintf("%d.%06d", time.Now().Unix(), s.seq)
}

// Posts returns the bot's messages (stored and ephemeral) in order, as they
// are now.
func (s *Server) Posts() []Post {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Post
	for _, m := range s.msgs {
		if m.Bot || m.Ephemeral {
			out = append(out, m.post())
		}
	}
	return out
}

// Messages returns every stored message of the workspace, users' and the
// bot's (not ephemeral ones), in order, as they are now.
func (s *Server) Messages() []Post {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Post
	for _, m := range s.msgs {
		if !m.Ephemeral {
			out = append(out, m.post())
		}
	}
	return out
}

func (m *message) post() Post {
	p := Post{
		Channel: m.Channel, TS: m.TS, ThreadTS: m.ThreadTS, User: m.User, Ephemeral: m.Ephemeral, Subtype: m.Subtype,
		Text: m.Text, Username: m.Username, IconEmoji: m.IconEmoji, Blocks: string(m.Blocks),
		Broadcast: m.Broadcast, UnfurlLinks: m.UnfurlLinks, MetaType: m.MetaType,
		Files: slices.Clone(m.Files), Edited: m.EditedTS != "", Deleted: m.Deleted,
	}
	if m.MetaType != "" {
		p.MetaID = fmt.Sprint(m.MetaPayload["id"])
	}
	return p
}

// Files returns the files of the workspace (completed uploads and files
// users shared), in order.
func (s *Server) Files() []File {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []File
	for _, id := range s.fileOrder {
		f := s.files[id]
		if !f.Completed {
			continue
		}
		out = append(out, File{ID: f.ID, Name: f.Name, Title: f.Title, Mimetype: f.Mimetype, User: f.User,
			Data: slices.Clone(f.Data), Shares: slices.Clone(f.Shares), Deleted: f.Deleted})
	}
	return out
}

// Reactions returns the reactions added, as "name@ts".
func (s *Server) Reactions() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.reactions)
}

// PostTimes returns when each chat.postMessage call arrived, failed ones
// included.
func (s *Server) PostTimes() []time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.postTimes)
}

// Connections returns how many Socket Mode connections were opened.
func (s *Server) Connections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conns
}

// Calls returns how many times a Web API method was called.
func (s *Server) Calls(method string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[method]
}

// Acked reports whether the client acknowledged the envelope.
func (s *Server) Acked(envelopeID string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.acks[envelopeID]
}

// hasScope reports whether the token has scope; s.mu must be held.
func (s *Server) hasScope(scope string) bool {
	return slices.Contains(strings.Split(s.scopes, ","), scope)
}

// find returns the stored message ts of channel, or nil; s.mu must be held.
func (s *Server) find(channel, ts string) *message {
	for _, m := range s.msgs {
		if m.Channel == channel && m.TS == ts && !m.Ephemeral && !m.Deleted {
			return m
		}
	}
	return nil
}

// knownChannel reports whether messages may be posted to channel.
func (s *Server) knownChannel(channel string) bool {
	return channel == s.Channel || strings.HasPrefix(channel, "D")
}

// channelType is the channel_type of an event in channel.
func channelType(channel string) string {
	switch {
	case strings.HasPrefix(channel, "D"):
		return "im"
	case strings.HasPrefix(channel, "G"):
		return "group"
	}
	return "channel"
}
