package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chatbridge/chatbridge/internal/loadgen"
	"github.com/chatbridge/chatbridge/internal/testpeer"
)

// The cluster benchmark's environment.
const (
	// envClusterBench turns TestClusterBench on.
	envClusterBench = "CHATBRIDGE_CLUSTER_BENCH"
	// envClusterBenchOut names a file for the Markdown table; the JSON
	// summaries are saved beside it (<file without .md>-<config>-<mode>.json).
	envClusterBenchOut = "CHATBRIDGE_CLUSTER_BENCH_OUT"
	// envClusterBenchDuration changes the measured window (default 15s),
	// for a quick try.
	envClusterBenchDuration = "CHATBRIDGE_CLUSTER_BENCH_DURATION"
	// envClusterBenchRate changes the latency mode's rates (default 50
	// visitor messages/s and 50 replies/s).
	envClusterBenchRate = "CHATBRIDGE_CLUSTER_BENCH_RATE"
)

// clusterBenchSetup is one configuration of servers the bench loads.
type clusterBenchSetup struct {
	key, name string
	etcd      bool // the store is a fresh three-member etcd cluster
	nodes     int
}

// clusterBenchRow is one measured path of one run, for the table.
type clusterBenchRow struct {
	setup, mode string
	path        loadgen.PathSummary
	sum         *loadgen.Summary
	cmd         int // index into the commands
}

