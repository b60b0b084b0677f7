package loadgen

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chatbridge/chatbridge/internal/fixture"
)

func TestOpenLoopDueTimes(t *testing.T) {
	start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		name  string
		rate  float64
		span  time.Duration
		i     int64
		due   time.Duration
		calls int64
	}{
		{"1000/s", 1000, time.Second, 7, 7 * time.Millisecond, 1000},
		{"500/s", 500, 10 * time.Second, 2500, 5 * time.Second, 5000},
		{"3/s (not a whole number of ns)", 3, time.Second, 2, 666666666, 3},
		{"0.5/s", 0.5, 5 * time.Second, 2, 4 * time.Second, 3},
		{"end on a due time is excluded", 10, 300 * time.Millisecond, 3, 300 * time.Millisecond, 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := OpenLoop{Rate: tc.rate, Start: start, End: start.Add(tc.span)}
			if got := o.Due(tc.i).Sub(start); got != tc.due {
				t.Errorf("Due(%d) = start+%v, want start+%v", tc.i, got, tc.due)
			}
			if got := o.Calls(); got != tc.calls {
				t.Errorf("Calls() = %d, want %d", got, tc.calls)
			}
		})
	}
	if n := (OpenLoop{Rate: 0, Start: start, End: start.Add(time.Hour)}).Calls(); n != 0 {
		t.Errorf("rate 0: %d calls", n)
	}
}

// A call that does not return holds up nothing: the later calls are still
// made, each at its own due time, and Run returns once the stuck call ends.
func TestOpenLoopDoesNotWaitForSlowCalls(t *testing.T) {
	start := time.Now()
	var lates atomic.Int64
	o := OpenLoop{Rate: 1000, Start: start, End: start.Add(100 * time.Millisecond), Late: func(d time.Duration) {
		if d < 0 {
			t.Errorf("a call was started %v early", -d)
		}
		lates.Add(1)
	}}
	release := make(chan struct{})
	var (
		made    atomic.Int64
		mu      sync.Mutex
		lateBad []int64
	)
	done := make(chan int64, 1)
	go func() {
		done <- o.Run(context.Background(), func(i int64, due time.Time) {
			if !due.Equal(o.Due(i)) {
				t.Errorf("call %d given due %v, want %v", i, due, o.Due(i))
			}
			if time.Now().Before(due) {
				mu.Lock()
				lateBad = append(lateBad, i) // made before it was due
				mu.Unlock()
			}
			made.Add(1)
			if i == 0 {
				<-release // the first answer never comes until the end
			}
		})
	}()
	want := o.Calls()
	fixture.WaitFor(t, "every call made while call 0 hangs", func() bool { return made.Load() == want })
	select {
	case <-done:
		t.Fatal("Run returned while a call was still running")
	default:
	}
	close(release)
	if n := <-done; n != want {
		t.Errorf("Run made %d calls, want %d", n, want)
	}
	if len(lateBad) > 0 {
		t.Errorf("calls %v were made before they were due", lateBad)
	}
	if lates.Load() != want {
		t.Errorf("Late was told of %d calls, want %d", lates.Load(), want)
	}
}

// With MaxInFlight, no more calls run at once than allowed, and calls that
// waited for a slot keep their scheduled due time.
func TestOpenLoopMaxInFlight(t *testing.T) {
	start := time.Now()
	var (
		running, peak atomic.Int64
		started       atomic.Int64
		saturated     atomic.Int64
	)
	o := OpenLoop{Rate: 10000, Start: start, End: start.Add(20 * time.Millisecond), MaxInFlight: 3,
		Saturated: func() { saturated.Add(1) }}
	gate := make(chan struct{})
	done := make(chan int64, 1)
	go func() {
		done <- o.Run(context.Background(), func(i int64, due time.Time) {
			if !due.Equal(o.Due(i)) {
				t.Errorf("call %d given due %v, want %v", i, due, o.Due(i))
			}
			r := running.Add(1)
			for {
				p := peak.Load()
				if r <= p || peak.CompareAndSwap(p, r) {
					break
				}
			}
			started.Add(1)
			<-gate
			running.Add(-1)
		})
	}()
	fixture.WaitFor(t, "three calls running", func() bool { return started.Load() == 3 })
	// The scheduler is now blocked on a slot; let everything through.
	close(gate)
	if n := <-done; n != o.Calls() {
		t.Errorf("made %d calls, want %d", n, o.Calls())
	}
	if p := peak.Load(); p > 3 {
		t.Errorf("%d calls ran at once, the cap is 3", p)
	}
	if saturated.Load() == 0 {
		t.Error("no call was reported waiting for a slot")
	}
}

func TestOpenLoopStopsWithContext(t *testing.T) {
	start := time.Now()
	o := OpenLoop{Rate: 1000, Start: start, End: start.Add(time.Hour)}
	ctx, cancel := context.WithCancel(context.Background())
	var made atomic.Int64
	done := make(chan int64, 1)
	go func() {
		done <- o.Run(ctx, func(int64, time.Time) { made.Add(1) })
	}()
	fixture.WaitFor(t, "some calls", func() bool { return made.Load() >= 10 })
	cancel()
	n := <-done
	if n != made.Load() || n < 10 {
		t.Errorf("Run reported %d calls, %d were made", n, made.Load())
	}
}

func TestClosedLoop(t *testing.T) {
	var (
		mu    sync.Mutex
		calls = map[int]int64{}
	)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int64, 1)
	go func() {
		done <- ClosedLoop{Workers: 4, End: time.Now().Add(time.Hour)}.Run(ctx, func(w int, i int64) {
			mu.Lock()
			defer mu.Unlock()
			if calls[w] != i {
				t.Errorf("worker %d: call %d after %d calls", w, i, calls[w])
			}
			calls[w]++
		})
	}()
	fixture.WaitFor(t, "every worker calling", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(calls) == 4
	})
	cancel()
	n := <-done
	var sum int64
	for _, c := range calls {
		sum += c
	}
	if n != sum {
		t.Errorf("Run reported %d calls, %d were made", n, sum)
	}
	// End stops the workers too.
	if n := (ClosedLoop{Workers: 2, End: time.Now()}).Run(context.Background(), func(int, int64) {}); n != 0 {
		t.Errorf("a loop that ended already made %d calls", n)
	}
}
