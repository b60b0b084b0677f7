package loadgen

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Mode is what a run measures.
type Mode string

// The modes.
const (
	// ModeAccept: durable visitor messages accepted over HTTP (POST
	// /api/v1/messages), closed loop with Concurrency writers (maximum
	// rate), or open loop at Rate.
	ModeAccept Mode = "accept"
	// ModePageViews: POST /api/v1/pageviews, closed loop or at Rate.
	ModePageViews Mode = "pageviews"
	// ModeLatency: open loop, visitor messages at Rate and operator
	// replies through the inbox at ReplyRate over Conversations connected
	// visitors; times both POSTs and both round trips (visitor message →
	// operator live stream, operator reply → visitor WebSocket frame).
	ModeLatency Mode = "latency"
	// ModeIdle: Conns idle visitor WebSockets, held; reports the server's
	// memory growth per connection.
	ModeIdle Mode = "idle"
)

// Config describes one run.
type Config struct {
	Mode Mode
	// Bases are the servers' base URLs ("http://127.0.0.1:8080"): one
	// server, or the nodes of one cluster without a load balancer in
	// front. Visitor i uses Bases[i mod n] for everything (session,
	// messages, WebSocket); in latency mode the operator replies to a
	// visitor through the next node (Bases[(i+1) mod n]), so that replies
	// cross nodes, and listens to the inbox's live stream on Bases[0].
	// Probe reads one server only, normally the first.
	Bases []string
	// Origin is sent on visitor requests; it must be allowed by the server.
	Origin string
	// OperatorLogin and OperatorPassword log into the inbox (latency mode).
	OperatorLogin, OperatorPassword string

	// Duration is the measured window; Warmup runs before it at the same
	// load, and is not counted.
	Duration, Warmup time.Duration
	// Timeout bounds each request, and how long a round trip may take
	// before it counts as not seen.
	Timeout time.Duration

	// Rate is visitor messages (page views in pageviews mode) per second,
	// open loop; 0 in accept and pageviews modes means a closed loop of
	// Concurrency writers.
	Rate float64
	// ReplyRate is operator replies per second (latency mode).
	ReplyRate float64
	// PageViewRate adds page views per second to the latency mode.
	PageViewRate float64
	// Conversations is the number of visitors, each with a conversation
	// (accept: default Concurrency; latency: default 1000).
	Conversations int
	// Concurrency is the number of closed-loop writers, and of parallel
	// requests while setting up.
	Concurrency int
	// MaxInFlight caps the requests of one open-loop schedule in flight at
	// once (default 1024).
	MaxInFlight int

	// Conns is the number of idle WebSockets (idle mode); Settle is how
	// long they are held before the server is measured.
	Conns  int
	Settle time.Duration

	// Probe reads the server's memory and CPU (optional except in idle
	// mode).
	Probe Probe

	// Acked, when set, receives a JSON line (an Ack) per visitor message
	// the server acknowledged (accept and latency modes), the opening
	// messages of the conversations included, as the answers arrive.
	Acked io.Writer

	// Progress receives a progress bar (nil: none); Log receives a line
	// per setup step (nil: none).
	Progress io.Writer
	Log      io.Writer
}

func (c *Config) defaults() {
	if c.Duration == 0 {
		c.Duration = 30 * time.Second
	}
	if c.Timeout == 0 {
		c.Timeout = 10 * time.Second
	}
	if c.Concurrency == 0 {
		c.Concurrency = 64
	}
	if c.MaxInFlight == 0 {
		c.MaxInFlight = 1024
	}
	if c.Conversations == 0 {
		switch c.Mode {
		case ModeLatency:
			c.Conversations = 1000
		default:
			c.Conversations = c.Concurrency
		}
	}
	if c.Conns == 0 {
		c.Conns = 1000
	}
	if c.Settle == 0 {
		c.Settle = 5 * time.Second
	}
}

