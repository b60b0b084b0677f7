package main

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	neturl "net/url"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/chatbridge/chatbridge/internal/loadgen"
)

// envBenchOperator holds "login:password" of the inbox operator the bench
// logs in as (so that the password stays off the command line).
const envBenchOperator = "CHATBRIDGE_BENCH_OPERATOR"

// benchFlags are the flags every mode shares.
type benchFlags struct {
	urls                                             []string
	origin, operator, metricsURL, plotPath, savePath string
	ackedPath                                        string // accept and latency
	duration, warmup, timeout                        time.Duration
	pid, concurrency, maxInFlight                    int
	json                                             bool
}

const benchLong = `Load a running chatbridge server through its public surfaces only (the
visitor API over HTTP and WebSocket, the operator inbox over HTTP and its
live stream) and report what it measured: a summary table (or --json), and
with --plot a PNG of latency percentiles and throughput over time. A
progress bar shows on stderr when it is a terminal.

Modes:

  accept     Durable visitor messages accepted over HTTP (POST
             /api/v1/messages, answered after fsync). Closed loop by default:
             --concurrency writers, each sending its next message as soon as
             the previous one is answered, which finds the maximum rate; with
             --rate, open loop at that rate.
  pageviews  The same for page views (POST /api/v1/pageviews).
  latency    Round trips at fixed offered rates, open loop: --rate visitor
             messages/s and --reply-rate operator replies/s (through the
             inbox, as its page sends them) over --conversations visitors,
             each connected by WebSocket. Times the visitor's POST, the
             operator's reply POST, visitor message -> the inbox's live
             stream (what an operator's page waits for), and operator reply
             -> the message frame on that visitor's WebSocket.
  idle       Opens --conns visitor WebSockets, holds them for --settle, and
             reports the server's memory growth per connection (RSS from
             /proc/<pid>/status with --pid, else process_resident_memory_bytes
             from --metrics-url; Go heap and goroutines too when the metrics
             answer). Raises this process's open-file limit to the hard limit.

Several servers: --url may be repeated (or hold comma-separated URLs) to load
the nodes of one cluster directly, without a load balancer. Visitor i
uses the i-th URL (round-robin) for its session, messages and WebSocket; in
latency mode the operator logs in once (inbox sessions are shared by the
nodes), listens on the first URL, and replies to each visitor through the
next node after the visitor's, so replies cross nodes. --pid and
--metrics-url (default: port 9191 of the first URL's host) read one server,
normally the first; idle mode divides by the connections on that one.

Errors do not stop a run: they are counted by kind until --duration ends (a
closed-loop writer whose request failed at the network level waits 50 ms
before the next). With --acked FILE (accept, latency) every visitor message
the server acknowledged is appended to FILE as a JSON line as its answer
arrives: server URL, visitor token and id, conversation, client id, text and
the seq answered. The file holds visitor tokens (mode 0600). Kill and restart
the server during a run, then check that each line is in the store exactly
once, in order per visitor.

Open loop: request i is due at start + i/rate whatever happened before, and
its latency counts from that due time, so a stalled server is charged for
every request it held up (no coordinated omission).

All the load comes from one address, so the server must run with raised
visitor limits: ` + "`chatbridge bench --print-config > bench.toml`" + ` writes a
configuration for that (limits raised, the bench's --origin allowed, an inbox
operator), to run with ` + "`chatbridge serve --config bench.toml`" + ` on an empty data
directory. See docs/BENCHMARKS.md.`

