package inbox

import (
	"container/list"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
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
	// WaitingSince is the visitor's last unanswered message.
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

// list returns op's view of the conversations with status, newest activity
// first.
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
	return items, nil
}

// conversation returns op's view of conversation id with the messages after
// seq `after` (after 0: the newest transcriptLimit messages), and marks them
// viewed. It returns bridge.ErrNotFound for an unknown conversation.
func (in *Inbox) conversation(ctx context.Context, op bridge.Operator, id string, after uint64) (convView, error) {
	d, err := in.engine.ConversationDetail(ctx, id, after, transcriptLimit, pageScan)
	if err != nil {
		return convView{}, fmt.Errorf("load conversation: %w", err)
	}
	cv := convView{Messages: []messageView{}}
	for _, m := range d.Messages {
		if !m.VisibleTo(op.Key()) {
			continue
		}
		cv.Messages = append(cv.Messages, messageView{
			Seq: m.Seq, From: m.From, Visibility: m.Visibility, Author: author(m), Text: m.Rendered(in.cfg.Language), At: m.At,
			Own: m.Recipient == op.Key() || (m.Operator != nil && m.Operator.Key() == op.Key()),
		})
	}
	if cv.Item, err = in.item(ctx, d.Conversation, d.Visitor, op); err != nil {
		return convView{}, fmt.Errorf("load conversation: %w", err)
	}
	cv.Visitor = newVisitorContext(d.Visitor, d.PageViews)
	in.markSeen(ctx, op.ID, id, cv.Item.LastSeq)
	cv.Item.Unread = 0
	return cv, nil
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