func (c *Config) validate() error {
	var errs []error
	if len(c.Bases) == 0 {
		errs = append(errs, errors.New("no server URL (--url)"))
	}
	seen := map[string]bool{}
	for _, b := range c.Bases {
		u, err := url.Parse(b)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("--url %q is not an http(s) URL", b))
		}
		if k := strings.TrimSuffix(b, "/"); seen[k] {
			errs = append(errs, fmt.Errorf("--url %q is given twice", b))
		} else {
			seen[k] = true
		}
	}
	if c.Duration < 0 || c.Warmup < 0 || c.Timeout < 0 || c.Settle < 0 {
		errs = append(errs, errors.New("durations must not be negative"))
	}
	if c.Rate < 0 || c.ReplyRate < 0 || c.PageViewRate < 0 {
		errs = append(errs, errors.New("rates must not be negative"))
	}
	if c.Concurrency < 1 || c.Conversations < 1 || c.Conns < 1 || c.MaxInFlight < 1 {
		errs = append(errs, errors.New("--concurrency, --conversations, --conns and --max-inflight must be at least 1"))
	}
	if c.Acked != nil && c.Mode != ModeAccept && c.Mode != ModeLatency {
		errs = append(errs, fmt.Errorf("--acked logs visitor messages: accept and latency modes only, not %s", c.Mode))
	}
	switch c.Mode {
	case ModeAccept, ModePageViews, ModeIdle:
	case ModeLatency:
		if c.Rate == 0 && c.ReplyRate == 0 && c.PageViewRate == 0 {
			errs = append(errs, errors.New("latency mode needs --rate, --reply-rate or --pageview-rate"))
		}
		if c.OperatorLogin == "" {
			errs = append(errs, errors.New("latency mode needs an inbox operator: --operator login:password or CHATBRIDGE_BENCH_OPERATOR"))
		}
	default:
		errs = append(errs, fmt.Errorf("unknown mode %q", c.Mode))
	}
	return errors.Join(errs...)
}

// Run runs one benchmark against the server and returns what it measured.
// Errors of single requests during the measurement are counted in the
// summary; Run fails when the setup fails (with a hint when the server's
// limits refused it) or the context ends.
func Run(ctx context.Context, cfg Config) (*Summary, error) {
	cfg.defaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	r := &runner{cfg: cfg, prog: newProgress(cfg.Progress), runID: randomID()}
	// One client for all the nodes: its idle connections are kept per host.
	hc := newHTTPClient()
	var bases []string
	for _, b := range cfg.Bases {
		b = strings.TrimSuffix(b, "/")
		bases = append(bases, b)
		r.targets = append(r.targets, &Target{Base: b, Origin: cfg.Origin, HTTP: hc, Timeout: cfg.Timeout})
	}
	r.sum = &Summary{
		Mode: cfg.Mode, Target: bases[0], Targets: bases, RunID: r.runID, Started: time.Now().UTC(),
		Settings: settingsOf(cfg), LoadAvgStart: loadAverage(), Machine: machine(),
	}
	if cfg.Acked != nil {
		r.acks = newAckLog(cfg.Acked)
	}
	cpu0 := selfCPU()
	var err error
	switch cfg.Mode {
	case ModeAccept, ModePageViews:
		err = r.runAccept(ctx)
	case ModeLatency:
		err = r.runLatency(ctx)
	case ModeIdle:
		err = r.runIdle(ctx)
	}
	r.prog.done()
	if aerr := r.acks.close(); aerr != nil && err == nil {
		err = fmt.Errorf("acknowledged-message log: %w", aerr)
	}
	if err != nil {
		return nil, err
	}
	r.sum.LoadAvgEnd = loadAverage()
	r.sum.ClientCPUSeconds = (selfCPU() - cpu0).Seconds()
	return r.sum, nil
}

type runner struct {
	cfg  Config
	prog *progress
	// targets are the servers, in the order of Config.Bases; visitor i
	// uses targets[i mod n] (Visitor.Node).
	targets []*Target
	runID   string
	sum     *Summary
	acks    *ackLog // nil without Config.Acked

	lagMu     sync.Mutex
	lag       Histogram // open loop: how late the scheduler got to calls
	saturated int64     // open loop: calls that found --max-inflight calls waiting
}

func (r *runner) saturate() {
	r.lagMu.Lock()
	r.saturated++
	r.lagMu.Unlock()
}

// late records how late the scheduler woke for an open-loop call: a late
// start is counted in its latency anyway, but a generator that is often
// late was short of CPU itself, which the summary should say.
func (r *runner) late(d time.Duration) {
	r.lagMu.Lock()
	r.lag.Record(d)
	r.lagMu.Unlock()
}

// node is the index of the target visitor i uses: round-robin.
func (r *runner) node(i int) int { return i % len(r.targets) }

// on is the target of visitor v.
func (r *runner) on(v *Visitor) *Target { return r.targets[v.Node] }

// postMessage posts a visitor message on v's server and logs its
// acknowledgement (Config.Acked); a failure flushes the log, so that it is
// current whatever happened to the server.
func (r *runner) postMessage(ctx context.Context, v *Visitor, clientID, text string) (uint64, string, error) {
	t := r.on(v)
	seq, conv, err := t.PostMessage(ctx, v, clientID, text)
	if err != nil {
		r.acks.flush()
		return 0, "", err
	}
	r.acks.add(Ack{
		URL: t.Base, Token: v.Token, VisitorID: v.ID, ConversationID: conv, ClientID: clientID, Text: text,
		Seq: seq, At: time.Now().UTC(),
	})
	return seq, conv, nil
}