func newBenchCmd(g *globals) *cobra.Command {
	f := &benchFlags{}
	var (
		printConfig bool
		listen      string
		adminListen string
	)
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Load-test a running server over HTTP, WebSocket and the inbox (accept, pageviews, latency, idle)",
		Long:  benchLong,
		Example: `  chatbridge bench --print-config > bench.toml   # the password is in its comments
  chatbridge serve --config bench.toml &
  export CHATBRIDGE_BENCH_OPERATOR=bench:<password>
  chatbridge bench accept --concurrency 64 --duration 30s
  chatbridge bench latency --rate 1000 --reply-rate 1000 --conversations 5000 --plot latency.png
  chatbridge bench idle --conns 10000 --pid $(pgrep -n chatbridge)
  chatbridge bench pageviews --rate 2000 --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !printConfig {
				return cmd.Help()
			}
			return printBenchConfig(cmd, g, f, listen, adminListen)
		},
	}
	cmd.Flags().BoolVar(&printConfig, "print-config", false, "print a server configuration for benchmarks (raised visitor limits, the --origin allowed, an inbox operator) and exit")
	cmd.Flags().StringVar(&listen, "listen", "127.0.0.1:8080", "with --print-config: server.listen")
	cmd.Flags().StringVar(&adminListen, "admin-listen", "127.0.0.1:9191", "with --print-config: server.admin_listen, where the server's /metrics is")

	pf := cmd.PersistentFlags()
	pf.StringSliceVar(&f.urls, "url", []string{"http://127.0.0.1:8080"}, "base URL of the server under test; repeat it (or separate by commas) for the nodes of one cluster without a load balancer: visitors are spread over them round-robin, and operator replies cross nodes")
	pf.StringVar(&f.origin, "origin", "https://bench.example", "Origin header of visitor requests (must be in visitor.allowed_origins)")
	pf.StringVar(&f.operator, "operator", "", "inbox operator as login:password (default $"+envBenchOperator+")")
	pf.DurationVar(&f.duration, "duration", 30*time.Second, "measured window")
	pf.DurationVar(&f.warmup, "warmup", 2*time.Second, "load before the measured window, not counted")
	pf.DurationVar(&f.timeout, "timeout", 10*time.Second, "limit of each request, and of each round trip before it counts as not seen")
	pf.IntVar(&f.concurrency, "concurrency", 64, "closed-loop writers (accept, pageviews), and parallel requests while setting up")
	pf.IntVar(&f.maxInFlight, "max-inflight", 1024, "open loop: most requests of one schedule in flight at once (a due request waits for a slot, its latency still counts from its due time)")
	pf.IntVar(&f.pid, "pid", 0, "process id of the server, to read its RSS and CPU from /proc (same machine)")
	pf.StringVar(&f.metricsURL, "metrics-url", "", `the server's Prometheus metrics, served on its admin_listen (default http://<host of the first --url>:9191/metrics; "off" to not read them)`)
	pf.BoolVar(&f.json, "json", false, "print the summary as JSON")
	pf.StringVar(&f.plotPath, "plot", "", "write a PNG of latency percentiles and throughput per second to this file")
	pf.StringVar(&f.savePath, "save", "", "also write the JSON summary to this file")

	cmd.AddCommand(
		newBenchHTTPCmd(f, loadgen.ModeAccept, "accept", "Visitor messages accepted over HTTP: closed loop (maximum rate) or --rate", "messages"),
		newBenchHTTPCmd(f, loadgen.ModePageViews, "pageviews", "Page views over HTTP: closed loop (maximum rate) or --rate", "page views"),
		newBenchLatencyCmd(f),
		newBenchIdleCmd(f),
		newBenchReportCmd(f),
	)
	return cmd
}

// newBenchHTTPCmd is the accept or pageviews mode.
func newBenchHTTPCmd(f *benchFlags, mode loadgen.Mode, use, short, what string) *cobra.Command {
	var (
		rate          float64
		conversations int
	)
	cmd := &cobra.Command{
		Use:   use,
		Short: short,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runBench(cmd, f, loadgen.Config{Mode: mode, Rate: rate, Conversations: conversations})
		},
	}
	cmd.Flags().Float64Var(&rate, "rate", 0, what+" per second, open loop (0: closed loop of --concurrency writers)")
	cmd.Flags().IntVar(&conversations, "conversations", 0, "visitors, each with an open conversation, used in turn (default: --concurrency)")
	if mode == loadgen.ModeAccept {
		ackedFlag(cmd, f)
	}
	return cmd
}

func newBenchLatencyCmd(f *benchFlags) *cobra.Command {
	var (
		rate, replyRate, pvRate float64
		conversations           int
	)
	cmd := &cobra.Command{
		Use:   "latency",
		Short: "Round trips visitor -> operator and operator -> visitor at fixed rates (open loop)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runBench(cmd, f, loadgen.Config{
				Mode: loadgen.ModeLatency, Rate: rate, ReplyRate: replyRate, PageViewRate: pvRate, Conversations: conversations,
			})
		},
	}
	cmd.Flags().Float64Var(&rate, "rate", 500, "visitor messages per second")
	cmd.Flags().Float64Var(&replyRate, "reply-rate", 500, "operator replies per second, through the inbox")
	cmd.Flags().Float64Var(&pvRate, "pageview-rate", 0, "page views per second besides")
	cmd.Flags().IntVar(&conversations, "conversations", 1000, "visitors, each with a conversation and a WebSocket")
	ackedFlag(cmd, f)
	return cmd
}

// ackedFlag adds --acked to a mode that posts visitor messages.
func ackedFlag(cmd *cobra.Command, f *benchFlags) {
	cmd.Flags().StringVar(&f.ackedPath, "acked", "", "append a JSON line per visitor message the server acknowledged to this file "+
		"(URL, visitor token and id, conversation, client id, text, the seq answered, when), to check afterwards that the store kept each one")
}

func newBenchIdleCmd(f *benchFlags) *cobra.Command {
	var (
		conns  int
		settle time.Duration
	)
	cmd := &cobra.Command{
		Use:   "idle",
		Short: "Memory per idle visitor WebSocket on the server",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runBench(cmd, f, loadgen.Config{Mode: loadgen.ModeIdle, Conns: conns, Settle: settle})
		},
	}
	cmd.Flags().IntVar(&conns, "conns", 1000, "WebSockets to open, one visitor each")
	cmd.Flags().DurationVar(&settle, "settle", 5*time.Second, "how long to hold them before measuring")
	return cmd
}

