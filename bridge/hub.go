package bridge

import (
	"sync"
	"time"
)

// EventKind says what changed.
type EventKind string

// Live event kinds.
const (
	EventMessage EventKind = "message"
	EventClosed  EventKind = "closed"
	EventOpened  EventKind = "opened"
	EventUpdated EventKind = "updated" // followers, visitor details, page views
	EventTyping  EventKind = "typing"
	// EventChanged: a message (Seq) was edited or deleted.
	EventChanged EventKind = "changed"
)

// Event is a live notification that something committed to the store changed.
// Subscribers re-read the store after Seq: events are wake-ups, so a dropped
// event never loses data as long as a later one arrives or the subscriber
// re-reads on (re)connect.
type Event struct {
	Kind           EventKind
	VisitorID      string
	ConversationID string
	Seq            uint64
	// Visibility of the message for EventMessage; Recipient for whispers.
	Visibility Visibility
	Recipient  string
	// From and Author describe typing events and messages.
	From   From
	Author string
}

// Subscription receives events until Close: on C, or through the
// function given to SubscribeFunc.
type Subscription struct {
	C     <-chan Event
	c     chan Event
	fn    func(Event)
	hub   *Hub
	key   string
	close sync.Once
}

// Close stops the subscription. It is safe to call more than once.
func (s *Subscription) Close() {
	s.close.Do(func() {
		h := s.hub
		h.mu.Lock()
		delete(h.subs[s.key], s)
		if len(h.subs[s.key]) == 0 {
			delete(h.subs, s.key)
			if s.key != allKey {
				now := time.Now()
				h.markLeft(s.key, now)
				if h.presence != nil {
					h.presence(s.key, presenceChange{at: now})
				}
			}
		}
		h.mu.Unlock()
	})
}

// Hub fans live events out to subscribers: per visitor (the widget) and
// global (operator views). Publishing never blocks: a full subscriber misses
// the event, which is safe because events are only wake-ups.
type Hub struct {
	mu   sync.Mutex
	subs map[string]map[*Subscription]struct{}
	// left records when a visitor's last subscription closed (presence).
	left      map[string]time.Time
	lastPrune time.Time
	// presence, when set (a cluster), hears when a visitor's first live
	// connection opens, the last closes, and when the hub forgets it; it
	// runs under mu and must not block.
	presence func(visitorID string, ch presenceChange)
}

// NewHub returns an empty hub.
func NewHub() *Hub {
	return &Hub{subs: map[string]map[*Subscription]struct{}{}, left: map[string]time.Time{}}
}

// presenceMemory is how long the hub remembers when a visitor left.
const presenceMemory = 24 * time.Hour

func (h *Hub) markLeft(visitorID string, now time.Time) {
	h.left[visitorID] = now
	if now.Sub(h.lastPrune) < time.Minute {
		return
	}
	h.lastPrune = now
	for id, t := range h.left {
		if now.Sub(t) > presenceMemory {
			delete(h.left, id)
			if h.presence != nil {
				h.presence(id, presenceChange{forget: true, at: now})
			}
		}
	}
}

// Away reports whether a visitor has had no live connection (widget stream
// or long poll) for at least d. A visitor the hub has not seen connected
// since the process started is away.
func (h *Hub) Away(visitorID string, d time.Duration) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.subs[visitorID]) > 0 {
		return false
	}
	t, ok := h.left[visitorID]
	return !ok || time.Since(t) >= d
}

const allKey = "\x00all"

// SubscribeVisitor receives the events of one visitor's conversations.
func (h *Hub) SubscribeVisitor(visitorID string) *Subscription { return h.subscribe(visitorID) }

// SubscribeAll receives every event (operator views). There are few such
// subscribers and they see every conversation's events, so each has room
// for a burst of allPending events (about 100 KB) before one is dropped.
func (h *Hub) SubscribeAll() *Subscription { return h.subscribeSize(allKey, allPending) }

// allPending is the room of a SubscribeAll subscription: a second of
// events at a few thousand messages a second.
const allPending = 4096

// SubscribeVisitorSize is SubscribeVisitor with room for only n pending
// events (at least 1). It suits many long-lived subscribers that re-read the
// store on every event they take (one per visitor connection): an event is
// only dropped while another one is pending, and handling that one re-reads
// the store, so nothing is lost, and each subscription stays small.
func (h *Hub) SubscribeVisitorSize(visitorID string, n int) *Subscription {
	return h.subscribeSize(visitorID, max(n, 1))
}

// SubscribeFunc calls fn with the events of one visitor's conversations
// until Close, without a channel or a goroutine of its own (a live
// connection held by the network poller). fn runs in Publish's goroutine
// with the hub locked: it must return at once and must not call the hub
// (hand the event over to a queue).
func (h *Hub) SubscribeFunc(visitorID string, fn func(Event)) *Subscription {
	s := &Subscription{fn: fn, hub: h, key: visitorID}
	h.add(s)
	return s
}

func (h *Hub) subscribe(key string) *Subscription { return h.subscribeSize(key, 32) }

func (h *Hub) subscribeSize(key string, n int) *Subscription {
	c := make(chan Event, n)
	s := &Subscription{C: c, c: c, hub: h, key: key}
	h.add(s)
	return s
}

func (h *Hub) add(s *Subscription) {
	key := s.key
	h.mu.Lock()
	if h.subs[key] == nil {
		h.subs[key] = map[*Subscription]struct{}{}
	}
	if len(h.subs[key]) == 0 && key != allKey && h.presence != nil {
		h.presence(key, presenceChange{connected: true, at: time.Now()})
	}
	delete(h.left, key)
	h.subs[key][s] = struct{}{}
	h.mu.Unlock()
}

// Publish sends ev to the visitor's subscribers and to the global ones.
func (h *Hub) Publish(ev Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, key := range [2]string{ev.VisitorID, allKey} {
		for s := range h.subs[key] {
			if s.fn != nil {
				s.fn(ev)
				continue
			}
			select {
			case s.c <- ev:
			default:
			}
		}
	}
}

// publishEveryone sends ev to every subscriber (a wake-up for all after
// changes may have been missed).
func (h *Hub) publishEveryone(ev Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, subs := range h.subs {
		for s := range subs {
			if s.fn != nil {
				s.fn(ev)
				continue
			}
			select {
			case s.c <- ev:
			default:
			}
		}
	}
}

// Subscribers counts current subscriptions (for metrics and tests).
func (h *Hub) Subscribers() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, m := range h.subs {
		n += len(m)
	}
	return n
}
