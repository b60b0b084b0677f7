package loadgen

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"
)

// msgKey names a message as both the POST's answer and the inbox's live
// event do.
type msgKey struct {
	conv string
	seq  uint64
}

// toOperator times visitor message → operator side. The POST's answer
// (conversation and seq) and the inbox event for that message may come in
// either order: whichever comes second completes the measurement, from the
// message's due time to the event.
type toOperator struct {
	path *Path
	mu   sync.Mutex
	due  map[msgKey]time.Time // answered POSTs waiting for their event
	seen map[msgKey]time.Time // events waiting for their POST's answer
	adds int
}

func newToOperator() *toOperator {
	return &toOperator{due: map[msgKey]time.Time{}, seen: map[msgKey]time.Time{}}
}

// start times round trips into p from now on.
func (t *toOperator) start(p *Path) {
	t.mu.Lock()
	t.path = p
	t.mu.Unlock()
}

func (t *toOperator) posted(k msgKey, due time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if at, ok := t.seen[k]; ok {
		delete(t.seen, k)
		t.path.Observe(due, at.Sub(due))
		return
	}
	t.due[k] = due
}

func (t *toOperator) event(k msgKey, at time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.path == nil {
		return
	}
	if due, ok := t.due[k]; ok {
		delete(t.due, k)
		t.path.Observe(due, at.Sub(due))
		return
	}
	t.seen[k] = at
	// Events of messages this run did not time (set-up, other clients,
	// POSTs that failed on our side) would pile up: forget old ones.
	if t.adds++; t.adds%4096 == 0 {
		for k, s := range t.seen {
			if at.Sub(s) > time.Minute {
				delete(t.seen, k)
			}
		}
	}
}

func (t *toOperator) pending() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.due)
}

// expire counts every POST still waiting for its event as not seen.
func (t *toOperator) expire(now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for k, due := range t.due {
		t.path.Fail(due, now, errorKind(errNoAnswer))
		delete(t.due, k)
	}
}

// toVisitor times operator reply → visitor frame, matched by the reply's
// unique text; a reply is registered before its POST is sent.
type toVisitor struct {
	path *Path
	mu   sync.Mutex
	due  map[string]time.Time
}

func newToVisitor() *toVisitor { return &toVisitor{due: map[string]time.Time{}} }

// start times round trips into p from now on.
func (t *toVisitor) start(p *Path) {
	t.mu.Lock()
	t.path = p
	t.mu.Unlock()
}

func (t *toVisitor) sending(text string, due time.Time) {
	t.mu.Lock()
	t.due[text] = due
	t.mu.Unlock()
}

func (t *toVisitor) failed(text string) {
	t.mu.Lock()
	delete(t.due, text)
	t.mu.Unlock()
}

func (t *toVisitor) frame(text string, at time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.path == nil {
		return
	}
	if due, ok := t.due[text]; ok {
		delete(t.due, text)
		t.path.Observe(due, at.Sub(due))
	}
}

func (t *toVisitor) pending() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.due)
}

func (t *toVisitor) expire(now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for text, due := range t.due {
		t.path.Fail(due, now, errorKind(errNoAnswer))
		delete(t.due, text)
	}
}

// maybeVisitorMessage reports whether a live event may announce a visitor
// message: a message event from the visitor or, in a cluster, of a message
// committed on another node, which carries no "from" (that node knew it,
// this one only sees the conversation change). Matching by (conversation,
// seq) keeps a reply's event from completing a visitor message's round
// trip: they never share a seq.
func maybeVisitorMessage(ev LiveEvent) bool {
	return ev.Kind == "message" && (ev.From == "visitor" || ev.From == "")
}

// replyNode is the node through which the operator replies to a visitor of
// node: the next one, so that with several nodes every reply crosses from
// one node to another before it reaches the visitor.
func replyNode(node, nodes int) int { return (node + 1) % nodes }

