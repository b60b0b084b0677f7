package bridge

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"
)

// Conversation loads one conversation.
func (e *Engine) Conversation(ctx context.Context, id string) (Conversation, error) {
	var c Conversation
	err := e.view(ctx, func(tx Tx) error {
		var err error
		c, err = tx.Conversation(id)
		return err
	})
	return c, err
}

// Visitor loads one visitor.
func (e *Engine) Visitor(ctx context.Context, id string) (Visitor, error) {
	var v Visitor
	err := e.view(ctx, func(tx Tx) error {
		var err error
		v, err = tx.Visitor(id)
		return err
	})
	return v, err
}

// VisitorOf loads the visitor of a conversation; a missing visitor (a
// conversation imported without one) is not an error: it returns a Visitor
// with the id only.
func (e *Engine) VisitorOf(ctx context.Context, conv Conversation) (Visitor, error) {
	v, err := e.Visitor(ctx, conv.VisitorID)
	if errors.Is(err, ErrNotFound) {
		return Visitor{ID: conv.VisitorID}, nil
	}
	return v, err
}

// Messages returns up to limit messages of a conversation with Seq > after,
// in order (limit 0: all), every visibility: callers show each only to whom
// may see it (Message.VisibleTo; visitors: VisitorMessages).
func (e *Engine) Messages(ctx context.Context, conversationID string, after uint64, limit int) ([]Message, error) {
	var out []Message
	err := e.view(ctx, func(tx Tx) error {
		var err error
		out, err = tx.Messages(conversationID, after, limit)
		return err
	})
	return out, err
}

// PageViews returns up to limit page views of a visitor, newest first.
func (e *Engine) PageViews(ctx context.Context, visitorID string, limit int) ([]PageView, error) {
	var out []PageView
	err := e.view(ctx, func(tx Tx) error {
		var err error
		out, err = tx.PageViews(visitorID, limit)
		return err
	})
	return out, err
}

// ConversationSummary is a conversation with its visitor.
type ConversationSummary struct {
	Conversation Conversation `json:"conversation"`
	// Visitor has only the ID when the visitor record is missing.
	Visitor Visitor `json:"visitor"`
}

// Conversations lists the conversations matching f, newest activity first,
// each with its visitor.
func (e *Engine) Conversations(ctx context.Context, f ConversationFilter) ([]ConversationSummary, error) {
	var out []ConversationSummary
	err := e.view(ctx, func(tx Tx) error {
		convs, err := tx.Conversations(f)
		if err != nil {
			return err
		}
		out = make([]ConversationSummary, 0, len(convs))
		for _, c := range convs {
			v, err := tx.Visitor(c.VisitorID)
			if errors.Is(err, ErrNotFound) {
				v, err = Visitor{ID: c.VisitorID}, nil
			}
			if err != nil {
				return err
			}
			out = append(out, ConversationSummary{Conversation: c, Visitor: v})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("conversations: %w", err)
	}
	return out, nil
}

// ConversationDetail is one conversation as operators see it.
type ConversationDetail struct {
	Conversation Conversation `json:"conversation"`
	Visitor      Visitor      `json:"visitor"`
	// Messages has every visibility (see Engine.Messages).
	Messages []Message `json:"messages"`
	// PageViews are the visitor's newest page views.
	PageViews []PageView `json:"pageviews"`
}

// ConversationDetail reads a conversation, its visitor, its messages with
// Seq > after (when after is 0, only the newest limit of them; limit 0: all)
// and the visitor's newest pages page views, in one consistent read.
func (e *Engine) ConversationDetail(ctx context.Context, id string, after uint64, limit, pages int) (ConversationDetail, error) {
	var d ConversationDetail
	err := e.view(ctx, func(tx Tx) error {
		var err error
		d = ConversationDetail{}
		if d.Conversation, err = tx.Conversation(id); err != nil {
			return err
		}
		if after == 0 && limit > 0 && d.Conversation.LastSeq > uint64(limit) {
			after = d.Conversation.LastSeq - uint64(limit)
		}
		if d.Messages, err = tx.Messages(id, after, 0); err != nil {
			return err
		}
		d.Visitor, err = tx.Visitor(d.Conversation.VisitorID)
		if errors.Is(err, ErrNotFound) {
			d.Visitor = Visitor{ID: d.Conversation.VisitorID}
			return nil
		}
		if err != nil {
			return err
		}
		if pages > 0 {
			d.PageViews, err = tx.PageViews(d.Visitor.ID, pages)
		}
		return err
	})
	if d.Messages == nil {
		d.Messages = []Message{}
	}
	if d.PageViews == nil {
		d.PageViews = []PageView{}
	}
	return d, err
}

// CountConversations counts conversations by status ("" for all).
func (e *Engine) CountConversations(ctx context.Context, status Status) (int, error) {
	var n int
	err := e.view(ctx, func(tx Tx) error {
		var err error
		n, err = tx.CountConversations(status)
		return err
	})
	return n, err
}

// OutboxStats describes the outbox of every destination.
type OutboxStats struct {
	// Depth counts the waiting entries by destination.
	Depth map[string]int
	// Oldest is the creation time of the oldest waiting entry, by
	// destination (absent when none waits).
	Oldest map[string]time.Time
	// Dead counts the dead letters by destination.
	Dead map[string]int
}

// OutboxStats reads the depth and oldest entry of every destination.
func (e *Engine) OutboxStats(ctx context.Context) (OutboxStats, error) {
	st := OutboxStats{Oldest: map[string]time.Time{}}
	err := e.view(ctx, func(tx Tx) error {
		var err error
		if st.Depth, err = tx.OutboxDepth(); err != nil {
			return err
		}
		if st.Dead, err = tx.DeadDepth(); err != nil {
			return err
		}
		for d, n := range st.Depth {
			if n == 0 {
				continue
			}
			first, err := tx.Outbox(d, 0, 1)
			if err != nil {
				return err
			}
			if len(first) == 1 {
				st.Oldest[d] = first[0].CreatedAt
			}
		}
		return nil
	})
	return st, err
}

// PendingDeliveries lists the waiting entries of destination (every
// destination when ""), at most limit per destination (0: all), by id.
func (e *Engine) PendingDeliveries(ctx context.Context, destination string, limit int) ([]OutboxEntry, error) {
	var out []OutboxEntry
	err := e.view(ctx, func(tx Tx) error {
		out = []OutboxEntry{}
		depth, err := tx.OutboxDepth()
		if err != nil {
			return err
		}
		for dest := range depth {
			if destination != "" && dest != destination {
				continue
			}
			entries, err := tx.Outbox(dest, 0, limit)
			if err != nil {
				return err
			}
			out = append(out, entries...)
		}
		return nil
	})
	slices.SortFunc(out, func(a, b OutboxEntry) int { return cmp.Compare(a.ID, b.ID) })
	return out, err
}

// Destinations lists the names of the registered destinations.
func (e *Engine) Destinations() []string {
	e.mu.RLock()
	defer e.mu.RUnlock()
	out := make([]string, 0, len(e.deliverers))
	for _, d := range e.deliverers {
		out = append(out, d.Name())
	}
	return out
}

// seen reports whether a de-duplication key is live, writing nothing.
func (e *Engine) seen(ctx context.Context, key string) (bool, error) {
	var seen bool
	err := e.view(ctx, func(tx Tx) error {
		var err error
		seen, err = tx.Seen(key, e.cfg.Now())
		return err
	})
	return seen, err
}