// newBenchReportCmd prints saved summaries (--save, --json) again, and
// plots one with --plot.
func newBenchReportCmd(f *benchFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "report FILE.json...",
		Short: "Print the table of saved summaries (--save or --json output); --plot draws the first",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			for i, path := range args {
				b, err := os.ReadFile(path)
				if err != nil {
					return err
				}
				var sum loadgen.Summary
				if err := json.Unmarshal(b, &sum); err != nil {
					return fmt.Errorf("%s: not a bench summary: %w", path, err)
				}
				if i == 0 && f.plotPath != "" {
					if err := loadgen.WritePlot(f.plotPath, &sum); err != nil {
						return err
					}
					fmt.Fprintf(cmd.ErrOrStderr(), "plot written to %s\n", f.plotPath)
				}
				if i > 0 {
					fmt.Fprintln(cmd.OutOrStdout())
				}
				if err := sum.WriteTable(cmd.OutOrStdout()); err != nil {
					return err
				}
			}
			return nil
		},
	}
}

// runBench runs one mode with the shared flags and prints its results.
func runBench(cmd *cobra.Command, f *benchFlags, cfg loadgen.Config) error {
	for _, u := range f.urls {
		if u = strings.TrimSpace(u); u != "" {
			cfg.Bases = append(cfg.Bases, strings.TrimSuffix(u, "/"))
		}
	}
	if len(cfg.Bases) == 0 {
		return errors.New("--url: no server URL")
	}
	cfg.Origin = f.origin
	cfg.Duration, cfg.Warmup, cfg.Timeout = f.duration, f.warmup, f.timeout
	cfg.Concurrency, cfg.MaxInFlight = f.concurrency, f.maxInFlight
	op := f.operator
	if op == "" {
		op = os.Getenv(envBenchOperator)
	}
	if op != "" {
		login, pw, ok := strings.Cut(op, ":")
		if !ok || login == "" || pw == "" {
			return errors.New("--operator (or " + envBenchOperator + ") must be login:password")
		}
		cfg.OperatorLogin, cfg.OperatorPassword = login, pw
	}
	cfg.Probe = loadgen.Probe{PID: f.pid}
	switch f.metricsURL {
	case "off":
	case "":
		cfg.Probe.MetricsURL = defaultMetricsURL(cfg.Bases[0])
	default:
		cfg.Probe.MetricsURL = f.metricsURL
	}
	stderr := cmd.ErrOrStderr()
	if file, ok := stderr.(*os.File); ok && term.IsTerminal(int(file.Fd())) {
		cfg.Progress = stderr
	}
	cfg.Log = stderr
	if f.ackedPath != "" {
		file, err := os.OpenFile(f.ackedPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			return fmt.Errorf("--acked: %w", err)
		}
		defer file.Close()
		cfg.Acked = file
	}
	sum, err := loadgen.Run(cmd.Context(), cfg)
	if err != nil {
		return err
	}
	if file, ok := cfg.Acked.(*os.File); ok {
		if err := file.Close(); err != nil {
			return fmt.Errorf("--acked: %w", err)
		}
	}
	if f.plotPath != "" {
		if err := loadgen.WritePlot(f.plotPath, sum); err != nil {
			return err
		}
		fmt.Fprintf(stderr, "plot written to %s\n", f.plotPath)
	}
	js, err := json.MarshalIndent(sum, "", "  ")
	if err != nil {
		return err
	}
	js = append(js, '\n')
	if f.savePath != "" {
		if err := os.WriteFile(f.savePath, js, 0o644); err != nil {
			return err
		}
	}
	if f.json {
		_, err := cmd.OutOrStdout().Write(js)
		return err
	}
	return sum.WriteTable(cmd.OutOrStdout())
}

// printBenchConfig prints the benchmark server's configuration. Without an
// operator from --operator or the environment, it makes one up and says
// its password in a comment.
func printBenchConfig(cmd *cobra.Command, g *globals, f *benchFlags, listen, adminListen string) error {
	o := loadgen.ServerConfigOptions{Listen: listen, AdminListen: adminListen, DataDir: "./chatbridge-bench-data", Origin: f.origin}
	if g.dataDir != "" {
		o.DataDir = g.dataDir
	}
	op := f.operator
	if op == "" {
		op = os.Getenv(envBenchOperator)
	}
	if op != "" {
		login, pw, ok := strings.Cut(op, ":")
		if !ok || login == "" || len(pw) < 8 {
			return errors.New("--operator (or " + envBenchOperator + ") must be login:password, the password at least 8 characters")
		}
		o.OperatorLogin, o.OperatorPassword = login, pw
	} else {
		b := make([]byte, 12)
		_, _ = rand.Read(b)
		o.OperatorLogin, o.OperatorPassword, o.PasswordComment = "bench", base64.RawURLEncoding.EncodeToString(b), true
	}
	text, err := loadgen.ServerConfig(o)
	if err != nil {
		return err
	}
	_, err = cmd.OutOrStdout().Write(text)
	return err
}

// defaultMetricsURL is /metrics on the shipped server.admin_listen port of
// the server's host: the operations endpoints are never on the public
// listener.
func defaultMetricsURL(base string) string {
	u, err := neturl.Parse(base)
	if err != nil || u.Hostname() == "" {
		return "http://127.0.0.1:9191/metrics"
	}
	return "http://" + net.JoinHostPort(u.Hostname(), "9191") + "/metrics"
}