func randomID() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func (r *runner) logf(format string, args ...any) {
	if r.cfg.Log != nil {
		fmt.Fprintf(r.cfg.Log, format+"\n", args...)
	}
}

// setupError explains a refused setup request.
func (r *runner) setupError(step string, err error) error {
	var he *HTTPError
	if errors.As(err, &he) {
		switch {
		case he.Status == 429:
			return fmt.Errorf("%s: %w\nthe server's limits refuse this load from one address: run it with the settings of `chatbridge bench --print-config` (docs/BENCHMARKS.md)", step, err)
		case he.Status == 403:
			return fmt.Errorf("%s: %w\nthe server refuses the origin %q: add it to visitor.allowed_origins, or pass the allowed one with --origin", step, err, r.cfg.Origin)
		}
	}
	return fmt.Errorf("%s: %w", step, err)
}

// parallel runs fn(i) for i in [0, n) on p goroutines and returns the
// first error (the others stop taking work then).
func parallel(ctx context.Context, n, p int, fn func(ctx context.Context, i int) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(p, n) {
		wg.Go(func() {
			for i := range next {
				if err := fn(ctx, i); err != nil {
					cancel(err)
				}
			}
		})
	}
feed:
	for i := range n {
		select {
		case next <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return err
	}
	return nil
}

// sessions creates n visitors.
func (r *runner) sessions(ctx context.Context, n int) ([]*Visitor, error) {
	r.prog.step("visitor sessions", int64(n), "sessions")
	start := time.Now()
	vs := make([]*Visitor, n)
	err := parallel(ctx, n, r.cfg.Concurrency, func(ctx context.Context, i int) error {
		node := r.node(i)
		v, err := r.targets[node].NewSession(ctx, fmt.Sprintf("bench %s %d", r.runID, i))
		if err != nil {
			return err
		}
		v.Node = node
		vs[i] = v
		r.prog.add(1)
		return nil
	})
	if err != nil {
		return nil, r.setupError(fmt.Sprintf("create %d visitor sessions", n), err)
	}
	if len(r.targets) > 1 {
		r.logf("%d visitor sessions in %v, spread over %d servers", n, time.Since(start).Round(time.Millisecond), len(r.targets))
	} else {
		r.logf("%d visitor sessions in %v", n, time.Since(start).Round(time.Millisecond))
	}
	return vs, nil
}

// openConversations sends each visitor's first message, which opens its
// conversation.
func (r *runner) openConversations(ctx context.Context, vs []*Visitor) error {
	r.prog.step("conversations", int64(len(vs)), "conversations")
	start := time.Now()
	err := parallel(ctx, len(vs), r.cfg.Concurrency, func(ctx context.Context, i int) error {
		_, conv, err := r.postMessage(ctx, vs[i], fmt.Sprintf("bench-%s-open-%d", r.runID, i), "Hello (chatbridge bench)")
		if err != nil {
			return err
		}
		vs[i].Conv = conv
		r.prog.add(1)
		return nil
	})
	if err != nil {
		return r.setupError(fmt.Sprintf("open %d conversations", len(vs)), err)
	}
	r.logf("%d conversations opened in %v", len(vs), time.Since(start).Round(time.Millisecond))
	return nil
}

// openStreams connects every visitor's WebSocket and reads each in its own
// goroutine, handing the undecoded frames to onFrame (may be nil), until
// ctx ends. The
// returned wait function closes the streams and waits for the readers.
// Each open (dial, hello, ready) is timed into open when not nil.
func (r *runner) openStreams(ctx context.Context, vs []*Visitor, open *Path, onFrame func(i int, raw []byte, at time.Time)) (func(), error) {
	r.prog.step("WebSockets", int64(len(vs)), "streams")
	start := time.Now()
	streams := make([]*Stream, len(vs))
	var readers sync.WaitGroup
	rctx, stop := context.WithCancel(ctx)
	closeAll := func() {
		stop()
		for _, s := range streams {
			if s != nil {
				s.CloseNow()
			}
		}
		readers.Wait()
	}
	err := parallel(ctx, len(vs), r.cfg.Concurrency, func(ctx context.Context, i int) error {
		t0 := time.Now()
		s, err := r.on(vs[i]).OpenStream(ctx, vs[i])
		if err != nil {
			return err
		}
		if open != nil {
			open.Observe(t0, time.Since(t0))
		}
		streams[i] = s
		readers.Go(func() {
			for {
				b, at, err := s.ReadRaw(rctx)
				if err != nil {
					return
				}
				if onFrame != nil {
					onFrame(i, b, at)
				}
			}
		})
		r.prog.add(1)
		return nil
	})
	if err != nil {
		closeAll()
		return nil, r.setupError(fmt.Sprintf("open %d visitor WebSockets", len(vs)), err)
	}
	r.logf("%d WebSockets open in %v", len(vs), time.Since(start).Round(time.Millisecond))
	return closeAll, nil
}

// window is the timing of a measured run: series start at origin, results
// count from measure to end.
type window struct {
	origin, measure, end time.Time
}

func (r *runner) newWindow() window {
	origin := time.Now().Add(50 * time.Millisecond)
	measure := origin.Add(r.cfg.Warmup)
	return window{origin: origin, measure: measure, end: measure.Add(r.cfg.Duration)}
}

func (w window) path(name, title string, offered float64) *Path {
	return newPath(name, title, offered, w.origin, w.measure, w.end)
}

// samples are the server readings at the start and the end of the
// measured window (nil when the server cannot be read).
type samples struct{ start, end *ServerSample }

// watch shows the run's progress and reads the server when the measured
// window starts and when it ends, until stop is closed; the readings come
// on the returned channel then.
func (r *runner) watch(ctx context.Context, w window, paths []*Path, stop <-chan struct{}) <-chan samples {
	total := w.end.Sub(w.origin)
	r.prog.step("running", int64(total/(100*time.Millisecond)), "×0.1s")
	out := make(chan samples, 1)
	go func() {
		var got samples
		started, ended := false, false
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				if started && !ended {
					got.end = r.sample(ctx)
				}
				out <- got
				return
			case now := <-tick.C:
				if !started && !now.Before(w.measure) {
					started = true
					got.start = r.sample(ctx)
				}
				if started && !ended && !now.Before(w.end) {
					ended = true
					got.end = r.sample(ctx)
				}
				var parts []string
				for _, p := range paths {
					ok, errs := p.counts()
					parts = append(parts, fmt.Sprintf("%s %d", p.Name, ok))
					if errs > 0 {
						parts = append(parts, fmt.Sprintf("errors %d", errs))
					}
				}
				phase := "warm-up"
				if started {
					phase = "measuring"
				}
				r.prog.set(min(int64(now.Sub(w.origin)/(100*time.Millisecond)), int64(total/(100*time.Millisecond))), phase+": "+strings.Join(parts, ", "))
			}
		}
	}()
	return out
}

