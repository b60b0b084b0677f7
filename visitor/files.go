package visitor

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/chatbridge/chatbridge/bridge"
	"github.com/chatbridge/chatbridge/files"
)

// Files both ways. A visitor uploads with POST /api/v1/files (the raw
// bytes as the body, the name and the idempotency key in the query); the
// upload goes through files.Ingest (type from the bytes, HTML and SVG
// refused, name cleaned, photos' metadata removed) and then
// bridge.Engine.VisitorSend, so that a refused or interrupted upload
// stores nothing and costs no message. Files in messages, from either side,
// are served at GET /api/v1/files/{conversation}/{seq}: browsers cannot
// send the bearer token from an <img src>, so the URL carries a short-lived
// signature bound to the visitor (HMAC-SHA256 with a key kept in the store,
// see fileKey), issued afresh whenever messages are read. Files are served
// as downloads, never sniffed, under a sandboxing CSP, so that no upload can
// ever run in the server's origin.

// fileURLPrefix is the path of served files.
const fileURLPrefix = "/api/v1/files/"

// Adapter-state namespace and key of the file links' signing key.
const (
	fileKeyNamespace = "visitor"
	fileKeyName      = "file_url_secret"
)

// fileDay is the window of the per-conversation file limits.
const fileDay = 24 * time.Hour

// apiFile is a message's file as the visitor sees it.
type apiFile struct {
	Name   string `json:"name"`
	Type   string `json:"type"`
	Size   int64  `json:"size"`
	Width  int    `json:"width,omitempty"`
	Height int    `json:"height,omitempty"`
	// Image: the widget shows it inline (PNG, JPEG, GIF, WebP; never SVG).
	Image bool `json:"image,omitempty"`
	// URL is the file's path on this server, relative to its origin, with
	// a signature valid until about Config.FileURLTTL from the read (""
	// when this server keeps no files).
	URL string `json:"url,omitempty"`
}

// fileKey returns the key that signs file links: Config.FileSecret, or a
// random key kept in the store (created on first use, so that links survive
// restarts and work on every node of a cluster).
func (s *Server) fileKey(ctx context.Context) ([]byte, error) {
	s.fileKeyMu.Lock()
	defer s.fileKeyMu.Unlock()
	if s.fileSecret != nil {
		return s.fileSecret, nil
	}
	b, err := s.engine.AdapterState(ctx, fileKeyNamespace, fileKeyName)
	if err == nil && len(b) >= 16 {
		s.fileSecret = b
		return b, nil
	}
	if err != nil && !errors.Is(err, bridge.ErrNotFound) {
		return nil, fmt.Errorf("file link key: %w", err)
	}
	fresh := make([]byte, 32)
	if _, err := rand.Read(fresh); err != nil {
		return nil, fmt.Errorf("file link key: %w", err)
	}
	var key []byte
	err = s.engine.UpdateAdapterState(ctx, fileKeyNamespace, fileKeyName, func(old []byte, found bool) ([]byte, bool) {
		if found && len(old) >= 16 {
			key = old
			return nil, false
		}
		key = fresh
		return fresh, true
	})
	if err != nil {
		return nil, fmt.Errorf("file link key: %w", err)
	}
	s.fileSecret = key
	return key, nil
}

// fileMAC signs the link to file seq of conversationID for visitorID until
// exp (Unix seconds).
func fileMAC(key []byte, visitorID, conversationID string, seq uint64, exp int64) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("chatbridge-file\x00" + visitorID + "\x00" + conversationID + "\x00" +
		strconv.FormatUint(seq, 10) + "\x00" + strconv.FormatInt(exp, 10)))
	return m.Sum(nil)
}

