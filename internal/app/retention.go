package app

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/chatbridge/chatbridge/adapters/email"
	"github.com/chatbridge/chatbridge/adapters/inbox"
	"github.com/chatbridge/chatbridge/adapters/matrix"
	"github.com/chatbridge/chatbridge/adapters/slack"
	"github.com/chatbridge/chatbridge/bridge"
	"github.com/chatbridge/chatbridge/internal/admin"
	"github.com/chatbridge/chatbridge/internal/config"
)

// conversationState lists where every adapter keeps state about a
// conversation, configured now or not (its state outlives its
// configuration), for the engine's Purge.
func conversationState(cfg config.Config) []bridge.ConversationState {
	logins := []string{"admin"} // the temporary operator of a trial
	for _, o := range cfg.Inbox.Operators {
		logins = append(logins, o.Login)
	}
	return []bridge.ConversationState{
		slack.ConversationState(), matrix.ConversationState(), email.ConversationState(), inbox.ConversationState(logins),
	}
}

// Retention deletes old closed conversations and the bytes of their files:
// every [retention] every on the node that leads the "retention" singleton
// (when closed_conversations is set), and on demand (chatbridge purge,
// through the admin API).
type Retention struct {
	a      *App
	log    *slog.Logger
	keep   time.Duration
	every  time.Duration
	purged *prometheus.CounterVec
	runs   *prometheus.CounterVec
}

var _ admin.Purger = (*Retention)(nil)

func newRetention(a *App, reg *prometheus.Registry) *Retention {
	r := &Retention{
		a: a, log: a.Log.With("component", "retention"),
		keep: a.Config.Retention.ClosedConversations.Duration(), every: a.Config.Retention.Every.Duration(),
		purged: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chatbridge_purged_total",
			Help: "What retention deleted: conversations, messages, visitors, outbox entries and dead letters, files (their bytes).",
		}, []string{"what"}),
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chatbridge_purge_runs_total", Help: "Purges run, by result (ok, error).",
		}, []string{"result"}),
	}
	for _, w := range []string{"conversations", "messages", "visitors", "outbox", "files"} {
		r.purged.WithLabelValues(w)
	}
	reg.MustRegister(r.purged, r.runs)
	return r
}

// purgeBatch bounds the conversations of one Engine.Purge call, so that a
// run stops soon after its context ends.
const purgeBatch = 500

// Purge deletes (or counts, with o.DryRun) the closed conversations last
// updated before o.ClosedBefore, then the bytes of the files no message
// uses any more; it counts in the metrics and logs one line.
func (r *Retention) Purge(ctx context.Context, o bridge.PurgeOptions) (admin.PurgeReport, error) {
	start := time.Now()
	rep := admin.PurgeReport{ClosedBefore: o.ClosedBefore, DryRun: o.DryRun}
	var err error
	if o.DryRun {
		rep.PurgeResult, err = r.a.Engine.Purge(ctx, o)
	} else {
		left := o.Limit
		for {
			batch := o
			batch.Limit = purgeBatch
			if left > 0 {
				batch.Limit = min(purgeBatch, left)
			}
			var res bridge.PurgeResult
			res, err = r.a.Engine.Purge(ctx, batch)
			r.add(&rep.PurgeResult, res)
			if left > 0 {
				left -= res.Conversations
			}
			if err != nil || !res.More || (o.Limit > 0 && left <= 0) {
				rep.More = res.More
				break
			}
		}
		// The files of this purge, and any an earlier one left.
		n, derr := r.a.Engine.DropPurgedBlobs(ctx, r.a.Blobs)
		rep.FilesDeleted = n
		r.purged.WithLabelValues("files").Add(float64(n))
		if err == nil {
			err = derr
		}
	}
	rep.Seconds = time.Since(start).Seconds()
	attrs := []any{"closed_before", o.ClosedBefore.Format(time.RFC3339), "conversations", rep.Conversations,
		"messages", rep.Messages, "visitors", rep.Visitors, "outbox", rep.Outbox, "files", len(rep.Blobs),
		"files_deleted", rep.FilesDeleted, "took", time.Since(start).Round(time.Millisecond)}
	switch {
	case err != nil:
		r.runs.WithLabelValues("error").Inc()
		r.log.Error("purge failed", append(attrs, "err", err)...)
	case o.DryRun:
		r.log.Info("purge dry run: nothing deleted", attrs...)
	default:
		r.runs.WithLabelValues("ok").Inc()
		r.log.Info("purged", attrs...)
	}
	return rep, err
}

// add adds res to the total and the metrics.
func (r *Retention) add(total *bridge.PurgeResult, res bridge.PurgeResult) {
	total.Conversations += res.Conversations
	total.Messages += res.Messages
	total.Visitors += res.Visitors
	total.Outbox += res.Outbox
	total.Blobs = append(total.Blobs, res.Blobs...)
	for w, n := range map[string]int{"conversations": res.Conversations, "messages": res.Messages, "visitors": res.Visitors, "outbox": res.Outbox} {
		r.purged.WithLabelValues(w).Add(float64(n))
	}
}

// Run purges every `every` while this node leads the "retention"
// singleton, until ctx ends. Without closed_conversations it does
// nothing.
func (r *Retention) Run(ctx context.Context) error {
	if r.keep <= 0 {
		return nil
	}
	return r.a.Engine.Singleton(ctx, "retention", func(ctx context.Context) error {
		t := time.NewTicker(r.every)
		defer t.Stop()
		for {
			_, _ = r.Purge(ctx, bridge.PurgeOptions{ClosedBefore: r.a.Engine.Now().Add(-r.keep)})
			select {
			case <-ctx.Done():
				return nil
			case <-t.C:
			}
		}
	})
}