// sample reads the server, or returns nil when it cannot be read.
func (r *runner) sample(ctx context.Context) *ServerSample {
	if r.cfg.Probe.PID == 0 && r.cfg.Probe.MetricsURL == "" {
		return nil
	}
	s, err := r.cfg.Probe.Sample(ctx)
	if err != nil {
		r.logf("cannot read the server's resources: %v", err)
		return nil
	}
	return &s
}

// finish fills the summary with the paths' figures and the server's use.
func (r *runner) finish(w window, paths []*Path, ss samples) {
	s0, s1 := ss.start, ss.end
	r.lagMu.Lock()
	if r.lag.Count() > 0 {
		r.sum.Generator = &GeneratorLag{
			P50Ms: ms(r.lag.Quantile(0.5)), P99Ms: ms(r.lag.Quantile(0.99)), MaxMs: ms(r.lag.Max()),
			Saturated: r.saturated,
		}
	}
	r.lagMu.Unlock()
	r.sum.WindowSeconds = r.cfg.Duration.Seconds()
	r.sum.WarmupSeconds = r.cfg.Warmup.Seconds()
	n := int((w.end.Sub(w.origin) + time.Second - 1) / time.Second)
	r.sum.Series = map[string][]SecondPoint{}
	for _, p := range paths {
		r.sum.Paths = append(r.sum.Paths, p.Summary(r.cfg.Duration))
		r.sum.Series[p.Name] = p.Series(n)
	}
	if s0 != nil && s1 != nil {
		secs := s1.At.Sub(s0.At).Seconds()
		r.sum.Server = &ServerUsage{
			Source: s1.Source, CPUSeconds: s1.CPUSeconds - s0.CPUSeconds, OverSeconds: secs,
			RSSStart: s0.RSS, RSSEnd: s1.RSS,
		}
		if secs > 0 {
			r.sum.Server.CPUPercent = 100 * r.sum.Server.CPUSeconds / secs
		}
	}
}
