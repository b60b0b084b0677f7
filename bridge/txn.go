package bridge

import (
	"context"
	"fmt"
	"time"
)

// txn is one write of the engine: the store transaction plus what to do once
// it committed (wake delivery workers, publish live events, show whispers on
// the operators' platforms). Every change of state goes through update, and
// every message through txn.append.
type txn struct {
	e   *Engine
	tx  Tx
	now time.Time

	// convs are the conversations loaded for writing, written back once at
	// the end of the transaction, in the order they were loaded.
	convs map[string]*Conversation
	order []string

	wake    map[string]struct{}
	events  []Event
	shows   []Whisper
	counted []From
}

// update runs fn in one store transaction and, once it committed, carries
// out its effects outside the store. fn may run more than once (the store
// may coalesce and retry transactions); each run starts from a fresh txn.
func (e *Engine) update(ctx context.Context, fn func(t *txn) error) error {
	return e.updateVia(ctx, e.store.Update, fn)
}

// updateVia is update through another transaction function (a
// Leadership's fenced Update).
func (e *Engine) updateVia(ctx context.Context, up func(context.Context, func(Tx) error) error, fn func(t *txn) error) error {
	var done *txn
	err := up(ctx, func(tx Tx) error {
		t := &txn{e: e, tx: tx, now: e.cfg.Now()}
		if err := fn(t); err != nil {
			return err
		}
		if err := t.flush(); err != nil {
			return err
		}
		done = t
		return nil
	})
	if err != nil {
		return err
	}
	done.committed(ctx)
	return nil
}

// view runs fn in a read-only transaction.
func (e *Engine) view(ctx context.Context, fn func(tx Tx) error) error {
	return e.store.View(ctx, fn)
}

// conv loads conversation id for writing; it is written back at the end.
func (t *txn) conv(id string) (*Conversation, error) {
	if c, ok := t.convs[id]; ok {
		return c, nil
	}
	c, err := t.tx.Conversation(id)
	if err != nil {
		return nil, err
	}
	t.track(&c)
	return &c, nil
}

// track makes c one of the conversations written back at the end (a new
// one, or one loaded another way).
func (t *txn) track(c *Conversation) {
	if t.convs == nil {
		t.convs = map[string]*Conversation{}
	}
	if _, ok := t.convs[c.ID]; !ok {
		t.order = append(t.order, c.ID)
	}
	t.convs[c.ID] = c
}

func (t *txn) flush() error {
	for _, id := range t.order {
		if err := t.tx.PutConversation(*t.convs[id]); err != nil {
			return err
		}
	}
	return nil
}

// enqueue adds one entry per destination.
func (t *txn) enqueue(dests []string, proto OutboxEntry) error {
	for _, d := range dests {
		en := proto
		en.Destination = d
		if _, err := t.tx.Enqueue(en); err != nil {
			return fmt.Errorf("enqueue %s: %w", d, err)
		}
		t.wakeDest(d)
	}
	return nil
}

// wakeDest pokes destination d's worker after the commit.
func (t *txn) wakeDest(d string) {
	if t.wake == nil {
		t.wake = map[string]struct{}{}
	}
	t.wake[d] = struct{}{}
}

// enqueueKind enqueues an entry of kind k for every destination that wants
// it.
func (t *txn) enqueueKind(k OutboxKind, proto OutboxEntry) error {
	proto.Kind = k
	if proto.CreatedAt.IsZero() {
		proto.CreatedAt = t.now
	}
	return t.enqueue(t.e.destinations(k), proto)
}

func (t *txn) publish(ev Event) { t.events = append(t.events, ev) }

// show asks the operator's platform to display a whisper after the commit.
func (t *txn) show(w Whisper) { t.shows = append(t.shows, w) }

// append is the one way a message enters a conversation: a visitor message,
// a reply, a note, a whisper, a system line or the close line. It numbers m
// (Seq; PublicSeq for public messages only, so that visitors never see a gap
// where operators wrote something private), updates c's bookkeeping, stores
// m and enqueues it:
//
//   - kind KindMessage: for every destination that wants the message (see
//     MessageFilter), each after its Delayer's delay;
//   - another kind (KindClosed for the close line): for the destinations
//     that want that kind;
//   - "": nowhere (whispers).
//
// c must come from t.conv or t.track.
func (t *txn) append(c *Conversation, m Message, kind OutboxKind) (Message, error) {
	return t.appendExcept(c, m, kind, "")
}

// appendExcept is append without enqueueing for destination except (a
// notice about that destination's failure must not go back to it).
func (t *txn) appendExcept(c *Conversation, m Message, kind OutboxKind, except string) (Message, error) {
	m.ConversationID = c.ID
	if m.At.IsZero() {
		m.At = t.now
	}
	c.LastSeq++
	m.Seq = c.LastSeq
	m.PublicSeq = 0
	if m.Visibility == VisibilityPublic {
		c.LastPublicSeq++
		m.PublicSeq = c.LastPublicSeq
		c.LastRevision++
		m.Revision = c.LastRevision
		c.Preview = previewOf(m)
		switch m.From {
		case FromVisitor:
			c.LastVisitorAt = m.At
			if c.WaitingSince.IsZero() {
				c.WaitingSince = m.At
			}
		case FromOperator:
			c.LastOperatorAt = m.At
			c.WaitingSince = time.Time{}
		}
	}
	c.UpdatedAt = m.At
	if err := t.tx.PutMessage(m); err != nil {
		return Message{}, err
	}
	if err := t.refBlob(m.File); err != nil {
		return Message{}, err
	}
	proto := OutboxEntry{Kind: kind, ConversationID: c.ID, Seq: m.Seq, CreatedAt: m.At}
	switch kind {
	case "":
	case KindMessage:
		for _, d := range t.e.messageDestinations(m) {
			if d == except {
				continue
			}
			en := proto
			if wait := t.e.delay(d, *c, m); wait > 0 {
				en.NextAttempt = m.At.Add(wait)
			}
			if err := t.enqueue([]string{d}, en); err != nil {
				return Message{}, err
			}
		}
	default:
		if err := t.enqueueKind(kind, proto); err != nil {
			return Message{}, err
		}
	}
	if m.Visibility == VisibilityPublic && m.From != FromSystem {
		t.counted = append(t.counted, m.From)
	}
	t.publish(Event{
		Kind: EventMessage, VisitorID: c.VisitorID, ConversationID: c.ID, Seq: m.Seq,
		Visibility: m.Visibility, Recipient: m.Recipient, From: m.From, Author: m.Author,
	})
	return m, nil
}

// previewOf is the start of m as conversation lists show it.
func previewOf(m Message) string {
	if m.File != nil && m.Text == "" {
		return preview("📎 " + m.File.Name)
	}
	return preview(m.Text)
}

// committed carries out the effects of a committed transaction.
func (t *txn) committed(ctx context.Context) {
	e := t.e
	if len(t.wake) > 0 {
		dests := make([]string, 0, len(t.wake))
		for d := range t.wake {
			dests = append(dests, d)
		}
		e.wake(dests)
	}
	for _, f := range t.counted {
		e.m().MessageIn(f)
	}
	for _, ev := range t.events {
		e.hub.Publish(ev)
	}
	for _, w := range t.shows {
		e.mu.RLock()
		p := e.whisperers[w.Operator.Adapter]
		e.mu.RUnlock()
		if p == nil {
			continue
		}
		if err := p.Whisper(context.WithoutCancel(ctx), w); err != nil {
			e.log.Warn("whisper not shown", "adapter", w.Operator.Adapter, "conversation", w.Conversation.ID, "err", err)
		}
	}
}
