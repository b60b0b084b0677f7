package loadgen

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/chatbridge/chatbridge/internal/config"
)

// The configuration --print-config writes is one the server accepts, with
// every visitor limit raised and an operator whose password works.
func TestServerConfigIsValid(t *testing.T) {
	for _, comment := range []bool{false, true} {
		b, err := ServerConfig(ServerConfigOptions{
			Listen: "127.0.0.1:0", DataDir: t.TempDir(), Origin: "https://bench.example",
			OperatorLogin: "bench", OperatorPassword: "s3cret-pass", PasswordComment: comment,
		})
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Contains(string(b), "s3cret-pass"); got != comment {
			t.Errorf("password in the file: %v, want %v", got, comment)
		}
		cfg, err := config.Parse(b, func(string) string { return "" })
		if err != nil {
			t.Fatalf("the printed config does not parse: %v\n%s", err, b)
		}
		if err := cfg.Validate(); err != nil {
			t.Fatalf("the printed config does not validate: %v", err)
		}
		v := cfg.Visitor
		for name, got := range map[string]int{
			"messages_per_minute": v.MessagesPerMinute, "sessions_per_ip_per_hour": v.SessionsPerIPPerHour,
			"conversations_per_ip_per_day": v.ConversationsPerIPPerDay, "pageviews_per_minute": v.PageviewsPerMinute,
			"max_conns_per_ip": v.MaxConnsPerIP,
		} {
			if got != BenchLimit {
				t.Errorf("visitor.%s = %d, want %d", name, got, BenchLimit)
			}
		}
		if len(v.AllowedOrigins) != 1 || v.AllowedOrigins[0] != "https://bench.example" {
			t.Errorf("allowed_origins = %v", v.AllowedOrigins)
		}
		if len(cfg.Inbox.Operators) != 1 || cfg.Inbox.Operators[0].Login != "bench" {
			t.Fatalf("operators = %+v", cfg.Inbox.Operators)
		}
		if err := bcrypt.CompareHashAndPassword([]byte(cfg.Inbox.Operators[0].PasswordHash), []byte("s3cret-pass")); err != nil {
			t.Errorf("the operator's hash does not match the password: %v", err)
		}
	}
	if _, err := ServerConfig(ServerConfigOptions{Listen: "x"}); err == nil {
		t.Error("no operator: want an error")
	}
}