// TestClusterBench measures, in one run and with one load client
// (`chatbridge bench` as a process, --json and --save), three setups, each
// on empty data for each measurement:
//
//	(a) one node on bbolt (the configuration of `bench --print-config`);
//	(b) one node on a three-member etcd cluster (internal/testpeer/etcdpeer
//	    processes on loopback, fsync on, as a site would run etcd);
//	(c) three nodes on a three-member etcd cluster, the bench given the
//	    three URLs (visitors round-robin, replies through another node).
//
// Each runs `bench accept --concurrency 64 --duration 15s` (durable accept
// rate, p50, p99) and `bench latency --rate 50 --reply-rate 50
// --conversations 500 --duration 15s` (visitor → operator and operator →
// visitor, p50, p99). The rates are what the etcd setups sustained on a
// shared two-core machine (both etcd setups took a few hundred durable
// writes per second in the accept mode, and queued for seconds at 200 + 200
// per second, already at 100 + 100 under a load average of 8); on a quieter
// or larger machine raise them with $CHATBRIDGE_CLUSTER_BENCH_RATE. It prints a Markdown table with the load average and
// the exact commands (t.Log, and to $CHATBRIDGE_CLUSTER_BENCH_OUT when set).
// Everything shares the machine: the etcd members, the nodes and the bench.
// It takes about four minutes, so it runs only when asked:
//
//	CHATBRIDGE_CLUSTER_BENCH=1 CHATBRIDGE_CLUSTER_BENCH_OUT=/tmp/cluster-bench.md \
//	  go test -count=1 -run TestClusterBench -timeout 30m -v ./cmd/chatbridge/
func TestClusterBench(t *testing.T) {
	if os.Getenv(envClusterBench) == "" {
		t.Skipf("the cluster benchmark runs only with %s=1 (about four minutes of load: bbolt, one node on etcd, three nodes on etcd)", envClusterBench)
	}
	duration := "15s"
	if d := os.Getenv(envClusterBenchDuration); d != "" {
		if _, err := time.ParseDuration(d); err != nil {
			t.Fatalf("%s: %v", envClusterBenchDuration, err)
		}
		duration = d
	}
	rate := "50"
	if r := os.Getenv(envClusterBenchRate); r != "" {
		if _, err := strconv.ParseFloat(r, 64); err != nil {
			t.Fatalf("%s: %v", envClusterBenchRate, err)
		}
		rate = r
	}
	out := os.Getenv(envClusterBenchOut)
	saveDir := t.TempDir()
	savePrefix := filepath.Join(saveDir, "cluster-bench")
	if out != "" {
		savePrefix = strings.TrimSuffix(out, ".md")
	}

	setups := []clusterBenchSetup{
		{"a", "1 node, bbolt", false, 1},
		{"b", "1 node, etcd (3 members)", true, 1},
		{"c", "3 nodes, etcd (3 members)", true, 3},
	}
	modes := []struct {
		name string
		args []string
	}{
		{"accept", []string{"accept", "--concurrency", "64", "--duration", duration}},
		{"latency", []string{"latency", "--rate", rate, "--reply-rate", rate, "--conversations", "500", "--duration", duration}},
	}
	const operator = "bench:cluster-bench-password"
	var (
		rows     []clusterBenchRow
		commands []string
	)
	for _, setup := range setups {
		for _, mode := range modes {
			t.Run(setup.key+"-"+mode.name, func(t *testing.T) {
				nodes := startBenchSetup(t, setup, operator)
				args := append([]string{"bench"}, mode.args...)
				for _, n := range nodes {
					args = append(args, "--url", n.srv.base)
				}
				save := fmt.Sprintf("%s-%s-%s.json", savePrefix, setup.key, mode.name)
				args = append(args, "--pid", strconv.Itoa(nodes[0].srv.cmd.Process.Pid),
					"--metrics-url", nodes[0].srv.ops+"/metrics", "--json", "--save", save)
				cmd := exec.Command(binPath, args...)
				cmd.Env = append(os.Environ(), envBenchOperator+"="+operator)
				var stdout, stderr bytes.Buffer
				cmd.Stdout, cmd.Stderr = &stdout, &stderr
				if err := cmd.Run(); err != nil {
					t.Fatalf("chatbridge %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
				}
				var sum loadgen.Summary
				if err := json.Unmarshal(stdout.Bytes(), &sum); err != nil {
					t.Fatalf("summary: %v\n%s", err, stdout.String())
				}
				var table bytes.Buffer
				_ = sum.WriteTable(&table)
				t.Logf("%s, %s:\n%s%s", setup.name, mode.name, stderr.String(), table.String())
				if setup.etcd {
					t.Logf("first node's etcd requests since its start (set-up included):\n%s", etcdRequestMetrics(nodes[0].srv.ops))
				}
				commands = append(commands, envBenchOperator+"=… chatbridge "+strings.Join(args, " "))
				for _, p := range sum.Paths {
					rows = append(rows, clusterBenchRow{setup: setup.name, mode: mode.name, path: p, sum: &sum, cmd: len(commands)})
				}
				for _, n := range nodes {
					n.srv.stop(t)
				}
			})
		}
	}
	table := clusterBenchTable(rows, commands)
	t.Logf("cluster benchmark:\n%s", table)
	if out != "" {
		if err := os.WriteFile(out, []byte(table), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("table written to %s, summaries to %s-*.json", out, savePrefix)
	}
}

// startBenchSetup starts the servers of a setup on empty data: the
// configuration of `bench --print-config` (raised visitor limits, the
// inbox operator), with a [store] on a fresh three-member etcd cluster
// when the setup says so. Each node has its own data directory and
// operations address (where the bench reads the first node's metrics).
func startBenchSetup(t *testing.T, setup clusterBenchSetup, operator string) []*clusterNode {
	t.Helper()
	var store string
	if setup.etcd {
		etcd := testpeer.Etcd(t, 3)
		eps, _ := json.Marshal(etcd.Endpoints())
		store = fmt.Sprintf("\n[store]\nbackend = \"etcd\"\nendpoints = %s\nprefix = \"/bench/\"\n", eps)
	}
	var nodes []*clusterNode
	for i := range setup.nodes {
		name := fmt.Sprintf("node%d", i)
		dir := filepath.Join(t.TempDir(), name)
		cfg, err := exec.Command(binPath, "bench", "--print-config", "--listen", "127.0.0.1:0", "--admin-listen", freeLoopbackAddr(t),
			"--data-dir", filepath.Join(dir, "data"), "--operator", operator).Output()
		if err != nil {
			t.Fatalf("bench --print-config: %v", err)
		}
		if store != "" {
			cfg = append(cfg, fmt.Sprintf("%snode = %q\n", store, name)...)
		}
		path := filepath.Join(dir, "bench.toml")
		if err := os.MkdirAll(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, cfg, 0o600); err != nil {
			t.Fatal(err)
		}
		srv := startServer(t, path)
		if srv.ops == "" {
			// The bench configuration logs at warn: the banner may not name
			// the operations address; it is the one configured.
			srv.ops = "http://" + adminListenOf(t, cfg)
		}
		nodes = append(nodes, &clusterNode{name: name, cfg: path, srv: srv})
	}
	return nodes
}

// etcdRequestMetrics returns the chatbridge_etcd_requests_total lines of a
// node's metrics (read and commit round trips, conflicts).
func etcdRequestMetrics(ops string) string {
	resp, err := http.Get(ops + "/metrics")
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var lines []string
	for line := range strings.Lines(string(b)) {
		if strings.HasPrefix(line, "chatbridge_etcd_requests_total{") {
			lines = append(lines, strings.TrimSpace(line))
		}
	}
	return strings.Join(lines, "\n")
}

// adminListenOf reads server.admin_listen back from a printed bench
// configuration.
func adminListenOf(t *testing.T, cfg []byte) string {
	t.Helper()
	for line := range strings.Lines(string(cfg)) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "admin_listen = "); ok {
			s, err := strconv.Unquote(v)
			if err == nil {
				return s
			}
		}
	}
	t.Fatalf("no admin_listen in the bench configuration:\n%s", cfg)
	return ""
}

