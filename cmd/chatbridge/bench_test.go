package main

import (
	"bytes"
	"encoding/json"
	"math"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/chatbridge/chatbridge/internal/loadgen"
)

// TestBenchSmoke runs every mode of `chatbridge bench` briefly (about ten
// seconds in all) against the real binary serving the configuration that
// `chatbridge bench --print-config` writes, and checks that the summaries
// are sane: every path measured, no errors, ordered percentiles, the
// offered rates met, the plot written.
func TestBenchSmoke(t *testing.T) {
	dir := t.TempDir()
	const operator = "bench:smoke-password"
	// The bench configuration logs at warn, so the operations address is
	// not in the log: choose it here.
	opsAddr := freeLoopbackAddr(t)
	cfg, err := exec.Command(binPath, "bench", "--print-config", "--listen", "127.0.0.1:0", "--admin-listen", opsAddr,
		"--data-dir", filepath.Join(dir, "data"), "--operator", operator).Output()
	if err != nil {
		t.Fatalf("bench --print-config: %v", err)
	}
	cfgPath := filepath.Join(dir, "bench.toml")
	if err := os.WriteFile(cfgPath, cfg, 0o600); err != nil {
		t.Fatal(err)
	}
	srv := startServer(t, cfgPath)
	pid := strconv.Itoa(srv.cmd.Process.Pid)

	bench := func(args ...string) loadgen.Summary {
		t.Helper()
		args = append([]string{"bench"}, append(args, "--url", srv.base, "--pid", pid, "--metrics-url", "http://"+opsAddr+"/metrics", "--json")...)
		cmd := exec.Command(binPath, args...)
		cmd.Env = append(os.Environ(), envBenchOperator+"="+operator)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("chatbridge %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
		}
		var s loadgen.Summary
		if err := json.Unmarshal(stdout.Bytes(), &s); err != nil {
			t.Fatalf("summary is not JSON: %v\n%s", err, stdout.String())
		}
		return s
	}
	checkPaths := func(s loadgen.Summary, want ...string) {
		t.Helper()
		var names []string
		for _, p := range s.Paths {
			names = append(names, p.Name)
			ordered := 0 < p.P50Ms && p.P50Ms <= p.P90Ms && p.P90Ms <= p.P99Ms && p.P99Ms <= p.P999Ms && p.P999Ms <= p.MaxMs
			if p.Count == 0 || p.ErrorCount != 0 || !ordered {
				t.Errorf("%s %s: count %d, errors %v, p50/p90/p99/p99.9/max %v/%v/%v/%v/%v ms",
					s.Mode, p.Name, p.Count, p.Errors, p.P50Ms, p.P90Ms, p.P99Ms, p.P999Ms, p.MaxMs)
			}
			// Open loop: every request due in the window is counted.
			if want := p.OfferedRate * s.WindowSeconds; want > 0 && math.Abs(float64(p.Count)-want) > 2 {
				t.Errorf("%s %s: %d done at %v/s over %v s, want %v", s.Mode, p.Name, p.Count, p.OfferedRate, s.WindowSeconds, want)
			}
		}
		if strings.Join(names, " ") != strings.Join(want, " ") {
			t.Errorf("%s measured %v, want %v", s.Mode, names, want)
		}
		if s.LoadAvgStart == "" || s.Machine.CPUs == 0 {
			t.Errorf("%s: no load average or machine: %+v", s.Mode, s)
		}
	}

	plot := filepath.Join(dir, "latency.png")
	lat := bench("latency", "--rate", "40", "--reply-rate", "40", "--conversations", "20",
		"--duration", "4s", "--warmup", "1s", "--plot", plot)
	checkPaths(lat, "visitor_post", "v2o", "operator_post", "o2v")
	if lat.Server == nil || lat.Server.RSSEnd == 0 || lat.Server.Source != "proc" {
		t.Errorf("server usage not read: %+v", lat.Server)
	}
	if len(lat.Series["o2v"]) != 5 {
		t.Errorf("o2v series has %d seconds, want 5", len(lat.Series["o2v"]))
	}
	png, err := os.ReadFile(plot)
	if err != nil || !bytes.HasPrefix(png, []byte("\x89PNG\r\n\x1a\n")) {
		t.Errorf("plot: %v, %d bytes", err, len(png))
	}

	// A saved summary prints and plots again.
	saved := filepath.Join(dir, "latency.json")
	js, _ := json.Marshal(lat)
	if err := os.WriteFile(saved, js, 0o644); err != nil {
		t.Fatal(err)
	}
	var report bytes.Buffer
	replot := filepath.Join(dir, "again.png")
	if code := execute([]string{"bench", "report", saved, "--plot", replot}, &report, &report); code != 0 {
		t.Errorf("bench report: exit %d: %s", code, report.String())
	}
	if !strings.Contains(report.String(), "operator_post") || !strings.Contains(report.String(), "load average") {
		t.Errorf("bench report printed:\n%s", report.String())
	}
	if _, err := os.Stat(replot); err != nil {
		t.Errorf("bench report --plot: %v", err)
	}

	// Two URLs of the one server (another host name for the same
	// listener) stand in for two nodes of a cluster: visitors spread over
	// both, replies go through the other one, the one inbox login serves
	// both (the session cookie is carried over to the other host name).
	other := strings.Replace(srv.base, "127.0.0.1", "localhost", 1)
	two := bench("latency", "--url", other, "--rate", "20", "--reply-rate", "20", "--conversations", "6",
		"--duration", "2s", "--warmup", "500ms")
	checkPaths(two, "visitor_post", "v2o", "operator_post", "o2v")
	if len(two.Targets) != 2 || two.Targets[0] != other || two.Targets[1] != srv.base { // bench() adds --url srv.base last
		t.Errorf("two URLs: targets %q", two.Targets)
	}

	acc := bench("accept", "--concurrency", "4", "--duration", "1s", "--warmup", "0s")
	checkPaths(acc, "visitor_post")
	pv := bench("pageviews", "--rate", "100", "--duration", "1s", "--warmup", "0s")
	checkPaths(pv, "pageview_post")

	idle := bench("idle", "--conns", "50", "--settle", "500ms")
	checkPaths(idle, "stream_open")
	if idle.Idle == nil || idle.Idle.Conns != 50 || idle.Idle.After.RSS == 0 || idle.Idle.After.HeapInuse == 0 {
		t.Errorf("idle summary: %+v", idle.Idle)
	}
	srv.stop(t)
}

