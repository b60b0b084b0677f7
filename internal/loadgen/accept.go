package loadgen

import (
	"context"
	"fmt"
	"time"
)

// networkErrorPause is how long a closed-loop writer waits after a request
// that failed at the network level (connection refused or reset: the
// server is down) before its next request.
const networkErrorPause = 50 * time.Millisecond

// pause sleeps for d, or until end or until ctx ends.
func pause(ctx context.Context, end time.Time, d time.Duration) {
	d = min(d, time.Until(end))
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// runAccept measures visitor messages (or page views) accepted over HTTP:
// Conversations visitors, each with an open conversation, and either
// Concurrency writers in a closed loop (each sends its next request as soon
// as the previous one is answered: the server's maximum rate) or an open
// loop at Rate, round-robin over the visitors.
func (r *runner) runAccept(ctx context.Context) error {
	cfg := r.cfg
	vs, err := r.sessions(ctx, cfg.Conversations)
	if err != nil {
		return err
	}
	pageViews := cfg.Mode == ModePageViews
	if !pageViews {
		if err := r.openConversations(ctx, vs); err != nil {
			return err
		}
	}
	w := r.newWindow()
	var p *Path
	if pageViews {
		p = w.path("pageview_post", "page view: POST /api/v1/pageviews", cfg.Rate)
	} else {
		p = w.path("visitor_post", "visitor message: POST /api/v1/messages", cfg.Rate)
	}
	send := func(ctx context.Context, i int64, v *Visitor) error {
		if pageViews {
			return r.on(v).PostPageView(ctx, v, fmt.Sprintf("https://shop.example/bench/%s/%d", r.runID, i), "Bench page")
		}
		_, _, err := r.postMessage(ctx, v, fmt.Sprintf("bench-%s-%d", r.runID, i), fmt.Sprintf("bench message %d", i))
		return err
	}
	stop := make(chan struct{})
	watched := r.watch(ctx, w, []*Path{p}, stop)
	if cfg.Rate > 0 {
		OpenLoop{Rate: cfg.Rate, Start: w.origin, End: w.end, MaxInFlight: cfg.MaxInFlight, Late: r.late, Saturated: r.saturate}.Run(ctx, func(i int64, due time.Time) {
			if err := send(ctx, i, vs[i%int64(len(vs))]); err != nil {
				p.Fail(due, time.Now(), errorKind(err))
				return
			}
			p.Observe(due, time.Since(due))
		})
	} else {
		n := int64(cfg.Concurrency)
		// Closed-loop writers start together at origin.
		if d := time.Until(w.origin); d > 0 {
			t := time.NewTimer(d)
			select {
			case <-ctx.Done():
				t.Stop()
			case <-t.C:
			}
		}
		ClosedLoop{Workers: cfg.Concurrency, End: w.end}.Run(ctx, func(worker int, i int64) {
			// Worker w uses visitors w, w+n, w+2n, … in turn (its own one
			// when there are as many visitors as writers).
			k := (int64(worker) + i*n) % int64(len(vs))
			start := time.Now()
			if err := send(ctx, i*n+int64(worker), vs[k]); err != nil {
				kind := errorKind(err)
				p.Fail(start, time.Now(), kind)
				if kind == "network" {
					// The server is not there (killed, restarting): a
					// writer that tried again at once would only spin.
					pause(ctx, w.end, networkErrorPause)
				}
				return
			}
			p.Observe(start, time.Since(start))
		})
	}
	close(stop)
	ss := <-watched
	if ctx.Err() != nil {
		return ctx.Err()
	}
	r.finish(w, []*Path{p}, ss)
	return nil
}
