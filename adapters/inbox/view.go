package inbox

import (
	"container/list"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/chatbridge/chatbridge/bridge"
)

// Limits of what one view loads.
const (
	listLimit       = 200           // conversations in the list
	transcriptLimit = 500           // newest messages on a conversation page
	unreadCap       = 100           // unread counts stop here ("99+")
	unreadScan      = 4 * unreadCap // messages read at most to count them
	maxSeenCached   = 10_000        // last-viewed marks kept in memory
	stateNamespace  = "inbox"
	// recentPages distinct pages are shown in the visitor context, found
	// among the newest pageScan page views: the same as !history.
	recentPages = 15
	pageScan    = 200
)

// listItem is one conversation in an operator's list.
type listItem struct {
	ID          string        `json:"id"`
	VisitorName string        `json:"visitor_name"`
	Preview     string        `json:"preview"`
	Status      bridge.Status `json:"status"`
	// Unread counts messages this operator has not viewed yet, up to
	// unreadCap.
	Unread  int  `json:"unread"`
	Waiting bool `json:"waiting"`
	// WaitingSince is when the visitor started waiting: their first
	// message no operator has answered yet (bridge.Conversation.WaitingFor).
	WaitingSince time.Time `json:"waiting_since,omitzero"`
	UpdatedAt    time.Time `json:"updated_at"`
	LastSeq      uint64    `json:"last_seq"`
	Operators    []string  `json:"operators,omitempty"`
	// Following reports whether this operator follows the conversation
	// (replied and did not leave).
	Following bool `json:"following"`
}

// messageView is one transcript entry as an operator sees it.
type messageView struct {
	Seq        uint64            `json:"seq"`
	From       bridge.From       `json:"from"`
	Visibility bridge.Visibility `json:"visibility"`
	Author     string            `json:"author"`
	Text       string            `json:"text"`
	At         time.Time         `json:"at"`
	// Own marks this operator's messages and the whispers to them.
	Own bool `json:"own"`
	// Emote marks an action: shown as "* Author text".
	Emote bool `json:"emote,omitempty"`
	// EditedAt is set when the author edited the message; Deleted when
	// they deleted it (Text and File are then empty).
	EditedAt time.Time `json:"edited_at,omitzero"`
	Deleted  bool      `json:"deleted,omitempty"`
	// File is the message's attachment (Text is its caption).
	File *fileView `json:"file,omitempty"`
	// Editable: this operator's own reply sent from the inbox, which they
	// may edit or delete.
	Editable bool `json:"editable,omitempty"`
}

// fileView is a message's file as operators see it.
type fileView struct {
	Name   string `json:"name"`
	Type   string `json:"type"`
	Size   int64  `json:"size"`
	Width  int    `json:"width,omitempty"`
	Height int    `json:"height,omitempty"`
	// Image: shown inline (never SVG).
	Image bool `json:"image,omitempty"`
	// URL serves the bytes to logged-in operators ("" without a blob
	// store).
	URL string `json:"url,omitempty"`
}

// visitorContext is what operators see about the visitor.
type visitorContext struct {
	ID         string     `json:"id"`
	Name       string     `json:"name"`
	Email      string     `json:"email,omitempty"`
	CurrentURL string     `json:"current_url,omitempty"`
	Referrer   string     `json:"referrer,omitempty"`
	Language   string     `json:"language,omitempty"`
	Country    string     `json:"country,omitempty"`
	Browser    string     `json:"browser,omitempty"`
	UserAgent  string     `json:"user_agent,omitempty"`
	Pages      []pageView `json:"pages,omitempty"`
}

type pageView struct {
	URL   string    `json:"url"`
	Title string    `json:"title,omitempty"`
	At    time.Time `json:"at"`
}

// convView is a conversation as one operator sees it.
type convView struct {
	Item     listItem       `json:"conversation"`
	Visitor  visitorContext `json:"visitor"`
	Messages []messageView  `json:"messages"`
	// Revision counts the conversation's public changes
	// (bridge.Conversation.LastRevision); the page passes it back to get
	// the messages edited or deleted since, again.
	Revision uint64 `json:"revision"`
}

// seenKey identifies what an operator last viewed.
type seenKey struct{ login, conversation string }

