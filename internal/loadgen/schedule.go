package loadgen

import (
	"context"
	"sync"
	"time"
)

// OpenLoop fires calls at fixed times: call i is due at Start + i/Rate,
// whatever happened to the calls before it. Each call runs in its own
// goroutine, so a slow answer never delays the next request; the caller
// measures latency from the due time it is given, so time spent waiting
// for the scheduler, for a free slot or for the server is all counted (no
// coordinated omission).
type OpenLoop struct {
	// Rate is the number of calls per second (> 0).
	Rate float64
	// Start is when call 0 is due.
	Start time.Time
	// End: calls due at or after End are not made.
	End time.Time
	// MaxInFlight caps the calls running at once (0: no cap). A due call
	// that finds no free slot waits for one; its latency still counts from
	// its due time.
	MaxInFlight int
	// Late, when set, is told for each call how late the scheduler got
	// to it: after its due time or after the end of the last wait for a
	// free slot, whichever is later. That is the load generator's own
	// delay (a busy machine); waits for a slot are the server's.
	Late func(time.Duration)
	// Saturated, when set, is called for each call that found no free
	// slot: MaxInFlight calls were waiting for the server.
	Saturated func()
}

// Due returns when call i is due.
func (o OpenLoop) Due(i int64) time.Time {
	return o.Start.Add(time.Duration(float64(i) / o.Rate * float64(time.Second)))
}

// Calls returns how many calls the schedule makes (those due before End).
func (o OpenLoop) Calls() int64 {
	if o.Rate <= 0 || !o.End.After(o.Start) {
		return 0
	}
	// Rounding may put the estimate one off in either direction.
	n := int64(o.End.Sub(o.Start).Seconds() * o.Rate)
	for n > 0 && !o.Due(n-1).Before(o.End) {
		n--
	}
	for o.Due(n).Before(o.End) {
		n++
	}
	return n
}

// Run makes the calls, fn(i, due) for i = 0, 1, …, each in its own
// goroutine and not before its due time, until End or until ctx ends. It
// returns the number of calls made, once every one of them has returned.
func (o OpenLoop) Run(ctx context.Context, fn func(i int64, due time.Time)) int64 {
	if o.Rate <= 0 {
		return 0
	}
	var (
		wg       sync.WaitGroup
		slots    chan struct{}
		timer    = time.NewTimer(time.Hour)
		n        int64
		slotFree time.Time // when the last wait for a slot ended
	)
	defer timer.Stop()
	if o.MaxInFlight > 0 {
		slots = make(chan struct{}, o.MaxInFlight)
	}
loop:
	for ; ; n++ {
		due := o.Due(n)
		if !due.Before(o.End) {
			break
		}
		// Calls that are already due (the scheduler was late) go out at
		// once, one after the other, without sleeping.
		if wait := time.Until(due); wait > 0 {
			timer.Reset(wait)
			select {
			case <-ctx.Done():
				break loop
			case <-timer.C:
			}
		} else if ctx.Err() != nil {
			break
		}
		if o.Late != nil {
			from := due
			if slotFree.After(from) {
				from = slotFree
			}
			o.Late(time.Since(from))
		}
		if slots != nil {
			select {
			case slots <- struct{}{}:
			default:
				if o.Saturated != nil {
					o.Saturated()
				}
				select {
				case slots <- struct{}{}:
					slotFree = time.Now()
				case <-ctx.Done():
					break loop
				}
			}
		}
		wg.Add(1)
		go func(i int64, due time.Time) {
			defer wg.Done()
			if slots != nil {
				defer func() { <-slots }()
			}
			fn(i, due)
		}(n, due)
	}
	wg.Wait()
	return n
}

// ClosedLoop runs Workers goroutines, each calling fn(worker, i) again as
// soon as its previous call returned, until End or until ctx ends; i counts
// the calls of that worker. It returns the number of calls made, once every
// worker has stopped. Latency in a closed loop is each call's own duration:
// the offered load adapts to the server, so use it for maximum throughput,
// not for latency at a given rate.
type ClosedLoop struct {
	Workers int
	End     time.Time
}

// Run runs the workers.
func (c ClosedLoop) Run(ctx context.Context, fn func(worker int, i int64)) int64 {
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		total int64
	)
	for w := range c.Workers {
		wg.Go(func() {
			var i int64
			for ctx.Err() == nil && time.Now().Before(c.End) {
				fn(w, i)
				i++
			}
			mu.Lock()
			total += i
			mu.Unlock()
		})
	}
	wg.Wait()
	return total
}
