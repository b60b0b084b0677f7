package bridge

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"time"
)

// worker delivers one destination's outbox. It is the only goroutine that
// calls its Deliverer, so deliveries to one destination are sequential and
// in outbox order; a failed entry blocks the later entries of its
// conversation (not of others) until it succeeds.
type worker struct {
	e    *Engine
	d    Deliverer
	name string
	wake chan struct{}
	// pace limits the rate of Deliver calls (nil: unlimited).
	pace *pacer
	// lead is this node's lead of the destination in a cluster (nil on a
	// single node): deliveries stop when it is no longer Valid, and the
	// worker's writes are fenced by it. Set between runs only.
	lead Leadership

	// Delivered entries are deleted from the store asynchronously, so that
	// their deletes coalesce into shared commits (Store.Update batches)
	// instead of costing one fsync per delivery. A delivered entry stays in
	// deleting, and is skipped, until a pass starts after its delete was
	// committed (the value turns true at commit): a pass that read the
	// outbox before the commit still sees the entry and must skip it.
	mu       sync.Mutex
	deleting map[uint64]bool
	deletes  sync.WaitGroup
}

func newWorker(e *Engine, d Deliverer) *worker {
	w := &worker{e: e, d: d, name: d.Name(), wake: make(chan struct{}, 1), deleting: map[uint64]bool{}}
	if rl, ok := d.(RateLimited); ok {
		if rate, burst := rl.RateLimit(); rate > 0 {
			w.pace = newPacer(rate, burst, e.cfg.Now)
		}
	}
	return w
}

// pacer is a token bucket: wait blocks until a token is available.
type pacer struct {
	rate   float64
	burst  float64
	tokens float64
	last   time.Time
	now    func() time.Time
}

func newPacer(rate float64, burst int, now func() time.Time) *pacer {
	b := float64(max(burst, 1))
	return &pacer{rate: rate, burst: b, tokens: b, last: now(), now: now}
}