// seenTracker caches, per operator and conversation, the newest Seq the
// operator has viewed. The store is authoritative (state namespace "inbox",
// kept across restarts, never moved backwards); memory holds at most max
// marks, dropping the least recently used, so that listing does not re-read
// them and viewing a conversation again does not write. A mark dropped from
// memory is read from the store again when needed.
type seenTracker struct {
	mu    sync.Mutex
	max   int
	m     map[seenKey]*list.Element // of *seenEntry
	order *list.List                // most recently used first
}

type seenEntry struct {
	k   seenKey
	seq uint64
}

func newSeenTracker(max int) *seenTracker {
	return &seenTracker{max: max, m: map[seenKey]*list.Element{}, order: list.New()}
}

func stateKey(k seenKey) string { return "seen/" + k.login + "/" + k.conversation }

func (s *seenTracker) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.m)
}

// cached returns k's mark if memory holds it.
func (s *seenTracker) cached(k seenKey) (uint64, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.m[k]
	if e == nil {
		return 0, false
	}
	s.order.MoveToFront(e)
	return e.Value.(*seenEntry).seq, true
}

// raise makes k's mark in memory at least seq, dropping the least recently
// used marks beyond max. It returns the mark and whether seq raised it (or
// memory did not hold k).
func (s *seenTracker) raise(k seenKey, seq uint64) (uint64, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e := s.m[k]; e != nil {
		s.order.MoveToFront(e)
		se := e.Value.(*seenEntry)
		if se.seq >= seq {
			return se.seq, false
		}
		se.seq = seq
		return seq, true
	}
	s.m[k] = s.order.PushFront(&seenEntry{k: k, seq: seq})
	for s.max > 0 && len(s.m) > s.max {
		old := s.order.Back()
		s.order.Remove(old)
		delete(s.m, old.Value.(*seenEntry).k)
	}
	return seq, true
}

// get returns the last viewed Seq, reading it from the store when memory
// does not hold it. (Should the read predate a mark that memory dropped
// meanwhile, memory then holds the older mark: counts are too high until the
// next view, never too low.)
func (s *seenTracker) get(ctx context.Context, e Engine, k seenKey) (uint64, error) {
	if v, ok := s.cached(k); ok {
		return v, nil
	}
	var v uint64
	b, err := e.AdapterState(ctx, stateNamespace, stateKey(k))
	switch {
	case errors.Is(err, bridge.ErrNotFound):
	case err != nil:
		return 0, err
	case len(b) == 8:
		v = binary.BigEndian.Uint64(b)
	}
	v, _ = s.raise(k, v) // keeps a mark made meanwhile
	return v, nil
}

// markSeen records that op viewed the conversation up to seq.
func (in *Inbox) markSeen(ctx context.Context, login, conversationID string, seq uint64) {
	k := seenKey{login, conversationID}
	if _, raised := in.seen.raise(k, seq); !raised {
		return
	}
	var (
		b      [8]byte
		stored uint64 // a higher mark the store already held
	)
	binary.BigEndian.PutUint64(b[:], seq)
	err := in.engine.UpdateAdapterState(ctx, stateNamespace, stateKey(k), func(old []byte, found bool) ([]byte, bool) {
		stored = 0
		// Never move backwards in the store, whatever the memory held.
		if found && len(old) == 8 && binary.BigEndian.Uint64(old) >= seq {
			stored = binary.BigEndian.Uint64(old)
			return nil, false
		}
		return b[:], true
	})
	if err != nil {
		in.log.Warn("save last viewed message", "conversation", conversationID, "operator", login, "err", err)
		return
	}
	if stored > seq {
		in.seen.raise(k, stored) // memory had dropped the mark
	}
}