// fileURL is the signed link to the file of public message seq. The expiry
// is rounded, so that reading the messages again soon gives the same URL
// (the browser's cached image stays valid) and a link works for between
// FileURLTTL and 5/4 of it.
func (s *Server) fileURL(key []byte, visitorID, conversationID string, seq uint64) string {
	step := max(int64(s.cfg.FileURLTTL/4/time.Second), 1)
	exp := (s.engine.Now().Unix()/step+1)*step + int64(s.cfg.FileURLTTL/time.Second)
	sig := base64.RawURLEncoding.EncodeToString(fileMAC(key, visitorID, conversationID, seq, exp))
	return fileURLPrefix + url.PathEscape(conversationID) + "/" + strconv.FormatUint(seq, 10) +
		"?exp=" + strconv.FormatInt(exp, 10) + "&sig=" + sig
}

// apiFileOf converts a message's file; url is "" without a blob store.
func apiFileOf(a *bridge.Attachment, url string) *apiFile {
	if a == nil {
		return nil
	}
	return &apiFile{Name: a.Name, Type: a.Type, Size: a.Size, Width: a.Width, Height: a.Height, Image: a.IsImage(), URL: url}
}

var (
	errUploadsOff  = &apiError{status: http.StatusNotFound, code: CodeNotFound, message: "this server does not accept files"}
	errLinkExpired = &apiError{status: http.StatusForbidden, code: CodeForbidden, message: "this file link has expired: reopen the chat to get a new one"}
	errLinkBad     = &apiError{status: http.StatusForbidden, code: CodeForbidden, message: "this file link is not valid"}
	errNoFile      = &apiError{status: http.StatusNotFound, code: CodeNotFound, message: "no such file"}
)

// handleFile serves GET /api/v1/files/{conversation}/{seq}?exp=E&sig=S: the
// file of a public message, to whoever holds a link signed for the
// conversation's visitor that has not expired. A deleted message's file is
// gone (404) even for a link issued before the deletion.
func (s *Server) handleFile(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Blobs == nil {
		s.writeError(w, r, errNoFile)
		return
	}
	convID, seqStr, ok := strings.Cut(strings.TrimPrefix(r.URL.Path, fileURLPrefix), "/")
	seq, err := strconv.ParseUint(seqStr, 10, 64)
	if !ok || convID == "" || len(convID) > 64 || err != nil || seq == 0 {
		s.writeError(w, r, errNoFile)
		return
	}
	q := r.URL.Query()
	exp, err := strconv.ParseInt(q.Get("exp"), 10, 64)
	sig, serr := base64.RawURLEncoding.DecodeString(q.Get("sig"))
	if err != nil || serr != nil || len(sig) != sha256.Size {
		s.writeError(w, r, errLinkBad)
		return
	}
	if s.engine.Now().Unix() >= exp {
		s.writeError(w, r, errLinkExpired)
		return
	}
	ctx := r.Context()
	conv, err := s.engine.Conversation(ctx, convID)
	if errors.Is(err, bridge.ErrNotFound) || errors.Is(err, bridge.ErrInvalid) {
		s.writeError(w, r, errNoFile)
		return
	}
	if err != nil {
		s.writeError(w, r, fmt.Errorf("serve file: %w", err))
		return
	}
	key, err := s.fileKey(ctx)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if subtle.ConstantTimeCompare(sig, fileMAC(key, conv.VisitorID, conv.ID, seq, exp)) != 1 {
		s.writeError(w, r, errLinkBad)
		return
	}
	m, err := s.publicMessage(ctx, conv.ID, seq)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if m.File == nil || m.Deleted {
		s.writeError(w, r, errNoFile)
		return
	}
	files.Serve(w, r, s.cfg.Blobs, *m.File, files.ServeOptions{CrossOrigin: true, Log: s.log})
}

