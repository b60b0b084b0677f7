package loadgen

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Probe reads the server process's resources: from /proc/<PID> when PID is
// set (the server runs on this machine), and from its Prometheus metrics
// at MetricsURL (process_resident_memory_bytes, process_cpu_seconds_total,
// go_memstats_heap_inuse_bytes, go_memstats_stack_inuse_bytes,
// go_goroutines) when that answers.
type Probe struct {
	PID        int
	MetricsURL string
	HTTP       *http.Client
}

// ServerSample is one reading; a field is 0 when no source gave it.
type ServerSample struct {
	At         time.Time `json:"-"`
	RSS        uint64    `json:"rss_bytes"`
	CPUSeconds float64   `json:"cpu_seconds"`
	HeapInuse  uint64    `json:"heap_inuse_bytes,omitempty"`
	StackInuse uint64    `json:"stack_inuse_bytes,omitempty"`
	Goroutines uint64    `json:"goroutines,omitempty"`
	// Source says where RSS and CPU came from: "proc" or "metrics".
	Source string `json:"source"`
}

// clockTicks is USER_HZ, the unit of utime and stime in /proc/<pid>/stat:
// 100 on every Linux architecture Go supports.
const clockTicks = 100

// Sample reads the server once. It fails only when no source answered.
func (p Probe) Sample(ctx context.Context) (ServerSample, error) {
	s := ServerSample{At: time.Now()}
	var errs []error
	if p.PID > 0 {
		if err := p.readProc(&s); err != nil {
			errs = append(errs, err)
		} else {
			s.Source = "proc"
		}
	}
	if p.MetricsURL != "" {
		m, err := p.readMetrics(ctx)
		if err != nil {
			errs = append(errs, err)
		} else {
			if s.Source == "" {
				s.RSS = uint64(m["process_resident_memory_bytes"])
				s.CPUSeconds = m["process_cpu_seconds_total"]
				s.Source = "metrics"
			}
			s.HeapInuse = uint64(m["go_memstats_heap_inuse_bytes"])
			s.StackInuse = uint64(m["go_memstats_stack_inuse_bytes"])
			s.Goroutines = uint64(m["go_goroutines"])
		}
	}
	if s.Source == "" {
		if len(errs) == 0 {
			return s, errors.New("no way to read the server's resources: give --pid or --metrics-url")
		}
		return s, errors.Join(errs...)
	}
	return s, nil
}

func (p Probe) readProc(s *ServerSample) error {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.PID))
	if err != nil {
		return fmt.Errorf("server pid %d: %w", p.PID, err)
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				return fmt.Errorf("server pid %d: VmRSS %q", p.PID, v)
			}
			s.RSS = kb << 10
		}
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.PID))
	if err != nil {
		return fmt.Errorf("server pid %d: %w", p.PID, err)
	}
	// The command name may hold spaces: fields count from after ")".
	i := bytes.LastIndexByte(stat, ')')
	f := strings.Fields(string(stat[i+1:]))
	if len(f) < 13 {
		return fmt.Errorf("server pid %d: short stat line", p.PID)
	}
	utime, _ := strconv.ParseUint(f[11], 10, 64) // field 14
	stime, _ := strconv.ParseUint(f[12], 10, 64) // field 15
	s.CPUSeconds = float64(utime+stime) / clockTicks
	return nil
}

// readMetrics reads the unlabelled samples of a Prometheus text exposition.
func (p Probe) readMetrics(ctx context.Context) (map[string]float64, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.MetricsURL, nil)
	if err != nil {
		return nil, err
	}
	c := p.HTTP
	if c == nil {
		c = http.DefaultClient
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("metrics at %s: %w", p.MetricsURL, &HTTPError{Status: resp.StatusCode})
	}
	return parseMetrics(resp.Body)
}

// parseMetrics reads "name value" lines of the Prometheus text format;
// labelled samples and comments are skipped.
func parseMetrics(r io.Reader) (map[string]float64, error) {
	out := map[string]float64{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' || strings.ContainsRune(line, '{') {
			continue
		}
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		v, err := strconv.ParseFloat(f[1], 64)
		if err != nil {
			continue
		}
		out[f[0]] = v
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	if _, ok := out["process_resident_memory_bytes"]; !ok {
		return nil, errors.New("metrics: no process_resident_memory_bytes (is that a chatbridge /metrics URL?)")
	}
	return out, nil
}

// selfCPU returns the CPU time this process has used so far.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// loadAverage returns the first three fields of /proc/loadavg ("" when
// unknown).
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}

// RaiseFileLimit lifts the soft open-file limit to the hard one and
// returns the new soft limit.
func RaiseFileLimit() (uint64, error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, fmt.Errorf("getrlimit: %w", err)
	}
	if lim.Cur < lim.Max {
		lim.Cur = lim.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			return 0, fmt.Errorf("setrlimit: %w", err)
		}
	}
	return lim.Cur, nil
}
