package loadgen

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"text/tabwriter"
	"time"
)

// Summary is the result of a run; `chatbridge bench --json` prints it.
type Summary struct {
	Mode Mode `json:"mode"`
	// Target is the (first) server's base URL; Targets are all of them,
	// in --url order (several: the nodes of one cluster).
	Target   string    `json:"target"`
	Targets  []string  `json:"targets,omitempty"`
	RunID    string    `json:"run_id"`
	Started  time.Time `json:"started"`
	Settings Settings  `json:"settings"`
	// WindowSeconds is the measured window (idle mode: the time to open
	// the connections), after WarmupSeconds of warm-up.
	WindowSeconds float64       `json:"window_seconds"`
	WarmupSeconds float64       `json:"warmup_seconds"`
	Paths         []PathSummary `json:"paths"`
	// Server is the server's CPU and memory over the measured window, when
	// it could be read (--pid or --metrics-url).
	Server *ServerUsage `json:"server,omitempty"`
	Idle   *IdleSummary `json:"idle,omitempty"`
	// Generator says how late the open-loop calls started after their due
	// times (nil in a closed loop).
	Generator *GeneratorLag `json:"generator_lag,omitempty"`
	// ClientCPUSeconds is the CPU time this load generator used, set-up
	// included: on a shared machine it is taken from the server.
	ClientCPUSeconds float64 `json:"client_cpu_seconds"`
	// LoadAvgStart and LoadAvgEnd are /proc/loadavg's three averages.
	LoadAvgStart string  `json:"loadavg_start"`
	LoadAvgEnd   string  `json:"loadavg_end"`
	Machine      Machine `json:"machine"`
	// Series are the per-second points of each path (the plot's data).
	Series map[string][]SecondPoint `json:"series,omitempty"`
}

// Settings are the run's parameters as the summary reports them.
type Settings struct {
	Rate          float64 `json:"rate,omitempty"`
	ReplyRate     float64 `json:"reply_rate,omitempty"`
	PageViewRate  float64 `json:"pageview_rate,omitempty"`
	Conversations int     `json:"conversations,omitempty"`
	Concurrency   int     `json:"concurrency,omitempty"`
	Conns         int     `json:"conns,omitempty"`
	TimeoutMs     float64 `json:"timeout_ms"`
}

func settingsOf(c Config) Settings {
	s := Settings{TimeoutMs: ms(c.Timeout)}
	switch c.Mode {
	case ModeAccept, ModePageViews:
		s.Rate = c.Rate
		if c.Rate == 0 {
			s.Concurrency = c.Concurrency
		}
		s.Conversations = c.Conversations
	case ModeLatency:
		s.Rate, s.ReplyRate, s.PageViewRate, s.Conversations = c.Rate, c.ReplyRate, c.PageViewRate, c.Conversations
	case ModeIdle:
		s.Conns = c.Conns
	}
	return s
}

// ServerUsage is the server's resources over the measured window.
type ServerUsage struct {
	Source      string  `json:"source"`
	CPUSeconds  float64 `json:"cpu_seconds"`
	OverSeconds float64 `json:"over_seconds"`
	// CPUPercent is CPUSeconds / OverSeconds: 100 is one core busy.
	CPUPercent float64 `json:"cpu_percent"`
	RSSStart   uint64  `json:"rss_start_bytes"`
	RSSEnd     uint64  `json:"rss_end_bytes"`
}

// GeneratorLag is how late the open-loop scheduler got to its calls: its
// own delay, already part of every latency. A p99 of more than a
// millisecond or two means the load generator itself was short of CPU.
type GeneratorLag struct {
	P50Ms float64 `json:"p50_ms"`
	P99Ms float64 `json:"p99_ms"`
	MaxMs float64 `json:"max_ms"`
	// Saturated counts the calls that found --max-inflight calls already
	// waiting for the server, and waited for one to end.
	Saturated int64 `json:"saturated"`
}

// Machine describes where the load generator ran.
type Machine struct {
	CPUs      int    `json:"cpus"`
	MemTotal  string `json:"mem_total"`
	GoVersion string `json:"go_version"`
	OS        string `json:"os"`
}

func machine() Machine {
	m := Machine{CPUs: runtime.NumCPU(), GoVersion: runtime.Version(), OS: runtime.GOOS + "/" + runtime.GOARCH}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for line := range strings.Lines(string(b)) {
			if v, ok := strings.CutPrefix(line, "MemTotal:"); ok {
				var kb uint64
				if _, err := fmt.Sscan(strings.TrimSpace(v), &kb); err == nil {
					m.MemTotal = fmt.Sprintf("%.1f GiB", float64(kb)/(1<<20))
				}
			}
		}
	}
	return m
}

func fmtMs(v float64) string {
	switch {
	case v == 0:
		return "-"
	case v < 1:
		return fmt.Sprintf("%.3fms", v)
	case v < 100:
		return fmt.Sprintf("%.2fms", v)
	default:
		return fmt.Sprintf("%.0fms", v)
	}
}

func fmtRate(v float64) string {
	if v == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f", v)
}