// publicMessage finds the public message numbered seq (Message.PublicSeq)
// of a conversation, or errNoFile. Seq >= PublicSeq, so it is at or after
// Seq seq; notes and whispers in between are skipped a page at a time.
func (s *Server) publicMessage(ctx context.Context, conversationID string, seq uint64) (bridge.Message, error) {
	const page = 64
	after := seq - 1
	for {
		msgs, err := s.engine.Messages(ctx, conversationID, after, page)
		if err != nil {
			return bridge.Message{}, fmt.Errorf("serve file: %w", err)
		}
		for _, m := range msgs {
			if m.Visibility != bridge.VisibilityPublic || m.PublicSeq < seq {
				continue
			}
			if m.PublicSeq == seq {
				return m, nil
			}
			return bridge.Message{}, errNoFile
		}
		if len(msgs) < page {
			return bridge.Message{}, errNoFile
		}
		after = msgs[len(msgs)-1].Seq
	}
}

// uploadResponse is the answer to POST /api/v1/files.
type uploadResponse struct {
	Seq            uint64   `json:"seq"`
	ConversationID string   `json:"conversation_id"`
	File           *apiFile `json:"file"`
}

// maxUploadName caps the name query parameter (Ingest keeps 100
// characters of it).
const maxUploadName = 1024

