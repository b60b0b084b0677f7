package loadgen

import (
	"maps"
	"slices"
	"sync"
	"time"
)

// Path collects the outcomes of one measured path (a kind of request, or a
// round trip): the latency histogram of the measured window, errors by
// kind, and per-second series over the whole run for the plot. It is safe
// for concurrent use.
type Path struct {
	// Name is the path's short name in tables and JSON ("visitor_post").
	Name string
	// Title is the path's label for people ("visitor POST /api/v1/messages").
	Title string
	// Offered is the rate the schedule offered (per second), 0 in a closed
	// loop.
	Offered float64

	mu      sync.Mutex
	origin  time.Time // second 0 of the series
	measure time.Time // results start counting here (after the warm-up)
	end     time.Time // ... and stop here (zero: no end)
	total   Histogram
	errors  map[string]int64
	// Per second since origin: latencies by start time, completions and
	// errors by completion time.
	secLat  []*Histogram
	secDone []int64
	secErr  []int64
}

// newPath returns a path whose series start at origin and whose results
// count for calls that start (are due) from measure until end (zero: no
// end).
func newPath(name, title string, offered float64, origin, measure, end time.Time) *Path {
	return &Path{Name: name, Title: title, Offered: offered, origin: origin, measure: measure, end: end, errors: map[string]int64{}}
}

func (p *Path) inWindow(start time.Time) bool {
	return !start.Before(p.measure) && (p.end.IsZero() || start.Before(p.end))
}

func (p *Path) second(t time.Time) int {
	return max(int(t.Sub(p.origin)/time.Second), 0)
}

func grow[T any](s []T, i int) []T {
	if i < len(s) {
		return s
	}
	return append(s, make([]T, i+1-len(s))...)
}

// Observe records a success that started (or was due) at start and was
// complete d later.
func (p *Path) Observe(start time.Time, d time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.inWindow(start) {
		p.total.Record(d)
	}
	s := p.second(start)
	p.secLat = grow(p.secLat, s)
	if p.secLat[s] == nil {
		p.secLat[s] = &Histogram{}
	}
	p.secLat[s].Record(d)
	c := p.second(start.Add(d))
	p.secDone = grow(p.secDone, c)
	p.secDone[c]++
}

// Fail records a failure of the given kind for a call that started (or
// was due) at start and failed at time at.
func (p *Path) Fail(start, at time.Time, kind string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.inWindow(start) {
		p.errors[kind]++
	}
	c := p.second(at)
	p.secErr = grow(p.secErr, c)
	p.secErr[c]++
}

// counts returns the successes and errors of the measured window so far.
func (p *Path) counts() (ok uint64, errs int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, n := range p.errors {
		errs += n
	}
	return p.total.Count(), errs
}

// PathSummary is what a path measured, in the summary and its JSON.
type PathSummary struct {
	Name  string `json:"name"`
	Title string `json:"title"`
	// OfferedRate is the schedule's rate per second (0: closed loop).
	OfferedRate float64 `json:"offered_rate"`
	// AchievedRate is the successes per second of the measured window.
	AchievedRate float64 `json:"achieved_rate"`
	Count        uint64  `json:"count"`
	// Errors counts failures by kind ("http 429 rate_limited", "timeout",
	// "no event", …).
	Errors     map[string]int64 `json:"errors"`
	ErrorCount int64            `json:"error_count"`
	// Latencies in milliseconds.
	MeanMs float64 `json:"mean_ms"`
	P50Ms  float64 `json:"p50_ms"`
	P90Ms  float64 `json:"p90_ms"`
	P99Ms  float64 `json:"p99_ms"`
	P999Ms float64 `json:"p99_9_ms"`
	MaxMs  float64 `json:"max_ms"`
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// Summary returns the path's figures over a measured window of the given
// length.
func (p *Path) Summary(window time.Duration) PathSummary {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := PathSummary{
		Name: p.Name, Title: p.Title, OfferedRate: p.Offered, Count: p.total.Count(),
		Errors: maps.Clone(p.errors),
		MeanMs: ms(p.total.Mean()), P50Ms: ms(p.total.Quantile(0.5)), P90Ms: ms(p.total.Quantile(0.9)),
		P99Ms: ms(p.total.Quantile(0.99)), P999Ms: ms(p.total.Quantile(0.999)), MaxMs: ms(p.total.Max()),
	}
	for _, n := range p.errors {
		s.ErrorCount += n
	}
	if window > 0 {
		s.AchievedRate = float64(s.Count) / window.Seconds()
	}
	return s
}

// SecondPoint is one second of a path's series.
type SecondPoint struct {
	// Second since the start of the run (setup excluded).
	Second int `json:"second"`
	// Latency percentiles of the calls started in that second, in
	// milliseconds (0 when none).
	P50Ms float64 `json:"p50_ms"`
	P99Ms float64 `json:"p99_ms"`
	// Done and Errors count the calls completed (failed) in that second.
	Done   int64 `json:"done"`
	Errors int64 `json:"errors"`
}

// Series returns the path's per-second series over n seconds.
func (p *Path) Series(n int) []SecondPoint {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]SecondPoint, n)
	for i := range out {
		out[i].Second = i
		if i < len(p.secLat) && p.secLat[i] != nil {
			out[i].P50Ms = ms(p.secLat[i].Quantile(0.5))
			out[i].P99Ms = ms(p.secLat[i].Quantile(0.99))
		}
		if i < len(p.secDone) {
			out[i].Done = p.secDone[i]
		}
		if i < len(p.secErr) {
			out[i].Errors = p.secErr[i]
		}
	}
	return out
}

// errorKinds lists the kinds of a summary's errors in a stable order.
func errorKinds(m map[string]int64) []string {
	return slices.Sorted(maps.Keys(m))
}