// item builds the list entry of conversation c of visitor v for op.
func (in *Inbox) item(ctx context.Context, c bridge.Conversation, v bridge.Visitor, op bridge.Operator) (listItem, error) {
	it := listItem{
		ID: c.ID, Preview: c.Preview, Status: c.Status, Waiting: c.Waiting(),
		UpdatedAt: c.UpdatedAt, LastSeq: c.LastSeq, VisitorName: v.DisplayName(),
		WaitingSince: c.WaitingFor(),
	}
	for _, o := range c.Operators {
		it.Operators = append(it.Operators, o.Name)
	}
	it.Following = c.HasOperator(op)
	seen, err := in.seen.get(ctx, in.engine, seenKey{op.ID, c.ID})
	if err != nil {
		return listItem{}, err
	}
	if seen >= c.LastSeq {
		return it, nil
	}
	// A bounded read: the count stops at unreadCap anyway, and most
	// messages count, so unreadScan messages nearly always reach it.
	msgs, err := in.engine.Messages(ctx, c.ID, seen, unreadScan)
	if err != nil {
		return listItem{}, err
	}
	for _, m := range msgs {
		if it.Unread >= unreadCap {
			break
		}
		if countsAsUnread(m, op) {
			it.Unread++
		}
	}
	return it, nil
}

// countsAsUnread: messages op may see and did not cause themselves.
func countsAsUnread(m bridge.Message, op bridge.Operator) bool {
	if !m.VisibleTo(op.Key()) {
		return false
	}
	if m.Visibility == bridge.VisibilityWhisper {
		return false // answers to op's own commands
	}
	return m.Operator == nil || m.Operator.Key() != op.Key()
}

// list returns op's view of the conversations with status: the waiting
// ones first, the longest waiting first (operators triage by it), then
// the others, newest activity first.
func (in *Inbox) list(ctx context.Context, op bridge.Operator, status bridge.Status) ([]listItem, error) {
	convs, err := in.engine.Conversations(ctx, bridge.ConversationFilter{Status: status, Limit: listLimit})
	if err != nil {
		return nil, fmt.Errorf("list conversations: %w", err)
	}
	items := make([]listItem, 0, len(convs))
	for _, c := range convs {
		it, err := in.item(ctx, c.Conversation, c.Visitor, op)
		if err != nil {
			return nil, fmt.Errorf("list conversations: %w", err)
		}
		items = append(items, it)
	}
	slices.SortStableFunc(items, func(a, b listItem) int {
		switch {
		case a.Waiting && b.Waiting:
			return a.WaitingSince.Compare(b.WaitingSince)
		case a.Waiting:
			return -1
		case b.Waiting:
			return 1
		}
		return 0 // the engine's order: newest activity first
	})
	return items, nil
}

// conversation returns op's view of conversation id with the messages after
// seq `after` (after 0: the newest transcriptLimit messages), and marks them
// viewed. With rev, the conversation's revision the page last read, the
// older messages edited or deleted since come too (before the new ones), so
// that the page replaces its copies. It returns bridge.ErrNotFound for an
// unknown conversation.
func (in *Inbox) conversation(ctx context.Context, op bridge.Operator, id string, after, rev uint64) (convView, error) {
	d, err := in.engine.ConversationDetail(ctx, id, after, transcriptLimit, pageScan)
	if err != nil {
		return convView{}, fmt.Errorf("load conversation: %w", err)
	}
	cv := convView{Messages: []messageView{}, Revision: d.Conversation.LastRevision}
	msgs := d.Messages
	if changed, err := in.changedSince(ctx, d, after, rev); err != nil {
		return convView{}, err
	} else if len(changed) > 0 {
		msgs = append(changed, msgs...)
	}
	for _, m := range msgs {
		if !m.VisibleTo(op.Key()) {
			continue
		}
		cv.Messages = append(cv.Messages, in.messageView(m, op))
	}
	if cv.Item, err = in.item(ctx, d.Conversation, d.Visitor, op); err != nil {
		return convView{}, fmt.Errorf("load conversation: %w", err)
	}
	cv.Visitor = newVisitorContext(d.Visitor, d.PageViews)
	in.markSeen(ctx, op.ID, id, cv.Item.LastSeq)
	cv.Item.Unread = 0
	return cv, nil
}

// changedSince returns the messages up to Seq after of d's conversation
// that were edited or deleted after revision rev (none without rev). Every
// new public message takes one revision, so only more revisions than new
// public messages since rev mean that older ones changed.
func (in *Inbox) changedSince(ctx context.Context, d bridge.ConversationDetail, after, rev uint64) ([]bridge.Message, error) {
	last := d.Conversation.LastRevision
	if rev == 0 || after == 0 || rev >= last {
		return nil, nil
	}
	fresh := uint64(0)
	for _, m := range d.Messages {
		if m.Visibility == bridge.VisibilityPublic {
			fresh++
		}
	}
	if last-rev <= fresh {
		return nil, nil
	}
	all, err := in.engine.ConversationDetail(ctx, d.Conversation.ID, 0, transcriptLimit, 0)
	if err != nil {
		return nil, fmt.Errorf("load changed messages: %w", err)
	}
	var out []bridge.Message
	for _, m := range all.Messages {
		if m.Seq <= after && m.Visibility == bridge.VisibilityPublic && m.Revision > rev {
			out = append(out, m)
		}
	}
	return out, nil
}