// operators logs the operator into the inbox of the first server and
// returns its session on every server, in the order of the targets. The
// nodes of a cluster share inbox sessions, so one login serves them all (as
// behind a load balancer); a server that does not know the session gets a
// login of its own, and a line in the log.
func (r *runner) operators(ctx context.Context) ([]*Operator, error) {
	cfg := r.cfg
	op, err := LoginOperator(ctx, r.targets[0].Base, cfg.OperatorLogin, cfg.OperatorPassword, cfg.Timeout)
	if err != nil {
		return nil, err
	}
	ops := []*Operator{op}
	if len(r.targets) == 1 {
		r.logf("logged into the inbox as %s", cfg.OperatorLogin)
		return ops, nil
	}
	own := 0
	for _, t := range r.targets[1:] {
		o, shared, err := op.On(ctx, t.Base)
		if err != nil {
			return nil, err
		}
		if !shared {
			r.logf("%s does not know the inbox session made on %s (not a node of the same cluster?): logging in there too", t.Base, op.Base())
			if o, err = LoginOperator(ctx, t.Base, cfg.OperatorLogin, cfg.OperatorPassword, cfg.Timeout); err != nil {
				return nil, err
			}
			own++
		}
		ops = append(ops, o)
	}
	r.logf("logged into the inbox as %s on %s; the session works on %d of the other %d servers (replies go through the server after the visitor's)",
		cfg.OperatorLogin, op.Base(), len(ops)-1-own, len(ops)-1)
	return ops, nil
}

