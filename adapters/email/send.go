package email

import (
	"context"
	"errors"
	"fmt"
	"net/textproto"
	"slices"
	"time"

	"github.com/chatbridge/chatbridge/bridge"
)

// flush e-mails the pending replies of one conversation, or drops them when
// they no longer need an e-mail. It returns when to try again after a
// temporary failure (zero: done).
func (a *Adapter) flush(ctx context.Context, convID string) time.Time {
	log := a.log.With("conversation", convID)
	var (
		st   convState
		v    bridge.Visitor
		msgs []bridge.Message
	)
	err := a.store.View(ctx, func(tx bridge.Tx) error {
		var err error
		msgs = nil
		if st, err = loadConv(tx, convID); err != nil || len(st.Seqs) == 0 {
			return err
		}
		conv, err := tx.Conversation(convID)
		if err != nil {
			return err
		}
		if v, err = tx.Visitor(conv.VisitorID); err != nil {
			return err
		}
		for _, seq := range st.Seqs {
			m, err := tx.Message(convID, seq)
			if errors.Is(err, bridge.ErrNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			// The gate again: only public operator text leaves by e-mail.
			if m.From == bridge.FromOperator && m.Visibility == bridge.VisibilityPublic {
				msgs = append(msgs, m)
			}
		}
		return nil
	})
	switch {
	case errors.Is(err, bridge.ErrNotFound):
		log.Warn("e-mail dropped: conversation or visitor is gone")
		a.finish(ctx, convID, st.Seqs, false)
		return time.Time{}
	case err != nil:
		log.Error("e-mail not sent: store read failed", "err", err)
		return a.now().Add(time.Minute)
	case len(st.Seqs) == 0:
		return time.Time{}
	case len(msgs) == 0 || v.Email == "":
		a.finish(ctx, convID, st.Seqs, false)
		return time.Time{}
	case !a.cfg.Away(v.ID):
		log.Debug("e-mail not needed: the visitor is back")
		a.finish(ctx, convID, st.Seqs, false)
		return time.Time{}
	}
	code, err := a.ResumeCode(ctx, v.ID)
	var body []byte
	if err == nil {
		body, err = a.compose(v, msgs, a.resumeLink(code))
	}
	if err == nil {
		err = a.send(ctx, v.Email, body)
	}
	if err == nil {
		log.Info("offline reply e-mailed", "visitor", v.ID, "replies", len(msgs))
		a.finish(ctx, convID, st.Seqs, true)
		return time.Time{}
	}
	if ctx.Err() != nil {
		return time.Time{}
	}
	if permanent(err) || st.Attempts+1 >= a.cfg.MaxAttempts {
		log.Error("offline reply e-mail dropped", "visitor", v.ID, "attempts", st.Attempts+1, "err", err)
		a.finish(ctx, convID, st.Seqs, false)
		return time.Time{}
	}
	retry := a.now().Add(backoff(st.Attempts + 1))
	log.Warn("offline reply e-mail failed, will retry", "attempt", st.Attempts+1, "retry_at", retry, "err", err)
	uerr := a.store.Update(context.WithoutCancel(ctx), func(tx bridge.Tx) error {
		cur, err := loadConv(tx, convID)
		if err != nil {
			return err
		}
		cur.Attempts = st.Attempts + 1
		cur.Due = retry
		return saveConv(tx, convID, cur)
	})
	if uerr != nil {
		log.Error("e-mail state not saved", "err", uerr)
	}
	return retry
}

// finish removes the handled replies from the conversation's pending list
// (Deliver may have added new ones meanwhile); sent records the e-mail for
// coalescing.
func (a *Adapter) finish(ctx context.Context, convID string, handled []uint64, sent bool) {
	now := a.now()
	err := a.store.Update(context.WithoutCancel(ctx), func(tx bridge.Tx) error {
		cur, err := loadConv(tx, convID)
		if err != nil {
			return err
		}
		cur.Seqs = slices.DeleteFunc(cur.Seqs, func(s uint64) bool { return slices.Contains(handled, s) })
		cur.Attempts = 0
		if sent {
			cur.SentAt = now
			if m := slices.Max(handled); m > cur.SentSeq {
				cur.SentSeq = m
			}
			cur.Due = now.Add(a.cfg.Coalesce)
		}
		return saveConv(tx, convID, cur)
	})
	if err != nil {
		a.log.Error("e-mail state not saved", "conversation", convID, "err", err)
	}
}

// backoff is 1, 2, 4, … minutes, at most 30.
func backoff(attempt int) time.Duration {
	d := time.Minute
	for i := 1; i < attempt && d < 30*time.Minute; i++ {
		d *= 2
	}
	return min(d, 30*time.Minute)
}

// permanent reports SMTP errors that retrying cannot fix (5xx replies, such
// as an unknown recipient).
func permanent(err error) bool {
	var te *textproto.Error
	if errors.As(err, &te) {
		return te.Code >= 500
	}
	var pe *permanentError
	return errors.As(err, &pe)
}

// permanentError is a failure of ours that retrying cannot fix (a bad
// address).
type permanentError struct{ msg string }

func (e *permanentError) Error() string { return e.msg }

func permanentf(format string, args ...any) error {
	return &permanentError{msg: fmt.Sprintf(format, args...)}
}