func TestParseMetrics(t *testing.T) {
	text := `# HELP process_resident_memory_bytes Resident memory size in bytes.
# TYPE process_resident_memory_bytes gauge
process_resident_memory_bytes 4.5056e+07
process_cpu_seconds_total 12.5
go_goroutines 42
go_memstats_heap_inuse_bytes 1.2e+07
chatbridge_outbox_depth{destination="inbox"} 3
`
	m, err := parseMetrics(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{
		"process_resident_memory_bytes": 45056000, "process_cpu_seconds_total": 12.5,
		"go_goroutines": 42, "go_memstats_heap_inuse_bytes": 12e6,
	}
	for k, v := range want {
		if m[k] != v {
			t.Errorf("%s = %v, want %v", k, m[k], v)
		}
	}
	if _, ok := m["chatbridge_outbox_depth"]; ok {
		t.Error("a labelled sample was read")
	}
	if _, err := parseMetrics(strings.NewReader("foo 1\n")); err == nil {
		t.Error("metrics without process_resident_memory_bytes: want an error")
	}
}

// A visitor message's round trip is complete when both its POST's answer
// and its live event arrived, in either order; the latency runs from the
// due time to the event.
func TestToOperatorEitherOrder(t *testing.T) {
	origin := time.Now()
	p := newPath("v2o", "", 0, origin, origin, time.Time{})
	tr := newToOperator()
	tr.event(msgKey{"c0", 1}, origin) // before start: not timed
	tr.start(p)
	due := origin.Add(time.Second)

	tr.posted(msgKey{"c1", 1}, due)
	tr.event(msgKey{"c1", 1}, due.Add(3*time.Millisecond)) // answer first
	tr.event(msgKey{"c2", 7}, due.Add(5*time.Millisecond)) // event first
	tr.posted(msgKey{"c2", 7}, due)
	tr.posted(msgKey{"c3", 2}, due) // never seen
	if n := tr.pending(); n != 1 {
		t.Fatalf("pending = %d, want 1", n)
	}
	tr.expire(due.Add(time.Minute))
	s := p.Summary(time.Second)
	if s.Count != 2 || s.MaxMs != 5 || s.P50Ms < 3 || s.P50Ms > 3*(1+1.0/subHalf) {
		t.Errorf("count %d, p50 %v ms, max %v ms; want 2, 3, 5", s.Count, s.P50Ms, s.MaxMs)
	}
	if s.Errors["not seen (timeout)"] != 1 || s.ErrorCount != 1 {
		t.Errorf("errors = %v", s.Errors)
	}
}

func TestToVisitor(t *testing.T) {
	origin := time.Now()
	p := newPath("o2v", "", 0, origin, origin, time.Time{})
	tr := newToVisitor()
	tr.start(p)
	tr.sending("a", origin)
	tr.sending("b", origin)
	tr.sending("c", origin)
	tr.frame("a", origin.Add(2*time.Millisecond))
	tr.frame("a", origin.Add(9*time.Millisecond)) // a second frame with the text: not counted again
	tr.frame("other", origin)
	tr.failed("b") // its POST failed: the POST path counts it
	tr.expire(origin.Add(time.Minute))
	s := p.Summary(time.Second)
	if s.Count != 1 || s.MaxMs != 2 || s.ErrorCount != 1 {
		t.Errorf("count %d, max %v ms, errors %v; want 1, 2, one not seen", s.Count, s.MaxMs, s.Errors)
	}
}

// Results count only inside the measured window; the per-second series
// cover the whole run.
func TestPathWindowAndSeries(t *testing.T) {
	origin := time.Now()
	p := newPath("x", "", 100, origin, origin.Add(time.Second), origin.Add(3*time.Second))
	p.Observe(origin.Add(500*time.Millisecond), time.Millisecond)      // warm-up
	p.Observe(origin.Add(1500*time.Millisecond), 2*time.Millisecond)   // measured
	p.Observe(origin.Add(2500*time.Millisecond), 600*time.Millisecond) // measured, completes in second 3
	p.Fail(origin.Add(2600*time.Millisecond), origin.Add(2700*time.Millisecond), "http 500")
	p.Fail(origin.Add(200*time.Millisecond), origin.Add(300*time.Millisecond), "http 429") // warm-up
	s := p.Summary(2 * time.Second)
	if s.Count != 2 || s.AchievedRate != 1 || s.ErrorCount != 1 || s.Errors["http 500"] != 1 {
		t.Errorf("summary %+v", s)
	}
	series := p.Series(4)
	wantDone := []int64{1, 1, 0, 1}
	wantErr := []int64{1, 0, 1, 0}
	for i, pt := range series {
		if pt.Done != wantDone[i] || pt.Errors != wantErr[i] {
			t.Errorf("second %d: done %d errors %d, want %d %d", i, pt.Done, pt.Errors, wantDone[i], wantErr[i])
		}
	}
	if series[2].P50Ms != 600 || series[3].P50Ms != 0 {
		t.Errorf("second 2 p50 %v, second 3 p50 %v", series[2].P50Ms, series[3].P50Ms)
	}
}

func TestErrorKind(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{&HTTPError{Status: 429, Code: "rate_limited"}, "http 429 rate_limited"},
		{fmt.Errorf("post: %w", &HTTPError{Status: 502}), "http 502"},
		{errNoAnswer, "not seen (timeout)"},
		{context.DeadlineExceeded, "timeout"},
		{&net.OpError{Op: "dial", Err: errors.New("connection refused")}, "network"},
		{errors.New("odd"), "other"},
	}
	for _, tc := range tests {
		if got := errorKind(tc.err); got != tc.want {
			t.Errorf("errorKind(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
}