// clusterBenchTable renders the rows as Markdown, the commands below.
func clusterBenchTable(rows []clusterBenchRow, commands []string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "| setup | bench | path | offered/s | achieved/s | p50 | p99 | errors | server CPU (first node) | load avg 1 min (start → end) | command |\n")
	fmt.Fprintf(&b, "|---|---|---|---:|---:|---:|---:|---:|---:|---|---|\n")
	for _, r := range rows {
		offered := "closed loop"
		if r.path.OfferedRate > 0 {
			offered = fmt.Sprintf("%.0f", r.path.OfferedRate)
		}
		cpu := "-"
		if r.sum.Server != nil {
			cpu = fmt.Sprintf("%.0f %%", r.sum.Server.CPUPercent)
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %.1f | %s | %s | %d | %s | %s → %s | [%d] |\n",
			r.setup, r.mode, r.path.Name, offered, r.path.AchievedRate, fmtBenchMs(r.path.P50Ms), fmtBenchMs(r.path.P99Ms),
			r.path.ErrorCount, cpu, firstField(r.sum.LoadAvgStart), firstField(r.sum.LoadAvgEnd), r.cmd)
	}
	b.WriteString("\nPaths: visitor_post is the visitor's POST /api/v1/messages until its answer (after the commit); " +
		"v2o visitor message → the inbox's live stream; operator_post the operator's reply POST; o2v operator reply → the visitor's WebSocket frame. " +
		"Each measurement starts on empty data: a new data directory, a new three-member etcd cluster (testpeer etcdpeer processes on loopback, fsync on). " +
		"Server CPU is the first node's only; etcd's members and the bench share the same machine.\n\n")
	for i, c := range commands {
		fmt.Fprintf(&b, "%d. `%s`\n", i+1, c)
	}
	return b.String()
}

func fmtBenchMs(v float64) string {
	switch {
	case v == 0:
		return "-"
	case v < 10:
		return fmt.Sprintf("%.2f ms", v)
	default:
		return fmt.Sprintf("%.1f ms", v)
	}
}

func firstField(s string) string {
	if f := strings.Fields(s); len(f) > 0 {
		return f[0]
	}
	return "?"
}