// runLatency measures round trips at fixed offered rates. Set-up: the
// operator logs into the inbox and opens its live stream; Conversations
// visitors start a session, open a conversation and connect their
// WebSocket. Then, open loop over the same window: visitor messages at Rate
// (round-robin over the visitors), operator replies at ReplyRate
// (round-robin too, half the visitors further on, so that a conversation's
// message and reply are not due together), page views at PageViewRate.
//
// With several servers (the nodes of a cluster), each visitor uses its own
// node for everything, the operator's live stream is on the first node,
// and a reply to a visitor goes through the next node after the visitor's:
// both round trips cross nodes.
//
// Measured, each from the request's due time: the visitor's POST until its
// answer (HTTP acceptance), the operator's reply POST until its answer,
// the visitor message until the inbox's live stream announces it (what an
// operator's page waits for), and the operator reply until the visitor's
// WebSocket delivers its message frame.
func (r *runner) runLatency(ctx context.Context) error {
	cfg := r.cfg
	ops, err := r.operators(ctx)
	if err != nil {
		return err
	}
	op := ops[0]
	vs, err := r.sessions(ctx, cfg.Conversations)
	if err != nil {
		return err
	}
	if err := r.openConversations(ctx, vs); err != nil {
		return err
	}

	// The trackers get their paths once the set-up is done; what arrives
	// before is not timed.
	toOp, toVis := newToOperator(), newToVisitor()
	operatorFrame := []byte(`"from":"operator"`)
	closeStreams, err := r.openStreams(ctx, vs, nil, func(_ int, raw []byte, at time.Time) {
		// Most frames are the visitors' own messages coming back: only
		// operators' messages are decoded.
		if !bytes.Contains(raw, operatorFrame) {
			return
		}
		var f Frame
		if json.Unmarshal(raw, &f) == nil && f.Type == "message" && f.From == "operator" {
			toVis.frame(f.Text, at)
		}
	})
	if err != nil {
		return err
	}
	defer closeStreams()

	// The operator's live stream.
	evCtx, stopEvents := context.WithCancel(ctx)
	evReady, evDone := make(chan struct{}), make(chan error, 1)
	go func() {
		evDone <- op.Events(evCtx, func() { close(evReady) }, func(ev LiveEvent, at time.Time) {
			if maybeVisitorMessage(ev) {
				toOp.event(msgKey{ev.ConversationID, ev.Seq}, at)
			}
		})
	}()
	defer func() {
		stopEvents()
		<-evDone
	}()
	select {
	case <-evReady:
	case err := <-evDone:
		evDone <- err // for the deferred wait
		return fmt.Errorf("inbox live stream: %w", err)
	case <-ctx.Done():
		return ctx.Err()
	}

	w := r.newWindow()
	var (
		vPost  = w.path("visitor_post", "visitor message: POST /api/v1/messages", cfg.Rate)
		oPost  = w.path("operator_post", "operator reply: POST /inbox/c/{id}/reply", cfg.ReplyRate)
		v2o    = w.path("v2o", "visitor message → operator (inbox live stream)", cfg.Rate)
		o2v    = w.path("o2v", "operator reply → visitor WebSocket frame", cfg.ReplyRate)
		pvPost = w.path("pageview_post", "page view: POST /api/v1/pageviews", cfg.PageViewRate)
	)
	toOp.start(v2o)
	toVis.start(o2v)
	var paths []*Path
	if cfg.Rate > 0 {
		paths = append(paths, vPost, v2o)
	}
	if cfg.ReplyRate > 0 {
		paths = append(paths, oPost, o2v)
	}
	if cfg.PageViewRate > 0 {
		paths = append(paths, pvPost)
	}
	stop := make(chan struct{})
	watched := r.watch(ctx, w, paths, stop)
	half := len(vs) / 2
	var loops sync.WaitGroup
	if cfg.Rate > 0 {
		loops.Go(func() {
			OpenLoop{Rate: cfg.Rate, Start: w.origin, End: w.end, MaxInFlight: cfg.MaxInFlight, Late: r.late, Saturated: r.saturate}.Run(ctx, func(i int64, due time.Time) {
				v := vs[i%int64(len(vs))]
				seq, conv, err := r.postMessage(ctx, v, fmt.Sprintf("bench-%s-v%d", r.runID, i), fmt.Sprintf("bench message %s %d", r.runID, i))
				if err != nil {
					vPost.Fail(due, time.Now(), errorKind(err))
					return
				}
				vPost.Observe(due, time.Since(due))
				toOp.posted(msgKey{conv, seq}, due)
			})
		})
	}
	if cfg.ReplyRate > 0 {
		loops.Go(func() {
			OpenLoop{Rate: cfg.ReplyRate, Start: w.origin, End: w.end, MaxInFlight: cfg.MaxInFlight, Late: r.late, Saturated: r.saturate}.Run(ctx, func(i int64, due time.Time) {
				v := vs[(i+int64(half))%int64(len(vs))]
				text := fmt.Sprintf("bench reply %s %d", r.runID, i)
				toVis.sending(text, due)
				if err := ops[replyNode(v.Node, len(ops))].Reply(ctx, v.Conv, fmt.Sprintf("bench-%s-r%d", r.runID, i), text); err != nil {
					toVis.failed(text)
					oPost.Fail(due, time.Now(), errorKind(err))
					return
				}
				oPost.Observe(due, time.Since(due))
			})
		})
	}
	if cfg.PageViewRate > 0 {
		loops.Go(func() {
			OpenLoop{Rate: cfg.PageViewRate, Start: w.origin, End: w.end, MaxInFlight: cfg.MaxInFlight, Late: r.late, Saturated: r.saturate}.Run(ctx, func(i int64, due time.Time) {
				v := vs[i%int64(len(vs))]
				if err := r.on(v).PostPageView(ctx, v, fmt.Sprintf("https://shop.example/bench/%s/%d", r.runID, i), "Bench page"); err != nil {
					pvPost.Fail(due, time.Now(), errorKind(err))
					return
				}
				pvPost.Observe(due, time.Since(due))
			})
		})
	}
	loops.Wait()
	// Round trips still under way get until the timeout to arrive.
	deadline := time.NewTimer(cfg.Timeout)
	poll := time.NewTicker(10 * time.Millisecond)
wait:
	for toOp.pending()+toVis.pending() > 0 {
		select {
		case <-ctx.Done():
			break wait
		case <-deadline.C:
			break wait
		case <-poll.C:
		}
	}
	deadline.Stop()
	poll.Stop()
	now := time.Now()
	toOp.expire(now)
	toVis.expire(now)
	close(stop)
	ss := <-watched
	if ctx.Err() != nil {
		return ctx.Err()
	}
	r.finish(w, paths, ss)
	return nil
}