func fmtBytes(b float64) string {
	switch {
	case b >= 1<<30 || b <= -(1<<30):
		return fmt.Sprintf("%.2f GiB", b/(1<<30))
	case b >= 1<<20 || b <= -(1<<20):
		return fmt.Sprintf("%.1f MiB", b/(1<<20))
	case b >= 1<<10 || b <= -(1<<10):
		return fmt.Sprintf("%.1f KiB", b/(1<<10))
	default:
		return fmt.Sprintf("%.0f B", b)
	}
}

// WriteTable prints the summary for people.
func (s *Summary) WriteTable(w io.Writer) error {
	var b strings.Builder
	if len(s.Targets) > 1 {
		fmt.Fprintf(&b, "chatbridge bench %s against %d servers, %s (run %s)\n",
			s.Mode, len(s.Targets), strings.Join(s.Targets, ", "), s.RunID)
	} else {
		fmt.Fprintf(&b, "chatbridge bench %s against %s (run %s)\n", s.Mode, s.Target, s.RunID)
	}
	var setting []string
	st := s.Settings
	if st.Rate > 0 {
		setting = append(setting, fmt.Sprintf("rate %g/s", st.Rate))
	}
	if st.ReplyRate > 0 {
		setting = append(setting, fmt.Sprintf("replies %g/s", st.ReplyRate))
	}
	if st.PageViewRate > 0 {
		setting = append(setting, fmt.Sprintf("page views %g/s", st.PageViewRate))
	}
	if st.Concurrency > 0 {
		setting = append(setting, fmt.Sprintf("closed loop, %d writers", st.Concurrency))
	}
	if st.Conversations > 0 {
		setting = append(setting, fmt.Sprintf("%d conversations", st.Conversations))
	}
	if st.Conns > 0 {
		setting = append(setting, fmt.Sprintf("%d connections", st.Conns))
	}
	if s.Idle == nil {
		setting = append(setting, fmt.Sprintf("%gs measured after %gs warm-up", s.WindowSeconds, s.WarmupSeconds))
	}
	fmt.Fprintf(&b, "%s; load average %s at start, %s at end; %d CPUs, %s, %s\n\n",
		strings.Join(setting, ", "), s.LoadAvgStart, s.LoadAvgEnd, s.Machine.CPUs, s.Machine.MemTotal, s.Machine.GoVersion)

	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "path\toffered/s\tachieved/s\tcount\terrors\tp50\tp90\tp99\tp99.9\tmax\t")
	for _, p := range s.Paths {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%s\t%s\t%s\t%s\t%s\t\n", p.Name, fmtRate(p.OfferedRate), fmtRate(p.AchievedRate),
			p.Count, p.ErrorCount, fmtMs(p.P50Ms), fmtMs(p.P90Ms), fmtMs(p.P99Ms), fmtMs(p.P999Ms), fmtMs(p.MaxMs))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	b.WriteString("\n")
	for _, p := range s.Paths {
		fmt.Fprintf(&b, "  %-14s %s\n", p.Name, p.Title)
	}
	for _, p := range s.Paths {
		for _, k := range errorKinds(p.Errors) {
			fmt.Fprintf(&b, "  errors %s: %d × %s\n", p.Name, p.Errors[k], k)
		}
	}
	if sv := s.Server; sv != nil {
		if len(s.Targets) > 1 {
			fmt.Fprintf(&b, "first server, %s:", s.Targets[0])
		} else {
			b.WriteString("server")
		}
		fmt.Fprintf(&b, " (%s): %.1f CPU-s over %.1f s (%.0f %% of one core), RSS %s → %s\n",
			sv.Source, sv.CPUSeconds, sv.OverSeconds, sv.CPUPercent, fmtBytes(float64(sv.RSSStart)), fmtBytes(float64(sv.RSSEnd)))
	}
	if id := s.Idle; id != nil {
		if id.ProbedConns > 0 {
			fmt.Fprintf(&b, "idle: %d of the %d WebSockets were on the server measured (the first)\n", id.ProbedConns, id.Conns)
		}
		fmt.Fprintf(&b, "idle: %d WebSockets opened in %.1f s, held %.1f s; server RSS %s → %s (%s): %s per connection\n",
			id.Conns, id.OpenSeconds, id.SettleSeconds, fmtBytes(float64(id.Before.RSS)), fmtBytes(float64(id.After.RSS)),
			id.After.Source, fmtBytes(id.RSSPerConn))
		if id.HeapStackPerConn != 0 {
			fmt.Fprintf(&b, "idle: Go heap+stack in use %s per connection, %.2f goroutines per connection (from /metrics)\n",
				fmtBytes(id.HeapStackPerConn), id.GoroutinesPerConn)
		}
	}
	if g := s.Generator; g != nil {
		fmt.Fprintf(&b, "bench tool: %.1f CPU-s; its scheduler was late by p50 %s, p99 %s, max %s\n",
			s.ClientCPUSeconds, fmtMs(g.P50Ms), fmtMs(g.P99Ms), fmtMs(g.MaxMs))
		if g.Saturated > 0 {
			fmt.Fprintf(&b, "bench tool: %d calls waited for a free slot (--max-inflight calls were waiting for the server)\n", g.Saturated)
		}
	} else {
		fmt.Fprintf(&b, "bench tool: %.1f CPU-s\n", s.ClientCPUSeconds)
	}
	_, err := io.WriteString(w, b.String())
	return err
}