func (p *pacer) wait(ctx context.Context) error {
	for {
		now := p.now()
		p.tokens = min(p.burst, p.tokens+now.Sub(p.last).Seconds()*p.rate)
		p.last = now
		if p.tokens >= 1 {
			p.tokens--
			return nil
		}
		d := time.Duration((1 - p.tokens) / p.rate * float64(time.Second))
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

func (w *worker) poke() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

const outboxBatch = 256

func (w *worker) run(ctx context.Context) {
	log := w.e.log.With("destination", w.name)
	log.Debug("delivery worker started")
	defer w.deletes.Wait()
	for {
		next, err := w.pass(ctx)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			log.Error("outbox pass failed", "err", err)
			next = w.e.cfg.Now().Add(w.e.cfg.RetryMin)
		}
		var (
			timer <-chan time.Time
			t     *time.Timer
		)
		if !next.IsZero() {
			t = time.NewTimer(max(next.Sub(w.e.cfg.Now()), 0))
			timer = t.C
		}
		select {
		case <-ctx.Done():
		case <-w.wake:
		case <-timer:
		}
		if t != nil {
			t.Stop()
		}
		if ctx.Err() != nil {
			return
		}
	}
}

// pass delivers every due entry and returns when the next retry is due
// (zero: nothing pending). It reads the whole outbox page by page, so that
// entries of conversations blocked by a failing entry never hide the entries
// of other conversations behind them.
func (w *worker) pass(ctx context.Context) (time.Time, error) {
	w.mu.Lock()
	for id, committed := range w.deleting {
		if committed { // deleted before this pass reads the outbox
			delete(w.deleting, id)
		}
	}
	w.mu.Unlock()
	blocked := map[string]bool{}
	var (
		next  time.Time
		after uint64
	)
	for {
		var entries []OutboxEntry
		err := w.e.view(ctx, func(tx Tx) error {
			var err error
			entries, err = tx.Outbox(w.name, after, outboxBatch)
			return err
		})
		if err != nil {
			return time.Time{}, fmt.Errorf("read outbox: %w", err)
		}
		if len(entries) == 0 {
			return next, nil
		}
		after = entries[len(entries)-1].ID
		for _, en := range entries {
			if ctx.Err() != nil {
				return time.Time{}, nil
			}
			key := en.ConversationID
			if (key != "" && blocked[key]) || w.isDeleting(en.ID) {
				continue
			}
			now := w.e.cfg.Now()
			if en.NextAttempt.After(now) {
				if key != "" {
					blocked[key] = true
				}
				if next.IsZero() || en.NextAttempt.Before(next) {
					next = en.NextAttempt
				}
				continue
			}
			ok, retryAt := w.deliver(ctx, en)
			if ok {
				continue
			}
			if ctx.Err() != nil {
				return time.Time{}, nil
			}
			if key != "" {
				blocked[key] = true
			}
			if next.IsZero() || retryAt.Before(next) {
				next = retryAt
			}
		}
		if len(entries) < outboxBatch {
			return next, nil
		}
	}
}

// deliver attempts one entry; it reports success, or when to retry.
func (w *worker) deliver(ctx context.Context, en OutboxEntry) (bool, time.Time) {
	log := w.e.log.With("destination", w.name, "entry", en.ID, "kind", string(en.Kind), "conversation", en.ConversationID)
	d, err := w.e.loadDelivery(ctx, en)
	var rc Receipt
	if err == nil && w.pace != nil {
		if perr := w.pace.wait(ctx); perr != nil {
			return false, time.Time{}
		}
	}
	if err == nil && w.lead != nil && !w.lead.Valid() {
		// The lease may have run out: another node may deliver now.
		return false, time.Time{}
	}
	if err == nil {
		rc, err = w.d.Deliver(ctx, d)
	} else if errors.Is(err, ErrNotFound) {
		err = fmt.Errorf("%w: %w", ErrPermanent, err)
	}
	if ctx.Err() != nil && err != nil {
		return false, time.Time{}
	}
	if err == nil {
		w.remove(context.WithoutCancel(ctx), en.ID, log)
		w.e.m().MessageOut(w.name)
		w.e.m().DeliveryLatency(w.name, w.e.cfg.Now().Sub(en.CreatedAt).Seconds())
		if rc.Link != "" {
			w.e.recordLink(ctx, w.name, d, rc.Link)
		}
		return true, time.Time{}
	}
	now := w.e.cfg.Now()
	if errors.Is(err, ErrPermanent) || (en.Attempts > 0 && now.Sub(en.CreatedAt) > w.e.cfg.GiveUpAfter) {
		w.e.m().DeliveryError(w.name)
		en.Attempts++
		en.LastError, en.DeadAt = err.Error(), now
		log.Error("delivery failed for good: kept as a dead letter", "attempts", en.Attempts, "err", err)
		w.bury(ctx, en, d, log)
		return true, time.Time{}
	}
	var pe *PostponeError
	if errors.As(err, &pe) {
		en.NextAttempt = pe.Until
		log.Debug("delivery postponed", "until", pe.Until)
		w.save(ctx, en, log)
		return false, en.NextAttempt
	}
	w.e.m().DeliveryError(w.name)
	en.Attempts++
	en.LastError = err.Error()
	wait := w.e.backoff(en.Attempts)
	var ra *RetryAfterError
	if errors.As(err, &ra) && ra.After > 0 {
		wait = ra.After
	}
	en.NextAttempt = w.e.cfg.Now().Add(wait)
	log.Warn("delivery failed, will retry", "attempt", en.Attempts, "retry_at", en.NextAttempt, "err", err)
	w.save(ctx, en, log)
	if en.Attempts == 1 {
		w.e.reportFailure(ctx, w.name, d, err)
	}
	return false, en.NextAttempt
}

// bury moves a failed entry to the dead letters and tells the operators of
// its conversation, on every other platform.
func (w *worker) bury(ctx context.Context, en OutboxEntry, d Delivery, log *slog.Logger) {
	err := w.update(context.WithoutCancel(ctx), w.lead, func(t *txn) error {
		if err := t.tx.Bury(en); err != nil {
			return err
		}
		if en.ConversationID == "" || (d.Message != nil && d.Message.System != nil && d.Message.System.Kind == SystemDeadLetter) {
			return nil // a notice about a dead letter that died itself: no notice of the notice
		}
		c, err := t.conv(en.ConversationID)
		if errors.Is(err, ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		// Every platform gets the note, the failing one too: a refusal is
		// often of one message only (too long, a file type), and on a
		// single-platform install it is the only place operators look.
		_, err = t.append(c, Message{
			From: FromSystem, Visibility: VisibilityNote, Author: "chatbridge",
			Text: deadLetterText(en, d), System: &SystemEvent{Kind: SystemDeadLetter, Name: en.Destination},
		}, KindMessage)
		return err
	})
	if err != nil {
		log.Error("dead letter not recorded", "err", err)
	}
}

// deadLetterText tells operators what could not be delivered.
func deadLetterText(en OutboxEntry, d Delivery) string {
	what := string(en.Kind)
	switch {
	case d.Message != nil && d.Message.From == FromVisitor:
		what = "the visitor's message «" + preview(d.Message.Text) + "»"
	case d.Message != nil:
		what = "the message «" + preview(d.Message.Text) + "»"
	case d.Ticket != nil:
		what = fmt.Sprintf("ticket #%d", d.Ticket.Number)
	case d.Lead != nil:
		what = fmt.Sprintf("lead #%d", d.Lead.Number)
	}
	return fmt.Sprintf("Could not deliver %s to %s: %s. It is kept as dead letter %d: see `chatbridge outbox list --dead`, "+
		"then `chatbridge outbox retry %d` or `chatbridge outbox drop %d`.", what, en.Destination, en.LastError, en.ID, en.ID, en.ID)
}

// save stores an entry's new attempt time and error.
func (w *worker) save(ctx context.Context, en OutboxEntry, log *slog.Logger) {
	err := w.update(context.WithoutCancel(ctx), w.lead, func(t *txn) error { return t.tx.PutOutbox(en) })
	if err != nil {
		log.Error("outbox update failed", "err", err)
	}
}

func (w *worker) isDeleting(id uint64) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	_, ok := w.deleting[id]
	return ok
}

// remove deletes a delivered entry in the background (see worker.deleting).
// If the delete fails the entry is delivered again later: deliveries are at
// least once, with Entry.EventID() for de-duplication.
func (w *worker) remove(ctx context.Context, id uint64, log *slog.Logger) {
	w.mu.Lock()
	w.deleting[id] = false
	w.mu.Unlock()
	w.deletes.Add(1)
	lead := w.lead
	go func() {
		defer w.deletes.Done()
		err := w.update(ctx, lead, func(t *txn) error { return t.tx.DeleteOutbox(w.name, id) })
		if err != nil {
			log.Error("outbox delete failed", "err", err)
		}
		w.mu.Lock()
		if err != nil {
			delete(w.deleting, id) // delivered again later (at least once)
		} else {
			w.deleting[id] = true
		}
		w.mu.Unlock()
		// Entries that a full batch of pending deletes hid are read now.
		w.poke()
	}()
}

// update is Engine.update, fenced by the worker's lead in a cluster: a node
// that lost the lead cannot ack, retry or bury an entry.
func (w *worker) update(ctx context.Context, lead Leadership, fn func(t *txn) error) error {
	if lead == nil {
		return w.e.update(ctx, fn)
	}
	return w.e.updateVia(ctx, lead.Update, fn)
}

// backoff doubles from RetryMin up to RetryMax, with ±20 % jitter.
func (e *Engine) backoff(attempt int) time.Duration {
	d := e.cfg.RetryMin
	for i := 1; i < attempt && d < e.cfg.RetryMax; i++ {
		d *= 2
	}
	if d > e.cfg.RetryMax {
		d = e.cfg.RetryMax
	}
	j := time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
	return j
}

// loadDelivery loads the records an entry refers to.
func (e *Engine) loadDelivery(ctx context.Context, en OutboxEntry) (Delivery, error) {
	d := Delivery{Entry: en}
	err := e.view(ctx, func(tx Tx) error {
		if en.ConversationID != "" {
			c, err := tx.Conversation(en.ConversationID)
			if err != nil {
				return err
			}
			d.Conversation = c
			if d.Visitor, err = tx.Visitor(c.VisitorID); err != nil {
				return err
			}
		}
		switch en.Kind {
		case KindMessage, KindClosed, KindEdited, KindDeleted:
			if en.Seq > 0 {
				m, err := tx.Message(en.ConversationID, en.Seq)
				if err != nil {
					return err
				}
				d.Message = &m
			}
		case KindTicket:
			t, err := tx.Ticket(en.Number)
			if err != nil {
				return err
			}
			d.Ticket = &t
		case KindLead:
			l, err := tx.Lead(en.Number)
			if err != nil {
				return err
			}
			d.Lead = &l
		}
		return nil
	})
	return d, err
}

// DeadLetters lists the dead letters of destination (every destination when
// ""), at most limit per destination (0: all), by id.
func (e *Engine) DeadLetters(ctx context.Context, destination string, limit int) ([]OutboxEntry, error) {
	var out []OutboxEntry
	err := e.view(ctx, func(tx Tx) error {
		out = []OutboxEntry{}
		depth, err := tx.DeadDepth()
		if err != nil {
			return err
		}
		for dest := range depth {
			if destination != "" && dest != destination {
				continue
			}
			entries, err := tx.DeadLetters(dest, 0, limit)
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

// findDead finds dead letter id in any destination.
func findDead(tx Tx, id uint64) (OutboxEntry, error) {
	if id == 0 {
		return OutboxEntry{}, fmt.Errorf("dead letter 0: %w", ErrNotFound)
	}
	depth, err := tx.DeadDepth()
	if err != nil {
		return OutboxEntry{}, err
	}
	for dest, n := range depth {
		if n == 0 {
			continue
		}
		got, err := tx.DeadLetters(dest, id-1, 1)
		if err != nil {
			return OutboxEntry{}, err
		}
		if len(got) == 1 && got[0].ID == id {
			return got[0], nil
		}
	}
	return OutboxEntry{}, fmt.Errorf("dead letter %d: %w", id, ErrNotFound)
}

// RetryDeadLetter puts dead letter id back into its destination's outbox,
// due at once with its attempts reset, and returns it.
func (e *Engine) RetryDeadLetter(ctx context.Context, id uint64) (OutboxEntry, error) {
	var en OutboxEntry
	err := e.update(ctx, func(t *txn) error {
		var err error
		if en, err = findDead(t.tx, id); err != nil {
			return err
		}
		en.Attempts, en.NextAttempt, en.DeadAt = 0, time.Time{}, time.Time{}
		if err := t.tx.Revive(en); err != nil {
			return err
		}
		t.wakeDest(en.Destination)
		return nil
	})
	if err != nil {
		return OutboxEntry{}, fmt.Errorf("retry: %w", err)
	}
	return en, nil
}

// DropDeadLetter deletes dead letter id for good and returns it.
func (e *Engine) DropDeadLetter(ctx context.Context, id uint64) (OutboxEntry, error) {
	var en OutboxEntry
	err := e.update(ctx, func(t *txn) error {
		var err error
		if en, err = findDead(t.tx, id); err != nil {
			return err
		}
		return t.tx.DeleteDead(en.Destination, id)
	})
	if err != nil {
		return OutboxEntry{}, fmt.Errorf("drop: %w", err)
	}
	return en, nil
}
