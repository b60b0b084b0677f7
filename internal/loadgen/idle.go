package loadgen

import (
	"context"
	"fmt"
	"time"
)

// IdleSummary is what the idle mode measured.
type IdleSummary struct {
	Conns int `json:"conns"`
	// ProbedConns is, with several servers, the connections on the one
	// whose memory was read (the first): the per-connection figures are
	// divided by it. Absent with one server (all of Conns).
	ProbedConns int `json:"probed_conns,omitempty"`
	// Before: after the sessions were created, before any WebSocket;
	// After: with every WebSocket open, Settle later.
	Before ServerSample `json:"before"`
	After  ServerSample `json:"after"`
	// RSSPerConn is (After.RSS − Before.RSS) / Conns (ProbedConns with
	// several servers), in bytes.
	RSSPerConn float64 `json:"rss_per_conn_bytes"`
	// HeapStackPerConn is the same for Go's heap and stack in use, when the
	// server's metrics were read (0 otherwise).
	HeapStackPerConn float64 `json:"heap_stack_per_conn_bytes,omitempty"`
	// GoroutinesPerConn likewise.
	GoroutinesPerConn float64 `json:"goroutines_per_conn,omitempty"`
	// OpenSeconds is how long opening all the connections took.
	OpenSeconds   float64 `json:"open_seconds"`
	SettleSeconds float64 `json:"settle_seconds"`
	// FileLimit is this process's open-file limit after raising it.
	FileLimit uint64 `json:"file_limit"`
}

// runIdle opens Conns visitor WebSockets (one visitor each: a session,
// then GET /api/v1/stream with its hello), holds them idle for Settle, and
// reads the server's memory before and after. Each open (dial, hello,
// ready frame) is timed.
func (r *runner) runIdle(ctx context.Context) error {
	cfg := r.cfg
	limit, err := RaiseFileLimit()
	if err != nil {
		return err
	}
	if need := uint64(cfg.Conns) + 128; limit < need {
		return fmt.Errorf("%d connections need about %d open files; this process may open %d (raise the hard limit: ulimit -Hn)", cfg.Conns, need, limit)
	}
	if _, err := cfg.Probe.Sample(ctx); err != nil {
		return fmt.Errorf("idle mode reads the server's memory: %w", err)
	}
	vs, err := r.sessions(ctx, cfg.Conns)
	if err != nil {
		return err
	}
	before, err := cfg.Probe.Sample(ctx)
	if err != nil {
		return err
	}
	w := window{origin: time.Now(), measure: time.Now()}
	open := w.path("stream_open", "WebSocket open: dial, hello, ready frame", 0)
	start := time.Now()
	closeStreams, err := r.openStreams(ctx, vs, open, nil)
	if err != nil {
		return err
	}
	defer closeStreams()
	opened := time.Since(start)
	r.prog.step(fmt.Sprintf("holding %d idle WebSockets", cfg.Conns), int64(cfg.Settle/(100*time.Millisecond)), "×0.1s")
	t := time.NewTicker(100 * time.Millisecond)
	settleEnd := time.Now().Add(cfg.Settle)
	for now := time.Now(); now.Before(settleEnd); {
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case now = <-t.C:
			r.prog.set(int64(cfg.Settle-settleEnd.Sub(now))/int64(100*time.Millisecond), "settling")
		}
	}
	t.Stop()
	after, err := cfg.Probe.Sample(ctx)
	if err != nil {
		return err
	}
	// The probe reads one server (the first): only its share of the
	// connections counts.
	probed := cfg.Conns
	if len(r.targets) > 1 {
		probed = 0
		for _, v := range vs {
			if v.Node == 0 {
				probed++
			}
		}
	}
	n := float64(probed)
	idle := &IdleSummary{
		Conns: cfg.Conns, Before: before, After: after,
		RSSPerConn:  (float64(after.RSS) - float64(before.RSS)) / n,
		OpenSeconds: opened.Seconds(), SettleSeconds: cfg.Settle.Seconds(), FileLimit: limit,
	}
	if probed != cfg.Conns {
		idle.ProbedConns = probed
	}
	if after.HeapInuse > 0 && before.HeapInuse > 0 {
		idle.HeapStackPerConn = (float64(after.HeapInuse+after.StackInuse) - float64(before.HeapInuse+before.StackInuse)) / n
		idle.GoroutinesPerConn = (float64(after.Goroutines) - float64(before.Goroutines)) / n
	}
	r.sum.Idle = idle
	r.sum.WindowSeconds = opened.Seconds()
	r.sum.Paths = append(r.sum.Paths, open.Summary(0))
	r.sum.Series = map[string][]SecondPoint{open.Name: open.Series(int(opened/time.Second) + 1)}
	return nil
}
