package visitor

import (
	"bufio"
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/chatbridge/chatbridge/bridge"
	"github.com/chatbridge/chatbridge/internal/fixture"
)

// The idle-connection measurement runs the server in this process and the
// clients in a child process (this test binary again, running
// TestIdleWebSocketClients), so that the memory measured is the server's
// alone. Run it with
//
//	CHATBRIDGE_WS_BENCH=10000 go test -run TestIdleWebSocketsMemory -v ./visitor
//
// or as a benchmark with
//
//	CHATBRIDGE_WS_BENCH=10000 go test -run '^$' -bench IdleWebSockets -benchtime 1x ./visitor
const (
	envBench       = "CHATBRIDGE_WS_BENCH"
	envBenchClient = "CHATBRIDGE_WS_BENCH_CLIENT" // set in the child: "url tokenfile"
	maxBytesPerWS  = 32 << 10
)

// idleResult is what one measurement found.
type idleResult struct {
	conns             int
	heapBefore        uint64 // HeapInuse + StackInuse, bytes
	heapAfter         uint64
	stackBefore       uint64 // StackInuse alone
	stackAfter        uint64
	rssBefore         uint64 // VmRSS from /proc/self/status, bytes (0 if unknown)
	rssAfter          uint64
	goroutinesPerConn float64
	dialTime          time.Duration
}

func (r idleResult) perConn() float64 {
	return float64(int64(r.heapAfter)-int64(r.heapBefore)) / float64(r.conns)
}

func (r idleResult) stackPerConn() float64 {
	return float64(int64(r.stackAfter)-int64(r.stackBefore)) / float64(r.conns)
}

func (r idleResult) rssPerConn() float64 {
	if r.rssBefore == 0 {
		return 0
	}
	return float64(int64(r.rssAfter)-int64(r.rssBefore)) / float64(r.conns)
}

func benchConns(tb testing.TB) int {
	n, err := strconv.Atoi(os.Getenv(envBench))
	if err != nil || n <= 0 {
		tb.Skipf("set %s=N (e.g. 10000) to measure N idle visitor WebSockets", envBench)
	}
	return n
}

func TestIdleWebSocketsMemory(t *testing.T) {
	n := benchConns(t)
	r := measureIdleWebSockets(t, n)
	t.Logf("%d idle visitor WebSockets: server heap+stack in use %.1f MiB -> %.1f MiB: %.0f bytes (%.1f KiB) per connection "+
		"(of which goroutine stacks %.0f bytes); RSS %.0f bytes per connection; %.2f goroutines per connection; dialled in %v",
		n, mib(r.heapBefore), mib(r.heapAfter), r.perConn(), r.perConn()/1024, r.stackPerConn(),
		r.rssPerConn(), r.goroutinesPerConn, r.dialTime.Round(time.Millisecond))
	if r.perConn() > maxBytesPerWS {
		t.Errorf("%.0f bytes per idle connection, the budget is %d", r.perConn(), maxBytesPerWS)
	}
}

func BenchmarkIdleWebSockets(b *testing.B) {
	n := benchConns(b)
	for b.Loop() {
		r := measureIdleWebSockets(b, n)
		b.ReportMetric(r.perConn(), "heap+stack-B/conn")
		b.ReportMetric(r.stackPerConn(), "stack-B/conn")
		b.ReportMetric(r.rssPerConn(), "rss-B/conn")
		b.ReportMetric(r.goroutinesPerConn, "goroutines/conn")
	}
}

func mib(b uint64) float64 { return float64(b) / (1 << 20) }

// inUse returns HeapInuse+StackInuse and StackInuse after collecting.
func inUse() (total, stack uint64) {
	for range gcRounds() {
		runtime.GC()
	}
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse + ms.StackInuse, ms.StackInuse
}

func rss() uint64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseUint(f[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}

// raiseFileLimit lifts the soft open-file limit to the hard one; the child
// inherits it.
func raiseFileLimit(tb testing.TB, need uint64) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		tb.Fatalf("getrlimit: %v", err)
	}
	if lim.Cur < lim.Max {
		lim.Cur = lim.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			tb.Fatalf("setrlimit: %v", err)
		}
	}
	if lim.Cur < need {
		tb.Skipf("open-file limit %d is below the %d needed", lim.Cur, need)
	}
}