// Against a server with the shipped limits, the bench stops at set-up and
// says which configuration it needs.
func TestBenchExplainsRefusedSetup(t *testing.T) {
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "bridge.toml")
	cfg := "[server]\nlisten = \"127.0.0.1:0\"\ndata_dir = " + strconv.Quote(filepath.Join(dir, "data")) +
		"\ndemo_page = false\n[visitor]\nallowed_origins = [\"https://bench.example\"]\n"
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	srv := startServer(t, cfgPath)
	// 30 sessions per address and hour are allowed by default.
	out, err := exec.Command(binPath, "bench", "accept", "--url", srv.base, "--conversations", "40", "--concurrency", "4", "--metrics-url", "off").CombinedOutput()
	if err == nil {
		t.Fatalf("bench succeeded against the shipped limits:\n%s", out)
	}
	for _, want := range []string{"HTTP 429 rate_limited", "--print-config"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	srv.stop(t)
}

func TestBenchHelpExplainsModes(t *testing.T) {
	var out bytes.Buffer
	if code := execute([]string{"bench", "--help"}, &out, &out); code != 0 {
		t.Fatalf("exit %d: %s", code, out.String())
	}
	for _, want := range []string{"accept", "pageviews", "latency", "idle", "Open loop", "--print-config", "coordinated omission"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("bench --help lacks %q", want)
		}
	}
}

// freeLoopbackAddr returns a loopback address with a port free a moment ago.
func freeLoopbackAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}