// handleUpload stores a visitor's file as a message: POST
// /api/v1/files?client_id=ID&name=NAME[&text=CAPTION] with the file's raw
// bytes as the body (any Content-Type: the type is read from the bytes).
// Like POST /messages it is idempotent on client_id and starts a
// conversation when none is open. Checks, in order: the token, the query,
// a retry (answered without reading the body), the upload rates per
// visitor and per address (every attempt counts), one upload at a time per
// visitor, the message rate, the conversation's files and bytes of the
// day, then the file itself (files.Ingest). A refused or interrupted upload
// stores nothing and gives back the message it would have cost.
func (s *Server) handleUpload(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Blobs == nil {
		s.writeError(w, r, errUploadsOff)
		return
	}
	v, err := s.authenticate(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	res, err := s.upload(r, v)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

func (s *Server) upload(r *http.Request, v bridge.Visitor) (uploadResponse, error) {
	ctx := r.Context()
	q := r.URL.Query()
	clientID, name, text := q.Get("client_id"), q.Get("name"), q.Get("text")
	if clientID == "" || len(clientID) > maxClientIDBytes {
		return uploadResponse{}, errBadRequest(fmt.Sprintf("client_id must be 1 to %d bytes (a random id per file, reused on retries)", maxClientIDBytes))
	}
	if len(name) > maxUploadName {
		return uploadResponse{}, errBadRequest("name is too long")
	}
	if strings.TrimSpace(text) != "" {
		if _, err := bridge.CheckText(text, s.cfg.MaxMessageBytes); err != nil {
			return uploadResponse{}, err
		}
	}
	check, err := s.engine.CheckMessage(ctx, v.ID, clientID)
	if err != nil {
		return uploadResponse{}, fmt.Errorf("upload: %w", err)
	}
	if check.Duplicate != nil {
		// A retry: answer as the first time, without reading the bytes.
		return s.uploadAnswer(ctx, v.ID, *check.Duplicate)
	}
	switch {
	case r.ContentLength == 0:
		return uploadResponse{}, errBadRequest("the file is empty").withReason(ReasonEmpty)
	case r.ContentLength > s.cfg.MaxFileBytes:
		return uploadResponse{}, s.errFileTooLarge()
	}
	ip := clientIP(r, s.cfg.TrustProxyHeaders)
	if err := s.limited(s.uploads, v.ID, "files: wait a little"); err != nil {
		return uploadResponse{}, err
	}
	if err := s.limited(s.uploadsIP, ip, "files from your address"); err != nil {
		return uploadResponse{}, err
	}
	if !s.uploading.acquire(v.ID) {
		return uploadResponse{}, errRateLimited("another of your files is still being sent: send one file at a time", connRetryAfter)
	}
	defer s.uploading.release(v.ID)

	// The message the file will be: its rate token is taken now and given
	// back if the file is refused.
	now := s.engine.Now()
	openID := check.OpenID
	rate, rateKey, what := s.messages, openID, "messages in this conversation"
	if openID == "" {
		rate, rateKey, what = s.conversations, ip, "new conversations from your address"
	}
	if err := s.limited(rate, rateKey, what); err != nil {
		return uploadResponse{}, err
	}
	refund := func() { rate.refund(rateKey, now) }
	limit := s.cfg.MaxFileBytes
	if openID != "" {
		left, err := s.quota.left(ctx, openID, now, s.loadFileUse)
		if err != nil {
			refund()
			return uploadResponse{}, err
		}
		if left.files <= 0 || left.bytes <= 0 || r.ContentLength > left.bytes {
			refund()
			return uploadResponse{}, s.quotaError(left)
		}
		if left.bytes < limit {
			limit = left.bytes
		}
	}
	release := func() {}
	defer func() { release() }()
	a, err := files.Ingest(ctx, s.cfg.Blobs, r.Body, name, files.Options{
		MaxBytes: limit, StripMetadata: !s.cfg.KeepMetadata, TempDir: s.cfg.TempDir,
		Hold: func(key string) { release = s.engine.HoldBlob(key) },
	})
	if err != nil {
		refund()
		switch {
		case errors.Is(err, files.ErrTooLarge) && limit < s.cfg.MaxFileBytes:
			left, _ := s.quota.left(ctx, openID, now, s.loadFileUse)
			return uploadResponse{}, s.quotaError(left)
		case errors.Is(err, files.ErrTooLarge):
			return uploadResponse{}, s.errFileTooLarge()
		case errors.Is(err, bridge.ErrInvalid):
			reason := ReasonDamaged
			if errors.Is(err, files.ErrEmpty) {
				reason = ReasonEmpty
			} else if errors.Is(err, files.ErrType) {
				reason = ReasonType
			}
			return uploadResponse{}, errBadRequest(bridgeMessage(err)).withReason(reason)
		}
		return uploadResponse{}, fmt.Errorf("upload: %w", err)
	}
	msg, err := s.engine.VisitorSend(ctx, v.ID, bridge.VisitorInput{ClientID: clientID, Text: text, File: &a})
	if err != nil {
		refund()
		release()
		s.dropBlob(a.Key)
		return uploadResponse{}, err
	}
	if msg.ConversationID != openID {
		// The first message of a new conversation counts towards its rate.
		s.messages.allow(msg.ConversationID, s.engine.Now())
	}
	s.quota.add(msg.ConversationID, now, a.Size)
	return s.uploadAnswer(ctx, v.ID, msg)
}

// uploadAnswer is the answer for the message m of an upload.
func (s *Server) uploadAnswer(ctx context.Context, visitorID string, m bridge.Message) (uploadResponse, error) {
	out := s.publicMessages(ctx, visitorID, []bridge.Message{m})
	if len(out) != 1 || out[0].File == nil {
		return uploadResponse{}, errBadRequest("client_id was used for a message without a file: use a new one")
	}
	return uploadResponse{Seq: out[0].Seq, ConversationID: m.ConversationID, File: out[0].File}, nil
}

// dropBlob removes the bytes of an upload whose message was not stored,
// unless a message refers to them (the same bytes sent before) or another
// upload of the same bytes is under way.
func (s *Server) dropBlob(key string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(s.ctx), 10*time.Second)
	defer cancel()
	if _, err := s.engine.DropUnusedBlob(ctx, s.cfg.Blobs, key); err != nil {
		s.log.Warn("unused upload not removed", "key", key, "err", err)
	}
}

func (s *Server) errFileTooLarge() error {
	return errTooLarge("the file is too large: the limit is " + files.Size(s.cfg.MaxFileBytes)).withReason(ReasonTooLarge)
}

// quotaError says which of the day's limits of the conversation is
// reached, and when a file may be sent again.
func (s *Server) quotaError(left quotaLeft) error {
	wait := time.Minute
	if !left.until.IsZero() {
		wait = max(left.until.Sub(s.engine.Now()), time.Minute)
	}
	if left.files <= 0 {
		return errRateLimited(fmt.Sprintf("you have sent the %d files allowed in this conversation today", s.cfg.FilesPerConversationPerDay), wait).withReason(ReasonQuota)
	}
	return errRateLimited(fmt.Sprintf("this file would go over the %s of files allowed in this conversation today (%s left)",
		files.Size(s.cfg.FileBytesPerConversationPerDay), files.Size(max(left.bytes, 0))), wait).withReason(ReasonQuota)
}

// loadFileUse reads the files the visitor sent in a conversation in the
// last day (when the quota has no record of the conversation yet: after a
// restart).
func (s *Server) loadFileUse(ctx context.Context, conversationID string, since time.Time) ([]fileUse, error) {
	msgs, err := s.engine.Messages(ctx, conversationID, 0, 0)
	if err != nil {
		return nil, fmt.Errorf("count files: %w", err)
	}
	var out []fileUse
	for _, m := range msgs {
		if m.From == bridge.FromVisitor && m.File != nil && m.At.After(since) {
			out = append(out, fileUse{at: m.At, size: m.File.Size})
		}
	}
	return out, nil
}

// fileQuota remembers, per conversation, the files the visitor sent in the
// last day (Config.FilesPerConversationPerDay and
// FileBytesPerConversationPerDay). A conversation it does not hold is read
// from the store on first use; entries older than a day are swept. In a
// cluster (shared) the visitor may upload through any node, so every check
// reads the store: the day's limits hold across the nodes.
type fileQuota struct {
	maxFiles int
	maxBytes int64
	shared   bool

	mu sync.Mutex
	m  map[string][]fileUse
}

type fileUse struct {
	at   time.Time
	size int64
}

// quotaLeft is what a conversation may still send today; until is when
// the oldest counted file leaves the window.
type quotaLeft struct {
	files int
	bytes int64
	until time.Time
}

func newFileQuota(maxFiles int, maxBytes int64, shared bool) *fileQuota {
	return &fileQuota{maxFiles: maxFiles, maxBytes: maxBytes, shared: shared, m: map[string][]fileUse{}}
}

func (q *fileQuota) left(ctx context.Context, conv string, now time.Time, load func(context.Context, string, time.Time) ([]fileUse, error)) (quotaLeft, error) {
	q.mu.Lock()
	uses, ok := q.m[conv]
	q.mu.Unlock()
	if q.shared || !ok {
		loaded, err := load(ctx, conv, now.Add(-fileDay))
		if err != nil {
			return quotaLeft{}, err
		}
		uses = loaded
		if !q.shared {
			q.mu.Lock()
			if cached, ok := q.m[conv]; ok {
				uses = cached // another request loaded it meanwhile
			} else {
				q.m[conv] = loaded
			}
			q.mu.Unlock()
		}
	}
	l := quotaLeft{files: q.maxFiles, bytes: q.maxBytes}
	for _, u := range uses {
		if now.Sub(u.at) >= fileDay {
			continue
		}
		l.files--
		l.bytes -= u.size
		if l.until.IsZero() || u.at.Add(fileDay).Before(l.until) {
			l.until = u.at.Add(fileDay)
		}
	}
	return l, nil
}

func (q *fileQuota) add(conv string, at time.Time, size int64) {
	if q.shared {
		return // the store has it
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	q.m[conv] = append(q.m[conv], fileUse{at: at, size: size})
}

// sweep forgets the files older than a day, and conversations without any.
func (q *fileQuota) sweep(now time.Time) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for conv, uses := range q.m {
		kept := uses[:0]
		for _, u := range uses {
			if now.Sub(u.at) < fileDay {
				kept = append(kept, u)
			}
		}
		if len(kept) == 0 {
			delete(q.m, conv)
		} else {
			q.m[conv] = kept
		}
	}
}