func measureIdleWebSockets(tb testing.TB, n int) idleResult {
	raiseFileLimit(tb, uint64(n)+256)
	if os.Getenv("CHATBRIDGE_WS_BENCH_PROFILE") != "" {
		runtime.MemProfileRate = 1
	}
	engine := fixture.Engine(tb, fixture.Options{NoRun: true})
	// All the connections come from 127.0.0.1: the per-address cap is
	// raised to let them in (each has its own visitor, so the per-visitor
	// cap holds as it is).
	srv, err := New(Config{MaxConnsPerIP: n}, engine, nil)
	if err != nil {
		tb.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()
	defer srv.Close()

	// One visitor per connection, created directly on the engine (the
	// per-IP session limit would refuse 10,000 from loopback, rightly).
	tokens := make([]string, n)
	var wg sync.WaitGroup
	errc := make(chan error, 1)
	for w := range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += 32 {
				tok, _, err := engine.StartSession(context.Background(), bridge.SessionInput{Name: "bench"})
				if err != nil {
					select {
					case errc <- err:
					default:
					}
					return
				}
				tokens[i] = tok
			}
		}()
	}
	wg.Wait()
	select {
	case err := <-errc:
		tb.Fatal(err)
	default:
	}
	tokenFile := filepath.Join(tb.TempDir(), "tokens")
	if err := os.WriteFile(tokenFile, []byte(strings.Join(tokens, "\n")), 0o600); err != nil {
		tb.Fatal(err)
	}
	tokens = nil

	res := idleResult{conns: n}
	goroutinesBefore := runtime.NumGoroutine()
	res.heapBefore, res.stackBefore = inUse()
	res.rssBefore = rss()

	cmd := exec.Command(os.Args[0], "-test.run=^TestIdleWebSocketClients$", "-test.v")
	cmd.Env = append(os.Environ(), envBenchClient+"="+ts.URL+" "+tokenFile)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		tb.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	defer func() {
		stdin.Close() // the child exits when its stdin closes
		if err := cmd.Wait(); err != nil {
			tb.Errorf("client process: %v", err)
		}
	}()
	sc := bufio.NewScanner(stdout)
	ready := false
	for sc.Scan() {
		if line := sc.Text(); line == "READY" {
			ready = true
			break
		} else if strings.HasPrefix(line, "FAIL") {
			tb.Fatalf("client process: %s", line)
		}
	}
	if !ready {
		tb.Fatalf("client process ended before its connections were up")
	}
	go func() {
		for sc.Scan() { // keep the pipe drained
		}
	}()
	// Every connection has said hello and subscribed once the hub counts n.
	deadline := time.Now().Add(time.Minute)
	for engine.Hub().Subscribers() < n {
		if time.Now().After(deadline) {
			tb.Fatalf("only %d of %d streams subscribed", engine.Hub().Subscribers(), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	res.dialTime = time.Since(start)
	res.heapAfter, res.stackAfter = inUse()
	res.rssAfter = rss()
	if f := os.Getenv("CHATBRIDGE_WS_BENCH_PROFILE"); f != "" {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		tb.Logf("HeapInuse %d StackInuse %d", ms.HeapInuse, ms.StackInuse)
		if out, err := os.Create(f); err == nil {
			pprof.Lookup("heap").WriteTo(out, 0)
			out.Close()
		}
	}
	res.goroutinesPerConn = float64(runtime.NumGoroutine()-goroutinesBefore) / float64(n)
	return res
}

// TestIdleWebSocketClients is the client side of the measurement; it only
// runs in the child process.
func TestIdleWebSocketClients(t *testing.T) {
	arg := os.Getenv(envBenchClient)
	if arg == "" {
		t.Skip("only runs as the client process of TestIdleWebSocketsMemory")
	}
	base, tokenFile, _ := strings.Cut(arg, " ")
	b, err := os.ReadFile(tokenFile)
	if err != nil {
		fmt.Println("FAIL", err)
		t.Fatal(err)
	}
	tokens := strings.Split(string(b), "\n")
	raiseFileLimit(t, uint64(len(tokens))+256)
	url := "ws" + strings.TrimPrefix(base, "http") + "/api/v1/stream"
	ctx := context.Background()
	conns := make([]*websocket.Conn, len(tokens))
	var wg sync.WaitGroup
	errc := make(chan error, 1)
	const workers = 64
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < len(tokens); i += workers {
				c, err := dialHello(ctx, url, tokens[i])
				if err != nil {
					select {
					case errc <- fmt.Errorf("connection %d: %w", i, err):
					default:
					}
					return
				}
				conns[i] = c
			}
		}()
	}
	wg.Wait()
	select {
	case err := <-errc:
		fmt.Println("FAIL", err)
		t.Fatal(err)
	default:
	}
	fmt.Println("READY")
	_, _ = bufio.NewReader(os.Stdin).ReadString('\n') // until the parent closes stdin
	for _, c := range conns {
		c.CloseNow()
	}
}

func dialHello(ctx context.Context, url, token string) (*websocket.Conn, error) {
	dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(dctx, url, nil)
	if err != nil {
		return nil, err
	}
	if err := c.Write(dctx, websocket.MessageText, []byte(`{"type":"hello","token":"`+token+`"}`)); err != nil {
		return nil, err
	}
	if _, msg, err := c.Read(dctx); err != nil || !strings.Contains(string(msg), `"ready"`) {
		return nil, fmt.Errorf("no ready frame: %s %v", msg, err)
	}
	c.CloseRead(ctx) // answer the server's pings while idle
	return c, nil
}

func gcRounds() int {
	if n, err := strconv.Atoi(os.Getenv("CHATBRIDGE_WS_BENCH_GC")); err == nil && n > 0 {
		return n
	}
	return 2
}