// messageView is m as op sees it.
func (in *Inbox) messageView(m bridge.Message, op bridge.Operator) messageView {
	own := m.Operator != nil && m.Operator.Key() == op.Key()
	mv := messageView{
		Seq: m.Seq, From: m.From, Visibility: m.Visibility, Author: author(m), Text: m.Rendered(in.cfg.Language), At: m.At,
		Own: m.Recipient == op.Key() || own, Emote: m.Emote, EditedAt: m.EditedAt, Deleted: m.Deleted,
		// Only replies sent from the inbox carry an id the engine knows
		// them by ("login/event"); only their author may change them.
		Editable: own && m.Visibility == bridge.VisibilityPublic && m.From == bridge.FromOperator && !m.Deleted &&
			strings.HasPrefix(m.PlatformID, op.ID+"/"),
	}
	if m.Deleted {
		mv.Text = ""
		return mv
	}
	if a := m.File; a != nil {
		mv.File = &fileView{Name: a.Name, Type: a.Type, Size: a.Size, Width: a.Width, Height: a.Height, Image: a.IsImage()}
		if in.cfg.Blobs != nil {
			mv.File.URL = fileURL(m.ConversationID, m.Seq)
		}
	}
	return mv
}

func author(m bridge.Message) string {
	switch {
	case m.Author != "":
		return m.Author
	case m.Operator != nil:
		return m.Operator.Name
	default:
		return string(m.From)
	}
}

func newVisitorContext(v bridge.Visitor, pvs []bridge.PageView) visitorContext {
	vc := visitorContext{
		ID: v.ID, Name: v.DisplayName(), Email: v.Email, CurrentURL: v.CurrentURL, Referrer: v.Referrer,
		Language: v.Locale, Country: v.Country, Browser: browserName(v.UserAgent), UserAgent: v.UserAgent,
	}
	vc.Pages = distinctPages(pvs, recentPages)
	return vc
}

// distinctPages returns the first n distinct URLs of pvs (newest first), each
// with its newest view, as !history lists them.
func distinctPages(pvs []bridge.PageView, n int) []pageView {
	var pages []pageView
	seen := make(map[string]bool, min(len(pvs), n))
	for _, pv := range pvs {
		if len(pages) == n {
			break
		}
		if seen[pv.URL] {
			continue
		}
		seen[pv.URL] = true
		pages = append(pages, pageView{URL: pv.URL, Title: pv.Title, At: pv.At})
	}
	return pages
}

// browserName turns a User-Agent into "Firefox on Linux"; "" when unknown.
func browserName(ua string) string {
	if ua == "" {
		return ""
	}
	pick := func(pairs [][2]string) string {
		for _, p := range pairs {
			if strings.Contains(ua, p[0]) {
				return p[1]
			}
		}
		return ""
	}
	// Order matters: Edge and Opera also say Chrome, Chrome also says Safari.
	b := pick([][2]string{
		{"Edg/", "Edge"}, {"EdgiOS/", "Edge"}, {"OPR/", "Opera"}, {"SamsungBrowser/", "Samsung Internet"},
		{"Firefox/", "Firefox"}, {"FxiOS/", "Firefox"}, {"CriOS/", "Chrome"}, {"Chromium/", "Chromium"},
		{"Chrome/", "Chrome"}, {"Safari/", "Safari"},
	})
	os := pick([][2]string{
		{"Android", "Android"}, {"iPhone", "iOS"}, {"iPad", "iPadOS"}, {"Windows", "Windows"},
		{"Mac OS X", "macOS"}, {"CrOS", "ChromeOS"}, {"Linux", "Linux"},
	})
	switch {
	case b != "" && os != "":
		return b + " on " + os
	case b != "":
		return b
	case os != "":
		return os
	}
	return ""
}
